//! The pure decision: (request head, body, agent) → [`Decision`]. No I/O, no panics.
//!
//! Steps: normalise the target (an invalid one is denied, and so is an ambiguous spelling no
//! rule of the host admits); take the host's candidate rules from the index; keep those
//! whose selector matches (deny and approve rules on every reading of the path); evaluate their conditions; resolve
//! enforce-mode rules into the enforced outcome, and all rules (shadow included) into the
//! would-be outcome, reported when it differs.
//!
//! Resolution, in order: a rule whose input could not be read (body too large, undecodable,
//! not JSON, malformed query) denies with that reason — fail closed; then the first matching
//! deny rule; then the first matching approve rule; then the first matching allow rule; then
//! the first allow rule whose selector matched but a condition failed (deny, naming the rule
//! and the condition), else such an approve rule; otherwise deny `no rule allows this
//! request`.
//!
//! When a matching rule has `mcp:`, the body's JSON-RPC calls are decided one by one by the
//! same precedence (`calls`); with `graphql:`, the request's GraphQL operations (`graphql`).

mod calls;
mod evaluate;
mod graphql;
mod inputs;

use evaluate::Outcome;
use inputs::Inputs;

use crate::policy::decision::{ConditionTrace, Decision, Mode, ShadowOutcome, Verdict};
use crate::policy::ids::AgentId;
use crate::policy::index::HostIndex;
use crate::policy::normalize::{NormalizedTarget, normalize_target};
use crate::policy::request::{BodyNeed, RequestBody, RequestHead};
use crate::policy::rule::Rule;
use crate::policy::spelling::{self, AmbiguousPath, Spellings};

/// The reason of the default deny.
pub const NO_RULE: &str = "no rule allows this request";

/// A rule whose selector matched, with how its conditions fared.
struct Evaluated<'a> {
    rule: &'a Rule,
    captures: Vec<(String, String)>,
    outcome: Outcome,
}

/// Decides one request: normalises its target, refuses an ambiguous spelling, decides.
pub(crate) fn decide(
    rules: &[Rule],
    index: &HostIndex,
    head: &RequestHead<'_>,
    body: Option<&RequestBody<'_>>,
    agent: Option<&AgentId>,
    tracing: bool,
) -> Decision {
    let target = match normalize_target(head.host, head.port, head.path) {
        Ok(t) => t,
        Err(e) => return Decision::deny(format!("invalid request target: {e}")),
    };
    let candidates = index.candidates(&target.host);
    if let Err(e) = check_spellings(rules, candidates.as_slice(), &target) {
        return Decision::deny(e.to_string());
    }
    let request = Request {
        target: &target,
        head,
        body,
        agent,
    };
    decide_among(rules, candidates.as_slice(), &request, tracing)
}

/// Decides one request whose target the caller normalised and whose spelling it checked.
pub(crate) fn decide_normalized(
    rules: &[Rule],
    index: &HostIndex,
    request: &Request<'_>,
    tracing: bool,
) -> Decision {
    let candidates = index.candidates(&request.target.host);
    decide_among(rules, candidates.as_slice(), request, tracing)
}

/// One request as the engine sees it: the normalised target beside the head it came from.
pub(crate) struct Request<'a> {
    pub target: &'a NormalizedTarget,
    pub head: &'a RequestHead<'a>,
    pub body: Option<&'a RequestBody<'a>>,
    pub agent: Option<&'a AgentId>,
}

/// Decides among the host's candidate rules.
fn decide_among(
    rules: &[Rule],
    candidates: &[usize],
    request: &Request<'_>,
    tracing: bool,
) -> Decision {
    let Request {
        target,
        head,
        body,
        agent,
    } = *request;
    let readings = spelling::readings(&target.segments);
    let mut trace = Vec::new();
    let mut matched = Vec::new();
    for &i in candidates {
        let Some(rule) = rules.get(i) else { continue };
        let result = evaluate::selector(rule, head.method, head.scheme, target, &readings, agent);
        if tracing {
            trace.push(ConditionTrace {
                rule: rule.id.clone(),
                mode: rule.mode,
                condition: rule.selector.clone(),
                passed: result.is_ok(),
                detail: match &result {
                    Ok(_) => "matches".to_owned(),
                    Err(why) => why.clone(),
                },
            });
        }
        if let Ok(captures) = result {
            matched.push((rule, captures));
        }
    }
    let largest = matched
        .iter()
        .filter_map(|(r, _)| r.body.as_ref().map(|b| b.max_size))
        .max()
        .unwrap_or(0);
    let inputs = Inputs::new(head, body, largest);
    if matched.iter().any(|(r, _)| r.graphql.is_some()) {
        return graphql::decide(&matched, &inputs, trace, tracing);
    }
    if matched.iter().any(|(r, _)| r.mcp.is_some()) {
        return calls::decide(&matched, &inputs, trace, tracing);
    }
    let evaluated: Vec<Evaluated<'_>> = matched
        .into_iter()
        .map(|(rule, captures)| {
            let outcome =
                evaluate::conditions(rule, &inputs, &captures, tracing.then_some(&mut trace));
            Evaluated {
                rule,
                captures,
                outcome,
            }
        })
        .collect();
    conclude(&evaluated, trace)
}

