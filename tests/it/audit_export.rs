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

/// An attribute of an OTLP log record, as a string (ints printed).
fn attribute(
    record: &opentelemetry_proto::tonic::logs::v1::LogRecord,
    key: &str,
) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let kv = record.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

#[tokio::test]
async fn entries_reach_an_otlp_collector_with_http_attributes_and_the_trace_id() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message as _;
    use std::sync::Mutex;

    let received: Arc<Mutex<Vec<ExportLogsServiceRequest>>> = Arc::default();
    let sink = received.clone();
    let collector = Upstream::plain(Arc::new(move |req| {
        let sink = sink.clone();
        Box::pin(async move {
            use http_body_util::BodyExt as _;
            let path = req.uri().path().to_owned();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(path, "/v1/logs");
            let export = ExportLogsServiceRequest::decode(body).unwrap();
            sink.lock().unwrap().push(export);
            Response::new(full(""))
        })
    }))
    .await;
    let upstream = Upstream::plain(ok()).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("rules")).unwrap();
    let log = work.path().join("audit.jsonl");
    let config = work.path().join("keyward.yaml");
    std::fs::write(
        &config,
        format!(
            "audit:\n  path: {}\n  replica: kw-otlp\n  otlp:\n    endpoint: http://{}\n",
            log.display(),
            collector.addr
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
        .args(["--allow", "api.example.com"])
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY");
    let mut serve = child::spawn(command, work.path()).await;
    let traceparent = format!("traceparent: {TRACEPARENT}");
    assert_eq!(
        curl(
            serve.addr,
            "http://api.example.com/items?page=2",
            &[&traceparent]
        )
        .await,
        "200"
    );
    assert_eq!(
        curl(serve.addr, "http://other.example/secret", &[]).await,
        "403"
    );
    // Shutdown sends what is queued before keyward exits.
    assert!(serve.terminate().await.success());
    assert_eq!(upstream.count(), 1);

    let exports = received.lock().unwrap().clone();
    let records: Vec<_> = exports
        .iter()
        .flat_map(|e| &e.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .cloned()
        .collect();
    assert_eq!(records.len(), 2, "{exports:#?}");
    let service = exports[0].resource_logs[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .map(|kv| format!("{:?}", kv.value));
    assert!(service.unwrap().contains("keyward"));
    let allowed = &records[0];
    assert_eq!(
        attribute(allowed, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        attribute(allowed, "url.full").as_deref(),
        Some("http://api.example.com:80/items?page=[redacted]")
    );
    assert_eq!(
        attribute(allowed, "server.address").as_deref(),
        Some("api.example.com")
    );
    assert_eq!(
        attribute(allowed, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(allowed, "keyward.decision").as_deref(),
        Some("allow")
    );
    assert_eq!(
        attribute(allowed, "keyward.replica").as_deref(),
        Some("kw-otlp")
    );
    let hex: String = allowed
        .trace_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    let span: String = allowed.span_id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(span, "00f067aa0ba902b7");
    let denied = &records[1];
    assert_eq!(
        attribute(denied, "keyward.decision").as_deref(),
        Some("deny")
    );
    assert_eq!(
        attribute(denied, "http.response.status_code").as_deref(),
        Some("403")
    );
    assert!(denied.trace_id.is_empty(), "no traceparent, no trace id");
    let entries = audit_log::read(&log);
    assert_eq!(
        attribute(denied, "keyward.hash").as_deref(),
        entries[1]["hash"].as_str()
    );
}

/// A collector that is down costs records, never exchanges: the request is answered, the
/// entry is in the file, the failed export is logged, and keyward still stops promptly.
#[tokio::test]
async fn a_collector_that_is_down_refuses_no_request() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let upstream = Upstream::plain(ok()).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("rules")).unwrap();
    let log = work.path().join("audit.jsonl");
    let config = work.path().join("keyward.yaml");
    std::fs::write(
        &config,
        format!(
            "audit:\n  path: {}\n  otlp:\n    endpoint: http://{dead}\n",
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
        curl(serve.addr, "http://api.example.com/x", &[]).await,
        "200"
    );
    let started = std::time::Instant::now();
    assert!(serve.terminate().await.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(audit_log::read(&log).len(), 1);
    audit_log::verify(&log);
    let stderr = std::fs::read_to_string(&serve.stderr).unwrap();
    assert!(stderr.contains("BatchLogProcessor.ExportError"), "{stderr}");
}
