//! The Redis counter store against a real `redis-server`, beside the in-memory one: the same
//! GCRA answers (exact count, the wait until the next request, burst), token budgets spent
//! and checked per key, and an unreachable Redis answered as unavailable, never as allowed;
//! and a token budget spent through one replica refusing the next call on another.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use keyward::config::{RedisUrl, StateConfig};
use keyward::control::rate_limits::{CounterStore, NotTaken, Rate, budget_key};
use keyward::control::shared_state::SharedState;
use keyward::control::shared_state::counters::RedisCounters;
use keyward::policy::RuleId;
use keyward::policy::extras::{LimitScope, RequestRate, TokenBudget};
use tokio::time::Instant;

use crate::support::agent::Proto;
use crate::support::llm_providers::providers;
use crate::support::redis_server::RedisServer;
use crate::support::{Keyward, TestCa, Upstream, eventually_async};

fn rate(count: u32, secs: u64, burst: Option<u32>) -> Rate {
    Rate::of(&RequestRate {
        count,
        window: Duration::from_secs(secs),
        burst,
    })
}

/// A wait of about `expected` (Redis's clock moves between two calls).
fn about(result: Result<(), NotTaken>, expected: Duration) {
    let Err(NotTaken::Wait(wait)) = result else {
        panic!("expected a wait, got {result:?}");
    };
    assert!(
        wait <= expected && wait + Duration::from_millis(500) >= expected,
        "{wait:?}, expected about {expected:?}"
    );
}

#[tokio::test]
async fn redis_counters_answer_as_the_memory_counters_do() {
    let mut redis = RedisServer::start().await;
    let state = SharedState::open(&StateConfig {
        redis: RedisUrl::new(redis.url()),
        password: None,
        ca: None,
    })
    .await
    .unwrap();
    let store = RedisCounters::new(state);
    let now = Instant::now();
    let r = rate(3, 60, None);
    for _ in 0..3 {
        assert_eq!(store.acquire("k", &r, now).await, Ok(()));
    }
    about(store.acquire("k", &r, now).await, Duration::from_secs(20));
    assert_eq!(
        store.acquire("other", &r, now).await,
        Ok(()),
        "keys are independent"
    );
    let burst = rate(60, 60, Some(2));
    assert_eq!(store.acquire("b", &burst, now).await, Ok(()));
    assert_eq!(store.acquire("b", &burst, now).await, Ok(()));
    about(
        store.acquire("b", &burst, now).await,
        Duration::from_secs(1),
    );

    let budget = TokenBudget {
        tokens: 100,
        window: Duration::from_secs(100),
    };
    assert_eq!(store.tokens_left("t", &budget, now).await, Ok(()));
    store.spend_tokens("t", &budget, 60, now);
    store.spend_tokens("t", &budget, 60, now);
    // Spent in the background: 120 of 100, so 20 over plus one token's refill.
    eventually_async("the tokens spent", Duration::from_secs(5), async || {
        store
            .tokens_left("t", &budget, now)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    about(
        store.tokens_left("t", &budget, now).await,
        Duration::from_secs(21),
    );
    assert_eq!(store.tokens_left("u", &budget, now).await, Ok(()));

    redis.kill();
    assert!(matches!(
        store.acquire("k2", &r, now).await,
        Err(NotTaken::Unavailable(_))
    ));
    assert!(matches!(
        store.tokens_left("u", &budget, now).await,
        Err(NotTaken::Unavailable(_))
    ));
}

const BUDGET_RULES: &str = r#"
rules:
  - id: messages
    method: POST
    url: https://api.anthropic.com/v1/messages
    limits: { tokens: 1000/hour }
    decision: allow
"#;

/// What one replica's answer reported is spent from the budget every replica checks.
#[tokio::test]
async fn a_token_budget_spent_through_one_replica_is_spent_on_all() {
    let redis = RedisServer::start().await;
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["api.anthropic.com"], &[b"http/1.1"], providers()).await;
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("llm.yaml"), BUDGET_RULES).unwrap();
    let state = StateConfig {
        redis: RedisUrl::new(redis.url()),
        password: None,
        ca: None,
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let (rules, state) = (rules.path().to_path_buf(), state.clone());
        let replica = Keyward::in_front_of(&ca, "api.anthropic.com", upstream.addr, move |c| {
            c.rules_dir = rules;
            c.workers = 1;
            c.state = Some(state);
        })
        .await;
        replicas.push(replica);
    }
    let call = || {
        Request::post("https://api.anthropic.com/v1/messages")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                b"{\"model\":\"claude-test\",\"max_tokens\":8,\"messages\":[]}",
            )))
            .unwrap()
    };
    // The answer reports 1116 tokens: more than the whole budget.
    let first = replicas[0].agent().send(Proto::H1, call()).await;
    assert_eq!(first.status, StatusCode::OK);
    let store = RedisCounters::new(SharedState::open(&state).await.unwrap());
    let key = budget_key(&RuleId::new("messages"), LimitScope::Agent, None);
    let budget = TokenBudget {
        tokens: 1000,
        window: Duration::from_secs(3600),
    };
    eventually_async(
        "the reported tokens spent",
        Duration::from_secs(5),
        async || {
            store
                .tokens_left(&key, &budget, Instant::now())
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    let second = replicas[1].agent().send(Proto::H1, call()).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.reason(), "token budget spent");
    assert!(second.headers.contains_key("retry-after"));
    assert_eq!(
        upstream.count(),
        1,
        "the second call never reached the provider"
    );
}
