//! Path spellings that upstream servers read differently, through the running proxy: `//`
//! (nginx merges slashes), `;` parameters and `..;` (Tomcat, Spring, Jetty strip them),
//! `%252e` (servers that decode twice). Refused with 400 by default over HTTP/1 in a tunnel,
//! on the proxy port and over HTTP/2 (a client and hand-written frames), each with its reason and audit entry, nothing
//! upstream; with `path_spellings:` the spelling is admitted and the deny rule still holds.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use tokio::io::AsyncWriteExt;

use crate::support::agent::Proto;
use crate::support::h2raw::{Answer, END_HEADERS, END_STREAM, HEADERS, answer, block, frame, open};
use crate::support::raw::{RawReply, audit_log, in_tunnel, on_proxy_port};
use crate::support::widgets::{HOST, Rig};
use crate::support::{Harness, Keyward};

/// An allow on the repository, a deny on its admin pages, on one HTTPS and one plain host;
/// `opt_in` is added to the allow rules.
fn rules(opt_in: &str) -> String {
    format!(
        r#"rules:
  - id: widgets
    url: https://{HOST}/repos/acme/widgets/**
    decision: allow
{opt_in}
  - id: no-admin
    url: https://{HOST}/repos/acme/widgets/admin/**
    decision: deny
  - id: plain-widgets
    url: http://plain.widgets.example/repos/acme/widgets/**
    decision: allow
{opt_in}
  - id: plain-no-admin
    url: http://plain.widgets.example/repos/acme/widgets/admin/**
    decision: deny
"#
    )
}

async fn rig(opt_in: &str) -> Rig {
    Rig::start(Harness::new().rules("widgets.yaml", &rules(opt_in))).await
}

/// The JSON body of the first response in a raw reply.
pub fn json_of(reply: &RawReply) -> serde_json::Value {
    let body = reply.text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::Deserializer::from_str(body)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON body: {reply:?}"))
}

/// The audit entry of `request_id`.
pub async fn entry(keyward: &Keyward, request_id: &str) -> serde_json::Value {
    audit_log(keyward)
        .await
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no audit entry for {request_id}"))
}

/// Checks a refusal: its status, a reason containing `why`, and its audit entry.
pub async fn assert_refused(keyward: &Keyward, reply: &RawReply, status: u16, why: &str) {
    assert_eq!(reply.statuses(), vec![status], "{reply:?}");
    let json = json_of(reply);
    let reason = json["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(why), "{why}: {json}");
    let id = json["request_id"].as_str().unwrap();
    let logged = entry(keyward, id).await;
    assert_eq!(logged["status"], status, "{logged}");
    assert_eq!(logged["reason"], reason, "{logged}");
}

const SPELLINGS: [(&str, &str); 6] = [
    ("/repos/acme/widgets//admin/users", "empty segment"),
    ("//repos/acme/widgets/admin/users", "empty segment"),
    ("/repos/acme/widgets/admin;x=y/users", "path parameter"),
    ("/repos/acme/widgets/x/..;/admin/users", "dot segment"),
    (
        "/repos/acme/widgets/x/%252e%252e/admin/users",
        "encoded twice",
    ),
    ("/repos/acme/widgets/x%252fadmin/users", "encoded twice"),
];

#[tokio::test]
async fn ambiguous_spellings_are_refused_over_http1_in_tunnels_and_on_the_proxy_port() {
    let rig = rig("").await;
    for (path, why) in SPELLINGS {
        let bytes = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
        let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", bytes.as_bytes()).await;
        assert_refused(&rig.keyward, &reply, 400, why).await;
        let plain = format!(
            "GET http://plain.widgets.example{path} HTTP/1.1\r\nHost: plain.widgets.example\r\nConnection: close\r\n\r\n"
        );
        let reply = on_proxy_port(&rig.keyward, plain.as_bytes()).await;
        assert_refused(&rig.keyward, &reply, 400, why).await;
    }
    // The spelling a server agrees on is served.
    let ok = format!(
        "GET /repos/acme/widgets/issues/ HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    );
    let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", ok.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![200], "{reply:?}");
    assert_eq!(rig.tls.count(), 1, "{:?}", rig.tls.seen());
    assert_eq!(rig.plain.count(), 0, "{:?}", rig.plain.seen());
}

#[tokio::test]
async fn ambiguous_spellings_are_refused_over_http2() {
    let rig = rig("").await;
    let agent = rig.keyward.agent();
    for (path, why) in SPELLINGS {
        let req = Request::get(format!("https://{HOST}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let reply = agent.send(Proto::H2, req).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {reply:?}");
        let json = reply.json();
        let reason = json["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{path}: {json}");
        let logged = entry(&rig.keyward, json["request_id"].as_str().unwrap()).await;
        assert_eq!(logged["status"], 400, "{logged}");
        assert_eq!(logged["path"], path, "{logged}");
    }
    assert_eq!(rig.tls.count(), 0, "{:?}", rig.tls.seen());
}

#[tokio::test]
async fn ambiguous_spellings_in_a_hand_written_http2_path_are_refused() {
    let rig = rig("").await;
    for (path, _) in SPELLINGS {
        let mut tls = open(&rig.keyward, "api.widgets.example:443").await;
        let fields: [(&[u8], &[u8]); 4] = [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", HOST.as_bytes()),
            (b":path", path.as_bytes()),
        ];
        let headers = frame(HEADERS, END_HEADERS | END_STREAM, 1, &block(&fields));
        tls.write_all(&headers).await.unwrap();
        let got = answer(&mut tls, 1, std::time::Duration::from_secs(10)).await;
        assert_eq!(got, Answer::Status(400), "{path}");
    }
    let refused = audit_log(&rig.keyward)
        .await
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["status"] == 400 && e["host"] == HOST)
        .count();
    assert_eq!(refused, SPELLINGS.len());
    assert_eq!(rig.tls.count(), 0, "{:?}", rig.tls.seen());
}

#[tokio::test]
async fn an_opted_in_host_admits_the_spelling_and_still_denies_every_reading_of_admin() {
    let rig = rig("    path_spellings: { empty_segments: allow, parameters: allow }").await;
    for path in [
        "/repos/acme/widgets//admin/users",
        "//repos/acme/widgets/admin/users",
        "/repos/acme/widgets/admin;x=y/users",
        "/repos/acme/widgets///admin;/users",
    ] {
        let bytes = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
        let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", bytes.as_bytes()).await;
        assert_refused(&rig.keyward, &reply, 403, "denied by rule `no-admin`").await;
        let plain = format!(
            "GET http://plain.widgets.example{path} HTTP/1.1\r\nHost: plain.widgets.example\r\nConnection: close\r\n\r\n"
        );
        let reply = on_proxy_port(&rig.keyward, plain.as_bytes()).await;
        assert_refused(&rig.keyward, &reply, 403, "denied by rule `plain-no-admin`").await;
    }
    // `..;` and double encoding stay refused whatever the opt-in.
    for (path, why) in &SPELLINGS[3..] {
        let bytes = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
        let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", bytes.as_bytes()).await;
        assert_refused(&rig.keyward, &reply, 400, why).await;
    }
    rig.assert_none_reached();
    // An admitted spelling outside the denied pages is forwarded as sent.
    let bytes = format!(
        "GET /repos/acme/widgets//issues;v=2 HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    );
    let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", bytes.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![200], "{reply:?}");
    let seen = rig.tls.seen();
    assert!(
        seen[0].uri.ends_with("/repos/acme/widgets//issues;v=2"),
        "{seen:?}"
    );
}
