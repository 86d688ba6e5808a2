//! The leak check: the real `keyward serve` binary, debug logging on, the example rules with
//! known secret values, traffic that injects, echoes, redacts, denies and refuses
//! exfiltration; then every byte keyward wrote (stdout, stderr, audit log, admin API output)
//! and every response the agent got is searched for each secret in raw, base64, URL-encoded
//! and JSON-escaped form: zero hits. The generated admin token is searched for alike.

use base64::Engine;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use crate::support::agent::{Agent, Proto};
use crate::support::child;
use crate::support::rules::example_rules;
use crate::support::{self, TestCa, Upstream};

#[tokio::test]
async fn no_secret_in_any_byte_keyward_writes() {
    let copy = example_rules();
    let ca = TestCa::new();
    let upstream = Upstream::https(
        &ca,
        &["api.github.com", "pypi.org"],
        &[b"h2", b"http/1.1"],
        crate::redaction::echo_token(),
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let audit_path = work.path().join("audit.jsonl");
    let mut command = child::command();
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--audit-stdout",
        ])
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .arg("--rules")
        .arg(copy.path())
        .arg("--upstream-ca")
        .arg(&ca.path)
        .arg("--audit-log")
        .arg(&audit_path)
        .arg("--resolve")
        .arg(format!("api.github.com:443:{}", upstream.addr))
        .arg("--resolve")
        .arg(format!("pypi.org:443:{}", upstream.addr))
        .env("RUST_LOG", "debug");
    let mut keyward = child::spawn(command, work.path()).await;
    let proxy = keyward.addr;
    let admin = keyward.admin().await;
    let agent = Agent::new(proxy, &work.path().join("certs/ca.pem"));

    let mut responses: Vec<u8> = Vec::new();
    for proto in [Proto::H1, Proto::H2] {
        for path in ["/plain", "/gzip", "/br", "/events"] {
            let reply = agent
                .get(proto, &format!("https://api.github.com{path}"))
                .await;
            responses.extend_from_slice(format!("{:?}", reply.headers).as_bytes());
            responses.extend_from_slice(&reply.body);
        }
    }
    let placeholder = "keyward:github:7f3c9a1e5b2d4c8e";
    for req in [
        Request::get("https://pypi.org/simple/").header("x-token", placeholder),
        Request::get(format!("https://pypi.org/simple/?t={placeholder}")),
        Request::delete("https://api.github.com/repos/acme/keyward"),
        Request::post("https://api.github.com/repos/acme/keyward/issues"),
    ] {
        let reply = agent
            .send(
                Proto::H1,
                req.body(Full::new(Bytes::from_static(b"{\"title\":\"x\"}")))
                    .unwrap(),
            )
            .await;
        responses.extend_from_slice(&reply.body);
    }
    let admin_token = std::fs::read_to_string(work.path().join("certs/admin-token")).unwrap();
    for path in ["/metrics", "/approvals"] {
        let reply = support::admin_get_as(&admin, Some(&admin_token), path).await;
        assert_eq!(reply.status, http::StatusCode::OK, "{path}");
        responses.extend(reply.body);
    }

    let status = keyward.terminate().await;
    assert!(status.success(), "keyward exits 0 on SIGTERM: {status}");

    let mut written = std::fs::read(&keyward.stdout).unwrap();
    written.extend(std::fs::read(&keyward.stderr).unwrap());
    written.extend(std::fs::read(&audit_path).unwrap());
    assert!(
        String::from_utf8_lossy(&written).contains("\"decision\":\"allow\""),
        "the audit copy reached stdout"
    );
    let haystacks = [
        ("keyward's output", &written),
        ("the agent's responses", &responses),
    ];
    for value in copy.values.values().chain([&admin_token]) {
        let forms = [
            value.clone(),
            base64::engine::general_purpose::STANDARD.encode(value),
            base64::engine::general_purpose::URL_SAFE.encode(value),
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            serde_json::to_string(value)
                .unwrap()
                .trim_matches('"')
                .to_owned(),
        ];
        for (what, hay) in &haystacks {
            let text = String::from_utf8_lossy(hay);
            for form in &forms {
                assert!(
                    !text.contains(form.as_str()),
                    "{what} contain a secret ({form})"
                );
            }
        }
    }
    assert!(
        upstream.count() >= 8,
        "the injected requests did reach the upstream"
    );
}
