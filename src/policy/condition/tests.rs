//! Unit tests for every condition type.

use serde_json::{Value, json};

use super::*;
use crate::policy::json::JsonPath;

fn check(tests: Vec<Test>, pointer: &str, doc: &Value) -> Result<String, String> {
    let path = JsonPath::parse(pointer).unwrap();
    let selected = path.select(doc);
    Condition::new(tests).check("", pointer, &selected, !path.has_wildcard(), true)
}

fn strs(items: &[&str]) -> Vec<Value> {
    items.iter().map(|s| json!(s)).collect()
}

#[test]
fn equals() {
    let doc = json!({"state": "open", "n": 5, "s": "5", "flag": true, "nul": null});
    assert!(check(vec![Test::Equals(json!("open"))], "/state", &doc).is_ok());
    assert_eq!(
        check(vec![Test::Equals(json!("closed"))], "/state", &doc).unwrap_err(),
        r#"/state = "open" does not equal "closed""#
    );
    assert!(check(vec![Test::Equals(json!(5.0))], "/n", &doc).is_ok());
    assert!(
        check(vec![Test::Equals(json!(5))], "/s", &doc).is_ok(),
        "numeric strings equal numbers"
    );
    assert!(check(vec![Test::Equals(json!(true))], "/flag", &doc).is_ok());
    assert!(check(vec![Test::Equals(json!("true"))], "/flag", &doc).is_err());
    assert!(check(vec![Test::Equals(Value::Null)], "/nul", &doc).is_ok());
    assert_eq!(
        check(vec![Test::Equals(json!("x"))], "/missing", &doc).unwrap_err(),
        "/missing is missing"
    );
}

#[test]
fn one_of_reports_the_failing_element() {
    let doc = json!({"labels": ["bug", "wontfix"]});
    let test = || vec![Test::OneOf(strs(&["bug", "triage"]))];
    assert_eq!(
        check(test(), "/labels/*", &doc).unwrap_err(),
        r#"/labels/1 = "wontfix" is not one of [bug, triage]"#
    );
    assert!(check(test(), "/labels/0", &doc).is_ok());
    assert!(check(test(), "/none/*", &doc).is_ok(), "no elements: holds");
    assert!(
        check(
            vec![Test::OneOf(vec![json!(1), json!(2)])],
            "/labels/*",
            &json!({"labels": [2, "1"]})
        )
        .is_ok()
    );
}

#[test]
fn regex_searches_scalars() {
    let doc = json!({"title": "Fix bug 42", "n": 42, "o": {}});
    let re = |r: &str| vec![Test::Regex(Regex::new(r).unwrap())];
    assert!(check(re("bug"), "/title", &doc).is_ok());
    assert_eq!(
        check(re("^bug"), "/title", &doc).unwrap_err(),
        r#"/title = "Fix bug 42" does not match /^bug/"#
    );
    assert!(check(re("^4[0-9]$"), "/n", &doc).is_ok());
    assert_eq!(
        check(re("x"), "/o", &doc).unwrap_err(),
        "/o = {} is not a string"
    );
}

#[test]
fn absent_and_present() {
    let doc = json!({"a": 1, "list": [1]});
    assert!(check(vec![Test::Absent], "/b", &doc).is_ok());
    assert_eq!(
        check(vec![Test::Absent], "/a", &doc).unwrap_err(),
        "/a is present but must be absent"
    );
    assert_eq!(
        check(vec![Test::Absent], "/list/*", &doc).unwrap_err(),
        "/list/0 is present but must be absent"
    );
    assert!(check(vec![Test::Present], "/a", &doc).is_ok());
    assert_eq!(
        check(vec![Test::Present], "/b", &doc).unwrap_err(),
        "/b is missing"
    );
    assert!(check(vec![Test::Present], "/list/*", &doc).is_ok());
    assert!(
        check(vec![Test::Present], "/a/*", &doc).is_ok(),
        "a scalar under * selects itself"
    );
    assert!(check(vec![Test::Present], "/b/*", &doc).is_err());
}

#[test]
fn max_len_counts_characters() {
    let doc = json!({"t": "héllo", "n": 5});
    assert!(check(vec![Test::MaxLen(5)], "/t", &doc).is_ok());
    assert_eq!(
        check(vec![Test::MaxLen(4)], "/t", &doc).unwrap_err(),
        "/t has length 5, over max_len 4"
    );
    assert_eq!(
        check(vec![Test::MaxLen(4)], "/n", &doc).unwrap_err(),
        "/n = 5 is not a string"
    );
}

#[test]
fn max_items_counts_elements() {
    let doc = json!({"to": [1, 2, 3], "s": "abc"});
    assert!(check(vec![Test::MaxItems(3)], "/to", &doc).is_ok());
    assert_eq!(
        check(vec![Test::MaxItems(2)], "/to", &doc).unwrap_err(),
        "/to has 3 items, over max_items 2"
    );
    assert_eq!(
        check(vec![Test::MaxItems(2)], "/s", &doc).unwrap_err(),
        r#"/s = "abc" is not an array"#
    );
}

