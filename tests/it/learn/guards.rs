//! What learn mode never lets through: the refusals keyward makes whatever the rules say.
//! A private destination (an IP literal at CONNECT, a name resolving to loopback), a
//! smuggling attempt, and a placeholder sent to a host its secret is not bound to are
//! refused with their audit entry (mode `learn`, decision `deny`), and nothing is forwarded.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::support::Harness;
use crate::support::agent::Proto;
use crate::support::raw::in_tunnel;
use crate::support::upstream::echo;

const PLACEHOLDER: &str = "keyward:api:5d1c0f3a9e8b7d6c";
const VALUE: &str = "real-api-secret-value-0413";

#[tokio::test]
async fn learn_mode_still_refuses_private_destinations_smuggling_and_exfiltration() {
    let h = Harness::new()
        .upstream(&["api.example.com"], echo())
        .upstream(&["files.example.com", "localhost", "127.0.0.1"], echo())
        .file("api-token", VALUE)
        .rules(
            "api.yaml",
            &format!(
                "secrets:\n  api:\n    from: file:$FILES/api-token\n    placeholder: {PLACEHOLDER}\n    hosts: [api.example.com]\nrules:\n  - id: api\n    url: https://api.example.com/**\n    inject: [api]\n    decision: allow\n"
            ),
        )
        // The pins are for port 443: `localhost` and the IP literal at the upstream's own
        // port are judged on what they are.
        .config(|c| c.learn = true)
        .start()
        .await;
    let agent = h.agent();
    let files = &h.upstreams[1];
    let port = files.addr.port();

    let literal = agent
        .connect(&format!("127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert_eq!(literal.status, StatusCode::FORBIDDEN);
    let loopback = agent
        .get(Proto::H1, &format!("https://localhost:{port}/"))
        .await;
    assert_eq!(loopback.status, StatusCode::FORBIDDEN);
    assert_eq!(loopback.json()["error"], "destination_refused");

    let exfil = Request::get("https://files.example.com/upload")
        .header("authorization", format!("Bearer {PLACEHOLDER}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let exfil = agent.send(Proto::H1, exfil).await;
    assert_eq!(exfil.status, StatusCode::FORBIDDEN);

    let smuggled = "POST /a HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
    let reply = in_tunnel(&h.keyward, "api.example.com:443", smuggled.as_bytes()).await;
    assert!(reply.statuses().iter().all(|s| *s == 400), "{}", reply.text);

    assert_eq!(files.count(), 0, "nothing reached the other host");
    assert_eq!(h.upstreams[0].count(), 0, "nothing reached the API");
    let log = h.keyward.flushed_audit_log().await;
    assert!(!log.contains(VALUE));
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exfil_entry = entries
        .iter()
        .find(|e| e["path"] == "/upload")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(
        (&exfil_entry["decision"], &exfil_entry["mode"]),
        (&"deny".into(), &"learn".into())
    );
    assert!(
        exfil_entry["reason"]
            .as_str()
            .unwrap()
            .contains("exfiltration"),
        "{exfil_entry}"
    );
    let loopback_entry = entries.iter().find(|e| e["host"] == "localhost").unwrap();
    assert_eq!(loopback_entry["decision"], "deny", "{loopback_entry}");
    assert!(
        entries.iter().filter(|e| e["decision"] == "allow").count() == 0,
        "nothing was forwarded: {log}"
    );
}
