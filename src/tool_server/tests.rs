use std::sync::Mutex;

use ::http::{HeaderMap, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::*;

/// Two tools; `delete` is hidden from `ops`, `fail` fails upstream, `deny` is refused.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(Option<String>, String, Value)>>,
}

impl Catalog for Fake {
    fn tools(&self, agent: Option<&AgentId>) -> Vec<ToolInfo> {
        let mut tools = vec![ToolInfo {
            name: "echo".into(),
            description: "echoes".into(),
            input_schema: json!({"type": "object"}),
        }];
        if agent.map(AgentId::as_str) != Some("ops") {
            tools.push(ToolInfo {
                name: "delete".into(),
                description: "deletes".into(),
                input_schema: json!({"type": "object"}),
            });
        }
        tools
    }

    async fn call(&self, agent: Option<&AgentId>, name: &str, arguments: Value) -> CallOutcome {
        self.calls.lock().unwrap().push((
            agent.map(|a| a.as_str().to_owned()),
            name.to_owned(),
            arguments.clone(),
        ));
        match name {
            "echo" => CallOutcome::Done(json!({ "got": arguments })),
            "list" => CallOutcome::Done(json!([1, 2])),
            "fail" => CallOutcome::Failed("upstream answered 500".into()),
            _ => CallOutcome::Refused(RpcError {
                code: -32001,
                message: format!("keyward denied tools/call {name}"),
                data: Some(json!({"rule": "r"})),
            }),
        }
    }
}

fn server() -> ToolServer<Fake> {
    ToolServer::new(Fake::default())
}

async fn ask(s: &ToolServer<Fake>, message: Value) -> Value {
    s.handle(None, message).await.expect("an answer")
}

#[tokio::test]
async fn initialize_agrees_on_a_handshake_version() {
    let s = server();
    let answer = ask(
        &s,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize",
        "params":{"protocolVersion":"2025-06-18","capabilities":{}}}),
    )
    .await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        answer["result"]["capabilities"]["tools"]["listChanged"],
        false
    );
    assert_eq!(answer["result"]["serverInfo"]["name"], "keyward");
    let newer = ask(
        &s,
        json!({"jsonrpc":"2.0","id":2,"method":"initialize",
        "params":{"protocolVersion":"2099-01-01"}}),
    )
    .await;
    assert_eq!(newer["result"]["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn discover_is_not_found_so_new_clients_fall_back_to_the_handshake() {
    let answer = ask(
        &server(),
        json!({"jsonrpc":"2.0","id":"d","method":"server/discover"}),
    )
    .await;
    assert_eq!(answer["error"]["code"], METHOD_NOT_FOUND);
    assert_eq!(answer["id"], "d");
}

#[tokio::test]
async fn tools_are_listed_per_agent() {
    let s = server();
    let all = ask(&s, json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).await;
    let names: Vec<&str> = all["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "delete"]);
    assert_eq!(
        all["result"]["tools"][0]["inputSchema"],
        json!({"type":"object"})
    );
    let ops = AgentId::new("ops".to_owned());
    let some = s
        .handle(
            Some(&ops),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await
        .unwrap();
    assert_eq!(some["result"]["tools"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn calls_answer_results_tool_errors_and_refusals() {
    let s = server();
    let done = ask(
        &s,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
        "params":{"name":"echo","arguments":{"a":1}}}),
    )
    .await;
    assert_eq!(done["result"]["isError"], false);
    assert_eq!(done["result"]["structuredContent"], json!({"got":{"a":1}}));
    let text = done["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"got":{"a":1}})
    );

    let array = ask(
        &s,
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"list"}}),
    )
    .await;
    assert!(
        array["result"].get("structuredContent").is_none(),
        "only objects are structured"
    );

    let failed = ask(
        &s,
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
        "params":{"name":"fail","arguments":{}}}),
    )
    .await;
    assert_eq!(failed["result"]["isError"], true);
    assert_eq!(
        failed["result"]["content"][0]["text"],
        "upstream answered 500"
    );

    let refused = ask(
        &s,
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call",
        "params":{"name":"nuke","arguments":{}}}),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32001);
    assert_eq!(refused["error"]["data"]["rule"], "r");
    assert_eq!(s.catalog().calls.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn malformed_calls_are_invalid_params_and_reach_no_tool() {
    let s = server();
    for params in [
        json!(null),
        json!({"arguments":{}}),
        json!({"name":7}),
        json!({"name":"echo","arguments":[1]}),
    ] {
        let answer = ask(
            &s,
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":params}),
        )
        .await;
        assert_eq!(answer["error"]["code"], INVALID_PARAMS, "{params}");
    }
    assert!(s.catalog().calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn invalid_messages_get_json_rpc_errors() {
    let s = server();
    for (message, code) in [
        (json!(7), INVALID_REQUEST),
        (json!([]), INVALID_REQUEST),
        (json!({"jsonrpc":"2.0","id":1}), INVALID_REQUEST),
        (
            json!({"jsonrpc":"1.0","id":1,"method":"ping"}),
            INVALID_REQUEST,
        ),
        (
            json!({"jsonrpc":"2.0","id":1,"method":"resources/list"}),
            METHOD_NOT_FOUND,
        ),
    ] {
        let answer = ask(&s, message.clone()).await;
        assert_eq!(answer["error"]["code"], code, "{message}");
    }
    let junk = s.handle_bytes(None, b"{not json").await.unwrap();
    assert_eq!(junk["error"]["code"], PARSE_ERROR);
    let big: Vec<Value> = (0..=MAX_BATCH)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"ping"}))
        .collect();
    let answer = ask(&s, Value::Array(big)).await;
    assert_eq!(answer["error"]["code"], INVALID_REQUEST);
}

