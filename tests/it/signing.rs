//! HMAC request signing (`sign:`) through the real proxy: the upstream verifies the
//! signature keyward computed over the method, path, timestamp and body hash, with the key
//! it shares; the agent holds nothing, a signature it sends itself is replaced, a body too
//! large to sign whole is refused (413) and a method outside the secret's scope is refused
//! (403), with nothing forwarded; the key appears in no request and no audit entry.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};

use crate::support::agent::Proto;
use crate::support::upstream::full;
use crate::support::{Handler, Harness, audit_log};

const KEY: &str = "whsec_9c1f3a7e5b2d4c8e0f6a1b3c5d7e9f20";

const RULES: &str = r#"
secrets:
  pay:
    from: file:$FILES/pay-key
    hosts: [api.pay.example]
    methods: [GET, POST]
rules:
  - id: payments
    url: https://api.pay.example/v1/**
    sign:
      secret: pay
      header: X-Signature
      value: "v1={signature}"
      timestamp_header: X-Timestamp
      message: "{method}\n{path}\n{timestamp}\n{body_sha256}"
    decision: allow
"#;

/// What the upstream checked: method, path, whether the signature verified, header names.
type Checked = Arc<Mutex<Vec<(String, String, bool, Vec<String>)>>>;

/// Verifies `X-Signature` as the API would, with the shared key.
fn api(checked: Checked) -> Handler {
    Arc::new(move |req: Request<hyper::body::Incoming>| {
        let checked = checked.clone();
        Box::pin(async move {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            let (signature, timestamp) = (header("x-signature"), header("x-timestamp"));
            let method = req.method().to_string();
            let path = req.uri().path_and_query().unwrap().as_str().to_owned();
            let names: Vec<String> = req.headers().keys().map(|k| k.to_string()).collect();
            let values: Vec<String> = req
                .headers()
                .values()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let hash: String = Sha256::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let message = format!("{method}\n{path}\n{timestamp}\n{hash}");
            let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
            mac.update(message.as_bytes());
            let want: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let ok = signature == format!("v1={want}");
            assert!(
                !values.iter().any(|v| v.contains(KEY))
                    && !String::from_utf8_lossy(&body).contains(KEY),
                "the key itself is never sent"
            );
            checked.lock().unwrap().push((method, path, ok, names));
            let mut resp = Response::new(full(format!(r#"{{"verified":{ok}}}"#)));
            if !ok {
                *resp.status_mut() = StatusCode::UNAUTHORIZED;
            }
            resp
        })
    })
}

fn request(method: Method, path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("https://api.pay.example{path}"))
        .header("x-signature", "v1=forged-by-the-agent")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[tokio::test]
async fn keyward_signs_requests_the_upstream_verifies_and_refuses_what_it_cannot_sign() {
    let checked: Checked = Arc::default();
    let h = Harness::new()
        .upstream(&["api.pay.example"], api(checked.clone()))
        .file("pay-key", KEY)
        .rules("pay.yaml", RULES)
        .start()
        .await;
    let agent = h.agent();
    let charge = br#"{"amount":1200,"currency":"eur"}"#.to_vec();
    for proto in [Proto::H1, Proto::H2] {
        let reply = agent
            .send(proto, request(Method::POST, "/v1/charges", charge.clone()))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.json()["verified"], true);
    }
    let reply = agent
        .send(
            Proto::H1,
            request(Method::GET, "/v1/charges?limit=3&q=a%20b", Vec::new()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    {
        let seen = checked.lock().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.iter().all(|(_, _, ok, _)| *ok), "{seen:?}");
        assert_eq!(seen[2].1, "/v1/charges?limit=3&q=a%20b");
        assert!(seen[0].3.contains(&"x-timestamp".to_owned()), "{seen:?}");
    }

    // Over the 1 MiB a body is read ahead to: it cannot be signed whole.
    let big = vec![b'a'; 1024 * 1024 + 10];
    let reply = agent
        .send(Proto::H1, request(Method::POST, "/v1/uploads", big))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
    // Outside the secret's methods: not signed, refused.
    let reply = agent
        .send(
            Proto::H1,
            request(Method::DELETE, "/v1/charges/ch_1", Vec::new()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert_eq!(
        reply.reason(),
        "credential not allowed for this request (pay: method DELETE is not in its methods: GET, POST)"
    );
    assert_eq!(
        checked.lock().unwrap().len(),
        3,
        "nothing refused was forwarded"
    );

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 5, |_| true).await;
    assert_eq!(entries[0]["credentials"], serde_json::json!(["pay"]));
    assert_eq!(entries[3]["status"], 413, "{:?}", entries[3]);
    assert_eq!(entries[4]["decision"], "deny", "{:?}", entries[4]);
    audit_log::verify(&h.keyward.audit_path());
    let log = h.keyward.flushed_audit_log().await;
    assert!(!log.contains(KEY), "the key is in no entry");
}
