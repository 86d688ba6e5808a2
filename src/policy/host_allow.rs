//! `--allow HOST[:PORT]`: the quick-start flag, compiled into synthetic rules with id
//! `allow:HOST[:PORT]` that allow every method and path, over https and http, to that
//! host (on that port, or any port when none is given).

use std::fmt;
use std::str::FromStr;

use crate::policy::decision::{Mode, Verdict};
use crate::policy::error::Pos;
use crate::policy::ids::RuleId;
use crate::policy::index::HostIndex;
use crate::policy::normalize::normalize_host;
use crate::policy::rule::Rule;
use crate::policy::ruleset::RuleSet;
use crate::policy::spelling::Spellings;
use crate::policy::url_pattern::{HostPattern, PortPattern, UrlPattern};

/// One `--allow` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAllow {
    /// The normalised host.
    pub host: String,
    /// The port, or `None` for any port.
    pub port: Option<u16>,
}

/// Why an `--allow` value is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid --allow `{value}`: {reason}")]
pub struct HostAllowError {
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for HostAllow {
    type Err = HostAllowError;

    /// Parses `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`.
    fn from_str(value: &str) -> Result<HostAllow, HostAllowError> {
        let fail = |reason: String| HostAllowError {
            value: value.to_owned(),
            reason,
        };
        let (host, port) = match value.rsplit_once(':') {
            Some((h, p))
                if !p.contains(']')
                    && !h.ends_with(':')
                    && (h.starts_with('[') || !h.contains(':')) =>
            {
                let port = p.parse::<u16>().ok().filter(|p| *p != 0);
                (
                    h,
                    Some(port.ok_or_else(|| fail(format!("invalid port `{p}`")))?),
                )
            }
            _ => (value, None),
        };
        if host.contains(['/', '*', '@']) {
            return Err(fail("expected HOST or HOST:PORT".into()));
        }
        let host = normalize_host(host).map_err(|e| fail(e.to_string()))?;
        Ok(HostAllow { host, port })
    }
}

impl fmt::Display for HostAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl RuleSet {
    /// Adds an allow-everything rule per `--allow` value (after the file rules, so deny
    /// and approve rules from files still win by precedence).
    pub fn with_host_allows(mut self, allows: &[HostAllow]) -> RuleSet {
        for allow in allows {
            let port = allow.port.map_or(PortPattern::Any, PortPattern::Exact);
            let text = format!("*://{allow}/**");
            let url = UrlPattern::any_path(HostPattern::Exact(allow.host.clone()), port, text);
            self.rules.push(Rule {
                selector: Rule::selector_text(None, &url),
                id: RuleId::new(format!("allow:{allow}")),
                description: Some(format!("--allow {allow}")),
                pos: Pos {
                    file: "--allow".into(),
                    line: 0,
                    column: 0,
                },
                agents: None,
                methods: None,
                url,
                checks: Vec::new(),
                body: None,
                mcp: None,
                graphql: None,
                verdict: Verdict::Allow,
                mode: Mode::Enforce,
                inject: Vec::new(),
                inject_body: false,
                set_headers: Vec::new(),
                sign: None,
                limits: None,
                approval: None,
                response: None,
                allow_private: Vec::new(),
                path_spellings: Spellings::default(),
            });
        }
        self.index = HostIndex::build(&self.rules);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::request::{RequestHead, Scheme};

    #[test]
    fn parses_values() {
        let a: HostAllow = "Example.COM.".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("example.com", None));
        let a: HostAllow = "example.com:8443".parse().unwrap();
        assert_eq!(a.port, Some(8443));
        let a: HostAllow = "[::1]:8080".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("[::1]", Some(8080)));
        let a: HostAllow = "::1".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("[::1]", None));
        for bad in ["", "a.com:0", "a.com:x", "https://a.com", "*.a.com"] {
            assert!(bad.parse::<HostAllow>().is_err(), "{bad}");
        }
    }

    #[test]
    fn allows_any_path_and_port_on_the_host() {
        let set = RuleSet::default().with_host_allows(&["example.com".parse().unwrap()]);
        assert!(set.admits_connect("EXAMPLE.com", 443, None));
        assert!(set.admits_connect("example.com", 8443, None));
        assert!(!set.admits_connect("other.com", 443, None));
        let headers = http::HeaderMap::new();
        let head = RequestHead {
            method: &http::Method::DELETE,
            scheme: Scheme::Http,
            host: "example.com",
            port: 80,
            path: "/any/path",
            query: None,
            headers: &headers,
        };
        let d = set.decide(&head, None, None);
        assert!(d.is_allowed(), "{d:?}");
        assert_eq!(d.rule.unwrap().as_str(), "allow:example.com");
    }

    #[test]
    fn a_port_limits_the_rule() {
        let set = RuleSet::default().with_host_allows(&["example.com:8443".parse().unwrap()]);
        assert!(set.admits_connect("example.com", 8443, None));
        assert!(!set.admits_connect("example.com", 443, None));
    }
}
