//! The kill switch through the running proxy: pausing an agent answers its held request with
//! the denial, closes its keep-alive tunnel and its WebSocket, refuses its new CONNECTs and
//! plain requests with 403 and the reason, leaves other agents alone, and forwards nothing;
//! pausing all agents stops every agent; resuming restores them; the CLI pauses, lists and
//! resumes; a wrong or missing token pauses nothing; each pause, resume and ended thing is
//! audited.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::runtime::{admin, admin_as, send_transfer, wait_pending};
use crate::support::agent::{Proto, collect};
use crate::support::harness::Running;
use crate::support::upstream::{echo, full};
use crate::support::{Agent, Handler, Harness};

/// How long a test waits for a close or an answer.
const WAIT: Duration = Duration::from_secs(10);

const RULES: &str = r#"
agents:
  alice: { token: "file:$FILES/tokens/alice" }
  bob: { token: "file:$FILES/tokens/bob" }
rules:
  - id: read
    method: GET
    url: https://api.example.com/read/**
    decision: allow
  - id: plain-read
    method: GET
    url: http://api.example.com/read/**
    decision: allow
  - id: transfer
    method: POST
    url: https://api.example.com/transfer
    approval: { timeout: 30s }
    decision: approve
  - id: socket
    method: GET
    url: https://ws.example/socket
    decision: allow
"#;

/// Echoes plain requests; accepts WebSocket upgrades and echoes their messages.
fn upstream() -> Handler {
    let plain = echo();
    std::sync::Arc::new(move |mut req: Request<hyper::body::Incoming>| {
        let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
            return plain(req);
        };
        Box::pin(async move {
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let mut ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "websocket")
                .header("connection", "upgrade")
                .header("sec-websocket-accept", accept)
                .body(full(Bytes::new()))
                .unwrap()
        })
    })
}

async fn start() -> Running {
    Harness::new()
        .upstream(&["api.example.com", "ws.example"], upstream())
        .file("tokens/alice", "alice-token-0123456789")
        .file("tokens/bob", "bob-token-9876543210")
        .rules("api.yaml", RULES)
        .start()
        .await
}

fn alice(h: &Running) -> Agent {
    h.agent()
        .with_credentials("alice", "alice-token-0123456789")
}

fn bob(h: &Running) -> Agent {
    h.agent().with_credentials("bob", "bob-token-9876543210")
}

/// A keep-alive HTTP/1.1 tunnel to api.example.com: its sender and the task driving it
/// (which ends when keyward closes the tunnel).
async fn tunnel(agent: &Agent) -> (SendRequest<Full<Bytes>>, tokio::task::JoinHandle<()>) {
    let tcp = agent.connect("api.example.com:443").await.unwrap();
    let tls = agent
        .tls(tcp, "api.example.com", &[b"http/1.1"])
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, task)
}

/// A GET of `/read/x` on an open tunnel.
async fn read_on(sender: &mut SendRequest<Full<Bytes>>) -> StatusCode {
    let req = Request::get("/read/x")
        .header("host", "api.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    collect(sender.send_request(req).await.unwrap())
        .await
        .status
}

type AgentWs = WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A WebSocket to wss://ws.example/socket through a tunnel of `agent`.
async fn websocket(agent: &Agent) -> AgentWs {
    let tcp = agent.connect("ws.example:443").await.unwrap();
    let tls = agent.tls(tcp, "ws.example", &[b"http/1.1"]).await.unwrap();
    let req = "wss://ws.example/socket".into_client_request().unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("hello")).await.unwrap();
    let echoed = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert_eq!(echoed.unwrap().unwrap().into_data().as_ref(), b"hello");
    ws
}

/// The close code the agent's WebSocket gets next.
async fn close_code(ws: &mut AgentWs) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a close in time")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// The CONNECT refusal `agent` gets now: status, decision header and reason.
async fn refused_connect(agent: &Agent) -> (StatusCode, String, String) {
    let reply = agent
        .connect("api.example.com:443")
        .await
        .expect_err("a paused agent's CONNECT is refused");
    let decision = reply
        .headers
        .get("keyward-decision")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (reply.status, decision, reply.reason())
}

