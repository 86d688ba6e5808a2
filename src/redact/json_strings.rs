//! Secret values in a JSON value a person or the audit trail is shown (an action's input, a
//! held MCP call's arguments): every string and object key with the values a [`Scrubber`]
//! knows replaced by their placeholders, the structure kept.

use serde_json::Value;

use super::{RedactionCounts, Scrubber};

/// `value` with every secret value `known` finds replaced by its placeholder.
pub fn scrub_json_strings(value: &Value, known: &Scrubber) -> Value {
    match value {
        Value::String(s) => Value::String(scrub_text(s, known)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| scrub_json_strings(v, known)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (scrub_text(k, known), scrub_json_strings(v, known)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `text` with every secret value `known` finds replaced by its placeholder.
pub fn scrub_text(text: &str, known: &Scrubber) -> String {
    let mut counts = RedactionCounts::default();
    String::from_utf8_lossy(&known.scrub(text.as_bytes(), &mut counts)).into_owned()
}
