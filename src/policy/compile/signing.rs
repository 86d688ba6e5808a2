//! Compiles `sign:`: the algorithm and encoding, the message and value templates, and the
//! headers, every error positioned (the secret is checked like an injected one, by the rule).

use super::Ctx;
use crate::policy::ids::SecretName;
use crate::policy::raw::{RawSign, SStr};
use crate::policy::signing::{Algorithm, Encoding, Piece, Signing, parse_pieces};

/// Headers the proxy owns: a signature may not go in them.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
];

/// `sign:` of a rule, whose secret the rule checked.
pub(super) fn signing(ctx: &mut Ctx<'_>, raw: &RawSign) -> Option<Signing> {
    let before = ctx.errors_len();
    let secret = &raw.secret;
    let algorithm = match raw.algorithm.as_ref().map(|a| a.value.as_str()) {
        None | Some("hmac-sha256") => Algorithm::HmacSha256,
        Some("hmac-sha512") => Algorithm::HmacSha512,
        Some(other) => {
            if let Some(at) = &raw.algorithm {
                let message =
                    format!("unknown algorithm `{other}` (use hmac-sha256 or hmac-sha512)");
                ctx.error_at(at, message);
            }
            Algorithm::HmacSha256
        }
    };
    let encoding = match raw.encoding.as_ref().map(|e| e.value.as_str()) {
        None | Some("hex") => Encoding::Hex,
        Some("base64") => Encoding::Base64,
        Some(other) => {
            if let Some(at) = &raw.encoding {
                ctx.error_at(
                    at,
                    format!("unknown encoding `{other}` (use hex or base64)"),
                );
            }
            Encoding::Hex
        }
    };
    let message = pieces(ctx, &raw.message, false);
    let value = match &raw.value {
        Some(v) => pieces(ctx, v, true),
        None => Some(vec![Piece::Signature]),
    };
    if let Some(value) = &value
        && !value.contains(&Piece::Signature)
        && let Some(at) = &raw.value
    {
        ctx.error_at(at, "`value:` must contain `{signature}`");
    }
    let timestamp_header = raw.timestamp_header.as_ref().map(|h| header_name(ctx, h));
    let header = header_name(ctx, &raw.header);
    if ctx.errors_len() != before {
        return None;
    }
    Some(Signing {
        secret: SecretName::new(secret.value.clone()),
        algorithm,
        encoding,
        message: message?,
        header: header?,
        value: value?,
        timestamp_header: timestamp_header.flatten(),
    })
}

/// A template's pieces; `{signature}` only where `signature` is true.
fn pieces(ctx: &mut Ctx<'_>, raw: &SStr, signature: bool) -> Option<Vec<Piece>> {
    let parsed = parse_pieces(&raw.value)
        .map_err(|e| ctx.error_at(raw, e))
        .ok()?;
    if !signature && parsed.contains(&Piece::Signature) {
        ctx.error_at(
            raw,
            "`{signature}` belongs in `value:`, not in the signed message",
        );
        return None;
    }
    let text_ok = parsed.iter().all(|p| match p {
        Piece::Text(t) => !signature || http::HeaderValue::from_str(t).is_ok(),
        _ => true,
    });
    if !text_ok {
        ctx.error_at(raw, format!("invalid header value text in `{}`", raw.value));
        return None;
    }
    Some(parsed)
}

fn header_name(ctx: &mut Ctx<'_>, raw: &SStr) -> Option<http::HeaderName> {
    let lower = raw.value.to_ascii_lowercase();
    match http::HeaderName::from_bytes(lower.as_bytes()) {
        Ok(h) if !RESERVED.contains(&lower.as_str()) => Some(h),
        Ok(_) => {
            ctx.error_at(raw, format!("header `{}` is keyward's to set", raw.value));
            None
        }
        Err(_) => {
            ctx.error_at(raw, format!("invalid header name `{}`", raw.value));
            None
        }
    }
}
