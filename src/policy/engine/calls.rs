//! The decision of a body that `mcp:` rules read as JSON-RPC: each call decided on its own
//! among the rules whose selector matched, then one decision for the request.
//!
//! A body that is not JSON-RPC drops the `mcp:` rules (they do not match it); a body that
//! cannot be read (too large, undecodable, a key twice), or whose `Mcp-Method`/`Mcp-Name`
//! headers disagree with it, makes them deny with the reason.
//! For calls, the request's decision is the first denied call's (a batch naming the
//! element), else the first call held for approval, else the first call's; a shadow outcome
//! is the first call whose shadow rules would deny, else the deciding call's.

use super::evaluate::{self, Outcome};
use super::inputs::Inputs;
use super::{Evaluated, conclude};
use crate::policy::decision::{ConditionTrace, Decision, Mode, Verdict};
use crate::policy::mcp::{self, McpCall, McpCallDecision, McpDecision};
use crate::policy::rule::Rule;

/// Decides a request some of whose matching rules have `mcp:`.
pub(super) fn decide(
    matched: &[(&Rule, Vec<(String, String)>)],
    inputs: &Inputs<'_>,
    mut trace: Vec<ConditionTrace>,
    tracing: bool,
) -> Decision {
    let max_size = matched
        .iter()
        .filter(|(r, _)| r.mcp.is_some())
        .filter_map(|(r, _)| r.body.as_ref().map(|b| b.max_size))
        .max()
        .unwrap_or(0);
    let calls = match inputs.rpc_document(max_size) {
        Err(reason) => {
            let unreadable = Unreadable {
                reads: |r| r.mcp.is_some(),
                label: "mcp",
                reason: &reason,
            };
            let evaluated = whole(matched, inputs, &mut trace, tracing, Some(unreadable));
            return conclude(&evaluated, trace);
        }
        Ok(None) => Err("request body is not JSON".to_owned()),
        Ok(Some(doc)) => {
            // Headers that mirror the body but disagree with it: the server may act on them.
            if let Some(reason) = mcp::mirrored::mismatch(inputs.head.headers, doc) {
                let unreadable = Unreadable {
                    reads: |r| r.mcp.is_some(),
                    label: "mcp",
                    reason: &reason,
                };
                let evaluated = whole(matched, inputs, &mut trace, tracing, Some(unreadable));
                return conclude(&evaluated, trace);
            }
            mcp::calls(doc)
        }
    };
    let calls = match calls {
        Ok(calls) => calls,
        Err(why) => {
            if tracing {
                for (rule, _) in matched.iter().filter(|(r, _)| r.mcp.is_some()) {
                    trace.push(ConditionTrace {
                        rule: rule.id.clone(),
                        mode: rule.mode,
                        condition: "mcp".to_owned(),
                        passed: false,
                        detail: format!("not a JSON-RPC request: {why}"),
                    });
                }
            }
            let others: Vec<_> = matched
                .iter()
                .filter(|(r, _)| r.mcp.is_none())
                .cloned()
                .collect();
            let evaluated = whole(&others, inputs, &mut trace, tracing, None);
            return conclude(&evaluated, trace);
        }
    };
    let decisions: Vec<Decision> = calls
        .calls
        .iter()
        .map(|call| {
            let evaluated = per_call(matched, inputs, call, &mut trace, tracing);
            conclude(&evaluated, Vec::new())
        })
        .collect();
    combine(calls.calls, calls.batch, decisions, trace)
}

/// A body the rules that `reads` select could not read: they deny with `reason`.
#[derive(Clone, Copy)]
pub(super) struct Unreadable<'r> {
    /// The rules that read the body as calls or operations (`mcp:`, `graphql:`).
    pub reads: fn(&Rule) -> bool,
    /// Their selector's name in the trace.
    pub label: &'r str,
    /// Why the body could not be read.
    pub reason: &'r str,
}

