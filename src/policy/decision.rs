//! What the engine answers: a verdict, the deciding rule, the reason, and the trace.

use std::fmt;

use crate::policy::graphql::GraphqlDecision;
use crate::policy::ids::{RuleId, SecretName};
use crate::policy::mcp::McpDecision;

/// The enforced outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Forward the request.
    Allow,
    /// Refuse it (403).
    Deny,
    /// Hold it for a person (until approvals exist the proxy denies: `approval required`).
    Approve,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Approve => "approve",
        })
    }
}

/// A rule's `mode:`, and whether shadow rules disagree with a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The rule decides.
    Enforce,
    /// The rule is evaluated and reported, never enforced.
    Shadow,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        })
    }
}

/// One evaluated check, for `explain` and the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionTrace {
    /// The rule the check belongs to.
    pub rule: RuleId,
    /// The rule's mode (shadow checks never change the enforced outcome).
    pub mode: Mode,
    /// What was checked, e.g. `selector` or `/labels/* one_of [bug, triage]`.
    pub condition: String,
    /// Whether it held.
    pub passed: bool,
    /// Why: the value seen, or the failure message.
    pub detail: String,
}

/// What the rules would have decided had shadow rules been enforced, when that differs from
/// the enforced decision (different verdict or different deciding rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowOutcome {
    /// The would-be verdict.
    pub verdict: Verdict,
    /// The would-be deciding rule.
    pub rule: Option<RuleId>,
    /// The would-be reason.
    pub reason: String,
    /// The would-be failing condition.
    pub failed_condition: Option<String>,
}

/// The engine's answer for one request.
///
/// `verdict`, `rule`, `reason`, `failed_condition`, `inject` and `captures` are always the
/// *enforced* outcome, decided by enforce-mode rules only. `mode` is `Shadow` exactly when
/// `shadow` is `Some`: evaluating shadow-mode rules as if enforced would have decided
/// differently, and `shadow` says how. The proxy acts on the enforced fields only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allow, deny or approve.
    pub verdict: Verdict,
    /// `Shadow` when shadow rules disagree (see `shadow`), else `Enforce`.
    pub mode: Mode,
    /// The deciding rule; `None` for the default deny and for invalid targets.
    pub rule: Option<RuleId>,
    /// A human-readable reason (for the 403 JSON and the audit log).
    pub reason: String,
    /// The condition that failed, when an allow rule matched but a requirement did not hold.
    pub failed_condition: Option<String>,
    /// Every check evaluated, in rule order.
    pub trace: Vec<ConditionTrace>,
    /// Secrets the deciding rule injects (allow and approve).
    pub inject: Vec<SecretName>,
    /// `{name}` captures of the deciding rule's URL pattern.
    pub captures: Vec<(String, String)>,
    /// The shadow rules' differing outcome, if any.
    pub shadow: Option<ShadowOutcome>,
    /// The per-call decisions when the body was decided as JSON-RPC by `mcp:` rules.
    pub mcp: Option<McpDecision>,
    /// The per-operation decisions when the request was decided as GraphQL by `graphql:`
    /// rules.
    pub graphql: Option<GraphqlDecision>,
}

impl Decision {
    /// What an exchange's record keeps of the decision: all of it but the trace, the
    /// secrets to inject and the URL captures, which only the request path uses.
    pub fn for_record(&self) -> Decision {
        Decision {
            verdict: self.verdict,
            mode: self.mode,
            rule: self.rule.clone(),
            reason: self.reason.clone(),
            failed_condition: self.failed_condition.clone(),
            trace: Vec::new(),
            inject: Vec::new(),
            captures: Vec::new(),
            shadow: self.shadow.clone(),
            mcp: self.mcp.clone(),
            graphql: self.graphql.clone(),
        }
    }

    /// A deny without a rule (invalid target, default deny).
    pub(crate) fn deny(reason: impl Into<String>) -> Decision {
        Decision {
            verdict: Verdict::Deny,
            mode: Mode::Enforce,
            rule: None,
            reason: reason.into(),
            failed_condition: None,
            trace: Vec::new(),
            inject: Vec::new(),
            captures: Vec::new(),
            shadow: None,
            mcp: None,
            graphql: None,
        }
    }

    /// True when the proxy may forward the request now.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }
}
