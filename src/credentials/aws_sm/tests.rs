//! Tests of the AWS Secrets Manager source: the signed request, the TTL, the field and the
//! errors that name AWS's error type and never the value.

use std::time::Duration;

use super::*;
use crate::credentials::api_client::fake::Fake;
use crate::credentials::vault::RoleIdText;

const KEYS: &str =
    r#"{"AccessKeyId":"AKIDEXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}"#;
const VALUE: &str = "gh-token-6f1c2b9e";

fn source(fake: &Fake, field: Option<&str>) -> AwsSmSource {
    let decl = AwsSmDecl {
        secret_id: "prod/github".into(),
        region: "eu-west-1".into(),
        field: field.map(Into::into),
        credentials: crate::policy::CredentialSource::Env("UNUSED".into()),
        endpoint: None,
        ttl: Duration::from_secs(300),
    };
    AwsSmSource::new(
        decl,
        Box::new(RoleIdText(KEYS.into())),
        Box::new(fake.clone()),
    )
}

#[tokio::test]
async fn get_secret_value_is_signed_and_its_value_reused_for_the_ttl() {
    let fake = Fake::default();
    fake.answer(
        200,
        &format!(r#"{{"Name":"prod/github","SecretString":"{VALUE}"}}"#),
    );
    fake.answer(200, r#"{"SecretString":"second"}"#);
    let source = source(&fake, None);
    tokio::time::pause();
    assert_eq!(source.resolve().await.unwrap().expose(), VALUE.as_bytes());
    assert_eq!(
        fake.header(0, "x-amz-target").as_deref(),
        Some("secretsmanager.GetSecretValue")
    );
    assert_eq!(
        fake.header(0, "content-type").as_deref(),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(
        fake.header(0, "host").as_deref(),
        Some("secretsmanager.eu-west-1.amazonaws.com")
    );
    let auth = fake.header(0, "authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
    assert!(
        auth.contains("/eu-west-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="),
        "{auth}"
    );
    {
        let sent = fake.sent.lock().unwrap();
        assert_eq!(sent[0].body().as_ref(), br#"{"SecretId":"prod/github"}"#);
        assert_eq!(sent[0].method(), http::Method::POST);
    }
    tokio::time::advance(Duration::from_secs(299)).await;
    assert_eq!(source.resolve().await.unwrap().expose(), VALUE.as_bytes());
    assert_eq!(fake.count(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(source.resolve().await.unwrap().expose(), b"second");
    assert_eq!(fake.count(), 2);
}

#[tokio::test]
async fn a_field_of_the_json_value_is_used() {
    let fake = Fake::default();
    fake.answer(
        200,
        &format!(r#"{{"SecretString":"{{\"token\":\"{VALUE}\",\"user\":\"bot\"}}"}}"#),
    );
    fake.answer(200, r#"{"SecretString":"{\"user\":\"bot\"}"}"#);
    assert_eq!(
        source(&fake, Some("token"))
            .resolve()
            .await
            .unwrap()
            .expose(),
        VALUE.as_bytes()
    );
    let err = source(&fake, Some("token"))
        .resolve()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no field `token`"), "{err}");
}

#[tokio::test]
async fn errors_name_the_aws_error_type_and_never_the_value() {
    let fake = Fake::default();
    fake.answer(
        400,
        &format!(
            r#"{{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find {VALUE}"}}"#
        ),
    );
    fake.answer(
        400,
        r#"{"__type":"com.amazonaws.secretsmanager#AccessDeniedException","message":"no"}"#,
    );
    fake.fail("connection refused (127.0.0.1:1)");
    let source = source(&fake, None);
    let err = source.resolve().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "secret manager aws_secrets_manager:eu-west-1/prod/github failed: GetSecretValue answered 400: ResourceNotFoundException"
    );
    let err = source.resolve().await.unwrap_err().to_string();
    assert!(
        err.ends_with("answered 400: AccessDeniedException"),
        "{err}"
    );
    let err = source.resolve().await.unwrap_err().to_string();
    assert!(
        err.ends_with("failed: connection refused (127.0.0.1:1)"),
        "{err}"
    );
    assert!(!err.contains(VALUE));
}

#[tokio::test]
async fn a_session_token_is_sent_and_signed() {
    let fake = Fake::default();
    fake.answer(200, r#"{"SecretString":"v"}"#);
    let decl = AwsSmDecl {
        secret_id: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf".into(),
        region: "eu-west-1".into(),
        field: None,
        credentials: crate::policy::CredentialSource::Env("UNUSED".into()),
        endpoint: Some("http://127.0.0.1:5000".parse().unwrap()),
        ttl: Duration::from_secs(300),
    };
    let keys = r#"{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s","SessionToken":"tok"}"#;
    let source = AwsSmSource::new(
        decl,
        Box::new(RoleIdText(keys.into())),
        Box::new(fake.clone()),
    );
    source.resolve().await.unwrap();
    assert_eq!(
        fake.header(0, "x-amz-security-token").as_deref(),
        Some("tok")
    );
    assert_eq!(fake.header(0, "host").as_deref(), Some("127.0.0.1:5000"));
    assert!(
        fake.header(0, "authorization").unwrap().contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        )
    );
}
