//! The quick-start policy: `--allow HOST[:PORT]` allows every request to a host; everything
//! else is denied (default deny).

use crate::config::HostAllow;
use crate::refusal::Refusal;
use crate::target::Target;

/// Host-wide allows, checked in order.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    allows: Vec<HostAllow>,
}

impl AllowList {
    pub fn new(allows: Vec<HostAllow>) -> Self {
        Self { allows }
    }

    /// Whether any allow could match `target` (a CONNECT to anything else is refused before
    /// the TLS handshake).
    pub fn admits(&self, target: &Target) -> bool {
        self.allows.iter().any(|a| a.covers(target))
    }

    /// The id of the allow that covers `target`, or the default-deny refusal.
    pub fn decide(&self, target: &Target) -> Result<Option<String>, Refusal> {
        self.allows
            .iter()
            .find(|a| a.covers(target))
            .map(|a| {
                Some(match a.port {
                    Some(p) => format!("allow:{}:{p}", a.host),
                    None => format!("allow:{}", a.host),
                })
            })
            .ok_or_else(|| Refusal::default_deny(format!("no rule allows requests to {target}")))
    }
}
