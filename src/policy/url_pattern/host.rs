//! Host patterns: an exact host or `*.suffix` (any subdomain of suffix, at any depth).

use std::fmt;

use crate::policy::normalize::normalize_host;

/// A host pattern, stored normalised (lower-case ASCII, punycode, no trailing dot).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this host.
    Exact(String),
    /// `*.suffix`: any host ending in `.suffix` (not `suffix` itself).
    Subdomains(String),
}

impl HostPattern {
    /// Parses `host` or `*.host`, normalising like request hosts.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let (wild, host) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if host.contains('*') {
            return Err(format!(
                "host `{text}`: `*` is only allowed as a leading `*.` label"
            ));
        }
        let host = normalize_host(host).map_err(|e| e.to_string())?;
        Ok(if wild {
            HostPattern::Subdomains(host)
        } else {
            HostPattern::Exact(host)
        })
    }

    /// Does this pattern match the (normalised) host?
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|prefix| prefix.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
        }
    }

    /// Does every host matched by `other` also match `self`?
    pub fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (_, HostPattern::Exact(h)) => self.matches(h),
            (HostPattern::Subdomains(s), HostPattern::Subdomains(t)) => s == t || self.matches(t),
            (HostPattern::Exact(_), HostPattern::Subdomains(_)) => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Subdomains(s) => write!(f, "*.{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matches_subdomains_not_apex() {
        let p = HostPattern::parse("*.example.com").unwrap();
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
    }

    #[test]
    fn host_patterns_are_normalised() {
        assert_eq!(
            HostPattern::parse("API.GitHub.com.").unwrap(),
            HostPattern::Exact("api.github.com".into())
        );
        assert_eq!(
            HostPattern::parse("*.Bücher.example").unwrap(),
            HostPattern::Subdomains("xn--bcher-kva.example".into())
        );
    }

    #[test]
    fn covers() {
        let wild = HostPattern::parse("*.github.com").unwrap();
        let api = HostPattern::parse("api.github.com").unwrap();
        let deeper = HostPattern::parse("*.x.github.com").unwrap();
        assert!(wild.covers(&api));
        assert!(wild.covers(&deeper));
        assert!(!api.covers(&wild));
        assert!(api.covers(&api));
    }
}
