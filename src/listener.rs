//! The accept loop: a connection limit (semaphore), back-off on accept errors, and one task
//! per client connection serving the proxy protocol until it ends, idles out or shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::activity::{Activity, ActivityIo};
use crate::conn_event::{self, Malformed, Place};
use crate::exchange::Scheme;
use crate::head_scan::{Findings, HeadScan};
use crate::proxy::Shared;
use crate::proxy_request;

/// Longest pause after repeated accept errors (e.g. out of file descriptors).
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts client connections until shutdown is requested.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let limit = Arc::new(Semaphore::new(shared.config().limits.max_connections));
    let mut backoff = Duration::from_millis(1);
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            () = shared.shutdown().cancelled() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutdown().cancelled() => return,
        };
        match accepted {
            Ok((stream, client)) => {
                backoff = Duration::from_millis(1);
                let shared2 = shared.clone();
                shared
                    .tasks()
                    .spawn(serve_client(shared2, stream, client, permit));
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Serves one client connection's proxy requests.
async fn serve_client(
    shared: Arc<Shared>,
    stream: TcpStream,
    client: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let findings = Arc::new(Findings::default());
    let limit = shared.config().limits.max_header_bytes.max(8192);
    let io = TokioIo::new(HeadScan::new(
        ActivityIo::new(stream, activity.clone()),
        limit,
        true,
        findings.clone(),
    ));
    let service = {
        let shared = shared.clone();
        let activity = activity.clone();
        let findings = findings.clone();
        service_fn(move |mut req| {
            findings.tag(&mut req);
            proxy_request::handle(shared.clone(), client, activity.clone(), req)
        })
    };
    let conn = shared
        .outer_builder()
        .serve_connection(io, service)
        .with_upgrades();
    let idle = shared.config().limits.idle_timeout;
    let ended = crate::connection::drive(
        conn,
        shared.shutdown(),
        shared.stop_now(),
        &activity,
        idle,
        "client",
    );
    let ended = ended.await;
    let place = Place {
        client,
        target: None,
        scheme: Scheme::Http,
        agent: None,
    };
    if let Some(too_long) = findings.take_too_long() {
        let what = Malformed {
            reason: too_long.reason,
            status: Some(414),
        };
        conn_event::record_as(&shared, place, "-", what, too_long.id);
    } else if let Some(malformed) = ended {
        conn_event::record(&shared, place, "-", malformed);
    }
}
