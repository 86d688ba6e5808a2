//! Rate-limit counters and token budgets in Redis, for replicas that share them: each call
//! is one atomic Lua script (GCRA for rates, the refill instant for budgets), with the same
//! semantics as the in-memory store, on Redis's clock.

use std::time::Duration;

use tokio::time::Instant;

use super::{KEY_PREFIX, SharedState, scripts};
use crate::control::rate_limits::{CounterStore, NotTaken, Rate};
use crate::policy::extras::TokenBudget;

/// The counters of every replica, in one Redis.
pub struct RedisCounters {
    state: SharedState,
}

impl RedisCounters {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

/// Microseconds of `d` (saturating), as the scripts count.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A script's answer: -1 allowed, else the wait in microseconds.
fn answer(waited: i64) -> Result<(), NotTaken> {
    match u64::try_from(waited) {
        Ok(us) => Err(NotTaken::Wait(Duration::from_micros(us))),
        Err(_) => Ok(()),
    }
}

/// Microseconds `tokens` take to refill under `budget`, capped at two windows.
fn refill_micros(budget: &TokenBudget, tokens: u64) -> u64 {
    let window = budget.window.as_micros();
    let refill = window * u128::from(tokens) / u128::from(budget.tokens.max(1));
    u64::try_from(refill.min(window * 2)).unwrap_or(u64::MAX)
}

impl CounterStore for RedisCounters {
    async fn acquire(&self, key: &str, rate: &Rate, _now: Instant) -> Result<(), NotTaken> {
        let interval = micros(rate.interval());
        let tolerance = interval.saturating_mul(u64::from(rate.capacity - 1));
        let mut invocation = scripts::GCRA.prepare_invoke();
        invocation
            .key(format!("{KEY_PREFIX}rate:{key}"))
            .arg(interval)
            .arg(tolerance);
        let waited = self
            .state
            .script(&invocation)
            .await
            .map_err(NotTaken::Unavailable)?;
        answer(waited)
    }

    async fn tokens_left(
        &self,
        key: &str,
        budget: &TokenBudget,
        _now: Instant,
    ) -> Result<(), NotTaken> {
        let mut invocation = scripts::TOKENS_LEFT.prepare_invoke();
        invocation
            .key(format!("{KEY_PREFIX}{key}"))
            .arg(micros(budget.window))
            .arg(refill_micros(budget, 1));
        let waited = self
            .state
            .script(&invocation)
            .await
            .map_err(NotTaken::Unavailable)?;
        answer(waited)
    }

    fn spend_tokens(&self, key: &str, budget: &TokenBudget, tokens: u64, _now: Instant) {
        let state = self.state.clone();
        let key = format!("{KEY_PREFIX}{key}");
        let refill = refill_micros(budget, tokens);
        let cap = micros(budget.window).saturating_mul(2);
        tokio::spawn(async move {
            let mut invocation = scripts::SPEND_TOKENS.prepare_invoke();
            invocation.key(&key).arg(refill).arg(cap);
            if let Err(error) = state.script::<i64>(&invocation).await {
                tracing::warn!(%error, "tokens spent could not be counted in the shared state");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_are_capped_at_two_windows_and_answers_read() {
        let b = TokenBudget {
            tokens: 1000,
            window: Duration::from_secs(100),
        };
        assert_eq!(refill_micros(&b, 1), 100_000);
        assert_eq!(refill_micros(&b, u64::MAX), 200_000_000);
        assert_eq!(answer(-1), Ok(()));
        assert_eq!(
            answer(20_000_000),
            Err(NotTaken::Wait(Duration::from_secs(20)))
        );
    }
}
