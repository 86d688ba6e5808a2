//! The accept loop: a connection limit (semaphore), back-off on accept errors, and one
//! tracked task per connection running what the caller serves it with.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Lifecycle;

/// A connection's place under the connection limit, held while the connection is open and
/// then by the tunnel it became (a CONNECT hands its connection over to the tunnel).
#[derive(Clone)]
pub struct Slot(Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>);

impl Slot {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        Self(Arc::new(std::sync::Mutex::new(Some(permit))))
    }

    /// The place, for whoever keeps the connection open after its first holder returns.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.lock().ok().and_then(|mut p| p.take())
    }
}

/// Longest pause after repeated accept errors (e.g. out of file descriptors).
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts connections until shutdown is requested, while `limit` has a permit (one per
/// open connection, shared by every accept loop of the proxy), running `serve` for each on
/// a task the lifecycle tracks.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limit: Arc<Semaphore>,
    lifecycle: &Lifecycle,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Slot) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let shutdown = lifecycle.shutdown();
    let mut backoff = Duration::from_millis(1);
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            () = shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, client)) => {
                backoff = Duration::from_millis(1);
                let _ = stream.set_nodelay(true);
                let slot = Slot::new(permit);
                let served = serve(stream, client, slot.clone());
                lifecycle.tasks().spawn(async move {
                    served.await;
                    // The place is freed here unless a tunnel took it.
                    drop(slot);
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
