//! An action's own terms on the request it became, on top of the rules' decision: the rules
//! decide first (their deny stands), then the action's `decision: deny` refuses, its
//! `decision: approve` holds a request the rules allow (one hold when both ask for one: the
//! rule's), its `limits:` take from a counter of the action's own, and its `inject:` adds the
//! secrets whose placeholders the request may carry (each still within its declaration).

use crate::actions::Action;
use crate::actions::handoff::HandedCall;
use crate::control::rate_limits::{CounterStore, Counters, NotTaken, Rate};
use crate::pipeline::refusal::{Denial, Limited, Refusal, Unavailable};
use crate::policy::extras::{Approval, LimitScope};
use crate::policy::{AgentId, Decision, Rule, RuleId, RuleSet, SecretName, Verdict};

/// The action a request was sent for, as the rules in force declare it.
#[derive(Clone, Copy)]
pub struct Terms<'r> {
    action: &'r Action,
}

/// The terms of the exchange's action, if it has one. An action the rules in force no longer
/// declare (reloaded away while the call was on its way) is refused: its terms are unknown.
pub fn of<'r>(
    rules: &'r RuleSet,
    call: Option<&HandedCall>,
    decision: &Decision,
) -> Result<Option<Terms<'r>>, Refusal> {
    let Some(call) = call else {
        return Ok(None);
    };
    let Some(action) = rules.actions().iter().find(|a| a.name() == call.name) else {
        return Err(Refusal::Denied {
            rule: decision.rule.clone(),
            reason: Denial::Policy(format!(
                "the action {} is no longer in the rules in force",
                call.name
            )),
        });
    };
    if action.verdict() == Some(Verdict::Deny) {
        return Err(Refusal::Denied {
            rule: decision.rule.clone(),
            reason: Denial::Policy(format!("the action {}'s decision is deny", call.name)),
        });
    }
    Ok(Some(Terms { action }))
}

/// Whether the request waits for a person, and with whose timeout and webhook: the rule's
/// when the rules hold it, else the action's when it asks for approval.
pub fn hold<'a>(
    decision: &Decision,
    rule: Option<&'a Rule>,
    terms: Option<Terms<'a>>,
) -> Option<Option<&'a Approval>> {
    if decision.verdict == Verdict::Approve {
        return Some(rule.and_then(Rule::approval));
    }
    let action = terms?.action;
    (action.verdict() == Some(Verdict::Approve)).then(|| action.approval())
}

impl Terms<'_> {
    /// Takes one request from the action's own rate limit, when it has one.
    pub async fn rate_limit(
        &self,
        counters: &Counters,
        decision: &Decision,
        agent: Option<&AgentId>,
    ) -> Result<(), Refusal> {
        let Some(rate) = self
            .action
            .limits()
            .and_then(|l| Some((l.per, l.rate.as_ref()?)))
        else {
            return Ok(());
        };
        let (per, rate) = rate;
        let key = counter_key(self.action.name(), per, agent);
        let taken = counters
            .acquire(&key, &Rate::of(rate), tokio::time::Instant::now())
            .await;
        taken.map_err(|not_taken| match not_taken {
            NotTaken::Wait(retry_after) => Refusal::RateLimited {
                rule: decision
                    .rule
                    .clone()
                    .unwrap_or_else(|| RuleId::new(format!("action:{}", self.action.name()))),
                retry_after,
                limit: Limited::ActionRate,
            },
            NotTaken::Unavailable(cause) => Refusal::Unavailable(Unavailable::SharedState {
                what: "rate-limit counters",
                cause,
            }),
        })
    }

    /// Adds the action's `inject:` secrets to those the request may carry.
    pub fn add_inject(&self, inject: &mut Vec<SecretName>) {
        for name in self.action.inject() {
            if !inject.contains(name) {
                inject.push(name.clone());
            }
        }
    }
}

/// The counter key of an action's own limit: apart from every rule's.
fn counter_key(action: &str, scope: LimitScope, agent: Option<&AgentId>) -> String {
    match scope {
        LimitScope::Rule => format!("action:{action}"),
        LimitScope::Agent => format!(
            "action:{action}|agent:{}",
            agent.map(AgentId::as_str).unwrap_or("-")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actions_counters_are_its_own_per_scope() {
        let bot = AgentId::new("bot");
        assert_eq!(
            counter_key("a.b", LimitScope::Agent, Some(&bot)),
            "action:a.b|agent:bot"
        );
        assert_eq!(
            counter_key("a.b", LimitScope::Rule, Some(&bot)),
            "action:a.b"
        );
        assert_eq!(
            counter_key("a.b", LimitScope::Agent, None),
            "action:a.b|agent:-"
        );
    }
}
