//! The actions listener (`actions_listen:`): streamable-HTTP MCP at `/mcp`, each request's
//! agent authenticated from `Authorization: Basic AGENT:TOKEN` (base64, as proxy credentials)
//! or `Bearer AGENT:TOKEN`, checked like proxy credentials; with agents declared, a request
//! without valid credentials is answered 401.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::catalog::ActionCatalog;
use crate::control::rules_in_force::RulesInForce;
use crate::tool_server::ToolServer;
use crate::tool_server::streamable::{self, Caller};

/// The endpoint's path.
pub const ENDPOINT: &str = "/mcp";

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a request head may take to arrive (a slow client holds a connection slot).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the listener serves with.
pub struct ActionsServer {
    pub server: ToolServer<ActionCatalog>,
    /// For agent authentication (the agents of the generation in force).
    pub rules: Arc<RulesInForce>,
}

/// Accepts until `shutdown`.
pub async fn serve(state: ActionsServer, listener: TcpListener, shutdown: CancellationToken) {
    let shared = Arc::new(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        // Over the limit the connection is closed at once: calls wait on upstreams and
        // people, so each open connection may hold a task for long.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("actions listener: {MAX_CONNECTIONS} connections open; refusing one");
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

/// One request.
async fn route(state: &ActionsServer, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != ENDPOINT {
        let mut resp = Response::new(Full::new(Bytes::from_static(
            b"{\"error\":\"the MCP endpoint is /mcp\"}",
        )));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return resp;
    }
    let caller = authenticate(&state.rules, req.headers().get(AUTHORIZATION)).await;
    let refused = caller.is_err();
    let mut resp = streamable::answer(&state.server, caller, req).await;
    if refused && resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"keyward actions\""),
        );
    }
    resp
}

/// The agent `Authorization` names, checked against the agents in force.
pub async fn authenticate(rules: &RulesInForce, header: Option<&HeaderValue>) -> Caller {
    let current = rules.current();
    let basic = header.and_then(as_basic);
    current
        .agents
        .authenticate(basic.as_ref())
        .await
        .map_err(|e| match e {
            crate::credentials::agents::AuthError::Missing => {
                "authentication required: send Authorization: Bearer AGENT:TOKEN".to_owned()
            }
            other => other.to_string(),
        })
}

/// `Basic …` as it is; `Bearer AGENT:TOKEN` as the `Basic` value of the same credentials.
fn as_basic(header: &HeaderValue) -> Option<HeaderValue> {
    let bytes = header.as_bytes();
    if bytes.len() > 6 && bytes[..6].eq_ignore_ascii_case(b"basic ") {
        return Some(header.clone());
    }
    if bytes.len() > 7 && bytes[..7].eq_ignore_ascii_case(b"bearer ") {
        let plain = zeroize::Zeroizing::new(bytes[7..].trim_ascii().to_vec());
        let encoded = zeroize::Zeroizing::new(format!("Basic {}", STANDARD.encode(&*plain)));
        let mut value = HeaderValue::from_str(&encoded).ok()?;
        value.set_sensitive(true);
        return Some(value);
    }
    // Anything else: malformed credentials, refused by the registry.
    HeaderValue::from_static("Basic !").into()
}
