//! The catalogue's pure parts: an action's own decision and the schema shown to the model.

use serde_json::json;

use super::{own_refusal, schema_json};
use crate::actions::testing::action;

const INPUT: &str = "      type: object\n      required: [n]\n      properties:\n        n: { type: integer, minimum: 1, maximum: 9 }";

#[test]
fn an_action_asking_for_more_than_the_rules_is_refused_not_run_on_less() {
    let url = "https://api.example.com/x";
    assert_eq!(own_refusal(&action(INPUT, url, "")), None);
    assert_eq!(
        own_refusal(&action(INPUT, url, "    decision: allow\n")),
        None
    );
    let denied = own_refusal(&action(INPUT, url, "    decision: deny\n")).unwrap();
    assert!(denied.contains("decision is deny"), "{denied}");
    let held = own_refusal(&action(INPUT, url, "    decision: approve\n")).unwrap();
    assert!(held.contains("own approval is not enforced"), "{held}");
    let limited = own_refusal(&action(INPUT, url, "    limits: { rate: 3/hour }\n")).unwrap();
    assert!(limited.contains("own limits is not enforced"), "{limited}");
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
