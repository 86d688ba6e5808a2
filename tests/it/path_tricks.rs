//! Path, host and method tricks against the example rules: encoded dot segments, double
//! encoding, `..;`, backslashes, `//`, case, trailing dots, IDNA homographs, userinfo, other
//! ports, downgrades, IP literals and numeric hosts, TRACE, CONNECT in a tunnel, unknown
//! methods. A request the rules deny stays denied whatever its spelling: 4xx, nothing upstream.

use crate::support::raw::{in_tunnel, on_proxy_port};
use crate::support::rules::{ExampleRules, example_rules};
use crate::support::upstream::echo;
use crate::support::{Keyward, TestCa, Upstream};

/// A body `github-create-issue` accepts, so only the path decides.
const ISSUE: &str = r#"{"title":"hi","labels":["bug"]}"#;

async fn rig() -> (ExampleRules, TestCa, Upstream, Upstream, Keyward) {
    let copy = example_rules();
    let (_, hosts) = copy.load_with_test_hosts();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let ca = TestCa::new();
    let tls = Upstream::https(&ca, &names, &[b"http/1.1"], echo()).await;
    let plain = Upstream::plain(echo()).await;
    let targets: Vec<String> = hosts.iter().map(|h| format!("{h}:443")).collect();
    let mut resolve: Vec<(&str, std::net::SocketAddr)> =
        targets.iter().map(|t| (t.as_str(), tls.addr)).collect();
    resolve.push(("plain.example:80", plain.addr));
    let path = copy.path();
    let keyward = Keyward::start(&ca, &resolve, &["plain.example"], |c| c.rules_dir = path).await;
    (copy, ca, tls, plain, keyward)
}

fn post(path: &str, host: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ISSUE}",
        ISSUE.len()
    )
}

