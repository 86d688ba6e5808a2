//! Rate limits per rule (`limits: { rate: 30/hour, burst: 5, per: agent|rule }`): a GCRA
//! token bucket per counter key, behind a store trait: in this process's memory, or in Redis
//! for replicas that share their counters (`state: { redis: … }`); the rules' token budgets
//! (`tokens: 2M/day`) live in the same store.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::control::shared_state::StateError;
use crate::control::shared_state::counters::RedisCounters;
use crate::control::token_budgets;
use crate::policy::extras::{LimitScope, RequestRate, TokenBudget};
use crate::policy::{AgentId, RuleId};

/// Most counters kept before expired ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// Where counters live: [`MemoryCounters`] for one replica, [`RedisCounters`] for several.
/// The calls are asynchronous for the shared store; the memory store answers at once.
pub trait CounterStore: Send + Sync {
    /// Takes one request from the bucket `key`; `Err(Wait)` when it is empty.
    fn acquire(
        &self,
        key: &str,
        rate: &Rate,
        now: Instant,
    ) -> impl Future<Output = Result<(), NotTaken>> + Send;

    /// Whether the token budget `key` has any token left; `Err(Wait)` when it is spent.
    fn tokens_left(
        &self,
        key: &str,
        budget: &TokenBudget,
        now: Instant,
    ) -> impl Future<Output = Result<(), NotTaken>> + Send;

    /// Spends `tokens` reported by a response from the token budget `key` (in the
    /// background for a shared store: the response has been answered already).
    fn spend_tokens(&self, key: &str, budget: &TokenBudget, tokens: u64, now: Instant);
}

/// Why a request took nothing from a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotTaken {
    /// The bucket is empty: retry after this long.
    Wait(Duration),
    /// The shared store cannot be reached: fail closed.
    Unavailable(StateError),
}

/// The store a proxy runs with: one of the two, dispatched without boxing, so the memory
/// path allocates nothing more than before.
pub enum Counters {
    Memory(MemoryCounters),
    Redis(RedisCounters),
}

impl Default for Counters {
    fn default() -> Self {
        Counters::Memory(MemoryCounters::default())
    }
}

impl CounterStore for Counters {
    async fn acquire(&self, key: &str, rate: &Rate, now: Instant) -> Result<(), NotTaken> {
        match self {
            Counters::Memory(m) => m.take(key, rate, now).map_err(NotTaken::Wait),
            Counters::Redis(r) => r.acquire(key, rate, now).await,
        }
    }

    async fn tokens_left(
        &self,
        key: &str,
        budget: &TokenBudget,
        now: Instant,
    ) -> Result<(), NotTaken> {
        match self {
            Counters::Memory(m) => m.left(key, budget, now).map_err(NotTaken::Wait),
            Counters::Redis(r) => r.tokens_left(key, budget, now).await,
        }
    }

    fn spend_tokens(&self, key: &str, budget: &TokenBudget, tokens: u64, now: Instant) {
        match self {
            Counters::Memory(m) => m.spend_tokens(key, budget, tokens, now),
            Counters::Redis(r) => r.spend_tokens(key, budget, tokens, now),
        }
    }
}

/// A bucket's shape: `count` per `window`, at most `capacity` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub window: Duration,
    pub capacity: u32,
}

impl Rate {
    pub fn of(limits: &RequestRate) -> Self {
        Self {
            count: limits.count.max(1),
            window: limits.window,
            capacity: limits.burst.unwrap_or(limits.count).max(1),
        }
    }

    /// Time between two requests at the steady rate.
    pub fn interval(&self) -> Duration {
        self.window / self.count
    }
}

/// Counters in this process's memory.
#[derive(Default)]
pub struct MemoryCounters {
    /// Per key: the theoretical arrival time of the next request.
    tat: Mutex<HashMap<String, Instant>>,
    /// Per token-budget key: when every token spent so far has refilled.
    refilled: Mutex<HashMap<String, Instant>>,
}

impl CounterStore for MemoryCounters {
    async fn acquire(&self, key: &str, rate: &Rate, now: Instant) -> Result<(), NotTaken> {
        self.take(key, rate, now).map_err(NotTaken::Wait)
    }

