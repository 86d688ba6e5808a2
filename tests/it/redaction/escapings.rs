//! A token with characters outside `[A-Za-z0-9_-]`, echoed back by an upstream through the
//! escapings real servers use (Python's `quote`/`quote_plus`/`json.dumps`, Go's HTML-safe
//! JSON, PHP's `\/`, JavaScript's `encodeURIComponent`, a per-character mix, and real
//! `python3`), in the body, in headers, gzip'd and byte by byte, never reaches the agent.

use std::process::Command;
use std::sync::Arc;

use http::Response;

use super::get_echo;
use crate::support::agent::Proto;
use crate::support::coding;
use crate::support::encoders::{self, Spell};
use crate::support::rules::{ExampleRules, example_rules};
use crate::support::upstream::{bearer_token, byte_by_byte, full};
use crate::support::{Handler, Keyward, TestCa, Upstream};

/// Has every character class that leaked before: `/ + = < & "` and a space.
const TOKEN: &str = "kwsec_ab/+=<&\"x y";
const PLACEHOLDER: &str = "keyward:github:7f3c9a1e5b2d4c8e";

/// Each spelling of `token` the upstream echoes, by name.
fn spellings(token: &str) -> Vec<(&'static str, String)> {
    let inner = |j: String| j[1..j.len() - 1].to_owned();
    let mix = [
        Spell::UnicodeUpper,
        Spell::PercentLower,
        Spell::Raw,
        Spell::Short,
        Spell::UnicodeLower,
        Spell::PercentUpper,
    ];
    vec![
        ("quote safe=''", encoders::python_quote(token, "")),
        ("quote", encoders::python_quote(token, "/")),
        ("quote_plus", encoders::python_quote_plus(token)),
        ("json.dumps", inner(encoders::python_json_dumps(token))),
        ("go json", inner(encoders::go_json_marshal(token))),
        ("php json_encode", inner(encoders::php_json_encode(token))),
        (
            "encodeURIComponent",
            encoders::js_encode_uri_component(token),
        ),
        ("mix", encoders::mixed(token, &mix)),
    ]
}

/// Python's own `quote(s, safe="")`, `quote(s)`, `quote_plus(s)` and `json.dumps(s)`.
fn python_spellings(token: &str) -> Vec<String> {
    let script = "import sys, json, urllib.parse as u\n\
                  s = sys.argv[1]\n\
                  print(u.quote(s, safe='')); print(u.quote(s)); print(u.quote_plus(s))\n\
                  print(json.dumps(s)[1:-1])";
    let out = Command::new("python3")
        .args(["-c", script, token])
        .output()
        .unwrap();
    assert!(out.status.success(), "python3: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Echoes the bearer token it received in every spelling: in the body (plain, gzip'd, or one
/// byte per frame, by path) and in `Location` and `x-echo` headers.
fn echo_escaped() -> Handler {
    Arc::new(|req: http::Request<hyper::body::Incoming>| {
        Box::pin(async move {
            let token = bearer_token(&req);
            let mut lines: Vec<String> = spellings(&token)
                .into_iter()
                .map(|(name, s)| format!("{name}: {s}"))
                .collect();
            let path = req.uri().path().to_owned();
            if path == "/python" {
                let token = token.clone();
                let python = tokio::task::spawn_blocking(move || python_spellings(&token));
                lines.extend(python.await.unwrap());
            }
            let text = format!("{{\"echo\": [\n{}\n]}}\n", lines.join("\n"));
            let builder = Response::builder()
                .header(
                    "location",
                    format!(
                        "https://api.github.com/next?t={}",
                        encoders::python_quote_plus(&token)
                    ),
                )
                .header("x-echo", encoders::go_json_marshal(&token));
            match path.as_str() {
                "/gzip" => builder
                    .header("content-encoding", "gzip")
                    .body(full(coding::gzip(text.as_bytes())))
                    .unwrap(),
                "/bytes" => builder.body(byte_by_byte(text.as_bytes())).unwrap(),
                _ => builder.body(full(text)).unwrap(),
            }
        })
    })
}

/// The example rules with the github secret's value set to [`TOKEN`].
fn rules_with_token() -> ExampleRules {
    let copy = example_rules();
    std::fs::write(copy.dir.path().join("secrets").join("github"), TOKEN).unwrap();
    copy
}

async fn start(copy: &ExampleRules, ca: &TestCa, upstream: &Upstream) -> Keyward {
    let path = copy.path();
    Keyward::start(ca, &[("api.github.com:443", upstream.addr)], &[], |c| {
        c.rules_dir = path
    })
    .await
}

#[tokio::test]
async fn an_escaped_token_never_reaches_the_agent() {
    let copy = rules_with_token();
    let ca = TestCa::new();
    let upstream = Upstream::https(
        &ca,
        &["api.github.com"],
        &[b"h2", b"http/1.1"],
        echo_escaped(),
    )
    .await;
    let keyward = start(&copy, &ca, &upstream).await;
    let forms = spellings(TOKEN);
    for proto in [Proto::H1, Proto::H2] {
        for path in ["/plain", "/gzip", "/bytes"] {
            let (reply, body, headers) = get_echo(&keyward, proto, path).await;
            for (name, form) in &forms {
                assert!(
                    !body.contains(form.as_str()),
                    "{path}: {name} {form:?} in {body}"
                );
                assert!(
                    !headers.contains(form.as_str()),
                    "{path}: {name} in {headers}"
                );
            }
            assert!(!body.contains("kwsec_ab"), "{path}: {body}");
            assert!(!headers.contains("kwsec_ab"), "{path}: {headers}");
            // Every line still carries the placeholder, in the line's own escaping.
            assert_eq!(
                body.matches("keyward").count(),
                forms.len(),
                "{path}: {body}"
            );
            assert!(
                reply.headers["location"]
                    .to_str()
                    .unwrap()
                    .ends_with("?t=keyward%3Agithub%3A7f3c9a1e5b2d4c8e")
            );
            assert_eq!(
                reply.headers["x-echo"],
                format!("\"{PLACEHOLDER}\"").as_str()
            );
        }
    }
    assert_eq!(upstream.count(), 6);
}

#[tokio::test]
async fn a_token_quoted_by_python_never_reaches_the_agent() {
    let python = Command::new("python3").arg("--version").output();
    assert!(
        python.is_ok_and(|o| o.status.success()),
        "python3 is required (scripts/test installs it)"
    );
    let copy = rules_with_token();
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["api.github.com"], &[b"http/1.1"], echo_escaped()).await;
    let keyward = start(&copy, &ca, &upstream).await;
    let (_, body, _) = get_echo(&keyward, Proto::H1, "/python").await;
    let python = python_spellings(TOKEN);
    assert_eq!(python.len(), 4);
    for form in &python {
        assert!(!body.contains(form.as_str()), "{form:?} in {body}");
    }
    assert!(!body.contains("kwsec_ab"), "{body}");
    assert_eq!(
        body.matches("keyward").count(),
        spellings(TOKEN).len() + 4,
        "{body}"
    );
}