fn request(method: &str, path: &str, host: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn path_spellings_never_turn_a_denied_request_into_an_allowed_one() {
    let (_copy, _ca, upstream, _plain, keyward) = rig().await;
    let control = in_tunnel(
        &keyward,
        "api.github.com:443",
        post("/repos/acme/keyward/issues", "api.github.com").as_bytes(),
    )
    .await;
    assert_eq!(
        control.statuses(),
        vec![200],
        "the body alone is allowed: {control:?}"
    );
    let before = upstream.count();
    for (path, status) in [
        ("/repos/acme/keyward/%2e%2e/%2e%2e/evil/x/issues", 400),
        ("/repos/acme/keyward/%2E%2e/%2e%2E/evil/x/issues", 400),
        ("/repos/acme/keyward/issues/../../../evil/x/issues", 400),
        ("/repos/acme/keyward/./issues", 400),
        ("/repos/acme/keyward%2f..%2f..%2fevil/issues", 400),
        ("/repos/acme/keyward\\..\\..\\evil\\x/issues", 400),
        ("/repos/acme/keyward%5c..%5c..%5cevil/issues", 400),
        ("/repos/acme/keyward/%2", 400),
        ("/repos/acme/keyward/%ff/issues", 400),
        (
            "/repos/acme/keyward/%252e%252e/%252e%252e/evil/x/issues",
            400,
        ),
        (
            "/repos/evil/x/%252e%252e/%252e%252e/acme/keyward/issues",
            400,
        ),
        ("/repos/acme/keyward/..;/..;/evil/x/issues", 400),
        ("/repos/acme/..;/evil/issues", 400),
        ("/repos/acme/keyward/..%3b/..%3b/evil/x/issues", 400),
        ("//repos/acme/keyward/issues", 400),
        ("/repos//acme/keyward/issues", 400),
        ("/repos/acme//keyward/issues", 400),
        ("/repos/acme/keyward;x=y/issues", 400),
        ("/repos/acme/keyward/issues#x", 400),
        ("/repos/acme/KEYWARD/issues", 403),
        ("/Repos/acme/keyward/issues", 403),
        ("/repos/acme/keyward%00/issues", 403),
        ("/repos/acme/keyward%20/issues", 403),
        ("/repos/acme/keyward/issues/", 403),
        ("https://api.github.com/repos/evil/x/issues", 403),
    ] {
        let reply = in_tunnel(
            &keyward,
            "api.github.com:443",
            post(path, "api.github.com").as_bytes(),
        )
        .await;
        assert_eq!(reply.statuses(), vec![status], "{path}: {reply:?}");
    }
    assert_eq!(upstream.count(), before, "{:?}", upstream.seen());
}

#[tokio::test]
async fn host_spellings_are_normalised_or_refused() {
    let (_copy, _ca, upstream, plain, keyward) = rig().await;
    let evil = "/repos/evil/x/issues";
    // Case and one trailing dot name the same host: the denied path stays denied.
    for (authority, host) in [
        ("API.GitHub.COM:443", "API.GITHUB.com"),
        ("api.github.com.:443", "api.github.com."),
        ("api.github.com:443", "Api.Github.Com:443"),
    ] {
        let reply = in_tunnel(&keyward, authority, post(evil, host).as_bytes()).await;
        assert_eq!(reply.statuses(), vec![403], "{authority} {host}: {reply:?}");
    }
    // A Cyrillic `а` is another host: refused as a Host inside the tunnel.
    let reply = in_tunnel(
        &keyward,
        "api.github.com:443",
        request("GET", "/user", "\u{430}pi.github.com").as_bytes(),
    )
    .await;
    assert_eq!(reply.statuses(), vec![400], "{reply:?}");
    let proxy_port: [(&str, u16); 12] = [
        (
            "CONNECT \u{430}pi.github.com:443 HTTP/1.1\r\nHost: \u{430}pi.github.com:443\r\n\r\n",
            400,
        ),
        (
            "CONNECT xn--pi-6kc.github.com:443 HTTP/1.1\r\nHost: xn--pi-6kc.github.com:443\r\nConnection: close\r\n\r\n",
            403,
        ),
        (
            "CONNECT api.github.com:8443 HTTP/1.1\r\nHost: api.github.com:8443\r\nConnection: close\r\n\r\n",
            403,
        ),
        (
            "CONNECT 140.82.112.3:443 HTTP/1.1\r\nHost: 140.82.112.3:443\r\nConnection: close\r\n\r\n",
            403,
        ),
        (
            "CONNECT [2606:50c0:8000::64]:443 HTTP/1.1\r\nHost: [2606:50c0:8000::64]:443\r\nConnection: close\r\n\r\n",
            403,
        ),
        (
            "CONNECT user@api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET http://user@plain.example/ HTTP/1.1\r\nHost: plain.example\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET http://plain.example@evil.example/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET http://user:pw@plain.example/ HTTP/1.1\r\nHost: plain.example\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET https://api.github.com/user HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET ws://plain.example/ HTTP/1.1\r\nHost: plain.example\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "GET http://plain.example/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
            421,
        ),
    ];
    for (bytes, status) in proxy_port {
        let reply = on_proxy_port(&keyward, bytes.as_bytes()).await;
        assert_eq!(
            reply.statuses().first(),
            Some(&status),
            "{bytes:?}: {reply:?}"
        );
    }
    assert_eq!(upstream.count(), 0, "{:?}", upstream.seen());
    assert_eq!(plain.count(), 0, "{:?}", plain.seen());
}

#[tokio::test]
async fn numeric_host_forms_are_refused_before_any_lookup() {
    let (_copy, _ca, upstream, _plain, keyward) = rig().await;
    for host in [
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "127.1",
        "0x7f000001",
        "017700000001",
    ] {
        let connect =
            format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\nConnection: close\r\n\r\n");
        let reply = on_proxy_port(&keyward, connect.as_bytes()).await;
        assert_eq!(reply.statuses(), vec![400], "{host}: {reply:?}");
        assert!(reply.text.contains("numeric host"), "{host}: {reply:?}");
        let plain =
            format!("GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let reply = on_proxy_port(&keyward, plain.as_bytes()).await;
        assert_eq!(reply.statuses(), vec![400], "{host}: {reply:?}");
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn methods_are_refused_or_judged_by_rules() {
    let (_copy, _ca, upstream, _plain, keyward) = rig().await;
    for (method, target, status) in [
        ("TRACE", "/user", 405),
        ("TRACK", "/user", 405),
        ("CONNECT", "api.github.com:443", 405),
        ("CONNECT", "evil.example:443", 405),
        ("FOO", "/user", 403),
        ("get", "/user", 403),
        ("PROPFIND", "/user", 403),
        ("DELETE", "/repos/acme/keyward", 403),
    ] {
        let bytes = request(method, target, "api.github.com");
        let reply = in_tunnel(&keyward, "api.github.com:443", bytes.as_bytes()).await;
        assert_eq!(
            reply.statuses().first(),
            Some(&status),
            "{method} {target}: {reply:?}"
        );
    }
    assert_eq!(upstream.count(), 0, "{:?}", upstream.seen());
}
