//! Evaluates one rule against one request: its selector, then every condition, each
//! recorded in the trace.

use serde_json::Value;

use super::inputs::Inputs;
use crate::policy::decision::{ConditionTrace, Verdict};
use crate::policy::ids::AgentId;
use crate::policy::json::Selected;
use crate::policy::normalize::NormalizedTarget;
use crate::policy::rule::{Check, Rule, Subject};

/// How a rule whose selector matched fared against its conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Every condition held.
    Held,
    /// A condition failed: its message, e.g. `/labels/1 = "wontfix" is not one of [...]`.
    Failed(String),
    /// The request could not be inspected (body or query unreadable): deny with this reason.
    Unreadable(String),
}

/// Checks the selector (agent, method, scheme, port, path); `Ok(captures)` on a match,
/// `Err(why not)` otherwise. Allow rules see the strict reading of the path; deny and
/// approve rules every reading in `readings` (strict first), so that a path a server
/// reads as a denied one stays denied.
pub(super) fn selector(
    rule: &Rule,
    method: &http::Method,
    scheme: crate::policy::request::Scheme,
    target: &NormalizedTarget,
    readings: &[Vec<String>],
    agent: Option<&AgentId>,
) -> Result<Vec<(String, String)>, String> {
    if !rule.applies_to(agent) {
        return Err(match agent {
            Some(a) => format!("agent `{a}` is not one of the rule's agents"),
            None => "the rule is limited to named agents and the request has none".to_owned(),
        });
    }
    if !rule.matches_method(method) {
        return Err(format!("method {method} does not match"));
    }
    if !rule.url.matches_scheme(scheme) {
        return Err(format!("scheme {scheme} does not match"));
    }
    if !rule.url.matches_port(Some(scheme), target.port) {
        return Err(format!("port {} does not match", target.port));
    }
    let strict = std::slice::from_ref(&target.segments);
    let readings = match rule.verdict {
        Verdict::Allow => strict,
        Verdict::Deny | Verdict::Approve if readings.is_empty() => strict,
        Verdict::Deny | Verdict::Approve => readings,
    };
    readings
        .iter()
        .find_map(|segments| rule.url.path.matches(segments))
        .ok_or_else(|| format!("path {} does not match {}", target.path, rule.url.path))
}

/// Evaluates every condition of a rule whose selector matched, appending to `trace`.
/// The first failure is the one reported; an unreadable input stops evaluation.
pub(super) fn conditions(
    rule: &Rule,
    inputs: &Inputs<'_>,
    captures: &[(String, String)],
    mut trace: Option<&mut Vec<ConditionTrace>>,
) -> Outcome {
    let mut outcome = Outcome::Held;
    let tracing = trace.is_some();
    // Descriptions are built only when a trace is kept (`explain`, `test`), never on the
    // proxy's path.
    let mut record = |condition: &dyn Fn() -> String, result: &Result<String, String>| {
        let Some(trace) = trace.as_deref_mut() else {
            return;
        };
        let (passed, detail) = match result {
            Ok(detail) => (true, detail.clone()),
            Err(message) => (false, message.clone()),
        };
        trace.push(ConditionTrace {
            rule: rule.id.clone(),
            mode: rule.mode,
            condition: condition(),
            passed,
            detail,
        });
    };
    if let Some(body) = &rule.body
        && let Err(e) = inputs.body(body.max_size)
    {
        record(
            &|| format!("body max_size {}", body.max_size),
            &Err(e.to_string()),
        );
        return Outcome::Unreadable(e.to_string());
    }
    for check in &rule.checks {
        let result = match check_one(rule, check, inputs, captures, tracing) {
            Checked::Held(detail) => Ok(detail),
            Checked::Failed(message) => Err(message),
            Checked::Unreadable(reason) => {
                record(&|| describe(check), &Err(reason.clone()));
                return Outcome::Unreadable(reason);
            }
        };
        if let (Err(message), Outcome::Held) = (&result, &outcome) {
            outcome = Outcome::Failed(message.clone());
        }
        record(&|| describe(check), &result);
    }
    if let Some(body) = &rule.body {
        let Ok(bytes) = inputs.body(body.max_size) else {
            return Outcome::Unreadable("request body could not be read".to_owned());
        };
        for m in &body.must_match {
            let result = if m.regexes.iter().any(|re| re.is_match(bytes)) {
                Ok(format!("body matches {}", m.label))
            } else {
                Err(format!("body does not match {}", m.label))
            };
            if let (Err(message), Outcome::Held) = (&result, &outcome) {
                outcome = Outcome::Failed(message.clone());
            }
            record(&|| format!("must_match {}", m.label), &result);
        }
        for m in &body.must_not_match {
            let result = if m.regexes.iter().any(|re| re.is_match(bytes)) {
                Err(format!("body matches {}", m.label))
            } else {
                Ok(format!("body does not match {}", m.label))
            };
            if let (Err(message), Outcome::Held) = (&result, &outcome) {
                outcome = Outcome::Failed(message.clone());
            }
            record(&|| format!("must_not_match {}", m.label), &result);
        }
    }
    outcome
}

/// What one check of a rule found.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Checked {
    /// The condition held: the detail for the trace (e.g. `/labels/0 = "bug"`).
    Held(String),
    /// The condition failed: its message, the denial's reason when it is the first.
    Failed(String),
    /// The check's input (query, body) could not be read: the request is denied with this
    /// reason and no further check runs.
    Unreadable(String),
}

