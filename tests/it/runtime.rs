//! Runtime control through the running proxy: agent identity (407, per-agent rules), approval
//! holds answered through the admin API, rate limits (429 + Retry-After), hot reload keeping
//! the last good rules, metrics, and failing closed when the audit log cannot be written.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::support::agent::{Proto, Reply};
use crate::support::harness::{Harness, Running};
use crate::support::upstream::echo;
use crate::support::{Agent, Keyward, Upstream, eventually_async};

const RULES: &str = r#"
agents:
  alice: { token: "file:$FILES/tokens/alice" }
  bob: { token: "file:$FILES/tokens/bob" }
rules:
  - id: read
    method: GET
    url: https://api.example.com/read/**
    decision: allow
  - id: alice-only
    agents: [alice]
    method: GET
    url: https://api.example.com/alice/**
    decision: allow
  - id: limited
    method: GET
    url: https://api.example.com/limited
    limits: { rate: 3/minute }
    decision: allow
  - id: transfer
    method: POST
    url: https://api.example.com/transfer
    approval: { timeout: 2s }
    decision: approve
"#;

pub(crate) struct Scene {
    pub(crate) upstream: Upstream,
    pub(crate) keyward: Keyward,
    pub(crate) rules: tempfile::TempDir,
}

impl Scene {
    pub(crate) async fn start(tweak: impl FnOnce(&mut keyward::Config) + 'static) -> Scene {
        let Running {
            keyward,
            mut upstreams,
            files,
            ..
        } = Harness::new()
            .upstream(&["api.example.com"], echo())
            .file("tokens/alice", "alice-token-0123456789")
            .file("tokens/bob", "bob-token-9876543210")
            .rules("api.yaml", RULES)
            .config(tweak)
            .start()
            .await;
        Scene {
            upstream: upstreams.remove(0),
            keyward,
            rules: files,
        }
    }

    pub(crate) fn alice(&self) -> Agent {
        self.keyward
            .agent()
            .with_credentials("alice", "alice-token-0123456789")
    }

    pub(crate) fn bob(&self) -> Agent {
        self.keyward
            .agent()
            .with_credentials("bob", "bob-token-9876543210")
    }

    pub(crate) fn admin(&self) -> SocketAddr {
        self.keyward.running.admin_addr().unwrap()
    }
}

/// A request to the admin API with the tests' admin token.
pub(crate) async fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, String) {
    admin_as(addr, Some(crate::support::ADMIN_TOKEN), method, path, body).await
}

/// A request to the admin API with `token` (none: no `Authorization` header).
pub(crate) async fn admin_as(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut s, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(c);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "admin");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let reply = crate::support::agent::collect(s.send_request(req).await.unwrap()).await;
    (
        reply.status,
        String::from_utf8_lossy(&reply.body).into_owned(),
    )
}

/// The pending approvals once there are at least `n` (bounded wait).
pub(crate) async fn wait_pending(addr: SocketAddr, n: usize) -> Vec<serde_json::Value> {
    let what = format!("{n} requests becoming pending");
    eventually_async(&what, Duration::from_secs(10), async || {
        let (_, text) = admin(addr, "GET", "/approvals", "").await;
        let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        (list.len() >= n).then_some(list)
    })
    .await
}

/// `agent`'s `POST https://api.example.com/transfer` (a rule holds it for approval), sent
/// on a task of its own so the test can answer the hold meanwhile.
pub(crate) fn send_transfer(agent: Agent) -> tokio::task::JoinHandle<Reply> {
    tokio::spawn(async move {
        agent
            .send(Proto::H1, post("https://api.example.com/transfer"))
            .await
    })
}

pub(crate) fn post(url: &str) -> Request<Full<Bytes>> {
    Request::post(url)
        .body(Full::new(Bytes::from_static(b"{\"amount\":5}")))
        .unwrap()
}

