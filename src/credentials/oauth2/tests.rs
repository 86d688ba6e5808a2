use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;
use crate::credentials::source::EnvSource;

/// A token request: its form and `Authorization`.
type Sent = (String, Option<String>);

/// A token endpoint that records what it was sent and answers from a script.
#[derive(Clone, Default)]
struct Fake {
    sent: Arc<Mutex<Vec<Sent>>>,
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl Fake {
    fn answer(&self, status: u16, body: &str) {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, body.into()));
    }
    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

impl TokenEndpoint for Fake {
    fn url(&self) -> String {
        "https://auth.example/token".into()
    }
    fn post(&self, form: String, authorization: Option<zeroize::Zeroizing<String>>) -> Posting<'_> {
        self.sent
            .lock()
            .unwrap()
            .push((form, authorization.map(|a| a.to_string())));
        let answer = self.answers.lock().unwrap().pop_front();
        Box::pin(async move {
            tokio::task::yield_now().await;
            answer
                .map(|(s, b)| (s, Bytes::from(b)))
                .ok_or_else(|| "connection refused".to_owned())
        })
    }
}

/// A source of a fixed value (the test's client secret or refresh token).
#[derive(Debug)]
struct Fixed(&'static str);

impl SecretSource for Fixed {
    fn describe(&self) -> String {
        "fixed".into()
    }
    fn resolve(&self) -> Resolving<'_> {
        let value = SecretValue::new(self.0.as_bytes().to_vec());
        Box::pin(async move { Ok(value) })
    }
}

fn client_credentials(fake: &Fake) -> OAuth2Source {
    let grant = Grant {
        client_id: "keyward prod".into(),
        client_secret: Some(Box::new(Fixed("s3cr3t&="))),
        refresh_token: None,
        scope: Some("contacts.read".into()),
        audience: None,
        client_auth: ClientAuth::Basic,
    };
    OAuth2Source::new(grant, Box::new(fake.clone()))
}

fn token(value: &str, expires_in: u64) -> String {
    format!(r#"{{"access_token":"{value}","token_type":"Bearer","expires_in":{expires_in}}}"#)
}

async fn value(source: &OAuth2Source) -> String {
    String::from_utf8(source.resolve().await.unwrap().expose().to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_token_is_fetched_once_and_reused_until_its_renewal_time() {
    let fake = Fake::default();
    fake.answer(200, &token("at-1", 3600));
    let source = client_credentials(&fake);
    assert_eq!(value(&source).await, "at-1");
    assert_eq!(value(&source).await, "at-1");
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "cached: {sent:?}");
    assert_eq!(
        sent[0].0,
        "grant_type=client%5Fcredentials&scope=contacts%2Eread"
    );
    let basic = STANDARD.encode("keyward%20prod:s3cr3t%26%3D");
    assert_eq!(
        sent[0].1.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(source.describe(), "oauth2:https://auth.example/token");
}

#[tokio::test(start_paused = true)]
async fn near_expiry_the_token_is_renewed_in_the_background_and_after_it_inline() {
    let fake = Fake::default();
    fake.answer(200, &token("at-1", 600));
    fake.answer(200, &token("at-2", 600));
    let source = client_credentials(&fake);
    assert_eq!(value(&source).await, "at-1");
    // Renewal starts a tenth of the lifetime (60 s) before expiry.
    tokio::time::advance(Duration::from_secs(545)).await;
    assert_eq!(value(&source).await, "at-1", "still good: no wait");
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(value(&source).await, "at-2", "renewed meanwhile");
    assert_eq!(fake.sent().len(), 2);
    // Past expiry with the endpoint down: the request fails closed.
    tokio::time::advance(Duration::from_secs(700)).await;
    let e = source.resolve().await.unwrap_err().to_string();
    assert!(e.contains("connection refused"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_rejected_token_is_dropped_and_concurrent_requests_fetch_once() {
    let fake = Fake::default();
    fake.answer(200, &token("at-1", 3600));
    fake.answer(200, &token("at-2", 3600));
    let source = client_credentials(&fake);
    let (a, b) = tokio::join!(value(&source), value(&source));
    assert_eq!((a.as_str(), b.as_str()), ("at-1", "at-1"));
    assert_eq!(fake.sent().len(), 1, "one request for both");
    source.rejected(&SecretValue::new(b"someone-else".to_vec()));
    assert_eq!(value(&source).await, "at-1", "another value: kept");
    source.rejected(&SecretValue::new(b"at-1".to_vec()));
    assert_eq!(value(&source).await, "at-2");
    assert!(source.renews());
}

#[tokio::test(start_paused = true)]
async fn the_refresh_grant_sends_the_refresh_token_and_uses_a_rotated_one() {
    let fake = Fake::default();
    fake.answer(
        200,
        r#"{"access_token":"at-1","expires_in":60,"refresh_token":"rt-2"}"#,
    );
    fake.answer(200, &token("at-2", 60));
    let grant = Grant {
        client_id: "cli".into(),
        client_secret: None,
        refresh_token: Some(Box::new(Fixed("rt-1"))),
        scope: None,
        audience: Some("https://api.example".into()),
        client_auth: ClientAuth::Body,
    };
    let source = OAuth2Source::new(grant, Box::new(fake.clone()));
    assert_eq!(value(&source).await, "at-1");
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(value(&source).await, "at-2");
    let sent = fake.sent();
    assert_eq!(
        sent[0].0,
        "grant_type=refresh%5Ftoken&refresh_token=rt%2D1&audience=https%3A%2F%2Fapi%2Eexample&client_id=cli"
    );
    assert!(sent[1].0.contains("refresh_token=rt%2D2"), "{sent:?}");
    assert_eq!(sent[0].1, None);
}

#[tokio::test(start_paused = true)]
async fn endpoint_errors_name_the_code_never_the_description_or_secrets() {
    let fake = Fake::default();
    fake.answer(
        401,
        r#"{"error":"invalid_client","error_description":"secret s3cr3t&= is wrong"}"#,
    );
    fake.answer(200, "<html>not json</html>");
    fake.answer(200, r#"{"access_token":""}"#);
    let source = client_credentials(&fake);
    let e = source.resolve().await.unwrap_err().to_string();
    assert_eq!(
        e,
        "OAuth 2.0 token endpoint https://auth.example/token failed: the token endpoint answered 401: invalid_client"
    );
    let e = source.resolve().await.unwrap_err().to_string();
    assert!(e.contains("not a token response"), "{e}");
    let e = source.resolve().await.unwrap_err().to_string();
    assert!(e.contains("empty access token"), "{e}");
    let missing = Grant {
        client_id: "cli".into(),
        client_secret: Some(Box::new(EnvSource("KEYWARD_TEST_NO_SUCH_VAR".into()))),
        refresh_token: None,
        scope: None,
        audience: None,
        client_auth: ClientAuth::Basic,
    };
    let source = OAuth2Source::new(missing, Box::new(fake.clone()));
    let e = source.resolve().await.unwrap_err().to_string();
    assert!(e.contains("KEYWARD_TEST_NO_SUCH_VAR"), "{e}");
}
