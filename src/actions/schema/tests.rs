//! Input validation: every keyword, nested fields, and errors that name the field's pointer.

use serde_json::json;

use crate::actions::testing::action;

/// The schema of the issue example: strings, an enum, an array of an enum, numbers, a bool.
fn issue() -> crate::actions::Action {
    action(
        "      type: object
      required: [repo, title]
      properties:
        repo: {type: string, enum: [acme/widgets, acme/gadgets]}
        title: {type: string, minLength: 3, maxLength: 10}
        slug: {type: string, pattern: '^[a-z]+$'}
        labels:
          type: array
          maxItems: 2
          minItems: 1
          items: {type: string, enum: [bug, triage]}
        count: {type: integer, minimum: 1, maximum: 5}
        weight: {type: number, minimum: 0.5}
        draft: {type: boolean}
        meta:
          type: object
          required: [owner]
          properties:
            owner: {type: string}",
        "https://api.example/x",
        "",
    )
}

fn error(input: serde_json::Value) -> String {
    issue().input().validate(&input).unwrap_err().to_string()
}

#[test]
fn a_valid_input_passes() {
    let ok = json!({"repo": "acme/widgets", "title": "hello", "slug": "abc", "labels": ["bug"],
        "count": 5, "weight": 0.5, "draft": false, "meta": {"owner": "x"}});
    issue().input().validate(&ok).unwrap();
}

#[test]
fn each_keyword_is_enforced_and_names_the_field() {
    let base = || json!({"repo": "acme/widgets", "title": "hello"});
    let cases = [
        (
            json!({"title": "hello"}),
            "/: missing required field `repo`",
        ),
        (
            json!({"repo": "acme/other", "title": "hello"}),
            "/repo: \"acme/other\" is not one of [acme/widgets, acme/gadgets]",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hi"}),
            "/title: \"hi\" is shorter than 3 characters",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello world!"}),
            "/title: \"hello world!\" is longer than 10 characters",
        ),
        (
            json!({"repo": "acme/widgets", "title": 5}),
            "/title: 5 is not a string",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "slug": "ABC"}),
            "/slug: \"ABC\" does not match /^[a-z]+$/",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "labels": ["bug", "wontfix"]}),
            "/labels/1: \"wontfix\" is not one of [bug, triage]",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "labels": ["bug", "bug", "triage"]}),
            "/labels: 3 items, more than the maximum 2",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "labels": []}),
            "/labels: 0 items, fewer than the minimum 1",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "labels": "bug"}),
            "/labels: \"bug\" is not an array",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "count": 6}),
            "/count: 6 is more than the maximum 5",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "count": 0}),
            "/count: 0 is less than the minimum 1",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "count": 1.5}),
            "/count: 1.5 is not an integer",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "weight": 0.25}),
            "/weight: 0.25 is less than the minimum 0.5",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "draft": "yes"}),
            "/draft: \"yes\" is not a boolean",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "meta": {}}),
            "/meta: missing required field `owner`",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "meta": {"owner": 1}}),
            "/meta/owner: 1 is not a string",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "meta": {"owner": "x", "extra": 1}}),
            "/meta/extra: unknown field",
        ),
        (
            json!({"repo": "acme/widgets", "title": "hello", "token": "x"}),
            "/token: unknown field",
        ),
        (
            json!(["not", "an", "object"]),
            "/: [\"not\",\"an\",\"object\"] is not an object",
        ),
    ];
    issue().input().validate(&base()).unwrap();
    for (input, want) in cases {
        assert_eq!(error(input.clone()), want, "{input}");
    }
}

#[test]
fn pointers_escape_slash_and_tilde_in_field_names() {
    let err = error(json!({"repo": "acme/widgets", "title": "hello", "a/b~c": 1}));
    assert_eq!(err, "/a~1b~0c: unknown field");
}

#[test]
fn length_counts_characters_not_bytes() {
    issue()
        .input()
        .validate(&json!({"repo": "acme/widgets", "title": "ünïcødé"}))
        .unwrap();
}

#[test]
fn additional_properties_true_admits_unknown_fields() {
    let a = action(
        "      type: object\n      additionalProperties: true\n      properties:\n        a: {type: string}",
        "https://api.example/x",
        "",
    );
    a.input().validate(&json!({"a": "x", "b": 2})).unwrap();
    assert_eq!(
        a.input()
            .validate(&json!({"a": 1}))
            .unwrap_err()
            .to_string(),
        "/a: 1 is not a string"
    );
}

#[test]
fn long_values_are_cut_in_errors() {
    let long = "x".repeat(500);
    let err = error(json!({"repo": long, "title": "hello"}));
    assert!(err.len() < 200, "{err}");
    assert!(err.starts_with("/repo: \"xxx"), "{err}");
}
