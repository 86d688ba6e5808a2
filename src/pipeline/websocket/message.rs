//! One WebSocket message on its way through the bridge: the upstream's are redacted of every
//! secret keyward knows (text, binary, and the payloads of pings, pongs and closes), the
//! agent's are refused when they carry a secret's value or any placeholder.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::control::rules_in_force::InForce;
use crate::credentials::{ExfilGuard, Exfiltration};
use crate::redact::{RedactionCounts, Scrubber};

/// Most bytes a ping or pong payload may hold (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;
/// Most bytes a close frame's reason may hold: the control-frame limit less the 2-byte code.
const MAX_CLOSE_REASON: usize = MAX_CONTROL - 2;

/// Why the bridge closes both sides before they closed themselves.
#[derive(Debug, thiserror::Error)]
pub enum Violation {
    #[error("exfiltration attempt: a WebSocket message carries the value of a secret")]
    SecretValue,
    #[error("exfiltration attempt: a WebSocket message carries a placeholder: {0}")]
    Placeholder(Exfiltration),
    #[error("a WebSocket message exceeds {max} bytes")]
    TooLarge { max: usize },
    #[error("broken WebSocket framing: {0}")]
    Framing(tungstenite::Error),
    #[error("a redacted text message is no longer UTF-8")]
    RedactedNotUtf8,
    #[error("denied: {0}")]
    Denied(String),
}

impl Violation {
    /// The close code both sides are sent.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Violation::SecretValue | Violation::Placeholder(_) | Violation::Denied(_) => {
                CloseCode::Policy
            }
            Violation::TooLarge { .. } => CloseCode::Size,
            Violation::Framing(tungstenite::Error::Utf8) => CloseCode::Invalid,
            Violation::Framing(_) => CloseCode::Protocol,
            Violation::RedactedNotUtf8 => CloseCode::Error,
        }
    }

    /// What a failed read means: a violation to close both sides for, or `None` when the
    /// side simply went away (closed, reset).
    pub fn of_read(err: tungstenite::Error, max: usize) -> Option<Self> {
        match err {
            tungstenite::Error::Capacity(_) => Some(Violation::TooLarge { max }),
            e @ (tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8) => {
                Some(Violation::Framing(e))
            }
            _ => None,
        }
    }
}

/// What the agent's messages are checked against and the upstream's scrubbed with.
pub struct Inspector {
    /// The rules and credentials in force when the upgrade was allowed; the known secret
    /// values are re-read from it (so a rotated secret is scrubbed too).
    pub in_force: Arc<InForce>,
    /// The host the connection is pinned to: what a placeholder's binding is checked against.
    pub host: String,
    /// Whether the connection is `wss` (a placeholder of a TLS-only secret over `ws` says so).
    pub tls: bool,
}

impl Inspector {
    /// The upstream's message as the agent may see it: every encoding of every known secret
    /// replaced by its placeholder.
    pub async fn to_agent(
        &self,
        msg: Message,
        counts: &mut RedactionCounts,
    ) -> Result<Message, Violation> {
        let scrubber = self.in_force.known_secrets(&[]).await;
        if scrubber.is_empty() {
            return Ok(msg);
        }
        Ok(match msg {
            Message::Text(text) => match scrubber.scrub(text.as_bytes(), counts) {
                Cow::Borrowed(_) => Message::Text(text),
                Cow::Owned(v) => {
                    Message::text(String::from_utf8(v).map_err(|_| Violation::RedactedNotUtf8)?)
                }
            },
            Message::Binary(data) => Message::Binary(scrubbed(&scrubber, data, counts)),
            Message::Ping(data) => Message::Ping(control(&scrubber, data, counts)),
            Message::Pong(data) => Message::Pong(control(&scrubber, data, counts)),
            Message::Close(Some(frame)) => Message::Close(Some(CloseFrame {
                code: frame.code,
                reason: close_reason(&scrubber, frame.reason.as_bytes(), counts).into(),
            })),
            other @ (Message::Close(None) | Message::Frame(_)) => other,
        })
    }

    /// The agent's message, unchanged, unless it carries a known secret's value or a
    /// placeholder (in any encoding): nothing is injected into messages, so a placeholder
    /// there would reach the upstream as it is.
    pub async fn to_upstream(&self, msg: Message) -> Result<Message, Violation> {
        let bytes: &[u8] = match &msg {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(Some(frame)) => frame.reason.as_bytes(),
            Message::Close(None) | Message::Frame(_) => &[],
        };
        if bytes.is_empty() {
            return Ok(msg);
        }
        let known = self.in_force.known_secrets(&[]).await;
        if !known.owners_found(bytes).is_empty() {
            return Err(Violation::SecretValue);
        }
        let guard = ExfilGuard {
            store: &self.in_force.credentials,
            // Messages are checked whole: any placeholder in one is refused.
            segments: &[],
        };
        guard
            .check_message(bytes, &self.host, self.tls)
            .map_err(Violation::Placeholder)?;
        Ok(msg)
    }
}

/// `data` scrubbed, the same bytes when nothing matched.
fn scrubbed(scrubber: &Scrubber, data: Bytes, counts: &mut RedactionCounts) -> Bytes {
    match scrubber.scrub(&data, counts) {
        Cow::Borrowed(_) => data,
        Cow::Owned(v) => Bytes::from(v),
    }
}

/// A ping or pong payload scrubbed; emptied when the placeholders made it too long for a
/// control frame.
fn control(scrubber: &Scrubber, data: Bytes, counts: &mut RedactionCounts) -> Bytes {
    let out = scrubbed(scrubber, data, counts);
    if out.len() > MAX_CONTROL {
        Bytes::new()
    } else {
        out
    }
}

/// A close reason scrubbed; emptied when it no longer fits a close frame or is no longer text.
fn close_reason(scrubber: &Scrubber, reason: &[u8], counts: &mut RedactionCounts) -> String {
    let out = scrubber.scrub(reason, counts);
    match std::str::from_utf8(&out) {
        Ok(text) if text.len() <= MAX_CLOSE_REASON => text.to_owned(),
        _ => String::new(),
    }
}
