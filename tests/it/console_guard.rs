//! The console's HTTP rules, without a browser: the page and its assets carry a strict
//! `Content-Security-Policy` and load nothing from elsewhere; sign-in takes an admin or
//! approver token only, from the same origin, as JSON, and sets an `HttpOnly`,
//! `SameSite=Strict` cookie; the API needs that session (a bearer token or an agent's token
//! is not one); a change without the session's CSRF token, or from another origin, is
//! refused and changes nothing; sign-out ends the session.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::console::{OPS_TOKEN, alice, start};
use crate::runtime::{send_transfer, wait_pending};
use crate::support::ADMIN_TOKEN;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One request to the admin listener: status, headers, body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let host = addr.to_string();
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", &host);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// A signed-in session: its cookie header value and CSRF token.
async fn sign_in(addr: SocketAddr, token: &str) -> (String, String) {
    let origin = format!("http://{addr}");
    let (status, headers, body) = call(
        addr,
        "POST",
        "/console/login",
        &[("origin", &origin), ("content-type", "application/json")],
        &serde_json::json!({ "token": token }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_owned();
    let csrf = serde_json::from_str::<serde_json::Value>(&body).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    (pair, csrf)
}

#[tokio::test]
async fn the_page_and_its_assets_allow_nothing_from_elsewhere() {
    let h = start().await;
    let addr = h.admin();
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let (status, headers, body) = call(addr, "GET", path, &[], "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        // No third-party script, style or font: nothing names another origin.
        for other in ["http://", "https://", "src=\"//", "href=\"//", "@import"] {
            assert!(!body.contains(other), "{path} names {other}");
        }
        // Nothing the agents send is ever put in the page as markup.
        assert!(!body.contains("innerHTML") && !body.contains("insertAdjacentHTML"));
    }
    let (_, _, page) = call(addr, "GET", "/console", &[], "").await;
    assert!(page.contains(r#"<script src="/console/console.js" defer></script>"#));
    assert!(!page.contains("<script>") && !page.contains("style="));
}

#[tokio::test]
async fn sign_in_takes_an_admin_or_approver_token_from_the_same_origin_only() {
    let h = start().await;
    let addr = h.admin();
    let origin = format!("http://{addr}");
    let body = serde_json::json!({ "token": OPS_TOKEN }).to_string();
    let refused: [(&[(&str, &str)], StatusCode); 4] = [
        (
            &[
                ("origin", "http://evil.example"),
                ("content-type", "application/json"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("content-type", "application/json")],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("origin", &origin), ("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &[
                ("origin", &origin),
                ("content-type", "application/json"),
                ("sec-fetch-site", "cross-site"),
            ],
            StatusCode::FORBIDDEN,
        ),
    ];
    for (headers, want) in refused {
        let (status, got, text) = call(addr, "POST", "/console/login", headers, &body).await;
        assert_eq!(status, want, "{headers:?}: {text}");
        assert!(got.get("set-cookie").is_none());
    }
    let json = [
        ("origin", origin.as_str()),
        ("content-type", "application/json"),
    ];
    for wrong in ["alice-token-0123456789", "nope-nope-nope-nope-nope", ""] {
        let body = serde_json::json!({ "token": wrong }).to_string();
        let (status, got, text) = call(addr, "POST", "/console/login", &json, &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}: {text}");
        assert!(got.get("set-cookie").is_none());
    }
    let (status, _, text) = call(addr, "POST", "/console/login", &json, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    // The admin token and an approver's token both sign in, each under its name.
    for (token, name) in [(ADMIN_TOKEN, "admin"), (OPS_TOKEN, "ops")] {
        let (cookie, _) = sign_in(addr, token).await;
        let (status, _, state) = call(
            addr,
            "GET",
            "/console/api/state",
            &[("cookie", &cookie)],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        assert_eq!(state["who"], name);
    }
}

#[tokio::test]
async fn changes_need_the_session_its_csrf_token_and_the_same_origin() {
    let h = start().await;
    let addr = h.admin();
    let origin = format!("http://{addr}");
    let held = send_transfer(alice(&h));
    let id = wait_pending(addr, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (cookie, csrf) = sign_in(addr, OPS_TOKEN).await;
    let (_, other_csrf) = sign_in(addr, OPS_TOKEN).await;
    let approve = format!("/console/api/approvals/{id}/approve");
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let refused: Vec<(Vec<(&str, &str)>, StatusCode)> = vec![
        // No session: a bearer token is not one.
        (
            vec![
                ("authorization", &bearer),
                ("origin", &origin),
                ("content-type", "application/json"),
            ],
            StatusCode::UNAUTHORIZED,
        ),
        // No CSRF token, another session's, or a wrong one.
        (
            vec![
                ("cookie", &cookie),
                ("origin", &origin),
                ("content-type", "application/json"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![
                ("cookie", &cookie),
                ("origin", &origin),
                ("content-type", "application/json"),
                ("x-keyward-csrf", &other_csrf),
            ],
            StatusCode::FORBIDDEN,
        ),
        // Another origin, or a form post.
        (
            vec![
                ("cookie", &cookie),
                ("origin", "http://evil.example"),
                ("content-type", "application/json"),
                ("x-keyward-csrf", &csrf),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![
                ("cookie", &cookie),
                ("origin", &origin),
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-keyward-csrf", &csrf),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (headers, want) in &refused {
        let (status, _, text) = call(addr, "POST", &approve, headers, "{}").await;
        assert_eq!(status, *want, "{headers:?}: {text}");
    }
    // A read another site's page makes is refused even with the cookie.
    let (status, _, _) = call(
        addr,
        "GET",
        "/console/api/state",
        &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(wait_pending(addr, 1).await.len(), 1);
    assert!(!held.is_finished());
    assert_eq!(h.upstream().count(), 0);
    // Filters the feed does not know are refused.
    for query in ["decision=maybe", "colour=red", "limit=many"] {
        let (status, _, _) = call(
            addr,
            "GET",
            &format!("/console/api/decisions?{query}"),
            &[("cookie", &cookie)],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    // With all three, the change is made.
    let good = [
        ("cookie", cookie.as_str()),
        ("origin", origin.as_str()),
        ("content-type", "application/json"),
        ("x-keyward-csrf", csrf.as_str()),
    ];
    let (status, _, text) = call(addr, "POST", &approve, &good, "{\"for\":\"bogus\"}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _, text) = call(addr, "POST", &approve, &good, "{}").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let reply = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    // Sign-out ends the session.
    let (status, headers, _) = call(addr, "POST", "/console/logout", &good, "{}").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _, _) = call(
        addr,
        "GET",
        "/console/api/state",
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
