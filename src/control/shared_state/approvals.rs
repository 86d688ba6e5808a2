//! Held requests in Redis, for replicas: each hold is recorded (what `approvals list` shows
//! on any replica) until its timeout; an answer given on any replica claims the record
//! atomically (the first answer wins), is kept a minute, and is announced over pub/sub, so
//! the replica holding the request releases it at once. Approval windows are shared keys.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{KEY_PREFIX, SharedState, StateError, Subscription, resubscribing, scripts};
use crate::control::approvals::{ApprovalStore, Approvals, PendingInfo, Resolution};

/// The pub/sub channel answers are announced on.
const CHANNEL: &str = "keyward:approvals:answers";
/// The sorted set of held ids, scored by their deadline.
const PENDING_SET: &str = "keyward:approvals";
/// How often a holder also looks for a kept answer, in case its announcement was lost (a
/// subscription that broke without a sign).
const ANSWER_POLL: Duration = Duration::from_secs(1);

/// What a held request's record holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// When it was held, milliseconds since the Unix epoch (the holder's clock).
    since_ms: u64,
    info: PendingInfo,
}

/// An answer, as announced and kept.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    id: String,
    approved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Announcement {
    fn of(id: &str, resolution: &Resolution) -> Self {
        let (approved, by, window, reason) = match resolution {
            Resolution::Approved { by, window } => (true, by.clone(), *window, None),
            Resolution::Denied { by, reason } => (false, by.clone(), None, reason.clone()),
        };
        Self {
            id: id.to_owned(),
            approved,
            by,
            window_ms: window.map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX)),
            reason,
        }
    }

    fn resolution(self) -> Resolution {
        if self.approved {
            Resolution::Approved {
                by: self.by,
                window: self.window_ms.map(Duration::from_millis),
            }
        } else {
            Resolution::Denied {
                by: self.by,
                reason: self.reason,
            }
        }
    }
}

fn record_key(id: &str) -> String {
    format!("{KEY_PREFIX}approval:{id}")
}

fn answer_key(id: &str) -> String {
    format!("{KEY_PREFIX}answer:{id}")
}

/// A window's key: the shape hashed (a shape holds a path, which may be long).
fn window_key(shape: &str) -> String {
    let digest = Sha256::digest(shape.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{KEY_PREFIX}window:{hex}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The held requests, answers and windows of every replica.
#[derive(Clone)]
pub struct RedisApprovals {
    state: SharedState,
}

impl ApprovalStore for RedisApprovals {
    /// Records a held request until `timeout`.
    async fn record(&self, info: &PendingInfo, timeout: Duration) -> Result<(), StateError> {
        let since_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let stored = Stored {
            since_ms,
            info: info.clone(),
        };
        let json = serde_json::to_string(&stored).map_err(|e| StateError::Redis(e.to_string()))?;
        let mut invocation = scripts::RECORD.prepare_invoke();
        invocation
            .key(record_key(&info.id))
            .key(PENDING_SET)
            .arg(&info.id)
            .arg(json)
            .arg(millis(timeout));
        self.state.script::<i64>(&invocation).await.map(drop)
    }

    /// Claims the request `id` for `resolution` and announces it (the holder, here or on
    /// another replica, hears it); false when no such request waits (answered already,
    /// expired, or never held).
    async fn claim(
        &self,
        id: &str,
        resolution: Resolution,
        _deliver: impl FnOnce(Resolution) -> bool + Send,
    ) -> Result<bool, StateError> {
        let message = serde_json::to_string(&Announcement::of(id, &resolution))
            .map_err(|e| StateError::Redis(e.to_string()))?;
        let mut invocation = scripts::CLAIM.prepare_invoke();
        invocation
            .key(record_key(id))
            .key(PENDING_SET)
            .key(answer_key(id))
            .arg(id)
            .arg(CHANNEL)
            .arg(message);
        let claimed: i64 = self.state.script(&invocation).await?;
        Ok(claimed == 1)
    }

    /// Waits for the answer to the request `id` held here: announced (delivered to `rx`),
    /// or found kept (looked up every [`ANSWER_POLL`]), until `timeout`. At the timeout the
    /// record is removed, unless an answer claimed it first: that answer then stands.
    async fn wait(
        &self,
        id: &str,
        mut rx: oneshot::Receiver<Resolution>,
        timeout: Duration,
    ) -> Option<Resolution> {
        let deadline = Instant::now() + timeout;
        loop {
            let next = (Instant::now() + ANSWER_POLL).min(deadline);
            tokio::select! {
                answer = &mut rx => return answer.ok(),
                () = tokio::time::sleep_until(next) => {}
            }
            if Instant::now() >= deadline {
                return self.end(id).await;
            }
            if let Ok(Some(answer)) = self.answer(id).await {
                return Some(answer);
            }
        }
    }

    /// Removes the record of a hold that ended here without an answer, in the background
    /// (best effort: it expires at its timeout anyway).
    fn finish(&self, id: &str) {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(record_key(id))
            .ignore()
            .zrem(PENDING_SET, id)
            .ignore();
        let (state, id) = (self.state.clone(), id.to_owned());
        tokio::spawn(async move {
            if let Err(error) = state.pipeline::<()>(&pipe).await {
                tracing::warn!(%error, %id, "held request's shared record not removed; it expires");
            }
        });
    }

    /// Every replica's held requests, oldest first.
    async fn list(
        &self,
        _here: impl FnOnce() -> Vec<PendingInfo> + Send,
    ) -> Result<Vec<PendingInfo>, StateError> {
        let mut invocation = scripts::LIST.prepare_invoke();
        invocation
            .key(PENDING_SET)
            .arg(format!("{KEY_PREFIX}approval:"));
        let records: Vec<String> = self.state.script(&invocation).await?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut held: Vec<Stored> = records
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect();
        held.sort_by_key(|s| s.since_ms);
        Ok(held
            .into_iter()
            .map(|s| {
                let mut info = s.info;
                info.waiting_secs = now_ms.saturating_sub(s.since_ms) / 1000;
                info
            })
            .collect())
    }

    /// Whether an approval's window covers `shape` now.
    async fn window_covers(&self, shape: &str) -> Result<bool, StateError> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(window_key(shape));
        let found: i64 = self.state.query(&cmd).await?;
        Ok(found > 0)
    }

    /// Lets follow-ups of `shape` pass for `window`, on every replica.
    async fn open_window(&self, shape: String, window: Duration) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(window_key(&shape))
            .arg(1)
            .arg("PX")
            .arg(millis(window));
        if let Err(error) = self.state.query::<()>(&cmd).await {
            tracing::warn!(%error, "approval window could not be shared");
        }
    }
}

