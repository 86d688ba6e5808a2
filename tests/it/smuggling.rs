//! Request smuggling with hand-written bytes, on the proxy port and inside a TLS tunnel:
//! ambiguous framing, obfuscated transfer codings, obs-fold, bad header names, invalid chunk
//! sizes, requests after an upgrade, `Connection` naming injected headers. Each is refused
//! (keyward's 4xx with its audit entry, or hyper's 400 and a closed connection) with nothing
//! upstream, or, where RFC 9112 lets a recipient normalise, forwarded as exactly one
//! re-framed request while the smuggled one never arrives.

use crate::support::raw::{RawReply, audit_log, entries_with_reason, in_tunnel, on_proxy_port};
use crate::support::rules::{ExampleRules, example_rules};
use crate::support::upstream::echo;
use crate::support::{Keyward, TestCa, Upstream};

/// An allowed HTTPS host and an allowed plain host: a request keyward accepted would reach
/// them. The example rules are loaded too, so secrets exist and bodies are read ahead.
struct Rig {
    tls: Upstream,
    plain: Upstream,
    keyward: Keyward,
    copy: ExampleRules,
    _ca: TestCa,
}

async fn rig() -> Rig {
    let copy = example_rules();
    let ca = TestCa::new();
    let names = ["smuggle.example", "api.github.com"];
    let tls = Upstream::https(&ca, &names, &[b"http/1.1"], echo()).await;
    let plain = Upstream::plain(echo()).await;
    let path = copy.path();
    let keyward = Keyward::start(
        &ca,
        &[
            ("smuggle.example:443", tls.addr),
            ("api.github.com:443", tls.addr),
            ("plain.example:80", plain.addr),
        ],
        &["smuggle.example", "plain.example"],
        |c| c.rules_dir = path,
    )
    .await;
    Rig {
        tls,
        plain,
        keyward,
        copy,
        _ca: ca,
    }
}

mod cases;

use cases::{Expect, cases};

/// Checks one reply against its expectation and returns the request ids keyward answered.
fn judge(
    name: &str,
    expect: Expect,
    reply: &RawReply,
    before: usize,
    after: usize,
    smuggled: bool,
) -> Vec<String> {
    assert!(
        !smuggled,
        "{name}: the smuggled request reached the upstream: {reply:?}"
    );
    assert!(reply.closed, "{name}: connection left open: {reply:?}");
    let statuses = reply.statuses();
    match expect {
        Expect::Refused => {
            assert_eq!(after, before, "{name}: reached the upstream: {reply:?}");
            assert_eq!(statuses.len(), 1, "{name}: {reply:?}");
            assert!((400..500).contains(&statuses[0]), "{name}: {reply:?}");
        }
        Expect::OneRequest => {
            assert_eq!(after, before + 1, "{name}: {reply:?}");
            assert_eq!(statuses, vec![200], "{name}: {reply:?}");
        }
    }
    reply.request_ids()
}

#[tokio::test]
async fn ambiguous_framing_is_refused_on_the_proxy_port_and_in_tunnels() {
    let rig = rig().await;
    let mut answered = Vec::new();
    for (name, expect, bytes) in cases("http://plain.example", "plain.example") {
        let before = rig.plain.count();
        let reply = on_proxy_port(&rig.keyward, bytes.as_bytes()).await;
        let smuggled = rig.plain.seen().iter().any(|s| s.uri.contains("smuggled"));
        answered.extend(judge(
            name,
            expect,
            &reply,
            before,
            rig.plain.count(),
            smuggled,
        ));
    }
    for (name, expect, bytes) in cases("", "smuggle.example") {
        let before = rig.tls.count();
        let reply = in_tunnel(&rig.keyward, "smuggle.example:443", bytes.as_bytes()).await;
        let smuggled = rig.tls.seen().iter().any(|s| s.uri.contains("smuggled"));
        answered.extend(judge(
            name,
            expect,
            &reply,
            before,
            rig.tls.count(),
            smuggled,
        ));
    }
    // keyward's own answers (framing it refuses, unreadable chunked bodies) are audited.
    assert!(answered.len() >= 10, "keyward answered only {answered:?}");
    let log = audit_log(&rig.keyward).await;
    for id in &answered {
        assert!(log.contains(id.as_str()), "no audit entry for {id}");
    }
    // Heads hyper itself refused (no request id in its bare 400) are audited too, once the
    // connection has ended: one `malformed request` entry each, on both sides.
    let refused_by_parser = cases("", "x")
        .iter()
        .filter(|(_, expect, _)| *expect == Expect::Refused)
        .count()
        * 2
        - answered.len();
    let malformed = entries_with_reason(&rig.keyward, "malformed request", refused_by_parser).await;
    assert_eq!(malformed.len(), refused_by_parser, "{malformed:#?}");
    for entry in &malformed {
        assert_eq!(entry["decision"], "deny", "{entry}");
        assert!(
            matches!(entry["status"].as_u64(), Some(400 | 431)),
            "{entry}"
        );
    }
    let in_tunnels = malformed
        .iter()
        .filter(|e| e["host"] == "smuggle.example")
        .count();
    assert!(
        in_tunnels > 0 && in_tunnels < malformed.len(),
        "{malformed:#?}"
    );
}

