//! LLM token usage: which responses are read for the usage they report (a successful answer
//! under a rule with a token budget; otherwise a successful JSON or SSE answer to a path
//! ending in `/chat/completions`, `/responses` or `/messages`), where the counts go (the
//! exchange's audit entry and metrics, through its [`UsageSlot`]), and the budget they spend.

mod body;
pub mod report;

use std::sync::{Arc, Mutex};

use http::StatusCode;

use crate::body::ProxyBody;
use crate::content_coding::{self, Decoder};
use crate::control::rate_limits::{CounterStore, Counters, budget_key};
use crate::pipeline::exchange::RequestId;
use crate::policy::extras::TokenBudget;
use crate::policy::{AgentId, Rule};
use body::UsageBody;
use report::{Framing, Reader, Unread, Usage};

/// Path endings of the OpenAI and Anthropic APIs whose answers report usage.
const LLM_PATHS: [&str; 3] = ["/chat/completions", "/responses", "/messages"];

/// What the exchange's record reads: the usage seen so far, and why it could not be read.
pub type UsageSlot = Arc<Mutex<UsageRecord>>;

/// The usage part of an exchange's record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// The counts the response reported (while it streams: so far).
    pub usage: Option<Usage>,
    /// Set when a response under a token budget reported no readable usage.
    pub warning: Option<String>,
}

/// A rule's token budget for one agent, and where it is kept.
struct Spend {
    counters: Arc<Counters>,
    key: String,
    budget: TokenBudget,
}

/// Whether and how an exchange's response is read for usage.
pub struct Meter {
    /// The deciding rule's budget, when it has one.
    spend: Option<Spend>,
    /// The request's path is one of the LLM APIs'.
    llm_path: bool,
    slot: UsageSlot,
    /// The exchange's id, for the log line of a usage not read.
    id: RequestId,
}

impl Meter {
    pub fn new(
        counters: &Arc<Counters>,
        rule: Option<&Rule>,
        agent: Option<&AgentId>,
        path: &str,
        slot: UsageSlot,
        id: RequestId,
    ) -> Self {
        let spend = rule.and_then(|rule| {
            let limits = rule.limits()?;
            Some(Spend {
                counters: counters.clone(),
                key: budget_key(rule.id(), limits.per, agent),
                budget: limits.tokens?,
            })
        });
        let path = path.trim_end_matches('/');
        Self {
            spend,
            llm_path: LLM_PATHS.iter().any(|end| path.ends_with(end)),
            slot,
            id,
        }
    }

    /// Whether the body will be read (and so must arrive decoded): a successful answer
    /// with a body.
    pub fn reads(&self, status: StatusCode) -> bool {
        status.is_success()
            && status != StatusCode::NO_CONTENT
            && (self.spend.is_some() || self.llm_path)
    }

    /// Whether keyward can decode the answer's `Content-Encoding` to read it. Reading
    /// never breaks an answer: one it cannot decode passes on unread (under a budget, with
    /// the warning), where forcing the decoding would refuse it.
    pub fn decodable(&self, headers: &http::HeaderMap) -> bool {
        let header = content_coding::header_list(headers);
        let decodable = content_coding::parse(header.as_deref())
            .is_ok_and(|codings| codings.is_empty() || Decoder::new(&codings).is_ok());
        if !decodable && self.spend.is_some() {
            self.record(None, Err(Unread::Coding));
        }
        decodable
    }

    /// `body`, read for usage on its way when the response is one that reports it. A
    /// successful response under a budget that cannot carry usage is recorded as such.
    pub fn observe(self, status: StatusCode, content_type: &str, body: ProxyBody) -> ProxyBody {
        if !self.reads(status) {
            return body;
        }
        let framing = if content_type.starts_with("text/event-stream") {
            Framing::Sse
        } else if content_type.contains("json") {
            Framing::Json
        } else {
            if self.spend.is_some() {
                self.record(None, Err(Unread::NotReadable));
            }
            return body;
        };
        crate::body::stream(UsageBody::new(body, self, Reader::new(framing)))
    }

    /// Notes the usage seen so far, so that an entry written now carries it.
    fn progress(&self, usage: Option<Usage>) {
        if let (Some(usage), Ok(mut record)) = (usage, self.slot.lock()) {
            record.usage = Some(usage);
        }
    }

    /// The end of the body: the usage recorded and spent from the budget, or the warning.
    /// Usage seen before reading failed (an oversized event later in a stream) is still
    /// spent: a budget errs on the side of counting.
    fn record(&self, seen: Option<Usage>, read: Result<Usage, Unread>) {
        let usage = read.as_ref().ok().copied().or(seen);
        if let Some(usage) = usage {
            self.progress(Some(usage));
            if let Some(spend) = &self.spend {
                spend.counters.spend_tokens(
                    &spend.key,
                    &spend.budget,
                    usage.total(),
                    tokio::time::Instant::now(),
                );
            }
        }
        if let (Err(why), true) = (read, self.spend.is_some()) {
            tracing::warn!(request_id = self.id.as_str(), reason = %why, "usage of a response under a token budget not read");
            if let Ok(mut record) = self.slot.lock() {
                record.warning = Some(why.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests;
