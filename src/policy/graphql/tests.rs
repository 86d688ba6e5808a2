//! GraphQL request reading (forms, batches, persisted queries) and document extraction
//! (aliases, fragments, operation choice, limits), and the `graphql:` selector's matching.

use serde_json::{Value, json};

use super::document::{self, MAX_DEPTH};
use super::request::{self, MAX_BATCH, sha256_hex};
use super::{FieldRef, GraphqlOp, GraphqlSelector, OperationType};
use crate::policy::decision::Verdict;

fn op(source: &str, name: Option<&str>) -> document::Operation {
    document::operation(source, name).unwrap_or_else(|e| panic!("{e}"))
}

fn err(source: &str, name: Option<&str>) -> String {
    document::operation(source, name).unwrap_err()
}

#[test]
fn fields_are_real_names_not_aliases_and_typename_is_ignored() {
    let o = op(
        "mutation Del { gone: deleteRepository(input: {}) { id } __typename viewer { login } }",
        None,
    );
    assert_eq!(o.kind, OperationType::Mutation);
    assert_eq!(o.name.as_deref(), Some("Del"));
    assert_eq!(o.fields, ["deleteRepository", "viewer"]);
}

#[test]
fn fragment_spreads_and_inline_fragments_at_the_top_level_count() {
    let o = op(
        "query { ...A ... on Query { b: repository { id } } ... { c } } \
         fragment A on Query { viewer { login } ...B } fragment B on Query { rateLimit { cost } }",
        None,
    );
    assert_eq!(o.fields, ["viewer", "rateLimit", "repository", "c"]);
    // Fields nested under a top-level field are not top-level fields.
    let o = op("{ viewer { repositories { nodes { id } } } }", None);
    assert_eq!(o.fields, ["viewer"]);
}

#[test]
fn the_anonymous_shorthand_is_a_query_and_subscriptions_are_recognised() {
    let o = op("{ viewer { login } }", None);
    assert_eq!((o.kind, o.name), (OperationType::Query, None));
    let o = op("subscription OnIssue { issueAdded { id } }", None);
    assert_eq!(o.kind, OperationType::Subscription);
    assert_eq!(o.fields, ["issueAdded"]);
}

#[test]
fn operation_name_picks_one_of_several_operations() {
    let doc = "query A { viewer { login } } mutation B { deleteRepository { id } }";
    assert_eq!(op(doc, Some("B")).kind, OperationType::Mutation);
    assert_eq!(op(doc, Some("A")).fields, ["viewer"]);
    assert_eq!(
        err(doc, None),
        "the GraphQL document has 2 operations and no operationName picks one"
    );
    assert_eq!(
        err(doc, Some("C")),
        "operationName `C` names no operation of the document"
    );
    assert_eq!(
        err("query A { a } query A { b }", Some("A")),
        "operation `A` is defined twice"
    );
}

#[test]
fn invalid_documents_carry_the_parser_message() {
    let e = err("query { viewer { login }", None);
    assert!(
        e.starts_with("invalid GraphQL document: expected R_CURLY"),
        "{e}"
    );
    assert!(err("", None).starts_with("invalid GraphQL document: Unexpected <EOF>"));
    assert_eq!(
        err("type Query { a: Int }", None),
        "the GraphQL document has a type-system definition (a request carries operations and fragments only)"
    );
    assert_eq!(err("{ ...Nope }", None), "unknown fragment `Nope`");
    assert_eq!(
        err(
            "{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }",
            None
        ),
        "fragment `A` spreads itself"
    );
    assert_eq!(
        err("{ a } fragment A on Q { b } fragment A on Q { c }", None),
        "fragment `A` is defined twice"
    );
}

#[test]
fn deep_and_exploding_documents_are_refused() {
    let deep = format!(
        "{}{}",
        "{ a ".repeat(MAX_DEPTH + 10),
        "}".repeat(MAX_DEPTH + 10)
    );
    let e = err(&deep, None);
    assert!(e.contains("over keyward's limits"), "{e}");
    // Each fragment spreads the next one four times: 4^10 spreads if followed naively.
    let mut doc = "{ ...F0 }".to_owned();
    for i in 0..10 {
        let n = i + 1;
        doc.push_str(&format!(
            " fragment F{i} on Q {{ ...F{n} ...F{n} ...F{n} ...F{n} }}"
        ));
    }
    doc.push_str(" fragment F10 on Q { leaf }");
    let e = err(&doc, None);
    assert!(e.contains("spreads fragments more than"), "{e}");
}

fn ops(body: Value) -> Result<super::GraphqlOps, String> {
    request::from_json(&body)
}

#[test]
fn json_bodies_single_and_batched() {
    let one = ops(json!({"query": "query Q { viewer { login } }", "operationName": "Q", "variables": {"a": 1}})).unwrap();
    assert!(!one.batch);
    assert_eq!(one.ops[0].variables, Some(json!({"a": 1})));
    assert_eq!(one.ops[0].label(), "query Q (viewer)");
    let batch = ops(json!([{"query": "{ a }"}, {"query": "mutation { b }"}])).unwrap();
    assert!(batch.batch);
    assert_eq!(batch.ops[1].index, 1);
    assert_eq!(batch.ops[1].label(), "mutation (b)");
    assert_eq!(
        ops(json!([{"query": "{ a }"}, {"query": "{ a"}])).unwrap_err(),
        "batch element 1: invalid GraphQL document: expected R_CURLY, got EOF at byte 3"
    );
    assert_eq!(ops(json!([])).unwrap_err(), "the GraphQL batch is empty");
    let long: Vec<Value> = (0..=MAX_BATCH).map(|_| json!({"query": "{ a }"})).collect();
    assert!(
        ops(Value::Array(long))
            .unwrap_err()
            .contains("more than 100")
    );
    assert_eq!(
        ops(json!({"query": 1})).unwrap_err(),
        "\"query\" is not a string"
    );
    assert_eq!(
        ops(json!({"variables": {}})).unwrap_err(),
        "no \"query\" and no persisted query hash"
    );
    assert_eq!(
        ops(json!({"query": "{ a }", "variables": [1]})).unwrap_err(),
        "\"variables\" is not an object"
    );
}

