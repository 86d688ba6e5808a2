//! Body inspection through `decide`: encodings, bombs, size limits, JSON and form parsing,
//! pattern sets, and deny rules with body conditions.

use crate::content_coding::encode::{br, gzip, zlib};
use std::io::Write;

use super::{decide, request, rules};
use crate::policy::{RequestBody, Verdict};

const RULES: &str = r#"
patterns:
  secrets:
    - 'ghp_[A-Za-z0-9]{36}'
    - 'AKIA[0-9A-Z]{16}'
rules:
  - id: post-json
    method: POST
    url: https://a.com/json
    body:
      max_size: 64KiB
      json:
        /kind: { one_of: [note] }
      must_not_match: [secrets]
    decision: allow
  - id: post-form
    method: POST
    url: https://a.com/form
    body:
      form:
        /to: { regex: '@example\.com$' }
        /cc/*: { regex: '@example\.com$' }
    decision: allow
  - id: must-say-hello
    method: POST
    url: https://a.com/hello
    body: { must_match: ['(?i)hello'] }
    decision: allow
  - id: allow-admin
    method: POST
    url: https://a.com/admin
    decision: allow
  - id: deny-dangerous
    method: POST
    url: https://a.com/admin
    body:
      json:
        /action: { equals: drop }
    decision: deny
"#;

/// A compressor used to build test bodies.
type Encoder = fn(&[u8]) -> Vec<u8>;

fn decide_encoded(bytes: &[u8], encoding: &str, truncated: bool) -> crate::policy::Decision {
    let set = rules(RULES);
    let r = request("POST https://a.com/json", None);
    let body = RequestBody {
        bytes,
        content_encoding: Some(encoding),
        content_type: None,
        truncated,
    };
    set.decide(&r.head(), Some(&body), None)
}

#[test]
fn compressed_bodies_are_inspected() {
    let json = br#"{"kind":"note"}"#;
    let bad = br#"{"kind":"spam"}"#;
    let encoders: [(&str, Encoder); 4] = [
        ("gzip", gzip),
        ("deflate", zlib),
        ("br", br),
        ("zstd", |d| zstd::encode_all(d, 3).unwrap()),
    ];
    for (encoding, encode) in encoders {
        assert!(
            decide_encoded(&encode(json), encoding, false).is_allowed(),
            "{encoding}"
        );
        let d = decide_encoded(&encode(bad), encoding, false);
        assert_eq!(
            d.failed_condition.as_deref(),
            Some(r#"/kind = "spam" is not one of [note]"#),
            "{encoding}"
        );
    }
}

#[test]
fn decompression_bombs_are_denied() {
    // 1 MiB of spaces then a JSON object: compresses to ~1 KiB, decodes past 8 × 64 KiB.
    let mut bomb = vec![b' '; 1024 * 1024];
    bomb.extend_from_slice(br#"{"kind":"note"}"#);
    for (encoding, bytes) in [
        ("gzip", gzip(&bomb)),
        ("br", br(&bomb)),
        ("zstd", zstd::encode_all(&bomb[..], 3).unwrap()),
    ] {
        assert!(bytes.len() < 64 * 1024);
        let d = decide_encoded(&bytes, encoding, false);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(
            d.reason, "decoded body exceeds 524288 bytes (decompression bomb?)",
            "{encoding}"
        );
        assert_eq!(d.rule.unwrap().as_str(), "post-json");
    }
}

#[test]
fn oversized_truncated_and_corrupt_bodies_are_denied() {
    let big = format!(r#"{{"kind":"note","pad":"{}"}}"#, "x".repeat(70_000));
    let d = decide(&rules(RULES), "POST https://a.com/json", Some(&big));
    assert_eq!(d.reason, "body too large to inspect (limit 65536 bytes)");
    let d = decide_encoded(br#"{"kind":"note"}"#, "identity", true);
    assert_eq!(d.reason, "body too large to inspect (limit 65536 bytes)");
    let d = decide_encoded(b"garbage", "gzip", false);
    assert!(
        d.reason.starts_with("request body is not valid gzip: "),
        "{}",
        d.reason
    );
    let d = decide_encoded(b"garbage", "compress", false);
    assert_eq!(d.reason, "unsupported content-encoding `compress`");
    let d = decide(&rules(RULES), "POST https://a.com/json", Some("{not json"));
    assert!(
        d.reason.starts_with("request body is not valid JSON: "),
        "{}",
        d.reason
    );
    assert_eq!(d.verdict, Verdict::Deny);
    let set = rules(RULES);
    let missing = set.decide(&request("POST https://a.com/json", None).head(), None, None);
    assert_eq!(
        missing.reason,
        "request body was not provided for inspection"
    );
}

#[test]
fn pattern_sets_catch_token_shaped_strings() {
    let set = rules(RULES);
    let leak = r#"{"kind":"note","text":"key AKIAABCDEFGHIJKLMNOP"}"#;
    let d = decide(&set, "POST https://a.com/json", Some(leak));
    assert_eq!(
        (d.verdict, d.failed_condition.as_deref()),
        (Verdict::Deny, Some("body matches secrets"))
    );
    assert!(
        !d.reason.contains("AKIA"),
        "the secret itself is never echoed"
    );
}

#[test]
fn must_match_requires_a_match() {
    let set = rules(RULES);
    assert!(decide(&set, "POST https://a.com/hello", Some("Hello there")).is_allowed());
    let d = decide(&set, "POST https://a.com/hello", Some("bye"));
    assert_eq!(
        d.failed_condition.as_deref(),
        Some("body does not match /(?i)hello/")
    );
}

#[test]
fn form_bodies_use_the_same_pointer_conditions() {
    let set = rules(RULES);
    let ok = "to=ann%40example.com&cc=bob%40example.com&cc=cy%40example.com&subject=hi";
    assert!(decide(&set, "POST https://a.com/form", Some(ok)).is_allowed());
    let d = decide(
        &set,
        "POST https://a.com/form",
        Some("to=ann%40example.com&cc=eve%40evil.com"),
    );
    assert_eq!(
        d.failed_condition.as_deref(),
        Some(r#"/cc = "eve@evil.com" does not match /@example\.com$/"#)
    );
    let d = decide(
        &set,
        "POST https://a.com/form",
        Some("to=a%40example.com&to=eve%40evil.com"),
    );
    assert_eq!(
        d.verdict,
        Verdict::Deny,
        "a repeated field is an array and fails a one-value test"
    );
    let d = decide(&set, "POST https://a.com/form", Some("cc=a%40example.com"));
    assert_eq!(d.failed_condition.as_deref(), Some("/to is missing"));
}

#[test]
fn deny_rules_with_body_conditions_match_only_when_they_hold() {
    let set = rules(RULES);
    assert!(
        decide(
            &set,
            "POST https://a.com/admin",
            Some(r#"{"action":"list"}"#)
        )
        .is_allowed()
    );
    let d = decide(
        &set,
        "POST https://a.com/admin",
        Some(r#"{"action":"drop"}"#),
    );
    assert_eq!(
        (d.verdict, d.rule.unwrap().as_str()),
        (Verdict::Deny, "deny-dangerous")
    );
    let d = decide(&set, "POST https://a.com/admin", Some("action=drop"));
    assert_eq!(
        d.verdict,
        Verdict::Deny,
        "a body the deny rule cannot read is denied (fail closed)"
    );
}

#[test]
fn a_duplicated_key_on_an_inspected_path_denies_naming_its_pointer() {
    let set = rules(
        r#"
rules:
  - id: issue
    method: POST
    url: https://a.com/issues
    body:
      json:
        /labels/*/name: { one_of: [bug] }
    decision: allow
