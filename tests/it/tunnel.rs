//! CONNECT tunnels: h1 and h2 agents against h1 and h2 upstreams, pinning (SNI, Host,
//! :authority), IPv6 literals, non-TLS tunnels, default deny, and one mint per host.

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::Full;

use crate::support::agent::{Proto, send_over};
use crate::support::harness::Running;
use crate::support::raw::entries_with_reason;
use crate::support::upstream::echo;
use crate::support::{Harness, Keyward, TestCa, Upstream};

const H1: &[&[u8]] = &[b"http/1.1"];
const H2: &[&[u8]] = &[b"h2"];
const BOTH: &[&[u8]] = &[b"h2", b"http/1.1"];

/// An upstream for api.github.com offering `alpn`, and keyward allowing it.
async fn github(alpn: &[&[u8]]) -> Running {
    Harness::new()
        .upstream_alpn(&["api.github.com"], alpn, echo())
        .allow("api.github.com:443")
        .start()
        .await
}

#[tokio::test]
async fn h1_and_h2_agents_reach_h1_and_h2_upstreams_independently() {
    for (agent_proto, upstream_alpn, upstream_version) in [
        (Proto::H1, H1, Version::HTTP_11),
        (Proto::H1, H2, Version::HTTP_2),
        (Proto::H2, H1, Version::HTTP_11),
        (Proto::H2, BOTH, Version::HTTP_2),
    ] {
        let h = github(upstream_alpn).await;
        let (upstream, keyward) = (h.upstream(), &h.keyward);
        let reply = keyward
            .agent()
            .get(agent_proto, "https://api.github.com/repos/acme/app?x=1")
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{agent_proto:?} -> {upstream_alpn:?}: {reply:?}"
        );
        let echoed = reply.json();
        assert_eq!(echoed["path"], "/repos/acme/app");
        assert_eq!(echoed["query"], "x=1");
        let seen = upstream.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].version, upstream_version);
        if upstream_version == Version::HTTP_11 {
            assert_eq!(seen[0].headers["host"], "api.github.com");
        }
        for hop in [
            "proxy-authorization",
            "proxy-connection",
            "via",
            "forwarded",
            "x-forwarded-for",
        ] {
            assert!(
                !seen[0].headers.contains_key(hop),
                "{hop} reached the upstream"
            );
        }
    }
}

#[tokio::test]
async fn post_body_is_forwarded_intact() {
    let h = github(BOTH).await;
    let (upstream, keyward) = (h.upstream(), &h.keyward);
    for proto in [Proto::H1, Proto::H2] {
        let req = Request::post("https://api.github.com/repos/acme/app/issues")
            .header("content-type", "application/json")
            .header("proxy-authorization", "Basic c2VjcmV0")
            .body(Full::new(Bytes::from_static(b"{\"title\":\"bug\"}")))
            .unwrap();
        let reply = keyward.agent().send(proto, req).await;
        assert_eq!(reply.status, StatusCode::OK);
        let echoed = reply.json();
        assert_eq!(echoed["method"], "POST");
        assert_eq!(echoed["body"], "{\"title\":\"bug\"}");
        assert!(echoed["headers"].get("proxy-authorization").is_none());
    }
    assert_eq!(upstream.count(), 2);
}

#[tokio::test]
async fn ipv6_literal_connect_target_gets_an_ip_san_leaf() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine; skipping");
        return;
    }
    let ca = TestCa::new();
    let upstream = Upstream::https_on("[::1]:0", &ca, &["::1"], echo()).await;
    let keyward = Keyward::start(&ca, &[("[::1]:443", upstream.addr)], &["[::1]"], |_| {}).await;
    let reply = keyward.agent().get(Proto::H1, "https://[::1]/v6").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json()["path"], "/v6");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn sni_other_than_connect_host_is_misdirected() {
    let h = github(BOTH).await;
    let (upstream, keyward) = (h.upstream(), &h.keyward);
    let agent = keyward.agent();
    let tcp = agent.connect("api.github.com:443").await.unwrap();
    let tls = agent.tls(tcp, "evil.example", H1).await.unwrap();
    let req = Request::get("https://evil.example/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send_over(tls, Proto::H1, req).await;
    assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(reply.reason().contains("SNI"));
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn host_or_authority_other_than_tunnel_target_is_misdirected() {
    let h = github(BOTH).await;
    let (upstream, keyward) = (h.upstream(), &h.keyward);
    let agent = keyward.agent();
    for (proto, url, host) in [
        (
            Proto::H1,
            "https://api.github.com/",
            Some("internal.example"),
        ),
        (
            Proto::H1,
            "https://api.github.com/",
            Some("api.github.com:8443"),
        ),
        (Proto::H2, "https://internal.example/", None),
    ] {
        let tcp = agent.connect("api.github.com:443").await.unwrap();
        let alpn = if proto == Proto::H1 { H1 } else { H2 };
        let tls = agent.tls(tcp, "api.github.com", alpn).await.unwrap();
        let mut req = Request::get(url);
        if let Some(host) = host {
            req = req.header("host", host);
        }
        let reply = send_over(tls, proto, req.body(Full::new(Bytes::new())).unwrap()).await;
        assert_eq!(
            reply.status,
            StatusCode::MISDIRECTED_REQUEST,
            "{proto:?} {host:?}"
        );
        assert_eq!(reply.json()["error"], "misdirected");
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn connect_to_a_host_no_rule_allows_is_refused_before_the_handshake() {
    let h = github(BOTH).await;
    let (upstream, keyward) = (h.upstream(), &h.keyward);
    let refused = keyward
        .agent()
        .connect("api.github.com:8443")
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.headers["keyward-decision"], "deny");
    let json: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(json["error"], "denied");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("api.github.com:8443")
    );
    assert!(json["request_id"].as_str().is_some());
    let refused = keyward
        .agent()
        .connect("example.org:443")
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(upstream.count(), 0);
    assert_eq!(
        keyward.running.handles().certs().mints(),
        0,
        "no leaf minted for refused hosts"
    );
}

#[tokio::test]
async fn tunnel_whose_first_bytes_are_not_tls_is_closed() {
    let h = github(BOTH).await;
    let (upstream, keyward) = (h.upstream(), &h.keyward);
    let mut tcp = keyward.agent().connect("api.github.com:443").await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: api.github.com\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("keyward must close the tunnel")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing is answered on a non-TLS tunnel");
    assert_eq!(upstream.count(), 0);
    let entries = entries_with_reason(keyward, "tunnel closed", 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["method"], "CONNECT");
    assert_eq!(entries[0]["host"], "api.github.com");
    assert_eq!(entries[0]["decision"], "deny");
    assert!(
        entries[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a TLS ClientHello"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn parallel_handshakes_to_a_new_host_mint_one_leaf() {
    let h = github(BOTH).await;
    let (upstream, keyward) = (h.upstream(), &h.keyward);
    let agent = keyward.agent();
    let handshakes = (0..200).map(|_| {
        let agent = agent.clone();
        tokio::spawn(async move {
            let tcp = agent.connect("api.github.com:443").await.unwrap();
            agent.tls(tcp, "api.github.com", H1).await.unwrap();
        })
    });
    for h in futures_util::future::join_all(handshakes).await {
        h.unwrap();
    }
    assert_eq!(keyward.running.handles().certs().mints(), 1);
    assert_eq!(upstream.count(), 0);
}
