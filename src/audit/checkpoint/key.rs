//! The checkpoint keys: an Ed25519 signing key read from a PKCS#8 PEM or a 32-byte seed
//! (64 hex digits or base64), a public key from an SPKI PEM or 32 bytes the same ways, the
//! key id written into each checkpoint, and a fresh key pair for `keyward audit keygen`.

use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why a key could not be read. Never contains the key's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The signing key is neither a PKCS#8 PEM nor a 32-byte seed.
    #[error(
        "audit signing key is not an Ed25519 key: expected a PKCS#8 PEM (\"BEGIN PRIVATE KEY\") \
         or a 32-byte seed as 64 hex digits or base64"
    )]
    BadSigningKey,
    /// The public key is neither an SPKI PEM nor 32 bytes.
    #[error(
        "not an Ed25519 public key: expected a PEM (\"BEGIN PUBLIC KEY\") or 32 bytes as 64 hex \
         digits or base64"
    )]
    BadPublicKey,
    /// A key pair could not be encoded (no randomness, or the encoder failed).
    #[error("cannot make a key pair: {0}")]
    Generate(String),
}

/// Reads a signing key from the bytes of its secret source.
pub fn signing_key(bytes: &[u8]) -> Result<SigningKey, KeyError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| KeyError::BadSigningKey)?
        .trim();
    if text.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(text).map_err(|_| KeyError::BadSigningKey);
    }
    let seed = key_bytes(text).ok_or(KeyError::BadSigningKey)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key from the text of a file.
pub fn verifying_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text).map_err(|_| KeyError::BadPublicKey);
    }
    let bytes = key_bytes(text).ok_or(KeyError::BadPublicKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPublicKey)
}

/// The id written into each checkpoint: the first 16 hex digits of the SHA-256 of the
/// public key's 32 bytes. It names the key; trust comes from the signature.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A fresh key pair as PEM: the private key (PKCS#8) and the public key (SPKI).
pub fn generate() -> Result<(Zeroizing<String>, String), KeyError> {
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok((Zeroizing::new(private.to_string()), public))
}

/// 32 bytes from 64 hex digits or from base64.
fn key_bytes(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        for (i, pair) in text.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).ok()?;
            *out.get_mut(i)? = u8::from_str_radix(hex, 16).ok()?;
        }
        return Some(out);
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
    );
    if decoded.len() != 32 {
        return None;
    }
    out.copy_from_slice(&decoded);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pair_reads_back_and_seeds_read_as_hex_or_base64() {
        let (private, public) = generate().unwrap();
        let key = signing_key(private.as_bytes()).unwrap();
        assert_eq!(verifying_key(&public).unwrap(), key.verifying_key());
        let seed = key.to_bytes();
        let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(signing_key(hex.as_bytes()).unwrap().to_bytes(), seed);
        let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
        assert_eq!(
            signing_key(format!("{b64}\n").as_bytes())
                .unwrap()
                .to_bytes(),
            seed
        );
        assert_eq!(key_id(&key.verifying_key()).len(), 16);
    }

    #[test]
    fn other_text_is_refused_without_showing_it() {
        let err = signing_key(b"not-a-key-but-a-secret-value").unwrap_err();
        assert!(!err.to_string().contains("secret-value"));
        assert_eq!(verifying_key("abcd"), Err(KeyError::BadPublicKey));
    }
}
