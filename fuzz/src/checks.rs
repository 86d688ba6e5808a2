//! The properties the fuzz targets check, one function per target. Each takes arbitrary
//! bytes and panics only when a property is broken. `tests/it/fuzz_properties.rs` includes
//! this file too, so the same properties run under proptest (and over the seed corpus) in
//! keyward's ordinary `cargo test`.

use std::sync::{Arc, OnceLock};

use http::{HeaderMap, Method};
use keyward::policy::normalize::normalize_host;
use keyward::policy::{RequestBody, RequestHead, RuleSet, Scheme, Source, Verdict};
use keyward::redact::{Scrubber, StreamScrubber};
use keyward::secret::SecretValue;
use keyward::target::Target;

/// CONNECT authorities: never panics; what parses prints back to itself and has a port.
pub fn connect_authority(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(target) = Target::parse_authority(text) {
        assert_ne!(target.port, 0, "{text:?}");
        let again = Target::parse_authority(&target.to_string());
        assert_eq!(again.as_ref(), Ok(&target), "{text:?} -> {target}");
    }
}

/// Proxy-port request heads (`METHOD TARGET HTTP/1.1`, then `name: value` lines): sorting
/// them never panics; a CONNECT target prints back to itself, an absolute-form target is
/// the URI's own host and port (80 by default), and nothing else is accepted.
pub fn proxy_request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().splitn(3, ' ');
    let (Some(method), Some(target)) = (first.next(), first.next()) else {
        return;
    };
    let mut builder = http::Request::builder().method(method).uri(target);
    for line in lines.take_while(|l| !l.is_empty()) {
        if let Some((name, value)) = line.split_once(':') {
            builder = builder.header(name, value.trim());
        }
    }
    let Ok(req) = builder.body(()) else {
        return;
    };
    match keyward::ingress::proxy_protocol::classify(&req) {
        Ok(keyward::ingress::proxy_protocol::ProxyTarget::Connect(t)) => {
            assert_eq!(req.method(), Method::CONNECT, "{text:?}");
            assert_ne!(t.port, 0, "{text:?}");
            let again = Target::parse_authority(&t.to_string());
            assert_eq!(again.as_ref(), Ok(&t), "{text:?} -> {t}");
        }
        Ok(keyward::ingress::proxy_protocol::ProxyTarget::Plain(t)) => {
            assert_ne!(req.method(), Method::CONNECT, "{text:?}");
            assert_eq!(req.uri().scheme_str(), Some("http"), "{text:?}");
            assert_eq!(t.port, req.uri().port_u16().unwrap_or(80), "{text:?}");
            let host = req.uri().host().unwrap_or_default();
            let named = Target::parse_with_default(&format!("{host}:{}", t.port), None);
            assert_eq!(named.as_ref(), Ok(&t), "{text:?} -> {t}");
        }
        Err(refusal) => {
            let status = refusal.parts().status;
            assert_eq!(status.as_u16(), 400, "{text:?}: {refusal:?}");
        }
    }
}

/// Rule files: compiling arbitrary YAML never panics; what compiles decides a request.
pub fn rule_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source {
        path: "fuzz.yaml".into(),
        text: text.to_owned(),
    };
    if let Ok(rules) = RuleSet::compile(&[source]) {
        let headers = HeaderMap::new();
        let head = head(&Method::GET, "/", &headers);
        let _ = rules.decide(&head, None, None);
    }
}

/// Request targets (`host\nport\npath`): never panics; the result is canonical (host
/// normalises to itself, no dot segment, no `/` inside a segment, segments rebuild the path).
pub fn normalize_target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let host = parts.next().unwrap_or_default();
    let port = parts.next().and_then(|p| p.parse().ok()).unwrap_or(443);
    let path = parts.next().unwrap_or("/");
    if let Ok(t) = keyward::policy::normalize_target(host, port, path) {
        assert_eq!(
            normalize_host(&t.host).as_deref(),
            Ok(t.host.as_str()),
            "{host:?}"
        );
        assert!(t.path.starts_with('/'), "{path:?}");
        for segment in &t.segments {
            assert!(
                segment != "." && segment != ".." && !segment.contains('/'),
                "{path:?}"
            );
            assert!(!segment.contains('\\'), "{path:?}");
            let bare = keyward::policy::spelling::strip_parameters(segment);
            assert!(bare != "." && bare != "..", "{path:?}");
        }
        let lower = path.to_ascii_lowercase();
        for twice in ["%252e", "%252f", "%255c"] {
            assert!(!lower.contains(twice), "{path:?}");
        }
        assert_eq!(
            t.spellings,
            keyward::policy::Spellings::of(&t.segments),
            "{path:?}"
        );
        assert_eq!(t.segments.join("/"), t.path[1..], "{path:?}");
    }
}