#[tokio::test]
async fn notifications_and_responses_are_not_answered_and_batches_answer_each_request() {
    let s = server();
    assert!(
        s.handle(
            None,
            json!({"jsonrpc":"2.0","method":"notifications/initialized"})
        )
        .await
        .is_none()
    );
    assert!(
        s.handle(None, json!({"jsonrpc":"2.0","id":5,"result":{}}))
            .await
            .is_none()
    );
    let batch = ask(
        &s,
        json!([
            {"jsonrpc":"2.0","id":1,"method":"ping"},
            {"jsonrpc":"2.0","method":"notifications/cancelled"},
            {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}},
        ]),
    )
    .await;
    let ids: Vec<&Value> = batch.as_array().unwrap().iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!(2)]);
}

fn post(body: &str) -> Request<Full<Bytes>> {
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

async fn body_of(resp: Response<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
    let (parts, body) = resp.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn http_posts_are_answered_in_json_with_a_session_on_initialize() {
    let s = server();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let (status, headers, body) = body_of(streamable::answer(&s, Ok(None), post(init)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers[streamable::SESSION_HEADER].len(), 32);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["result"]["serverInfo"]["name"], "keyward");

    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let (status, _, body) = body_of(streamable::answer(&s, Ok(None), post(note)).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(body.is_empty());

    let mut sse = post(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    sse.headers_mut()
        .insert("accept", "text/event-stream".parse().unwrap());
    let (_, headers, body) = body_of(streamable::answer(&s, Ok(None), sse).await).await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert!(body.starts_with(b"event: message\ndata: {"), "{body:?}");
}

#[tokio::test]
async fn http_refuses_pages_strangers_other_methods_and_other_media() {
    let s = server();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let mut page = post(ping);
    page.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(
        streamable::answer(&s, Ok(None), page).await.status(),
        StatusCode::FORBIDDEN
    );
    let mut local = post(ping);
    local
        .headers_mut()
        .insert("origin", "http://localhost:6274".parse().unwrap());
    assert_eq!(
        streamable::answer(&s, Ok(None), local).await.status(),
        StatusCode::OK
    );

    let denied =
        streamable::answer(&s, Err("unknown agent or wrong token".into()), post(ping)).await;
    let (status, _, body) = body_of(denied).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&body).contains("wrong token"));

    let get = Request::get("/mcp").body(Full::new(Bytes::new())).unwrap();
    let resp = streamable::answer(&s, Ok(None), get).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST, DELETE");
    let delete = Request::delete("/mcp")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        streamable::answer(&s, Ok(None), delete).await.status(),
        StatusCode::NO_CONTENT
    );

    let mut text = post(ping);
    text.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        streamable::answer(&s, Ok(None), text).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}"}}}}"#,
        "a".repeat(streamable::MAX_BODY)
    );
    assert_eq!(
        streamable::answer(&s, Ok(None), post(&huge)).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(s.catalog().calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn stdio_answers_line_by_line_and_survives_an_oversized_line() {
    let s = server();
    let long = format!("{}\n", "x".repeat(stdio::MAX_LINE + 10));
    let input = format!(
        "{}\n\n{}\n{long}{}\n",
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"k":"v"}}}"#,
    );
    let mut output = Vec::new();
    stdio::serve(&s, None, input.as_bytes(), &mut output)
        .await
        .unwrap();
    let answers: Vec<Value> = output
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[1]["error"]["code"], PARSE_ERROR);
    assert_eq!(
        answers[2]["result"]["structuredContent"],
        json!({"got":{"k":"v"}})
    );
}
