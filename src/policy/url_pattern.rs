//! URL patterns of the rule selector: `scheme://host[:port]/path`.
//!
//! `scheme` is `https`, `http` or `*`; the host may start with `*.` (any subdomain, not the
//! apex); the port is a number, `*` (any) or omitted (the scheme's default port); the path
//! uses `*` (one non-empty segment), `**` (any number of segments) and `{name}` (one
//! non-empty segment, captured). No path means any path (`/**`).

mod host;
pub(crate) mod path;

pub use host::HostPattern;
pub use path::PathPattern;

use std::fmt;

use crate::policy::request::Scheme;

/// The scheme part of a URL pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemePattern {
    /// `http://`
    Http,
    /// `https://`
    Https,
    /// `*://` — both.
    Any,
}

/// The port part of a URL pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortPattern {
    /// No port written: the scheme's default (443 for https, 80 for http).
    Default,
    /// `:8443`
    Exact(u16),
    /// `:*`
    Any,
}

/// A compiled `url:` pattern.
#[derive(Clone, Debug)]
pub struct UrlPattern {
    /// Which schemes match.
    pub scheme: SchemePattern,
    /// Which hosts match (also the key of the host index).
    pub host: HostPattern,
    /// Which ports match.
    pub port: PortPattern,
    /// Which paths match, with their captures.
    pub path: PathPattern,
    /// The pattern as written, for explanations.
    text: String,
}

/// Why a `url:` pattern is invalid (the message names the bad part).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid URL pattern `{pattern}`: {reason}")]
pub struct UrlPatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl UrlPattern {
    /// Parses `scheme://host[:port][/path]`.
    pub fn parse(text: &str) -> Result<UrlPattern, UrlPatternError> {
        let fail = |reason: String| UrlPatternError {
            pattern: text.to_owned(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| fail("expected scheme://host/path".into()))?;
        let scheme = match scheme {
            "https" => SchemePattern::Https,
            "http" => SchemePattern::Http,
            "*" => SchemePattern::Any,
            other => {
                return Err(fail(format!(
                    "unknown scheme `{other}` (use https, http or *)"
                )));
            }
        };
        if rest.contains(['?', '#']) {
            return Err(fail(
                "query and fragment are not part of a URL pattern; use `query:`".into(),
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/**"),
        };
        if authority.contains('@') {
            return Err(fail("user info is not allowed".into()));
        }
        let (host, port) = split_host_port(authority).map_err(&fail)?;
        let host = HostPattern::parse(host).map_err(&fail)?;
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            Some(digits) => match digits.parse::<u16>() {
                Ok(p) if p != 0 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    PortPattern::Exact(p)
                }
                _ => return Err(fail(format!("invalid port `{digits}`"))),
            },
        };
        let path = PathPattern::parse(path).map_err(fail)?;
        Ok(UrlPattern {
            scheme,
            host,
            port,
            path,
            text: text.to_owned(),
        })
    }

    /// A pattern matching every path on `host` (used by `--allow HOST[:PORT]`).
    pub(crate) fn any_path(host: HostPattern, port: PortPattern, text: String) -> UrlPattern {
        UrlPattern {
            scheme: SchemePattern::Any,
            host,
            port,
            path: PathPattern::any(),
            text,
        }
    }

    /// Does the scheme match?
    pub fn matches_scheme(&self, scheme: Scheme) -> bool {
        matches!(
            (self.scheme, scheme),
            (SchemePattern::Any, _)
                | (SchemePattern::Https, Scheme::Https)
                | (SchemePattern::Http, Scheme::Http)
        )
    }

    /// Does the port match? With `scheme: None` (a CONNECT, scheme unknown) a default port
    /// matches the default port of any scheme this pattern allows.
    pub fn matches_port(&self, scheme: Option<Scheme>, port: u16) -> bool {
        match self.port {
            PortPattern::Any => true,
            PortPattern::Exact(p) => p == port,
            PortPattern::Default => match (scheme, self.scheme) {
                (Some(s), _) => s.default_port() == port,
                (None, SchemePattern::Https) => port == 443,
                (None, SchemePattern::Http) => port == 80,
                (None, SchemePattern::Any) => port == 443 || port == 80,
            },
        }
    }
}

impl fmt::Display for UrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits `host[:port]`, keeping `[v6]` literals whole.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if authority.starts_with('[') {
        let end = authority
            .find(']')
            .ok_or_else(|| "unclosed `[` in host".to_owned())?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| format!("unexpected `{rest}` after host")),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts() {
        let p = UrlPattern::parse("https://*.Example.com:8443/a/{x}/**").unwrap();
        assert_eq!(p.scheme, SchemePattern::Https);
        assert_eq!(p.host, HostPattern::Subdomains("example.com".into()));
        assert_eq!(p.port, PortPattern::Exact(8443));
        assert_eq!(p.to_string(), "https://*.Example.com:8443/a/{x}/**");
    }

    #[test]
    fn no_path_means_any_path() {
        let p = UrlPattern::parse("https://crates.io").unwrap();
        assert!(p.path.matches(&["a".into(), "b".into()]).is_some());
    }

    #[test]
    fn default_ports() {
        let p = UrlPattern::parse("https://a.com/").unwrap();
        assert!(p.matches_port(Some(Scheme::Https), 443));
        assert!(!p.matches_port(Some(Scheme::Https), 8443));
        assert!(p.matches_port(None, 443));
        assert!(!p.matches_port(None, 80));
        let any = UrlPattern::parse("*://a.com:*/").unwrap();
        assert!(any.matches_port(None, 1234));
        assert!(any.matches_scheme(Scheme::Http));
    }

    #[test]
    fn ipv6_hosts() {
        let p = UrlPattern::parse("http://[::1]:8080/x").unwrap();
        assert_eq!(p.host, HostPattern::Exact("[::1]".into()));
        assert_eq!(p.port, PortPattern::Exact(8080));
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "api.github.com/x",
            "ftp://a.com/",
            "https://a.com/x?y=1",
            "https://a.com:0/",
            "https://a.com:99999/",
            "https://a.com:x/",
            "https://u@a.com/",
            "https://a.*.com/",
            "https://*/",
            "https://a.com/x*",
            "https://a.com/{x}/{x}",
            "https://a.com/../x",
            "https://a.com/a%2Fb",
            "https://[::1/",
        ] {
            assert!(UrlPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
