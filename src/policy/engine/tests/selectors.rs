//! Selector and target tests: methods, agents, schemes, ports, hosts (case, IDNA,
//! wildcards), invalid targets, duplicate slashes, query/header/capture conditions, and the
//! early CONNECT check.

use super::{decide, request, rules};
use crate::policy::{AgentId, Verdict};

#[test]
fn selectors_match_methods_agents_schemes_ports_and_hosts() {
    let set = rules(
        r#"
agents:
  bot: { token: env:BOT }
rules:
  - id: bots-only
    agents: [bot]
    method: [GET, HEAD]
    url: https://*.example.com/data/**
    decision: allow
  - id: plain-http
    url: http://legacy.test:8080/{item}
    decision: allow
"#,
    );
    let bot = AgentId::new("bot");
    let get = |line: &str, agent: Option<&AgentId>| {
        set.decide_sample(&request(line, None), agent).verdict
    };
    assert_eq!(
        get("GET https://a.example.com/data/x/y", Some(&bot)),
        Verdict::Allow
    );
    assert_eq!(
        get("HEAD https://a.b.example.com/data", Some(&bot)),
        Verdict::Allow
    );
    assert_eq!(
        get("GET https://a.example.com/data/x", None),
        Verdict::Deny,
        "agent required"
    );
    assert_eq!(
        get(
            "GET https://a.example.com/data/x",
            Some(&AgentId::new("other"))
        ),
        Verdict::Deny
    );
    assert_eq!(
        get("POST https://a.example.com/data/x", Some(&bot)),
        Verdict::Deny
    );
    assert_eq!(
        get("GET https://example.com/data/x", Some(&bot)),
        Verdict::Deny,
        "apex is not a subdomain"
    );
    assert_eq!(
        get("GET http://a.example.com/data/x", Some(&bot)),
        Verdict::Deny,
        "scheme"
    );
    assert_eq!(
        get("GET https://a.example.com:8443/data/x", Some(&bot)),
        Verdict::Deny,
        "port"
    );
    let d = set.decide_sample(
        &request("DELETE http://LEGACY.test.:8080/thing", None),
        None,
    );
    assert!(d.is_allowed(), "{d:#?}");
    assert_eq!(d.captures, vec![("item".to_owned(), "thing".to_owned())]);
    assert_eq!(
        get("GET http://legacy.test/thing", None),
        Verdict::Deny,
        "default port 80 is not 8080"
    );
}

#[test]
fn host_matching_is_case_insensitive_and_idna_aware_path_is_case_sensitive() {
    let set =
        rules("rules:\n  - id: a\n    url: https://bücher.example/Docs\n    decision: allow\n");
    assert!(decide(&set, "GET https://XN--BCHER-KVA.example./Docs", None).is_allowed());
    assert!(decide(&set, "GET https://Bücher.example/Docs", None).is_allowed());
    assert!(!decide(&set, "GET https://bücher.example/docs", None).is_allowed());
}

#[test]
fn invalid_targets_are_denied_with_the_reason() {
    let set = rules("rules:\n  - id: a\n    url: https://a.com/**\n    decision: allow\n");
    for (path, why) in [
        ("/x/%2e%2e/etc", "dot segment"),
        ("/x/../y", "dot segment"),
        ("/x%2Fy", "encoded slash"),
        ("/x%5cy", "backslash"),
        ("/x/%252e%252e/y", "encoded twice"),
        ("/x/..;/y", "dot segment"),
    ] {
        let d = decide(&set, &format!("GET https://a.com{path}"), None);
        assert_eq!(d.verdict, Verdict::Deny);
        assert!(
            d.reason.starts_with("invalid request target:") && d.reason.contains(why),
            "{path}: {}",
            d.reason
        );
    }
    let d = decide(&set, "GET https://a.com/x/%2541/y", None);
    assert!(
        d.is_allowed(),
        "`%2541` decodes once to literal %41: {d:#?}"
    );
}

