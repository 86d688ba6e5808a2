//! Secrets' `methods:` and `paths:` through the real proxy: a request inside them gets the
//! value at the upstream; outside them the placeholder is refused as exfiltration (403,
//! audited, nothing forwarded), and so is a template that would set the secret there.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;

use crate::support::Harness;
use crate::support::agent::Proto;
use crate::support::upstream::echo;

const PLACEHOLDER: &str = "keyward:github:5c0be5c0be5c0be5";
const VALUE: &str = "ghp_scoped_integration_value_42";

const RULES: &str = "secrets:\n  github:\n    from: file:$FILES/github\n    placeholder: keyward:github:5c0be5c0be5c0be5\n    hosts: [api.github.com, templ.github.com]\n    methods: [GET]\n    paths: ['/repos/**']\nrules:\n  - id: api\n    url: https://api.github.com/**\n    inject: [github]\n    decision: allow\n  - id: templated\n    url: https://templ.github.com/**\n    inject: [github]\n    set_headers: { Authorization: 'Bearer {{github}}' }\n    decision: allow\n";

fn request(method: Method, url: &str, placeholder: bool) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(method).uri(url);
    if placeholder {
        req = req.header("authorization", format!("token {PLACEHOLDER}"));
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn a_secret_is_injected_only_inside_its_methods_and_paths() {
    let h = Harness::new()
        .upstream(&["api.github.com", "templ.github.com"], echo())
        .file("github", VALUE)
        .rules("github.yaml", RULES)
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let agent = h.agent();

    let inside = agent
        .send(
            Proto::H1,
            request(Method::GET, "https://api.github.com/repos/acme/kw", true),
        )
        .await;
    assert_eq!(inside.status, StatusCode::OK, "{inside:?}");
    let templated = agent
        .send(
            Proto::H2,
            request(Method::GET, "https://templ.github.com/repos/x", false),
        )
        .await;
    assert_eq!(templated.status, StatusCode::OK, "{templated:?}");
    let seen: Vec<String> = upstream
        .seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, [format!("token {VALUE}"), format!("Bearer {VALUE}")]);

    let refusals = [
        (
            request(Method::DELETE, "https://api.github.com/repos/acme/kw", true),
            "credential not allowed for this request (github: method DELETE is not in its methods: GET)",
        ),
        (
            request(Method::GET, "https://api.github.com/user/keys", true),
            "credential not allowed for this request (github: path /user/keys is not in its paths: /repos/**)",
        ),
        (
            // Percent-encoded, the path is still decided on its decoded form.
            request(Method::GET, "https://api.github.com/%75ser", true),
            "credential not allowed for this request (github: path /user is not in its paths: /repos/**)",
        ),
        (
            request(Method::POST, "https://templ.github.com/repos/x", false),
            "credential not allowed for this request (github: method POST is not in its methods: GET)",
        ),
    ];
    for (req, want) in refusals {
        for proto in [Proto::H1, Proto::H2] {
            let mut copy = Request::builder().method(req.method()).uri(req.uri());
            for (k, v) in req.headers() {
                copy = copy.header(k, v);
            }
            let reply = agent
                .send(proto, copy.body(Full::new(Bytes::new())).unwrap())
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
            assert_eq!(reply.reason(), want);
        }
    }
    assert_eq!(upstream.count(), 2, "nothing refused reached the upstream");

    let log = keyward.flushed_audit_log().await;
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refused: Vec<&serde_json::Value> = entries.iter().filter(|e| e["status"] == 403).collect();
    assert_eq!(refused.len(), 8, "{log}");
    let attempts = refused
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("exfiltration attempt: credential not allowed"))
        })
        .count();
    assert_eq!(attempts, 6, "placeholders sent outside the scope: {log}");
    assert!(!log.contains(VALUE), "the value is never audited");
}

#[test]
fn keyward_check_points_at_a_bad_secret_method_or_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "secrets:\n  github:\n    from: env:GITHUB_TOKEN\n    hosts: [api.github.com]\n    methods: [GET, get]\n    paths: ['/repos/**', 'user']\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for want in [
        "s.yaml:5:20: invalid method `get` (methods are upper case, e.g. GET)",
        "s.yaml:6:26: path `user` must start with `/`",
    ] {
        assert!(text.contains(want), "missing {want} in:\n{text}");
    }
}

#[tokio::test]
async fn an_admitted_ambiguous_path_gets_the_secret_only_when_every_reading_is_in_its_paths() {
    let rules = "secrets:\n  github:\n    from: file:$FILES/github\n    placeholder: keyward:github:5c0be5c0be5c0be5\n    hosts: [api.github.com]\n    paths: ['/repos/*']\nrules:\n  - id: api\n    url: https://api.github.com/**\n    path_spellings: { empty_segments: allow, parameters: allow }\n    inject: [github]\n    decision: allow\n";
    let h = Harness::new()
        .upstream(&["api.github.com"], echo())
        .file("github", VALUE)
        .rules("github.yaml", rules)
        .start()
        .await;
    let agent = h.agent();
    // Stripped of its parameter it is /repos/x: every reading is inside.
    let inside = agent
        .send(
            Proto::H1,
            request(Method::GET, "https://api.github.com/repos/x;v=1", true),
        )
        .await;
    assert_eq!(inside.status, StatusCode::OK, "{inside:?}");
    for (path, shown) in [("//repos/x", "//repos/x"), ("/repos/;", "/repos/;")] {
        let url = format!("https://api.github.com{path}");
        let reply = agent
            .send(Proto::H1, request(Method::GET, &url, true))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {reply:?}");
        assert_eq!(
            reply.reason(),
            format!(
                "credential not allowed for this request (github: path {shown} is not in its paths: /repos/*)"
            )
        );
    }
    assert_eq!(h.upstream().count(), 1, "only the request inside its paths");
    let seen = &h.upstream().seen()[0];
    assert_eq!(
        seen.headers["authorization"],
        format!("token {VALUE}").as_str()
    );
}
