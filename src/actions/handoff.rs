//! What keyward's MCP listener hands its own proxy port with an action's request: the
//! action's name and its input as recorded, under a per-process token. The pipeline takes
//! both headers off before anything else sees the request, trusts them only with the token
//! (compared in constant time), and so enforces the action's own terms and records its input;
//! an agent can forge neither, nor learn anything by sending the headers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::redact::{Scrubber, scrub_json_strings};

/// The header that names the action of a request sent by keyward's catalogue.
pub const ACTION_HEADER: &str = "keyward-action";
/// The header carrying the per-process token that proves the request came from keyward.
pub const ACTION_TOKEN_HEADER: &str = "keyward-action-token";
/// The header naming the call whose recorded input the pipeline picks up.
pub const ACTION_CALL_HEADER: &str = "keyward-action-call";

/// Most calls in flight at once; a call beyond them is refused rather than recorded
/// without its input.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Largest input (serialised) recorded in the audit entry and shown to an approver; a
/// larger one is recorded as a note of its size.
pub const INPUT_RECORDED: usize = 8 * 1024;

/// A per-process random secret: a request carrying it came from keyward's own catalogue.
pub struct ActionToken(String);

impl ActionToken {
    /// 256 fresh random bits, in hex.
    pub fn random() -> Self {
        let bits: [u8; 32] = rand::random();
        ActionToken(bits.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Whether `value` is this token (constant time).
    pub fn matches(&self, value: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.as_bytes().ct_eq(value))
    }

    fn header(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&self.0).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl std::fmt::Debug for ActionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An action call as the pipeline receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct HandedCall {
    /// The action's name.
    pub name: String,
    /// Its input as recorded: secret values replaced by their placeholders, or a note of its
    /// size when too large ([`INPUT_RECORDED`]).
    pub input: Option<Arc<Value>>,
}

/// The token and the inputs of the calls in flight, shared by the catalogue and the pipeline.
pub struct Handoff {
    token: ActionToken,
    /// Call id → the call, from [`Handoff::hand`] until the pipeline takes it or the call ends.
    calls: Mutex<HashMap<u64, HandedCall>>,
    next: AtomicU64,
}

/// Why a call could not be handed over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    #[error("too many action calls in flight (at most {MAX_IN_FLIGHT})")]
    Busy,
    #[error("the action name {0:?} cannot be sent in a header")]
    Name(String),
}

impl Default for Handoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Handoff {
    /// A fresh token and no calls.
    pub fn new() -> Self {
        Self {
            token: ActionToken::random(),
            calls: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        }
    }

    /// Registers a call and marks `headers` with it; the call is forgotten when the ticket is
    /// dropped (the request answered, or never sent).
    pub fn hand(
        &self,
        call: HandedCall,
        headers: &mut HeaderMap,
    ) -> Result<Ticket<'_>, HandoffError> {
        let name =
            HeaderValue::from_str(&call.name).map_err(|_| HandoffError::Name(call.name.clone()))?;
        let token = self.token.header().ok_or(HandoffError::Busy)?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        {
            let Ok(mut calls) = self.calls.lock() else {
                return Err(HandoffError::Busy);
            };
            if calls.len() >= MAX_IN_FLIGHT {
                return Err(HandoffError::Busy);
            }
            calls.insert(id, call);
        }
        headers.insert(ACTION_HEADER, name);
        headers.insert(ACTION_TOKEN_HEADER, token);
        headers.insert(ACTION_CALL_HEADER, HeaderValue::from(id));
        Ok(Ticket { handoff: self, id })
    }

    /// Removes the three headers; the call when the token is keyward's own. A request with the
    /// right token whose call is gone still names its action (its input is then unknown).
    pub fn take(&self, headers: &mut HeaderMap) -> Option<HandedCall> {
        // Almost every request carries none of them: one pass over its names, instead of a
        // hashed removal per header and copy.
        if !headers.keys().any(|name| is_handoff_header(name.as_str())) {
            return None;
        }
        let name = headers.remove(ACTION_HEADER);
        let proof = headers.remove(ACTION_TOKEN_HEADER);
        let call = headers.remove(ACTION_CALL_HEADER);
        // Several copies of any of them: not keyward's own client.
        while headers.remove(ACTION_HEADER).is_some() {}
        while headers.remove(ACTION_TOKEN_HEADER).is_some() {}
        while headers.remove(ACTION_CALL_HEADER).is_some() {}
        if !self.token.matches(proof?.as_bytes()) {
            return None;
        }
        let name = name?.to_str().ok()?.to_owned();
        let id = call.and_then(|c| c.to_str().ok()?.parse::<u64>().ok());
        let handed = id.and_then(|id| self.calls.lock().ok()?.remove(&id));
        Some(match handed {
            Some(call) if call.name == name => call,
            _ => HandedCall { name, input: None },
        })
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.calls.lock().map_or(0, |c| c.len())
    }
}

/// Whether `name` (lowercase, as a [`HeaderMap`] keeps it) is one of the hand-off headers.
fn is_handoff_header(name: &str) -> bool {
    name == ACTION_HEADER || name == ACTION_TOKEN_HEADER || name == ACTION_CALL_HEADER
}

/// A call in flight; dropping it forgets the call.
pub struct Ticket<'a> {
    handoff: &'a Handoff,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.handoff.calls.lock() {
            calls.remove(&self.id);
        }
    }
}

/// `input` as the audit entry and the approver see it: every string (and object key) with
/// the secret values `known` finds replaced by their placeholders; a note of its size when
/// larger than [`INPUT_RECORDED`].
pub fn recorded_input(input: &Value, known: &Scrubber) -> Value {
    let scrubbed = scrub_json_strings(input, known);
    let size = serde_json::to_vec(&scrubbed).map_or(usize::MAX, |v| v.len());
    if size > INPUT_RECORDED {
        Value::String(format!("({size} bytes of input, too large to record)"))
    } else {
        scrubbed
    }
}

#[cfg(test)]
mod tests;
