//! Fake OpenAI and Anthropic endpoints: realistic JSON answers and SSE streams with the
//! usage each provider reports, sent in small frames so events and JSON span frame
//! boundaries. `/v1/chat/completions`, `/v1/responses` and `/v1/messages` answer by the
//! request's `stream`; any other path answers JSON without usage.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use super::upstream::{BoxError, Handler, TestBody, full};

/// `body` in frames of `n` bytes, so events and JSON span frame boundaries.
pub fn in_chunks(body: &str, n: usize) -> TestBody {
    let frames: Vec<Result<Frame<Bytes>, BoxError>> = body
        .as_bytes()
        .chunks(n)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

fn sse(events: &[(Option<&str>, Value)]) -> String {
    let mut out = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            out.push_str(&format!("event: {name}\n"));
        }
        out.push_str(&format!("data: {data}\n\n"));
    }
    out
}

fn answer(content_type: &str, body: TestBody) -> Response<TestBody> {
    Response::builder()
        .header("content-type", content_type)
        .body(body)
        .unwrap()
}

/// OpenAI chat completions: 12 + 5 tokens, or streamed 20 + 7 (usage in the last chunk).
pub fn openai_chat(stream: bool) -> Response<TestBody> {
    if !stream {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"},
                         "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        });
        return answer("application/json", in_chunks(&body.to_string(), 9));
    }
    let chunk = |delta: Value, finish: Value, usage: Value| {
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
               "model": "gpt-4o-mini",
               "choices": if usage.is_null() { json!([{"index": 0, "delta": delta, "finish_reason": finish}]) } else { json!([]) },
               "usage": usage})
    };
    let mut body = sse(&[
        (
            None,
            chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                Value::Null,
            ),
        ),
        (
            None,
            chunk(json!({"content": "Hi"}), Value::Null, Value::Null),
        ),
        (
            None,
            chunk(json!({"content": " stream"}), Value::Null, Value::Null),
        ),
        (None, chunk(json!({}), json!("stop"), Value::Null)),
        (
            None,
            chunk(
                json!({}),
                Value::Null,
                json!({"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}),
            ),
        ),
    ]);
    body.push_str("data: [DONE]\n\n");
    answer("text/event-stream; charset=utf-8", in_chunks(&body, 7))
}

/// Anthropic messages: 10 + 100 cache writes + 1000 cache reads in, 6 out; or streamed 25 + 5
/// cache reads in, 15 out (`message_delta` carries the cumulative output).
pub fn anthropic_messages(stream: bool) -> Response<TestBody> {
    let message = |usage: Value, content: Value| {
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
               "content": content, "stop_reason": null, "stop_sequence": null, "usage": usage})
    };
    if !stream {
        let mut m = message(
            json!({"input_tokens": 10, "cache_creation_input_tokens": 100,
                   "cache_read_input_tokens": 1000, "output_tokens": 6}),
            json!([{"type": "text", "text": "Hi there"}]),
        );
        m["stop_reason"] = json!("end_turn");
        return answer("application/json", in_chunks(&m.to_string(), 11));
    }
    let body = sse(&[
        (
            Some("message_start"),
            json!({"type": "message_start", "message": message(
                json!({"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1}),
                json!([]))}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
        ),
        (Some("ping"), json!({"type": "ping"})),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": "Hi stream"}}),
        ),
        (
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            Some("message_delta"),
            json!({"type": "message_delta",
                   "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"output_tokens": 15}}),
        ),
        (Some("message_stop"), json!({"type": "message_stop"})),
    ]);
    answer("text/event-stream", in_chunks(&body, 5))
}

/// OpenAI's Responses API: 31 + 4 tokens, or streamed 40 + 11 (in `response.completed`).
pub fn openai_responses(stream: bool) -> Response<TestBody> {
    let response = |status: &str, usage: Value| {
        json!({"id": "resp_1", "object": "response", "status": status, "model": "gpt-4o-mini",
               "output": [], "usage": usage})
    };
    if !stream {
        let body = response(
            "completed",
            json!({"input_tokens": 31, "output_tokens": 4, "total_tokens": 35}),
        );
        return answer("application/json", full(body.to_string()));
    }
    let body = sse(&[
        (
            Some("response.created"),
            json!({"type": "response.created", "sequence_number": 0,
                   "response": response("in_progress", Value::Null)}),
        ),
        (
            Some("response.output_text.delta"),
            json!({"type": "response.output_text.delta", "sequence_number": 1,
                   "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hi"}),
        ),
        (
            Some("response.completed"),
            json!({"type": "response.completed", "sequence_number": 2,
                   "response": response("completed",
                       json!({"input_tokens": 40, "output_tokens": 11, "total_tokens": 51}))}),
        ),
    ]);
    answer("text/event-stream", in_chunks(&body, 3))
}

/// The fake providers, by path; `/v1/files` answers JSON without usage.
pub fn providers() -> Handler {
    Arc::new(|req: Request<Incoming>| {
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let stream = request["stream"] == json!(true);
            match path.as_str() {
                "/v1/chat/completions" => openai_chat(stream),
                "/v1/messages" => anthropic_messages(stream),
                "/v1/responses" => openai_responses(stream),
                _ => answer("application/json", full(r#"{"data":[],"object":"list"}"#)),
            }
        })
    })
}