#[tokio::test]
async fn a_request_pipelined_after_an_upgrade_is_judged_on_its_own() {
    let rig = rig().await;
    let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let plain = format!(
        "GET http://plain.example/ws HTTP/1.1\r\nHost: plain.example\r\n{upgrade}\r\nGET http://evil.example/smuggled HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    );
    let reply = on_proxy_port(&rig.keyward, plain.as_bytes()).await;
    assert!(!reply.statuses().contains(&101), "{reply:?}");
    assert!(
        rig.plain.seen().iter().all(|s| !s.uri.contains("smuggled")),
        "{reply:?}"
    );
    assert!(rig.plain.count() <= 1);
    let tunnel = format!(
        "GET /ws HTTP/1.1\r\nHost: smuggle.example\r\n{upgrade}\r\nGET /smuggled HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    );
    let reply = in_tunnel(&rig.keyward, "smuggle.example:443", tunnel.as_bytes()).await;
    assert!(!reply.statuses().contains(&101), "{reply:?}");
    assert!(
        rig.tls.seen().iter().all(|s| !s.uri.contains("smuggled")),
        "{reply:?}"
    );
    // Whatever followed the upgrade request was answered by keyward (421/403), never forwarded.
    for status in reply.statuses().iter().skip(1) {
        assert!((400..500).contains(status), "{reply:?}");
    }
}

#[tokio::test]
async fn connection_header_cannot_remove_an_injected_credential() {
    let rig = rig().await;
    let token = rig.copy.values["github"].clone();
    let bytes = "GET /user HTTP/1.1\r\nHost: api.github.com\r\nConnection: keep-alive, Authorization, close\r\nAuthorization: Bearer keyward:github:7f3c9a1e5b2d4c8e\r\n\r\n";
    let reply = in_tunnel(&rig.keyward, "api.github.com:443", bytes.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![200], "{reply:?}");
    let seen = rig.tls.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {token}").as_str(),
        "the injected credential must reach the upstream"
    );
    assert!(
        !reply.text.contains(&token),
        "the secret came back to the agent"
    );
}

#[tokio::test]
async fn upgrade_values_that_only_contain_websocket_are_not_upgrades() {
    let rig = rig().await;
    for value in [
        "notwebsocket",
        "websocketx",
        "websocket, h2c",
        "WebSocket/13",
    ] {
        let bytes = format!(
            "GET /ws HTTP/1.1\r\nHost: smuggle.example\r\nConnection: Upgrade, close\r\nUpgrade: {value}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let before = rig.tls.count();
        let reply = in_tunnel(&rig.keyward, "smuggle.example:443", bytes.as_bytes()).await;
        assert!(!reply.statuses().contains(&101), "{value}: {reply:?}");
        assert_eq!(rig.tls.count(), before + 1, "{value}");
        let seen = rig.tls.seen().pop().unwrap();
        assert!(!seen.headers.contains_key("upgrade"), "{value}: {seen:?}");
        assert!(
            !seen.headers.contains_key("connection"),
            "{value}: {seen:?}"
        );
    }
}
