//! `graphql:` rules: each operation decided on its own by type, name, fields and variables;
//! batches denied whole naming the element; unreadable requests, unselected operations and
//! hash-only persisted queries denied; shadow rules reported.

use super::{decide, request, rule_name, rules};
use crate::policy::graphql::request::sha256_hex;
use crate::policy::{BodyNeed, RuleSet, Verdict};

const GRAPHQL_RULES: &str = r#"
rules:
  - id: queries
    url: https://api.example.com/graphql
    graphql: { operation: query }
    decision: allow
  - id: comment
    url: https://api.example.com/graphql
    graphql:
      fields: [mutation.addComment]
      variables:
        /repo: { one_of: [acme/web] }
    decision: allow
  - id: delete
    description: never
    url: https://api.example.com/graphql
    graphql: { fields: [mutation.deleteRepository] }
    decision: deny
  - id: merge
    url: https://api.example.com/graphql
    graphql: { operation: mutation, name: Merge }
    decision: approve
  - id: known
    url: https://api.example.com/graphql
    graphql: { persisted: ["8a1c9d4bd1c8a0f5ad2fa1e5b5e69e0a1f4a3e2b6c0d9e8f7a6b5c4d3e2f1a0b"] }
    decision: allow
  - id: other-posts
    method: POST
    url: https://api.example.com/**
    decision: allow
"#;

const URL: &str = "POST https://api.example.com/graphql";

fn set() -> RuleSet {
    rules(GRAPHQL_RULES)
}

fn body(query: &str) -> String {
    serde_json::json!({ "query": query }).to_string()
}

#[test]
fn operations_are_decided_by_type_fields_and_variables() {
    let set = set();
    let d = decide(&set, URL, Some(&body("{ viewer { login } }")));
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Allow, Some("queries"))
    );
    let op = &d.graphql.as_ref().unwrap().deciding_op().unwrap().op;
    assert_eq!(op.label(), "query (viewer)");

    let comment = |repo: &str| {
        serde_json::json!({
            "query": "mutation C($repo: String) { addComment(input: {}) { id } }",
            "variables": { "repo": repo },
        })
        .to_string()
    };
    let d = decide(&set, URL, Some(&comment("acme/web")));
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Allow, Some("comment"))
    );
    let d = decide(&set, URL, Some(&comment("evil/web")));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, Some("comment")));
    assert!(d.reason.contains("variables/repo"), "{}", d.reason);

    let d = decide(
        &set,
        URL,
        Some(&body(
            "mutation { addComment { id } x: deleteRepository { id } }",
        )),
    );
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, Some("delete")));
    assert_eq!(d.reason, "denied by rule `delete`: never");

    let d = decide(
        &set,
        URL,
        Some(&body("mutation Merge { mergePullRequest { id } }")),
    );
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Approve, Some("merge"))
    );
}

#[test]
fn an_operation_no_graphql_rule_selects_is_denied_despite_other_rules() {
    let d = decide(
        &set(),
        URL,
        Some(&body("mutation { createRepository { id } }")),
    );
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.reason,
        "no `graphql:` rule selects mutation (createRepository)"
    );
}

#[test]
fn a_batch_with_a_denied_operation_is_denied_naming_the_element() {
    let batch = serde_json::json!([
        { "query": "{ viewer { login } }" },
        { "query": "mutation { deleteRepository { id } }" },
    ])
    .to_string();
    let d = decide(&set(), URL, Some(&batch));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, Some("delete")));
    assert_eq!(
        d.reason,
        "batch element 1 (mutation (deleteRepository)): denied by rule `delete`: never"
    );
    let gql = d.graphql.unwrap();
    assert!(gql.batch);
    assert_eq!(gql.deciding, 1);
    assert_eq!(gql.ops[0].verdict, Verdict::Allow);
}

#[test]
fn unreadable_requests_are_denied_with_the_reason() {
    let set = set();
    let d = decide(&set, URL, Some(&body("{ viewer { login }")));
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(
        d.reason
            .starts_with("invalid GraphQL document: expected R_CURLY"),
        "{}",
        d.reason
    );
    assert!(d.rule.is_some());
    let d = decide(&set, URL, Some("not json"));
    assert_eq!(
        d.reason,
        "request body is not JSON (a GraphQL request is JSON or application/graphql)"
    );
    let mismatch = serde_json::json!({
        "query": "{ viewer { login } }",
        "extensions": { "persistedQuery": { "sha256Hash": sha256_hex("{ other }") } },
    })
    .to_string();
    let d = decide(&set, URL, Some(&mismatch));
    assert!(
        d.reason.contains("does not match the query text"),
        "{}",
        d.reason
    );
}

