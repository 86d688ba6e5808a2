//! Signed checkpoints: every N entries or T seconds (and at rotation and shutdown) the writer
//! appends a line, on the chain like an entry, that signs with Ed25519 the replica id, the
//! number of entries so far, the chain head and the time. Anyone holding the public key can
//! then tell a log keyward wrote from one rewritten after it, and count what was cut.
//!
//! # The checkpoint line
//! ```json
//! {"hash":"…","key":"1f0c…","kind":"checkpoint","prev_hash":"<head>","replica":"kw-0","seq":1000,"signature":"<base64>","time":"2026-11-25T19:15:00.123Z"}
//! ```
//! `prev_hash` is the hash of the entry before it (the head it signs) and `hash` chains it
//! like an entry (see [`super::chain`]), so a deleted checkpoint breaks the chain. The
//! signature is over `keyward-audit-checkpoint-v1\n` followed by the canonical bytes of the
//! line without `hash` and `signature`; `key` is [`key::key_id`] of the public key.

pub mod key;
pub mod schedule;
pub mod verify;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde_json::{Map, Value};

use super::chain;

/// The `kind` of a checkpoint line (entries have no `kind`).
pub const KIND: &str = "checkpoint";
/// Put before the canonical bytes that are signed, so a checkpoint signature can never be
/// taken for a signature over anything else.
const DOMAIN: &[u8] = b"keyward-audit-checkpoint-v1\n";

/// The signing key with its id; `Debug` shows the id only.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `key`.
    pub fn new(key: SigningKey) -> Self {
        let key_id = key::key_id(&key.verifying_key());
        Signer { key, key_id }
    }

    /// The id of the key, as written in each checkpoint.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The sealed checkpoint line (no trailing newline) and its hash.
    pub fn line(
        &self,
        replica: &str,
        seq: u64,
        head: &str,
        time: String,
    ) -> Result<(Vec<u8>, String), chain::ChainError> {
        let mut map = Map::new();
        map.insert("kind".into(), Value::from(KIND));
        map.insert("key".into(), Value::from(self.key_id.as_str()));
        map.insert("prev_hash".into(), Value::from(head));
        map.insert("replica".into(), Value::from(replica));
        map.insert("seq".into(), Value::from(seq));
        map.insert("time".into(), Value::from(time));
        let signature = self.key.sign(&signed_message(&map)?);
        let encoded = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
        map.insert("signature".into(), Value::from(encoded));
        let canonical = chain::canonical_bytes(Value::Object(map.clone()))?;
        let hash = chain::chain_hash(head, &canonical);
        map.insert("hash".into(), Value::from(hash.as_str()));
        let line = serde_json::to_vec(&Value::Object(map)).map_err(|source| {
            chain::ChainError::Serialize {
                request_id: String::from("(checkpoint)"),
                source,
            }
        })?;
        Ok((line, hash))
    }
}

/// What a checkpoint line says, once its signature holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The replica that wrote it.
    pub replica: String,
    /// The number of entries in the replica's chain up to the head.
    pub seq: u64,
    /// When it was written.
    pub time: String,
}

/// Why a checkpoint line does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// A member is missing or of the wrong type.
    #[error("checkpoint has no valid \"{0}\" member")]
    Malformed(&'static str),
    /// The key id names another key.
    #[error("checkpoint signed by another key ({found}; the given public key is {expected})")]
    OtherKey {
        /// The id in the line.
        found: String,
        /// The id of the given key.
        expected: String,
    },
    /// The signature does not hold for the line's content.
    #[error("checkpoint signature does not verify: the checkpoint was forged or edited")]
    BadSignature,
}

/// Whether a parsed line is a checkpoint.
pub fn is_checkpoint(line: &Value) -> bool {
    line.get("kind").and_then(Value::as_str) == Some(KIND)
}

/// Checks a checkpoint line's key id and signature against `key`.
pub fn check(line: &Value, key: &VerifyingKey) -> Result<Checkpoint, CheckpointError> {
    let Some(map) = line.as_object() else {
        return Err(CheckpointError::Malformed("kind"));
    };
    let text = |name: &'static str| {
        map.get(name)
            .and_then(Value::as_str)
            .ok_or(CheckpointError::Malformed(name))
    };
    let found = text("key")?;
    let expected = key::key_id(key);
    if found != expected {
        return Err(CheckpointError::OtherKey {
            found: found.to_owned(),
            expected,
        });
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(text("signature")?)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or(CheckpointError::Malformed("signature"))?;
    let seq = map
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(CheckpointError::Malformed("seq"))?;
    let checkpoint = Checkpoint {
        replica: text("replica")?.to_owned(),
        seq,
        time: text("time")?.to_owned(),
    };
    let mut signed = map.clone();
    signed.remove("hash");
    signed.remove("signature");
    let message = signed_message(&signed).map_err(|_| CheckpointError::BadSignature)?;
    key.verify(&message, &signature)
        .map_err(|_| CheckpointError::BadSignature)?;
    Ok(checkpoint)
}

/// [`DOMAIN`] followed by the canonical bytes of `map` (which holds no `signature`).
fn signed_message(map: &Map<String, Value>) -> Result<Vec<u8>, chain::ChainError> {
    let mut message = DOMAIN.to_vec();
    message.extend(chain::canonical_bytes(Value::Object(map.clone()))?);
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(seed: u8) -> Signer {
        Signer::new(SigningKey::from_bytes(&[seed; 32]))
    }

    fn parsed(line: &[u8]) -> Value {
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn a_checkpoint_verifies_and_chains_like_an_entry() {
        let s = signer(1);
        let head = "ab".repeat(32);
        let (line, hash) = s.line("kw-0", 7, &head, "t".into()).unwrap();
        let v = parsed(&line);
        assert!(is_checkpoint(&v));
        assert_eq!(chain::expected_hash(&v).unwrap(), hash);
        let key = s.key.verifying_key();
        let c = check(&v, &key).unwrap();
        assert_eq!((c.replica.as_str(), c.seq), ("kw-0", 7));
    }

    #[test]
    fn an_edited_checkpoint_or_another_key_is_refused() {
        let s = signer(1);
        let (line, _) = s.line("kw-0", 7, &"ab".repeat(32), "t".into()).unwrap();
        let key = s.key.verifying_key();
        let mut edited = parsed(&line);
        edited["seq"] = Value::from(9);
        assert_eq!(check(&edited, &key), Err(CheckpointError::BadSignature));
        let mut moved = parsed(&line);
        moved["prev_hash"] = Value::from("cd".repeat(32));
        assert_eq!(check(&moved, &key), Err(CheckpointError::BadSignature));
        let other = signer(2).key.verifying_key();
        assert!(matches!(
            check(&parsed(&line), &other),
            Err(CheckpointError::OtherKey { .. })
        ));
        // Another key claiming this key's id still fails on the signature.
        let (forged, _) = signer(2)
            .line("kw-0", 7, &"ab".repeat(32), "t".into())
            .unwrap();
        let mut forged = parsed(&forged);
        forged["key"] = Value::from(s.key_id());
        assert_eq!(check(&forged, &key), Err(CheckpointError::BadSignature));
    }
}
