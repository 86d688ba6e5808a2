//! Compile errors of `actions:` entries, each at its `file:line:col`.

use crate::actions::testing::{compile, errors};

/// A valid action; tests replace one line of it.
const GOOD: &str = "secrets:
  gh:
    from: env:GH
    hosts: [api.github.com]
actions:
  - name: github.create_issue
    description: Create an issue
    inject: [gh]
    input:
      type: object
      required: [repo, title]
      properties:
        repo: {type: string, enum: [widgets]}
        title: {type: string, maxLength: 100}
        body: {type: string}
    request:
      method: POST
      url: https://api.github.com/repos/acme/{repo}/issues
      headers:
        Accept: application/vnd.github+json
      body:
        title: '{title}'
        body: '{body}'
    response:
      fields: [/number, /html_url]
";

fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    errors(&GOOD.replacen(from, to, 1))
}

#[test]
fn a_good_action_compiles() {
    let set = compile(GOOD).unwrap();
    let action = set.action("github.create_issue").unwrap();
    assert_eq!(action.pos().to_string(), "t.yaml:6:11");
    assert_eq!(action.description(), "Create an issue");
    assert_eq!(action.shape().fields.len(), 2);
    assert_eq!(action.inject()[0].as_str(), "gh");
}

#[test]
fn each_problem_is_reported_at_its_position() {
    let cases = [
        (
            "name: github.create_issue",
            "name: GitHub.Create",
            "t.yaml:6:11: invalid action name `GitHub.Create`",
        ),
        (
            "description: Create an issue",
            "description: ''",
            "t.yaml:7:18: empty description",
        ),
        (
            "        body: {type: string}\n",
            "        body: {type: string, format: email}\n",
            "t.yaml:15:30: unknown field `format`",
        ),
        (
            "      type: object\n",
            "      type: object\n      additionalProperties: false\n      oneOf: []\n",
            "t.yaml:12:7: unknown field `oneOf`",
        ),
        (
            "{type: string, maxLength: 100}",
            "{type: integer, maxLength: 100}",
            "t.yaml:14:23: `maxLength` does not apply to type `integer`",
        ),
        (
            "{type: string, maxLength: 100}",
            "{type: text}",
            "t.yaml:14:23: unknown type `text`",
        ),
        (
            "{type: string, maxLength: 100}",
            "{maxLength: 100}",
            "t.yaml:14:9: schema has no `type:`",
        ),
        (
            "{type: string, enum: [widgets]}",
            "{type: string, pattern: '(unclosed'}",
            "t.yaml:13:39: invalid pattern `(unclosed`",
        ),
        (
            "{type: string, enum: [widgets]}",
            "{type: string, enum: [widgets, 5]}",
            "t.yaml:13:22: `enum:` member 5: 5 is not a string",
        ),
        (
            "required: [repo, title]",
            "required: [repo, title, labels]",
            "t.yaml:11:31: required field `labels` is not in `properties:`",
        ),
        (
            "title: '{title}'",
            "title: '{titel}'",
            "t.yaml:22:9: parameter `{titel}` is not a property of the input schema",
        ),
        (
            "Accept: application/vnd.github+json",
            "Accept: '{accept}'",
            "t.yaml:20:17: parameter `{accept}` is not a property",
        ),
        (
            "required: [repo, title]",
            "required: [title]",
            "t.yaml:18:12: parameter `{repo}` must be listed in the input's `required:`",
        ),
        (
            "body: '{body}'",
            "body: 'Text: {body}'",
            "t.yaml:22:9: parameter `{body}` must be listed",
        ),
        (
            "https://api.github.com/repos",
            "https://{host}/repos",
            "t.yaml:18:12: the host of `https://{host}/repos/acme/{repo}/issues` must be fixed",
        ),
        (
            "https://api.github.com/repos",
            "https://api.{env}.github.com/repos",
            "must be fixed",
        ),
        (
            "https://api.github.com/repos",
            "ftp://api.github.com/repos",
            "t.yaml:18:12: invalid scheme `ftp`",
        ),
        ("/issues\n", "/issues#x\n", "has a fragment"),
        ("/issues\n", "/issues?q={repo\n", "unclosed `{`"),
        (
            "/issues\n",
            "//issues\n",
            "has an empty path segment (`//`)",
        ),
        (
            "Accept: application/vnd.github+json",
            "Authorization: 'Bearer {{gh}}'",
            "t.yaml:20:24: `{{…}}` in `Bearer {{gh}}`",
        ),
        (
            "Accept: application/vnd.github+json",
            "Accept: \"a\\x01b\"",
            "t.yaml:20:17: invalid header value text",
        ),
        (
            "method: POST",
            "method: post",
            "t.yaml:17:15: invalid method `post`",
        ),
        (
            "Accept: application",
            "Host: application",
            "t.yaml:20:9: header `host` is set by the proxy",
        ),
        (
            "fields: [/number, /html_url]",
            "fields: [number]",
            "t.yaml:25:16: invalid field `number`",
        ),
        (
            "hosts: [api.github.com]",
            "hosts: [other.example]",
            "t.yaml:8:14: secret `gh` may not be sent to `api.github.com`",
        ),
        (
            "inject: [gh]",
            "inject: [nope]",
            "t.yaml:8:14: unknown secret `nope`",
        ),
        (
            "      type: object\n",
            "      type: string\n",
            "t.yaml:6:11: the input of action `github.create_issue` must be `type: object`",
        ),
        (
            "    response:",
            "    colour: red\n    response:",
            "unknown field `colour`",
        ),
        (
            "    response:",
            "    approval: {timeout: 5m}\n    response:",
            "t.yaml:6:11: action `github.create_issue` has `approval:` but its decision is not approve",
        ),
        (
            "    response:",
            "    limits: {rate: 10/lightyear}\n    response:",
            "t.yaml:24:20: invalid rate `10/lightyear`",
        ),
        (
            "    response:",
            "    limits: {tokens: 2M/day}\n    response:",
            "t.yaml:6:11: action `github.create_issue` has a token budget: an action's `limits:` take `rate:`",
        ),
    ];
    for (from, to, want) in cases {
        let text = with(from, to);
        assert!(text.contains(want), "{to}: want {want} in:\n{text}");
    }
}

