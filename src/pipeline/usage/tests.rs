//! Which responses are read, and what a read records and spends.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::*;
use crate::policy::extras::LimitScope;
use crate::policy::{RuleSet, Source};

const RULES: &str = "rules:\n  - id: budgeted\n    url: https://api.openai.com/**\n    limits: { tokens: 100/hour }\n    decision: allow\n  - id: plain\n    url: https://api.anthropic.com/**\n    decision: allow\n";

fn rules() -> RuleSet {
    RuleSet::compile(&[Source {
        path: "r.yaml".into(),
        text: RULES.into(),
    }])
    .unwrap()
}

struct Setup {
    counters: Arc<Counters>,
    slot: UsageSlot,
}

impl Setup {
    fn new() -> Self {
        Self {
            counters: Arc::new(Counters::default()),
            slot: UsageSlot::default(),
        }
    }

    fn meter(&self, rules: &RuleSet, rule: usize, path: &str) -> Meter {
        let rule = rules.rules().get(rule);
        Meter::new(
            &self.counters,
            rule,
            None,
            path,
            self.slot.clone(),
            RequestId::new(),
        )
    }

    fn record(&self) -> UsageRecord {
        self.slot.lock().unwrap().clone()
    }
}

async fn drain(body: ProxyBody) -> Bytes {
    body.collect().await.unwrap().to_bytes()
}

#[test]
fn successful_answers_of_budgets_or_llm_paths_are_read() {
    let (rules, s) = (rules(), Setup::new());
    assert!(s.meter(&rules, 0, "/v1/files").reads(StatusCode::OK));
    assert!(
        !s.meter(&rules, 0, "/v1/files")
            .reads(StatusCode::TOO_MANY_REQUESTS)
    );
    for path in [
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/messages/",
    ] {
        assert!(s.meter(&rules, 1, path).reads(StatusCode::OK), "{path}");
    }
    assert!(
        !s.meter(&rules, 1, "/v1/messages/count_tokens")
            .reads(StatusCode::OK)
    );
    assert!(
        !s.meter(&rules, 1, "/v1/messages")
            .reads(StatusCode::BAD_REQUEST)
    );
}

#[tokio::test]
async fn a_read_answer_records_its_usage_and_spends_the_budget() {
    let (rules, s) = (rules(), Setup::new());
    let json = r#"{"usage":{"prompt_tokens":70,"completion_tokens":40}}"#;
    let body = s.meter(&rules, 0, "/v1/chat/completions").observe(
        StatusCode::OK,
        "application/json",
        crate::body::full(json),
    );
    assert_eq!(drain(body).await, json.as_bytes(), "passed on unchanged");
    assert_eq!(
        s.record(),
        UsageRecord {
            usage: Some(Usage {
                input: 70,
                output: 40
            }),
            warning: None
        }
    );
    let budget = rules.rules()[0].limits().unwrap().tokens.unwrap();
    let key = budget_key(rules.rules()[0].id(), LimitScope::Agent, None);
    let Err(crate::control::rate_limits::NotTaken::Wait(wait)) = s
        .counters
        .tokens_left(&key, &budget, tokio::time::Instant::now())
        .await
    else {
        panic!("the budget is spent");
    };
    // 110 of 100 tokens an hour: 10 over, plus one to refill (36 s each).
    assert!(
        (Duration::from_secs(395)..=Duration::from_secs(396)).contains(&wait),
        "{wait:?}"
    );
}

#[tokio::test]
async fn unreadable_usage_is_a_warning_only_under_a_budget() {
    let rules = rules();
    let s = Setup::new();
    let body = s.meter(&rules, 0, "/v1/files").observe(
        StatusCode::OK,
        "text/plain",
        crate::body::full("hi"),
    );
    assert_eq!(drain(body).await, "hi");
    assert_eq!(
        s.record().warning.as_deref(),
        Some("response is neither JSON nor an event stream")
    );
    let s = Setup::new();
    let body = s.meter(&rules, 0, "/v1/x").observe(
        StatusCode::OK,
        "application/json",
        crate::body::full("{oops"),
    );
    drain(body).await;
    assert_eq!(s.record().warning.as_deref(), Some("response is not JSON"));
    let s = Setup::new();
    let body = s.meter(&rules, 1, "/v1/messages").observe(
        StatusCode::OK,
        "application/json",
        crate::body::full("{oops"),
    );
    drain(body).await;
    assert_eq!(s.record(), UsageRecord::default(), "no budget: no warning");
}

#[tokio::test(start_paused = true)]
async fn usage_seen_before_an_oversized_event_is_still_spent_with_a_warning() {
    let (rules, s) = (rules(), Setup::new());
    let mut stream = String::from(
        "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":90,\"output_tokens\":1}}}\n\n",
    );
    stream.push_str("data: ");
    stream.push_str(&"x".repeat(report::EVENT_CAP + 1));
    let body = s.meter(&rules, 0, "/v1/messages").observe(
        StatusCode::OK,
        "text/event-stream",
        crate::body::full(stream.clone()),
    );
    assert_eq!(drain(body).await.len(), stream.len(), "passed on whole");
    let record = s.record();
    assert_eq!(record.usage.map(|u| u.total()), Some(91));
    assert!(record.warning.unwrap().starts_with("SSE event larger than"));
    let budget = rules.rules()[0].limits().unwrap().tokens.unwrap();
    let key = budget_key(rules.rules()[0].id(), LimitScope::Agent, None);
    let now = tokio::time::Instant::now();
    assert!(
        s.counters.tokens_left(&key, &budget, now).await.is_ok(),
        "9 left"
    );
    s.counters.spend_tokens(&key, &budget, 9, now);
    assert!(
        s.counters.tokens_left(&key, &budget, now).await.is_err(),
        "91 were spent"
    );
}

#[test]
fn an_answer_in_a_coding_keyward_cannot_decode_is_not_read_and_warned_under_a_budget() {
    let (rules, s) = (rules(), Setup::new());
    let mut headers = http::HeaderMap::new();
    assert!(s.meter(&rules, 0, "/v1/x").decodable(&headers));
    headers.insert(http::header::CONTENT_ENCODING, "gzip".parse().unwrap());
    assert!(s.meter(&rules, 0, "/v1/x").decodable(&headers));
    assert_eq!(s.record(), UsageRecord::default());
    headers.insert(http::header::CONTENT_ENCODING, "x-unknown".parse().unwrap());
    assert!(!s.meter(&rules, 1, "/v1/messages").decodable(&headers));
    assert_eq!(s.record(), UsageRecord::default(), "no budget: no warning");
    assert!(!s.meter(&rules, 0, "/v1/x").decodable(&headers));
    assert_eq!(
        s.record().warning.as_deref(),
        Some("response is in a content coding keyward cannot decode")
    );
}
