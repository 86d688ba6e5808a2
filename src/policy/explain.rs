//! Renders a [`Decision`] as text for `keyward explain` and failing `keyward test` entries:
//! the verdict, the deciding rule, the reason, then every evaluated check with pass/fail,
//! grouped by rule.

use std::fmt::Write;

use crate::policy::decision::{Decision, Mode};

/// The decision as readable lines.
pub fn explain(decision: &Decision) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "decision: {}", decision.verdict);
    let _ = writeln!(
        out,
        "rule: {}",
        decision.rule.as_ref().map_or("(none)", |r| r.as_str())
    );
    let _ = writeln!(out, "reason: {}", decision.reason);
    if let Some(failed) = &decision.failed_condition {
        let _ = writeln!(out, "failed condition: {failed}");
    }
    if !decision.inject.is_empty() {
        let names: Vec<&str> = decision.inject.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(out, "inject: {}", names.join(", "));
    }
    if !decision.captures.is_empty() {
        let pairs: Vec<String> = decision
            .captures
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "captures: {}", pairs.join(", "));
    }
    if let Some(shadow) = &decision.shadow {
        let _ = writeln!(
            out,
            "shadow: would {} by {}: {}",
            shadow.verdict,
            shadow.rule.as_ref().map_or("no rule", |r| r.as_str()),
            shadow.reason
        );
    }
    if let Some(mcp) = &decision.mcp {
        let kind = if mcp.batch { "batch" } else { "call" };
        let _ = writeln!(out, "mcp {kind}:");
        for c in &mcp.calls {
            let id = c
                .call
                .id
                .as_ref()
                .map_or_else(|| "notification".to_owned(), |id| format!("id {id}"));
            let _ = writeln!(
                out,
                "  [{}] {} ({id}): {} by {}",
                c.call.index,
                c.call.label(),
                c.verdict,
                c.rule.as_ref().map_or("no rule", |r| r.as_str())
            );
        }
    }
    if let Some(gql) = &decision.graphql {
        let kind = if gql.batch { "batch" } else { "operation" };
        let _ = writeln!(out, "graphql {kind}:");
        for o in &gql.ops {
            let _ = writeln!(
                out,
                "  [{}] {}: {} by {}",
                o.op.index,
                o.op.label(),
                o.verdict,
                o.rule.as_ref().map_or("no rule", |r| r.as_str())
            );
        }
    }
    if decision.trace.is_empty() {
        let _ = writeln!(out, "checks: none (no rule names this host)");
        return out;
    }
    let _ = writeln!(out, "checks:");
    let mut current = None;
    for entry in &decision.trace {
        if current != Some(&entry.rule) {
            let mode = if entry.mode == Mode::Shadow {
                " (shadow)"
            } else {
                ""
            };
            let _ = writeln!(out, "  {}{mode}", entry.rule);
            current = Some(&entry.rule);
        }
        let mark = if entry.passed { "pass" } else { "FAIL" };
        let _ = writeln!(out, "    [{mark}] {}: {}", entry.condition, entry.detail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile::Source;
    use crate::policy::ruleset::RuleSet;
    use crate::policy::sample::SampleRequest;

    #[test]
    fn shows_each_check_with_pass_and_fail() {
        let text = r#"
rules:
  - id: issues
    method: POST
    url: https://api.github.com/repos/acme/{repo}/issues
    captures: { repo: { one_of: [web] } }
    body:
      json:
        /labels/*: { one_of: [bug, triage] }
    decision: allow
"#;
        let set = RuleSet::compile(&[Source {
            path: "g.yaml".into(),
            text: text.into(),
        }])
        .unwrap();
        let mut req =
            SampleRequest::parse("POST https://api.github.com/repos/acme/web/issues").unwrap();
        req.body = Some(br#"{"labels":["bug","wontfix"]}"#.to_vec());
        let text = explain(&set.decide_sample(&req, None));
        assert!(text.contains("decision: deny"), "{text}");
        assert!(text.contains("rule: issues"), "{text}");
        assert!(
            text.contains(
                "[pass] selector POST https://api.github.com/repos/acme/{repo}/issues: matches"
            ),
            "{text}"
        );
        assert!(
            text.contains("[pass] capture.repo one_of [web]: capture.repo = \"web\""),
            "{text}"
        );
        assert!(
            text.contains("[FAIL] /labels/* one_of [bug, triage]: /labels/1 = \"wontfix\" is not one of [bug, triage]"),
            "{text}"
        );
        assert!(text.contains("captures: repo=web"), "{text}");
    }
}
