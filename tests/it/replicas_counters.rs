//! The Redis counter store against a real `redis-server`, beside the in-memory one: the same
//! GCRA answers (exact count, the wait until the next request, burst), token budgets spent
//! and checked per key, and an unreachable Redis answered as unavailable, never as allowed.

use std::time::Duration;

use keyward::config::{RedisUrl, StateConfig};
use keyward::control::rate_limits::{CounterStore, NotTaken, Rate};
use keyward::control::shared_state::SharedState;
use keyward::control::shared_state::counters::RedisCounters;
use keyward::policy::extras::{RequestRate, TokenBudget};
use tokio::time::Instant;

use crate::support::eventually_async;
use crate::support::redis_server::RedisServer;

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
