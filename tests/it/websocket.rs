//! WebSocket messages are scanned like bodies: a credential the upstream echoes in a message
//! (whole, fragmented, base64'd, in binary) reaches the agent as its placeholder; a message
//! from the agent carrying a secret or a placeholder closes the connection with 1008, is
//! audited and never reaches the upstream; `permessage-deflate` is never negotiated; a message
//! over the size cap closes both sides with 1009. Real tungstenite client and server.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::support::harness::Running;
use crate::support::{Handler, Harness, audit_log, within};

const VALUE: &str = "wsSecretValue-9f8e7d6c5b4a";
const PLACEHOLDER: &str = "keyward:ws:0011223344556677";
/// One byte over keyward's message cap (16 MiB).
const OVERSIZED: usize = (16 << 20) + 1;
/// How long a test waits for the next message or for the upstream's side to end.
const WAIT: Duration = Duration::from_secs(10);

/// What the test upstream saw on its WebSocket connections.
#[derive(Default)]
struct Heard {
    /// Every text or binary message it received, as bytes.
    messages: Vec<Vec<u8>>,
    /// The `Sec-WebSocket-Extensions` header of each upgrade request, when there was one.
    extensions: Vec<String>,
    /// How many of its connections have ended.
    ended: usize,
}

/// A WebSocket upstream: greets with the `Authorization` it received, answers `fragmented`
/// with the credential split across frames, `binary` with it in a binary message, `big`
/// with an oversized message, and echoes everything else. Accepts any extension offered.
fn ws_upstream(heard: Arc<Mutex<Heard>>) -> Handler {
    Arc::new(move |mut req: Request<hyper::body::Incoming>| {
        let heard = heard.clone();
        Box::pin(async move {
            let key = req.headers().get("sec-websocket-key").cloned().unwrap();
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let auth = header(req.headers(), "authorization");
            let extensions = req
                .headers()
                .get("sec-websocket-extensions")
                .map(|v| v.to_str().unwrap().to_owned());
            if let Some(e) = &extensions {
                heard.lock().unwrap().extensions.push(e.clone());
            }
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let upgraded = on_upgrade.await.unwrap();
                let mut ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                let _ = ws.send(Message::text(format!("you sent: {auth}"))).await;
                while let Some(Ok(msg)) = ws.next().await {
                    let (Message::Text(_) | Message::Binary(_)) = &msg else {
                        continue;
                    };
                    let data = msg.into_data();
                    heard.lock().unwrap().messages.push(data.to_vec());
                    let sent = match &data[..] {
                        b"fragmented" => send_fragmented(&mut ws).await,
                        b"binary" => {
                            let b64 = base64::engine::general_purpose::STANDARD.encode(VALUE);
                            let body = format!("raw={VALUE};b64={b64}").into_bytes();
                            ws.send(Message::Binary(body.into())).await
                        }
                        b"big" => ws.send(Message::Binary(vec![b'x'; OVERSIZED].into())).await,
                        _ => ws.send(Message::Binary(data)).await,
                    };
                    if sent.is_err() {
                        break;
                    }
                }
                heard.lock().unwrap().ended += 1;
            });
            let mut resp = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "websocket")
                .header("connection", "upgrade")
                .header("sec-websocket-accept", accept);
            if let Some(e) = extensions {
                resp = resp.header("sec-websocket-extensions", e);
            }
            resp.body(crate::support::upstream::full(Bytes::new()))
                .unwrap()
        })
    })
}