#[test]
fn duplicate_slashes_do_not_match_single_slash_patterns() {
    let set = rules("rules:\n  - id: a\n    url: https://a.com/x/y\n    decision: allow\n");
    assert!(decide(&set, "GET https://a.com/x/y", None).is_allowed());
    let d = decide(&set, "GET https://a.com/x//y", None);
    assert!(d.reason.contains("empty segment"), "{d:#?}");
    assert!(!decide(&set, "GET https://a.com//x/y", None).is_allowed());
}

#[test]
fn query_header_and_capture_conditions() {
    let set = rules(
        r#"
rules:
  - id: list
    method: GET
    url: https://api.example.com/repos/{owner}/issues
    captures: { owner: { one_of: [acme] } }
    query:
      per_page: { max: 100 }
      state: { one_of: [open, closed] }
      debug: { absent: true }
    headers:
      X-Api-Version: { equals: "2022-11-28" }
    decision: allow
"#,
    );
    let mut ok = request(
        "GET https://api.example.com/repos/acme/issues?per_page=50&state=open",
        None,
    );
    ok.headers
        .insert("x-api-version", "2022-11-28".parse().unwrap());
    assert!(set.decide_sample(&ok, None).is_allowed());
    let cases = [
        (
            "/repos/evil/issues?per_page=50&state=open",
            r#"capture.owner = "evil" is not one of [acme]"#,
        ),
        (
            "/repos/acme/issues?per_page=500&state=open",
            r#"query.per_page = "500" is above max 100"#,
        ),
        (
            "/repos/acme/issues?per_page=5&state=all",
            r#"query.state = "all" is not one of [open, closed]"#,
        ),
        ("/repos/acme/issues?per_page=5", "query.state is missing"),
        (
            "/repos/acme/issues?per_page=5&state=open&debug=1",
            "query.debug is present but must be absent",
        ),
        (
            "/repos/acme/issues?per_page=5&state=open&state=closed",
            r#"query.state = ["open","closed"] is not one of [open, closed]"#,
        ),
    ];
    for (path, failure) in cases {
        let mut r = request(&format!("GET https://api.example.com{path}"), None);
        r.headers
            .insert("x-api-version", "2022-11-28".parse().unwrap());
        let d = set.decide_sample(&r, None);
        assert_eq!(
            d.failed_condition.as_deref(),
            Some(failure),
            "{path}: {d:#?}"
        );
    }
    let no_header = decide(
        &set,
        "GET https://api.example.com/repos/acme/issues?per_page=5&state=open",
        None,
    );
    assert_eq!(
        no_header.failed_condition.as_deref(),
        Some("header.x-api-version is missing")
    );
    let bad_query = decide(
        &set,
        "GET https://api.example.com/repos/acme/issues?per_page=%zz",
        None,
    );
    assert_eq!(bad_query.verdict, Verdict::Deny);
    assert!(
        bad_query.reason.starts_with("query string is not valid"),
        "{}",
        bad_query.reason
    );
}

#[test]
fn admits_connect_considers_every_rule_for_the_host_and_port() {
    let set = rules(
        r#"
agents:
  bot: { token: env:BOT }
rules:
  - id: deny-all
    url: https://blocked.example.com/**
    decision: deny
  - id: alt-port
    url: "https://api.example.com:8443/**"
    decision: allow
  - id: bots
    agents: [bot]
    url: https://bots.example.com/
    decision: allow
"#,
    );
    assert!(
        set.admits_connect("blocked.example.com", 443, None),
        "deny rules admit the CONNECT too"
    );
    assert!(set.admits_connect("API.example.com.", 8443, None));
    assert!(!set.admits_connect("api.example.com", 443, None));
    assert!(!set.admits_connect("unknown.example.com", 443, None));
    assert!(!set.admits_connect("bots.example.com", 443, None));
    assert!(set.admits_connect("bots.example.com", 443, Some(&AgentId::new("bot"))));
    assert!(!set.admits_connect("bad host", 443, None));
}
