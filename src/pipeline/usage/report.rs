//! The token usage LLM providers report, read incrementally from a response body: a JSON
//! answer's `usage` object (OpenAI chat completions and Responses, Anthropic messages), or
//! the SSE events that carry one (OpenAI's final chat chunk, the Responses API's
//! `response.completed`, Anthropic's `message_start` and `message_delta`). Memory is bounded:
//! a JSON answer is kept up to [`JSON_CAP`], an SSE event up to [`EVENT_CAP`].

use serde_json::Value;

use crate::pipeline::sse::{self, Scan};

/// Largest JSON answer read for its usage; a larger one passes on unread.
pub const JSON_CAP: usize = 4 * 1024 * 1024;
/// Largest SSE event read; a larger one ends the reading (the stream passes on).
pub const EVENT_CAP: usize = 1024 * 1024;

/// Tokens one exchange used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens: the prompt, plus Anthropic's cache writes and reads.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
}

impl Usage {
    /// What a budget is spent by.
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// Why a response's usage could not be read: the audit entry's `usage_warning`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unread {
    #[error("response is not JSON")]
    NotJson,
    #[error("response reported no usage")]
    NoUsage,
    #[error("response larger than {0} bytes, the most read for its usage")]
    TooLarge(usize),
    #[error("SSE event larger than {0} bytes, the most read for usage")]
    EventTooLarge(usize),
    #[error("response is neither JSON nor an event stream")]
    NotReadable,
    #[error("response ended early")]
    Cut,
    #[error("response is in a content coding keyward cannot decode")]
    Coding,
}

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Json,
    Sse,
}

/// Reads usage from a body given in chunks of any size.
#[derive(Debug)]
pub struct Reader {
    framing: Framing,
    /// The JSON answer so far, or the SSE events not yet complete.
    buf: Vec<u8>,
    /// Where the SSE scan resumes in `buf`.
    scanned: usize,
    /// The usage seen so far (SSE counts are cumulative: the largest is kept).
    seen: Partial,
    /// Set when reading stopped; the body still passes on.
    failed: Option<Unread>,
}

/// Counts seen so far; a field not reported yet is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Partial {
    input: Option<u64>,
    output: Option<u64>,
}

impl Partial {
    fn merge(&mut self, other: Partial) {
        self.input = self.input.max(other.input);
        self.output = self.output.max(other.output);
    }

    fn usage(self) -> Option<Usage> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        Some(Usage {
            input: self.input.unwrap_or(0),
            output: self.output.unwrap_or(0),
        })
    }
}

impl Reader {
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            buf: Vec::new(),
            scanned: 0,
            seen: Partial::default(),
            failed: None,
        }
    }

    /// The usage seen so far.
    pub fn usage(&self) -> Option<Usage> {
        self.seen.usage()
    }

    /// Takes the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        match self.framing {
            Framing::Json if self.buf.len() + chunk.len() > JSON_CAP => {
                self.fail(Unread::TooLarge(JSON_CAP));
            }
            Framing::Json => self.buf.extend_from_slice(chunk),
            Framing::Sse => {
                self.buf.extend_from_slice(chunk);
                self.events(false);
                if self.buf.len() > EVENT_CAP {
                    self.fail(Unread::EventTooLarge(EVENT_CAP));
                }
            }
        }
    }

    /// The body ended (`complete`) or was cut off: the usage, or why there is none.
    pub fn finish(&mut self, complete: bool) -> Result<Usage, Unread> {
        if self.failed.is_none() {
            match self.framing {
                Framing::Json if complete => self.json(),
                Framing::Json => self.fail(Unread::Cut),
                Framing::Sse => self.events(true),
            }
        }
        match (self.seen.usage(), &self.failed) {
            (Some(usage), None) => Ok(usage),
            (_, Some(why)) => Err(why.clone()),
            (None, None) => Err(Unread::NoUsage),
        }
    }

    fn fail(&mut self, why: Unread) {
        self.failed = Some(why);
        self.buf = Vec::new();
    }

    fn json(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        match serde_json::from_slice::<Value>(&buf) {
            Ok(value) => match value.get("usage").map(usage_of) {
                Some(Some(found)) => self.seen.merge(found),
                _ => self.fail(Unread::NoUsage),
            },
            Err(_) => self.fail(Unread::NotJson),
        }
    }

    /// Reads every complete event in `buf` (at the end, the rest too).
    fn events(&mut self, last: bool) {
        loop {
            match sse::scan(&self.buf, self.scanned, last) {
                Scan::Event(n) => {
                    let event: Vec<u8> = self.buf.drain(..n).collect();
                    self.scanned = 0;
                    if let Some(found) = event_usage(&event) {
                        self.seen.merge(found);
                    }
                }
                Scan::More(from) => {
                    self.scanned = from;
                    return;
                }
            }
        }
    }
}

/// The usage one SSE event carries: `usage` (OpenAI's final chat chunk, Anthropic's
/// `message_delta`), `response.usage` (`response.completed`) or `message.usage`
/// (`message_start`). Events without the word are not parsed.
fn event_usage(event: &[u8]) -> Option<Partial> {
    let data = sse::data(event)?;
    if !data.contains("usage") {
        return None;
    }
    let value: Value = serde_json::from_str(&data).ok()?;
    [
        value.get("usage"),
        value.get("response").and_then(|r| r.get("usage")),
        value.get("message").and_then(|m| m.get("usage")),
    ]
    .into_iter()
    .flatten()
    .find_map(usage_of)
}

/// The counts of a usage object in any of the known shapes; `None` when it has none.
fn usage_of(usage: &Value) -> Option<Partial> {
    let count = |name: &str| usage.get(name).and_then(Value::as_u64);
    let prompt = count("prompt_tokens").or_else(|| count("input_tokens"));
    let cache: Vec<u64> = ["cache_creation_input_tokens", "cache_read_input_tokens"]
        .into_iter()
        .filter_map(count)
        .collect();
    let input = match (prompt, cache.is_empty()) {
        (None, true) => None,
        (prompt, _) => Some(
            cache
                .iter()
                .fold(prompt.unwrap_or(0), |sum, n| sum.saturating_add(*n)),
        ),
    };
    let output = count("completion_tokens").or_else(|| count("output_tokens"));
    let partial = Partial { input, output };
    partial.usage().map(|_| partial)
}

#[cfg(test)]
mod tests;
