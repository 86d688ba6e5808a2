//! The usage readers: each provider's JSON and SSE shape, split at every chunk boundary,
//! missing usage, garbage and oversized input.

use super::*;

const OPENAI_CHAT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0}}}"#;

const OPENAI_CHAT_SSE: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":7,\"total_tokens\":27}}\n\n\
data: [DONE]\n\n";

const OPENAI_RESPONSES: &str = r#"{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":10},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":39}}"#;

const OPENAI_RESPONSES_SSE: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"usage\":null}}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n\
event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":31,\"output_tokens\":4,\"total_tokens\":35}}}\n\n";

const ANTHROPIC: &str = r#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"model":"claude","stop_reason":"end_turn","usage":{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"output_tokens":6}}"#;

const ANTHROPIC_SSE: &str = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\r\n\r\n\
event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n\
event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\r\n\r\n\
event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\r\n\r\n\
event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n";

fn read(framing: Framing, body: &str) -> Result<Usage, Unread> {
    let mut r = Reader::new(framing);
    r.feed(body.as_bytes());
    r.finish(true)
}

/// Every split of the body into two chunks, and one byte at a time, reads the same usage.
fn every_split(framing: Framing, body: &str, want: Usage) {
    let bytes = body.as_bytes();
    for at in 0..=bytes.len() {
        let mut r = Reader::new(framing);
        r.feed(&bytes[..at]);
        r.feed(&bytes[at..]);
        assert_eq!(r.finish(true), Ok(want), "split at {at}");
    }
    let mut r = Reader::new(framing);
    for b in bytes {
        r.feed(std::slice::from_ref(b));
    }
    assert_eq!(r.finish(true), Ok(want), "byte by byte");
}

fn usage(input: u64, output: u64) -> Usage {
    Usage { input, output }
}

#[test]
fn openai_chat_completions() {
    every_split(Framing::Json, OPENAI_CHAT, usage(12, 5));
    every_split(Framing::Sse, OPENAI_CHAT_SSE, usage(20, 7));
}

#[test]
fn openai_responses() {
    every_split(Framing::Json, OPENAI_RESPONSES, usage(30, 9));
    every_split(Framing::Sse, OPENAI_RESPONSES_SSE, usage(31, 4));
}

#[test]
fn anthropic_messages_count_cache_tokens_as_input() {
    every_split(Framing::Json, ANTHROPIC, usage(1110, 6));
    // message_start's input, message_delta's cumulative output.
    every_split(Framing::Sse, ANTHROPIC_SSE, usage(30, 15));
}

#[test]
fn usage_is_known_while_the_stream_runs() {
    let mut r = Reader::new(Framing::Sse);
    let (start, _) = ANTHROPIC_SSE.split_at(ANTHROPIC_SSE.find("event: ping").unwrap());
    r.feed(start.as_bytes());
    assert_eq!(r.usage(), Some(usage(30, 1)));
    // Cut off before message_delta: what was seen is kept, and the stream counts as read.
    assert_eq!(r.finish(false), Ok(usage(30, 1)));
}

#[test]
fn missing_usage_is_reported() {
    let no_usage = r#"{"id":"x","choices":[]}"#;
    assert_eq!(read(Framing::Json, no_usage), Err(Unread::NoUsage));
    assert_eq!(
        read(Framing::Json, r#"{"usage":null}"#),
        Err(Unread::NoUsage)
    );
    assert_eq!(
        read(Framing::Json, r#"{"usage":{"total":3}}"#),
        Err(Unread::NoUsage)
    );
    assert_eq!(read(Framing::Json, "[1,2]"), Err(Unread::NoUsage));
    // A chat stream sent without `stream_options.include_usage`.
    let without = OPENAI_CHAT_SSE.replace(
        "{\"prompt_tokens\":20,\"completion_tokens\":7,\"total_tokens\":27}",
        "null",
    );
    assert_eq!(read(Framing::Sse, &without), Err(Unread::NoUsage));
    assert_eq!(read(Framing::Sse, ""), Err(Unread::NoUsage));
}

#[test]
fn garbage_is_not_json_and_garbage_events_are_skipped() {
    assert_eq!(read(Framing::Json, "not json {"), Err(Unread::NotJson));
    assert_eq!(read(Framing::Json, ""), Err(Unread::NotJson));
    let noisy =
        format!("data: {{usage: broken\n\n: comment\n\ndata: \u{1}\u{2}\n\n{OPENAI_CHAT_SSE}");
    assert_eq!(read(Framing::Sse, &noisy), Ok(usage(20, 7)));
    assert_eq!(
        read(
            Framing::Sse,
            "data: {\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":\"9\"}}\n\n"
        ),
        Err(Unread::NoUsage)
    );
}

#[test]
fn a_json_answer_cut_off_is_not_read() {
    let mut r = Reader::new(Framing::Json);
    r.feed(&OPENAI_CHAT.as_bytes()[..40]);
    assert_eq!(r.finish(false), Err(Unread::Cut));
}

#[test]
fn oversized_input_stops_reading_with_bounded_memory() {
    let mut r = Reader::new(Framing::Json);
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..(JSON_CAP / chunk.len() + 2) {
        r.feed(&chunk);
    }
    assert!(r.buf.capacity() <= JSON_CAP);
    assert_eq!(r.finish(true), Err(Unread::TooLarge(JSON_CAP)));

    let mut r = Reader::new(Framing::Sse);
    r.feed(b"data: ");
    for _ in 0..(EVENT_CAP / chunk.len() + 2) {
        r.feed(&chunk);
    }
    assert!(r.buf.is_empty());
    r.feed(OPENAI_CHAT_SSE.as_bytes());
    assert_eq!(r.finish(true), Err(Unread::EventTooLarge(EVENT_CAP)));
}

#[test]
fn totals_saturate() {
    assert_eq!(usage(u64::MAX, 5).total(), u64::MAX);
    assert_eq!(usage(3, 4).total(), 7);
}