/// Runs one check.
fn check_one(
    rule: &Rule,
    check: &Check,
    inputs: &Inputs<'_>,
    captures: &[(String, String)],
    detail: bool,
) -> Checked {
    let max_size = rule.body.as_ref().map_or(0, |b| b.max_size);
    let (prefix, label) = prefix_label(&check.subject);
    let owned: Option<Value> = match &check.subject {
        Subject::Query(name) => match inputs.query(name) {
            Ok(value) => value,
            Err(reason) => return Checked::Unreadable(reason),
        },
        Subject::Header(name) => inputs.header(name),
        Subject::Capture(name) => captures
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Value::String(v.clone())),
        Subject::Json(_)
        | Subject::Form(_)
        | Subject::McpArgument(_)
        | Subject::GraphqlVariable(_) => None,
    };
    let selected: Vec<Selected<'_>> = match &check.subject {
        Subject::Json(path) => match inputs.json(max_size, path) {
            Ok(doc) => path.select(doc),
            Err(reason) => return Checked::Unreadable(reason),
        },
        Subject::Form(path) => match inputs.form(max_size) {
            Ok(doc) => path.select(doc),
            Err(e) => return Checked::Unreadable(e.to_string()),
        },
        Subject::Query(name) | Subject::Capture(name) => {
            owned.iter().map(|v| (format!("/{name}"), v)).collect()
        }
        Subject::Header(name) => owned.iter().map(|v| (format!("/{name}"), v)).collect(),
        Subject::McpArgument(_) => {
            return Checked::Failed("an MCP argument outside an MCP call".to_owned());
        }
        Subject::GraphqlVariable(_) => {
            return Checked::Failed("a GraphQL variable outside a GraphQL operation".to_owned());
        }
    };
    let single = match &check.subject {
        Subject::Json(path)
        | Subject::Form(path)
        | Subject::McpArgument(path)
        | Subject::GraphqlVariable(path) => !path.has_wildcard(),
        _ => true,
    };
    match check
        .condition
        .check(prefix, &label, &selected, single, detail)
    {
        Ok(detail) => Checked::Held(detail),
        Err(message) => Checked::Failed(message),
    }
}

/// A rule's conditions, then, unless an input could not be read, its checks on one element
/// of the body (`element_checks`), which decide when the conditions held.
pub(super) fn conditions_and_element(
    rule: &Rule,
    inputs: &Inputs<'_>,
    captures: &[(String, String)],
    element: Option<(&[Check], Option<&Value>)>,
    trace: &mut Vec<ConditionTrace>,
    tracing: bool,
) -> Outcome {
    let mut outcome = conditions(rule, inputs, captures, tracing.then_some(&mut *trace));
    if let (Some((checks, doc)), Outcome::Held | Outcome::Failed(_)) = (element, &outcome) {
        let checked = element_checks(rule, checks, doc, tracing.then_some(&mut *trace));
        if outcome == Outcome::Held {
            outcome = checked;
        }
    }
    outcome
}

/// Evaluates the conditions on one element of a body — an MCP call's `params.arguments`
/// (`mcp.arguments:`), a GraphQL operation's `variables` (`graphql.variables:`) — appending
/// to `trace`; the first failure is the one reported.
pub(super) fn element_checks(
    rule: &Rule,
    checks: &[Check],
    doc: Option<&Value>,
    mut trace: Option<&mut Vec<ConditionTrace>>,
) -> Outcome {
    let none = Value::Null;
    let doc = doc.unwrap_or(&none);
    let mut outcome = Outcome::Held;
    for check in checks {
        let (Subject::McpArgument(path) | Subject::GraphqlVariable(path)) = &check.subject else {
            continue;
        };
        let (prefix, label) = prefix_label(&check.subject);
        let selected = path.select(doc);
        let result = check.condition.check(
            prefix,
            &label,
            &selected,
            !path.has_wildcard(),
            trace.is_some(),
        );
        if let (Err(message), Outcome::Held) = (&result, &outcome) {
            outcome = Outcome::Failed(message.clone());
        }
        if let Some(trace) = trace.as_deref_mut() {
            let (passed, detail) = match result {
                Ok(detail) => (true, detail),
                Err(message) => (false, message),
            };
            trace.push(ConditionTrace {
                rule: rule.id.clone(),
                mode: rule.mode,
                condition: describe(check),
                passed,
                detail,
            });
        }
    }
    outcome
}

/// The prefix before concrete pointers and the label when nothing is selected.
fn prefix_label(subject: &Subject) -> (&'static str, String) {
    match subject {
        Subject::Query(name) => ("query.", format!("query.{name}")),
        Subject::Header(name) => ("header.", format!("header.{name}")),
        Subject::Capture(name) => ("capture.", format!("capture.{name}")),
        Subject::McpArgument(path) => ("arguments/", format!("arguments{path}")),
        Subject::GraphqlVariable(path) => ("variables/", format!("variables{path}")),
        Subject::Json(path) | Subject::Form(path) if path.to_string().is_empty() => {
            ("", "body".to_owned())
        }
        Subject::Json(path) | Subject::Form(path) => ("", path.to_string()),
    }
}

/// `/labels/* one_of [bug, triage]`, `form /to …`, `query.per_page max 100`.
pub(super) fn describe(check: &Check) -> String {
    let (_, label) = prefix_label(&check.subject);
    match &check.subject {
        Subject::Form(_) => format!("form {label} {}", check.condition),
        _ => format!("{label} {}", check.condition),
    }
}
