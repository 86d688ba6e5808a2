//! Rule parts beyond the decision (credential headers, limits, approvals, response
//! redaction, private destinations): parsed and validated here, used by the stages they serve.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

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

/// `limits:` — a request rate, a token budget, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `rate:` — requests per window (`None`: only a token budget).
    pub rate: Option<RequestRate>,
    /// `tokens:` — LLM tokens per window, spent by the usage responses report.
    pub tokens: Option<TokenBudget>,
    /// Whose counter: each agent's, or one shared by the rule.
    pub per: LimitScope,
}

/// `limits.rate:` with its `burst:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRate {
    /// Requests allowed per window.
    pub count: u32,
    /// The window (`/hour` is one hour).
    pub window: Duration,
    /// Most requests allowed at once (the bucket size; default: `count`).
    pub burst: Option<u32>,
}

/// `limits.tokens:` (`2M/day`): input plus output tokens allowed per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBudget {
    /// Tokens per window (more than zero).
    pub tokens: u64,
    /// The window the budget refills over.
    pub window: Duration,
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

/// Parses an `allow_private:` entry: `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or
/// /128). Host bits must be zero, so `10.0.0.1/8` is refused rather than read as `10.0.0.0/8`.
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let bad = |why: &str| format!("invalid CIDR `{text}`: {why}");
    let text = text.trim();
    let net = match text.split_once('/') {
        None => IpNet::from(
            text.parse::<IpAddr>()
                .map_err(|_| bad("not an IP address"))?,
        ),
        Some((addr, prefix)) => {
            let addr: IpAddr = addr.trim().parse().map_err(|_| bad("not an IP address"))?;
            let prefix: u8 = prefix
                .trim()
                .parse()
                .map_err(|_| bad("bad prefix length"))?;
            IpNet::new(addr, prefix).map_err(|_| bad("prefix length too long"))?
        }
    };
    if net.trunc() != net {
        return Err(bad("host bits are set"));
    }
    Ok(net)
}

#[cfg(test)]
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
        let c = parse_cidr("10.0.0.0/8").unwrap();
        assert!(c.contains(&"10.1.2.3".parse::<IpAddr>().unwrap()));
        assert!(!c.contains(&"11.0.0.1".parse::<IpAddr>().unwrap()));
        assert!(!c.contains(&"::1".parse::<IpAddr>().unwrap()));
        assert!(
            parse_cidr("fd00::/8")
                .unwrap()
                .contains(&"fd12::1".parse::<IpAddr>().unwrap())
        );
        assert!(
            parse_cidr("0.0.0.0/0")
                .unwrap()
                .contains(&"8.8.8.8".parse::<IpAddr>().unwrap())
        );
        assert_eq!(parse_cidr("127.0.0.1").unwrap().prefix_len(), 32);
        assert_eq!(parse_cidr(" fd00::1 ").unwrap().prefix_len(), 128);
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "nope/8",
            "10.0.0.0/x",
            "::/129",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }
}