/// The decision over evaluated rules: the enforced outcome, and the shadow one when it
/// differs.
fn conclude(evaluated: &[Evaluated<'_>], trace: Vec<ConditionTrace>) -> Decision {
    let enforced = resolve(evaluated.iter().filter(|e| e.rule.mode == Mode::Enforce));
    // Without a shadow rule among them, all the rules resolve as the enforced ones did.
    let any_shadow = evaluated.iter().any(|e| e.rule.mode != Mode::Enforce);
    let all = any_shadow.then(|| resolve(evaluated.iter()));
    let shadow = all
        .filter(|all| all.verdict != enforced.verdict || rule_of(all) != rule_of(&enforced))
        .map(|all| ShadowOutcome {
            verdict: all.verdict,
            rule: rule_of(&all).cloned(),
            reason: all.reason,
            failed_condition: all.failed_condition,
        });
    let (inject, captures) = match enforced.by {
        Some(e) if enforced.verdict != Verdict::Deny => (e.rule.inject.clone(), e.captures.clone()),
        Some(e) => (Vec::new(), e.captures.clone()),
        None => (Vec::new(), Vec::new()),
    };
    Decision {
        verdict: enforced.verdict,
        mode: if shadow.is_some() {
            Mode::Shadow
        } else {
            Mode::Enforce
        },
        rule: rule_of(&enforced).cloned(),
        reason: enforced.reason,
        failed_condition: enforced.failed_condition,
        trace,
        inject,
        captures,
        shadow,
        mcp: None,
        graphql: None,
    }
}

/// The largest `max_size` among the rules (shadow included) whose selector matches and
/// that inspect the body; `BodyNeed::None` when none does or the target is invalid.
pub(crate) fn body_need(
    rules: &[Rule],
    index: &HostIndex,
    head: &RequestHead<'_>,
    agent: Option<&AgentId>,
) -> BodyNeed {
    let Ok(target) = normalize_target(head.host, head.port, head.path) else {
        return BodyNeed::None;
    };
    body_need_normalized(rules, index, &target, head, agent)
}

/// [`body_need`] for a target the caller normalised.
pub(crate) fn body_need_normalized(
    rules: &[Rule],
    index: &HostIndex,
    target: &NormalizedTarget,
    head: &RequestHead<'_>,
    agent: Option<&AgentId>,
) -> BodyNeed {
    selected(rules, index, target, head, agent, |rule| {
        rule.body.is_some()
    })
    .filter_map(|rule| rule.body.as_ref().map(|b| b.max_size))
    .max()
    .map_or(BodyNeed::None, |max_size| BodyNeed::Inspect { max_size })
}

/// Whether a rule that holds requests for a person (`decision: approve`) selects the
/// request: its body is then read ahead, so the approver sees a preview of it.
pub(crate) fn approval_possible(
    rules: &[Rule],
    index: &HostIndex,
    target: &NormalizedTarget,
    head: &RequestHead<'_>,
    agent: Option<&AgentId>,
) -> bool {
    if !rules.iter().any(|rule| rule.verdict == Verdict::Approve) {
        return false;
    }
    selected(rules, index, target, head, agent, |rule| {
        rule.verdict == Verdict::Approve
    })
    .next()
    .is_some()
}

/// Whether a rule with `mcp:` (shadow included) has a selector matching the request.
pub(crate) fn mcp_rule_matches(
    rules: &[Rule],
    index: &HostIndex,
    target: &NormalizedTarget,
    head: &RequestHead<'_>,
    agent: Option<&AgentId>,
) -> bool {
    selected(rules, index, target, head, agent, |rule| rule.mcp.is_some())
        .next()
        .is_some()
}

/// Whether the target's host has a rule with `mcp:` for `agent`, whatever its path: the
/// HTTP+SSE transport posts calls to another path than its stream's.
pub(crate) fn host_has_mcp_rules(
    rules: &[Rule],
    index: &HostIndex,
    target: &NormalizedTarget,
    agent: Option<&AgentId>,
) -> bool {
    index
        .candidates(&target.host)
        .filter_map(|i| rules.get(i))
        .any(|rule| rule.mcp.is_some() && rule.applies_to(agent))
}

/// The host's candidate rules that pass `keep` and whose selector matches the request.
fn selected<'r>(
    rules: &'r [Rule],
    index: &HostIndex,
    target: &'r NormalizedTarget,
    head: &'r RequestHead<'_>,
    agent: Option<&'r AgentId>,
    keep: fn(&Rule) -> bool,
) -> impl Iterator<Item = &'r Rule> {
    let readings = spelling::readings(&target.segments);
    index
        .candidates(&target.host)
        .filter_map(|i| rules.get(i))
        .filter(move |rule| keep(rule))
        .filter(move |rule| {
            evaluate::selector(rule, head.method, head.scheme, target, &readings, agent).is_ok()
        })
}