#[test]
fn documents_and_query_strings() {
    let d = request::from_document(b"mutation { deleteRepository { id } }").unwrap();
    assert_eq!(d.ops[0].label(), "mutation (deleteRepository)");
    assert!(request::from_document(&[0xff]).is_err());
    let params = |q: &'static str, n: Option<&'static str>| {
        move |name: &str| {
            Ok(match name {
                "query" => Some(Value::String(q.to_owned())),
                "operationName" => n.map(|n| Value::String(n.to_owned())),
                _ => None,
            })
        }
    };
    let g = request::from_params(params("query A { a } query B { b }", Some("B"))).unwrap();
    assert_eq!(g.ops[0].label(), "query B (b)");
    let twice = |name: &str| Ok((name == "query").then(|| json!(["{ a }", "mutation { b }"])));
    assert_eq!(
        request::from_params(twice).unwrap_err(),
        "query parameter `query` is given more than once"
    );
    assert_eq!(
        request::from_params(|_| Ok(None)).unwrap_err(),
        "the request has no GraphQL `query` parameter"
    );
}

#[test]
fn persisted_query_hashes_must_match_their_text() {
    let text = "{ viewer { login } }";
    let hash = sha256_hex(text);
    let good = ops(json!({"query": text, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash.to_uppercase()}}})).unwrap();
    assert_eq!(good.ops[0].persisted.as_deref(), Some(hash.as_str()));
    let other = sha256_hex("mutation { deleteRepository { id } }");
    let e = ops(json!({"query": text, "extensions": {"persistedQuery": {"sha256Hash": other}}}))
        .unwrap_err();
    assert_eq!(
        e,
        format!("the persisted query hash {other} does not match the query text (sha256 {hash})")
    );
    let only = ops(json!({"extensions": {"persistedQuery": {"sha256Hash": hash}}})).unwrap();
    assert_eq!(only.ops[0].operation, None);
    assert_eq!(only.ops[0].label(), format!("persisted query {hash}"));
    assert!(
        ops(json!({"query": text, "extensions": {"persistedQuery": {"sha256Hash": "abc"}}}))
            .is_err()
    );
}

fn selector(kinds: Option<&[OperationType]>, fields: Option<&[&str]>) -> GraphqlSelector {
    GraphqlSelector {
        operations: kinds.map(<[_]>::to_vec),
        fields: fields.map(|f| f.iter().map(|t| FieldRef::parse(t).unwrap()).collect()),
        ..GraphqlSelector::default()
    }
}

fn graphql_op(source: &str) -> GraphqlOp {
    GraphqlOp {
        index: 0,
        operation: Some(op(source, None)),
        variables: None,
        persisted: None,
    }
}

#[test]
fn allow_rules_need_every_field_listed_deny_rules_any() {
    let s = selector(None, Some(&["mutation.addComment"]));
    let both = graphql_op("mutation { addComment { id } deleteRepository { id } }");
    assert_eq!(
        s.matches(&both, Verdict::Allow).unwrap_err(),
        "graphql field mutation.deleteRepository is not listed"
    );
    assert!(s.matches(&both, Verdict::Deny).is_ok());
    assert!(
        s.matches(
            &graphql_op("mutation { addComment { id } }"),
            Verdict::Allow
        )
        .is_ok()
    );
    // The type is part of the field: `query.addComment` is not `mutation.addComment`.
    assert!(
        s.matches(&graphql_op("{ addComment }"), Verdict::Deny)
            .is_err()
    );
    let q = selector(Some(&[OperationType::Query]), None);
    assert_eq!(
        q.matches(&both, Verdict::Allow).unwrap_err(),
        "graphql operation mutation does not match"
    );
}

#[test]
fn hash_only_operations_match_only_rules_listing_their_hash() {
    let hash = sha256_hex("{ a }");
    let only = GraphqlOp {
        index: 0,
        operation: None,
        variables: None,
        persisted: Some(hash.clone()),
    };
    assert!(
        GraphqlSelector::default()
            .matches(&only, Verdict::Allow)
            .is_ok()
    );
    let listed = GraphqlSelector {
        persisted: Some(vec![hash.clone()]),
        ..GraphqlSelector::default()
    };
    assert!(listed.matches(&only, Verdict::Allow).is_ok());
    assert!(
        listed
            .matches(&graphql_op("{ a }"), Verdict::Allow)
            .is_err()
    );
    let typed = GraphqlSelector {
        operations: Some(vec![OperationType::Query]),
        ..listed
    };
    assert_eq!(
        typed.matches(&only, Verdict::Allow).unwrap_err(),
        "a persisted query sent without its text: its operation is unknown"
    );
}

#[test]
fn field_refs_are_type_dot_name() {
    assert_eq!(
        FieldRef::parse("mutation.deleteRepository")
            .unwrap()
            .to_string(),
        "mutation.deleteRepository"
    );
    for bad in [
        "deleteRepository",
        "Mutation.x",
        "query.",
        "query.a.b",
        "query.1a",
        "x.y",
    ] {
        assert!(FieldRef::parse(bad).is_none(), "{bad}");
    }
}
