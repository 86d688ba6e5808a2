//! The admin listener (separate address, default `127.0.0.1:3129`), token-protected:
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | GET | `/healthz` | 200 while the process serves |
//! | GET | `/readyz` | 200 while the audit log is writable and the shared state (Redis, when configured) answers (rules are always loaded once started), else 503 |
//! | GET | `/metrics` | Prometheus text |
//! | GET | `/approvals` | JSON list of requests waiting for a person (on every replica, with a shared state) |
//! | POST | `/approvals/{id}/approve` | body `{"for": "10m"}` (optional: a follow-up window) |
//! | POST | `/approvals/{id}/deny` | body `{"reason": "…"}` (optional) |
//! | POST | `/reload` | recompile the rules; 200 with the summary, 422 with the errors |
//! | GET | `/agents` | the declared agents and their pauses |
//! | POST | `/agents/{name}/pause`, `/agents/pause` | body `{"reason": "…"}` (optional): pause one agent, or all ([`agents`]) |
//! | POST | `/agents/{name}/resume`, `/agents/resume` | end that pause |
//! | GET | `/console` | the approvals console, a web page ([`console`]) |
//!
//! Every path but `/healthz`, `/readyz` and the console's needs `Authorization: Bearer
//! TOKEN`, always: the token's name (see [`tokens`]) is who approved, denied, paused or
//! reloaded. The console signs in with the same tokens and keeps a session cookie.

mod agents;
pub mod console;
pub mod tokens;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;

use tokio_util::sync::CancellationToken;

use crate::audit::AuditHandle;
use crate::body::{self, ProxyBody};
use crate::control::approvals::{Approvals, Resolution};
use crate::control::pause::{Pauses, RecordPause};
use crate::control::reload::Reloader;
use crate::control::rules_in_force::RulesInForce;
use crate::control::shared_state::SharedState;
use crate::metrics::Metrics;
use tokens::AdminTokens;

/// Largest admin request body.
const MAX_BODY: usize = 16 * 1024;

/// Why the admin listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    #[error("cannot listen on {addr} for the admin API: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the admin listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, AdminError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })
}

/// What the admin API reads and changes.
pub struct AdminState {
    /// Who may call it.
    pub tokens: AdminTokens,
    /// Readiness follows the audit trail's health (`None`: the audit log is off).
    pub audit: Option<AuditHandle>,
    pub metrics: Arc<Metrics>,
    /// Held requests to list, approve and deny.
    pub approvals: Arc<Approvals>,
    /// Readiness also follows the replicas' shared state, when configured.
    pub state: Option<SharedState>,
    /// `POST /reload`.
    pub reloader: Reloader,
    /// The agents to list, pause and resume.
    pub rules: Arc<RulesInForce>,
    /// The pauses in force (the kill switch).
    pub pauses: Arc<Pauses>,
    /// Writes the audit entry of a pause or resume.
    pub record_pause: RecordPause,
    /// The approvals console's sessions and feed.
    pub console: console::Console,
}

/// Serves admin requests until `shutdown`.
pub async fn serve(state: AdminState, listener: TcpListener, shutdown: CancellationToken) {
    let shared = Arc::new(state);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => return,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, peer, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    #[serde(rename = "for")]
    window: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    reason: Option<String>,
}

