//! HTTP/2 abuse from an agent, with hand-written frames: `:authority` vs Host, connection
//! headers, CR/LF and bad pseudo-headers (which must never become a smuggled h1 request
//! upstream), huge header lists, rapid reset and CONTINUATION floods. keyward answers with a
//! 4xx, a stream reset or a GOAWAY, nothing reaches the upstream, and other agents are served.

use std::time::Duration;

use http::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::support::agent::Proto;
use crate::support::h2raw::{
    Answer, CONTINUATION, END_HEADERS, END_STREAM, Fields, HEADERS, RST_STREAM, answer, block,
    frame, get, open,
};
use crate::support::raw::entries_with_reason;
use crate::support::upstream::echo;
use crate::support::{Keyward, TestCa, Upstream};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "smuggle.example";

/// An allowed host behind an HTTP/1.1-only upstream: h2 → h1 translation is exercised.
async fn rig() -> (TestCa, Upstream, Keyward) {
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &[HOST], &[b"http/1.1"], echo()).await;
    let keyward = Keyward::start(
        &ca,
        &[("smuggle.example:443", upstream.addr)],
        &[HOST],
        |c| {
            c.limits.max_header_bytes = 16 * 1024;
        },
    )
    .await;
    (ca, upstream, keyward)
}

/// Sends one request whose header block is `fields` on stream 1; keyward's answer.
async fn send(keyward: &Keyward, fields: &[(Vec<u8>, Vec<u8>)]) -> Answer {
    let mut tls = open(keyward, "smuggle.example:443").await;
    let refs: Vec<(&[u8], &[u8])> = fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let headers = frame(HEADERS, END_HEADERS | END_STREAM, 1, &block(&refs));
    tls.write_all(&headers).await.unwrap();
    answer(&mut tls, 1, WAIT).await
}

fn with(extra: &[(&str, &[u8])]) -> Fields {
    let mut fields = get(&format!("{HOST}:443"));
    fields.extend(
        extra
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec())),
    );
    fields
}

/// A refusal: a 4xx, a stream reset or a GOAWAY (never a forwarded answer).
fn refused(answer: &Answer) -> bool {
    match answer {
        Answer::Status(s) => (400..500).contains(s),
        Answer::Reset(_) | Answer::GoAway(_) | Answer::Closed => true,
        Answer::TimedOut => false,
    }
}

