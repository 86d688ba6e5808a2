//! The example rules through the running proxy: every `tests:` entry of `rules/` decides the
//! same way for real traffic (allowed ones reach the upstream, denied ones never do), secrets
//! are injected and scrubbed from responses, placeholders elsewhere are refused, and the
//! audit log verifies and holds no secret.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use keyward::control::approvals::Resolution;
use keyward::policy::{RuleSet, Verdict};

use crate::support::agent::Proto;
use crate::support::harness::Running;
use crate::support::rules::example_rules;
use crate::support::upstream::echo;
use crate::support::{Harness, Keyward, Upstream, within, within_async};

const GITHUB_PLACEHOLDER: &str = "keyward:github:7f3c9a1e5b2d4c8e";

/// An agent authenticated as the example rules' first declared agent (or as `name`).
fn agent_as(
    keyward: &Keyward,
    copy: &crate::support::rules::ExampleRules,
    name: Option<&str>,
) -> crate::support::Agent {
    let chosen = match name {
        Some(n) => Some((n.to_owned(), copy.agents[n].clone())),
        None => copy
            .agents
            .iter()
            .next()
            .map(|(a, t)| (a.clone(), t.clone())),
    };
    match chosen {
        Some((agent, token)) => keyward.agent().with_credentials(&agent, &token),
        None => keyward.agent(),
    }
}

/// keyward with a copy of the example rules before one upstream for every host their tests
/// name.
async fn start_with_example_rules() -> (
    crate::support::rules::ExampleRules,
    Upstream,
    Keyward,
    RuleSet,
) {
    let rules_copy = example_rules();
    let (rules, hosts) = rules_copy.load_with_test_hosts();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let Running {
        keyward,
        mut upstreams,
        ..
    } = Harness::new()
        .upstream_alpn(&names, &[b"h2", b"http/1.1"], echo())
        .rules_dir(rules_copy.path())
        .start()
        .await;
    (rules_copy, upstreams.remove(0), keyward, rules)
}

#[tokio::test]
async fn every_example_rule_test_decides_the_same_through_the_proxy() {
    let (copy, upstream, keyward, rules) = start_with_example_rules().await;
    let mut checked = 0;
    for test in rules.tests() {
        let agent = agent_as(&keyward, &copy, test.agent.as_ref().map(|a| a.as_str()));
        let r = &test.request;
        let url = match &r.query {
            Some(q) => format!("https://{}:{}{}?{q}", r.host, r.port, r.path),
            None => format!("https://{}:{}{}", r.host, r.port, r.path),
        };
        let mut req = Request::builder().method(r.method.clone()).uri(&url);
        for (k, v) in &r.headers {
            req = req.header(k, v);
        }
        let body = Bytes::from(r.body.clone().unwrap_or_default());
        let before = upstream.count();
        if let Err(refused) = agent.connect(&format!("{}:{}", r.host, r.port)).await {
            // No rule could match the host: refused before any handshake.
            assert_ne!(test.expect, Verdict::Allow, "{}: {refused:?}", test.text);
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", test.text);
            checked += 1;
            continue;
        }
        let request = req.body(Full::new(body)).unwrap();
        let reply = if test.expect == Verdict::Approve {
            // Held for a person: deny it through the queue, as an approver would.
            let sender = agent.clone();
            let pending = tokio::spawn(async move { sender.send(Proto::H1, request).await });
            let shared = keyward.running.handles().clone();
            let id = within(std::time::Duration::from_secs(5), || {
                Some(shared.approvals().held_here().first()?.id.clone())
            })
            .await
            .unwrap_or_else(|| panic!("{} was not held for approval", test.text));
            let denial = Resolution::Denied {
                by: Some("test".into()),
                reason: Some("no".into()),
            };
            assert!(shared.approvals().deliver(&id, denial));
            pending.await.unwrap()
        } else {
            agent.send(Proto::H1, request).await
        };
        match test.expect {
            Verdict::Allow => {
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "{}: {reply:?}\n{}",
                    test.text,
                    keyward::policy::explain(
                        &rules.decide_sample(&test.request, test.agent.as_ref())
                    )
                );
                assert_eq!(upstream.count(), before + 1, "{}", test.text);
            }
            Verdict::Deny | Verdict::Approve => {
                // A denial of MCP calls is a JSON-RPC error (200) marked by the header.
                let json_rpc = reply.status == StatusCode::OK
                    && reply
                        .headers
                        .get("keyward-decision")
                        .is_some_and(|d| d == "deny");
                assert!(
                    reply.status == StatusCode::FORBIDDEN
                        || reply.status == StatusCode::BAD_REQUEST
                        || json_rpc,
                    "{}: {reply:?}",
                    test.text
                );
                assert_eq!(
                    upstream.count(),
                    before,
                    "{} reached the upstream",
                    test.text
                );
                let json = reply.json();
                // A denial of GraphQL operations is GraphQL errors (an array for a batch).
                let graphql = &json.as_array().map_or(&json, |all| &all[0])["errors"][0];
                if reply.status == StatusCode::FORBIDDEN && graphql.is_object() {
                    assert_eq!(
                        graphql["extensions"]["code"], "KEYWARD_DENIED",
                        "{}",
                        test.text
                    );
                    if let Some(rule) = &test.rule {
                        assert_eq!(
                            graphql["extensions"]["rule"],
                            rule.as_str(),
                            "{}",
                            test.text
                        );
                    }
                } else if reply.status == StatusCode::FORBIDDEN {
                    assert_eq!(json["error"], "denied", "{}", test.text);
                    if let Some(rule) = &test.rule {
                        assert_eq!(json["rule"], rule.as_str(), "{}", test.text);
                    }
                }
                if json_rpc {
                    let error = json.as_array().map_or(&json, |all| &all[0])["error"].clone();
                    assert_eq!(error["code"], -32001, "{}", test.text);
                    if let Some(rule) = &test.rule {
                        assert_eq!(error["data"]["rule"], rule.as_str(), "{}", test.text);
                    }
                }
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 30,
        "only {checked} example tests ran through the proxy"
    );
}

#[tokio::test]
async fn injected_credential_reaches_the_upstream_and_never_comes_back() {
    let (copy, upstream, keyward, _) = start_with_example_rules().await;
    let token = copy.values["github"].clone();
    for proto in [Proto::H1, Proto::H2] {
        let reply = agent_as(&keyward, &copy, None)
            .get(proto, "https://api.github.com/user")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let body = String::from_utf8_lossy(&reply.body).into_owned();
        assert!(
            !body.contains(&token),
            "the real token came back to the agent"
        );
        assert_eq!(
            reply.json()["headers"]["authorization"],
            format!("Bearer {GITHUB_PLACEHOLDER}")
        );
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            s.headers["authorization"],
            format!("Bearer {token}").as_str()
        );
    }
}

