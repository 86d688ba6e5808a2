//! Bounded waiting for something another task does: a check polled every [`POLL`] until it
//! yields a value, at most `timeout` and `timeout / POLL + 1` tries, never longer.

use std::time::Duration;

use tokio::time::Instant;

/// How long to wait between two tries of a check.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `check` until it yields a value and returns it; panics naming `what` when
/// `timeout` passes first.
pub async fn eventually<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    within(timeout, check)
        .await
        .unwrap_or_else(|| panic!("{what}: not within {timeout:?}"))
}

/// [`eventually`] for a check that awaits (flushing a writer, asking an API).
pub async fn eventually_async<T>(
    what: &str,
    timeout: Duration,
    check: impl AsyncFnMut() -> Option<T>,
) -> T {
    within_async(timeout, check)
        .await
        .unwrap_or_else(|| panic!("{what}: not within {timeout:?}"))
}

/// Polls `check` until it yields a value; `None` when `timeout` passes first.
pub async fn within<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    within_async(timeout, async || check()).await
}

/// [`within`] for a check that awaits.
pub async fn within_async<T>(
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let tries = timeout.as_millis() / POLL.as_millis() + 1;
    for _ in 0..tries {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    None
}
