//! The kill switch: an operator pauses one agent (or every agent) through the admin API or
//! `keyward agents pause`. While paused, the agent's new requests and CONNECTs are refused
//! with 403 and the pause's reason; on pause, what the agent has open ends at once: its
//! tunnels and connections close, its held requests are denied, its upgraded streams
//! close. Pauses live in this process's memory; with a shared state (Redis) they are also
//! kept there and announced to every replica
//! ([`shared_state::pauses`](crate::control::shared_state::pauses)).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::policy::AgentId;

/// Who is paused: one agent, or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Agent(AgentId),
    All,
}

/// A pause in force, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PauseRecord {
    /// The admin token's name that paused.
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds since the Unix epoch when the pause began.
    pub since: u64,
}

/// The pauses in force: every agent paused on its own, and the pause of all agents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PauseList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<PauseRecord>,
    pub agents: BTreeMap<String, PauseRecord>,
}

/// Why an agent's request is refused: the denial the agent reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} paused by {by}{}", who(agent.as_ref()), reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
pub struct Paused {
    /// The agent refused (`None`: agents do not authenticate).
    pub agent: Option<AgentId>,
    pub by: String,
    pub reason: Option<String>,
}

fn who(agent: Option<&AgentId>) -> String {
    match agent {
        Some(agent) => format!("agent {agent} is"),
        None => "all agents are".to_owned(),
    }
}

/// A pause or resume made through the admin API, for the audit trail.
#[derive(Debug)]
pub struct PauseEvent<'a> {
    /// The admin API's caller.
    pub caller: SocketAddr,
    /// The agent paused or resumed (`None`: every agent).
    pub agent: Option<&'a AgentId>,
    /// The admin API path called.
    pub path: &'a str,
    /// A pause (true) or a resume.
    pub pause: bool,
    /// Who paused whom and why, as the entry says it.
    pub reason: String,
}

