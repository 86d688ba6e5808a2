//! `mcp:` compile errors, each at its `file:line:col`.

use crate::policy::{RuleSet, Source};

fn errors(text: &str) -> Vec<String> {
    match RuleSet::compile(&[Source {
        path: "m.yaml".into(),
        text: text.into(),
    }]) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

fn rule(mcp: &str) -> String {
    format!(
        "rules:\n  - id: m\n    url: https://mcp.example.com/mcp\n    mcp:\n{mcp}    decision: allow\n"
    )
}

#[test]
fn an_unknown_mcp_key_is_positioned() {
    let e = errors(&rule("      tools: x\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("m.yaml:5:7: unknown field `tools`"),
        "{e:?}"
    );
}

#[test]
fn tool_without_tools_call_is_an_error_at_the_tool() {
    let e = errors(&rule(
        "      method: tools/list\n      tool: create_issue\n",
    ));
    assert_eq!(
        e,
        ["m.yaml:6:13: `mcp.tool:` needs `method: tools/call` (only tools/call names a tool)"]
    );
    let e = errors(&rule("      tool: [create_issue]\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("m.yaml:5:13: `mcp.tool:` needs"), "{e:?}");
}

#[test]
fn a_bad_method_and_a_bad_pointer_are_both_reported() {
    let e = errors(&rule(
        "      method: [tools/call, 'tools/*/x']\n      arguments:\n        repo: { equals: x }\n",
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("m.yaml:5:15: invalid JSON-RPC method `tools/*/x`"),
        "{e:?}"
    );
    assert!(e[1].starts_with("m.yaml:7:9: "), "{e:?}");
}

#[test]
fn arguments_need_a_method_that_has_them() {
    let e = errors(&rule(
        "      method: tools/list\n      arguments:\n        /repo: { equals: x }\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("m.yaml:7:9: `mcp.arguments:` needs `method: tools/call`"),
        "{e:?}"
    );
}

#[test]
fn an_argument_condition_without_a_test_is_an_error() {
    let e = errors(&rule(
        "      method: tools/call\n      arguments:\n        /repo: {}\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("m.yaml:7:9: `/repo`: condition has no test"),
        "{e:?}"
    );
}

#[test]
fn resource_needs_resources_read_and_a_well_formed_uri() {
    let e = errors(&rule(
        "      method: tools/call\n      resource: file:///docs/*\n",
    ));
    assert_eq!(
        e,
        [
            "m.yaml:6:17: `mcp.resource:` needs `method: resources/read` (only resources/read names a resource)"
        ]
    );
    let e = errors(&rule(
        "      method: resources/read\n      resource: ['file:///a*b', 'x y']\n",
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("invalid resource URI `file:///a*b`"), "{e:?}");
}