"#,
    );
    let post = |body: &str| decide(&set, "POST https://a.com/issues", Some(body));
    assert!(post(r#"{"labels":[{"name":"bug"}]}"#).is_allowed());
    for (body, pointer) in [
        (
            r#"{"labels":[{"name":"bug"}],"labels":[{"name":"bug"}]}"#,
            "/labels",
        ),
        (
            r#"{"labels":[{"name":"admin","name":"bug"}]}"#,
            "/labels/0/name",
        ),
        (r#"{"labels":[{"name":{"x":1,"x":2}}]}"#, "/labels/0/name/x"),
    ] {
        let d = post(body);
        assert_eq!(d.verdict, Verdict::Deny, "{body}");
        assert_eq!(d.rule.as_ref().map(|r| r.as_str()), Some("issue"), "{body}");
        assert!(
            d.reason.contains(&format!("`{pointer}` more than once")),
            "{body}: {}",
            d.reason
        );
    }
    // A duplicate off every inspected path changes nothing the rule decides on.
    assert!(post(r#"{"title":"a","title":"b","labels":[{"name":"bug"}]}"#).is_allowed());
}

#[test]
fn raw_deflate_and_stacked_codings_are_inspected_and_too_many_deny() {
    let json = br#"{"kind":"note"}"#;
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(json).unwrap();
    assert!(decide_encoded(&raw.finish().unwrap(), "deflate", false).is_allowed());
    assert!(decide_encoded(&br(&gzip(json)), "gzip, br", false).is_allowed());
    let d = decide_encoded(&gzip(&br(&gzip(json))), "gzip, br, gzip", false);
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.reason,
        "content-encoding `gzip, br, gzip` stacks more than 2 codings"
    );
}

#[test]
fn a_zstd_window_over_the_cap_denies() {
    let mut json = br#"{"kind":"note","pad":""#.to_vec();
    json.extend(std::iter::repeat_n(b'a', 1000));
    json.extend_from_slice(br#""}"#);
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.set_parameter(zstd::stream::raw::CParameter::WindowLog(
        crate::content_coding::ZSTD_WINDOW_LOG_MAX + 1,
    ))
    .unwrap();
    e.include_contentsize(false).unwrap();
    e.write_all(&json).unwrap();
    let d = decide_encoded(&e.finish().unwrap(), "zstd", false);
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(
        d.reason.starts_with("request body is not valid zstd: "),
        "{}",
        d.reason
    );
}

#[test]
fn any_method_but_one_is_a_negation_and_its_denial_names_it() {
    let set = rules(
        r#"
rules:
  - id: mcp-read-only
    method: POST
    url: https://mcp.example.com/mcp
    body:
      json:
        /method: { not_one_of: [tools/call, resources/write] }
    decision: allow
"#,
    );
    let url = "POST https://mcp.example.com/mcp";
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert!(decide(&set, url, Some(list)).is_allowed());
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}"#;
    let d = decide(&set, url, Some(call));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.failed_condition.as_deref(),
        Some(
            r#"/method = "tools/call" is one of [tools/call, resources/write], which not_one_of excludes"#
        )
    );
    let d = decide(&set, url, Some(r#"{"jsonrpc":"2.0","id":3}"#));
    assert_eq!(d.failed_condition.as_deref(), Some("/method is missing"));
}
