//! The decision of a request that `graphql:` rules read as GraphQL: each operation decided
//! on its own among the rules whose selector matched, then one decision for the request by
//! the same combination as JSON-RPC calls (`calls::pick`).
//!
//! Unlike `mcp:`, a request that cannot be read as GraphQL (not JSON, a document that does
//! not parse, a persisted query hash that does not match its text) makes the `graphql:`
//! rules deny with the reason — fail closed. An operation that no `graphql:` rule selects is
//! denied: only `graphql:` rules allow operations (other deny and approve rules of the URL
//! still apply, other allow rules do not); a persisted query sent by hash
//! alone is selected only by the `graphql:` rules that list its hash.

use super::calls::{self, Unreadable};
use super::evaluate::{self, Outcome};
use super::inputs::Inputs;
use super::{Evaluated, conclude};
use crate::policy::decision::{ConditionTrace, Decision, Mode, Verdict};
use crate::policy::graphql::{GraphqlDecision, GraphqlOp, GraphqlOpDecision, GraphqlOps, request};
use crate::policy::rule::Rule;

/// The `Content-Type` of a body that is the GraphQL document itself.
const GRAPHQL_TYPE: &str = "application/graphql";

/// Decides a request some of whose matching rules have `graphql:`.
pub(super) fn decide(
    matched: &[(&Rule, Vec<(String, String)>)],
    inputs: &Inputs<'_>,
    mut trace: Vec<ConditionTrace>,
    tracing: bool,
) -> Decision {
    let max_size = matched
        .iter()
        .filter(|(r, _)| r.graphql.is_some())
        .filter_map(|(r, _)| r.body.as_ref().map(|b| b.max_size))
        .max()
        .unwrap_or(0);
    let ops = match read(inputs, max_size) {
        Ok(ops) => ops,
        Err(reason) => {
            let unreadable = Unreadable {
                reads: |r| r.graphql.is_some(),
                label: "graphql",
                reason: &reason,
            };
            let evaluated = calls::whole(matched, inputs, &mut trace, tracing, Some(unreadable));
            let mut decision = conclude(&evaluated, trace);
            // No operation was read, but the request is GraphQL: its denial is answered so.
            decision.graphql = Some(GraphqlDecision {
                batch: false,
                ops: Vec::new(),
                deciding: 0,
            });
            return decision;
        }
    };
    let decisions: Vec<Decision> = ops
        .ops
        .iter()
        .map(|op| {
            let evaluated = per_op(matched, inputs, op, &mut trace, tracing);
            conclude(&evaluated, Vec::new())
        })
        .collect();
    let label = |i: usize| ops.ops.get(i).map(|op| (op.index, op.label()));
    let Some((mut decision, deciding)) = calls::pick(&decisions, label, ops.batch, trace) else {
        return Decision::deny("the GraphQL request has no operation");
    };
    decision.graphql = Some(GraphqlDecision {
        batch: ops.batch,
        ops: ops
            .ops
            .into_iter()
            .zip(decisions)
            .map(|(op, d)| GraphqlOpDecision {
                op,
                verdict: d.verdict,
                rule: d.rule,
                reason: d.reason,
            })
            .collect(),
        deciding,
    });
    decision
}

/// The request's operations: from the query string of a `GET`, the document of an
/// `application/graphql` body, or a JSON body.
fn read(inputs: &Inputs<'_>, max_size: usize) -> Result<GraphqlOps, String> {
    if inputs.head.method == http::Method::GET {
        return request::from_params(|name| inputs.query(name));
    }
    for name in request::PARAMS {
        if inputs.query(name)?.is_some() {
            return Err(format!(
                "the request carries the GraphQL parameter `{name}` in its URL and a body; servers disagree on which wins"
            ));
        }
    }
    let document = inputs.content_type().is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(GRAPHQL_TYPE))
    });
    if document {
        let bytes = inputs.body(max_size).map_err(|e| e.to_string())?;
        return request::from_document(bytes);
    }
    match inputs.rpc_document(max_size)? {
        Some(doc) => request::from_json(doc),
        None => Err(
            "request body is not JSON (a GraphQL request is JSON or application/graphql)"
                .to_owned(),
        ),
    }
}

/// Evaluates the rules on one operation: `graphql:` rules that do not select it drop out,
/// and so do allow rules without `graphql:`; when no `graphql:` rule selects it, they all
/// deny it.
fn per_op<'a>(
    matched: &[(&'a Rule, Vec<(String, String)>)],
    inputs: &Inputs<'_>,
    op: &GraphqlOp,
    trace: &mut Vec<ConditionTrace>,
    tracing: bool,
) -> Vec<Evaluated<'a>> {
    // Shadow `graphql:` rules alone do not change what is enforced.
    let governed = matched
        .iter()
        .any(|(r, _)| r.graphql.is_some() && r.mode == Mode::Enforce);
    let mut evaluated = Vec::new();
    let mut selected = false;
    for (rule, captures) in matched {
        if governed && rule.graphql.is_none() && rule.verdict == Verdict::Allow {
            // Only `graphql:` rules allow operations: a broader allow rule of the URL
            // would admit every operation the `graphql:` rules leave out.
            continue;
        }
        if let Some(selector) = &rule.graphql {
            let result = selector.matches(op, rule.verdict);
            if tracing {
                trace.push(ConditionTrace {
                    rule: rule.id.clone(),
                    mode: rule.mode,
                    condition: format!("{} [operation {}]", selector.text(), op.index),
                    passed: result.is_ok(),
                    detail: result.clone().map_or_else(|why| why, |()| op.label()),
                });
            }
            if result.is_err() {
                continue;
            }
            selected = true;
        }
        let element = rule
            .graphql
            .as_ref()
            .map(|selector| (selector.variables.as_slice(), op.variables.as_ref()));
        let outcome =
            evaluate::conditions_and_element(rule, inputs, captures, element, trace, tracing);
        evaluated.push(Evaluated {
            rule,
            captures: captures.clone(),
            outcome,
        });
    }
    if !selected {
        let reason = match (&op.operation, &op.persisted) {
            (None, Some(hash)) => format!(
                "persisted query {hash} was sent without its text: it cannot be inspected, and no `graphql.persisted:` rule admits it"
            ),
            _ => format!("no `graphql:` rule selects {}", op.label()),
        };
        for (rule, captures) in matched.iter().filter(|(r, _)| r.graphql.is_some()) {
            evaluated.push(Evaluated {
                rule,
                captures: captures.clone(),
                outcome: Outcome::Unreadable(reason.clone()),
            });
        }
    }
    evaluated
}
