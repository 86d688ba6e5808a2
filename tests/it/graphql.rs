//! GraphQL through the real proxy, end to end with real parts: a graphql-core server (behind
//! the test's HTTPS upstream, which forwards to it) and the `gql` client over `requests`.
//! An allowed query (POST JSON, GET) is answered by the server; a denied mutation (JSON or
//! application/graphql), a batch holding one, an invalid document and a persisted query whose hash does not match its text are answered
//! by keyward as GraphQL errors naming the rule, and the server never executes them (it
//! records what it runs). The audit entries name the operation, its name and its fields.
//! An operation over its rule's rate limit is a GraphQL error with 429, and `keyward check`
//! positions bad `graphql:` entries.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::Harness;
use crate::support::audit_log;
use crate::support::upstream::{Handler, full};

const RULES: &str = r#"
rules:
  - id: gql-queries
    url: https://api.example.com/graphql
    graphql: { operation: query }
    decision: allow
  - id: gql-no-repo-deletion
    description: agents never delete repositories
    url: https://api.example.com/graphql
    graphql: { fields: [mutation.deleteRepository] }
    decision: deny
"#;

/// How long the Python server may take to print its port.
const STARTUP: Duration = Duration::from_secs(20);

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/support/graphql")
        .join(name)
}

/// The graphql-core server as a child (killed on drop) and its port.
async fn graphql_server() -> (tokio::process::Child, u16) {
    let mut child = tokio::process::Command::new("python3")
        .arg(script("server.py"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs the GraphQL server (scripts/test installs graphql-core)");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(STARTUP, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("the GraphQL server prints its port")
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("port: {line:?}"));
    (child, port)
}

/// One plain HTTP/1.1 exchange with the server on `port`.
async fn send(port: u16, req: Request<Full<Bytes>>) -> Response<Bytes> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (parts, body) = sender.send_request(req).await.unwrap().into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

/// An upstream handler that forwards each request to the GraphQL server on `port`.
fn forward_to(port: u16) -> Handler {
    Arc::new(move |req: Request<Incoming>| {
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let mut out = Request::builder()
                .method(parts.method)
                .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
                .header("host", "127.0.0.1");
            if let Some(t) = parts.headers.get("content-type") {
                out = out.header("content-type", t);
            }
            let answer = send(port, out.body(Full::new(body)).unwrap()).await;
            let (parts, body) = answer.into_parts();
            Response::from_parts(parts, full(body))
        })
    })
}

/// What the server executed, asked of it directly.
async fn executed(port: u16) -> Vec<Value> {
    let req = Request::get("/executed")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    serde_json::from_slice(send(port, req).await.body()).unwrap()
}

#[tokio::test]
async fn gql_client_through_keyward_sees_allowed_queries_and_graphql_shaped_denials() {
    let (_server, port) = graphql_server().await;
    let h = Harness::new()
        .upstream(&["api.example.com"], forward_to(port))
        .rules("graphql.yaml", RULES)
        .start()
        .await;
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script("client.py"))
        .arg("https://api.example.com/graphql")
        .env("HTTPS_PROXY", h.keyward.proxy_url())
        .env("REQUESTS_CA_BUNDLE", &h.keyward.ca_path)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c["case"] == name)
            .unwrap_or_else(|| panic!("no case {name}: {stdout}"))
    };

    assert_eq!(case("query")["ok"]["me"]["login"], "octocat", "{stdout}");

    let mutation = &case("mutation")["errors"][0];
    assert!(
        mutation["message"]
            .as_str()
            .unwrap()
            .starts_with("keyward: denied by rule `gql-no-repo-deletion`"),
        "{stdout}"
    );
    assert_eq!(mutation["extensions"]["code"], "KEYWARD_DENIED");
    assert_eq!(mutation["extensions"]["rule"], "gql-no-repo-deletion");

    // gql raises on the batch's first error: the allowed element, not forwarded.
    let batch = &case("batch")["errors"][0];
    assert_eq!(
        batch["message"],
        "keyward: not forwarded: batch element 1 was denied (rule `gql-no-repo-deletion`)",
        "{stdout}"
    );
    let raw = &case("batch_raw");
    assert_eq!(raw["status"], 403, "{stdout}");
    let answers = raw["body"].as_array().unwrap();
    assert_eq!(
        answers.len(),
        2,
        "one GraphQL response per element: {stdout}"
    );
    assert_eq!(answers[1]["errors"][0]["extensions"]["element"], 1);
    assert_eq!(
        answers[1]["errors"][0]["message"],
        "keyward: denied by rule `gql-no-repo-deletion`: agents never delete repositories"
    );

    let get = &case("get");
    assert_eq!(get["status"], 200, "{stdout}");
    assert_eq!(get["body"]["data"]["repository"]["name"], "web");
    let document = &case("document");
    assert_eq!(document["status"], 403, "{stdout}");
    assert_eq!(
        document["body"]["errors"][0]["extensions"]["rule"],
        "gql-no-repo-deletion"
    );

    let invalid = &case("invalid");
    assert_eq!(invalid["status"], 403, "{stdout}");
    let message = invalid["body"]["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("keyward: invalid GraphQL document: expected R_CURLY, got EOF")
            && message.contains("(rule `gql-queries`)"),
        "{message}"
    );

    let apq = &case("apq_mismatch");
    assert_eq!(apq["status"], 403, "{stdout}");
    assert!(
        apq["body"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not match the query text"),
        "{stdout}"
    );

    let ran = executed(port).await;
    assert_eq!(
        ran,
        [
            serde_json::json!({"operation": "query", "name": "Who", "fields": ["viewer", "viewer"]}),
            serde_json::json!({"operation": "query", "name": "ByGet", "fields": ["repository"]}),
        ],
        "only the allowed queries were executed"
    );
    assert_eq!(
        h.upstream().count(),
        2,
        "nothing denied reached the upstream"
    );

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 8, |e| {
        e["path"] == "/graphql"
    })
    .await;
    let gql: Vec<&Value> = entries.iter().filter(|e| e["path"] == "/graphql").collect();
    assert_eq!(gql[0]["decision"], "allow");
    assert_eq!(gql[0]["graphql_operation"], "query");
    assert_eq!(gql[0]["graphql_name"], "Who");
    assert_eq!(gql[0]["graphql_fields"], serde_json::json!(["viewer"]));
    assert_eq!(gql[1]["decision"], "deny");
    assert_eq!(gql[1]["graphql_operation"], "mutation");
    assert_eq!(
        gql[1]["graphql_fields"],
        serde_json::json!(["deleteRepository"])
    );
    assert_eq!(gql[1]["rule"], "gql-no-repo-deletion");
    assert_eq!(gql[2]["graphql_batch"], 2);
    assert!(
        gql[2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("batch element 1 (mutation (deleteRepository))"),
        "{}",
        gql[2]
    );
    assert_eq!(
        (
            &gql[3]["method"],
            &gql[3]["graphql_name"],
            &gql[3]["decision"]
        ),
        (&"GET".into(), &"ByGet".into(), &"allow".into())
    );
    assert_eq!(gql[4]["graphql_operation"], "mutation");
    assert_eq!(gql[4]["decision"], "deny");
    assert_eq!(gql[5]["graphql_batch"], 2);
    assert!(
        gql[6]["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid GraphQL document"),
        "{}",
        gql[6]
    );
    assert!(
        gql[7]["reason"]
            .as_str()
            .unwrap()
            .contains("does not match the query text"),
        "{}",
        gql[7]
    );
    audit_log::verify(&h.keyward.audit_path());
}