/// Sends `token=<secret> end` as three frames, the secret split between the first two.
async fn send_fragmented(
    ws: &mut WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let (head, tail) = VALUE.split_at(7);
    let frames = [
        Frame::message(
            format!("token={head}").into_bytes(),
            OpCode::Data(Data::Text),
            false,
        ),
        Frame::message(
            tail.as_bytes().to_vec(),
            OpCode::Data(Data::Continue),
            false,
        ),
        Frame::message(b" end".to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for frame in frames {
        ws.send(Message::Frame(frame)).await?;
    }
    Ok(())
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Keyward injecting the `ws` secret into `Authorization` for wss://ws.example/socket.
async fn setting(heard: &Arc<Mutex<Heard>>) -> Running {
    Harness::new()
        .upstream(&["ws.example"], ws_upstream(heard.clone()))
        .file("ws", VALUE)
        .rules(
            "ws.yaml",
            &format!(
                "secrets:\n  ws:\n    from: file:$FILES/ws\n    placeholder: {PLACEHOLDER}\n    hosts: [ws.example]\nrules:\n  - id: socket\n    method: GET\n    url: https://ws.example/socket\n    inject: [ws]\n    decision: allow\n",
            ),
        )
        .start()
        .await
}

/// Every byte read from the inner stream, kept.
struct Tap<S> {
    inner: S,
    read: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let new = buf.filled()[before..].to_vec();
        self.read.lock().unwrap().extend_from_slice(&new);
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type AgentWs = WebSocketStream<Tap<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>;

/// A tungstenite client through keyward's CONNECT, sending the placeholder as its bearer
/// token and offering `permessage-deflate`; every byte it reads is kept in `read`.
async fn connect(h: &Running, read: &Arc<Mutex<Vec<u8>>>) -> (AgentWs, http::HeaderMap) {
    let agent = h.agent();
    let tcp = agent.connect("ws.example:443").await.unwrap();
    let tls = agent.tls(tcp, "ws.example", &[b"http/1.1"]).await.unwrap();
    let tap = Tap {
        inner: tls,
        read: read.clone(),
    };
    let mut req = "wss://ws.example/socket".into_client_request().unwrap();
    let headers = req.headers_mut();
    headers.insert(
        "authorization",
        format!("Bearer {PLACEHOLDER}").parse().unwrap(),
    );
    headers.insert(
        "sec-websocket-extensions",
        "permessage-deflate; client_max_window_bits"
            .parse()
            .unwrap(),
    );
    let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
    let (ws, resp) = tokio_tungstenite::client_async_with_config(req, tap, Some(config))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    (ws, resp.headers().clone())
}

/// The next text or binary message, as text.
async fn next_data(ws: &mut AgentWs) -> String {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .unwrap();
        if msg.is_text() || msg.is_binary() {
            return String::from_utf8(msg.into_data().to_vec()).unwrap();
        }
    }
}

/// The close code the agent gets next (data messages before it are skipped).
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

/// Waits (bounded) until the upstream's side of `n` connections has ended.
async fn upstream_ended(heard: &Arc<Mutex<Heard>>, n: usize) {
    let ended = within(WAIT, || (heard.lock().unwrap().ended >= n).then_some(())).await;
    assert!(ended.is_some(), "the upstream's connection ended");
}

/// Asserts that no encoding of the secret is in `bytes`.
fn assert_no_secret(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let forms = [
        VALUE.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(VALUE),
        base64::engine::general_purpose::URL_SAFE.encode(VALUE),
        percent_encoding::utf8_percent_encode(VALUE, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        serde_json::to_string(VALUE)
            .unwrap()
            .trim_matches('"')
            .to_owned(),
    ];
    for form in forms {
        assert!(!text.contains(&form), "{what} contain the secret ({form})");
    }
}

#[tokio::test]
async fn credentials_echoed_in_websocket_messages_reach_the_agent_redacted() {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let h = setting(&heard).await;
    let read = Arc::new(Mutex::new(Vec::new()));
    let (mut ws, resp_headers) = connect(&h, &read).await;
    assert!(
        !resp_headers.contains_key("sec-websocket-extensions"),
        "no extension negotiated: {resp_headers:?}"
    );
    assert_eq!(
        next_data(&mut ws).await,
        format!("you sent: Bearer {PLACEHOLDER}"),
        "the injected credential came back as the placeholder"
    );
    ws.send(Message::text("fragmented")).await.unwrap();
    assert_eq!(next_data(&mut ws).await, format!("token={PLACEHOLDER} end"));
    ws.send(Message::text("binary")).await.unwrap();
    let binary = next_data(&mut ws).await;
    assert!(
        binary.starts_with(&format!("raw={PLACEHOLDER};b64=")),
        "{binary}"
    );
    ws.send(Message::text("plain words")).await.unwrap();
    assert_eq!(next_data(&mut ws).await, "plain words");
    ws.close(None).await.unwrap();
    upstream_ended(&heard, 1).await;
    assert_no_secret("the bytes the agent read", &read.lock().unwrap());
    let heard = heard.lock().unwrap();
    assert!(
        heard.extensions.is_empty(),
        "the upstream was offered {:?}",
        heard.extensions
    );
    let sent: [&[u8]; 3] = [b"fragmented", b"binary", b"plain words"];
    assert_eq!(heard.messages, sent.map(<[u8]>::to_vec));
}

#[tokio::test]
async fn a_message_carrying_a_secret_from_the_agent_closes_with_1008_and_is_never_forwarded() {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let h = setting(&heard).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(VALUE);
    let carriers = [
        Message::text(format!("here is {VALUE}")),
        Message::Binary(Bytes::from(format!("x{b64}x"))),
        Message::text(format!("{{\"token\":\"{PLACEHOLDER}\"}}")),
    ];
    let total = carriers.len();
    for (i, carrier) in carriers.into_iter().enumerate() {
        let read = Arc::new(Mutex::new(Vec::new()));
        let (mut ws, _) = connect(&h, &read).await;
        next_data(&mut ws).await;
        ws.send(Message::text("before")).await.unwrap();
        assert_eq!(next_data(&mut ws).await, "before");
        ws.send(carrier).await.unwrap();
        assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy));
        upstream_ended(&heard, i + 1).await;
        assert_no_secret("the bytes the agent read", &read.lock().unwrap());
    }
    let messages = heard.lock().unwrap().messages.clone();
    assert_eq!(
        messages,
        vec![b"before".to_vec(); total],
        "only the harmless messages"
    );
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), total, |e| {
        e["decision"] == "deny"
            && e["reason"].as_str().is_some_and(|r| {
                r.contains("websocket message from the agent refused, closed with 1008")
            })
    })
    .await;
    let refused: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("websocket"))
        })
        .collect();
    assert!(
        refused
            .iter()
            .all(|e| e["host"] == "ws.example" && e["path"] == "/socket")
    );
    assert!(
        refused[..2]
            .iter()
            .all(|e| e["reason"].as_str().unwrap().contains("value of a secret"))
    );
    assert!(
        refused[2]["reason"]
            .as_str()
            .unwrap()
            .contains("placeholder")
    );
    assert_no_secret(
        "the audit log",
        &std::fs::read(h.keyward.audit_path()).unwrap(),
    );
    audit_log::verify(&h.keyward.audit_path());
}

#[tokio::test]
async fn an_oversized_message_closes_both_sides_with_1009() {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let h = setting(&heard).await;
    // From the agent: refused before any of it is forwarded.
    let read = Arc::new(Mutex::new(Vec::new()));
    let (mut ws, _) = connect(&h, &read).await;
    next_data(&mut ws).await;
    let _ = ws.send(Message::Binary(vec![b'y'; OVERSIZED].into())).await;
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
    upstream_ended(&heard, 1).await;
    assert!(heard.lock().unwrap().messages.is_empty());
    // From the upstream.
    let (mut ws, _) = connect(&h, &read).await;
    next_data(&mut ws).await;
    ws.send(Message::text("big")).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
    upstream_ended(&heard, 2).await;
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    audit_log::wait_for(&audit, &h.keyward.audit_path(), 2, |e| {
        e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("closed with 1009"))
    })
    .await;
}
