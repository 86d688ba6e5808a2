//! What every console request must satisfy: a live session for the API, and for a change
//! (or a sign-in) the same origin, a JSON body and the session's CSRF token; and the headers
//! every console answer carries (a `Content-Security-Policy` that allows only the page's own
//! script and style, no framing, no caching, no referrer).

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};

use super::super::json;
use super::sessions::{self, Session, Sessions};
use crate::body::ProxyBody;

/// The header a change carries the CSRF token in.
pub const CSRF_HEADER: &str = "x-keyward-csrf";

/// The page's policy: its own script, style and API; nothing inline, nothing elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers every console answer carries.
pub fn secure_headers(headers: &mut HeaderMap) {
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Why a console request is refused, and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub why: &'static str,
}

impl Refused {
    /// The JSON answer (`{"error": why}`).
    pub fn response(self) -> Response<ProxyBody> {
        json(self.status, &serde_json::json!({"error": self.why}))
    }
}

fn refused(status: StatusCode, why: &'static str) -> Refused {
    Refused { status, why }
}

/// The session id the request's cookie holds.
pub fn session_id<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(sessions::cookie_value)
}

/// The request's live session, or 401; a request another site's page made is refused (403)
/// even with the cookie.
pub fn signed_in<B>(sessions: &Sessions, req: &Request<B>) -> Result<Session, Refused> {
    if fetched_cross_site(req) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "the console answers its own page only",
        ));
    }
    session_id(req)
        .and_then(|id| sessions.find(id))
        .ok_or_else(|| refused(StatusCode::UNAUTHORIZED, "sign in first"))
}

/// A sign-in or sign-out: from the console's own origin, with a JSON body.
pub fn same_origin_json<B>(req: &Request<B>) -> Result<(), Refused> {
    if !same_origin(req) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "the console answers its own page only (Origin does not match Host)",
        ));
    }
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json_body {
        return Err(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json",
        ));
    }
    Ok(())
}

/// A change: same origin, JSON, and the session's CSRF token in [`CSRF_HEADER`].
pub fn change_allowed<B>(session: &Session, req: &Request<B>) -> Result<(), Refused> {
    same_origin_json(req)?;
    let token = req
        .headers()
        .get(CSRF_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if !sessions::csrf_matches(session, token) {
        tracing::warn!(by = %session.name, "console change without the session's CSRF token refused");
        return Err(refused(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token",
        ));
    }
    Ok(())
}

/// Whether the browser says another site's page made the request (`Sec-Fetch-Site`).
fn fetched_cross_site<B>(req: &Request<B>) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}

/// Whether `Origin` names the host the request was sent to. A change must have one: every
/// browser sends it with a POST, and a script without one has no business here.
fn same_origin<B>(req: &Request<B>) -> bool {
    if fetched_cross_site(req) {
        return false;
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(headers: &[(&str, &str)]) -> Request<()> {
        let mut req = Request::post("/console/login");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap()
    }

    #[test]
    fn a_change_must_come_from_the_same_origin_as_json() {
        let ok = [
            ("host", "127.0.0.1:3129"),
            ("origin", "http://127.0.0.1:3129"),
            ("content-type", "application/json"),
        ];
        assert!(same_origin_json(&post(&ok)).is_ok());
        let other_site = [
            ("host", "127.0.0.1:3129"),
            ("origin", "http://evil.example"),
            ("content-type", "application/json"),
        ];
        assert!(same_origin_json(&post(&other_site)).is_err());
        let no_origin = [
            ("host", "127.0.0.1:3129"),
            ("content-type", "application/json"),
        ];
        assert!(same_origin_json(&post(&no_origin)).is_err());
        let form = [
            ("host", "127.0.0.1:3129"),
            ("origin", "http://127.0.0.1:3129"),
            ("content-type", "text/plain"),
        ];
        assert!(same_origin_json(&post(&form)).is_err());
        let cross = [
            ("host", "127.0.0.1:3129"),
            ("origin", "http://127.0.0.1:3129"),
            ("content-type", "application/json"),
            ("sec-fetch-site", "cross-site"),
        ];
        assert!(same_origin_json(&post(&cross)).is_err());
    }

    #[test]
    fn a_change_needs_the_sessions_csrf_token() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start("ops").unwrap();
        let base = [
            ("host", "h:1"),
            ("origin", "http://h:1"),
            ("content-type", "application/json"),
        ];
        let cookie = format!("keyward_console={id}");
        let mut with = base.to_vec();
        with.push(("cookie", cookie.as_str()));
        assert!(change_allowed(&session, &post(&with)).is_err());
        with.push((CSRF_HEADER, session.csrf.as_str()));
        let req = post(&with);
        assert_eq!(signed_in(&sessions, &req).unwrap().name, "ops");
        assert!(change_allowed(&session, &req).is_ok());
        assert!(signed_in(&sessions, &post(&base)).is_err());
    }
}
