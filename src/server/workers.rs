//! The serving threads: each runs a single-threaded runtime of its own with an accept loop
//! on a clone of every listening socket (the proxy port, the transparent listeners), so a
//! connection, its requests and the upstream connections they use are driven on one thread
//! and a request hands nothing to another thread on its way (the audit writer aside). The
//! kernel wakes one of the idle loops per new connection; one connection limit covers all.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use futures_util::future::join_all;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use super::Lifecycle;
use super::accept::{Slot, accept_loop};

/// How many serving threads `configured` asks for (0: one per CPU).
pub fn count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Running serving threads.
pub struct Workers {
    threads: Vec<(JoinHandle<()>, oneshot::Receiver<()>)>,
    /// Cancelled once the drain is over: the threads stop their runtimes, dropping whatever
    /// is still running on them (their exchanges' guards record it).
    release: CancellationToken,
    /// Cancelled too when the workers are dropped without [`Workers::stop`] (the proxy's
    /// future dropped with its runtime), so no thread is left accepting.
    shutdown: CancellationToken,
}

/// Why the serving threads could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkersError {
    #[error("cannot share the listening socket with a serving thread: {0}")]
    Listener(#[source] std::io::Error),
    #[error("cannot start a serving thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl Workers {
    /// Starts one thread per entry of `serves`, each accepting on a clone of every one of
    /// `listeners` (at most `max_connections` in all) until shutdown, then serving what it
    /// accepted until the drain is over. `serve` is told which listener (its index in
    /// `listeners`) a connection came on.
    pub fn start<F, Fut>(
        listeners: Vec<TcpListener>,
        max_connections: usize,
        lifecycle: &Lifecycle,
        serves: Vec<F>,
    ) -> Result<Self, WorkersError>
    where
        F: Fn(usize, TcpStream, SocketAddr, Slot) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listeners = listeners
            .into_iter()
            .map(TcpListener::into_std)
            .collect::<Result<Vec<_>, _>>()
            .map_err(WorkersError::Listener)?;
        let limit = Arc::new(Semaphore::new(max_connections));
        let release = CancellationToken::new();
        let mut threads = Vec::with_capacity(serves.len());
        for (i, serve) in serves.into_iter().enumerate() {
            let sockets = listeners
                .iter()
                .map(std::net::TcpListener::try_clone)
                .collect::<Result<Vec<_>, _>>()
                .map_err(WorkersError::Listener)?;
            let (done_tx, done_rx) = oneshot::channel();
            let lifecycle = lifecycle.clone();
            let limit = limit.clone();
            let release = release.clone();
            let thread = std::thread::Builder::new()
                .name(format!("keyward-worker-{i}"))
                .spawn(move || {
                    serve_thread(sockets, limit, lifecycle, release, serve);
                    let _ = done_tx.send(());
                })
                .map_err(WorkersError::Thread)?;
            threads.push((thread, done_rx));
        }
        Ok(Self {
            threads,
            release,
            shutdown: lifecycle.shutdown().clone(),
        })
    }

    /// After the drain: stops the threads and waits for them to end.
    pub async fn stop(mut self) {
        self.release.cancel();
        for (thread, done) in std::mem::take(&mut self.threads) {
            // A thread that ended (normally or not) has dropped its sender.
            let _ = done.await;
            if thread.join().is_err() {
                tracing::error!("a serving thread panicked");
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.release.cancel();
    }
}

/// One serving thread's life: its runtime, an accept loop per listener until shutdown, then
/// its connections until the drain releases it.
fn serve_thread<F, Fut>(
    sockets: Vec<std::net::TcpListener>,
    limit: Arc<Semaphore>,
    lifecycle: Lifecycle,
    release: CancellationToken,
    serve: F,
) where
    F: Fn(usize, TcpStream, SocketAddr, Slot) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start a serving thread's runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let mut listeners = Vec::with_capacity(sockets.len());
        for socket in sockets {
            match TcpListener::from_std(socket) {
                Ok(listener) => listeners.push(listener),
                Err(error) => {
                    tracing::error!(%error, "a serving thread cannot listen");
                    return;
                }
            }
        }
        let serve = &serve;
        let loops = listeners.into_iter().enumerate().map(|(which, listener)| {
            let serve = move |stream, peer, slot| serve(which, stream, peer, slot);
            accept_loop(listener, limit.clone(), &lifecycle, serve)
        });
        join_all(loops).await;
        release.cancelled().await;
    });
}
