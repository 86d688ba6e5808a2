//! A bounded soak (10 s, loopback): normal requests keep succeeding while other clients
//! abuse keyward (slow heads, idle tunnels, abandoned downloads, denied and refused
//! requests); afterwards every connection task is gone (no leak).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::io::AsyncWriteExt;

use crate::support::agent::Proto;
use crate::support::upstream::{BoxError, TestBody, full};
use crate::support::{Handler, Keyward, TestCa, Upstream};

const SOAK: Duration = Duration::from_secs(10);

fn handler() -> Handler {
    Arc::new(|req: http::Request<hyper::body::Incoming>| {
        Box::pin(async move {
            if req.uri().path() == "/big" {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let frames = futures_util::stream::iter(
                    (0..1024).map(move |_| Ok::<_, BoxError>(Frame::data(chunk.clone()))),
                );
                let body: TestBody = BodyExt::boxed(StreamBody::new(frames));
                Response::new(body)
            } else {
                Response::new(full("ok"))
            }
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_traffic_survives_abuse_and_nothing_leaks() {
    let ca = TestCa::new();
    let upstream =
        Upstream::https(&ca, &["api.example.com"], &[b"h2", b"http/1.1"], handler()).await;
    let keyward = Keyward::start(
        &ca,
        &[("api.example.com:443", upstream.addr)],
        &["api.example.com"],
        |c| {
            c.limits.header_read_timeout = Duration::from_millis(500);
            c.limits.idle_timeout = Duration::from_secs(1);
        },
    )
    .await;
    let shared = keyward.running.shared().clone();
    let baseline = shared.tasks().len();
    let deadline = Instant::now() + SOAK;
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));

    let mut workers = Vec::new();
    for proto in [Proto::H1, Proto::H2] {
        let (agent, ok, failed) = (keyward.agent(), ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let reply = tokio::time::timeout(
                    Duration::from_secs(5),
                    agent.get(proto, "https://api.example.com/ok"),
                )
                .await;
                match reply {
                    Ok(r) if r.status == StatusCode::OK => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    // Slow heads, repeatedly.
    let addr = keyward.addr;
    workers.push(tokio::spawn(async move {
        while Instant::now() < deadline {
            let mut conns = Vec::new();
            for _ in 0..50 {
                if let Ok(mut c) = tokio::net::TcpStream::connect(addr).await {
                    let _ = c
                        .write_all(b"CONNECT api.example.com:443 HTTP/1.1\r\nHo")
                        .await;
                    conns.push(c);
                }
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }));
    // Idle tunnels and abandoned downloads.
    let agent = keyward.agent();
    workers.push(tokio::spawn(async move {
        while Instant::now() < deadline {
            let mut held = Vec::new();
            for _ in 0..20 {
                if let Ok(tcp) = agent.connect("api.example.com:443").await
                    && let Ok(tls) = agent.tls(tcp, "api.example.com", &[b"http/1.1"]).await
                {
                    held.push(tls);
                }
            }
            let tcp = agent.connect("api.example.com:443").await.unwrap();
            let tls = agent
                .tls(tcp, "api.example.com", &[b"http/1.1"])
                .await
                .unwrap();
            let (mut s, c) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(c);
            let req = Request::get("/big")
                .header("host", "api.example.com")
                .body(Full::new(Bytes::new()))
                .unwrap();
            if let Ok(resp) = s.send_request(req).await {
                let mut body = resp.into_body();
                let _ = body.frame().await; // read a little, then walk away
            }
            let _ = agent.connect("denied.example:443").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }));
    for w in workers {
        w.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 50, "only {ok} normal requests succeeded");
    assert_eq!(
        failed, 0,
        "{failed} normal requests failed during the abuse"
    );
    // Everything abusive times out: connection tasks return to the baseline.
    let mut live = usize::MAX;
    for _ in 0..100 {
        live = shared.tasks().len();
        if live <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        live <= baseline,
        "{live} connection tasks still alive (baseline {baseline})"
    );
    println!("soak: {ok} normal requests succeeded, 0 failed; {live} connection tasks left");
}
