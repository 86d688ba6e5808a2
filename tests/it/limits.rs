//! Limits and lifecycle: oversized headers (431), slow headers (closed), graceful shutdown
//! with a request in flight.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::support::agent::{Proto, read_response_head, send_over};
use crate::support::harness::Running;
use crate::support::upstream::{echo, full};
use crate::support::{Handler, Harness};

#[tokio::test]
async fn oversized_headers_are_431_on_the_proxy_port_and_in_tunnels() {
    let h = Harness::new()
        .upstream(&["api.github.com"], echo())
        .allow("api.github.com")
        .config(|c| c.limits.max_header_bytes = 16 * 1024)
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let big = "a".repeat(32 * 1024);

    let mut tcp = TcpStream::connect(keyward.addr).await.unwrap();
    let head = format!(
        "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nX-Big: {big}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (status, _, _) = read_response_head(&mut tcp).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    let agent = keyward.agent();
    let tcp = agent.connect("api.github.com:443").await.unwrap();
    let tls = agent
        .tls(tcp, "api.github.com", &[b"http/1.1"])
        .await
        .unwrap();
    let req = Request::get("https://api.github.com/")
        .header("x-big", big)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send_over(tls, Proto::H1, req).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn slow_request_headers_are_cut_off() {
    let h = Harness::new()
        .allow("api.github.com")
        .config(|c| c.limits.header_read_timeout = Duration::from_millis(300))
        .start()
        .await;
    let keyward = &h.keyward;
    let mut tcp = TcpStream::connect(keyward.addr).await.unwrap();
    tcp.write_all(b"CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.gi")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "keyward must close a connection whose head never completes"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let release = Arc::new(Notify::new());
    let arrived = Arc::new(Notify::new());
    let handler: Handler = {
        let release = release.clone();
        let arrived = arrived.clone();
        Arc::new(move |_req| {
            let release = release.clone();
            let arrived = arrived.clone();
            Box::pin(async move {
                arrived.notify_one();
                release.notified().await;
                Response::new(full("finished"))
            })
        })
    };
    let Running {
        keyward,
        upstreams: _upstreams,
        ..
    } = Harness::new()
        .upstream(&["api.github.com"], handler)
        .allow("api.github.com")
        .start()
        .await;
    let agent = keyward.agent();
    let addr = keyward.addr;
    let in_flight =
        tokio::spawn(async move { agent.get(Proto::H1, "https://api.github.com/long").await });
    arrived.notified().await;

    let handles = keyward.running.handles().clone();
    let stopping = tokio::spawn(keyward.running.shutdown());
    // Shutdown has begun: the listener stops accepting once it sees the token.
    handles.lifecycle.shutdown().cancelled().await;
    release.notify_one();
    let reply = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"finished");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// Sends a CONNECT on `tcp` and reads its answer's head (bounded).
async fn connect_answer(tcp: &mut TcpStream, wait: Duration) -> Option<StatusCode> {
    let connect = b"CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n\r\n";
    tcp.write_all(connect).await.ok()?;
    let (status, _, _) = tokio::time::timeout(wait, read_response_head(tcp))
        .await
        .ok()?;
    Some(status)
}

#[tokio::test]
async fn the_connection_limit_holds_across_serving_threads() {
    let h = Harness::new()
        .upstream(&["api.github.com"], echo())
        .allow("api.github.com")
        .config(|c| {
            c.workers = 3;
            c.limits.max_connections = 2;
            c.limits.header_read_timeout = Duration::from_secs(30);
        })
        .start()
        .await;
    let addr = h.keyward.addr;
    // Two tunnels, left open before their TLS handshake: both slots taken.
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    for tcp in [&mut first, &mut second] {
        let status = connect_answer(tcp, Duration::from_secs(10)).await;
        assert_eq!(status, Some(StatusCode::OK));
    }
    // A third waits in the backlog, whichever serving thread the kernel would give it.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let waiting = connect_answer(&mut third, Duration::from_millis(500)).await;
    assert_eq!(
        waiting, None,
        "a third connection was served over the limit"
    );
    // A slot frees: the third is served.
    drop(first);
    let (status, _, _) =
        tokio::time::timeout(Duration::from_secs(10), read_response_head(&mut third))
            .await
            .expect("the waiting connection was not served once a slot freed");
    assert_eq!(status, StatusCode::OK);
}
