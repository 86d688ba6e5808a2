//! Token budgets per rule (`limits: { tokens: 2M/day }`): a bucket of the budget's tokens
//! that refills continuously over the window, drained by the usage responses report. The
//! state of a key is one instant: when every token spent so far has refilled.

use std::time::Duration;

use tokio::time::Instant;

use crate::policy::extras::TokenBudget;

/// How long `tokens` take to refill under `budget`, in nanoseconds.
fn refill_nanos(budget: &TokenBudget, tokens: u64) -> u128 {
    budget.window.as_nanos() * u128::from(tokens) / u128::from(budget.tokens.max(1))
}

fn duration(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Whether a request may start: `Err(wait)` once the whole budget is spent, `wait` being
/// the time until at least one token has refilled.
pub fn check(
    refilled_at: Option<Instant>,
    budget: &TokenBudget,
    now: Instant,
) -> Result<(), Duration> {
    let Some(at) = refilled_at.filter(|at| *at > now) else {
        return Ok(());
    };
    let ahead = at - now;
    if ahead < budget.window {
        return Ok(());
    }
    Err(ahead - budget.window + duration(refill_nanos(budget, 1)))
}

/// The key's new state after `tokens` are spent. Usage beyond the budget is carried over,
/// up to one further window (a single huge answer blocks the key for at most two windows).
pub fn spend(
    refilled_at: Option<Instant>,
    budget: &TokenBudget,
    tokens: u64,
    now: Instant,
) -> Instant {
    let start = refilled_at.filter(|at| *at > now).unwrap_or(now);
    let ahead = (start - now).as_nanos() + refill_nanos(budget, tokens);
    let cap = budget.window.as_nanos() * 2;
    now + duration(ahead.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(tokens: u64, secs: u64) -> TokenBudget {
        TokenBudget {
            tokens,
            window: Duration::from_secs(secs),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_is_spent_by_usage_and_refills_over_the_window() {
        let b = budget(1000, 100);
        let now = Instant::now();
        assert!(check(None, &b, now).is_ok());
        let at = spend(None, &b, 600, now);
        assert!(check(Some(at), &b, now).is_ok(), "400 tokens left");
        let at = spend(Some(at), &b, 400, now);
        // The whole budget is spent: one token refills in a tenth of a second.
        assert_eq!(check(Some(at), &b, now), Err(Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(check(Some(at), &b, Instant::now()).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn overspending_waits_for_the_excess_to_refill() {
        let b = budget(1000, 100);
        let now = Instant::now();
        let at = spend(None, &b, 1500, now);
        assert_eq!(check(Some(at), &b, now), Err(Duration::from_millis(50_100)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_answer_blocks_for_at_most_two_windows() {
        let b = budget(10, 60);
        let now = Instant::now();
        let at = spend(None, &b, u64::MAX, now);
        assert_eq!(at - now, Duration::from_secs(120));
        let wait = check(Some(at), &b, now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(66));
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_in_the_past_is_a_full_budget() {
        let b = budget(1000, 10);
        let at = spend(None, &b, 1000, Instant::now());
        tokio::time::advance(Duration::from_secs(11)).await;
        let now = Instant::now();
        assert!(check(Some(at), &b, now).is_ok());
        assert_eq!(spend(Some(at), &b, 100, now) - now, Duration::from_secs(1));
    }
}