#[tokio::test]
async fn a_well_formed_raw_request_is_served() {
    let (_ca, upstream, keyward) = rig().await;
    assert_eq!(send(&keyward, &with(&[])).await, Answer::Status(200));
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn authority_and_host_that_disagree_are_misdirected() {
    let (_ca, upstream, keyward) = rig().await;
    let host = send(&keyward, &with(&[("host", b"evil.example")])).await;
    assert_eq!(host, Answer::Status(421));
    let mut fields = get("evil.example:443");
    fields.push((b"host".to_vec(), b"smuggle.example".to_vec()));
    assert_eq!(send(&keyward, &fields).await, Answer::Status(421));
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn connection_specific_headers_are_refused() {
    let (_ca, upstream, keyward) = rig().await;
    for (name, value) in [
        ("connection", &b"keep-alive"[..]),
        ("transfer-encoding", b"chunked"),
        ("keep-alive", b"timeout=5"),
        ("proxy-connection", b"keep-alive"),
        ("upgrade", b"websocket"),
        ("te", b"gzip"),
    ] {
        let answer = send(&keyward, &with(&[(name, value)])).await;
        assert!(refused(&answer), "{name}: {answer:?}");
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn cr_lf_and_malformed_fields_never_reach_an_h1_upstream() {
    let (_ca, upstream, keyward) = rig().await;
    let mut cases: Vec<(&str, Fields)> = vec![
        ("CRLF in a value", with(&[("x-a", b"1\r\nX-Injected: yes")])),
        ("LF in a value", with(&[("x-a", b"1\nX-Injected: yes")])),
        ("CR in a value", with(&[("x-a", b"1\rX-Injected: yes")])),
        ("NUL in a value", with(&[("x-a", b"1\0")])),
        (
            "CRLF in :path",
            with(&[])
                .into_iter()
                .map(|(n, v)| {
                    if n == b":path" {
                        (
                            n,
                            b"/ HTTP/1.1\r\nHost: evil.example\r\n\r\nGET /smuggled".to_vec(),
                        )
                    } else {
                        (n, v)
                    }
                })
                .collect(),
        ),
        ("upper-case name", with(&[("X-Upper", b"1")])),
        ("space in a name", with(&[("x a", b"1")])),
        ("colon in a name", with(&[("x:a", b"1")])),
        ("unknown pseudo-header", with(&[(":foo", b"1")])),
        ("duplicate :path", with(&[(":path", b"/again")])),
    ];
    let mut late = vec![(b"x-a".to_vec(), b"1".to_vec())];
    late.extend(get(&format!("{HOST}:443")));
    cases.push(("pseudo-header after a regular one", late));
    cases.push((
        "missing :path",
        get(&format!("{HOST}:443"))
            .into_iter()
            .filter(|(n, _)| n != b":path")
            .collect(),
    ));
    cases.push((
        "empty :path",
        get(&format!("{HOST}:443"))
            .into_iter()
            .map(|(n, v)| {
                if n == b":path" {
                    (n, Vec::new())
                } else {
                    (n, v)
                }
            })
            .collect(),
    ));
    for (name, fields) in cases {
        let answer = send(&keyward, &fields).await;
        assert!(refused(&answer), "{name}: {answer:?}");
    }
    assert_eq!(upstream.count(), 0, "{:?}", upstream.seen());
}

#[tokio::test]
async fn huge_header_lists_are_refused() {
    let (_ca, upstream, keyward) = rig().await;
    let mut tls = open(&keyward, "smuggle.example:443").await;
    let value = vec![b'v'; 1000];
    let mut fields: Vec<(&[u8], &[u8])> = vec![(b":method", b"GET"), (b":scheme", b"https")];
    fields.extend([
        (&b":authority"[..], &b"smuggle.example:443"[..]),
        (b":path", b"/"),
    ]);
    let names: Vec<String> = (0..200).map(|i| format!("x-h{i}")).collect();
    fields.extend(names.iter().map(|n| (n.as_bytes(), &value[..])));
    let header_block = block(&fields); // ~200 KB against a 16 KiB limit
    let mut pieces = header_block.chunks(16_000).peekable();
    let first = pieces.next().unwrap();
    let mut bytes = frame(HEADERS, END_STREAM, 1, first);
    while let Some(piece) = pieces.next() {
        let flags = if pieces.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        bytes.extend(frame(CONTINUATION, flags, 1, piece));
    }
    let _ = tls.write_all(&bytes).await;
    let answer = answer(&mut tls, 1, WAIT).await;
    assert!(refused(&answer), "{answer:?}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn continuation_flood_closes_the_connection_and_others_are_served() {
    let (_ca, upstream, keyward) = rig().await;
    for payload in [&b""[..], &block(&[(b"x-a", b"b")])[..]] {
        let tls = open(&keyward, "smuggle.example:443").await;
        let (mut read, mut write) = tokio::io::split(tls);
        let pseudo = get(&format!("{HOST}:443"));
        let refs: Vec<(&[u8], &[u8])> = pseudo.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let headers = frame(HEADERS, END_STREAM, 1, &block(&refs));
        let payload = payload.to_vec();
        let writer = tokio::spawn(async move {
            write.write_all(&headers).await?;
            // Never END_HEADERS: at most 100,000 frames, stopping when keyward hangs up.
            let batch: Vec<u8> = (0..100)
                .flat_map(|_| frame(CONTINUATION, 0, 1, &payload))
                .collect();
            for _ in 0..1000 {
                write.write_all(&batch).await?;
            }
            Ok::<_, std::io::Error>(())
        });
        let answer = answer(&mut read, 1, WAIT).await;
        assert!(refused(&answer), "{answer:?}");
        let _ = tokio::time::timeout(WAIT, writer).await.unwrap();
    }
    let reply = keyward
        .agent()
        .get(Proto::H2, "https://smuggle.example/after")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(upstream.count(), 1, "only the later request was forwarded");
    let entries = entries_with_reason(&keyward, "HTTP/2 protocol violation", 2).await;
    assert_eq!(
        entries.len(),
        2,
        "one entry per flooded connection: {entries:?}"
    );
    assert!(entries.iter().all(|e| e["host"] == HOST), "{entries:?}");
}

#[tokio::test]
async fn rapid_reset_does_not_stop_keyward_serving_others() {
    let (_ca, upstream, keyward) = rig().await;
    let mut tls = open(&keyward, "smuggle.example:443").await;
    let pseudo = get(&format!("{HOST}:443"));
    let refs: Vec<(&[u8], &[u8])> = pseudo.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let header_block = block(&refs);
    let mut burst = Vec::new();
    for i in 0..1000u32 {
        let id = 2 * i + 1;
        burst.extend(frame(HEADERS, END_HEADERS, id, &header_block));
        burst.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
    }
    let _ = tls.write_all(&burst).await;
    let _ = tls.flush().await;
    // The flood ends with a GOAWAY (ENHANCE_YOUR_CALM) or keyward simply absorbs it; either
    // way another agent is served promptly.
    let _ = answer(&mut tls, u32::MAX, Duration::from_secs(2)).await;
    let reply = tokio::time::timeout(
        WAIT,
        keyward
            .agent()
            .get(Proto::H2, "https://smuggle.example/after"),
    )
    .await
    .expect("keyward stopped serving during a rapid-reset flood");
    assert_eq!(reply.status, StatusCode::OK);
    assert!(upstream.count() <= 1001);
}
