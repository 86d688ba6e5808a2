//! What an entry says beside what keyward did: the outcome the rules would have enforced
//! (learn mode, shadow rules) and, in learn mode only, the names (never the values) a
//! request carried, from which `keyward rules suggest` drafts rules.

use serde::{Deserialize, Serialize};

use super::decision::Decision;
use crate::policy::RuleId;

/// The outcome the rules would have enforced: for learn mode, the denial or hold that was
/// let through; for shadow rules, what they would have decided had they been enforced.
///
/// Fields are declared in code-point order of their names: this struct is its own
/// canonical form in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WouldRecord {
    /// The would-be decision (`deny`, `approve`, or `allow` for a shadow rule that would
    /// allow what the enforced rules deny).
    pub decision: Decision,
    /// The rule condition that would have failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_condition: Option<String>,
    /// Why, in the words the agent would have read.
    pub reason: String,
    /// The rule that would have decided; absent for the default deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
}

/// The names a request carried, recorded in learn mode only: what a drafted rule lists.
/// Query parameter names are in the entry's `query` already. Fields are in canonical
/// (code-point) order, as in [`WouldRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The credential-carrying request fields present (`authorization`, `x-api-key`, …),
    /// by name only: their values are never read into the entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<String>,
    /// The top-level field names of a JSON object body, sorted (none for other bodies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_fields: Vec<String>,
}

impl Observed {
    /// True when nothing was observed (the entry then carries no `observed`).
    pub fn is_empty(&self) -> bool {
        self.json_fields.is_empty() && self.auth.is_empty()
    }
}
