//! RuleSet tests: sharing across threads, what a CONNECT or a DNS name may reach, the
//! shipped rules.

use super::*;

#[test]
fn rule_sets_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    assert_send_sync::<std::sync::Arc<RuleSet>>();
}

#[test]
fn a_connect_may_reach_the_ranges_of_the_rules_that_could_match_it() {
    let text = "rules:
  - id: open
    url: https://10.20.0.5/open/**
    decision: allow
    allow_private: [10.20.0.0/16]
  - id: other-port
    url: https://10.20.0.5:8443/**
    decision: allow
    allow_private: [10.30.0.0/16]
  - id: shut
    url: https://10.20.0.5/shut/**
    decision: allow
";
    let set = RuleSet::compile(&[Source {
        path: "p.yaml".into(),
        text: text.into(),
    }])
    .unwrap();
    let ranges = set.connect_allow_private("10.20.0.5", 443, None);
    assert_eq!(
        ranges,
        vec!["10.20.0.0/16".parse::<ipnet::IpNet>().unwrap()]
    );
    assert!(set.connect_allow_private("10.20.0.6", 443, None).is_empty());
}

#[test]
fn shipped_rules_summary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let set = RuleSet::load_dir(&dir).unwrap();
    let summary = set.summary();
    assert_eq!(
        (summary.rules, summary.agents, summary.patterns),
        (25, 0, 1)
    );
    assert!(set.rule(&RuleId::new("github-create-issue")).is_some());
}

/// The rule set compiled from one file's text.
fn compiled(text: &str) -> RuleSet {
    RuleSet::compile(&[Source {
        path: "p.yaml".into(),
        text: text.into(),
    }])
    .unwrap()
}

#[test]
fn a_host_is_admitted_on_any_port_by_any_rule_naming_it() {
    let set = compiled(
        "rules:
  - id: api
    url: https://api.example.com:8443/v1/**
    decision: allow
  - id: blocked
    url: https://blocked.example.com/**
    decision: deny
",
    );
    assert!(set.admits_host("api.example.com", None));
    assert!(
        set.admits_host("API.Example.COM.", None),
        "case and a trailing dot"
    );
    assert!(
        set.admits_host("blocked.example.com", None),
        "a deny rule still admits the name: the request is refused with its reason"
    );
    assert!(!set.admits_host("example.com", None));
    assert!(!set.admits_host("c2VjcmV0.attacker.example", None));
    assert!(!set.admits_host("", None));
    assert!(!set.admits_host("bad\\.name.example.com", None));
}

#[test]
fn a_wildcard_admits_its_subdomains_and_not_its_apex() {
    let set = compiled(
        "rules:
  - id: gh
    url: https://*.github.com/**
    decision: allow
",
    );
    assert!(set.admits_host("api.github.com", None));
    assert!(set.admits_host("a.b.github.com", None));
    assert!(!set.admits_host("github.com", None));
    assert!(!set.admits_host("github.com.attacker.example", None));
}

#[test]
fn an_agent_scoped_rule_admits_its_host_for_its_agents_only() {
    let set = compiled(
        "agents:
  bot: { token: env:BOT }
  other: { token: env:OTHER }
rules:
  - id: bots
    agents: [bot]
    url: https://internal.example.com/**
    decision: allow
",
    );
    assert!(set.admits_host("internal.example.com", Some(&AgentId::new("bot"))));
    assert!(!set.admits_host("internal.example.com", Some(&AgentId::new("other"))));
    assert!(!set.admits_host("internal.example.com", None));
}

#[test]
fn an_allow_flag_admits_its_host() {
    let allows: Vec<crate::policy::HostAllow> = vec![
        "pypi.org".parse().unwrap(),
        "files.example.com:8080".parse().unwrap(),
    ];
    let set = RuleSet::compile(&[]).unwrap().with_host_allows(&allows);
    assert!(set.admits_host("pypi.org", None));
    assert!(set.admits_host("files.example.com", None));
    assert!(!set.admits_host("example.com", None));
}
