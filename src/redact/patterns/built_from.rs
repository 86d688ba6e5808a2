//! What a scrubber was built from, kept as digests only: the fingerprint of its
//! `(secret, placeholder)` pairs (a refresh that finds the same pairs keeps the scrubber) and
//! the digest of each secret (whether it covers a value just injected is one lookup).

use sha2::{Digest, Sha256};

/// Digests of a scrubber's inputs; no secret is kept here.
#[derive(Debug, Default)]
pub(super) struct BuiltFrom {
    /// SHA-256 over the pairs, in order, each part length-prefixed.
    fingerprint: [u8; 32],
    /// SHA-256 of each non-empty secret, sorted.
    secret_digests: Vec<[u8; 32]>,
}

impl BuiltFrom {
    pub(super) fn new(pairs: &[(&[u8], &str)]) -> Self {
        let mut secret_digests: Vec<[u8; 32]> = pairs
            .iter()
            .filter(|(s, _)| !s.is_empty())
            .map(|(s, _)| Sha256::digest(s).into())
            .collect();
        secret_digests.sort_unstable();
        Self {
            fingerprint: fingerprint(pairs),
            secret_digests,
        }
    }

    /// Whether `pairs` are exactly the pairs, in this order.
    pub(super) fn is(&self, pairs: &[(&[u8], &str)]) -> bool {
        fingerprint(pairs) == self.fingerprint
    }

    /// Whether `secret` (non-empty) is one of the secrets.
    pub(super) fn has_secret(&self, secret: &[u8]) -> bool {
        if secret.is_empty() {
            return false;
        }
        let digest: [u8; 32] = Sha256::digest(secret).into();
        self.secret_digests.binary_search(&digest).is_ok()
    }
}

/// SHA-256 over the pairs, each part length-prefixed.
fn fingerprint(pairs: &[(&[u8], &str)]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for (secret, placeholder) in pairs {
        for part in [*secret, placeholder.as_bytes()] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
    }
    hash.finalize().into()
}
