//! Drives one served connection to its end: until it finishes, goes idle, or shutdown asks
//! it to finish its in-flight exchanges and close (at once when the grace period is over).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::activity::Activity;

/// A hyper connection that can be asked to stop taking requests and finish the current ones.
pub trait Graceful: Future {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown(self)
    }
}

impl<I, S, E, B> Graceful for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper_util::server::conn::auto::UpgradeableConnection::graceful_shutdown(self)
    }
}

/// Runs `conn` until it ends; closes it after `idle` of inactivity; on shutdown lets it
/// finish in-flight exchanges until `stop_now` (the end of the grace period) closes it at
/// once, dropping them (their guards record them). Returns the error the connection ended
/// with, for the caller to judge (a malformed request is recorded; a reset is not).
pub async fn drive<C, T, E>(
    conn: C,
    shutdown: &CancellationToken,
    stop_now: &CancellationToken,
    activity: &Arc<Activity>,
    idle: Duration,
    what: &str,
) -> Option<Box<dyn std::error::Error + Send + Sync>>
where
    C: Graceful<Output = Result<T, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        res = conn.as_mut() => res,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                res = conn.as_mut() => res,
                () = stop_now.cancelled() => {
                    tracing::debug!(what, "connection closed: shutdown grace period over");
                    return None;
                }
            }
        }
        () = activity.idle_for(idle) => {
            tracing::debug!(what, "connection idle; closed");
            return None;
        }
    };
    let err: Box<dyn std::error::Error + Send + Sync> = result.err()?.into();
    tracing::debug!(what, error = %err, "connection ended with an error");
    Some(err)
}