/// Writes the audit entry of a [`PauseEvent`] (given by whoever owns the record writer).
pub type RecordPause = Box<dyn Fn(PauseEvent<'_>) + Send + Sync>;

/// One switch: cancelled when its pause begins, with the pause's reason set first.
#[derive(Debug, Clone, Default)]
struct Switch {
    token: CancellationToken,
    why: Arc<OnceLock<Paused>>,
}

impl Switch {
    fn throw(&self, paused: Paused) {
        let _ = self.why.set(paused);
        self.token.cancel();
    }
}

#[derive(Debug, Default)]
struct Inner {
    list: PauseList,
    /// Thrown when every agent is paused; replaced by a fresh one then.
    all: Switch,
    /// Thrown when that agent is paused; replaced by a fresh one then.
    agents: HashMap<AgentId, Switch>,
}

/// The pauses of this process (cheap to share behind an `Arc`).
#[derive(Debug, Default)]
pub struct Pauses {
    inner: Mutex<Inner>,
}

/// What a connection or stream of one agent watches: it ends when its agent (or every
/// agent) is paused.
#[derive(Debug, Clone, Default)]
pub struct PauseWatch {
    agent: Option<Switch>,
    all: Switch,
}

impl PauseWatch {
    /// Completes once the pause begins.
    pub async fn paused(&self) {
        match &self.agent {
            Some(one) => tokio::select! {
                () = one.token.cancelled() => {}
                () = self.all.token.cancelled() => {}
            },
            None => self.all.token.cancelled().await,
        }
    }

    /// Completes once the pause begins, with its reason.
    pub async fn ended(&self) -> Paused {
        self.paused().await;
        self.reason().unwrap_or_else(|| Paused {
            agent: None,
            by: "keyward".into(),
            reason: None,
        })
    }

    /// The pause that ended it, once one did.
    pub fn reason(&self) -> Option<Paused> {
        let one = self.agent.as_ref().and_then(|s| s.why.get());
        one.or_else(|| self.all.why.get()).cloned()
    }
}

impl Pauses {
    /// Refuses the requests of a paused agent (all requests, while all agents are paused).
    /// A poisoned lock refuses too: fail closed.
    pub fn check(&self, agent: Option<&AgentId>) -> Result<(), Paused> {
        let Ok(inner) = self.inner.lock() else {
            return Err(Paused {
                agent: agent.cloned(),
                by: "keyward".into(),
                reason: Some("the pause list is unavailable".into()),
            });
        };
        let record = agent
            .and_then(|a| inner.list.agents.get(a.as_str()))
            .or(inner.list.all.as_ref());
        match record {
            Some(r) => Err(Paused {
                agent: agent.cloned(),
                by: r.by.clone(),
                reason: r.reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// What a connection of `agent` watches to end when it is paused.
    pub fn watch(&self, agent: Option<&AgentId>) -> PauseWatch {
        let Ok(mut inner) = self.inner.lock() else {
            return PauseWatch::default();
        };
        let all = inner.all.clone();
        let agent = agent.map(|a| inner.agents.entry(a.clone()).or_default().clone());
        PauseWatch { agent, all }
    }

    /// Pauses `scope`, ending every watch on it; returns the denial its agents get.
    pub fn pause(&self, scope: &Scope, by: &str, reason: Option<String>) -> Paused {
        let record = PauseRecord {
            by: by.to_owned(),
            reason: reason.clone(),
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let agent = match scope {
            Scope::Agent(a) => Some(a.clone()),
            Scope::All => None,
        };
        let paused = Paused {
            agent,
            by: by.to_owned(),
            reason,
        };
        let Ok(mut inner) = self.inner.lock() else {
            return paused;
        };
        match scope {
            Scope::Agent(a) => {
                inner.list.agents.insert(a.to_string(), record);
                if let Some(old) = inner.agents.insert(a.clone(), Switch::default()) {
                    old.throw(paused.clone());
                }
            }
            Scope::All => {
                inner.list.all = Some(record);
                let old = std::mem::take(&mut inner.all);
                // Each connection's own agent is named in what it records.
                old.throw(paused.clone());
            }
        }
        paused
    }

    /// Ends the pause of `scope`; false when it was not paused. Resuming all agents leaves
    /// agents paused on their own paused.
    pub fn resume(&self, scope: &Scope) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        match scope {
            Scope::Agent(a) => inner.list.agents.remove(a.as_str()).is_some(),
            Scope::All => inner.list.all.take().is_some(),
        }
    }

    /// Whether `scope` is paused by `by` for `reason` already (a replica's announcement of
    /// a pause this process made or took before).
    pub fn is_paused_by(&self, scope: &Scope, by: &str, reason: Option<&str>) -> bool {
        let list = self.list();
        let record = match scope {
            Scope::Agent(a) => list.agents.get(a.as_str()),
            Scope::All => list.all.as_ref(),
        };
        record.is_some_and(|r| r.by == by && r.reason.as_deref() == reason)
    }

    /// The pauses in force.
    pub fn list(&self) -> PauseList {
        self.inner
            .lock()
            .map(|i| i.list.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pausing_an_agent_ends_its_watches_and_refuses_it_until_resumed() {
        let pauses = Pauses::default();
        let bot = AgentId::new("triage-bot");
        let other = AgentId::new("other");
        let watch = pauses.watch(Some(&bot));
        let other_watch = pauses.watch(Some(&other));
        pauses.pause(&Scope::Agent(bot.clone()), "alice", Some("leak".into()));
        watch.paused().await;
        let why = watch.reason().map(|p| p.to_string());
        assert_eq!(
            why.as_deref(),
            Some("agent triage-bot is paused by alice: leak")
        );
        assert!(other_watch.reason().is_none());
        assert!(pauses.check(Some(&bot)).is_err());
        assert!(pauses.check(Some(&other)).is_ok());
        assert!(pauses.resume(&Scope::Agent(bot.clone())));
        assert!(pauses.check(Some(&bot)).is_ok());
        assert!(pauses.watch(Some(&bot)).reason().is_none());
    }

    #[tokio::test]
    async fn pausing_all_ends_every_watch() {
        let pauses = Pauses::default();
        let bot = AgentId::new("triage-bot");
        let watch = pauses.watch(Some(&bot));
        let anonymous = pauses.watch(None);
        pauses.pause(&Scope::All, "alice", None);
        watch.paused().await;
        anonymous.paused().await;
        assert!(pauses.check(None).is_err());
        assert!(pauses.check(Some(&bot)).is_err());
        assert!(pauses.resume(&Scope::All));
        assert!(pauses.check(Some(&bot)).is_ok());
    }
}
