//! WebSocket bridging: after the upstream answers 101, both upgraded streams are framed as
//! WebSocket (RFC 6455) and relayed a whole message at a time (fragments reassembled first):
//! the upstream's messages redacted of every secret keyward knows, the agent's refused when
//! they carry a secret or a placeholder (close 1008 to both sides, recorded, nothing of the
//! message forwarded); a message over [`MAX_MESSAGE`] closes both sides with 1009. The bridge
//! ends when both sides have closed, after `idle` of silence, when its agent is paused
//! (close 1008, recorded), or when the shutdown grace period is over. Only `websocket`
//! upgrades reach it: normalisation drops any other. On a URL `mcp:` rules select, messages
//! are also decided as JSON-RPC (`mcp`).

mod mcp;
mod message;

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::audit::Decision as AuditDecision;
use crate::control::rules_in_force::InForce;
use crate::pipeline::exchange::{ConnInfo, Exchange, RequestId, Scheme};
use crate::pipeline::record::{Place, Recorder, Refused};
use crate::redact::RedactionCounts;
use crate::server::Lifecycle;
use mcp::FromAgent;
pub use mcp::McpMessages;
use message::{Inspector, Violation};

/// The largest message relayed, in bytes: a message is held whole until it is checked, so
/// this bounds the memory one direction of a bridge can take; 16 MiB is far above what
/// agents' WebSocket APIs send in one message.
const MAX_MESSAGE: usize = 16 << 20;
/// The largest frame: a frame is never bigger than the message it belongs to.
const MAX_FRAME: usize = MAX_MESSAGE;
/// How long a closing bridge waits for each side to answer its close frame before the
/// connection is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// One side of the bridge, framed.
type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// What a bridge needs besides the two upgraded connections.
pub struct Bridge<'a> {
    /// Where the bridge task is tracked, and when it must close.
    pub lifecycle: &'a Lifecycle,
    /// How long the bridged connection may stay silent.
    pub idle: Duration,
    /// The rules and credentials the upgrade was allowed under.
    pub in_force: Arc<InForce>,
    /// Where a refused message is recorded.
    pub recorder: Arc<Recorder>,
    /// The JSON-RPC reading of the messages, when `mcp:` rules select the upgrade's URL.
    pub mcp: Option<McpMessages>,
}

/// The side a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Agent,
    Upstream,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Agent => "agent",
            Side::Upstream => "upstream",
        }
    }
}

/// How a bridge ended.
enum End {
    /// Both sides closed or went away.
    Closed,
    /// Nothing crossed for the idle timeout.
    Idle,
    /// The shutdown grace period is over.
    Shutdown,
    /// The agent (or every agent) was paused.
    Paused(crate::control::pause::Paused),
    /// A message from `Side` broke a rule: both sides are closed with its code.
    Violation(Side, Violation),
}

/// The upgrade request a bridge's records name.
struct Origin {
    /// The exchange that was upgraded: its id is the id of the bridge's records.
    id: RequestId,
    conn: Arc<ConnInfo>,
    /// The upgrade request's method and path.
    method: String,
    path: String,
}

/// Spawns the bridge between the agent's and the upstream's upgraded connections.
pub fn bridge(bridge: Bridge<'_>, exchange: &Exchange, client: OnUpgrade, upstream: OnUpgrade) {
    let origin = Origin {
        id: exchange.id.clone(),
        conn: exchange.conn.clone(),
        method: exchange.method.as_str().to_owned(),
        path: exchange.path.clone(),
    };
    let inspector = Inspector {
        in_force: bridge.in_force,
        host: origin.conn.target.host.to_string(),
        tls: origin.conn.scheme == Scheme::Https,
    };
    let recorder = bridge.recorder;
    let mcp = bridge.mcp;
    let idle = bridge.idle;
    let stop_now = bridge.lifecycle.stop_now().clone();
    let pause = origin.conn.pause.clone();
    bridge.lifecycle.tasks().spawn(async move {
        let target = &origin.conn.target;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(err) => {
                tracing::debug!(%target, error = %err, "upgrade did not complete");
                return;
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_FRAME));
        let agent = framed(client, Role::Server, config).await;
        let upstream = framed(upstream, Role::Client, config).await;
        let (agent_tx, mut agent_rx) = agent.split();
        let (mut upstream_tx, mut upstream_rx) = upstream.split();
        // Both directions write to the agent: the upstream's messages, and the answers to
        // agent messages the rules refused.
        let agent_tx = tokio::sync::Mutex::new(agent_tx);
        let mut counts = RedactionCounts::default();
        let end = {
            let activity = origin.conn.activity.clone();
            let ends = Ends {
                inspector: &inspector,
                mcp: mcp.as_ref(),
                agent_tx: &agent_tx,
            };
            let to_upstream = relay_to_upstream(&mut agent_rx, &mut upstream_tx, &ends);
            let to_agent = relay_to_agent(&mut upstream_rx, &ends, &mut counts);
            tokio::pin!(to_upstream, to_agent);
            let (mut agent_done, mut upstream_done) = (false, false);
            loop {
                tokio::select! {
                    v = &mut to_upstream, if !agent_done => match v {
                        None => agent_done = true,
                        Some(v) => break End::Violation(Side::Agent, v),
                    },
                    v = &mut to_agent, if !upstream_done => match v {
                        None => upstream_done = true,
                        Some(v) => break End::Violation(Side::Upstream, v),
                    },
                    () = activity.idle_for(idle) => break End::Idle,
                    () = stop_now.cancelled() => break End::Shutdown,
                    paused = pause.ended() => break End::Paused(paused),
                }
                if agent_done && upstream_done {
                    break End::Closed;
                }
            }
        };
        if counts.total() > 0 {
            tracing::info!(%target, request_id = origin.id.as_str(), redacted = counts.total(), "secrets redacted from WebSocket messages");
        }
        let code = match end {
            End::Closed => return,
            End::Idle => {
                tracing::debug!(%target, "upgraded connection idle; closed");
                CloseCode::Away
            }
            End::Shutdown => {
                // Dropped at once: the grace period is over, no close handshake is awaited.
                tracing::debug!(%target, "upgraded connection closed: shutdown grace period over");
                return;
            }
            End::Paused(paused) => {
                record_paused(&recorder, &origin, paused);
                CloseCode::Policy
            }
            End::Violation(side, violation) => {
                let code = violation.close_code();
                record(&recorder, &origin, side, &violation, code);
                code
            }
        };
        let mut agent_tx = agent_tx.into_inner();
        tokio::join!(
            close(&mut agent_tx, &mut agent_rx, code),
            close(&mut upstream_tx, &mut upstream_rx, code),
        );
    });
}

