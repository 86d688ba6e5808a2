//! A bounded cache of per-host server configurations that mints each host once, even when
//! many handshakes for a new host arrive together, and re-mints entries before they expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quick_cache::sync::Cache;
use rustls::ServerConfig;
use tokio::time::Instant;

use super::{CaError, LeafIssuer};
use crate::target::Host;

/// Entries older than this are minted again (leaves are valid for a week).
const REFRESH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A minted configuration and when it was minted (tokio's clock, so a paused test clock
/// drives the refresh).
#[derive(Clone)]
struct Entry {
    config: Arc<ServerConfig>,
    minted: Instant,
}

/// Per-host server configurations in front of a [`LeafIssuer`].
pub struct ServerConfigCache {
    issuer: LeafIssuer,
    cache: Cache<Host, Entry>,
    /// Leaves minted since start (a cache miss that did the work).
    mints: AtomicU64,
}

impl ServerConfigCache {
    /// A cache holding at most `capacity` hosts.
    pub fn new(issuer: LeafIssuer, capacity: usize) -> Self {
        Self {
            issuer,
            cache: Cache::new(capacity.max(1)),
            mints: AtomicU64::new(0),
        }
    }

    /// The server configuration for `host`, minted on first use.
    pub async fn get(&self, host: &Host) -> Result<Arc<ServerConfig>, CaError> {
        loop {
            match self.cache.get_value_or_guard_async(host).await {
                Ok(entry) if entry.minted.elapsed() < REFRESH_AFTER => return Ok(entry.config),
                Ok(_) => {
                    self.cache.remove(host);
                }
                Err(guard) => {
                    let config = self.issuer.server_config(host)?;
                    self.mints.fetch_add(1, Ordering::Relaxed);
                    let _ = guard.insert(Entry {
                        config: config.clone(),
                        minted: Instant::now(),
                    });
                    return Ok(config);
                }
            }
        }
    }

    /// How many leaves were minted since start.
    pub fn mints(&self) -> u64 {
        self.mints.load(Ordering::Relaxed)
    }

    /// How many hosts are cached now.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no host is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The issuer behind the cache.
    pub fn issuer(&self) -> &LeafIssuer {
        &self.issuer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CertificateAuthority;

    #[tokio::test(start_paused = true)]
    async fn a_host_is_minted_once_then_again_after_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::create(dir.path(), false).unwrap();
        let cache = ServerConfigCache::new(LeafIssuer::new(Arc::new(ca)).unwrap(), 8);
        let host = Host::parse("api.example.com").unwrap();
        let first = cache.get(&host).await.unwrap();
        tokio::time::advance(REFRESH_AFTER - Duration::from_secs(1)).await;
        assert!(Arc::ptr_eq(&first, &cache.get(&host).await.unwrap()));
        assert_eq!(cache.mints(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!Arc::ptr_eq(&first, &cache.get(&host).await.unwrap()));
        assert_eq!(cache.mints(), 2);
    }
}
