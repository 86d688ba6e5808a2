//! Rule parts used by later work (credential headers, limits, approvals, response
//! redaction, private destinations): parsed and validated here, carried without behaviour.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::policy::ids::SecretName;
use crate::policy::json::JsonPath;

/// One `set_headers:` entry: `Authorization: "Bearer {{github}}"`.
#[derive(Clone, Debug)]
pub struct HeaderTemplate {
    /// The header to set (replacing any value the agent sent).
    pub name: http::HeaderName,
    /// Literal text and secret references, in order.
    pub parts: Vec<TemplatePart>,
}

/// A piece of a header template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text.
    Text(String),
    /// `{{name}}`: the secret's value, filled in by the credentials work.
    Secret(SecretName),
}

/// Parses `Bearer {{github}}` into parts; `Err` names the problem.
pub fn parse_template(text: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(TemplatePart::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in `{text}`"))?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(format!("empty `{{{{}}}}` in `{text}`"));
        }
        parts.push(TemplatePart::Secret(SecretName::new(name)));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_owned()));
    }
    Ok(parts)
}

/// `limits:` — a rate limit (enforced by the limits work).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests allowed per window.
    pub count: u32,
    /// The window (`/hour` is one hour).
    pub window: Duration,
    /// Most requests allowed at once (the bucket size; default: `count`).
    pub burst: Option<u32>,
    /// Whose counter: each agent's, or one shared by the rule.
    pub per: LimitScope,
}

/// `limits.per:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitScope {
    /// One counter per agent (the default).
    Agent,
    /// One counter for the rule.
    Rule,
}

/// `approval:` — how an approval is held (used by the approvals work).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// How long a request waits for a person (`None`: the server's default).
    pub timeout: Option<Duration>,
    /// Where pending approvals are announced.
    pub webhook: Option<http::Uri>,
}

/// `response:` — what to redact from responses (used by the redaction work).
#[derive(Clone, Debug, Default)]
pub struct ResponseRedaction {
    /// JSON fields to redact.
    pub redact_json: Vec<JsonPath>,
    /// Names of `patterns:` sets whose matches are redacted.
    pub redact_patterns: Vec<String>,
}

/// An address range in `allow_private:` (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8` or a bare address.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = |why: &str| format!("invalid CIDR `{text}`: {why}");
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad("not an IP address"))?;
        let bits: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|_| bad("bad prefix length"))?,
        };
        if prefix > bits {
            return Err(bad("prefix length too long"));
        }
        let cidr = Cidr { addr, prefix };
        if cidr.network_bits(addr) != to_bits(addr) {
            return Err(bad("host bits are set"));
        }
        Ok(cidr)
    }

    /// Is `ip` inside this range?
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && self.network_bits(ip) == to_bits(self.addr)
    }

    /// `ip` with the bits past the prefix cleared.
    fn network_bits(&self, ip: IpAddr) -> u128 {
        let width: u32 = if ip.is_ipv4() { 32 } else { 128 };
        let host_bits = width - u32::from(self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            u128::MAX << host_bits
        };
        to_bits(ip) & mask
    }
}

/// An address as an integer.
fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            parse_template("Bearer {{github}}").unwrap(),
            vec![
                TemplatePart::Text("Bearer ".into()),
                TemplatePart::Secret(SecretName::new("github"))
            ]
        );
        assert!(parse_template("Bearer {{github").is_err());
        assert!(parse_template("{{}}").is_err());
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert_eq!(Cidr::parse("127.0.0.1").unwrap().prefix, 32);
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "nope/8", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
