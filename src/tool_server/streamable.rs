//! The streamable-HTTP transport of the tool server: JSON-RPC `POST`ed to the endpoint,
//! answered in JSON (or as one SSE event to a client that accepts only `text/event-stream`);
//! `202 Accepted` for notifications; `GET` (a server stream) is not offered (405) and
//! `DELETE` (ending a session) is accepted. The server keeps no session state: `initialize`
//! hands out an `Mcp-Session-Id` for clients that expect one, and every request stands on its
//! own. A request from a web page (an `Origin` other than a loopback one) is refused, so a
//! page the agent browses cannot reach the tools (DNS rebinding).

use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue, ORIGIN};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};

use super::{Catalog, ToolServer};
use crate::pipeline::refusal::{sse_event, wants_sse};
use crate::policy::AgentId;

/// The largest request body read, in bytes.
pub const MAX_BODY: usize = 1 << 20;

/// The header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// Who is calling, as the listener's authentication found it.
pub type Caller = Result<Option<AgentId>, String>;

/// Answers one HTTP request to the endpoint; `caller` is the agent the request
/// authenticated as (`Err` with the reason when it did not).
pub async fn answer<C, B>(
    server: &ToolServer<C>,
    caller: Caller,
    req: Request<B>,
) -> Response<Full<Bytes>>
where
    C: Catalog,
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if let Some(origin) = req.headers().get(ORIGIN)
        && !loopback_origin(origin)
    {
        return plain(StatusCode::FORBIDDEN, "requests from web pages are refused");
    }
    let agent = match caller {
        Ok(agent) => agent,
        Err(why) => return plain(StatusCode::UNAUTHORIZED, &why),
    };
    match *req.method() {
        Method::POST => {}
        Method::DELETE => return empty(StatusCode::NO_CONTENT),
        _ => {
            let mut resp = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST JSON-RPC messages here",
            );
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, DELETE"));
            return resp;
        }
    }
    let json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/json");
    }
    let sse = wants_sse(req.headers().get(ACCEPT));
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return match too_large {
                true => plain(StatusCode::PAYLOAD_TOO_LARGE, "a message over 1 MiB"),
                false => plain(StatusCode::BAD_REQUEST, "the body could not be read"),
            };
        }
    };
    let initializes = initializes(&body);
    let Some(answer) = server.handle_bytes(agent.as_ref(), &body).await else {
        return empty(StatusCode::ACCEPTED);
    };
    let json = serde_json::to_vec(&answer).unwrap_or_default();
    let (content_type, bytes) = match sse {
        true => ("text/event-stream", sse_event(&json)),
        false => ("application/json", json),
    };
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if initializes && let Ok(id) = HeaderValue::from_str(&session_id()) {
        resp.headers_mut().insert(SESSION_HEADER, id);
    }
    resp
}

/// Whether the body is an `initialize` request.
fn initializes(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v.get("method").and_then(Value::as_str) == Some("initialize"))
}

/// A fresh session id: 128 random bits in hex.
fn session_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

/// Whether `origin` is a page served from this machine (`http://localhost:…`,
/// `http://127.0.0.1:…`, `http://[::1]:…`).
fn loopback_origin(origin: &HeaderValue) -> bool {
    let Some(uri) = origin
        .to_str()
        .ok()
        .and_then(|o| o.parse::<http::Uri>().ok())
    else {
        return false;
    };
    matches!(
        uri.host(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    )
}

/// A short JSON error answer.
fn plain(status: StatusCode, why: &str) -> Response<Full<Bytes>> {
    let body = json!({ "error": why }).to_string();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// An answer without a body.
fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}
