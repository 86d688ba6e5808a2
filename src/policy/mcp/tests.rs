//! JSON-RPC bodies read as calls, and method patterns.

use serde_json::json;

use super::*;

#[test]
fn a_single_call_names_its_method_tool_and_id() {
    let doc = json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
        "params":{"name":"create_issue","arguments":{"repo":"acme/web"}}});
    let calls = calls(&doc).unwrap();
    assert!(!calls.batch);
    assert_eq!(calls.calls.len(), 1);
    let call = &calls.calls[0];
    assert_eq!(call.id, Some(json!(7)));
    assert_eq!(call.label(), "tools/call create_issue");
    assert_eq!(call.arguments, Some(json!({"repo":"acme/web"})));
}

#[test]
fn a_batch_is_read_element_by_element_and_notifications_have_no_id() {
    let doc = json!([
        {"jsonrpc":"2.0","id":"a","method":"tools/list"},
        {"jsonrpc":"2.0","method":"notifications/initialized"}
    ]);
    let calls = calls(&doc).unwrap();
    assert!(calls.batch);
    assert_eq!(calls.calls[1].index, 1);
    assert_eq!(calls.calls[1].id, None);
    assert_eq!(calls.calls[1].tool, None);
}

#[test]
fn what_is_not_a_json_rpc_request_is_said_so() {
    for (doc, why) in [
        (json!([]), "the JSON-RPC batch is empty"),
        (json!({"method":"tools/list"}), "no \"jsonrpc\": \"2.0\""),
        (
            json!({"jsonrpc":"2.0","id":1,"result":{}}),
            "no string \"method\"",
        ),
        (
            json!([{"jsonrpc":"2.0","method":"x"}, 3]),
            "batch element 1: not a JSON-RPC object",
        ),
        (
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}),
            "tools/call without a string params.name",
        ),
    ] {
        let err = calls(&doc).unwrap_err();
        assert!(err.starts_with(why), "{doc}: {err}");
    }
}

#[test]
fn method_patterns_are_exact_or_a_slash_star_prefix() {
    let prefix = MethodPattern::parse("notifications/*").unwrap();
    assert!(prefix.matches("notifications/initialized"));
    assert!(!prefix.matches("notificationsX"));
    assert!(
        MethodPattern::parse("tools/call")
            .unwrap()
            .matches("tools/call")
    );
    for bad in ["", "tools/*/x", "to ols", "*", "tools*", "/*"] {
        assert_eq!(MethodPattern::parse(bad), None, "{bad}");
    }
}

#[test]
fn resources_read_names_its_uri_and_resource_patterns_match_exact_or_by_prefix() {
    let doc = json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///docs/a.md"}});
    let call = &calls(&doc).unwrap().calls[0];
    assert_eq!(call.resource.as_deref(), Some("file:///docs/a.md"));
    assert_eq!(call.label(), "resources/read file:///docs/a.md");
    let bad = json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":7}});
    assert!(calls(&bad).unwrap_err().contains("params.uri"));
    let prefix = ResourcePattern::parse("file:///docs/*").unwrap();
    assert!(prefix.matches("file:///docs/a.md"));
    assert!(!prefix.matches("file:///etc/passwd"));
    assert!(
        ResourcePattern::parse("file:///docs/a.md")
            .unwrap()
            .matches("file:///docs/a.md")
    );
    for bad in ["", "*", "a*b", "x y"] {
        assert_eq!(ResourcePattern::parse(bad), None, "{bad}");
    }
}
