//! Drafts from hand-made entries: one rule per endpoint with captures, comments listing
//! names seen, tests that pass, and nothing else allowed.

use super::*;
use crate::audit::{Mode, Observed, WouldRecord};

fn entry(method: &str, host: &str, path: &str) -> AuditEntry {
    let mut e = AuditEntry::new("r", "127.0.0.1:1", method, "https", host, 443, path);
    e.decision = AuditDecision::Allow;
    e.mode = Mode::Learn;
    e
}

fn sample_log() -> Vec<AuditEntry> {
    let mut post = entry("POST", "api.example.com", "/repos/acme/issues");
    post.observed = Some(Observed {
        auth: vec!["authorization".into()],
        json_fields: vec!["labels".into(), "title".into()],
    });
    post.would = Some(WouldRecord {
        decision: AuditDecision::Deny,
        failed_condition: None,
        reason: "no rule allows POST https://api.example.com/repos/acme/issues".into(),
        rule: None,
    });
    let mut list = entry("GET", "api.example.com", "/repos/acme/issues");
    list.query = Some("page=[redacted]&per_page=[redacted]".into());
    let mut other_port = entry("GET", "files.example.com", "/blobs/9fceb02d0ae598e9");
    other_port.port = 8443;
    let mut refused = entry("GET", "api.example.com", "/admin");
    refused.decision = AuditDecision::Deny;
    vec![
        post,
        list,
        entry("GET", "api.example.com", "/repos/acme/issues/42"),
        entry("GET", "api.example.com", "/repos/acme/issues/43"),
        entry(
            "DELETE",
            "api.example.com",
            "/sessions/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        ),
        other_port,
        refused,
    ]
}

fn decide(yaml: &str, request: &str) -> Verdict {
    let rules = compile(yaml).unwrap();
    rules
        .decide_sample(&SampleRequest::parse(request).unwrap(), None)
        .verdict
}

#[test]
fn a_draft_has_one_rule_per_endpoint_and_allows_exactly_what_was_forwarded() {
    let draft = draft(&sample_log(), &Filter::default()).unwrap();
    let yaml = &draft.yaml;
    assert_eq!((draft.rules, draft.requests), (5, 6), "{yaml}");
    for want in [
        r#"url: "https://api.example.com/repos/acme/issues/{issue}""#,
        r#"url: "https://api.example.com/sessions/{session}""#,
        r#"url: "https://files.example.com:8443/blobs/{blob}""#,
        "# seen 2 times",
        "# query parameters seen: page, per_page",
        "# JSON body fields seen: labels, title",
        "# the rules in force deny this (the default deny)",
        "#       hosts: [api.example.com]",
        "inject: [api-example-com]",
        r#"request: "GET https://unseen-host.invalid/""#,
    ] {
        assert!(yaml.contains(want), "missing {want:?} in:\n{yaml}");
    }
    assert_eq!(
        decide(yaml, "GET https://api.example.com/repos/acme/issues/7"),
        Verdict::Allow
    );
    assert_eq!(
        decide(yaml, "GET https://api.example.com/admin"),
        Verdict::Deny
    );
    assert_eq!(
        decide(yaml, "DELETE https://api.example.com/repos/acme/issues/7"),
        Verdict::Deny
    );
    assert_eq!(
        decide(yaml, "GET https://api.example.com/repos/acme/issues/7/x"),
        Verdict::Deny
    );
    assert_eq!(
        decide(yaml, "GET https://files.example.com/blobs/ab12cd34ef"),
        Verdict::Deny
    );
    assert_eq!(decide(yaml, "GET https://new.example.com/"), Verdict::Deny);
    assert!(compile(yaml).unwrap().run_tests().all_passed());
}

#[test]
fn the_agent_filter_keeps_its_requests_and_an_empty_log_drafts_nothing() {
    let mut log = sample_log();
    log[0].agent = Some("bot".into());
    let filter = Filter {
        agent: Some("bot".into()),
        source: "audit.jsonl".into(),
    };
    let draft = draft(&log, &filter).unwrap();
    assert_eq!(draft.rules, 1, "{}", draft.yaml);
    assert!(draft.yaml.contains("of agent bot"));
    let none = Filter {
        agent: Some("other".into()),
        source: String::new(),
    };
    assert_eq!(
        super::draft(&log, &none).unwrap_err(),
        SuggestError::Nothing(" of agent other".into())
    );
}

#[test]
fn odd_paths_and_methods_still_compile() {
    let log = vec![
        entry("GET", "h.example", "/"),
        entry("GET", "h.example", "/a%20b/c"),
        entry("PROPFIND", "h.example", "/dav/x"),
        entry("GET", "h.example", "/items/new"),
        entry("GET", "h.example", "/items/12"),
        entry("GET", "h.example", "/items/"),
        entry("GET", "h.example", "/v1/users/u_9f8e7d6c5b4a/keys"),
    ];
    let draft = draft(&log, &Filter::default()).unwrap();
    assert!(
        draft.yaml.contains(r#"url: "https://h.example/a%20b/c""#),
        "{}",
        draft.yaml
    );
    assert_eq!(
        decide(&draft.yaml, "GET https://h.example/"),
        Verdict::Allow
    );
}