    async fn tokens_left(
        &self,
        key: &str,
        budget: &TokenBudget,
        now: Instant,
    ) -> Result<(), NotTaken> {
        self.left(key, budget, now).map_err(NotTaken::Wait)
    }

    fn spend_tokens(&self, key: &str, budget: &TokenBudget, tokens: u64, now: Instant) {
        let Ok(mut map) = self.refilled.lock() else {
            return;
        };
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, at| *at > now);
        }
        let at = token_budgets::spend(map.get(key).copied(), budget, tokens, now);
        map.insert(key.to_owned(), at);
    }
}

impl MemoryCounters {
    /// Takes one request from the bucket `key`; `Err(wait)` when it is empty.
    fn take(&self, key: &str, rate: &Rate, now: Instant) -> Result<(), Duration> {
        let Ok(mut map) = self.tat.lock() else {
            // A poisoned lock means a panic elsewhere: fail closed.
            return Err(rate.interval());
        };
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, tat| *tat > now);
        }
        let interval = rate.interval();
        let tolerance = interval * (rate.capacity - 1);
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        map.insert(key.to_owned(), tat + interval);
        Ok(())
    }

    /// Whether the token budget `key` has any token left; `Err(wait)` when it is spent.
    fn left(&self, key: &str, budget: &TokenBudget, now: Instant) -> Result<(), Duration> {
        let Ok(map) = self.refilled.lock() else {
            // A poisoned lock means a panic elsewhere: fail closed.
            return Err(budget.window);
        };
        token_budgets::check(map.get(key).copied(), budget, now)
    }
}

/// The key of a rule's token budget for an agent (beside its request counter).
pub fn budget_key(rule: &RuleId, scope: LimitScope, agent: Option<&AgentId>) -> String {
    format!("tokens|{}", counter_key(rule, scope, agent))
}

/// The counter key of a rule's limit for an agent.
pub fn counter_key(rule: &RuleId, scope: LimitScope, agent: Option<&AgentId>) -> String {
    match scope {
        LimitScope::Rule => format!("rule:{rule}"),
        LimitScope::Agent => format!(
            "rule:{rule}|agent:{}",
            agent.map(AgentId::as_str).unwrap_or("-")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u32, secs: u64, burst: Option<u32>) -> Rate {
        Rate::of(&RequestRate {
            count,
            window: Duration::from_secs(secs),
            burst,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn exact_count_then_retry_after_then_refill() {
        let store = MemoryCounters::default();
        let r = rate(3, 60, None);
        for _ in 0..3 {
            assert!(store.take("k", &r, Instant::now()).is_ok());
        }
        let wait = store.take("k", &r, Instant::now()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(store.take("k", &r, Instant::now()).is_ok());
        assert!(store.take("k", &r, Instant::now()).is_err());
        assert!(
            store.take("other", &r, Instant::now()).is_ok(),
            "keys are independent"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn burst_caps_requests_at_once() {
        let store = MemoryCounters::default();
        let r = rate(60, 60, Some(2));
        assert!(store.take("k", &r, Instant::now()).is_ok());
        assert!(store.take("k", &r, Instant::now()).is_ok());
        assert_eq!(
            store.take("k", &r, Instant::now()),
            Err(Duration::from_secs(1))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn token_budgets_are_kept_per_key() {
        let store = MemoryCounters::default();
        let b = TokenBudget {
            tokens: 100,
            window: Duration::from_secs(100),
        };
        let now = Instant::now();
        assert!(store.left("k", &b, now).is_ok());
        store.spend_tokens("k", &b, 60, now);
        assert!(store.left("k", &b, now).is_ok());
        store.spend_tokens("k", &b, 60, now);
        assert_eq!(store.left("k", &b, now), Err(Duration::from_secs(21)));
        assert!(store.left("other", &b, now).is_ok());
        assert!(
            store.take("k", &rate(1, 60, None), now).is_ok(),
            "apart from rates"
        );
    }

    #[test]
    fn keys_follow_the_scope() {
        let rule = RuleId::new("r");
        let agent = AgentId::new("bot");
        assert_eq!(
            counter_key(&rule, LimitScope::Agent, Some(&agent)),
            "rule:r|agent:bot"
        );
        assert_eq!(counter_key(&rule, LimitScope::Rule, Some(&agent)), "rule:r");
    }
}