#[tokio::test]
async fn agents_must_authenticate_and_rules_select_on_them() {
    let s = Scene::start(|_| {}).await;
    let anonymous = s
        .keyward
        .agent()
        .connect("api.example.com:443")
        .await
        .unwrap_err();
    assert_eq!(anonymous.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(
        anonymous.headers["proxy-authenticate"],
        "Basic realm=\"keyward\""
    );
    let wrong = s
        .keyward
        .agent()
        .with_credentials("alice", "nope")
        .connect("api.example.com:443")
        .await
        .unwrap_err();
    assert_eq!(wrong.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(
        s.alice()
            .get_status(Proto::H1, "https://api.example.com/alice/x")
            .await,
        StatusCode::OK
    );
    let bob = s
        .bob()
        .get(Proto::H2, "https://api.example.com/alice/x")
        .await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN);
    assert_eq!(s.upstream.count(), 1);
    for seen in s.upstream.seen() {
        assert!(!seen.headers.contains_key("proxy-authorization"));
    }
    let log = s.keyward.flushed_audit_log().await;
    assert!(log.contains("\"agent\":\"alice\"") && log.contains("\"agent\":\"bob\""));
    assert!(
        !log.contains("alice-token-0123456789"),
        "a proxy token reached the audit log"
    );
}

#[tokio::test]
async fn rate_limit_allows_exact_count_then_429_with_retry_after() {
    let s = Scene::start(|_| {}).await;
    for _ in 0..3 {
        assert_eq!(
            s.alice()
                .get_status(Proto::H1, "https://api.example.com/limited")
                .await,
            StatusCode::OK
        );
    }
    let limited = s
        .alice()
        .get(Proto::H1, "https://api.example.com/limited")
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(limited.json()["rule"], "limited");
    assert_eq!(
        s.bob()
            .get_status(Proto::H1, "https://api.example.com/limited")
            .await,
        StatusCode::OK,
        "counted per agent"
    );
    assert_eq!(s.upstream.count(), 4);
    let log = s.keyward.flushed_audit_log().await;
    assert_eq!(log.matches("\"decision\":\"rate_limited\"").count(), 1);
}

#[tokio::test]
async fn reload_keeps_the_last_good_rules_and_applies_good_edits() {
    let s = Scene::start(|_| {}).await;
    let addr = s.admin();
    let file = s.rules.path().join("rules/api.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{good}\n  - id: broken\n    url: https://x.example/\n    decision: alow\n"),
    )
    .unwrap();
    let (status, text) = admin(addr, "POST", "/reload", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(
        text.contains("api.yaml:"),
        "errors carry file:line:col: {text}"
    );
    assert_eq!(
        s.alice()
            .get_status(Proto::H1, "https://api.example.com/read/1")
            .await,
        StatusCode::OK,
        "old rules still decide"
    );
    std::fs::write(
        &file,
        good.replace(
            "url: https://api.example.com/read/**",
            "url: https://api.example.com/reading/**",
        ),
    )
    .unwrap();
    let (status, _) = admin(addr, "POST", "/reload", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.alice()
            .get_status(Proto::H1, "https://api.example.com/read/1")
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.alice()
            .get_status(Proto::H1, "https://api.example.com/reading/1")
            .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn metrics_count_the_traffic_and_need_the_token() {
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("admin");
    std::fs::write(&token_file, "admin-token-abcdef\n").unwrap();
    let spec = format!("file:{}", token_file.display());
    let s = Scene::start(|c| c.admin_token = Some(spec)).await;
    let (unauthorized, _) = admin_as(s.admin(), None, "GET", "/metrics", "").await;
    assert_eq!(unauthorized, StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        s.alice()
            .get(Proto::H1, "https://api.example.com/read/x")
            .await;
    }
    s.bob()
        .get(Proto::H1, "https://api.example.com/alice/x")
        .await;
    let (status, text) =
        admin_as(s.admin(), Some("admin-token-abcdef"), "GET", "/metrics", "").await;
    assert_eq!(status, StatusCode::OK);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle) && !l.starts_with('#'))
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    assert_eq!(
        line("keyward_requests_total{decision=\"allow\",rule=\"read\",agent=\"alice\"}").as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        line("keyward_requests_total{decision=\"deny\",rule=\"\",agent=\"bob\"}").as_deref(),
        Some("1"),
        "{text}"
    );
    assert!(text.contains("keyward_agent_tls_handshakes_total"));
    assert!(text.trim_end().ends_with("# EOF"));
    let (health, _) = admin(s.admin(), "GET", "/healthz", "").await;
    assert_eq!(health, StatusCode::OK);
}

#[tokio::test]
async fn unwritable_audit_log_fails_closed_with_503() {
    let s = Scene::start(|c| c.audit = Some(keyward::audit::AuditConfig::new("/dev/full"))).await;
    let first = s
        .alice()
        .get(Proto::H1, "https://api.example.com/read/1")
        .await;
    assert_eq!(first.status, StatusCode::OK);
    s.keyward.running.handles().audit().unwrap().flush().await;
    let second = s
        .alice()
        .get(Proto::H1, "https://api.example.com/read/2")
        .await;
    assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(second.reason().contains("audit"));
    assert_eq!(s.upstream.count(), 1, "nothing acted unrecorded");
    let (ready, _) = admin(s.admin(), "GET", "/readyz", "").await;
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn editing_the_rules_directory_reloads_without_dropping_connections() {
    let s = Scene::start(|_| {}).await;
    let file = s.rules.path().join("rules/api.yaml");
    let agent = s.alice();
    // A keep-alive tunnel opened before the edit keeps working after it.
    let tcp = agent.connect("api.example.com:443").await.unwrap();
    let tls = agent.tls(tcp, "api.example.com", &[b"h2"]).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let get = |path: &str| {
        Request::get(format!("https://api.example.com{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let first = sender.send_request(get("/read/1")).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        good.replace(
            "https://api.example.com/read/**",
            "https://api.example.com/fresh/**",
        ),
    )
    .unwrap();
    eventually_async(
        "the watcher applying the edit",
        Duration::from_secs(5),
        async || {
            let resp = sender.send_request(get("/fresh/1")).await.unwrap();
            (resp.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    let old = sender.send_request(get("/read/1")).await.unwrap();
    assert_eq!(
        old.status(),
        StatusCode::FORBIDDEN,
        "the same connection now follows the new rules"
    );
}
