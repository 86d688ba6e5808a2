//! Tests of the Vault source: KV v2 reads with a token or an AppRole login, the login kept
//! for its lease, the value for its TTL, and errors that never carry a token or the value.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::credentials::api_client::fake::Fake;
use crate::policy::{CredentialSource, VaultAuth};

const VALUE: &str = "ghp_vault_9d8c7b6a";
const CLIENT_TOKEN: &str = "hvs.client-token-1234";

fn decl(ttl: Option<Duration>) -> VaultDecl {
    VaultDecl {
        address: "https://vault.example:8200".parse().unwrap(),
        path: "secret/data/github".into(),
        field: "token".into(),
        auth: VaultAuth::Token(CredentialSource::Env("UNUSED".into())),
        namespace: Some("team-a".into()),
        ttl,
    }
}

fn kv(value: &str, lease: u64) -> String {
    format!(
        r#"{{"data":{{"data":{{"token":"{value}","user":"bot"}},"metadata":{{"version":3}}}},"lease_duration":{lease}}}"#
    )
}

fn with_token(fake: &Fake, ttl: Option<Duration>) -> VaultSource {
    let login = VaultLogin::Token(Box::new(RoleIdText("hvs.static".into())));
    VaultSource::new(decl(ttl), login, Arc::new(fake.clone()))
}

fn with_approle(fake: &Fake) -> VaultSource {
    let api: Arc<dyn ApiClient> = Arc::new(fake.clone());
    let login = VaultLogin::AppRole(AppRole {
        address: "https://vault.example:8200".into(),
        namespace: None,
        role_id: Box::new(RoleIdText("role-1".into())),
        secret_id: Box::new(RoleIdText("secret-id-1".into())),
        api: api.clone(),
        token: Mutex::new(None),
        logging_in: tokio::sync::Mutex::new(()),
    });
    VaultSource::new(decl(Some(Duration::from_secs(60))), login, api)
}

#[tokio::test]
async fn a_field_is_read_with_the_token_and_reused_for_the_ttl() {
    let fake = Fake::default();
    fake.answer(200, &kv(VALUE, 0));
    fake.answer(200, &kv("second", 0));
    let source = with_token(&fake, None);
    tokio::time::pause();
    assert_eq!(source.resolve().await.unwrap().expose(), VALUE.as_bytes());
    {
        let sent = fake.sent.lock().unwrap();
        assert_eq!(
            sent[0].uri().to_string(),
            "https://vault.example:8200/v1/secret/data/github"
        );
        assert_eq!(sent[0].method(), http::Method::GET);
    }
    assert_eq!(
        fake.header(0, "x-vault-token").as_deref(),
        Some("hvs.static")
    );
    assert_eq!(
        fake.header(0, "x-vault-namespace").as_deref(),
        Some("team-a")
    );
    tokio::time::advance(DEFAULT_TTL - Duration::from_secs(1)).await;
    assert_eq!(source.resolve().await.unwrap().expose(), VALUE.as_bytes());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(source.resolve().await.unwrap().expose(), b"second");
    assert_eq!(fake.count(), 2);
}

#[tokio::test]
async fn the_secrets_lease_is_its_ttl_when_none_is_given() {
    let fake = Fake::default();
    fake.answer(200, &kv(VALUE, 30));
    fake.answer(200, &kv("second", 30));
    let source = with_token(&fake, None);
    tokio::time::pause();
    source.resolve().await.unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(source.resolve().await.unwrap().expose(), b"second");
}

#[tokio::test]
async fn approle_logs_in_once_per_lease_then_again() {
    let fake = Fake::default();
    let login = |token: &str| {
        format!(r#"{{"auth":{{"client_token":"{token}","lease_duration":600,"renewable":true}}}}"#)
    };
    fake.answer(200, &login(CLIENT_TOKEN));
    fake.answer(200, &kv(VALUE, 0));
    fake.answer(200, &kv(VALUE, 0));
    fake.answer(200, &login("hvs.second"));
    fake.answer(200, &kv(VALUE, 0));
    let source = with_approle(&fake);
    tokio::time::pause();
    assert_eq!(source.resolve().await.unwrap().expose(), VALUE.as_bytes());
    {
        let sent = fake.sent.lock().unwrap();
        assert_eq!(
            sent[0].uri().to_string(),
            "https://vault.example:8200/v1/auth/approle/login"
        );
        let body: serde_json::Value = serde_json::from_slice(sent[0].body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"role_id": "role-1", "secret_id": "secret-id-1"})
        );
    }
    assert_eq!(
        fake.header(1, "x-vault-token").as_deref(),
        Some(CLIENT_TOKEN)
    );
    // The value's ttl (60s) ends; the login (600s, renewed 60s before) is still good.
    tokio::time::advance(Duration::from_secs(60)).await;
    source.resolve().await.unwrap();
    assert_eq!(fake.count(), 3);
    assert_eq!(
        fake.header(2, "x-vault-token").as_deref(),
        Some(CLIENT_TOKEN)
    );
    // Within the last tenth of its lease the login is done again.
    tokio::time::advance(Duration::from_secs(480)).await;
    source.resolve().await.unwrap();
    assert_eq!(fake.count(), 5);
    assert_eq!(
        fake.header(4, "x-vault-token").as_deref(),
        Some("hvs.second")
    );
}

#[tokio::test]
async fn permission_denied_is_reported_and_the_login_dropped() {
    let fake = Fake::default();
    fake.answer(
        200,
        &format!(r#"{{"auth":{{"client_token":"{CLIENT_TOKEN}","lease_duration":600}}}}"#),
    );
    fake.answer(403, r#"{"errors":["permission denied"]}"#);
    fake.answer(400, r#"{"errors":["invalid role or secret ID"]}"#);
    let source = with_approle(&fake);
    let err = source.resolve().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "secret manager vault:https://vault.example:8200/v1/secret/data/github#token failed: Vault answered 403: permission denied"
    );
    let err = source.resolve().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "secret manager vault:https://vault.example:8200/v1/auth/approle/login failed: Vault answered 400: invalid role or secret ID"
    );
    assert_eq!(fake.count(), 3);
    assert!(!err.contains(CLIENT_TOKEN) && !err.contains("secret-id-1"));
}

#[tokio::test]
async fn a_missing_field_or_server_fails_closed() {
    let fake = Fake::default();
    fake.answer(200, r#"{"data":{"data":{"user":"bot"},"metadata":{}}}"#);
    fake.answer(404, r#"{"errors":[]}"#);
    let source = with_token(&fake, None);
    let err = source.resolve().await.unwrap_err().to_string();
    assert!(err.ends_with("the secret has no field `token`"), "{err}");
    let err = source.resolve().await.unwrap_err().to_string();
    assert!(err.ends_with("Vault answered 404"), "{err}");
    let err = source.resolve().await.unwrap_err().to_string();
    assert!(err.ends_with("connection refused"), "{err}");
}
