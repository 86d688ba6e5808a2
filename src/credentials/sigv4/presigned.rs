//! The presigned-URL form: `X-Amz-Credential`, `X-Amz-Signature` and the other `X-Amz-`
//! parameters in the query. The signature is checked with the placeholder secret, then the
//! key id, session token and signature parameters are replaced (the others keep their place).

use super::canonical::{self, ALGORITHM, Signed, uri_encode};
use super::resign::{
    AwsRequest, check, decode, parse_credential, payload_hash, signed_list, signed_values,
};
use super::{AwsKeys, AwsPlaceholders, SigV4Error};

/// Checks a presigned request's signature and signs it again with `real`.
pub(super) fn resign_query(
    req: AwsRequest<'_>,
    pairs: Vec<(String, String)>,
    placeholders: &AwsPlaceholders,
    real: &AwsKeys,
) -> Result<(), SigV4Error> {
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| decode(v))
            .ok_or(SigV4Error::Malformed(
                "presigned URL lacks an X-Amz- parameter",
            ))
    };
    let algorithm = param("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Algorithm(algorithm));
    }
    let (_, scope) = parse_credential(&param("X-Amz-Credential")?)?;
    let timestamp = param("X-Amz-Date")?;
    let names = signed_list(&param("X-Amz-SignedHeaders")?);
    let signature = param("X-Amz-Signature")?;
    let payload = payload_hash(req.parts, req.body, true, &scope)?;
    let unsigned: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .cloned()
        .collect();
    let method = req.parts.method.as_str().to_owned();
    let path = req.parts.uri.path().to_owned();
    let headers = signed_values(req.parts, &names, req.authority)?;
    let agent = Signed {
        method: &method,
        path: &path,
        query: &unsigned,
        headers: &headers,
        payload_hash: &payload,
        timestamp: &timestamp,
        scope: &scope,
    };
    check(&agent, &signature, placeholders)?;
    let mut ours: Vec<(String, String)> = Vec::with_capacity(unsigned.len() + 1);
    let mut token_seen = false;
    for (k, v) in unsigned.iter().cloned() {
        match k.as_str() {
            "X-Amz-Credential" => {
                let credential = format!("{}/{}", real.access_key_id(), scope.render());
                ours.push((k, uri_encode(&credential, true)));
            }
            "X-Amz-Security-Token" => {
                token_seen = true;
                if decode(&v) != placeholders.session_token {
                    return Err(SigV4Error::SessionToken);
                }
                if let Some(token) = &real.session_token {
                    ours.push((
                        k,
                        uri_encode(&String::from_utf8_lossy(token.expose()), true),
                    ));
                }
            }
            _ => ours.push((k, v)),
        }
    }
    if let (false, Some(token)) = (token_seen, &real.session_token) {
        let token = uri_encode(&String::from_utf8_lossy(token.expose()), true);
        ours.push(("X-Amz-Security-Token".to_owned(), token));
    }
    let signed = Signed {
        query: &ours,
        ..agent
    };
    let sig = canonical::signature(&signed, real.secret_access_key.expose());
    ours.push(("X-Amz-Signature".to_owned(), sig));
    let query: Vec<String> = ours.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut uri = http::uri::Builder::new();
    if let Some(s) = req.parts.uri.scheme() {
        uri = uri.scheme(s.clone());
    }
    if let Some(a) = req.parts.uri.authority() {
        uri = uri.authority(a.clone());
    }
    req.parts.uri = uri
        .path_and_query(format!("{path}?{}", query.join("&")))
        .build()
        .map_err(|_| SigV4Error::Malformed("the re-signed URL is invalid"))?;
    Ok(())
}
