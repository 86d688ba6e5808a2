//! Checks the agent's SigV4 signature with the placeholder key and signs the request again
//! with the real one: which form the request uses, the `Authorization` header form (signed
//! chunks included), and the parts every form shares (payload hash, signed header values).
//! The session token follows the real credentials: replaced, added or removed.

use http::HeaderValue;
use http::header::AUTHORIZATION;
use http::request::Parts;
use subtle::ConstantTimeEq;

use super::canonical::{self, ALGORITHM, Scope, Signed, query_pairs, sha256_hex};
use super::chunked::{ChunkChain, resign_chunks};
use super::presigned;
use super::{AwsKeys, AwsPlaceholders, SigV4Error};

/// The header carrying the payload hash (or its form).
const CONTENT_SHA256: &str = "x-amz-content-sha256";
/// The header carrying the session token.
const SECURITY_TOKEN: &str = "x-amz-security-token";
/// The signed-chunk upload form, whose chunks are signed again one by one.
const SIGNED_CHUNKS: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// Payload forms whose bytes are not part of the signature.
const UNSIGNED_FORMS: [&str; 2] = ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"];

/// The request body as read ahead.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    /// All of it.
    Complete(&'a [u8]),
    /// More than the read-ahead bound of this many bytes.
    Partial(usize),
}

/// The request to check and sign again.
pub struct AwsRequest<'a> {
    pub parts: &'a mut Parts,
    pub body: Body<'a>,
    /// `host[:port]` as the agent addressed it, for a signed `host` not in the headers (HTTP/2).
    pub authority: &'a str,
}

/// What [`resign`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Resigned {
    /// The request is not signed with the placeholder key id.
    NotOurs,
    /// Checked and signed again; `body` is the body to send instead (signed chunks).
    Signed { body: Option<Vec<u8>> },
}

/// Whether the request is signed with the placeholder key id; if so, checks the signature
/// with the placeholder secret and replaces it with one made with `real`.
pub fn resign(
    req: AwsRequest<'_>,
    placeholders: &AwsPlaceholders,
    real: &AwsKeys,
) -> Result<Resigned, SigV4Error> {
    let header = req
        .parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(auth) = header.filter(|a| a.starts_with("AWS4-")) {
        let parsed = parse_authorization(&auth)?;
        if parsed.key_id != placeholders.access_key_id {
            return Ok(Resigned::NotOurs);
        }
        let body = resign_header(req, parsed, placeholders, real)?;
        return Ok(Resigned::Signed { body });
    }
    let query = req.parts.uri.query().unwrap_or("");
    let pairs = query_pairs(query);
    let credential = pairs
        .iter()
        .find(|(k, _)| k == "X-Amz-Credential")
        .map(|(_, v)| decode(v));
    match credential {
        Some(c) if c.split('/').next() == Some(placeholders.access_key_id.as_str()) => {
            presigned::resign_query(req, pairs, placeholders, real)?;
            Ok(Resigned::Signed { body: None })
        }
        _ => Ok(Resigned::NotOurs),
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct Authorization {
    key_id: String,
    scope: Scope,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(auth: &str) -> Result<Authorization, SigV4Error> {
    let (algorithm, rest) = auth
        .split_once(' ')
        .ok_or(SigV4Error::Malformed("Authorization has no parameters"))?;
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Algorithm(algorithm.to_owned()));
    }
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for param in rest.split(',') {
        match param.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(SigV4Error::Malformed("unknown Authorization parameter")),
        }
    }
    let (key_id, scope) =
        parse_credential(credential.ok_or(SigV4Error::Malformed("no Credential"))?)?;
    Ok(Authorization {
        key_id,
        scope,
        signed_headers: signed_list(signed.ok_or(SigV4Error::Malformed("no SignedHeaders"))?),
        signature: signature
            .ok_or(SigV4Error::Malformed("no Signature"))?
            .to_owned(),
    })
}

/// `KEYID/date/region/service/aws4_request`.
pub(super) fn parse_credential(credential: &str) -> Result<(String, Scope), SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, "aws4_request"] => Ok((
            (*key).to_owned(),
            Scope {
                date: (*date).to_owned(),
                region: (*region).to_owned(),
                service: (*service).to_owned(),
            },
        )),
        _ => Err(SigV4Error::Malformed(
            "Credential is not KEY/date/region/service/aws4_request",
        )),
    }
}

pub(super) fn signed_list(text: &str) -> Vec<String> {
    text.split(';').map(str::to_ascii_lowercase).collect()
}

