//! WebSocket (and any accepted `Upgrade`) bridging: after the upstream answers 101, the two
//! upgraded streams are joined byte for byte until either side closes, goes idle, or the
//! shutdown grace period is over.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::exchange::ConnInfo;
use crate::proxy::Shared;

/// Spawns the bridge between the agent's and the upstream's upgraded connections.
pub fn bridge(shared: &Shared, conn: &ConnInfo, client: OnUpgrade, upstream: OnUpgrade) {
    let activity = conn.activity.clone();
    let idle = shared.config().limits.idle_timeout;
    let target = conn.target.clone();
    let stop_now = shared.stop_now().clone();
    shared.tasks().spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(err) => {
                tracing::debug!(%target, error = %err, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        tokio::select! {
            res = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                if let Err(err) = res {
                    tracing::debug!(%target, error = %err, "upgraded connection ended");
                }
            }
            () = activity.idle_for(idle) => {
                tracing::debug!(%target, "upgraded connection idle; closed");
            }
            () = stop_now.cancelled() => {
                tracing::debug!(%target, "upgraded connection closed: shutdown grace period over");
            }
        }
    });
}
