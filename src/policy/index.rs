//! Rules indexed by host, so that a decision only looks at the rules of its host:
//! an exact-host map plus a map of `*.suffix` patterns probed once per label of the host.

use std::collections::HashMap;

use crate::policy::rule::Rule;
use crate::policy::url_pattern::HostPattern;

/// Rule indices by host pattern, in declaration order within each bucket.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostIndex {
    /// `api.github.com` → rules for exactly that host.
    exact: HashMap<String, Vec<usize>>,
    /// `github.com` → rules written `*.github.com`.
    subdomains: HashMap<String, Vec<usize>>,
}

impl HostIndex {
    /// Indexes every rule by its URL host pattern.
    pub(crate) fn build(rules: &[Rule]) -> HostIndex {
        let mut index = HostIndex::default();
        for (i, rule) in rules.iter().enumerate() {
            let (map, key) = match &rule.url.host {
                HostPattern::Exact(h) => (&mut index.exact, h),
                HostPattern::Subdomains(s) => (&mut index.subdomains, s),
            };
            map.entry(key.clone()).or_default().push(i);
        }
        index
    }

    /// How many distinct host patterns the rules name.
    pub(crate) fn host_count(&self) -> usize {
        self.exact.len() + self.subdomains.len()
    }

    /// The rules whose host pattern matches the normalised `host`, in declaration order.
    pub(crate) fn candidates(&self, host: &str) -> Vec<usize> {
        let mut lists: Vec<&Vec<usize>> = Vec::new();
        if let Some(list) = self.exact.get(host) {
            lists.push(list);
        }
        if !self.subdomains.is_empty() {
            for (i, byte) in host.bytes().enumerate() {
                if byte == b'.'
                    && let Some(list) = host.get(i + 1..).and_then(|s| self.subdomains.get(s))
                {
                    lists.push(list);
                }
            }
        }
        match lists.as_slice() {
            [] => Vec::new(),
            [one] => (*one).clone(),
            many => {
                let mut all: Vec<usize> = many.iter().flat_map(|l| l.iter().copied()).collect();
                all.sort_unstable();
                all
            }
        }
    }
}
