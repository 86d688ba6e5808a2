//! Redaction through the proxy: an upstream that echoes the injected token back — in the
//! body (raw, URL-encoded, base64, JSON-escaped), in headers (`Location`, `Set-Cookie`), in
//! gzip, br, stacked and raw-deflate bodies, in server-sent events — never gets the real value to the agent; and a
//! rule's pattern redaction masks token-shaped strings.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Response, StatusCode};

use crate::support::agent::{Proto, Reply};
use crate::support::coding;
use crate::support::rules::example_rules;
use crate::support::upstream::{bearer_token, byte_by_byte, full};
use crate::support::{Handler, Harness, Keyward};

mod escapings;

/// Echoes the bearer token it received in every form, picked by path.
pub fn echo_token() -> Handler {
    Arc::new(|req: http::Request<hyper::body::Incoming>| {
        Box::pin(async move {
            let token = bearer_token(&req);
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("user:{token}"));
            let url =
                percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            let text = format!(
                "raw={token}\nurl={url}\nb64={b64}\njson={}\nfake=ghp_{}\n",
                serde_json::to_string(&token).unwrap(),
                "Z".repeat(36)
            );
            let builder = Response::builder()
                .header("x-echo", format!("token {token}"))
                .header(
                    "location",
                    format!("https://api.github.com/next?token={token}"),
                )
                .header("set-cookie", format!("session={token}; Secure"));
            let path = req.uri().path().to_owned();
            match path.as_str() {
                "/gzip" => builder
                    .header("content-encoding", "gzip")
                    .body(full(coding::gzip(text.as_bytes())))
                    .unwrap(),
                "/br" => builder
                    .header("content-encoding", "br")
                    .body(full(coding::br(text.as_bytes())))
                    .unwrap(),
                // Stacked codings on two header lines: gzip first, then br.
                "/gzip-br" => builder
                    .header("content-encoding", "gzip")
                    .header("content-encoding", "br")
                    .body(full(coding::br(&coding::gzip(text.as_bytes()))))
                    .unwrap(),
                // Raw deflate, as some servers send for `deflate`.
                "/deflate-raw" => builder
                    .header("content-encoding", "deflate")
                    .body(full(coding::raw_deflate(text.as_bytes())))
                    .unwrap(),
                // The token split over two events' chunks, byte by byte.
                "/events" => builder
                    .header("content-type", "text/event-stream")
                    .body(byte_by_byte(format!("data: {token}\n\n").as_bytes()))
                    .unwrap(),
                _ => builder.body(full(text)).unwrap(),
            }
        })
    })
}

/// `GET https://api.github.com{path}` through `keyward` over `proto`, which must answer 200;
/// the reply, its body as text and its headers as printed (where a leak would show).
pub async fn get_echo(keyward: &Keyward, proto: Proto, path: &str) -> (Reply, String, String) {
    let reply = keyward
        .agent()
        .get(proto, &format!("https://api.github.com{path}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{path}");
    let body = String::from_utf8_lossy(&reply.body).into_owned();
    let headers = format!("{:?}", reply.headers);
    (reply, body, headers)
}

#[tokio::test]
async fn echoed_tokens_never_reach_the_agent_in_any_form() {
    let copy = example_rules();
    let token = copy.values["github"].clone();
    let h = Harness::new()
        .upstream_alpn(&["api.github.com"], &[b"h2", b"http/1.1"], echo_token())
        .rules_dir(copy.path())
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let forms = [
        token.clone(),
        base64::engine::general_purpose::STANDARD.encode(format!("user:{token}")),
        percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ];
    for proto in [Proto::H1, Proto::H2] {
        for path in [
            "/plain",
            "/gzip",
            "/br",
            "/gzip-br",
            "/deflate-raw",
            "/events",
        ] {
            let (reply, body, headers) = get_echo(keyward, proto, path).await;
            for form in &forms {
                assert!(
                    !body.contains(form.as_str()),
                    "{path} body leaks {form}: {body}"
                );
                assert!(
                    !headers.contains(form.as_str()),
                    "{path} headers leak: {headers}"
                );
            }
            assert!(
                body.contains("keyward:github:7f3c9a1e5b2d4c8e"),
                "{path}: {body}"
            );
            assert!(
                reply.headers["location"]
                    .to_str()
                    .unwrap()
                    .contains("keyward:github:")
            );
            assert!(
                reply.headers.get("content-encoding").is_none(),
                "decoded bodies are sent decoded"
            );
            if path != "/events" {
                // The github-read rule redacts token-shaped strings from responses.
                assert!(body.contains("fake=[redacted:secrets]"), "{path}: {body}");
            }
        }
    }
    assert_eq!(upstream.count(), 12);
}

#[tokio::test]
async fn a_compressed_response_bomb_is_decoded_in_bounded_steps_and_streamed() {
    let copy = example_rules();
    // 64 MiB of zeros, gzip'd to well under 1 MiB, sent in one body.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 64 * 1024 * 1024]).unwrap();
    let bomb = Bytes::from(e.finish().unwrap());
    assert!(bomb.len() < 1024 * 1024);
    let handler: Handler = Arc::new(move |_req| {
        let bomb = bomb.clone();
        Box::pin(async move {
            Response::builder()
                .header("content-encoding", "gzip")
                .body(full(bomb))
                .unwrap()
        })
    });
    let h = Harness::new()
        .upstream(&["api.github.com"], handler)
        .rules_dir(copy.path())
        .start()
        .await;
    let keyward = &h.keyward;
    let reply = keyward
        .agent()
        .get(Proto::H1, "https://api.github.com/bomb")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body.len(),
        64 * 1024 * 1024,
        "decoded and streamed whole"
    );
    assert!(reply.headers.get("content-encoding").is_none());
    // keyward still serves.
    assert_eq!(
        keyward
            .agent()
            .get_status(Proto::H1, "https://api.github.com/plain")
            .await,
        StatusCode::OK
    );
}
