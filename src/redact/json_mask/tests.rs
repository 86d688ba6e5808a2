//! Tests of masking in place: selected values masked, other bytes kept, duplicates and
//! bad documents.

use super::*;
use serde_json::{Value, json};

fn paths(list: &[&str]) -> Vec<JsonPath> {
    list.iter().map(|p| JsonPath::parse(p).unwrap()).collect()
}

fn masked(doc: &str, list: &[&str]) -> (String, u64) {
    let (out, n) = mask(doc.as_bytes(), &paths(list)).unwrap();
    (String::from_utf8(out).unwrap(), n)
}

/// What masking through a parsed `Value` gives: the reference semantics.
fn via_value(doc: &str, list: &[&str]) -> Value {
    let mut value: Value = serde_json::from_str(doc).unwrap();
    for path in paths(list) {
        let pointers: Vec<String> = path.select(&value).into_iter().map(|(p, _)| p).collect();
        for p in pointers {
            if let Some(slot) = value.pointer_mut(&p) {
                *slot = Value::String("[redacted]".into());
            }
        }
    }
    value
}

#[test]
fn selected_values_are_masked_and_every_other_byte_is_kept() {
    let doc = r#"{ "z": 1,  "user": {"email": "a@b.c", "name": "x"}, "n": 1.50e2 }"#;
    let (out, n) = masked(doc, &["/user/email"]);
    assert_eq!(
        out,
        r#"{ "z": 1,  "user": {"email": "[redacted]", "name": "x"}, "n": 1.50e2 }"#
    );
    assert_eq!(n, 1);
}

#[test]
fn agrees_with_masking_a_parsed_value() {
    let doc = r#"{"items":[{"card":"4111","id":1},{"card":{"n":"5500"}},{"id":3}],
        "tokens":["a","b"],"deep":{"a":[[1,2],[3]]},"esc\u0061ped":"k","s":"x\"}]","t":true}"#;
    for list in [
        &["/items/*/card"][..],
        &["/tokens/*"],
        &["/tokens/1", "/items/0"],
        &["/deep/a/*/0"],
        &["/escaped"],
        &["/s", "/t"],
        &["/items/*/card/n", "/items/*/card"],
        &["/missing", "/items/9/card", "/items/01"],
        &["/s/*"],
        &[""],
    ] {
        let (out, _) = masked(doc, list);
        let ours: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(ours, via_value(doc, list), "{list:?}");
    }
}

#[test]
fn a_duplicate_key_is_masked_everywhere() {
    let (out, n) = masked(r#"{"token":"a","token":"b"}"#, &["/token"]);
    assert_eq!(out, r#"{"token":"[redacted]","token":"[redacted]"}"#);
    assert_eq!(n, 2);
}

#[test]
fn invalid_or_too_deep_json_is_refused() {
    for bad in ["not json", "{\"a\":1", "{\"a\":1}x", "[1,]", ""] {
        assert!(mask(bad.as_bytes(), &paths(&["/a"])).is_err(), "{bad:?}");
    }
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    assert!(mask(deep.as_bytes(), &paths(&["/0"])).is_err(), "walked");
    assert!(mask(deep.as_bytes(), &paths(&["/x"])).is_err(), "skipped");
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(mask(ok.as_bytes(), &paths(&["/0/0"])).is_ok());
}

fn json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        "[a-c\\\\\"é ]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-c]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn any_document_masks_like_a_parsed_value(
        doc in json(),
        pointers in proptest::collection::vec("(/([a-c]{1,2}|[0-2]|\\*)){1,3}", 1..3),
        pretty in proptest::prelude::any::<bool>(),
    ) {
        let text = if pretty {
            serde_json::to_string_pretty(&doc).unwrap()
        } else {
            doc.to_string()
        };
        let list: Vec<&str> = pointers.iter().map(String::as_str).collect();
        let (out, _) = masked(&text, &list);
        let ours: Value = serde_json::from_str(&out).unwrap();
        proptest::prop_assert_eq!(ours, via_value(&text, &list));
    }
}

#[test]
fn counts_outer_values_once() {
    let doc = json!({"a": {"b": 1}, "c": [1, 2]}).to_string();
    let (_, n) = masked(&doc, &["/a", "/a/b", "/c/*"]);
    assert_eq!(n, 3);
}
