//! Signing: a rule's `sign:` header computed with its secret over the request as it goes
//! upstream (after injection), the timestamp header beside it when asked for. The secret's
//! value never enters the request; the agent cannot set either header (they are replaced).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderValue;
use http::request::Parts;
use sha2::{Digest, Sha256, Sha512};

use super::guard::Exfiltration;
use super::inject::InjectError;
use super::store::CredentialStore;
use crate::policy::signing::{Algorithm, Encoding, Piece, Signing};
use crate::secret::SecretValue;

/// What one request is signed over besides its head.
pub struct Signed<'a> {
    /// The host the request goes to.
    pub host: &'a str,
    /// The whole body as sent.
    pub body: &'a [u8],
    /// The request's normalised path segments (the secret's `paths:` are matched on them).
    pub segments: &'a [String],
}

/// Sets the signature (and timestamp) headers of `signing` on `parts`; the secret's value,
/// for the response to be scrubbed of it.
pub async fn sign(
    store: &CredentialStore,
    signing: &Signing,
    parts: &mut Parts,
    signed: Signed<'_>,
) -> Result<SecretValue, InjectError> {
    let name = &signing.secret;
    let cred = store
        .get(name)
        .ok_or_else(|| InjectError::Unknown(name.clone()))?;
    if let Err(why) = cred.scope.check(&parts.method, signed.segments) {
        return Err(InjectError::OutOfScope(Exfiltration::OutOfScope {
            secret: name.clone(),
            why,
        }));
    }
    let key = cred
        .source
        .resolve()
        .await
        .map_err(|source| InjectError::Source {
            name: name.clone(),
            source,
        })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let context = Context {
        method: parts.method.as_str(),
        path: &path,
        host: signed.host,
        body: signed.body,
        seconds: now.as_secs().to_string(),
        millis: now.as_millis().to_string(),
    };
    let message = context.render(&signing.message, None);
    let signature = mac(signing.algorithm, key.expose(), &message);
    let encoded = match signing.encoding {
        Encoding::Hex => hex(&signature),
        Encoding::Base64 => STANDARD.encode(&signature),
    };
    let value = context.render(&signing.value, Some(&encoded));
    let header = |bytes: Vec<u8>, name: &http::HeaderName| {
        HeaderValue::from_bytes(&bytes).map_err(|_| InjectError::Header {
            header: name.to_string(),
        })
    };
    let value = header(value, &signing.header)?;
    parts.headers.insert(signing.header.clone(), value);
    if let Some(stamp) = &signing.timestamp_header {
        let value = header(context.seconds.clone().into_bytes(), stamp)?;
        parts.headers.insert(stamp.clone(), value);
    }
    Ok(key)
}

/// The request parts a template can name.
struct Context<'a> {
    method: &'a str,
    path: &'a str,
    host: &'a str,
    body: &'a [u8],
    seconds: String,
    millis: String,
}

impl Context<'_> {
    fn render(&self, pieces: &[Piece], signature: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                Piece::Method => out.extend_from_slice(self.method.as_bytes()),
                Piece::Path => out.extend_from_slice(self.path.as_bytes()),
                Piece::Host => out.extend_from_slice(self.host.as_bytes()),
                Piece::Timestamp => out.extend_from_slice(self.seconds.as_bytes()),
                Piece::TimestampMs => out.extend_from_slice(self.millis.as_bytes()),
                Piece::Body => out.extend_from_slice(self.body),
                Piece::BodySha256 => {
                    out.extend_from_slice(hex(&Sha256::digest(self.body)).as_bytes())
                }
                Piece::Signature => out.extend_from_slice(signature.unwrap_or("").as_bytes()),
            }
        }
        out
    }
}

/// The HMAC of `message` under `key`.
fn mac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    match algorithm {
        Algorithm::HmacSha256 => match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
        Algorithm::HmacSha512 => match Hmac::<Sha512>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let data = b"what do ya want for nothing?";
        assert_eq!(
            hex(&mac(Algorithm::HmacSha256, b"Jefe", data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&mac(Algorithm::HmacSha512, b"Jefe", data)),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn templates_render_the_request_parts() {
        let c = Context {
            method: "POST",
            path: "/v1/charges?x=1",
            host: "api.pay.example",
            body: b"{}",
            seconds: "1700000000".into(),
            millis: "1700000000123".into(),
        };
        let pieces = crate::policy::signing::parse_pieces(
            "{method} {path} {host} {timestamp} {timestamp_ms} {body} {body_sha256}",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(c.render(&pieces, None)).unwrap(),
            "POST /v1/charges?x=1 api.pay.example 1700000000 1700000000123 {} 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
