//! The destination an exchange is pinned to: a host (DNS name or IP literal) and a port,
//! parsed from a CONNECT authority, an absolute-form URI or a Host header.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// A destination host: a lower-cased DNS name without trailing dot, or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// Parses a host as it appears in an authority: a name, an IPv4 literal, or a bracketed
    /// IPv6 literal (brackets optional here, as in SNI-free contexts).
    pub fn parse(raw: &str) -> Result<Self, TargetError> {
        let bad = || TargetError::Host(raw.to_owned());
        if raw.is_empty() {
            return Err(bad());
        }
        if let Some(inner) = raw.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(bad)?;
            return inner
                .parse::<Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| bad());
        }
        if let Ok(ip) = raw.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
        if looks_numeric(&name) {
            return Err(TargetError::NumericHost(raw.to_owned()));
        }
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            Ok(Host::Name(name))
        } else {
            Err(bad())
        }
    }

    /// The host as a certificate subject / SNI / URI host without brackets.
    pub fn bare(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

/// A name whose last label is a number (`2130706433`, `127.1`, `0177.0.0.1`, `0x7f.0.0.1`):
/// resolvers read these as IPv4 addresses (inet_aton, WHATWG URL), so they would reach an
/// address no rule names and the IP-literal checks never saw. Refused rather than guessed.
fn looks_numeric(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// A host and port: what a tunnel or a plain request is pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

impl Target {
    /// Parses `host:port` (CONNECT authority form); the port is required.
    pub fn parse_authority(raw: &str) -> Result<Self, TargetError> {
        Self::parse_with_default(raw, None)
    }

    /// Parses `host[:port]`, filling `default_port` when the port is absent.
    pub fn parse_with_default(raw: &str, default_port: Option<u16>) -> Result<Self, TargetError> {
        if raw.contains('@') {
            return Err(TargetError::Userinfo);
        }
        let (host, port) = split_host_port(raw)?;
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| TargetError::Port(p.to_owned()))?,
            None => default_port.ok_or_else(|| TargetError::MissingPort(raw.to_owned()))?,
        };
        Ok(Target {
            host: Host::parse(host)?,
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]` into host and optional port text.
fn split_host_port(raw: &str) -> Result<(&str, Option<&str>), TargetError> {
    if raw.starts_with('[') {
        let end = raw
            .find(']')
            .ok_or_else(|| TargetError::Host(raw.to_owned()))?;
        let (host, rest) = raw.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| TargetError::Host(raw.to_owned())),
        };
    }
    match raw.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Err(TargetError::Host(raw.to_owned())),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((raw, None)),
    }
}

/// Why a target could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("invalid host {0:?}")]
    Host(String),
    #[error("invalid port {0:?}")]
    Port(String),
    #[error("missing port in {0:?}")]
    MissingPort(String),
    #[error("userinfo is not allowed in a proxy target")]
    Userinfo,
    #[error(
        "numeric host {0:?} is not a dotted-decimal IPv4 address; write the address as a.b.c.d"
    )]
    NumericHost(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_ipv4_and_bracketed_ipv6() {
        let t = Target::parse_authority("API.GitHub.com.:443").unwrap();
        assert_eq!(t.host, Host::Name("api.github.com".into()));
        assert_eq!(t.port, 443);
        let t = Target::parse_authority("10.0.0.1:8443").unwrap();
        assert_eq!(t.host, Host::Ip("10.0.0.1".parse().unwrap()));
        let t = Target::parse_authority("[::1]:443").unwrap();
        assert_eq!(t.host, Host::Ip("::1".parse().unwrap()));
        assert_eq!(t.to_string(), "[::1]:443");
    }

    #[test]
    fn rejects_bad_authorities() {
        for bad in [
            "",
            ":443",
            "host",
            "host:0",
            "host:99999",
            "::1:443",
            "[::1",
            "[zz]:1",
            "user@host:443",
            "ho st:443",
            "a..b:443",
        ] {
            assert!(Target::parse_authority(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_host_forms_other_than_dotted_decimal_are_refused() {
        for raw in [
            "2130706433:443",
            "0x7f.0.0.1:443",
            "0x7f000001:443",
            "0177.0.0.1:443",
            "127.1:443",
            "127.0.1:443",
            "017700000001:443",
            "0x:443",
            "1.2.3.4.5:443",
            "127.0.0.1.:443",
            "host.0x1f:443",
        ] {
            assert!(
                matches!(
                    Target::parse_authority(raw),
                    Err(TargetError::NumericHost(_))
                ),
                "{raw}: {:?}",
                Target::parse_authority(raw)
            );
        }
        // Names that merely contain digits are names.
        for ok in [
            "1password.com:443",
            "a1.b2.c3:443",
            "x.0xz:443",
            "123.example:443",
        ] {
            assert!(Target::parse_authority(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Target::parse_authority("127.0.0.1:443").unwrap().host,
            Host::Ip("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn default_port_fills_missing_port() {
        let t = Target::parse_with_default("example.com", Some(80)).unwrap();
        assert_eq!(t.port, 80);
        let t = Target::parse_with_default("[2001:db8::1]", Some(443)).unwrap();
        assert_eq!(t.to_string(), "[2001:db8::1]:443");
    }
}
