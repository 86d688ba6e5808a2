//! The older HTTP+SSE transport of MCP: the client opens an SSE stream with `GET`, the
//! server names a message endpoint in an `endpoint` event (`/messages?session_id=…`), and
//! the answers to what the client posts there arrive on the stream, the `POST` itself being
//! answered `202 Accepted`. A denial answered on the `POST` would go unread, so the streams
//! open through keyward are registered under their endpoint, and a denied post to an
//! endpoint is answered on its stream as the JSON-RPC errors a server would send.
//!
//! Only the agent that opened a stream may have errors delivered on it, and only for a post
//! to the very endpoint (path and query, which carries the session id) of the same host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::policy::AgentId;

/// Most streams registered at once; past it new streams are not registered (their denials
/// are answered on the `POST`, as for any other client).
pub const MAX_STREAMS: usize = 4096;

/// Events waiting to be sent on one stream; past it a denial is answered on the `POST`.
const QUEUE: usize = 16;

/// Where a stream is registered: its host and its endpoint's path and query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    host: String,
    endpoint: String,
}

/// One registered stream.
struct Open {
    agent: Option<AgentId>,
    events: mpsc::Sender<Bytes>,
    /// Which registration this is, so a replaced one does not remove its successor.
    serial: u64,
}

/// The streams of the HTTP+SSE transport open through keyward.
#[derive(Default)]
pub struct LegacyStreams {
    open: Mutex<(HashMap<Key, Open>, u64)>,
}

/// A registered stream's side: the events to send, and the registration, which ends when
/// dropped.
pub struct Registered {
    pub events: mpsc::Receiver<Bytes>,
    _registration: Registration,
}

/// Removes the stream from the registry when dropped.
struct Registration {
    streams: Arc<LegacyStreams>,
    key: Key,
    serial: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        if open
            .0
            .get(&self.key)
            .is_some_and(|o| o.serial == self.serial)
        {
            open.0.remove(&self.key);
        }
    }
}

impl LegacyStreams {
    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<Key, Open>, u64)> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the stream `agent` opened on `host` whose endpoint event named `endpoint`
    /// (a path with its query); `None` when too many streams are open.
    pub fn register(
        self: &Arc<Self>,
        host: &str,
        endpoint: &str,
        agent: Option<&AgentId>,
    ) -> Option<Registered> {
        let key = Key {
            host: host.to_ascii_lowercase(),
            endpoint: endpoint.to_owned(),
        };
        let mut open = self.lock();
        if open.0.len() >= MAX_STREAMS && !open.0.contains_key(&key) {
            return None;
        }
        open.1 += 1;
        let serial = open.1;
        let (tx, rx) = mpsc::channel(QUEUE);
        let entry = Open {
            agent: agent.cloned(),
            events: tx,
            serial,
        };
        open.0.insert(key.clone(), entry);
        Some(Registered {
            events: rx,
            _registration: Registration {
                streams: self.clone(),
                key,
                serial,
            },
        })
    }

    /// Sends `event` on the stream `agent` opened on `host` for `endpoint`; false when there
    /// is none (or it is not this agent's, or it is closed or full).
    pub fn deliver(
        &self,
        host: &str,
        endpoint: &str,
        agent: Option<&AgentId>,
        event: Bytes,
    ) -> bool {
        let key = Key {
            host: host.to_ascii_lowercase(),
            endpoint: endpoint.to_owned(),
        };
        let open = self.lock();
        let Some(stream) = open.0.get(&key) else {
            return false;
        };
        stream.agent.as_ref() == agent && stream.events.try_send(event).is_ok()
    }

    /// How many streams are registered.
    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The path and query an `endpoint` event names: a relative reference (`/messages?x=1`) or
/// an absolute URL on `host`; `None` for anything else (another host, not a URL).
pub fn endpoint_of(data: &str, host: &str) -> Option<String> {
    let data = data.trim();
    if data.starts_with('/') && !data.starts_with("//") {
        return data
            .parse::<http::uri::PathAndQuery>()
            .ok()
            .map(|p| p.to_string());
    }
    let uri = data.parse::<http::Uri>().ok()?;
    if !uri.host().is_some_and(|h| h.eq_ignore_ascii_case(host)) {
        return None;
    }
    uri.path_and_query().map(ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str) -> AgentId {
        AgentId::new(name.to_owned())
    }

    #[test]
    fn a_denial_reaches_the_stream_of_its_endpoint_and_agent_only() {
        let streams = Arc::new(LegacyStreams::default());
        let ci = agent("ci");
        let mut reg = streams
            .register("MCP.example.com", "/messages?session_id=a", Some(&ci))
            .unwrap();
        let event = Bytes::from_static(b"event: message\ndata: {}\n\n");
        assert!(!streams.deliver(
            "mcp.example.com",
            "/messages?session_id=b",
            Some(&ci),
            event.clone()
        ));
        assert!(!streams.deliver(
            "other.example.com",
            "/messages?session_id=a",
            Some(&ci),
            event.clone()
        ));
        assert!(!streams.deliver(
            "mcp.example.com",
            "/messages?session_id=a",
            Some(&agent("x")),
            event.clone()
        ));
        assert!(!streams.deliver(
            "mcp.example.com",
            "/messages?session_id=a",
            None,
            event.clone()
        ));
        assert!(streams.deliver(
            "mcp.example.com",
            "/messages?session_id=a",
            Some(&ci),
            event.clone()
        ));
        assert_eq!(reg.events.try_recv().unwrap(), event);
        assert!(reg.events.try_recv().is_err(), "one event, once");
        drop(reg);
        assert!(streams.is_empty(), "a closed stream is unregistered");
        assert!(!streams.deliver(
            "mcp.example.com",
            "/messages?session_id=a",
            Some(&ci),
            event
        ));
    }

    #[test]
    fn a_replaced_registration_is_not_removed_by_its_predecessor() {
        let streams = Arc::new(LegacyStreams::default());
        let first = streams.register("h", "/m?s=1", None).unwrap();
        let mut second = streams.register("h", "/m?s=1", None).unwrap();
        drop(first);
        assert!(streams.deliver("h", "/m?s=1", None, Bytes::from_static(b"x")));
        assert_eq!(second.events.try_recv().unwrap(), Bytes::from_static(b"x"));
    }

    #[test]
    fn a_full_queue_or_registry_refuses_rather_than_waits() {
        let streams = Arc::new(LegacyStreams::default());
        let _reg = streams.register("h", "/m", None).unwrap();
        let sent = (0..QUEUE + 5)
            .filter(|_| streams.deliver("h", "/m", None, Bytes::from_static(b"e")))
            .count();
        assert_eq!(sent, QUEUE);
        let many: Vec<_> = (1..MAX_STREAMS)
            .filter_map(|i| streams.register("h", &format!("/m?{i}"), None))
            .collect();
        assert_eq!(many.len(), MAX_STREAMS - 1);
        assert!(streams.register("h", "/m?new", None).is_none());
    }

    #[test]
    fn endpoints_are_relative_or_on_the_same_host() {
        assert_eq!(
            endpoint_of(" /messages?session_id=1 \n", "h").as_deref(),
            Some("/messages?session_id=1")
        );
        assert_eq!(
            endpoint_of("https://H/messages?s=2", "h").as_deref(),
            Some("/messages?s=2")
        );
        assert_eq!(endpoint_of("https://other/messages", "h"), None);
        assert_eq!(endpoint_of("//other/messages", "h"), None);
        assert_eq!(endpoint_of("not a url", "h"), None);
    }
}
