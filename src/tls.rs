//! The one crypto provider (ring) used for every rustls configuration keyward builds.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The crypto provider for agent-facing and upstream TLS.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
