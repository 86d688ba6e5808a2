//! SigV4 signatures checked against AWS's published test-suite vectors and against
//! signatures botocore made for the same requests, then a request re-signed end to end.

use super::canonical::{self, Scope, Signed, canonical_request, query_pairs, signature};
use super::*;
use crate::secret::SecretValue;

/// The test suite's key.
const SUITE_SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// The signature of a request with the given parts.
fn sign(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    payload: &str,
    timestamp: &str,
    service: &str,
) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query_pairs(query);
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let scope = Scope {
        date: timestamp[..8].to_owned(),
        region: "us-east-1".into(),
        service: service.into(),
    };
    let s = Signed {
        method,
        path,
        query: &pairs,
        headers: &headers,
        payload_hash: payload,
        timestamp,
        scope: &scope,
    };
    signature(&s, SUITE_SECRET)
}

#[test]
fn aws_test_suite_get_vanilla() {
    let headers = [
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];
    let sig = sign(
        "GET",
        "/",
        &headers,
        canonical::EMPTY_SHA256,
        "20150830T123600Z",
        "service",
    );
    assert_eq!(
        sig,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[test]
fn aws_test_suite_get_vanilla_query_order() {
    let headers = [
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];
    let sig = sign(
        "GET",
        "/?Param2=value2&Param1=value1",
        &headers,
        canonical::EMPTY_SHA256,
        "20150830T123600Z",
        "service",
    );
    assert_eq!(
        sig,
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    );
}

#[test]
fn aws_test_suite_canonical_request_of_get_vanilla() {
    let headers = vec![
        ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
        ("host".to_owned(), "example.amazonaws.com".to_owned()),
    ];
    let scope = Scope {
        date: "20150830".into(),
        region: "us-east-1".into(),
        service: "service".into(),
    };
    let s = Signed {
        method: "GET",
        path: "",
        query: &[],
        headers: &headers,
        payload_hash: canonical::EMPTY_SHA256,
        timestamp: "20150830T123600Z",
        scope: &scope,
    };
    let expected = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                    host;x-amz-date\n\
                    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(canonical_request(&s), expected);
}

/// botocore 1.43 `SigV4Auth` / `S3SigV4Auth` signatures (key as in the test suite).
#[test]
fn matches_botocore_for_paths_queries_and_services() {
    let ts = "20261203T110533Z";
    let plain = |host: &'static str| [("host", host), ("x-amz-date", ts)];
    let empty = canonical::EMPTY_SHA256;
    let cases = [
        (
            "GET",
            "/?Param2=value2&Param1=value1",
            plain("example.amazonaws.com").to_vec(),
            empty.to_owned(),
            "service",
            "2f322930c3bfa0529283847ac30fd572b2a55d2f50c8c944f4ee4576ef0a2bc1",
        ),
        (
            "GET",
            "/a/../b/%20c//d",
            plain("example.amazonaws.com").to_vec(),
            empty.to_owned(),
            "service",
            "07b6c9a1dffb0653f76cc74a0880103d77c98f10018eb5de73e473b9d85d326d",
        ),
        (
            "POST",
            "/",
            vec![
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("host", "sts.amazonaws.com"),
                ("x-amz-date", ts),
            ],
            sha256_hex(b"Action=GetCallerIdentity&Version=2011-06-15"),
            "sts",
            "160eec55205c2bbc782bd695434f35865890916292682ca51ba3005d0818df76",
        ),
        (
            "GET",
            "/a%20b/c?list-type=2&prefix=x%2Fy",
            vec![
                ("host", "bucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", empty),
                ("x-amz-date", ts),
            ],
            empty.to_owned(),
            "s3",
            "b2858c4e36712a65ffc5c5e7365c4409fed673542abc7c43883415918034d535",
        ),
    ];
    for (method, target, headers, payload, service, expected) in cases {
        let sig = sign(method, target, &headers, &payload, ts, service);
        assert_eq!(sig, expected, "{method} {target} ({service})");
    }
}

fn keys(json: &str) -> AwsKeys {
    AwsKeys::parse(&SecretValue::new(json)).unwrap()
}

#[test]
fn keys_parse_from_json_and_credentials_lines() {
    let k = keys(
        r#"{"Version":1,"AccessKeyId":"AKIAREAL","SecretAccessKey":"s3cr3t","SessionToken":"tok"}"#,
    );
    assert_eq!(k.access_key_id(), "AKIAREAL");
    assert_eq!(k.secret_access_key.expose(), b"s3cr3t");
    assert_eq!(k.session_token.unwrap().expose(), b"tok");
    let k = keys("[default]\naws_access_key_id = AKIAREAL\naws_secret_access_key=s3cr3t\n");
    assert_eq!(k.access_key_id(), "AKIAREAL");
    assert!(k.session_token.is_none());
    let missing = AwsKeys::parse(&SecretValue::new(r#"{"AccessKeyId":"AKIAREAL"}"#));
    assert_eq!(missing, Err(KeysError::Missing("secret access key")));
}

/// A request the agent signed with the placeholder key, as `(parts, body)`.
fn agent_request(
    placeholders: &AwsPlaceholders,
    body: &[u8],
    tamper: bool,
) -> http::request::Parts {
    let ts = "20261203T110533Z";
    let hash = sha256_hex(body);
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("host", "sts.amazonaws.com"),
        ("x-amz-content-sha256", hash.as_str()),
        ("x-amz-date", ts),
    ];
    let pairs = query_pairs("");
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let scope = Scope {
        date: ts[..8].into(),
        region: "us-east-1".into(),
        service: "sts".into(),
    };
    let s = Signed {
        method: "POST",
        path: "/",
        query: &pairs,
        headers: &owned,
        payload_hash: &hash,
        timestamp: ts,
        scope: &scope,
    };
    let sig = signature(&s, placeholders.secret_access_key.as_bytes());
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature={sig}",
        placeholders.access_key_id,
        scope.render()
    );
    let mut b = http::Request::post("https://sts.amazonaws.com/");
    for (n, v) in headers {
        b = b.header(
            n,
            if tamper && n == "content-type" {
                "text/plain"
            } else {
                v
            },
        );
    }
    let (parts, ()) = b
        .header("authorization", auth)
        .header("x-amz-security-token", &placeholders.session_token)
        .body(())
        .unwrap()
        .into_parts();
    parts
}

#[test]
fn a_placeholder_signature_is_checked_then_replaced_by_the_real_one() {
    let placeholders = AwsPlaceholders::derive(&[7; 32], "aws", None);
    let real = keys(r#"{"AccessKeyId":"AKIAREAL","SecretAccessKey":"realsecret"}"#);
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let mut parts = agent_request(&placeholders, body, false);
    let req = AwsRequest {
        parts: &mut parts,
        body: Body::Complete(body),
        authority: "sts.amazonaws.com",
    };
    assert_eq!(
        resign(req, &placeholders, &real),
        Ok(Resigned::Signed { body: None })
    );
    let auth = parts.headers["authorization"].to_str().unwrap().to_owned();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAREAL/20261203/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature="), "{auth}");
    assert!(
        parts.headers.get("x-amz-security-token").is_none(),
        "no real token: none sent"
    );

    let mut tampered = agent_request(&placeholders, body, true);
    let req = AwsRequest {
        parts: &mut tampered,
        body: Body::Complete(body),
        authority: "sts.amazonaws.com",
    };
    assert_eq!(
        resign(req, &placeholders, &real),
        Err(SigV4Error::BadSignature)
    );

    let mut other_body = agent_request(&placeholders, body, false);
    let req = AwsRequest {
        parts: &mut other_body,
        body: Body::Complete(b"Action=DeleteUser"),
        authority: "sts.amazonaws.com",
    };
    assert_eq!(
        resign(req, &placeholders, &real),
        Err(SigV4Error::PayloadMismatch)
    );

    let other = AwsPlaceholders::derive(&[8; 32], "aws", Some(placeholders.access_key_id.as_str()));
    let mut wrong_key = agent_request(&other, body, false);
    let req = AwsRequest {
        parts: &mut wrong_key,
        body: Body::Complete(body),
        authority: "sts.amazonaws.com",
    };
    assert_eq!(
        resign(req, &placeholders, &real),
        Err(SigV4Error::BadSignature)
    );
}

/// A chain for AWS's documented chunked-upload example, or any other key and seed.
#[test]
fn the_real_session_token_replaces_the_placeholder_and_is_signed() {
    let placeholders = AwsPlaceholders::derive(&[7; 32], "aws", None);
    let real = keys(
        r#"{"AccessKeyId":"ASIAREAL","SecretAccessKey":"realsecret","SessionToken":"realtok"}"#,
    );
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let mut parts = agent_request(&placeholders, body, false);
    let req = AwsRequest {
        parts: &mut parts,
        body: Body::Complete(body),
        authority: "sts.amazonaws.com",
    };
    assert_eq!(
        resign(req, &placeholders, &real),
        Ok(Resigned::Signed { body: None })
    );
    assert_eq!(parts.headers["x-amz-security-token"], "realtok");
    let auth = parts.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains(
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
        ),
        "{auth}"
    );
}

mod chunks;
