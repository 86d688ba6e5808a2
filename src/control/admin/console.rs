//! The approvals console: a web page served by the admin listener under `/console`, for the
//! people who answer held requests. They sign in with an admin or approver token; the page
//! lists the pending approvals with what is needed to decide (agent, rule and description,
//! method, URL, header names, redacted body preview, MCP call, wait and timeout), approves
//! (once or for a window) and denies with a reason, pauses and resumes agents, and shows a
//! feed of recent decisions and per-rule counters, polling for changes.
//!
//! Everything is embedded in the binary ([`assets`]); the page loads nothing from elsewhere
//! and its `Content-Security-Policy` allows nothing else. Sign-in gives an `HttpOnly`,
//! `SameSite=Strict` session cookie ([`sessions`]); every change must also come from the
//! same origin and carry the session's CSRF token ([`guard`]). What a change does, and the
//! audit entry it leaves, is the same as through the admin API, with the signed-in name as
//! who did it.

mod assets;
mod guard;
pub mod sessions;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde::Deserialize;

use super::{AdminState, agents, json, read_json};
use crate::body::ProxyBody;
use sessions::{COOKIE, Session, Sessions};

/// What the console keeps: its sessions, and the audit log its feed reads.
#[derive(Debug, Default)]
pub struct Console {
    sessions: Sessions,
    /// The audit log (`None`: off, and the feed says so).
    audit_log: Option<PathBuf>,
}

impl Console {
    /// A console whose decisions feed reads `audit_log`.
    pub fn new(audit_log: Option<PathBuf>) -> Self {
        Self {
            sessions: Sessions::default(),
            audit_log,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    token: String,
}

/// Answers a request whose path is `/console` or under it.
pub(super) async fn route(
    shared: &AdminState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let mut resp = match (&method, path.as_str()) {
        (&Method::GET, "/console" | "/console/") => assets::page(),
        (&Method::GET, "/console/console.js") => assets::script(),
        (&Method::GET, "/console/console.css") => assets::style(),
        (&Method::POST, "/console/login") => login(shared, req).await,
        (&Method::POST, "/console/logout") => logout(shared, &req),
        (_, p) if p.starts_with("/console/api/") => api(shared, peer, req).await,
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        ),
    };
    guard::secure_headers(resp.headers_mut());
    resp
}

/// `POST /console/login` with `{"token": "…"}`: a session for the token's name.
async fn login(shared: &AdminState, req: Request<Incoming>) -> Response<ProxyBody> {
    if let Err(refused) = guard::same_origin_json(&req) {
        return refused.response();
    }
    // An empty body reads as `None`: a sign-in needs one.
    let body: LoginBody = match read_json::<Option<LoginBody>>(req).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": "a JSON body is required"}),
            );
        }
        Err(resp) => return resp,
    };
    let Some(name) = shared.tokens.name_of(body.token.trim().as_bytes()) else {
        tracing::warn!("console sign-in with a token that is not accepted");
        return json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "that token is not accepted"}),
        );
    };
    let Some((id, session)) = shared.console.sessions.start(name) else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": "sessions unavailable"}),
        );
    };
    tracing::info!(by = %session.name, "console sign-in");
    let mut resp = json(
        StatusCode::OK,
        &serde_json::json!({"name": session.name, "csrf": session.csrf}),
    );
    let cookie = format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        sessions::LIFETIME.as_secs()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, value);
    }
    resp
}

/// `POST /console/logout`: ends the session and clears its cookie.
fn logout(shared: &AdminState, req: &Request<Incoming>) -> Response<ProxyBody> {
    if let Err(refused) = guard::same_origin_json(req) {
        return refused.response();
    }
    if let Some(id) = guard::session_id(req) {
        shared.console.sessions.end(id);
    }
    let mut resp = json(StatusCode::OK, &serde_json::json!({"signed_out": true}));
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "keyward_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    resp
}

/// The console's JSON API: reads need a session; changes also the same origin and the
/// session's CSRF token.
async fn api(shared: &AdminState, peer: SocketAddr, req: Request<Incoming>) -> Response<ProxyBody> {
    let session = match guard::signed_in(&shared.console.sessions, &req) {
        Ok(s) => s,
        Err(refused) => return refused.response(),
    };
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches("/console/api/")
        .trim_matches('/')
        .split('/')
        .collect();
    if req.method() == Method::GET {
        return match segments.as_slice() {
            ["state"] => views::state(shared, &session).await,
            ["decisions"] => views::decisions(shared, req.uri().query()).await,
            _ => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": "not found"}),
            ),
        };
    }
    if req.method() != Method::POST {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({"error": "method not allowed"}),
        );
    }
    if let Err(refused) = guard::change_allowed(&session, &req) {
        return refused.response();
    }
    change(shared, peer, &session, &segments, req).await
}

/// A change the signed-in person makes: approve, deny, pause, resume.
async fn change(
    shared: &AdminState,
    peer: SocketAddr,
    session: &Session,
    segments: &[&str],
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let who = session.name.as_str();
    match segments {
        ["approvals", id, "approve"] => super::approve(shared, id, who, req).await,
        ["approvals", id, "deny"] => super::deny(shared, id, who, req).await,
        ["agents", "pause"] => agents::pause(shared, peer, who, None, req).await,
        ["agents", name, "pause"] => agents::pause(shared, peer, who, Some(name), req).await,
        ["agents", "resume"] => agents::resume(shared, peer, who, None).await,
        ["agents", name, "resume"] => agents::resume(shared, peer, who, Some(name)).await,
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        ),
    }
}
