//! Rules indexed by host, so that a decision only looks at the rules of its host:
//! an exact-host map plus a map of `*.suffix` patterns probed once per label of the host.

use std::borrow::Cow;
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

    /// The rules whose host pattern matches the normalised `host`, in declaration order:
    /// borrowed from the index when one pattern matches (the usual case), merged when
    /// several do.
    pub(crate) fn candidates(&self, host: &str) -> Candidates<'_> {
        let mut lists = self
            .exact
            .get(host)
            .into_iter()
            .chain(self.suffix_lists(host));
        let list = match (lists.next(), lists.next()) {
            (None, _) => Cow::Borrowed(&[][..]),
            (Some(only), None) => Cow::Borrowed(only.as_slice()),
            (Some(first), Some(second)) => {
                let mut all: Vec<usize> = first.iter().chain(second).copied().collect();
                for list in lists {
                    all.extend_from_slice(list);
                }
                all.sort_unstable();
                Cow::Owned(all)
            }
        };
        Candidates { list, next: 0 }
    }

    /// The lists of the `*.suffix` patterns that match `host`, from the longest suffix.
    fn suffix_lists<'s>(&'s self, host: &str) -> impl Iterator<Item = &'s Vec<usize>> {
        // Without a `*.suffix` pattern there is nothing to probe.
        let host = if self.subdomains.is_empty() { "" } else { host };
        host.match_indices('.')
            .filter_map(move |(i, _)| host.get(i + 1..).and_then(|s| self.subdomains.get(s)))
    }
}

/// A host's candidate rule indices, in declaration order.
#[derive(Default)]
pub(crate) struct Candidates<'a> {
    list: Cow<'a, [usize]>,
    /// The position [`Iterator::next`] yields from.
    next: usize,
}

impl Candidates<'_> {
    /// All of them, whatever was iterated.
    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.list
    }
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let i = self.list.get(self.next).copied()?;
        self.next += 1;
        Some(i)
    }
}