async fn route(
    shared: &AdminState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => return text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") => {
            return if !shared.audit.as_ref().is_none_or(AuditHandle::is_healthy) {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit log cannot be written\n",
                )
            } else if !shared.state.as_ref().is_none_or(SharedState::is_healthy) {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shared state (Redis) cannot be reached\n",
                )
            } else {
                text(StatusCode::OK, "ready\n")
            };
        }
        _ => {}
    }
    if path == "/console" || path.starts_with("/console/") {
        return console::route(shared, peer, req).await;
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let Some(who) = shared.tokens.authenticate(authorization).map(str::to_owned) else {
        tracing::warn!(%method, %path, "admin API call without a valid token refused");
        let mut resp = json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "unauthorized"}),
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["metrics"]) => {
            let mut resp = text(StatusCode::OK, &shared.metrics.render());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        (&Method::GET, ["approvals"]) => match shared.approvals.list().await {
            Ok(list) => json(StatusCode::OK, &list),
            Err(e) => unavailable(&e),
        },
        (&Method::POST, ["approvals", id, "approve"]) => {
            let id = id.to_string();
            approve(shared, &id, &who, req).await
        }
        (&Method::POST, ["approvals", id, "deny"]) => {
            let id = id.to_string();
            deny(shared, &id, &who, req).await
        }
        (&Method::GET, ["agents"]) => agents::list(shared),
        (&Method::POST, ["agents", "pause"]) => agents::pause(shared, peer, &who, None, req).await,
        (&Method::POST, ["agents", "resume"]) => agents::resume(shared, peer, &who, None).await,
        (&Method::POST, ["agents", name, "pause"]) => {
            let name = name.to_string();
            agents::pause(shared, peer, &who, Some(&name), req).await
        }
        (&Method::POST, ["agents", name, "resume"]) => {
            agents::resume(shared, peer, &who, Some(name)).await
        }
        (&Method::POST, ["reload"]) => {
            match shared
                .reloader
                .reload_now(&format!("POST /reload by {who}"))
            {
                Ok(summary) => json(
                    StatusCode::OK,
                    &serde_json::json!({"reloaded": true, "summary": summary.to_string()}),
                ),
                Err(errors) => {
                    let list: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
                    json(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &serde_json::json!({"reloaded": false, "errors": list}),
                    )
                }
            }
        }
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        ),
    }
}

/// Approves the held request `id` as `who`, for the window the body names (`{"for": "10m"}`;
/// none, or `once`: this request only).
async fn approve(
    shared: &AdminState,
    id: &str,
    who: &str,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let body: ApproveBody = match read_json(req).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let window = match body
        .window
        .as_deref()
        .filter(|w| !w.is_empty() && *w != "once")
        .map(humantime::parse_duration)
        .transpose()
    {
        Ok(w) => w,
        Err(e) => {
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": format!("invalid duration: {e}")}),
            );
        }
    };
    let resolution = Resolution::Approved {
        by: Some(who.to_owned()),
        window,
    };
    resolve(shared, id, who, resolution).await
}

/// Denies the held request `id` as `who`, for the body's reason (`{"reason": "…"}`).
async fn deny(
    shared: &AdminState,
    id: &str,
    who: &str,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let body: DenyBody = match read_json(req).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let resolution = Resolution::Denied {
        by: Some(who.to_owned()),
        reason: body.reason.filter(|r| !r.trim().is_empty()),
    };
    resolve(shared, id, who, resolution).await
}

/// The shared state failed: 503 with the reason.
fn unavailable(e: &crate::control::shared_state::StateError) -> Response<ProxyBody> {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"error": e.to_string()}),
    )
}

async fn resolve(
    shared: &AdminState,
    id: &str,
    who: &str,
    resolution: Resolution,
) -> Response<ProxyBody> {
    let verb = match &resolution {
        Resolution::Approved { .. } => "approved",
        Resolution::Denied { .. } => "denied",
    };
    match shared.approvals.resolve(id, resolution).await {
        Ok(true) => {
            tracing::info!(%id, by = %who, "held request {verb}");
            json(
                StatusCode::OK,
                &serde_json::json!({"id": id, "resolved": true}),
            )
        }
        Ok(false) => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": format!("no pending approval {id}")}),
        ),
        Err(e) => unavailable(&e),
    }
}

async fn read_json<T: for<'de> Deserialize<'de> + Default>(
    req: Request<Incoming>,
) -> Result<T, Response<ProxyBody>> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let bytes: Bytes = limited.collect().await.map(|c| c.to_bytes()).map_err(|_| {
        json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": "body too large"}),
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": format!("invalid JSON: {e}")}),
        )
    })
}

fn text(status: StatusCode, body: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(body::full(body.to_owned()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<ProxyBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(body::full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}