#[test]
fn min_and_max() {
    let doc = json!({"amount": 150, "s": "20", "bad": "NaN", "inf": "inf", "f": 2.5});
    assert!(check(vec![Test::Min(0.0), Test::Max(1000.0)], "/amount", &doc).is_ok());
    assert_eq!(
        check(vec![Test::Max(100.0)], "/amount", &doc).unwrap_err(),
        "/amount = 150 is above max 100"
    );
    assert_eq!(
        check(vec![Test::Min(200.0)], "/amount", &doc).unwrap_err(),
        "/amount = 150 is below min 200"
    );
    assert!(
        check(vec![Test::Max(100.0)], "/s", &doc).is_ok(),
        "numeric strings are numbers"
    );
    assert_eq!(
        check(vec![Test::Max(100.0)], "/bad", &doc).unwrap_err(),
        r#"/bad = "NaN" is not a number"#
    );
    assert!(check(vec![Test::Max(100.0)], "/inf", &doc).is_err());
    assert_eq!(
        check(vec![Test::Max(2.0)], "/f", &doc).unwrap_err(),
        "/f = 2.5 is above max 2"
    );
}

#[test]
fn combined_tests_all_must_hold() {
    let doc = json!({"name": "abcdef"});
    let tests = || {
        vec![
            Test::Present,
            Test::Regex(Regex::new("^[a-z]+$").unwrap()),
            Test::MaxLen(3),
        ]
    };
    assert_eq!(
        check(tests(), "/name", &doc).unwrap_err(),
        "/name has length 6, over max_len 3"
    );
}

#[test]
fn prefixed_subjects_show_their_names() {
    let v = json!("500");
    let selected = vec![("/per_page".to_owned(), &v)];
    let err = Condition::new(vec![Test::Max(100.0)])
        .check("query.", "query.per_page", &selected, true, true)
        .unwrap_err();
    assert_eq!(err, r#"query.per_page = "500" is above max 100"#);
}

#[test]
fn long_values_are_cut_in_messages() {
    let long = "x".repeat(500);
    let doc = json!({ "t": long });
    let err = check(vec![Test::Equals(json!("y"))], "/t", &doc).unwrap_err();
    assert!(err.len() < 120, "{err}");
}

#[test]
fn display_lists_the_tests() {
    let c = Condition::new(vec![
        Test::OneOf(strs(&["bug", "triage"])),
        Test::Max(5.0),
        Test::Absent,
    ]);
    assert_eq!(c.to_string(), "one_of [bug, triage], max 5, absent");
}

#[test]
fn missing_values_fail_unless_optional() {
    let doc = json!({"limit": 5});
    let max = || vec![Test::Max(100.0)];
    assert_eq!(
        check(max(), "/offset", &doc).unwrap_err(),
        "/offset is missing"
    );
    let path = JsonPath::parse("/offset").unwrap();
    let optional = Condition::new(max()).optional();
    assert!(
        optional
            .check("", "/offset", &path.select(&doc), true, true)
            .is_ok()
    );
    let path = JsonPath::parse("/limit").unwrap();
    let too_big = json!({"limit": 500});
    assert!(
        optional
            .check("", "/limit", &path.select(&too_big), true, true)
            .is_err()
    );
    assert_eq!(optional.to_string(), "max 100, optional");
}

#[test]
fn negations_name_what_they_exclude() {
    let doc =
        json!({"method": "tools/call", "tags": ["a", "admin"], "path": "/etc/passwd", "n": 5});
    assert!(check(vec![Test::NotEquals(json!("tools/list"))], "/method", &doc).is_ok());
    assert_eq!(
        check(vec![Test::NotEquals(json!("tools/call"))], "/method", &doc).unwrap_err(),
        r#"/method = "tools/call", which not_equals excludes"#
    );
    assert!(
        check(vec![Test::NotEquals(json!(5))], "/n", &json!({"n": "5"})).is_err(),
        "numeric strings compare as numbers, as with equals"
    );
    assert_eq!(
        check(
            vec![Test::NotOneOf(strs(&["admin", "root"]))],
            "/tags/*",
            &doc
        )
        .unwrap_err(),
        r#"/tags/1 = "admin" is one of [admin, root], which not_one_of excludes"#
    );
    assert!(check(vec![Test::NotOneOf(strs(&["root"]))], "/tags/*", &doc).is_ok());
    let etc = || vec![Test::NotRegex(Regex::new("^/etc/").unwrap())];
    assert_eq!(
        check(etc(), "/path", &doc).unwrap_err(),
        r#"/path = "/etc/passwd" matches /^/etc//, which not_regex excludes"#
    );
    assert!(check(etc(), "/method", &doc).is_ok());
    assert_eq!(
        check(etc(), "/missing", &doc).unwrap_err(),
        "/missing is missing",
        "a negation on a missing value fails closed"
    );
    assert!(
        Condition::new(etc())
            .optional()
            .check("", "/missing", &[], true, false)
            .is_ok()
    );
    let shown = Condition::new(vec![
        Test::NotEquals(json!("x")),
        Test::NotOneOf(strs(&["a", "b"])),
        Test::NotRegex(Regex::new("^z").unwrap()),
    ])
    .to_string();
    assert_eq!(shown, "not_equals \"x\", not_one_of [a, b], not_regex /^z/");
}
