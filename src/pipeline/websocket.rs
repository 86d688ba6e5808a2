//! WebSocket (and any accepted `Upgrade`) bridging: after the upstream answers 101, the two
//! upgraded streams are joined byte for byte until either side closes, goes idle, or the
//! shutdown grace period is over.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use std::time::Duration;

use crate::pipeline::exchange::ConnInfo;
use crate::server::Lifecycle;

/// Spawns the bridge between the agent's and the upstream's upgraded connections; it closes
/// after `idle` of silence.
pub fn bridge(
    lifecycle: &Lifecycle,
    idle: Duration,
    conn: &ConnInfo,
    client: OnUpgrade,
    upstream: OnUpgrade,
) {
    let activity = conn.activity.clone();
    let target = conn.target.clone();
    let stop_now = lifecycle.stop_now().clone();
    lifecycle.tasks().spawn(async move {
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