#[test]
fn graphql_parameters_in_a_post_url_and_stored_document_ids_are_denied() {
    let set = set();
    let d = decide(
        &set,
        "POST https://api.example.com/graphql?query=mutation%20%7B%20deleteRepository%20%7D",
        Some(&body("{ viewer { login } }")),
    );
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.reason,
        "the request carries the GraphQL parameter `query` in its URL and a body; servers disagree on which wins"
    );
    let relay = serde_json::json!({ "query": "{ viewer { login } }", "doc_id": "123" }).to_string();
    let d = decide(&set, URL, Some(&relay));
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(
        d.reason
            .starts_with("the request names a stored document by `doc_id`"),
        "{}",
        d.reason
    );
    let d = decide(
        &set,
        "GET https://api.example.com/graphql?query=%7B%20a%20%7D&documentId=abc",
        None,
    );
    assert!(
        d.reason
            .starts_with("the request names a stored document by `documentId`"),
        "{}",
        d.reason
    );
}

#[test]
fn hash_only_queries_are_denied_unless_a_rule_lists_the_hash() {
    let set = set();
    let hash_only = |hash: &str| {
        serde_json::json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } })
            .to_string()
    };
    let unknown = sha256_hex("{ viewer { login } }");
    let d = decide(&set, URL, Some(&hash_only(&unknown)));
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(d.reason.contains("cannot be inspected"), "{}", d.reason);
    let known = "8a1c9d4bd1c8a0f5ad2fa1e5b5e69e0a1f4a3e2b6c0d9e8f7a6b5c4d3e2f1a0b";
    let d = decide(&set, URL, Some(&hash_only(known)));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("known")));
}

#[test]
fn get_and_application_graphql_requests_are_read_too() {
    let set = set();
    let d = decide(
        &set,
        "GET https://api.example.com/graphql?query=mutation%20%7B%20deleteRepository%20%7B%20id%20%7D%20%7D",
        None,
    );
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Deny, Some("delete")));
    let mut r = request(URL, Some("{ viewer { login } }"));
    r.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/graphql; charset=utf-8"),
    );
    let d = set.decide_sample(&r, None);
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Allow, Some("queries"))
    );
}

#[test]
fn graphql_rules_inspect_the_body() {
    let set = set();
    let r = request(URL, None);
    let head = r.head();
    assert!(matches!(
        set.body_need(&head, None),
        BodyNeed::Inspect { .. }
    ));
}

#[test]
fn a_shadow_deny_is_reported_not_enforced() {
    let set = rules(
        r#"
rules:
  - id: all
    url: https://api.example.com/graphql
    graphql: {}
    decision: allow
  - id: no-mutations
    url: https://api.example.com/graphql
    graphql: { operation: mutation }
    mode: shadow
    decision: deny
"#,
    );
    let d = decide(&set, URL, Some(&body("mutation { a }")));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("all")));
    let shadow = d.shadow.unwrap();
    assert_eq!(shadow.verdict, Verdict::Deny);
    assert_eq!(shadow.rule.unwrap().as_str(), "no-mutations");
}

#[test]
fn a_shadow_graphql_rule_alone_leaves_other_allow_rules_in_force() {
    let set = rules(
        r#"
rules:
  - id: posts
    method: POST
    url: https://api.example.com/**
    decision: allow
  - id: trial
    url: https://api.example.com/graphql
    graphql: { operation: query }
    mode: shadow
    decision: allow
"#,
    );
    let d = decide(&set, URL, Some(&body("mutation { a }")));
    assert_eq!((d.verdict, rule_name(&d)), (Verdict::Allow, Some("posts")));
}

#[test]
fn explain_lists_every_operation_with_its_verdict() {
    let batch = serde_json::json!([
        { "query": "query Q { viewer { login } }" },
        { "query": "mutation { x: deleteRepository { id } }" },
    ])
    .to_string();
    let text = crate::policy::explain(&decide(&set(), URL, Some(&batch)));
    assert!(text.contains("graphql batch:\n"), "{text}");
    assert!(
        text.contains("  [0] query Q (viewer): allow by queries\n"),
        "{text}"
    );
    assert!(
        text.contains("  [1] mutation (deleteRepository): deny by delete\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "[FAIL] graphql query [operation 1]: graphql operation mutation does not match"
        ),
        "{text}"
    );
}
