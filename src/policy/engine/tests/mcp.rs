//! `mcp:` rules: each JSON-RPC call decided on its own, batches denied whole naming the
//! element, notifications, bodies that are not JSON-RPC, argument conditions.

use super::{decide, rule_name, rules};
use crate::policy::{BodyNeed, RuleSet, SampleRequest, Verdict};

const MCP_RULES: &str = r#"
rules:
  - id: list
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: [tools/list, notifications/*] }
    decision: allow
  - id: create
    method: POST
    url: https://mcp.example.com/mcp
    mcp:
      method: tools/call
      tool: create_issue
      arguments:
        /repo: { regex: '^acme/' }
    decision: allow
  - id: delete
    description: never
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: [delete_repo] }
    decision: deny
  - id: review
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: merge }
    decision: approve
"#;

const URL: &str = "POST https://mcp.example.com/mcp";

fn call(id: u32, tool: &str, repo: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"repo":"{repo}"}}}}}}"#
    )
}

#[test]
fn each_call_is_decided_by_its_method_tool_and_arguments() {
    let set = rules(MCP_RULES);
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let d = decide(&set, URL, Some(list));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("list")));
    let d = decide(&set, URL, Some(&call(2, "create_issue", "acme/web")));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("create")));
    let mcp = d.mcp.as_ref().unwrap();
    assert_eq!(
        mcp.deciding_call().unwrap().call.label(),
        "tools/call create_issue"
    );

    let d = decide(&set, URL, Some(&call(3, "create_issue", "evil/web")));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, Some("create")));
    assert!(
        d.reason.starts_with("arguments/repo = \"evil/web\""),
        "{}",
        d.reason
    );

    let d = decide(&set, URL, Some(&call(4, "delete_repo", "acme/web")));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, Some("delete")));
    assert_eq!(d.reason, "denied by rule `delete`: never");

    let d = decide(&set, URL, Some(&call(5, "unknown_tool", "acme/web")));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, None));
}

#[test]
fn a_batch_with_one_denied_call_is_denied_whole_naming_the_element() {
    let set = rules(MCP_RULES);
    let batch = format!(
        r#"[{{"jsonrpc":"2.0","id":1,"method":"tools/list"}},{},{}]"#,
        call(2, "create_issue", "acme/web"),
        call(3, "delete_repo", "acme/web")
    );
    let d = decide(&set, URL, Some(&batch));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, Some("delete")));
    assert_eq!(
        d.reason,
        "batch element 2 (tools/call delete_repo): denied by rule `delete`: never"
    );
    let mcp = d.mcp.unwrap();
    assert!(mcp.batch);
    let verdicts: Vec<Verdict> = mcp.calls.iter().map(|c| c.verdict).collect();
    assert_eq!(verdicts, [Verdict::Allow, Verdict::Allow, Verdict::Deny]);
    assert_eq!(mcp.deciding, 2);
}

#[test]
fn a_batch_of_allowed_calls_with_one_held_is_held() {
    let set = rules(MCP_RULES);
    let batch = format!(
        "[{},{}]",
        call(1, "create_issue", "acme/web"),
        call(2, "merge", "acme/web")
    );
    let d = decide(&set, URL, Some(&batch));
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Approve, Some("review"))
    );
    let ok = format!("[{}]", call(1, "create_issue", "acme/a"));
    let d = decide(&set, URL, Some(&ok));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("create")));
}

#[test]
fn notifications_match_a_prefix_and_carry_no_id() {
    let set = rules(MCP_RULES);
    let d = decide(
        &set,
        URL,
        Some(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
    );
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("list")));
    assert_eq!(d.mcp.unwrap().calls[0].call.id, None);
}

#[test]
fn bodies_that_are_not_json_rpc_do_not_match_mcp_rules() {
    let set = rules(MCP_RULES);
    for body in [
        "not json",
        r#"{"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        "[]",
        "",
    ] {
        let d = decide(&set, URL, Some(body));
        assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, None), "{body}");
        assert!(d.mcp.is_none());
    }
}

#[test]
fn a_duplicated_key_in_a_call_denies_fail_closed() {
    let set = rules(MCP_RULES);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#;
    let d = decide(&set, URL, Some(body));
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(
        d.reason.contains("`/method` more than once"),
        "{}",
        d.reason
    );
}

#[test]
fn mcp_rules_read_the_body_and_a_body_too_large_is_denied() {
    let set = rules(MCP_RULES);
    let sample = SampleRequest::parse(URL).unwrap();
    assert_eq!(
        set.body_need(&sample.head(), None),
        BodyNeed::Inspect {
            max_size: crate::policy::body::DEFAULT_MAX_SIZE
        }
    );
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"pad":"{}"}}}}"#,
        "x".repeat(crate::policy::body::DEFAULT_MAX_SIZE)
    );
    let d = decide(&set, URL, Some(&big));
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(d.reason.contains("too large"), "{}", d.reason);
}

#[test]
fn a_plain_rule_beside_mcp_rules_still_decides_its_requests() {
    let text = format!(
        "{MCP_RULES}  - id: health\n    method: GET\n    url: https://mcp.example.com/health\n    decision: allow\n"
    );
    let set: RuleSet = rules(&text);
    let d = decide(&set, "GET https://mcp.example.com/health", None);
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("health")));
}

#[test]
fn explain_lists_every_call_with_its_verdict() {
    let set = rules(MCP_RULES);
    let batch = format!(
        r#"[{{"jsonrpc":"2.0","method":"notifications/initialized"}},{}]"#,
        call(2, "delete_repo", "acme/web")
    );
    let text = crate::policy::explain(&decide(&set, URL, Some(&batch)));
    assert!(text.contains("mcp batch:\n"), "{text}");
    assert!(
        text.contains("  [0] notifications/initialized (notification): allow by list\n"),
        "{text}"
    );
    assert!(
        text.contains("  [1] tools/call delete_repo (id 2): deny by delete\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "[FAIL] mcp tools/call create_issue [call 1]: mcp tool delete_repo does not match"
        ),
        "{text}"
    );
}

#[test]
fn a_call_failing_an_approve_rules_arguments_names_that_condition() {
    let set = rules(
        r#"
rules:
  - id: hold-create
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: create_issue, arguments: { /repo: { regex: '^acme/' } } }
    decision: approve
"#,
    );
    let d = decide(&set, URL, Some(&call(1, "create_issue", "evil/web")));
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Deny, Some("hold-create"))
    );
    assert!(d.failed_condition.is_some(), "{d:?}");
    let d = decide(&set, URL, Some(&call(2, "create_issue", "acme/web")));
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Approve, Some("hold-create"))
    );
}