#[tokio::test]
async fn placeholders_sent_anywhere_else_are_refused_as_exfiltration() {
    let (copy, upstream, keyward, _) = start_with_example_rules().await;
    let agent = agent_as(&keyward, &copy, None);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x:{GITHUB_PLACEHOLDER}"));
    let attempts = [
        Request::get("https://pypi.org/simple/").header("x-token", GITHUB_PLACEHOLDER),
        Request::get(format!("https://pypi.org/simple/?t={GITHUB_PLACEHOLDER}")),
        Request::get("https://pypi.org/simple/").header("authorization", format!("Basic {basic}")),
    ];
    let mut requests: Vec<Request<Full<Bytes>>> = attempts
        .into_iter()
        .map(|r| r.body(Full::new(Bytes::new())).unwrap())
        .collect();
    // Hidden in a body (even of a GET).
    requests.push(
        Request::get("https://pypi.org/simple/")
            .body(Full::new(Bytes::from(format!(
                "{{\"t\":\"{GITHUB_PLACEHOLDER}\"}}"
            ))))
            .unwrap(),
    );
    for req in requests {
        let reply = agent.send(Proto::H1, req).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        let reason = reply.reason().to_owned();
        assert!(
            reason.starts_with("credential not allowed for this destination"),
            "{reason}"
        );
    }
    assert_eq!(upstream.count(), 0, "nothing reached any upstream");
    let log = keyward.flushed_audit_log().await;
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("exfiltration attempt"))
            .count(),
        4
    );
    let _ = &copy;
    for value in copy.values.values() {
        assert!(!log.contains(value.as_str()));
    }
}

#[tokio::test]
async fn audit_log_has_one_verified_entry_per_exchange_and_no_secret() {
    let (copy, _upstream, keyward, _) = start_with_example_rules().await;
    let agent = agent_as(&keyward, &copy, None);
    let mut exchanges = 0;
    for url in [
        "https://api.github.com/user?token=abc",
        "https://pypi.org/simple/requests/",
        "https://api.github.com/repos/acme/keyward",
    ] {
        agent.get(Proto::H1, url).await;
        exchanges += 1;
    }
    let denied = agent
        .send(
            Proto::H2,
            Request::delete("https://api.github.com/repos/acme/keyward")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    exchanges += 1;
    let refused = agent.connect("evil.example:443").await.unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    exchanges += 1;
    let audit = keyward.running.handles().audit().unwrap().clone();
    // Response bodies end after the client read them; give the closing step a moment.
    within_async(std::time::Duration::from_secs(2), async || {
        audit.flush().await;
        let n = std::fs::read_to_string(keyward.audit_path())
            .unwrap()
            .lines()
            .count();
        (n >= exchanges).then_some(())
    })
    .await;
    let log = std::fs::read_to_string(keyward.audit_path()).unwrap();
    assert_eq!(log.lines().count(), exchanges, "{log}");
    let report = keyward::audit::verify_files(&[keyward.audit_path()]).unwrap();
    assert_eq!(report.entries as usize, exchanges);
    assert!(log.contains("\"query\":\"token=[redacted]\""), "{log}");
    assert!(log.contains("\"credentials\":[\"github\"]"));
    for value in copy.values.values() {
        assert!(
            !log.contains(value.as_str()),
            "a secret value is in the audit log"
        );
    }
}
