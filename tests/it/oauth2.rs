//! OAuth 2.0 secrets through the real proxy: keyward obtains an access token from a token
//! endpoint (client credentials, `Authorization: Basic`), injects it for the agent's
//! placeholder, reuses it, and when the API answers 401 renews it and sends an idempotent
//! request once more; a token endpoint that fails answers 503 naming it, with nothing sent to
//! the API. The client secret never leaves keyward except to the token endpoint, and neither it
//! nor any access token reaches the agent, the log or the audit trail.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::support::agent::Proto;
use crate::support::upstream::full;
use crate::support::{Handler, Harness, audit_log};

const PLACEHOLDER: &str = "keyward:crm:0a1b2c3d4e5f6a7b";
const CLIENT_SECRET: &str = "crm-client-secret-6d1f0c";

const RULES: &str = r#"
secrets:
  crm:
    oauth2:
      token_url: https://auth.crm.example/oauth/token
      client_id: keyward-prod
      client_secret: file:$FILES/client-secret
      scope: contacts.read contacts.write
    placeholder: keyward:crm:0a1b2c3d4e5f6a7b
    hosts: [api.crm.example]
rules:
  - id: crm
    url: https://api.crm.example/**
    inject: [crm]
    decision: allow
"#;

/// The token endpoint: each request recorded (Authorization, form); it hands out `at-1`,
/// `at-2`, … while `up`, and answers 503 otherwise.
#[derive(Clone, Default)]
struct Auth {
    sent: Arc<Mutex<Vec<(String, String)>>>,
    down: Arc<Mutex<bool>>,
}

impl Auth {
    fn handler(&self) -> Handler {
        let auth = self.clone();
        Arc::new(move |req: Request<hyper::body::Incoming>| {
            let auth = auth.clone();
            Box::pin(async move {
                let basic = req
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let form = req.into_body().collect().await.unwrap().to_bytes();
                let form = String::from_utf8(form.to_vec()).unwrap();
                let n = {
                    let mut sent = auth.sent.lock().unwrap();
                    sent.push((basic, form));
                    sent.len()
                };
                if *auth.down.lock().unwrap() {
                    let mut resp = Response::new(full(r#"{"error":"temporarily_unavailable"}"#));
                    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    return resp;
                }
                let body = format!(
                    r#"{{"access_token":"at-{n}-9f8e7d","token_type":"Bearer","expires_in":3600}}"#
                );
                let mut resp = Response::new(full(body));
                resp.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                resp
            })
        })
    }
}

/// The API: a request whose bearer token is in `revoked` gets 401; others get their
/// Authorization echoed back (so the test sees the response redacted).
fn api(revoked: Arc<Mutex<Vec<String>>>) -> Handler {
    Arc::new(move |req: Request<hyper::body::Incoming>| {
        let revoked = revoked.clone();
        Box::pin(async move {
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let token = auth.strip_prefix("Bearer ").unwrap_or_default().to_owned();
            if revoked.lock().unwrap().contains(&token) {
                let mut resp = Response::new(full(r#"{"error":"invalid_token"}"#));
                *resp.status_mut() = StatusCode::UNAUTHORIZED;
                return resp;
            }
            Response::new(full(format!(r#"{{"seen":"{auth}"}}"#)))
        })
    })
}

fn request(method: Method, path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("https://api.crm.example{path}"))
        .header("authorization", format!("Bearer {PLACEHOLDER}"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn an_obtained_token_is_injected_reused_renewed_on_401_and_fails_closed() {
    let auth = Auth::default();
    let revoked: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = Harness::new()
        .upstream(&["api.crm.example"], api(revoked.clone()))
        .upstream(&["auth.crm.example"], auth.handler())
        .file("client-secret", CLIENT_SECRET)
        .rules("crm.yaml", RULES)
        .start()
        .await;
    let agent = h.agent();
    let api_seen = || {
        h.upstreams[0]
            .seen()
            .iter()
            .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    // Obtained once, used for both requests; the echo comes back with the placeholder.
    for proto in [Proto::H1, Proto::H2] {
        let reply = agent
            .send(proto, request(Method::GET, "/contacts", ""))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.json()["seen"], format!("Bearer {PLACEHOLDER}"));
    }
    assert_eq!(api_seen(), ["Bearer at-1-9f8e7d", "Bearer at-1-9f8e7d"]);
    let sent = auth.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one token request: {sent:?}");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "keyward%2Dprod:{}",
        CLIENT_SECRET.replace('-', "%2D")
    ));
    assert_eq!(sent[0].0, format!("Basic {basic}"));
    assert_eq!(
        sent[0].1,
        "grant_type=client%5Fcredentials&scope=contacts%2Eread%20contacts%2Ewrite"
    );

    // The API revokes the token: a GET is answered after one renewal and one more try.
    revoked.lock().unwrap().push("at-1-9f8e7d".into());
    let reply = agent
        .send(Proto::H1, request(Method::GET, "/contacts/7", ""))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        api_seen()[2..],
        ["Bearer at-1-9f8e7d", "Bearer at-2-9f8e7d"]
    );
    assert_eq!(auth.sent.lock().unwrap().len(), 2);

    // A POST with a body is not sent twice: the agent gets the 401, and the token is renewed
    // for the next request.
    revoked.lock().unwrap().push("at-2-9f8e7d".into());
    let reply = agent
        .send(
            Proto::H1,
            request(Method::POST, "/contacts", r#"{"name":"Ada"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(api_seen().len(), 5, "sent once");
    let reply = agent
        .send(Proto::H1, request(Method::GET, "/contacts", ""))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(api_seen().last().unwrap(), "Bearer at-3-9f8e7d");

    // The token is refused and the token endpoint fails: 503 naming the endpoint; without
    // a token the API sees nothing more.
    *auth.down.lock().unwrap() = true;
    revoked.lock().unwrap().push("at-3-9f8e7d".into());
    let want = "secret crm is unavailable: OAuth 2.0 token endpoint https://auth.crm.example/oauth/token failed: the token endpoint answered 503: temporarily_unavailable";
    let before = api_seen().len();
    let reply = agent
        .send(Proto::H1, request(Method::GET, "/contacts", ""))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.reason(), want);
    assert_eq!(api_seen().len(), before + 1, "only the refused try");
    let reply = agent
        .send(Proto::H2, request(Method::GET, "/contacts", ""))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.reason(), want);
    assert_eq!(api_seen().len(), before + 1, "nothing sent without a token");
    let body = String::from_utf8_lossy(&reply.body).into_owned();
    assert!(!body.contains(CLIENT_SECRET), "{body}");

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 7, |e| {
        e["host"] == "api.crm.example"
    })
    .await;
    let unavailable: Vec<_> = entries
        .iter()
        .filter(|e| e["host"] == "api.crm.example" && e["status"] == 503)
        .collect();
    assert!(!unavailable.is_empty(), "{entries:?}");
    assert!(
        unavailable[0]["reason"]
            .as_str()
            .unwrap()
            .contains("token endpoint"),
        "{:?}",
        unavailable[0]
    );
    audit_log::verify(&h.keyward.audit_path());
    let log = h.keyward.flushed_audit_log().await;
    for secret in [CLIENT_SECRET, "at-1-9f8e7d", "at-2-9f8e7d", "at-3-9f8e7d"] {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }
}