impl RedisApprovals {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// Ends a hold at its timeout: the record removed, or the answer that claimed it.
    async fn end(&self, id: &str) -> Option<Resolution> {
        let mut invocation = scripts::END.prepare_invoke();
        invocation
            .key(record_key(id))
            .key(PENDING_SET)
            .key(answer_key(id))
            .arg(id);
        match self.state.script::<Option<String>>(&invocation).await {
            Ok(kept) => kept
                .and_then(|k| serde_json::from_str::<Announcement>(&k).ok())
                .map(Announcement::resolution),
            Err(error) => {
                tracing::warn!(%error, %id, "held request's shared record not removed; it expires");
                None
            }
        }
    }

    /// The kept answer to `id`, for a hold whose announcement may have been missed.
    async fn answer(&self, id: &str) -> Result<Option<Resolution>, StateError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(answer_key(id));
        let kept: Option<String> = self.state.query(&cmd).await?;
        Ok(kept
            .and_then(|k| serde_json::from_str::<Announcement>(&k).ok())
            .map(Announcement::resolution))
    }
}

/// Hands every announced answer to the request held here, until `shutdown`; subscribes
/// again with back-off when the subscription breaks, and then looks up the kept answers of
/// the requests held here (announcements made meanwhile were missed).
pub async fn listen(approvals: Arc<Approvals>, shutdown: CancellationToken) {
    let Some(store) = approvals.shared_store().cloned() else {
        return;
    };
    resubscribing(&shutdown, || subscribed(&approvals, &store, &shutdown)).await;
}

/// One subscription's life.
async fn subscribed(
    approvals: &Approvals,
    store: &RedisApprovals,
    shutdown: &CancellationToken,
) -> Subscription {
    let mut pubsub = match store.state.pubsub().await {
        Ok(p) => p,
        Err(error) => {
            tracing::debug!(%error, "approval answers: cannot subscribe yet");
            return Subscription::Lost { subscribed: false };
        }
    };
    if let Err(error) = pubsub.subscribe(CHANNEL).await {
        tracing::warn!(error = %error, "approval answers: subscription refused");
        return Subscription::Lost { subscribed: false };
    }
    for id in approvals.held_ids() {
        if let Ok(Some(resolution)) = store.answer(&id).await {
            approvals.deliver(&id, resolution);
        }
    }
    let mut messages = pubsub.on_message();
    loop {
        let message = tokio::select! {
            m = messages.next() => m,
            () = shutdown.cancelled() => return Subscription::ShutDown,
        };
        let Some(message) = message else {
            tracing::warn!("approval answers: subscription lost; subscribing again");
            return Subscription::Lost { subscribed: true };
        };
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        if let Ok(announced) = serde_json::from_str::<Announcement>(&payload) {
            let id = announced.id.clone();
            approvals.deliver(&id, announced.resolution());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_their_announcement() {
        let approved = Resolution::Approved {
            by: Some("alice".into()),
            window: Some(Duration::from_secs(60)),
        };
        let json = serde_json::to_string(&Announcement::of("7", &approved)).unwrap();
        let back: Announcement = serde_json::from_str(&json).unwrap();
        assert!(matches!(
            back.resolution(),
            Resolution::Approved { by: Some(b), window: Some(w) } if b == "alice" && w == Duration::from_secs(60)
        ));
        assert_ne!(window_key("a|r|GET|/x"), window_key("a|r|GET|/y"));
    }
}
