//! Engine tests: the semantics table, selectors, bodies, shadow mode, invalid targets, and
//! property tests (never panics; adding a deny rule never turns a deny into an allow).

mod bodies;
mod graphql;
mod mcp;
mod properties;
mod selectors;
mod spellings;

use crate::policy::{BodyNeed, Decision, Mode, RuleSet, SampleRequest, Source, Verdict};

pub(super) fn rules(text: &str) -> RuleSet {
    RuleSet::compile(&[Source {
        path: "t.yaml".into(),
        text: text.into(),
    }])
    .unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn request(line: &str, body: Option<&str>) -> SampleRequest {
    let mut r = SampleRequest::parse(line).unwrap();
    r.body = body.map(|b| b.as_bytes().to_vec());
    r
}

pub(super) fn decide(set: &RuleSet, line: &str, body: Option<&str>) -> Decision {
    set.decide_sample(&request(line, body), None)
}

fn rule_name(d: &Decision) -> Option<&str> {
    d.rule.as_ref().map(|r| r.as_str())
}

/// One allow, one deny and one approve rule on the same endpoint, each matching only when
/// its query condition holds, so each row of the table picks which rules match.
const TABLE_RULES: &str = r#"
rules:
  - id: allow-it
    method: POST
    url: https://api.example.com/things
    query: { allow: { equals: "1" } }
    decision: allow
  - id: deny-it
    method: POST
    url: https://api.example.com/things
    query: { deny: { equals: "1" } }
    decision: deny
  - id: approve-it
    method: POST
    url: https://api.example.com/things
    query: { approve: { equals: "1" } }
    decision: approve
"#;

#[test]
fn semantics_table() {
    let set = rules(TABLE_RULES);
    // (query, expected verdict, expected rule)
    let table: &[(&str, Verdict, Option<&str>)] = &[
        ("allow=1", Verdict::Allow, Some("allow-it")),
        ("deny=1", Verdict::Deny, Some("deny-it")),
        ("approve=1", Verdict::Approve, Some("approve-it")),
        ("allow=1&deny=1", Verdict::Deny, Some("deny-it")),
        ("allow=1&approve=1", Verdict::Approve, Some("approve-it")),
        ("deny=1&approve=1", Verdict::Deny, Some("deny-it")),
        ("allow=1&deny=1&approve=1", Verdict::Deny, Some("deny-it")),
        // The allow rule's selector matched, its condition failed: named in the denial.
        ("", Verdict::Deny, Some("allow-it")),
    ];
    for (query, verdict, rule) in table {
        let d = decide(
            &set,
            &format!("POST https://api.example.com/things?{query}"),
            None,
        );
        assert_eq!(
            (d.verdict, rule_name(&d)),
            (*verdict, *rule),
            "query {query}: {d:#?}"
        );
        assert_eq!(d.mode, Mode::Enforce);
    }
}

#[test]
fn no_matching_rule_is_the_default_deny() {
    let set = rules(TABLE_RULES);
    for line in [
        "GET https://api.example.com/things",
        "POST https://other.example.com/things",
        "POST https://api.example.com/other",
    ] {
        let d = decide(&set, line, None);
        assert_eq!(
            (d.verdict, d.rule.as_ref(), d.reason.as_str()),
            (Verdict::Deny, None, crate::policy::NO_RULE),
            "{line}"
        );
    }
}

#[test]
fn failed_requirement_names_rule_and_condition() {
    let set = rules(
        r#"
rules:
  - id: github-create-issue
    method: POST
    url: https://api.github.com/repos/acme/*/issues
    body:
      json:
        /labels/*: { one_of: [bug, triage] }
    decision: allow
"#,
    );
    let d = decide(
        &set,
        "POST https://api.github.com/repos/acme/web/issues",
        Some(r#"{"labels":["bug","wontfix"]}"#),
    );
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(rule_name(&d), Some("github-create-issue"));
    let expected = r#"/labels/1 = "wontfix" is not one of [bug, triage]"#;
    assert_eq!(d.failed_condition.as_deref(), Some(expected));
    assert_eq!(d.reason, expected);
    let ok = decide(
        &set,
        "POST https://api.github.com/repos/acme/web/issues",
        Some(r#"{"labels":["bug"]}"#),
    );
    assert!(ok.is_allowed(), "{ok:#?}");
}

#[test]
fn shadow_rules_are_reported_never_enforced() {
    let set = rules(
        r#"
rules:
  - id: allow-get
    method: GET
    url: https://api.example.com/**
    decision: allow
  - id: new-deny
    mode: shadow
    method: GET
    url: https://api.example.com/admin/**
    decision: deny
  - id: new-allow
    mode: shadow
    method: POST
    url: https://api.example.com/**
    decision: allow
"#,
    );
    let d = decide(&set, "GET https://api.example.com/admin/users", None);
    assert!(d.is_allowed(), "shadow deny does not block");
    assert_eq!((d.mode, rule_name(&d)), (Mode::Shadow, Some("allow-get")));
    let shadow = d.shadow.unwrap();
    assert_eq!(
        (shadow.verdict, shadow.rule.unwrap().as_str()),
        (Verdict::Deny, "new-deny")
    );

    let d = decide(&set, "POST https://api.example.com/x", None);
    assert_eq!(
        (d.verdict, d.rule.as_ref(), d.mode),
        (Verdict::Deny, None, Mode::Shadow),
        "shadow allow does not allow"
    );
    assert_eq!(d.shadow.unwrap().verdict, Verdict::Allow);

    let d = decide(&set, "GET https://api.example.com/public", None);
    assert_eq!(
        (d.mode, d.shadow),
        (Mode::Enforce, None),
        "no disagreement, nothing reported"
    );
    assert!(set.admits_connect("api.example.com", 443, None));
}

#[test]
fn body_need_follows_matching_rules() {
    let set = rules(
        r#"
rules:
  - id: small
    method: POST
    url: https://a.com/x
    body: { max_size: 1KiB, json: { /a: { present: true } } }
    decision: allow
  - id: large-shadow
    mode: shadow
    method: POST
    url: https://a.com/**
    body: { max_size: 4KiB, must_not_match: ['(?:secret)'] }
    decision: deny
  - id: get
    method: GET
    url: https://a.com/**
    decision: allow
"#,
    );
    let need = |line: &str| {
        let r = request(line, None);
        set.body_need(&r.head(), None)
    };
    assert_eq!(
        need("POST https://a.com/x"),
        BodyNeed::Inspect { max_size: 4096 }
    );
    assert_eq!(
        need("POST https://a.com/y"),
        BodyNeed::Inspect { max_size: 4096 }
    );
    assert_eq!(need("GET https://a.com/x"), BodyNeed::None);
    assert_eq!(need("GET https://b.com/x"), BodyNeed::None);
}

#[test]
fn approve_carries_the_rule_and_its_injected_secrets() {
    let set = rules(
        r#"
secrets:
  api: { from: env:API, hosts: [pay.example.com] }
rules:
  - id: refund
    method: POST
    url: https://pay.example.com/refunds
    inject: [api]
    decision: approve
"#,
    );
    let d = decide(&set, "POST https://pay.example.com/refunds", None);
    assert_eq!(
        (d.verdict, rule_name(&d)),
        (Verdict::Approve, Some("refund"))
    );
    assert_eq!(d.inject[0].as_str(), "api");
    assert_eq!(d.reason, "approval required by rule `refund`");
}
