//! Compiler tests: exact `file:line:col` of each kind of error, and that every error is
//! collected in one pass.

use super::*;
use crate::policy::ruleset::RuleSet;

fn src(path: &str, text: &str) -> Source {
    Source {
        path: path.into(),
        text: text.into(),
    }
}

/// Every error as `file:line:col: message`.
fn errors(sources: &[Source]) -> Vec<String> {
    match RuleSet::compile(sources) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let all = errors(&[src("r.yaml", text)]);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap()
}

#[test]
fn bad_regex_points_at_the_regex() {
    let e = one_error(
        "rules:\n  - id: a\n    url: https://a.com/\n    query:\n      q: { regex: '(unclosed' }\n    decision: allow\n",
    );
    assert_eq!(e, "r.yaml:5:19: invalid regex `(unclosed`: unclosed group");
}

#[test]
fn bad_regex_in_a_pattern_set() {
    let e = one_error("patterns:\n  secrets:\n    - 'ghp_[A-Za-z0-9]{36}'\n    - '[z-a]'\n");
    assert!(e.starts_with("r.yaml:4:7: invalid regex `[z-a]`"), "{e}");
}

#[test]
fn unknown_pattern_set_points_at_the_name() {
    let e = one_error(
        "rules:\n  - id: a\n    url: https://a.com/\n    body:\n      must_not_match: [secrets]\n    decision: allow\n",
    );
    assert!(
        e.starts_with("r.yaml:5:24: unknown pattern set `secrets`"),
        "{e}"
    );
}

#[test]
fn duplicate_id_across_files_names_both_places() {
    let rule = "rules:\n  - id: same\n    url: https://a.com/\n    decision: allow\n";
    let all = errors(&[src("a.yaml", rule), src("b.yaml", &format!("\n{rule}"))]);
    assert_eq!(
        all,
        vec!["b.yaml:3:9: duplicate rule id `same` (first defined at a.yaml:2:9)"]
    );
}

#[test]
fn unknown_agent_points_at_the_name() {
    let e = one_error(
        "agents:\n  bot: { token: env:BOT_TOKEN }\nrules:\n  - id: a\n    agents: [bot, ghost]\n    url: https://a.com/\n    decision: allow\n",
    );
    assert_eq!(e, "r.yaml:5:19: unknown agent `ghost`");
}

#[test]
fn unknown_field_points_at_the_key() {
    let e = one_error("rules:\n  - id: a\n    url: https://a.com/\n    decison: allow\n");
    assert!(e.starts_with("r.yaml:4:5: unknown field `decison`"), "{e}");
}

#[test]
fn path_spellings_values_are_allow_or_refuse_with_positions() {
    let e = one_error(
        "rules:\n  - id: a\n    url: https://a.com/\n    decision: allow\n    path_spellings:\n      empty_segments: yes\n",
    );
    assert!(e.starts_with("r.yaml:6:23:"), "{e}");
    assert!(e.contains("allow") && e.contains("refuse"), "{e}");
    let e = one_error(
        "rules:\n  - id: a\n    url: https://a.com/\n    decision: allow\n    path_spellings: { slashes: allow }\n",
    );
    assert!(e.starts_with("r.yaml:5:"), "{e}");
    assert!(e.contains("unknown field `slashes`"), "{e}");
    let set = RuleSet::compile(&[src(
        "r.yaml",
        "rules:\n  - id: a\n    url: https://a.com/\n    decision: allow\n    path_spellings: { empty_segments: allow, parameters: refuse }\n",
    )])
    .unwrap();
    let spellings = set.rules()[0].path_spellings();
    assert!(spellings.empty_segments && !spellings.parameters);
}

#[test]
fn unknown_top_level_key() {
    let e = one_error("rulez: []\n");
    assert!(e.starts_with("r.yaml:1:1: unknown field `rulez`"), "{e}");
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let e = one_error("rules: [\n");
    assert!(e.starts_with("r.yaml:1:"), "{e}");
}

#[test]
fn every_error_is_collected_in_one_pass() {
    let text = r#"
rules:
  - id: a
    url: ftp://a.com/
    decision: allow
  - id: b
    url: https://b.com/
    body:
      json:
        labels: { one_of: [x] }
    inject: [nope]
    limits: { rate: 30 per hour }
    allow_private: [10.0.0.1/8]
    decision: allow
  - id: bad id
    url: https://c.com/{x}
    captures: { y: { equals: 1 } }
    decision: deny
tests:
  - request: GET https://b.com/
    expect: allow
    rule: missing
"#;
    let all = errors(&[src("r.yaml", text)]);
    let expected = [
        "r.yaml:4:10: invalid URL pattern `ftp://a.com/`: unknown scheme `ftp` (use https, http or *)",
        "r.yaml:10:9: invalid JSON pointer `labels`: must start with `/`",
        "r.yaml:11:14: unknown secret `nope`",
        "r.yaml:12:21: invalid rate `30 per hour` (e.g. 30/hour, 5/second, 100/minute, 1000/day)",
        "r.yaml:13:21: invalid CIDR `10.0.0.1/8`: host bits are set",
        "r.yaml:15:9: invalid rule id `bad id` (use letters, digits, `-`, `_`, `.`; `allow:` is reserved)",
        "r.yaml:17:17: unknown capture `y`: the url has no `{y}`",
        "r.yaml:22:11: unknown rule `missing`",
    ];
    assert_eq!(all, expected);
}

