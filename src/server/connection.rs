//! Drives one served connection to its end: until it finishes, goes idle, its agent is
//! paused, or shutdown asks it to finish its in-flight exchanges and close (at once when the
//! grace period is over).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::activity::Activity;

/// How long a paused agent's connection may take to deliver the answers already decided
/// (a held request's denial) before it is closed.
const PAUSE_GRACE: Duration = Duration::from_secs(2);

/// How a driven connection ended, for the caller to record.
pub struct Ended<R> {
    /// The error the connection ended with (a malformed request is recorded; a reset is
    /// not).
    pub error: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Why the pause that closed it began.
    pub paused: Option<R>,
}

impl<R> Ended<R> {
    fn plain(error: Option<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            error,
            paused: None,
        }
    }
}

/// What [`drive`] watches besides the connection itself.
pub struct Watch<'a, P> {
    pub shutdown: &'a CancellationToken,
    pub stop_now: &'a CancellationToken,
    pub activity: &'a Arc<Activity>,
    pub idle: Duration,
    /// Completes, with the reason, when the connection's agent (or every agent) is paused.
    pub pause: P,
}

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

/// Runs `conn` until it ends; closes it after `idle` of inactivity; when its agent is
/// paused, lets it deliver what was already answered for at most [`PAUSE_GRACE`], then
/// closes it; on shutdown lets it finish in-flight exchanges until `stop_now` (the end of
/// the grace period) closes it at once, dropping them (their guards record them).
pub async fn drive<C, T, E, P>(conn: C, watch: Watch<'_, P>, what: &str) -> Ended<P::Output>
where
    C: Graceful<Output = Result<T, E>>,
    P: Future,
    P::Output: std::fmt::Display,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        res = conn.as_mut() => res,
        () = watch.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                res = conn.as_mut() => res,
                () = watch.stop_now.cancelled() => {
                    tracing::debug!(what, "connection closed: shutdown grace period over");
                    return Ended::plain(None);
                }
            }
        }
        paused = watch.pause => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(PAUSE_GRACE, conn.as_mut()).await;
            tracing::info!(what, reason = %paused, "connection closed: agent paused");
            return Ended { error: None, paused: Some(paused) };
        }
        () = watch.activity.idle_for(watch.idle) => {
            tracing::debug!(what, "connection idle; closed");
            return Ended::plain(None);
        }
    };
    let Some(err) = result.err() else {
        return Ended::plain(None);
    };
    let err: Box<dyn std::error::Error + Send + Sync> = err.into();
    tracing::debug!(what, error = %err, "connection ended with an error");
    Ended::plain(Some(err))
}
