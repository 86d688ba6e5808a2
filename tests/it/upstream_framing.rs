//! An HTTP/1.1 upstream whose response framing is ambiguous (Transfer-Encoding beside
//! Content-Length, or an odd transfer coding): keyward answers 502 without forwarding it,
//! and never sends another request on that connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::support::agent::Proto;
use crate::support::{Keyward, TestCa};

const HOST: &str = "frame.example";
const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Connections accepted and, per connection, the request paths read on it.
#[derive(Default)]
struct Record {
    accepted: AtomicUsize,
    paths: std::sync::Mutex<Vec<(usize, String)>>,
}

/// A TLS upstream answering each request by its path: `/bad-*` with `bad`, anything else
/// with a plain 200. Keeps each connection open for more requests.
async fn scripted(ca: &TestCa, bad: &'static str) -> (std::net::SocketAddr, Arc<Record>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(ca.server_config(&[HOST], &[b"http/1.1"]));
    let record = Arc::new(Record::default());
    let rec = record.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let conn = rec.accepted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let rec = rec.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                for _ in 0..16 {
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end);
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    let answer = if path.starts_with("/bad") { bad } else { OK };
                    rec.paths.lock().unwrap().push((conn, path));
                    if tls.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                    let _ = tls.flush().await;
                }
            });
        }
    });
    (addr, record)
}

async fn check(bad: &'static str) {
    let ca = TestCa::new();
    let (addr, record) = scripted(&ca, bad).await;
    // One serving thread: its upstream pool holds every connection (each thread pools its
    // own), so the agent's separate connections share one upstream connection.
    let keyward = Keyward::start(&ca, &[("frame.example:443", addr)], &[HOST], |c| {
        c.workers = 1;
    })
    .await;
    let agent = keyward.agent();
    let url = |p: &str| format!("https://{HOST}{p}");

    // Normal responses share one pooled connection (else the test below proves nothing).
    for p in ["/one", "/two"] {
        let reply = agent.get(Proto::H1, &url(p)).await;
        assert_eq!(reply.status, StatusCode::OK, "{p}");
        assert_eq!(&reply.body[..], b"ok");
    }
    assert_eq!(record.accepted.load(Ordering::SeqCst), 1, "pool not reused");

    let reply = agent.get(Proto::H1, &url("/bad")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{bad:?}");
    let why = reply.reason().to_owned();
    assert!(why.contains("framing is ambiguous"), "{why}");
    assert!(!String::from_utf8_lossy(&reply.body).contains("smuggled"));

    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        agent.get(Proto::H1, &url("/after")),
    )
    .await
    .expect("request after the ambiguous response timed out");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"ok");
    let paths = record.paths.lock().unwrap().clone();
    let bad_conn = paths.iter().find(|(_, p)| p == "/bad").unwrap().0;
    let after_conn = paths.iter().find(|(_, p)| p == "/after").unwrap().0;
    assert_ne!(
        bad_conn, after_conn,
        "a request was sent on the connection whose framing was doubtful: {paths:?}"
    );
}

#[tokio::test]
async fn transfer_encoding_beside_content_length_is_refused_and_the_connection_dropped() {
    check("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled").await;
}

#[tokio::test]
async fn an_odd_transfer_coding_is_refused_and_the_connection_dropped() {
    check("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        .await;
}