/// Evaluates the rules on the whole request; `unreadable` makes the rules that read the
/// body deny.
pub(super) fn whole<'a>(
    matched: &[(&'a Rule, Vec<(String, String)>)],
    inputs: &Inputs<'_>,
    trace: &mut Vec<ConditionTrace>,
    tracing: bool,
    unreadable: Option<Unreadable<'_>>,
) -> Vec<Evaluated<'a>> {
    let mut evaluated = Vec::new();
    for (rule, captures) in matched {
        let outcome = match unreadable {
            Some(u) if (u.reads)(rule) => {
                if tracing {
                    trace.push(ConditionTrace {
                        rule: rule.id.clone(),
                        mode: rule.mode,
                        condition: u.label.to_owned(),
                        passed: false,
                        detail: u.reason.to_owned(),
                    });
                }
                Outcome::Unreadable(u.reason.to_owned())
            }
            _ => evaluate::conditions(rule, inputs, captures, tracing.then_some(&mut *trace)),
        };
        evaluated.push(Evaluated {
            rule,
            captures: captures.clone(),
            outcome,
        });
    }
    evaluated
}

/// Evaluates the rules on one call: `mcp:` rules whose method or tool differ drop out.
fn per_call<'a>(
    matched: &[(&'a Rule, Vec<(String, String)>)],
    inputs: &Inputs<'_>,
    call: &McpCall,
    trace: &mut Vec<ConditionTrace>,
    tracing: bool,
) -> Vec<Evaluated<'a>> {
    let mut evaluated = Vec::new();
    for (rule, captures) in matched {
        if let Some(selector) = &rule.mcp {
            let result = selector.matches(call);
            if tracing {
                trace.push(ConditionTrace {
                    rule: rule.id.clone(),
                    mode: rule.mode,
                    condition: format!("{} [call {}]", selector.text(), call.index),
                    passed: result.is_ok(),
                    detail: result.clone().map_or_else(|why| why, |()| call.label()),
                });
            }
            if result.is_err() {
                continue;
            }
        }
        let element = rule
            .mcp
            .as_ref()
            .map(|selector| (selector.arguments.as_slice(), call.arguments.as_ref()));
        let outcome =
            evaluate::conditions_and_element(rule, inputs, captures, element, trace, tracing);
        evaluated.push(Evaluated {
            rule,
            captures: captures.clone(),
            outcome,
        });
    }
    evaluated
}

/// One decision for the request from the calls' decisions (see the module docs).
fn combine(
    calls: Vec<McpCall>,
    batch: bool,
    decisions: Vec<Decision>,
    trace: Vec<ConditionTrace>,
) -> Decision {
    let label = |i: usize| calls.get(i).map(|c| (c.index, c.label()));
    let Some((decision, deciding)) = pick(&decisions, label, batch, trace) else {
        return Decision::deny("the JSON-RPC body has no call");
    };
    let mut decision = decision;
    decision.mcp = Some(McpDecision {
        batch,
        calls: calls
            .into_iter()
            .zip(decisions)
            .map(|(call, d)| McpCallDecision {
                call,
                verdict: d.verdict,
                rule: d.rule,
                reason: d.reason,
            })
            .collect(),
        deciding,
    });
    decision
}

/// The request's decision from its elements' (calls', operations') decisions, with the
/// deciding element's index: the first denied element, else the first held for approval,
/// else the first; the shadow outcome is the first element's whose shadow rules would
/// deny, else the deciding one's. A denied batch names the element (`label`: its index
/// and text). `None` when there is no element.
pub(super) fn pick(
    decisions: &[Decision],
    label: impl Fn(usize) -> Option<(usize, String)>,
    batch: bool,
    trace: Vec<ConditionTrace>,
) -> Option<(Decision, usize)> {
    let first = |verdict: Verdict| decisions.iter().position(|d| d.verdict == verdict);
    let deciding = first(Verdict::Deny)
        .or_else(|| first(Verdict::Approve))
        .unwrap_or(0);
    let shadow_of = decisions
        .iter()
        .position(|d| {
            d.shadow
                .as_ref()
                .is_some_and(|s| s.verdict == Verdict::Deny)
        })
        .unwrap_or(deciding);
    let shadow = decisions.get(shadow_of).and_then(|d| d.shadow.clone());
    let mut decision = decisions.get(deciding).cloned()?;
    decision.mode = if shadow.is_some() {
        Mode::Shadow
    } else {
        Mode::Enforce
    };
    decision.shadow = shadow;
    decision.trace = trace;
    if batch
        && decision.verdict == Verdict::Deny
        && let Some((index, text)) = label(deciding)
    {
        decision.reason = format!("batch element {index} ({text}): {}", decision.reason);
    }
    Some((decision, deciding))
}
