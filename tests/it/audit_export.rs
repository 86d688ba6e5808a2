//! The OCSF form of the audit trail from the real `keyward serve`: with `audit.format: ocsf`
//! and `audit.stdout: true`, each exchange (one forwarded, one refused) is an HTTP Activity
//! event (class 4002) on stdout with the class's required fields, while the log file keeps
//! its chained lines and verifies; the trace context of an agent's `traceparent` is in both.

use std::path::Path;
use std::sync::Arc;

use http::Response;

use crate::support::audit_log;
use crate::support::child;
use crate::support::upstream::full;
use crate::support::{Handler, Upstream};

fn ok() -> Handler {
    Arc::new(|_req| Box::pin(async { Response::new(full("ok")) }))
}

/// The agent's trace context on the allowed request.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `curl` through the proxy at `proxy` with `headers`; its status code as printed.
async fn curl(proxy: std::net::SocketAddr, url: &str, headers: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new("curl");
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg("-x")
        .arg(format!("http://{proxy}"))
        .arg(url)
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn events(stdout: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn ocsf_events_on_stdout_carry_the_required_fields_of_http_activity() {
    let upstream = Upstream::plain(ok()).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("rules")).unwrap();
    let log = work.path().join("audit.jsonl");
    let config = work.path().join("keyward.yaml");
    std::fs::write(
        &config,
        format!(
            "audit:\n  path: {}\n  stdout: true\n  format: ocsf\n  replica: kw-ocsf\n",
            log.display()
        ),
    )
    .unwrap();
    let mut command = child::command();
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .arg("--rules")
        .arg(work.path().join("rules"))
        .arg("--resolve")
        .arg(format!("api.example.com:80:{}", upstream.addr))
        .args(["--allow", "api.example.com"]);
    let mut serve = child::spawn(command, work.path()).await;
    assert_eq!(
        curl(
            serve.addr,
            "http://api.example.com/items?page=2",
            &[&format!("traceparent: {TRACEPARENT}")]
        )
        .await,
        "200"
    );
    assert_eq!(
        curl(serve.addr, "http://other.example/secret", &[]).await,
        "403"
    );
    assert!(serve.terminate().await.success());
    assert_eq!(
        upstream.count(),
        1,
        "only the allowed request reached the upstream"
    );

    let events = events(&serve.stdout);
    assert_eq!(events.len(), 2, "{events:#?}");
    for e in &events {
        for key in [
            "activity_id",
            "category_uid",
            "class_uid",
            "severity_id",
            "time",
            "type_uid",
            "metadata",
        ] {
            assert!(e.get(key).is_some(), "{key} missing: {e}");
        }
        assert_eq!(e["class_uid"], 4002, "{e}");
        assert_eq!(e["category_uid"], 4, "{e}");
        assert_eq!(e["activity_id"], 3, "GET is activity 3: {e}");
        assert_eq!(e["type_uid"], 400203, "{e}");
        assert!(e["time"].as_i64().unwrap() > 1_700_000_000_000, "{e}");
        assert_eq!(e["metadata"]["version"], "1.3.0", "{e}");
        assert_eq!(e["metadata"]["product"]["name"], "keyward", "{e}");
        assert_eq!(e["src_endpoint"]["ip"], "127.0.0.1", "{e}");
        assert_eq!(e["unmapped"]["replica"], "kw-ocsf", "{e}");
    }
    let allowed = &events[0];
    assert_eq!(allowed["disposition_id"], 1);
    assert_eq!(allowed["http_response"]["code"], 200);
    assert_eq!(
        allowed["http_request"]["url"]["hostname"],
        "api.example.com"
    );
    assert_eq!(allowed["http_request"]["url"]["path"], "/items");
    assert_eq!(
        allowed["http_request"]["url"]["query_string"],
        "page=[redacted]"
    );
    assert_eq!(
        allowed["metadata"]["correlation_uid"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(allowed["unmapped"]["span_id"], "00f067aa0ba902b7");
    let denied = &events[1];
    assert!(denied["metadata"].get("correlation_uid").is_none());
    assert_eq!(denied["disposition_id"], 2);
    assert_eq!(denied["action"], "Denied");
    assert_eq!(denied["http_response"]["code"], 403);
    assert_eq!(denied["message"], "no rule allows this request", "{denied}");

    // The file keeps keyward's own chained lines, hashes as in the events.
    let entries = audit_log::read(&log);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(entries[0]["span_id"], "00f067aa0ba902b7");
    assert_eq!(entries[1]["hash"], denied["unmapped"]["hash"]);
    audit_log::verify(&log);
}
