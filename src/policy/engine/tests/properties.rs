//! Property tests: `decide` never panics and always returns a decision, and adding a deny
//! rule never turns a deny into an allow.

use proptest::prelude::*;

use super::rules;
use crate::policy::{RequestBody, RequestHead, RuleSet, Scheme, Source, Verdict};

const BASE: &str = r#"
patterns:
  secrets: ['ghp_[A-Za-z0-9]{8}']
rules:
  - id: issues
    method: POST
    url: https://api.example.com/repos/{owner}/*/issues
    captures: { owner: { one_of: [acme] } }
    body:
      max_size: 4KiB
      json:
        /labels/*: { one_of: [bug, triage] }
        /title: { max_len: 50 }
      must_not_match: [secrets]
    decision: allow
  - id: forms
    method: POST
    url: https://api.example.com/form
    body: { form: { /to: { regex: '@example\.com$' } } }
    decision: allow
  - id: reads
    method: [GET, HEAD]
    url: https://*.example.com/**
    query: { limit: { max: 100 } }
    decision: allow
  - id: approve-deletes
    method: DELETE
    url: https://api.example.com/**
    decision: approve
"#;

fn head_parts() -> impl Strategy<Value = (String, String, u16, String, Option<String>, bool)> {
    (
        prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            Just("DELETE".to_owned()),
            "[A-Z]{1,7}"
        ],
        prop_oneof![
            Just("api.example.com".to_owned()),
            Just("x.example.com".to_owned()),
            Just("API.EXAMPLE.COM.".to_owned()),
            "\\PC{0,20}",
        ],
        prop_oneof![Just(443u16), Just(80u16), any::<u16>()],
        prop_oneof![
            Just("/repos/acme/web/issues".to_owned()),
            Just("/form".to_owned()),
            "(/[a-z%0-9.\\\\]{0,6}){0,6}",
            "\\PC{0,30}",
        ],
        proptest::option::of("[a-z=&%0-9+]{0,20}"),
        any::<bool>(),
    )
}

fn body_parts() -> impl Strategy<Value = Option<(Vec<u8>, Option<String>, bool)>> {
    proptest::option::of((
        prop_oneof![
            Just(br#"{"labels":["bug"],"title":"t"}"#.to_vec()),
            Just(b"to=a%40example.com".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..256),
        ],
        proptest::option::of(prop_oneof![
            Just("gzip".to_owned()),
            Just("deflate".to_owned()),
            Just("br".to_owned()),
            Just("zstd".to_owned()),
            "[a-z, ]{0,10}",
        ]),
        any::<bool>(),
    ))
}

fn decide_with(
    set: &RuleSet,
    (method, host, port, path, query, https): &(String, String, u16, String, Option<String>, bool),
    body: &Option<(Vec<u8>, Option<String>, bool)>,
) -> crate::policy::Decision {
    let method = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET);
    let headers = http::HeaderMap::new();
    let head = RequestHead {
        method: &method,
        scheme: if *https { Scheme::Https } else { Scheme::Http },
        host,
        port: *port,
        path,
        query: query.as_deref(),
        headers: &headers,
    };
    let body = body
        .as_ref()
        .map(|(bytes, encoding, truncated)| RequestBody {
            bytes,
            content_encoding: encoding.as_deref(),
            content_type: None,
            truncated: *truncated,
        });
    let _ = set.body_need(&head, None);
    let _ = set.admits_connect(host, *port, None);
    set.decide(&head, body.as_ref(), None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decide_never_panics_and_always_decides(head in head_parts(), body in body_parts()) {
        let set = rules(BASE);
        let d = decide_with(&set, &head, &body);
        prop_assert!(!d.reason.is_empty());
        if d.verdict == Verdict::Allow {
            prop_assert!(d.rule.is_some());
        }
        let _ = crate::policy::explain(&d);
    }

    #[test]
    fn adding_a_deny_rule_never_turns_a_deny_into_an_allow(
        head in head_parts(),
        body in body_parts(),
        deny_method in prop_oneof![Just("GET"), Just("POST"), Just("*")],
        deny_host in prop_oneof![Just("api.example.com"), Just("*.example.com"), Just("other.com")],
        deny_path in prop_oneof![Just("/**"), Just("/repos/**"), Just("/form"), Just("/*")],
        deny_cond in prop_oneof![
            Just(""),
            Just("\n    query: { limit: { min: 10 } }"),
            Just("\n    body: { json: { /title: { present: true } } }"),
        ],
    ) {
        let base = rules(BASE);
        let extra = format!(
            "rules:\n  - id: extra-deny\n    method: \"{deny_method}\"\n    url: \"https://{deny_host}{deny_path}\"{deny_cond}\n    decision: deny\n"
        );
        let more = RuleSet::compile(&[
            Source { path: "base.yaml".into(), text: BASE.into() },
            Source { path: "extra.yaml".into(), text: extra },
        ]).unwrap();
        let before = decide_with(&base, &head, &body);
        let after = decide_with(&more, &head, &body);
        if before.verdict != Verdict::Allow {
            prop_assert_ne!(after.verdict, Verdict::Allow);
        }
        if before.verdict == Verdict::Deny {
            prop_assert_eq!(after.verdict, Verdict::Deny);
        }
    }
}