#[tokio::test]
async fn pausing_an_agent_ends_its_tunnel_held_request_and_websocket_and_refuses_it() {
    let h = start().await;
    let addr = h.admin();
    let (mut kept, kept_task) = tunnel(&alice(&h)).await;
    assert_eq!(read_on(&mut kept).await, StatusCode::OK);
    let held = send_transfer(alice(&h));
    wait_pending(addr, 1).await;
    let mut ws = websocket(&alice(&h)).await;
    let (mut bobs, _bobs_task) = tunnel(&bob(&h)).await;
    assert_eq!(read_on(&mut bobs).await, StatusCode::OK);
    let before = h.upstream().count();

    let (status, body) = admin(
        addr,
        "POST",
        "/agents/alice/pause",
        r#"{"reason":"leaking tokens"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let why = "agent alice is paused by admin: leaking tokens";

    let held = tokio::time::timeout(WAIT, held).await.unwrap().unwrap();
    assert_eq!(held.status, StatusCode::FORBIDDEN);
    assert!(held.reason().contains(why), "{}", held.reason());
    tokio::time::timeout(WAIT, kept_task)
        .await
        .expect("the paused agent's tunnel is closed")
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy));

    let (status, decision, reason) = refused_connect(&alice(&h)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(decision, "deny");
    assert_eq!(reason, why);
    let plain = alice(&h)
        .plain(
            Request::get("http://api.example.com/read/x")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(plain.status, StatusCode::FORBIDDEN);
    assert_eq!(plain.reason(), why);

    assert_eq!(
        read_on(&mut bobs).await,
        StatusCode::OK,
        "bob is unaffected"
    );
    assert_eq!(
        h.upstream().count(),
        before + 1,
        "only bob's request was forwarded while alice is paused"
    );
    let (_, list) = admin(addr, "GET", "/agents", "").await;
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["agents"][0]["name"], "alice");
    assert_eq!(list["agents"][0]["paused"], true);
    assert_eq!(list["agents"][1]["paused"], false);

    let (status, _) = admin(addr, "POST", "/agents/alice/resume", "").await;
    assert_eq!(status, StatusCode::OK);
    let reply = alice(&h)
        .get(Proto::H1, "https://api.example.com/read/again")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "resumed");

    let log = h.keyward.flushed_audit_log().await;
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |text: &str| {
        entries
            .iter()
            .any(|e| e["reason"].as_str().is_some_and(|r| r.contains(text)))
    };
    for recorded in [
        format!("pause: {why} (1 held requests denied)"),
        format!("connection closed: {why}"),
        format!("websocket closed with 1008: {why}"),
        format!("denied by approver: {why}"),
        "resume: alice resumed by admin".to_owned(),
    ] {
        assert!(has(&recorded), "{recorded} is in the audit log: {log}");
    }
    let denied_agent = entries
        .iter()
        .filter(|e| e["agent"] == "alice" && e["reason"] == why)
        .count();
    assert_eq!(denied_agent, 2, "the refused CONNECT and plain request");
}

#[tokio::test]
async fn pausing_all_agents_from_the_cli_stops_every_agent_until_resumed() {
    let h = start().await;
    let addr = h.admin();
    let (mut bobs, bobs_task) = tunnel(&bob(&h)).await;
    assert_eq!(read_on(&mut bobs).await, StatusCode::OK);
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .arg("agents")
            .args(["--admin", &format!("http://{addr}")])
            .args(args)
            .arg("--token-file")
            .arg(h.keyward.dir.path().join("admin-token.configured"))
            .env_remove("KEYWARD_ADMIN_TOKEN");
        command
    };
    let out = cli(&["pause", "--all", "--reason", "incident drill"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    tokio::time::timeout(WAIT, bobs_task)
        .await
        .expect("every agent's tunnel is closed")
        .unwrap();
    for agent in [alice(&h), bob(&h)] {
        let (status, decision, reason) = refused_connect(&agent).await;
        assert_eq!((status, decision.as_str()), (StatusCode::FORBIDDEN, "deny"));
        assert!(
            reason.ends_with("is paused by admin: incident drill"),
            "{reason}"
        );
    }
    let list = cli(&["list"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        text.contains("all agents paused by admin: incident drill"),
        "{text}"
    );
    assert!(
        text.contains("alice\tpaused by admin: incident drill"),
        "{text}"
    );

    let out = cli(&["resume", "--all"]).output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    for agent in [alice(&h), bob(&h)] {
        let reply = agent.get(Proto::H1, "https://api.example.com/read/x").await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let list = cli(&["list"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        text.contains("alice\tactive") && text.contains("bob\tactive"),
        "{text}"
    );
    let out = cli(&["pause", "nobody"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no agent nobody is declared"));
}

#[tokio::test]
async fn a_wrong_or_missing_admin_token_cannot_pause() {
    let h = start().await;
    let addr = h.admin();
    for token in [None, Some("not-the-admin-token")] {
        for path in ["/agents/alice/pause", "/agents/pause"] {
            let (status, _) = admin_as(addr, token, "POST", path, "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {token:?}");
        }
    }
    let reply = alice(&h)
        .get(Proto::H1, "https://api.example.com/read/x")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "nothing was paused");
    let (status, _) = admin(addr, "POST", "/agents/alice/resume", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "alice was never paused");
}

#[tokio::test]
async fn a_pause_on_one_replica_reaches_every_replica() {
    let c = crate::replicas::Cluster::start(2).await;
    let (mut kept, kept_task) = tunnel(&c.replicas[1].agent()).await;
    assert_eq!(read_on(&mut kept).await, StatusCode::OK);
    let (status, body) = admin(c.admin(0), "POST", "/agents/pause", r#"{"reason":"drill"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""replicas":"shared""#), "{body}");
    tokio::time::timeout(WAIT, kept_task)
        .await
        .expect("the tunnel on the other replica is closed")
        .unwrap();
    let (status, _, reason) = refused_connect(&c.replicas[1].agent()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reason, "all agents are paused by admin: drill");
    let before = c.upstream.count();

    let (status, _) = admin(c.admin(1), "POST", "/agents/resume", "").await;
    assert_eq!(status, StatusCode::OK);
    let agent = c.replicas[0].agent();
    crate::support::eventually_async("the resume reaching replica 1", WAIT, async || {
        agent
            .connect("api.example.com:443")
            .await
            .is_ok()
            .then_some(())
    })
    .await;
    assert_eq!(c.upstream.count(), before, "nothing forwarded while paused");
    let (_, list) = admin(c.admin(0), "GET", "/agents", "").await;
    assert!(list.contains(r#""all":null"#), "{list}");
}
