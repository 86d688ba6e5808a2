//! The agent's request body on its way upstream: read ahead up to a cap when a rule or the
//! exfiltration guard must look at it, then forwarded whole, or streamed with the remainder
//! scanned for placeholders as it passes (aborting the upstream request on a hit).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{self, BoxError, ProxyBody};
use crate::redact::Scrubber;

/// A request body after read-ahead.
pub enum Prefetched {
    /// The whole body, at most the cap.
    Complete(Bytes),
    /// The first `cap`+ bytes, and the rest still to stream.
    Partial { head: Bytes, rest: Incoming },
}

/// Why the body could not be read (the proxy answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyReadError {
    #[error("request body not received within {0:?}")]
    Timeout(Duration),
    /// hyper's error as it words it (hyper's errors cannot be cloned).
    #[error("reading the request body failed: {0}")]
    Read(String),
}

/// Reads `body` until it ends or more than `cap` bytes arrived, within `timeout`.
pub async fn prefetch(
    mut body: Incoming,
    cap: usize,
    timeout: Duration,
) -> Result<Prefetched, BodyReadError> {
    let read = async {
        let mut buf = BytesMut::new();
        loop {
            match body.frame().await {
                None => return Ok(Prefetched::Complete(buf.freeze())),
                Some(Err(e)) => return Err(BodyReadError::Read(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                    if buf.len() > cap {
                        return Ok(Prefetched::Partial {
                            head: buf.freeze(),
                            rest: body,
                        });
                    }
                }
            }
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| BodyReadError::Timeout(timeout))?
}

impl Prefetched {
    /// The bytes read so far.
    pub fn head(&self) -> &Bytes {
        match self {
            Prefetched::Complete(b) => b,
            Prefetched::Partial { head, .. } => head,
        }
    }

    /// Whether the body continues past what was read.
    pub fn is_partial(&self) -> bool {
        matches!(self, Prefetched::Partial { .. })
    }

    /// Reads and discards what is left of a refused body, at most `limit` bytes within
    /// `timeout`, so that the agent, still sending, reads the refusal instead of a reset.
    pub async fn drain(self, limit: usize, timeout: Duration) {
        let Prefetched::Partial { mut rest, .. } = self else {
            return;
        };
        let read = async {
            let mut seen = 0usize;
            while seen <= limit {
                match rest.frame().await {
                    Some(Ok(frame)) => {
                        seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                    }
                    None | Some(Err(_)) => return,
                }
            }
        };
        let _ = tokio::time::timeout(timeout, read).await;
    }

    /// The body to send upstream: `head` (possibly rewritten by injection) then the rest,
    /// which is scanned for `placeholders` when given.
    pub fn into_body(self, head: Bytes, placeholders: Option<Arc<Scrubber>>) -> ProxyBody {
        match self {
            Prefetched::Complete(_) => body::full(head),
            Prefetched::Partial { rest, .. } => {
                let tail: ProxyBody = match placeholders {
                    Some(p) if !p.is_empty() => {
                        body::stream(GuardedBody::new(body::stream(rest), p))
                    }
                    _ => body::stream(rest),
                };
                let head_frame =
                    futures_util::stream::once(async move { Ok::<_, BoxError>(Frame::data(head)) });
                let head_body = http_body_util::StreamBody::new(head_frame);
                body::stream(Chain {
                    first: Some(BodyExt::boxed(head_body)),
                    second: tail,
                })
            }
        }
    }
}

/// One body, then another.
struct Chain {
    first: Option<ProxyBody>,
    second: ProxyBody,
}

impl Body for Chain {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.as_mut() {
            match Pin::new(first).poll_frame(cx) {
                Poll::Ready(None) => self.first = None,
                other => return other,
            }
        }
        Pin::new(&mut self.second).poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A placeholder was found in a streamed request body.
#[derive(Debug, thiserror::Error)]
#[error("request body carries a credential placeholder; upload aborted")]
pub struct PlaceholderInBody;

/// Scans a streamed body for placeholders (across chunk boundaries) and fails the stream on
/// the first one, so the upstream never receives a complete request.
struct GuardedBody {
    inner: ProxyBody,
    placeholders: Arc<Scrubber>,
    /// The last bytes seen, to catch a placeholder split across chunks.
    window: Vec<u8>,
}

impl GuardedBody {
    fn new(inner: ProxyBody, placeholders: Arc<Scrubber>) -> Self {
        Self {
            inner,
            placeholders,
            window: Vec::new(),
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let keep = self.placeholders.longest().saturating_sub(1);
            let mut scan = std::mem::take(&mut self.window);
            scan.extend_from_slice(data);
            if !self.placeholders.owners_found(&scan).is_empty() {
                return Poll::Ready(Some(Err(Box::new(PlaceholderInBody))));
            }
            let start = scan.len().saturating_sub(keep);
            self.window = scan[start..].to_vec();
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Bytes of a request body read ahead so the exfiltration guard can see them when no rule
/// inspects the body; the rest streams, scanned as it passes.
pub const SCAN_CAP: usize = 1024 * 1024;

/// The agent's body as the phases see it: untouched, or read ahead.
pub enum AgentBody {
    /// Not read: no rule inspects it and no secret is declared, or it is empty.
    Unread(Incoming),
    /// Read ahead; `sent` is what goes upstream in place of the bytes read (rewritten when
    /// the rule injects credentials into the body).
    Read { read: Prefetched, sent: Bytes },
    /// No body: a bodiless request sent again (a retry with a renewed token).
    Empty,
}

/// Reads the body ahead when a rule inspects it (up to the largest `max_size`) or when the
/// exfiltration guard must see it (`scan`: up to `SCAN_CAP`, 1 MiB); an empty body is not read.
pub async fn read_ahead(
    body: Incoming,
    need: crate::policy::BodyNeed,
    scan: bool,
    timeout: Duration,
) -> Result<AgentBody, crate::pipeline::refusal::Refusal> {
    use crate::policy::BodyNeed;
    let cap = match need {
        BodyNeed::Inspect { max_size } => max_size,
        BodyNeed::None if scan => SCAN_CAP,
        BodyNeed::None => return Ok(AgentBody::Unread(body)),
    };
    if body.is_end_stream() {
        return Ok(AgentBody::Unread(body));
    }
    let read = prefetch(body, cap, timeout).await?;
    let sent = read.head().clone();
    Ok(AgentBody::Read { read, sent })
}

impl AgentBody {
    /// The bytes read ahead (empty when none were), for an approver's preview.
    pub fn preview(&self) -> Bytes {
        match self {
            AgentBody::Read { read, .. } => read.head().clone(),
            AgentBody::Unread(_) | AgentBody::Empty => Bytes::new(),
        }
    }

    /// Whether only part of the body was read ahead.
    pub fn is_partial(&self) -> bool {
        matches!(self, AgentBody::Read { read, .. } if read.is_partial())
    }

    /// What will be sent in place of the bytes read ahead, when any were.
    pub fn sent(&self) -> Option<&Bytes> {
        match self {
            AgentBody::Read { sent, .. } => Some(sent),
            AgentBody::Unread(_) | AgentBody::Empty => None,
        }
    }

    /// The whole body as it will be sent, when it is known whole (read ahead completely, or
    /// none sent).
    pub fn whole(&self) -> Option<&[u8]> {
        match self {
            AgentBody::Read { read, sent } if !read.is_partial() => Some(sent),
            AgentBody::Read { .. } => None,
            AgentBody::Unread(b) => http_body::Body::is_end_stream(b).then_some(&[][..]),
            AgentBody::Empty => Some(&[]),
        }
    }

    /// Whether the agent sent no body at all (so the request can be sent again as it is).
    pub fn is_empty(&self) -> bool {
        match self {
            AgentBody::Unread(b) => http_body::Body::is_end_stream(b),
            AgentBody::Read { read, sent } => sent.is_empty() && !read.is_partial(),
            AgentBody::Empty => true,
        }
    }

    /// The same, to rewrite.
    pub fn sent_mut(&mut self) -> Option<&mut Bytes> {
        match self {
            AgentBody::Read { sent, .. } => Some(sent),
            AgentBody::Unread(_) | AgentBody::Empty => None,
        }
    }

    /// The body for the upstream, and how many bytes of it were read ahead. The part not
    /// read ahead is scanned for `placeholders` as it streams.
    pub fn into_upstream(self, placeholders: &Arc<Scrubber>) -> (ProxyBody, u64) {
        match self {
            AgentBody::Unread(b) => (body::stream(b), 0),
            AgentBody::Empty => (body::empty(), 0),
            AgentBody::Read { read, sent } => {
                let len = sent.len() as u64;
                (read.into_body(sent, Some(placeholders.clone())), len)
            }
        }
    }
}
