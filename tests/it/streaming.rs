//! Streaming: server-sent events reach the agent event by event, large bodies pass intact
//! without being buffered, and WebSocket over wss is bridged after the 101.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::support::agent::Proto;
use crate::support::upstream::{BoxError, TestBody};
use crate::support::{Handler, Harness, Keyward, TestCa, Upstream};

/// An upstream whose response body is fed by the test, chunk by chunk.
fn fed_by_channel(rx: mpsc::Receiver<Bytes>) -> Handler {
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    Arc::new(move |_req| {
        let rx = rx.clone();
        Box::pin(async move {
            let rx = rx.lock().await.take().unwrap();
            let stream = tokio_stream_from(rx);
            let body: TestBody = BodyExt::boxed(StreamBody::new(stream));
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(body)
                .unwrap()
        })
    })
}

fn tokio_stream_from(
    rx: mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> + Send + Sync {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(Frame::data(b)), rx))
    })
}

#[tokio::test]
async fn server_sent_events_arrive_one_by_one() {
    let ca = TestCa::new();
    for proto in [Proto::H1, Proto::H2] {
        let (tx, rx) = mpsc::channel(1);
        let upstream = Upstream::https(
            &ca,
            &["api.github.com"],
            &[b"h2", b"http/1.1"],
            fed_by_channel(rx),
        )
        .await;
        let keyward = Keyward::in_front_of(&ca, "api.github.com", upstream.addr, |_| {}).await;
        let agent = keyward.agent();
        let tcp = agent.connect("api.github.com:443").await.unwrap();
        let alpn: &[&[u8]] = if proto == Proto::H1 {
            &[b"http/1.1"]
        } else {
            &[b"h2"]
        };
        let tls = agent.tls(tcp, "api.github.com", alpn).await.unwrap();
        let mut body = match proto {
            Proto::H1 => {
                let (mut s, c) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .unwrap();
                tokio::spawn(c);
                let req = Request::get("/events")
                    .header("host", "api.github.com")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                s.send_request(req).await.unwrap().into_body()
            }
            Proto::H2 => {
                let (mut s, c) = hyper::client::conn::http2::handshake(
                    hyper_util::rt::TokioExecutor::new(),
                    TokioIo::new(tls),
                )
                .await
                .unwrap();
                tokio::spawn(c);
                let req = Request::get("https://api.github.com/events")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                s.send_request(req).await.unwrap().into_body()
            }
        };
        for i in 0..5 {
            let event = format!("data: event {i}\n\n");
            tx.send(Bytes::from(event.clone())).await.unwrap();
            // The next event is only produced after this one reached the agent.
            let mut got = Vec::new();
            while got.len() < event.len() {
                let frame = body.frame().await.unwrap().unwrap();
                if let Ok(data) = frame.into_data() {
                    got.extend_from_slice(&data);
                }
            }
            assert_eq!(String::from_utf8(got).unwrap(), event, "{proto:?}");
        }
        drop(tx);
        assert!(body.frame().await.is_none_or(|f| f.is_ok()));
    }
}

#[tokio::test]
async fn large_download_passes_intact() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 256; // 16 MiB
    let handler: Handler = Arc::new(|_req| {
        Box::pin(async move {
            let chunk = Bytes::from(vec![0x5a; CHUNK]);
            let stream = futures_util::stream::iter(
                (0..CHUNKS).map(move |_| Ok::<_, BoxError>(Frame::data(chunk.clone()))),
            );
            Response::new(BodyExt::boxed(StreamBody::new(stream)))
        })
    });
    let h = Harness::new()
        .upstream_alpn(&["files.example"], &[b"h2", b"http/1.1"], handler)
        .allow("files.example")
        .start()
        .await;
    let keyward = &h.keyward;
    for proto in [Proto::H1, Proto::H2] {
        let reply = keyward
            .agent()
            .get(proto, "https://files.example/big.bin")
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body.len(), CHUNK * CHUNKS);
        assert!(reply.body.iter().all(|b| *b == 0x5a));
    }
}

/// An upstream that accepts a WebSocket upgrade and echoes every message.
fn websocket_echo() -> Handler {
    Arc::new(|mut req: Request<hyper::body::Incoming>| {
        Box::pin(async move {
            let key = req.headers().get("sec-websocket-key").cloned().unwrap();
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let upgraded = on_upgrade.await.unwrap();
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    None,
                )
                .await;
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() || msg.is_binary() {
                        ws.send(msg).await.unwrap();
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "websocket")
                .header("connection", "upgrade")
                .header("sec-websocket-accept", accept)
                .body(crate::support::upstream::full(Bytes::new()))
                .unwrap()
        })
    })
}

#[tokio::test]
async fn websocket_echo_through_wss() {
    let handler = websocket_echo();
    let h = Harness::new()
        .upstream(&["ws.example"], handler)
        .allow("ws.example")
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let agent = keyward.agent();
    let tcp = agent.connect("ws.example:443").await.unwrap();
    let tls = agent.tls(tcp, "ws.example", &[b"http/1.1"]).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async("wss://ws.example/socket", tls)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for i in 0..3 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), format!("hello {i}"));
    }
    ws.close(None).await.unwrap();
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn websocket_echo_through_plain_ws() {
    let h = Harness::new()
        .plain_upstream(&["ws.example"], websocket_echo())
        .allow("ws.example")
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    // A plain-HTTP proxy client sends the absolute-form upgrade request to the proxy itself.
    let tcp = tokio::net::TcpStream::connect(keyward.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let req = Request::get("http://ws.example/socket")
        .header("host", "ws.example")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        resp.headers()["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let upgraded = hyper::upgrade::on(resp).await.unwrap();
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Client,
        None,
    )
    .await;
    ws.send(Message::text("plain hello")).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "plain hello");
    assert_eq!(upstream.count(), 1);
}