#[test]
fn keyward_check_positions_bad_graphql_entries() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.yaml");
    std::fs::write(
        &file,
        "rules:\n  - id: g\n    url: https://api.example.com/graphql\n    graphql:\n      operation: [query, delete]\n      fields: [deleteRepository]\n    decision: deny\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("g.yaml:5:18: unknown GraphQL operation type `delete`"),
        "{text}"
    );
    assert!(
        text.contains("g.yaml:6:15: invalid GraphQL field `deleteRepository` (write `type.field`"),
        "{text}"
    );
}

#[tokio::test]
async fn an_operation_over_its_rate_limit_is_a_graphql_error_with_429() {
    let h = Harness::new()
        .upstream(&["api.example.com"], crate::support::upstream::echo())
        .rules(
            "graphql.yaml",
            "rules:\n  - id: gql-limited\n    url: https://api.example.com/graphql\n    graphql: { operation: query }\n    limits: { rate: 1/hour }\n    decision: allow\n",
        )
        .start()
        .await;
    let post = || {
        Request::post("https://api.example.com/graphql")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                r#"{"query":"{ viewer { login } }"}"#,
            )))
            .unwrap()
    };
    let agent = h.agent();
    let first = agent.send(crate::support::agent::Proto::H1, post()).await;
    assert_eq!(first.status, http::StatusCode::OK);
    let second = agent.send(crate::support::agent::Proto::H2, post()).await;
    assert_eq!(second.status, http::StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers.contains_key("retry-after"));
    let error = &second.json()["errors"][0];
    assert_eq!(error["extensions"]["code"], "KEYWARD_RATE_LIMITED");
    assert_eq!(
        error["message"],
        "keyward: rate limit exceeded (rule `gql-limited`)"
    );
    assert_eq!(h.upstream().count(), 1);
}

#[tokio::test]
async fn a_held_operation_shows_its_type_fields_and_variables_to_the_approver() {
    let h = Harness::new()
        .upstream(&["api.example.com"], crate::support::upstream::echo())
        .rules(
            "graphql.yaml",
            "rules:\n  - id: gql-delete\n    url: https://api.example.com/graphql\n    graphql: { operation: mutation, fields: [mutation.deleteRepository] }\n    decision: approve\n",
        )
        .start()
        .await;
    let agent = h.agent();
    let body = r#"{"query":"mutation Drop($id: ID!) { gone: deleteRepository(id: $id) { ok } }","variables":{"id":"R_1"}}"#;
    let held = tokio::spawn(async move {
        let req = Request::post("https://api.example.com/graphql")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        agent.send(crate::support::agent::Proto::H1, req).await
    });
    let pending = crate::runtime::wait_pending(h.admin(), 1).await;
    let op = &pending[0]["graphql"];
    assert_eq!(op["operation"], "mutation");
    assert_eq!(op["name"], "Drop");
    assert_eq!(op["fields"], serde_json::json!(["deleteRepository"]));
    assert_eq!(op["variables"], serde_json::json!({"id": "R_1"}));
    let id = pending[0]["id"].as_str().unwrap();
    let (status, _) = crate::runtime::admin(
        h.admin(),
        "POST",
        &format!("/approvals/{id}/deny"),
        r#"{"reason":"not this one"}"#,
    )
    .await;
    assert_eq!(status, http::StatusCode::OK);
    let reply = held.await.unwrap();
    assert_eq!(reply.status, http::StatusCode::FORBIDDEN);
    let error = &reply.json()["errors"][0];
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("not this one"), "{message}");
    assert_eq!(
        h.upstream().count(),
        0,
        "the denied operation was not forwarded"
    );
}
