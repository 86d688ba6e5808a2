//! The end of a proxy's run: in-flight exchanges get the grace period, then connections still
//! open are closed at once and given a short while to end (their exchanges record themselves).

use std::time::Duration;

use super::Lifecycle;

/// How long connections closed at the end of the grace period may take to end (dropping
/// their exchanges, whose guards queue the entries).
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Waits for the connection tasks: up to the grace period for their in-flight exchanges,
/// then, with the connections still open closed at once, up to `STOP_WAIT` (5 s) for them to end.
pub async fn drain(lifecycle: &Lifecycle, grace: Duration) {
    lifecycle.tasks().close();
    if tokio::time::timeout(grace, lifecycle.tasks().wait())
        .await
        .is_ok()
    {
        return;
    }
    tracing::warn!(
        remaining = lifecycle.tasks().len(),
        "shutdown grace period over; closing remaining connections"
    );
    lifecycle.stop_now().cancel();
    if tokio::time::timeout(STOP_WAIT, lifecycle.tasks().wait())
        .await
        .is_err()
    {
        tracing::error!(
            remaining = lifecycle.tasks().len(),
            "connections did not close after the grace period; their exchanges may be unrecorded"
        );
    }
}
