//! The state replicas share (`state: { redis: … }` in `keyward.yaml`): one Redis holds the
//! rate-limit counters, token budgets, held requests, approval windows and paused agents of
//! every replica.
//! This file holds the connection: the URL and its password source, a connection manager
//! that reconnects with bounded back-off, every call bounded in time, and the health that
//! `/readyz` reports. Without `state:` nothing here runs and the in-memory stores serve.

pub mod approvals;
pub mod counters;
pub mod pauses;
mod scripts;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo, RedisResult};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::credentials::SourceError;
use crate::credentials::source::parse_source;

/// Every key keyward writes starts with this, so a Redis may be shared with other users.
pub const KEY_PREFIX: &str = "keyward:";
/// Longest a call may take before the request it serves fails closed.
const CALL_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long Redis may take to answer one command on a live connection.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnection attempts per call before it fails (each waits longer, up to the cap).
const RECONNECT_RETRIES: usize = 2;
/// First and longest wait between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often the health task pings Redis (and so reconnects when nothing else calls).
const HEALTH_INTERVAL: Duration = Duration::from_millis(500);

/// `state:` in `keyward.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS, verified against
    /// the system's roots).
    pub redis: RedisUrl,
    /// Where the password comes from (`env:NAME`, `file:PATH`), like the admin token; it
    /// replaces a password in the URL.
    pub password: Option<String>,
    /// PEM roots that verify a `rediss://` server instead of the system's (a private CA).
    pub ca: Option<PathBuf>,
}

/// A Redis URL; its `Debug` hides a password written into it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with any password replaced by `[redacted]`, for messages.
    pub fn shown(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "[unparsable URL]".to_owned();
        };
        match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                format!("{scheme}://{user}:[redacted]@{host}")
            }
            None => self.0.clone(),
        }
    }

    /// Whether the scheme is one keyward connects with.
    pub fn scheme_ok(&self) -> bool {
        self.0.starts_with("redis://") || self.0.starts_with("rediss://")
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// Why the shared state cannot be used. Never contains a password: the URL is shown with
/// its password redacted, and the client's errors carry the server's reply or the I/O
/// error, not the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state.redis {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("state.ca {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error("password of state.redis: {0}")]
    Password(String),
    #[error("shared state (Redis) did not answer within {0:?}")]
    Timeout(Duration),
    #[error("shared state (Redis) cannot be used: {0}")]
    Redis(String),
}

impl From<SourceError> for StateError {
    fn from(e: SourceError) -> Self {
        StateError::Password(e.to_string())
    }
}

/// A handle on the shared Redis: cheap to clone, every call bounded.
#[derive(Clone)]
pub struct SharedState {
    inner: Arc<Inner>,
}

struct Inner {
    /// For the pub/sub connections (the manager multiplexes commands only).
    client: redis::Client,
    manager: ConnectionManager,
    /// Whether the last call (or ping) succeeded: `/readyz`.
    healthy: AtomicBool,
}