#[test]
fn bad_durations_point_at_the_value() {
    let text = "rules:\n  - id: a\n    url: https://a.com/\n    limits: { rate: 3/fortnight }\n    decision: allow\n  - id: b\n    url: https://b.com/\n    approval: { timeout: 5 }\n    decision: approve\n";
    let all = errors(&[src("r.yaml", text)]);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].starts_with("r.yaml:4:21: invalid rate `3/fortnight`: unknown time unit"),
        "{all:#?}"
    );
    assert_eq!(
        all[1],
        "r.yaml:8:26: invalid duration `5`: time unit needed, for example 5sec or 5ms (e.g. 30s, 5m, 2h, 1d)"
    );
}

#[test]
fn secrets_are_bound_to_their_hosts() {
    let text = r#"
secrets:
  github: { from: env:GITHUB_TOKEN, hosts: [api.github.com] }
rules:
  - id: a
    url: https://evil.com/
    inject: [github]
    set_headers: { Authorization: "Bearer {{github}}" }
    decision: allow
"#;
    let e = one_error(text);
    assert_eq!(
        e,
        "r.yaml:7:14: secret `github` may not be sent to `evil.com` (its hosts: api.github.com)"
    );
}

#[test]
fn set_headers_must_inject_their_secrets() {
    let text = r#"
secrets:
  github: { from: env:GITHUB_TOKEN, hosts: ["*.github.com"] }
rules:
  - id: a
    url: https://api.github.com/
    set_headers: { Authorization: "Bearer {{github}}" }
    decision: allow
"#;
    let e = one_error(text);
    assert_eq!(
        e,
        "r.yaml:7:35: secret `github` is used but not listed in `inject:`"
    );
}

#[test]
fn contradictory_conditions_are_errors() {
    let base = |cond: &str| {
        format!(
            "rules:\n  - id: a\n    url: https://a.com/\n    query:\n      q: {cond}\n    decision: allow\n"
        )
    };
    assert!(one_error(&base("{}")).contains("condition has no test"));
    assert!(one_error(&base("{ min: 5, max: 1 }")).contains("min 5 is above max 1"));
    assert!(one_error(&base("{ absent: true, equals: 1 }")).contains("absent cannot be combined"));
    assert!(one_error(&base("{ absent: true, present: true }")).contains("contradict"));
    assert!(one_error(&base("{ one_of: [] }")).contains("one_of is empty"));
    assert!(one_error(&base("{ not_one_of: [] }")).contains("not_one_of is empty"));
    assert!(
        one_error(&base("{ absent: true, not_equals: 1 }")).contains("absent cannot be combined")
    );
    assert_eq!(
        one_error(&base("{ not_regex: '(open' }")),
        "r.yaml:5:23: invalid regex `(open`: unclosed group"
    );
    assert!(
        one_error(&base("{ optional: true, present: true, max: 1 }"))
            .contains("optional and present contradict")
    );
}

