//! Resource exhaustion on loopback, each bounded in time and count: slowloris on heads and
//! bodies, thousands of idle connections, a client that never reads, an upstream that
//! trickles, and leaf minting for thousands of hosts. keyward keeps serving another agent
//! throughout, cuts the abusers off after its timeouts, and its certificate cache stays bounded.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use crate::support::rules::{ExampleRules, example_rules};
use crate::support::upstream::{BoxError, TestBody, full};
use crate::support::{Handler, Keyward, TestCa, Upstream};

/// Size of the response a client never reads.
const BIG: usize = 64 * 1024 * 1024;

/// `/big`: 64 MiB; `/trickle`: 20 bytes, one every 50 ms; anything else: `ok`.
fn handler() -> Handler {
    Arc::new(|req| {
        Box::pin(async move {
            let body: TestBody = match req.uri().path() {
                "/big" => BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
                    (0..BIG / 65536)
                        .map(|_| Ok::<_, BoxError>(Frame::data(Bytes::from(vec![b'x'; 65536])))),
                ))),
                "/trickle" => BodyExt::boxed(StreamBody::new(futures_util::stream::unfold(
                    0u32,
                    |i| async move {
                        if i == 20 {
                            return None;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((
                            Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"t"))),
                            i + 1,
                        ))
                    },
                ))),
                _ => full("ok"),
            };
            Response::new(body)
        })
    })
}

/// keyward with short timeouts in front of a plain upstream, example rules loaded (so request
/// bodies are read ahead under the head timeout).
async fn rig() -> (ExampleRules, TestCa, Upstream, Keyward) {
    let copy = example_rules();
    let ca = TestCa::new();
    let upstream = Upstream::plain(handler()).await;
    let path = copy.path();
    let keyward = Keyward::start(
        &ca,
        &[("plain.example:80", upstream.addr)],
        &["plain.example"],
        |c| {
            c.rules_dir = path;
            c.limits.header_read_timeout = Duration::from_millis(500);
            c.limits.idle_timeout = Duration::from_secs(1);
            c.limits.upstream_response_timeout = Duration::from_secs(5);
        },
    )
    .await;
    (copy, ca, upstream, keyward)
}

/// Another agent gets an answer promptly.
async fn served(keyward: &Keyward) {
    let req = Request::get("http://plain.example/ok")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = timeout(Duration::from_secs(5), keyward.agent().plain(req))
        .await
        .expect("keyward did not serve another agent in time");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"ok");
}

/// Reads until keyward closes; the bytes read, or `None` when still open at `deadline`.
async fn closed_by(mut tcp: TcpStream, deadline: Instant) -> Option<usize> {
    let mut total = 0;
    let mut buf = vec![0u8; 65536];
    loop {
        match timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(total),
            Ok(Ok(n)) => total += n,
        }
    }
}

async fn open_with(keyward: &Keyward, bytes: &[u8]) -> TcpStream {
    let mut tcp = TcpStream::connect(keyward.addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    tcp
}

#[tokio::test]
async fn slowloris_on_heads_and_bodies_is_cut_off_while_others_are_served() {
    let (_copy, _ca, upstream, keyward) = rig().await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(open_with(&keyward, b"GET http://plain.example/ HTTP/1.1\r\nHost: pla").await);
    }
    for _ in 0..20 {
        let head = b"POST http://plain.example/ HTTP/1.1\r\nHost: plain.example\r\nContent-Length: 100000\r\n\r\nabc";
        slow.push(open_with(&keyward, head).await);
    }
    served(&keyward).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    for tcp in slow {
        assert!(
            closed_by(tcp, deadline).await.is_some(),
            "a slow connection was kept open"
        );
    }
    assert_eq!(
        upstream.count(),
        1,
        "only the served request reached the upstream"
    );
}

#[tokio::test]
async fn two_thousand_idle_connections_are_closed_after_the_idle_timeout() {
    let (_copy, _ca, _upstream, keyward) = rig().await;
    let addr = keyward.addr;
    let idle: Vec<TcpStream> = futures_util::stream::iter(0..2000)
        .map(|_| async move { TcpStream::connect(addr).await.unwrap() })
        .buffer_unordered(64)
        .collect()
        .await;
    served(&keyward).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let closed = futures_util::stream::iter(idle)
        .map(|tcp| closed_by(tcp, deadline))
        .buffer_unordered(256)
        .filter(|c| std::future::ready(c.is_some()))
        .count()
        .await;
    assert_eq!(closed, 2000, "idle connections left open");
    served(&keyward).await;
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_hold_up_others() {
    let (_copy, _ca, _upstream, keyward) = rig().await;
    let stuck = open_with(
        &keyward,
        b"GET http://plain.example/big HTTP/1.1\r\nHost: plain.example\r\n\r\n",
    )
    .await;
    served(&keyward).await;
    // The scenario itself: the client reads nothing for three idle periods.
    tokio::time::sleep(Duration::from_secs(3)).await;
    served(&keyward).await;
    // The stuck connection was cut off once no bytes moved for the idle timeout.
    let read = closed_by(stuck, Instant::now() + Duration::from_secs(20)).await;
    let read = read.expect("the connection of a client that never reads was kept open");
    assert!(read < BIG, "the whole body was delivered: {read}");
}

#[tokio::test]
async fn an_upstream_that_trickles_does_not_hold_up_others() {
    let (_copy, _ca, _upstream, keyward) = rig().await;
    let agent = keyward.agent();
    let trickle = tokio::spawn(async move {
        let req = Request::get("http://plain.example/trickle")
            .body(Full::new(Bytes::new()))
            .unwrap();
        agent.plain(req).await
    });
    served(&keyward).await;
    let reply = timeout(Duration::from_secs(10), trickle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], &[b't'; 20][..]);
}

#[tokio::test]
async fn minting_for_thousands_of_hosts_keeps_the_cache_bounded() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wild.yaml"),
        "rules:\n  - id: any-example\n    url: https://*.example.com/**\n    decision: allow\n",
    )
    .unwrap();
    let rules = dir.path().to_path_buf();
    let keyward = Keyward::start(&ca, &[], &[], |c| {
        c.rules_dir = rules;
        c.cert_cache_capacity = 100;
    })
    .await;
    let agent = keyward.agent();
    let hosts = 3000;
    let handshakes = futures_util::stream::iter(0..hosts)
        .map(|i| {
            let agent = agent.clone();
            async move {
                let host = format!("h{i}.example.com");
                let tcp = agent.connect(&format!("{host}:443")).await.unwrap();
                agent.tls(tcp, &host, &[b"http/1.1"]).await.is_ok()
            }
        })
        .buffer_unordered(8)
        .filter(|ok| std::future::ready(*ok))
        .count();
    let done = timeout(Duration::from_secs(240), handshakes)
        .await
        .expect("minting took too long");
    assert_eq!(done, hosts);
    let certs = keyward.running.handles().certs();
    assert!(certs.mints() >= hosts as u64, "{} mints", certs.mints());
    assert!(certs.len() <= 100, "cache holds {} leaves", certs.len());
}