fn resign_header(
    req: AwsRequest<'_>,
    auth: Authorization,
    placeholders: &AwsPlaceholders,
    real: &AwsKeys,
) -> Result<Option<Vec<u8>>, SigV4Error> {
    let timestamp = header_text(req.parts, "x-amz-date")?;
    let payload = payload_hash(req.parts, req.body, false, &auth.scope)?;
    let pairs = query_pairs(req.parts.uri.query().unwrap_or(""));
    let method = req.parts.method.as_str().to_owned();
    let path = req.parts.uri.path().to_owned();
    let headers = signed_values(req.parts, &auth.signed_headers, req.authority)?;
    let agent = Signed {
        method: &method,
        path: &path,
        query: &pairs,
        headers: &headers,
        payload_hash: &payload,
        timestamp: &timestamp,
        scope: &auth.scope,
    };
    check(&agent, &auth.signature, placeholders)?;
    let mut names = auth.signed_headers;
    swap_token_header(req.parts, placeholders, real, &mut names)?;
    let headers = signed_values(req.parts, &names, req.authority)?;
    let ours = Signed {
        headers: &headers,
        ..agent
    };
    let sig = canonical::signature(&ours, real.secret_access_key.expose());
    let value = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={sig}",
        real.access_key_id(),
        auth.scope.render(),
        names.join(";")
    );
    let mut value =
        HeaderValue::from_str(&value).map_err(|_| SigV4Error::Header("authorization".into()))?;
    value.set_sensitive(true);
    req.parts.headers.insert(AUTHORIZATION, value);
    if payload != SIGNED_CHUNKS {
        return Ok(None);
    }
    let Body::Complete(body) = req.body else {
        return Err(SigV4Error::Malformed("signed chunks past the read-ahead"));
    };
    let chain = |secret: &[u8], previous: String| ChunkChain {
        signing_key: canonical::signing_key(secret, &auth.scope),
        timestamp: timestamp.clone(),
        scope: auth.scope.clone(),
        previous,
    };
    let mut agent = chain(placeholders.secret_access_key.as_bytes(), auth.signature);
    let mut ours = chain(real.secret_access_key.expose(), sig);
    resign_chunks(body, &mut agent, &mut ours).map(Some)
}

/// Compares the agent's signature with the one the placeholder secret gives, in constant time.
pub(super) fn check(
    s: &Signed<'_>,
    given: &str,
    placeholders: &AwsPlaceholders,
) -> Result<(), SigV4Error> {
    let expected = canonical::signature(s, placeholders.secret_access_key.as_bytes());
    if expected.as_bytes().ct_eq(given.as_bytes()).into() {
        Ok(())
    } else {
        Err(SigV4Error::BadSignature)
    }
}

/// The payload hash the signature covers, checked against the body when it is a hash.
pub(super) fn payload_hash(
    parts: &Parts,
    body: Body<'_>,
    presigned: bool,
    scope: &Scope,
) -> Result<String, SigV4Error> {
    let declared = parts
        .headers
        .get(CONTENT_SHA256)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| SigV4Error::Header(CONTENT_SHA256.into()))?;
    let declared = match declared {
        None if presigned && scope.service.starts_with("s3") => {
            return Ok("UNSIGNED-PAYLOAD".into());
        }
        None => None,
        Some(form) if UNSIGNED_FORMS.contains(&form.as_str()) => return Ok(form),
        Some(form) if form == SIGNED_CHUNKS && !presigned => match body {
            Body::Complete(_) => return Ok(form),
            Body::Partial(bound) => return Err(SigV4Error::BodyTooLarge(bound)),
        },
        Some(form) if form.starts_with("STREAMING-") => return Err(SigV4Error::PayloadForm(form)),
        Some(hash) => Some(hash),
    };
    let actual = match body {
        Body::Complete(b) => sha256_hex(b),
        Body::Partial(bound) => return Err(SigV4Error::BodyTooLarge(bound)),
    };
    match declared {
        Some(hash) if !hash.eq_ignore_ascii_case(&actual) => Err(SigV4Error::PayloadMismatch),
        Some(hash) => Ok(hash),
        None => Ok(actual),
    }
}

/// The values of the signed headers (several lines joined by `,`), in `names` order.
pub(super) fn signed_values(
    parts: &Parts,
    names: &[String],
    authority: &str,
) -> Result<Vec<(String, String)>, SigV4Error> {
    names
        .iter()
        .map(|name| {
            let values: Result<Vec<&str>, _> = parts
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| v.to_str())
                .collect();
            let values = values.map_err(|_| SigV4Error::Header(name.clone()))?;
            let value = match values.as_slice() {
                [] if name == "host" => authority.to_owned(),
                [] => return Err(SigV4Error::Header(name.clone())),
                many => many.iter().map(|v| v.trim()).collect::<Vec<_>>().join(","),
            };
            Ok((name.clone(), value))
        })
        .collect()
}

/// Puts the real session token in place of the placeholder (adding it when the agent sent
/// none, removing it when the real credentials have none), keeping `names` in step.
fn swap_token_header(
    parts: &mut Parts,
    placeholders: &AwsPlaceholders,
    real: &AwsKeys,
    names: &mut Vec<String>,
) -> Result<(), SigV4Error> {
    if let Some(sent) = parts.headers.get(SECURITY_TOKEN) {
        if sent.as_bytes() != placeholders.session_token.as_bytes() {
            return Err(SigV4Error::SessionToken);
        }
        parts.headers.remove(SECURITY_TOKEN);
    }
    names.retain(|n| n != SECURITY_TOKEN);
    if let Some(token) = &real.session_token {
        let mut value = HeaderValue::from_bytes(token.expose())
            .map_err(|_| SigV4Error::Header(SECURITY_TOKEN.into()))?;
        value.set_sensitive(true);
        parts.headers.insert(SECURITY_TOKEN, value);
        names.push(SECURITY_TOKEN.to_owned());
        names.sort();
    }
    Ok(())
}

fn header_text(parts: &Parts, name: &'static str) -> Result<String, SigV4Error> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| SigV4Error::Header(name.into()))
}

pub(super) fn decode(component: &str) -> String {
    percent_encoding::percent_decode_str(component)
        .decode_utf8_lossy()
        .into_owned()
}