#[test]
fn duplicate_names_are_reported_across_files() {
    let err = crate::policy::RuleSet::compile(&[
        crate::policy::Source {
            path: "a.yaml".into(),
            text: GOOD.into(),
        },
        crate::policy::Source {
            path: "b.yaml".into(),
            text: GOOD
                .replace("secrets:\n  gh:", "secrets:\n  gh2:")
                .replace("inject: [gh]", "inject: [gh2]"),
        },
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("b.yaml:6:11: duplicate action name `github.create_issue` (first defined at a.yaml:6:11)"),
        "{err}"
    );
}

#[test]
fn decisions_limits_and_approvals_compile_like_a_rule() {
    let text = GOOD.replace(
        "    response:",
        "    decision: approve\n    approval: {timeout: 5m}\n    limits: {rate: 10/hour}\n    response:",
    );
    let set = compile(&text).unwrap();
    let action = &set.actions()[0];
    assert_eq!(action.verdict(), Some(crate::policy::Verdict::Approve));
    assert!(action.approval().unwrap().timeout.is_some());
    assert_eq!(action.limits().unwrap().rate.as_ref().unwrap().count, 10);
}

#[test]
fn the_shipped_example_action_renders_a_request_the_rules_allow() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let set = crate::policy::RuleSet::load_dir(&dir).unwrap();
    let action = set.action("github.create_issue").unwrap();
    let input = serde_json::json!({"repo": "keyward", "title": "Crash", "labels": ["bug"]});
    let request = action.build(&input).unwrap();
    let mut sample = crate::policy::SampleRequest::from_url(
        request.method().clone(),
        &request.uri().to_string(),
    )
    .unwrap();
    sample.headers = request.headers().clone();
    sample.body = Some(request.body().to_vec());
    let decision = set.decide_sample(&sample, None);
    assert_eq!(
        decision.verdict,
        crate::policy::Verdict::Allow,
        "{decision:?}"
    );
    let bad = serde_json::json!({"repo": "keyward", "title": "x", "labels": ["bug", "wontfix"]});
    assert_eq!(
        action.build(&bad).unwrap_err().to_string(),
        "invalid input: /labels/1: \"wontfix\" is not one of [bug, triage, enhancement, question]"
    );
    let shaped = action
        .shape()
        .apply(br#"{"number": 7, "html_url": "https://github.com/acme/keyward/issues/7", "user": {"login": "bot"}, "state": "open"}"#)
        .unwrap();
    assert_eq!(
        shaped,
        serde_json::json!({"number": 7, "html_url": "https://github.com/acme/keyward/issues/7", "state": "open"})
    );
}

#[test]
fn agents_must_be_declared_and_limit_who_may_use_the_action() {
    let text = GOOD.replace(
        "    inject: [gh]\n",
        "    inject: [gh]\n    agents: [nobody]\n",
    );
    assert!(
        errors(&text).contains("t.yaml:9:14: unknown agent `nobody`"),
        "{}",
        errors(&text)
    );
    let text = format!(
        "agents:\n  ci:\n    token: env:CI_TOKEN\n{}",
        GOOD.replace("    inject: [gh]\n", "    inject: [gh]\n    agents: [ci]\n")
    );
    let set = compile(&text).unwrap();
    let action = &set.actions()[0];
    assert!(action.applies_to(Some(&crate::policy::AgentId::new("ci"))));
    assert!(!action.applies_to(Some(&crate::policy::AgentId::new("other"))));
    assert!(!action.applies_to(None));
}

#[test]
fn the_shipped_email_and_cloud_actions_render_requests_the_rules_decide() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let set = crate::policy::RuleSet::load_dir(&dir).unwrap();
    let decide = |name: &str, input: serde_json::Value| {
        let request = set.action(name).unwrap().build(&input).unwrap();
        let mut sample = crate::policy::SampleRequest::from_url(
            request.method().clone(),
            &request.uri().to_string(),
        )
        .unwrap();
        sample.headers = request.headers().clone();
        sample.body = Some(request.body().to_vec());
        set.decide_sample(&sample, None)
    };
    let email = serde_json::json!({"to": [{"email": "ann@acme.com"}, {"email": "Bob@ACME.io"}],
        "subject": "Report", "text": "All green."});
    let sent = decide("email.send", email);
    assert_eq!(sent.verdict, crate::policy::Verdict::Allow, "{sent:?}");
    assert_eq!(sent.rule.unwrap().as_str(), "sendgrid-send");
    let send = set.action("email.send").unwrap();
    for bad in [
        serde_json::json!({"to": [{"email": "eve@evil.com"}], "subject": "s", "text": "t"}),
        serde_json::json!({"to": [], "subject": "s", "text": "t"}),
        serde_json::json!({"to": (0..6).map(|i| serde_json::json!({"email": format!("p{i}@acme.com")})).collect::<Vec<_>>(), "subject": "s", "text": "t"}),
    ] {
        assert!(send.build(&bad).is_err(), "{bad}");
    }
    assert_eq!(
        send.shape().apply(b"").unwrap(),
        serde_json::json!({}),
        "an empty 202 is fine"
    );

    let held = decide(
        "cloud.delete_bucket",
        serde_json::json!({"bucket": "sandbox-tmp-1"}),
    );
    assert_eq!(held.verdict, crate::policy::Verdict::Approve, "{held:?}");
    let delete = set.action("cloud.delete_bucket").unwrap();
    for bad in ["prod-logs", "sandbox-../prod", "sandbox-X"] {
        assert!(
            delete.build(&serde_json::json!({"bucket": bad})).is_err(),
            "{bad}"
        );
    }
}
