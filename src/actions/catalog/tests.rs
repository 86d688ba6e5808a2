//! The catalogue's pure parts: an action's own deny and the schema shown to the model.

use serde_json::json;

use super::{own_refusal, schema_json};
use crate::actions::testing::action;

const INPUT: &str = "      type: object\n      required: [n]\n      properties:\n        n: { type: integer, minimum: 1, maximum: 9 }";

#[test]
fn only_the_actions_own_deny_refuses_before_sending() {
    let url = "https://api.example.com/x";
    assert_eq!(own_refusal(&action(INPUT, url, "")), None);
    assert_eq!(
        own_refusal(&action(INPUT, url, "    decision: allow\n")),
        None
    );
    let denied = own_refusal(&action(INPUT, url, "    decision: deny\n")).unwrap();
    assert!(denied.contains("decision is deny"), "{denied}");
    // Approval and limits are the pipeline's to enforce, on the request the call becomes.
    assert_eq!(
        own_refusal(&action(INPUT, url, "    decision: approve\n")),
        None
    );
    assert_eq!(
        own_refusal(&action(INPUT, url, "    limits: { rate: 3/hour }\n")),
        None
    );
}

#[test]
fn the_listed_schema_is_json_schema_with_whole_integer_bounds() {
    let a = action(INPUT, "https://api.example.com/x", "");
    assert_eq!(
        schema_json(a.input()),
        json!({
            "type": "object",
            "required": ["n"],
            "additionalProperties": false,
            "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}},
        })
    );
}
