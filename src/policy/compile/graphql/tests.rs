//! `graphql:` compile errors, each at its `file:line:col`.

use crate::policy::{RuleSet, Source};

fn errors(text: &str) -> Vec<String> {
    match RuleSet::compile(&[Source {
        path: "g.yaml".into(),
        text: text.into(),
    }]) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

fn rule(graphql: &str) -> String {
    format!(
        "rules:\n  - id: g\n    url: https://api.example.com/graphql\n    graphql:\n{graphql}    decision: allow\n"
    )
}

#[test]
fn an_unknown_graphql_key_is_positioned() {
    let e = errors(&rule("      operations: query\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("g.yaml:5:7: unknown field `operations`"),
        "{e:?}"
    );
}

#[test]
fn an_unknown_operation_type_is_an_error_at_the_list() {
    let e = errors(&rule("      operation: [query, delete]\n"));
    assert_eq!(
        e,
        ["g.yaml:5:18: unknown GraphQL operation type `delete` (query, mutation or subscription)"]
    );
}

#[test]
fn a_field_not_written_type_dot_field_is_an_error() {
    let e = errors(&rule("      fields: [deleteRepository]\n"));
    assert_eq!(
        e,
        [
            "g.yaml:5:15: invalid GraphQL field `deleteRepository` (write `type.field`, e.g. `mutation.deleteRepository`)"
        ]
    );
    let e = errors(&rule(
        "      operation: query\n      fields: [mutation.x]\n",
    ));
    assert_eq!(
        e,
        [
            "g.yaml:6:15: field `mutation.x` is under an operation type that `graphql.operation:` does not list"
        ]
    );
}

#[test]
fn bad_names_hashes_variables_and_empty_lists_are_errors() {
    let e = errors(&rule(
        "      name: [\"two words\"]\n      persisted: [abc]\n      fields: []\n      variables:\n        owner: { equals: acme }\n",
    ));
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e[0].starts_with("g.yaml:5:13: invalid GraphQL operation name `two words`"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("g.yaml:6:18: invalid persisted query hash `abc`"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("g.yaml:7:15: `graphql.fields:` list is empty"),
        "{e:?}"
    );
    assert!(
        e[3].starts_with("g.yaml:9:9: invalid JSON pointer `owner`"),
        "{e:?}"
    );
}

#[test]
fn mcp_and_graphql_on_one_rule_is_an_error() {
    let e = errors(
        "rules:\n  - id: g\n    url: https://api.example.com/graphql\n    mcp: { method: ping }\n    graphql: { operation: query }\n    decision: allow\n",
    );
    assert_eq!(
        e,
        ["g.yaml:5:14: a rule has `mcp:` or `graphql:`, not both"]
    );
}
