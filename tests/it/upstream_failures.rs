//! Upstream failures as the agent sees them: untrusted certificate (502 with the reason),
//! no answer (504), and destinations the guard refuses (403, nothing dialled).

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use crate::support::agent::{Proto, Reply};
use crate::support::upstream::echo;
use crate::support::{Handler, Keyward, TestCa, Upstream};

/// `GET https://api.github.com/` through a keyward trusting `trusted`, pinned to an echo
/// upstream whose certificate `issuer` issued for `names`; the reply, and the upstream.
async fn get_github_root(trusted: &TestCa, issuer: &TestCa, names: &[&str]) -> (Reply, Upstream) {
    let upstream = Upstream::https(issuer, names, &[b"http/1.1"], echo()).await;
    let keyward = Keyward::in_front_of(trusted, "api.github.com", upstream.addr, |_| {}).await;
    let reply = keyward
        .agent()
        .get(Proto::H1, "https://api.github.com/")
        .await;
    (reply, upstream)
}

#[tokio::test]
async fn upstream_certificate_not_trusted_is_502_with_the_reason() {
    let (trusted, rogue) = (TestCa::new(), TestCa::new());
    let (reply, upstream) = get_github_root(&trusted, &rogue, &["api.github.com"]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    let json = reply.json();
    assert_eq!(json["error"], "upstream_failed");
    assert!(reply.reason().contains("certificate not trusted"), "{json}");
    assert_eq!(
        upstream.count(),
        0,
        "no request was sent over the untrusted connection"
    );
}

#[tokio::test]
async fn upstream_certificate_for_another_name_is_502() {
    let ca = TestCa::new();
    let (reply, _upstream) = get_github_root(&ca, &ca, &["other.example"]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert!(reply.reason().contains("certificate"));
}

#[tokio::test]
async fn upstream_that_never_answers_is_504() {
    let ca = TestCa::new();
    let silent: Handler = Arc::new(|_req| Box::pin(std::future::pending()));
    let upstream = Upstream::https(&ca, &["api.github.com"], &[b"http/1.1"], silent).await;
    let keyward = Keyward::in_front_of(&ca, "api.github.com", upstream.addr, |c| {
        c.limits.upstream_response_timeout = Duration::from_millis(300);
    })
    .await;
    let reply = keyward
        .agent()
        .get(Proto::H2, "https://api.github.com/slow")
        .await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.json()["error"], "upstream_timeout");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn loopback_and_private_destinations_are_refused_unless_pinned() {
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["127.0.0.1", "localhost"], &[b"http/1.1"], echo()).await;
    let port = upstream.addr.port();
    let keyward = Keyward::start(
        &ca,
        &[],
        &["127.0.0.1", "localhost", "169.254.169.254"],
        |_| {},
    )
    .await;
    let agent = keyward.agent();
    // An IP literal is judged at CONNECT, before any handshake.
    for target in [
        format!("127.0.0.1:{port}"),
        "169.254.169.254:443".to_owned(),
    ] {
        let refused = agent.connect(&target).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{target}");
        let json: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
        assert_eq!(json["error"], "destination_refused");
    }
    // A name is judged on what it resolves to, before dialling.
    let reply = agent
        .get(Proto::H1, &format!("https://localhost:{port}/"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let json = reply.json();
    assert_eq!(json["error"], "destination_refused");
    assert!(reply.reason().contains("loopback"), "{json}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn keyward_never_dials_its_own_listen_address_even_when_pinned() {
    let ca = TestCa::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let own: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let keyward = Keyward::start(&ca, &[("self.example:443", own)], &["self.example"], |c| {
        c.listen = own
    })
    .await;
    assert_eq!(keyward.addr, own);
    let reply = keyward
        .agent()
        .get(Proto::H1, "https://self.example/")
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let json = reply.json();
    assert_eq!(json["error"], "destination_refused");
    assert!(reply.reason().contains("own listen address"), "{json}");
}
