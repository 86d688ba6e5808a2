//! Running an assembled proxy: the admin API, shared-state listeners, the actions listener,
//! rule reloads and the jail's DNS started beside the serving workers; then, at shutdown, the
//! stop in order (drain, close connections, close and sync the audit trail).

use super::{Proxy, RunningProxy, pause_record};
use crate::control::admin::AdminState;
use crate::ingress::{client, transparent};
use crate::server::drain;
use crate::server::workers::Workers;

impl Proxy {
    /// Accepts until shutdown, then stops in order: waits up to the grace period for
    /// in-flight exchanges, closes the connections still open (their exchanges' guards
    /// record them), then closes the audit trail and waits until every entry is written and
    /// synced. Only then does it return.
    pub async fn run(self) {
        let handles = self.handles;
        let shutdown = handles.lifecycle.shutdown().clone();
        if let Some((listener, tokens)) = self.admin {
            let state = AdminState {
                tokens,
                audit: handles.audit().cloned(),
                metrics: handles.metrics.clone(),
                approvals: handles.approvals.clone(),
                state: handles.state.clone(),
                reloader: handles.reloader.clone(),
                rules: handles.rules.clone(),
                pauses: handles.pauses.clone(),
                record_pause: pause_record::writer(handles.recorder.clone()),
                console: crate::control::admin::console::Console::new(
                    self.config.audit.as_ref().map(|a| a.path.clone()),
                ),
            };
            tokio::spawn(crate::control::admin::serve(
                state,
                listener,
                shutdown.clone(),
            ));
        }
        if let Some(state) = handles.state.clone() {
            tokio::spawn(state.clone().watch_health(shutdown.clone()));
            let listen = crate::control::shared_state::approvals::listen(
                handles.approvals.clone(),
                shutdown.clone(),
            );
            tokio::spawn(listen);
            tokio::spawn(crate::control::shared_state::pauses::listen(
                handles.pauses.clone(),
                handles.approvals.clone(),
                state.clone(),
                shutdown.clone(),
            ));
        }
        if let Some((listener, server)) = self.actions {
            let serve = crate::actions::listener::serve(server, listener, shutdown.clone());
            tokio::spawn(serve);
        }
        if handles.rules.dir().exists() {
            let watch = crate::control::reload::watch(handles.reloader.clone(), shutdown.clone());
            tokio::spawn(watch);
        }
        if let Some((sockets, responder)) = self.dns {
            for socket in sockets {
                let serve = crate::ingress::dns::serve(socket, responder.clone(), shutdown.clone());
                handles.lifecycle.tasks().spawn(serve);
            }
        }
        // Listener 0 is the proxy port, the others are transparent.
        let serves = self
            .ingresses
            .into_iter()
            .map(|ingress| {
                move |which: usize, stream, peer, slot| -> ServeFuture {
                    let ingress = ingress.clone();
                    if which == 0 {
                        Box::pin(client::serve(ingress, stream, peer, slot))
                    } else {
                        Box::pin(transparent::serve(ingress, stream, peer, slot))
                    }
                }
            })
            .collect();
        let max_connections = self.config.limits.max_connections;
        let lifecycle = &handles.lifecycle;
        let mut listeners = vec![self.listener];
        listeners.extend(self.transparent);
        let workers = match Workers::start(listeners, max_connections, lifecycle, serves) {
            Ok(workers) => Some(workers),
            Err(error) => {
                tracing::error!(%error, "cannot serve; stopping");
                lifecycle.shutdown().cancel();
                None
            }
        };
        lifecycle.shutdown().cancelled().await;
        drain(lifecycle, self.config.limits.shutdown_grace).await;
        if let Some(workers) = workers {
            workers.stop().await;
        }
        if let Some(audit) = handles.audit().cloned() {
            audit.close().await;
        }
        if let Some(task) = self.audit_task
            && let Err(error) = task.await
        {
            tracing::error!(%error, "audit writer task failed");
        }
    }

    /// Runs the proxy on a task.
    pub fn spawn(self) -> RunningProxy {
        let addr = self.addr;
        let admin = self.admin_addr();
        let actions = self.actions_addr();
        let handles = self.handles.clone();
        let handle = tokio::spawn(self.run());
        RunningProxy {
            addr,
            admin,
            actions,
            handles,
            handle,
        }
    }
}

/// One accepted connection being served, on the proxy port or a transparent listener.
type ServeFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