impl SharedState {
    /// Resolves the password and prepares the connection; connects lazily, so keyward
    /// starts (not ready) while Redis is still down.
    pub async fn open(config: &StateConfig) -> Result<Self, StateError> {
        // redis builds its rustls configuration from the process's default provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bad = |reason: String| StateError::Url {
            url: config.redis.shown(),
            reason,
        };
        if !config.redis.scheme_ok() {
            return Err(bad("expected redis:// or rediss://".into()));
        }
        let mut info = config
            .redis
            .0
            .as_str()
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?;
        if let Some(spec) = &config.password {
            let secret = parse_source(spec)?.resolve().await?;
            let password = std::str::from_utf8(secret.expose().trim_ascii())
                .map_err(|_| StateError::Password("not UTF-8".into()))?
                .to_owned();
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = match &config.ca {
            None => redis::Client::open(info),
            Some(path) => {
                let ca_error = |reason: String| StateError::Ca {
                    path: path.clone(),
                    reason,
                };
                if !config.redis.0.starts_with("rediss://") {
                    return Err(ca_error(
                        "only a rediss:// URL is verified with a CA".into(),
                    ));
                }
                let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
                let roots = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(info, roots)
            }
        }
        .map_err(|e| bad(e.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(BACKOFF_MIN)
            .set_max_delay(BACKOFF_MAX);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| StateError::Redis(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                manager,
                healthy: AtomicBool::new(false),
            }),
        })
    }

    /// Whether Redis answered the last call.
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// Pings Redis until `shutdown`, keeping the health current and the connection up.
    pub async fn watch_health(self, shutdown: CancellationToken) {
        loop {
            let ping = redis::cmd("PING");
            let _ = self.query::<String>(&ping).await;
            tokio::select! {
                () = tokio::time::sleep(HEALTH_INTERVAL) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Runs `cmd`, bounded in time.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StateError> {
        let mut conn = self.inner.manager.clone();
        self.bounded(async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs an atomic pipeline, bounded in time.
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StateError> {
        let mut conn = self.inner.manager.clone();
        self.bounded(async move { pipe.query_async(&mut conn).await })
            .await
    }

    /// Runs a Lua script (by SHA, loaded when Redis does not know it), bounded in time.
    pub(crate) async fn script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StateError> {
        let mut conn = self.inner.manager.clone();
        self.bounded(async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// A pub/sub connection, bounded in time.
    pub(crate) async fn pubsub(&self) -> Result<redis::aio::PubSub, StateError> {
        match tokio::time::timeout(CALL_TIMEOUT, self.inner.client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(e)) => Err(StateError::Redis(e.to_string())),
            Err(_) => Err(StateError::Timeout(CALL_TIMEOUT)),
        }
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StateError> {
        let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StateError::Redis(e.to_string())),
            Err(_) => Err(StateError::Timeout(CALL_TIMEOUT)),
        };
        let was = self.inner.healthy.swap(result.is_ok(), Ordering::Relaxed);
        match (&result, was) {
            (Err(e), true) => tracing::warn!(error = %e, "shared state (Redis) became unavailable"),
            (Ok(_), false) => tracing::info!("shared state (Redis) is available"),
            _ => {}
        }
        result
    }
}

/// How one subscription to a replicas' channel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subscription {
    /// Shutdown: do not subscribe again.
    ShutDown,
    /// Lost, or never made; `subscribed` when it had been made (the back-off starts over).
    Lost { subscribed: bool },
}

/// First wait before subscribing again.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(5);

/// Runs `subscription` until shutdown, again after each loss: at once the first time, then
/// after a wait that doubles from 100 ms to 5 s while no subscription is made, and starts
/// over from 100 ms once one was.
pub(crate) async fn resubscribing<F, Fut>(shutdown: &CancellationToken, mut subscription: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Subscription>,
{
    let mut wait = RESUBSCRIBE_MIN;
    loop {
        match subscription().await {
            Subscription::ShutDown => return,
            Subscription::Lost { subscribed: true } => wait = RESUBSCRIBE_MIN,
            Subscription::Lost { subscribed: false } => {}
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        wait = (wait * 2).min(RESUBSCRIBE_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn resubscribing_backs_off_and_starts_over_once_subscribed() {
        use Subscription::{Lost, ShutDown};
        let outcomes = [
            Lost { subscribed: false },
            Lost { subscribed: false },
            Lost { subscribed: false },
            Lost { subscribed: true },
            Lost { subscribed: false },
            ShutDown,
        ];
        let shutdown = CancellationToken::new();
        let start = tokio::time::Instant::now();
        let attempts = std::sync::Mutex::new(Vec::new());
        resubscribing(&shutdown, || {
            let mut seen = attempts.lock().unwrap();
            let outcome = outcomes[seen.len()];
            seen.push(start.elapsed().as_millis());
            async move { outcome }
        })
        .await;
        // 100, 200, 400 ms while nothing subscribes; from 100 ms again after a subscription.
        assert_eq!(*attempts.lock().unwrap(), [0, 100, 300, 700, 800, 1000]);
    }

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        let url = RedisUrl::new("rediss://keyward:hunter2-very-secret@redis.internal:6380/0");
        assert_eq!(
            url.shown(),
            "rediss://keyward:[redacted]@redis.internal:6380/0"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(RedisUrl::new("redis://h:1").shown(), "redis://h:1");
        assert!(!RedisUrl::new("http://h:1").scheme_ok());
    }

    #[tokio::test]
    async fn a_bad_url_is_refused_without_its_password() {
        let config = StateConfig {
            redis: RedisUrl::new("memcached://u:s3cr3t-pass@h"),
            password: None,
            ca: None,
        };
        let Err(e) = SharedState::open(&config).await else {
            panic!("accepted");
        };
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(e.to_string().contains("redis://"), "{e}");
        for url in [
            "redis://u:s3cr3t-pass@",
            "redis://u:s3cr3t-pass@h:notaport/x",
        ] {
            let config = StateConfig {
                redis: RedisUrl::new(url),
                password: None,
                ca: None,
            };
            if let Err(e) = SharedState::open(&config).await {
                assert!(!e.to_string().contains("s3cr3t"), "{e}");
            }
        }
    }
}