/// An upgraded connection framed as WebSocket in `role`.
async fn framed(io: Upgraded, role: Role, config: WebSocketConfig) -> Socket {
    WebSocketStream::from_raw_socket(TokioIo::new(io), role, Some(config)).await
}

/// What both directions of a bridge share.
struct Ends<'a> {
    inspector: &'a Inspector,
    mcp: Option<&'a McpMessages>,
    agent_tx: &'a tokio::sync::Mutex<SplitSink<Socket, Message>>,
}

/// Relays the agent's messages to the upstream, each checked first (and decided, on an MCP
/// URL); `None` when the agent closed or went away (or a side can no longer be written to).
async fn relay_to_upstream(
    from: &mut SplitStream<Socket>,
    to: &mut SplitSink<Socket, Message>,
    ends: &Ends<'_>,
) -> Option<Violation> {
    while let Some(read) = from.next().await {
        let msg = match read {
            Ok(msg) => msg,
            Err(err) => return Violation::of_read(err, MAX_MESSAGE),
        };
        let msg = match ends.inspector.to_upstream(msg).await {
            Ok(msg) => msg,
            Err(v) => return Some(v),
        };
        let fate = match ends.mcp {
            Some(mcp) => mcp.decide_agent(msg).await,
            None => Ok(FromAgent::Forward(msg)),
        };
        let sent = match fate {
            Ok(FromAgent::Forward(msg)) => to.send(msg).await,
            Ok(FromAgent::Answer(answer)) => ends.agent_tx.lock().await.send(answer).await,
            Err(mcp::Refused(reason)) => return Some(Violation::Denied(reason)),
        };
        if sent.is_err() {
            return None;
        }
    }
    None
}

/// Relays the upstream's messages to the agent, each redacted first (and read as an MCP
/// server's, on an MCP URL); `None` when the upstream closed or went away (or the agent can
/// no longer be written to).
async fn relay_to_agent(
    from: &mut SplitStream<Socket>,
    ends: &Ends<'_>,
    counts: &mut RedactionCounts,
) -> Option<Violation> {
    while let Some(read) = from.next().await {
        let msg = match read {
            Ok(msg) => msg,
            Err(err) => return Violation::of_read(err, MAX_MESSAGE),
        };
        let msg = match ends.inspector.to_agent(msg, counts).await {
            Ok(msg) => msg,
            Err(v) => return Some(v),
        };
        let msg = match ends.mcp {
            Some(mcp) => mcp.read_upstream(msg),
            None => Some(msg),
        };
        let Some(msg) = msg else { continue };
        if ends.agent_tx.lock().await.send(msg).await.is_err() {
            return None;
        }
    }
    None
}

/// Sends one side a close frame with `code`, then reads (and drops) whatever it still sends
/// until it answers the close or [`CLOSE_WAIT`] is over.
async fn close(tx: &mut SplitSink<Socket, Message>, rx: &mut SplitStream<Socket>, code: CloseCode) {
    let frame = CloseFrame {
        code,
        reason: "closed by keyward".into(),
    };
    let closing = async {
        if tx.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = rx.next().await {}
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, closing).await;
}

/// The audit entry and log line of a bridge closed for `violation`.
fn record(
    recorder: &Recorder,
    origin: &Origin,
    side: Side,
    violation: &Violation,
    code: CloseCode,
) {
    let reason = format!(
        "websocket message from the {} refused, closed with {}: {violation}",
        side.as_str(),
        u16::from(code)
    );
    tracing::warn!(
        request_id = origin.id.as_str(),
        target = %origin.conn.target,
        side = side.as_str(),
        %violation,
        "WebSocket connection closed"
    );
    let refused = Refused {
        place: Place::of(&origin.conn),
        method: &origin.method,
        path: &origin.path,
        decision: AuditDecision::Deny,
        reason,
        status: None,
    };
    recorder.refused(refused, &origin.id);
}

/// The audit entry and log line of a bridge closed because its agent was paused.
fn record_paused(recorder: &Recorder, origin: &Origin, why: crate::control::pause::Paused) {
    tracing::warn!(
        request_id = origin.id.as_str(),
        target = %origin.conn.target,
        reason = %why,
        "WebSocket connection closed: agent paused"
    );
    let refused = Refused {
        place: Place::of(&origin.conn),
        method: &origin.method,
        path: &origin.path,
        decision: AuditDecision::Deny,
        reason: format!("websocket closed with 1008: {why}"),
        status: None,
    };
    recorder.refused(refused, &origin.id);
}