#[test]
fn declarations_are_parsed_not_resolved() {
    let text = r#"
secrets:
  github:
    from: env:GITHUB_TOKEN
    placeholder: keyward:github:7f3c
    env: GITHUB_TOKEN
    hosts: [api.github.com]
    methods: [GET, POST]
    paths: [/repos/**]
  vault:
    from: [vault, read, -field=token, secret/x]
    hosts: ["*.example.com"]
agents:
  bot: { token: "file:/run/secrets/bot" }
  ci: { token: { exec: [print-token, ci] } }
"#;
    let set = RuleSet::compile(&[src("d.yaml", text)]).unwrap();
    let secrets = set.secrets();
    assert_eq!(secrets.len(), 2);
    assert_eq!(
        secrets[0].source,
        crate::policy::CredentialSource::Env("GITHUB_TOKEN".into())
    );
    assert_eq!(
        secrets[0].placeholder.as_deref(),
        Some("keyward:github:7f3c")
    );
    assert_eq!(secrets[0].methods.as_ref().unwrap().len(), 2);
    assert!(
        matches!(&secrets[1].source, crate::policy::CredentialSource::Exec(argv) if argv.len() == 4)
    );
    assert_eq!(set.agents().len(), 2);
    assert_eq!(
        set.agents()[0].token,
        crate::policy::CredentialSource::File("/run/secrets/bot".into())
    );
    let e = one_error("secrets:\n  x: { from: 'vault:x', hosts: [a.com] }\n");
    assert!(
        e.starts_with("r.yaml:2:14: invalid credential source"),
        "{e}"
    );
}

#[test]
fn later_issue_keys_are_carried() {
    let text = r#"
patterns:
  secrets: ['ghp_[A-Za-z0-9]{36}']
secrets:
  github: { from: env:GITHUB_TOKEN, hosts: [api.github.com] }
rules:
  - id: a
    url: https://api.github.com/**
    inject: [github]
    set_headers: { Authorization: "Bearer {{github}}" }
    limits: { rate: 30/hour, burst: 5, per: rule }
    response: { redact_json: [/token], redact_patterns: [secrets] }
    allow_private: [10.0.0.0/8, "fd00::/8"]
    decision: approve
    approval: { timeout: 5m, webhook: "https://hooks.example.com/approve" }
"#;
    let set = RuleSet::compile(&[src("x.yaml", text)]).unwrap();
    let rule = &set.rules()[0];
    assert_eq!(rule.inject()[0].as_str(), "github");
    assert_eq!(rule.set_headers()[0].name.as_str(), "authorization");
    let limits = rule.limits().unwrap().rate.clone().unwrap();
    assert_eq!(
        (limits.count, limits.window.as_secs(), limits.burst),
        (30, 3600, Some(5))
    );
    assert_eq!(rule.approval().unwrap().timeout.unwrap().as_secs(), 300);
    assert_eq!(rule.response().unwrap().redact_patterns, vec!["secrets"]);
    assert_eq!(rule.allow_private().len(), 2);
    assert_eq!(
        set.summary().to_string(),
        "1 rules, 1 hosts, 1 secrets, 0 agents, 1 pattern sets, 0 tests"
    );
}

#[test]
fn empty_files_compile_to_nothing() {
    let set = RuleSet::compile(&[src("e.yaml", ""), src("c.yaml", "# only a comment\n")]).unwrap();
    assert_eq!(set.summary().rules, 0);
}

#[test]
fn strip_location_keeps_the_message() {
    assert_eq!(
        strip_location("unknown field `x` at line 3, column 5"),
        "unknown field `x`"
    );
    assert_eq!(strip_location("no position here"), "no position here");
}

#[test]
fn token_budgets_compile_with_or_without_a_rate() {
    let text = "rules:\n  - id: a\n    url: https://api.openai.com/**\n    limits: { tokens: 2M/day }\n    decision: allow\n  - id: b\n    url: https://api.anthropic.com/**\n    limits: { tokens: 100k/hour, rate: 10/minute, per: rule }\n    decision: allow\n";
    let set = RuleSet::compile(&[src("r.yaml", text)]).unwrap();
    let a = set.rules()[0].limits().unwrap();
    assert_eq!(a.rate, None);
    let tokens = a.tokens.unwrap();
    assert_eq!(
        (tokens.tokens, tokens.window.as_secs()),
        (2_000_000, 86_400)
    );
    let b = set.rules()[1].limits().unwrap();
    assert_eq!(b.tokens.unwrap().tokens, 100_000);
    assert_eq!(b.rate.as_ref().unwrap().count, 10);
}

#[test]
fn bad_token_budgets_point_at_the_value() {
    let text = "rules:\n  - id: a\n    url: https://a.com/\n    limits: { tokens: lots }\n    decision: allow\n  - id: b\n    url: https://b.com/\n    limits: { tokens: 0/day }\n    decision: allow\n  - id: c\n    url: https://c.com/\n    limits: { per: rule }\n    decision: allow\n  - id: d\n    url: https://d.com/\n    limits: { tokens: 5k/day, burst: 3 }\n    decision: allow\n";
    let all = errors(&[src("r.yaml", text)]);
    assert_eq!(
        all,
        vec![
            "r.yaml:4:23: invalid token budget `lots` (e.g. 2M/day, 100k/hour, 50000/15m)",
            "r.yaml:8:23: token budget `0/day` allows nothing; use `decision: deny` instead",
            "r.yaml:10:9: rule `c` has `limits:` without `rate:` or `tokens:`",
            "r.yaml:14:9: rule `d` has `limits.burst:` without `rate:`",
        ],
        "{all:#?}"
    );
}

#[test]
fn secrets_methods_and_paths_are_checked_with_their_positions() {
    let text = "secrets:\n  github:\n    from: env:GITHUB_TOKEN\n    hosts: [api.github.com]\n    methods: [GET, post]\n    paths: [/repos/**, 'repos/x', '/a/{x}/{x}']\n";
    let all = errors(&[src("r.yaml", text)]);
    assert_eq!(
        all,
        [
            "r.yaml:5:20: invalid method `post` (methods are upper case, e.g. GET)",
            "r.yaml:6:24: path `repos/x` must start with `/`",
            "r.yaml:6:35: capture `{x}` appears twice",
        ]
    );
}

mod credential_kinds;
