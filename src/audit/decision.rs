//! The decision an entry records (`allow`, `deny`, …) and the mode it was made in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What keyward did with a request. Serialized in snake_case (`rate_limited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Forwarded upstream.
    Allow,
    /// Refused by a rule, by default deny, or by a guard (exfiltration, pinning, …).
    Deny,
    /// Forwarded after a person approved it; the approval record says who.
    Approve,
    /// Refused with 429 because a rule's rate limit was exhausted.
    RateLimited,
    /// The exchange failed (upstream unreachable, client gone, internal error).
    Error,
}

impl Decision {
    /// Every decision, in the order `keyward audit tail --decision` lists them.
    pub const ALL: [Decision; 5] = [
        Decision::Allow,
        Decision::Deny,
        Decision::Approve,
        Decision::RateLimited,
        Decision::Error,
    ];

    /// The serialized (snake_case) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Approve => "approve",
            Decision::RateLimited => "rate_limited",
            Decision::Error => "error",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision name that is not one of [`Decision::ALL`] (e.g. from `--decision`).
#[derive(Debug, thiserror::Error)]
#[error("unknown decision {0:?} (expected one of allow, deny, approve, rate_limited, error)")]
pub struct UnknownDecision(pub String);

impl FromStr for Decision {
    type Err = UnknownDecision;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decision::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDecision(s.to_owned()))
    }
}

/// Whether the decision was enforced as the rules decided, or a would-be outcome was only
/// recorded (shadow rules, learn mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The decision was applied.
    Enforce,
    /// Shadow rules would have decided otherwise (their outcome is the entry's `would`).
    Shadow,
    /// keyward ran with `--learn`: what the rules would deny or hold was forwarded, and the
    /// entry's `would` says how they would have decided.
    Learn,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_names_are_snake_case_and_parse_back() {
        for d in Decision::ALL {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
            assert_eq!(d.as_str().parse::<Decision>().unwrap(), d);
        }
        let err = "maybe".parse::<Decision>().unwrap_err();
        assert!(err.to_string().contains("\"maybe\""));
    }
}