/// JSON-pointer constraints, decided on arbitrary bodies against the example GitHub rule
/// (`/labels/*` one of a set, at most 3, `/title` present, `/assignees` absent): never panics,
/// and an allowed body really satisfies them as JSON (no parser disagreement lets one by).
pub fn json_body(data: &[u8]) {
    let headers = HeaderMap::new();
    let head = head(&Method::POST, "/repos/acme/keyward/issues", &headers);
    let body = RequestBody {
        bytes: data,
        content_encoding: None,
        content_type: Some("application/json"),
        truncated: false,
    };
    let decision = github_rules().decide(&head, Some(&body), None);
    if decision.verdict != Verdict::Allow {
        return;
    }
    let value: serde_json::Value = serde_json::from_slice(data).expect("allowed body is JSON");
    let labels = value["labels"]
        .as_array()
        .expect("allowed body has /labels");
    assert!(labels.len() <= 3, "{value}");
    for label in labels {
        let ok =
            ["bug", "triage", "enhancement", "question"].contains(&label.as_str().unwrap_or(""));
        assert!(ok, "label {label} allowed");
    }
    assert!(value.get("title").is_some(), "{value}");
    assert!(value.get("assignees").is_none(), "{value}");
}

/// Streaming redaction: whatever the body and its chunking, a secret (upper-case letters,
/// 8 to 31 of them; its placeholder shares no character with it) never leaves the scrubber.
pub fn stream_redactor(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let len = 8 + usize::from(first) % 24;
    if rest.len() < len {
        return;
    }
    let (seed, rest) = rest.split_at(len);
    let secret: Vec<u8> = seed.iter().map(|b| b'A' + b % 26).collect();
    let value = SecretValue::new(secret.clone());
    let scrubber = Arc::new(Scrubber::new([(&value, "keyward:fuzz:0123456789abcdef")]));
    // The body: the input with the secret spliced in wherever a byte is a multiple of 7.
    let mut body = Vec::new();
    for &b in rest {
        if b % 7 == 0 {
            body.extend_from_slice(&secret);
        }
        body.push(b);
    }
    let mut stream = StreamScrubber::new(scrubber);
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes = rest.iter().cycle();
    // Half the inputs end with the last chunk given as the stream's last.
    let last_whole = rest.first().is_some_and(|b| b % 2 == 0);
    while at < body.len() {
        let size = 1 + usize::from(*sizes.next().unwrap_or(&0)) % 13;
        let end = (at + size).min(body.len());
        let chunk = bytes::Bytes::copy_from_slice(&body[at..end]);
        if last_whole && end == body.len() {
            out.extend_from_slice(&stream.push_last(chunk));
        } else {
            out.extend_from_slice(&stream.push(chunk));
        }
        at = end;
    }
    if !last_whole || body.is_empty() {
        out.extend_from_slice(&stream.finish());
    }
    assert!(
        !out.windows(secret.len()).any(|w| w == secret.as_slice()),
        "secret leaked"
    );
}

/// A request head for `api.github.com:443`.
fn head<'a>(method: &'a Method, path: &'a str, headers: &'a HeaderMap) -> RequestHead<'a> {
    RequestHead {
        method,
        scheme: Scheme::Https,
        host: "api.github.com",
        port: 443,
        path,
        query: None,
        headers,
    }
}

/// The example GitHub rules, compiled once.
fn github_rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        let source = Source {
            path: "github.yaml".into(),
            text: include_str!("../../rules/github.yaml").to_owned(),
        };
        RuleSet::compile(&[source]).expect("the example rules compile")
    })
}