/// Refuses a path spelling that no candidate rule of the host (any agent, decision or mode)
/// admits with `path_spellings:`.
pub(crate) fn check_spellings(
    rules: &[Rule],
    candidates: &[usize],
    target: &NormalizedTarget,
) -> Result<(), AmbiguousPath> {
    if target.spellings == Spellings::default() {
        return Ok(());
    }
    let admitted = candidates
        .iter()
        .filter_map(|&i| rules.get(i))
        .fold(Spellings::default(), |all, rule| {
            all.union(rule.path_spellings)
        });
    target.spellings.check(admitted, &target.path)
}

/// The outcome of resolving a set of evaluated rules.
struct Resolved<'e, 'a> {
    verdict: Verdict,
    by: Option<&'e Evaluated<'a>>,
    reason: String,
    failed_condition: Option<String>,
}

/// The deciding rule's id.
fn rule_of<'r>(resolved: &Resolved<'_, 'r>) -> Option<&'r crate::policy::ids::RuleId> {
    resolved.by.map(|e| &e.rule.id)
}

/// Applies the precedence described in the module docs.
fn resolve<'e, 'a>(evaluated: impl Iterator<Item = &'e Evaluated<'a>> + Clone) -> Resolved<'e, 'a>
where
    'a: 'e,
{
    let first = |pred: &dyn Fn(&Evaluated<'a>) -> bool| evaluated.clone().find(|e| pred(e));
    if let Some(e) = first(&|e| matches!(e.outcome, Outcome::Unreadable(_))) {
        let reason = match &e.outcome {
            Outcome::Unreadable(reason) => reason.clone(),
            _ => String::new(),
        };
        return Resolved {
            verdict: Verdict::Deny,
            by: Some(e),
            reason,
            failed_condition: None,
        };
    }
    for verdict in [Verdict::Deny, Verdict::Approve, Verdict::Allow] {
        if let Some(e) = first(&|e| e.outcome == Outcome::Held && e.rule.verdict == verdict) {
            // Joined rather than formatted: one allocation of the exact length.
            let id = e.rule.id.as_str();
            let reason = match (verdict, &e.rule.description) {
                (Verdict::Approve, _) => ["approval required by rule `", id, "`"].concat(),
                (Verdict::Deny, Some(d)) => ["denied by rule `", id, "`: ", d].concat(),
                (Verdict::Deny, None) => ["denied by rule `", id, "`"].concat(),
                (Verdict::Allow, _) => ["allowed by rule `", id, "`"].concat(),
            };
            return Resolved {
                verdict,
                by: Some(e),
                reason,
                failed_condition: None,
            };
        }
    }
    // A failed approve rule names its condition too when no allow rule failed: the agent may
    // still get through it with other input (an MCP tool it holds stays listed).
    let failed = |verdict: Verdict| {
        first(&|e| e.rule.verdict == verdict && matches!(e.outcome, Outcome::Failed(_)))
    };
    if let Some(e) = failed(Verdict::Allow).or_else(|| failed(Verdict::Approve))
        && let Outcome::Failed(message) = &e.outcome
    {
        return Resolved {
            verdict: Verdict::Deny,
            by: Some(e),
            reason: message.clone(),
            failed_condition: Some(message.clone()),
        };
    }
    Resolved {
        verdict: Verdict::Deny,
        by: None,
        reason: NO_RULE.to_owned(),
        failed_condition: None,
    }
}

#[cfg(test)]
mod tests;
