//! The answer body an MCP server's messages pass through: SSE events one at a time (each
//! complete event decided, then passed on, rewritten or dropped), or a JSON answer whole.
//! Both are capped; a larger event or JSON answer ends the stream with an error rather
//! than pass unread.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use serde_json::Value;

use super::legacy::Registered;
use super::{Fate, McpView};
use crate::body::{BoxError, ProxyBody};
use crate::pipeline::sse::{self, Scan};

/// Largest SSE event read: the WebSocket message cap, so both transports agree.
pub const EVENT_CAP: usize = 16 * 1024 * 1024;
/// Largest JSON answer read to filter a list.
pub const JSON_CAP: usize = 8 * 1024 * 1024;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Sse,
    Json,
}

/// An MCP answer on its way to the agent.
pub struct McpReplyBody {
    inner: ProxyBody,
    view: McpView,
    framing: Framing,
    buf: BytesMut,
    /// Where the SSE scan resumes in `buf`.
    scanned: usize,
    /// Frames ready for the agent.
    out: VecDeque<Frame<Bytes>>,
    done: bool,
    /// The stream's registration under its endpoint (the HTTP+SSE transport): denials of
    /// what the agent posts there arrive here as events.
    endpoint: Option<Registered>,
}

/// The error that ends an answer too large to read.
#[derive(Debug, thiserror::Error)]
#[error("MCP answer not passed on: {0} is larger than {1} bytes, the most keyward reads")]
pub struct TooLarge(&'static str, usize);

impl McpReplyBody {
    /// An SSE answer.
    pub fn sse(inner: ProxyBody, view: McpView) -> Self {
        Self::new(inner, view, Framing::Sse)
    }

    /// A JSON answer.
    pub fn json(inner: ProxyBody, view: McpView) -> Self {
        Self::new(inner, view, Framing::Json)
    }

    fn new(inner: ProxyBody, view: McpView, framing: Framing) -> Self {
        Self {
            inner,
            view,
            framing,
            buf: BytesMut::new(),
            scanned: 0,
            out: VecDeque::new(),
            done: false,
            endpoint: None,
        }
    }

    /// Takes every complete event out of `buf` (at the end, the rest too).
    fn events(&mut self, last: bool) {
        loop {
            match sse::scan(&self.buf, self.scanned, last) {
                Scan::Event(n) => {
                    let event = self.buf.split_to(n).freeze();
                    self.scanned = 0;
                    if self.endpoint.is_none() && sse::event_type(&event) == "endpoint" {
                        let data = sse::data(&event).unwrap_or_default();
                        self.endpoint = self.view.register_endpoint(&data);
                    }
                    if let Some(bytes) = self.event(event) {
                        self.out.push_back(Frame::data(bytes));
                    }
                }
                Scan::More(at) => {
                    self.scanned = at;
                    return;
                }
            }
        }
    }

    /// One event as the agent gets it, or `None` when it is dropped.
    fn event(&self, event: Bytes) -> Option<Bytes> {
        let Some(data) = sse::data(&event) else {
            return Some(event);
        };
        match parse(&data) {
            Parsed::Json(message) => match self.view.fate(&message) {
                Fate::Keep => Some(event),
                Fate::Rewrite(v) => serde_json::to_string(&v)
                    .ok()
                    .map(|json| Bytes::from(sse::rewrite(&event, &json))),
                Fate::Drop => None,
            },
            Parsed::Other => Some(event),
            Parsed::Unreadable => {
                self.view.record_unreadable();
                None
            }
        }
    }

    /// The whole JSON answer as the agent gets it.
    fn whole(&mut self) {
        let buf = self.buf.split().freeze();
        let bytes = match serde_json::from_slice::<Value>(&buf) {
            Ok(message) => match self.view.fate(&message) {
                Fate::Keep => buf,
                Fate::Rewrite(v) => serde_json::to_vec(&v).map_or(buf, Bytes::from),
                Fate::Drop => Bytes::new(),
            },
            Err(_) => buf,
        };
        if !bytes.is_empty() {
            self.out.push_back(Frame::data(bytes));
        }
    }

    /// The stream has ended: what is still buffered goes out.
    fn finish(&mut self) {
        match self.framing {
            Framing::Sse => self.events(true),
            Framing::Json => self.whole(),
        }
    }
}

/// What an event's data is.
enum Parsed {
    Json(Value),
    /// Not JSON and not meant to be (an `endpoint` URL of the older HTTP+SSE transport).
    Other,
    /// Looks like JSON but does not parse: a client more lenient than keyward might still
    /// read a message from it, so it is not passed on.
    Unreadable,
}

fn parse(data: &str) -> Parsed {
    match serde_json::from_str::<Value>(data) {
        Ok(v) => Parsed::Json(v),
        Err(_) if data.trim_start().starts_with(['{', '[']) => Parsed::Unreadable,
        Err(_) => Parsed::Other,
    }
}

impl Body for McpReplyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if let Some(frame) = self.out.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            if let Some(endpoint) = &mut self.endpoint
                && let Poll::Ready(Some(event)) = endpoint.events.poll_recv(cx)
            {
                self.out.push_back(Frame::data(event));
                continue;
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    self.finish();
                    self.done = true;
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        self.buf.extend_from_slice(&data);
                        let (what, cap) = match self.framing {
                            Framing::Sse => ("an SSE event", EVENT_CAP),
                            Framing::Json => ("the JSON answer", JSON_CAP),
                        };
                        if self.framing == Framing::Sse {
                            self.events(false);
                        }
                        if self.buf.len() > cap {
                            self.done = true;
                            self.out.clear();
                            return Poll::Ready(Some(Err(Box::new(TooLarge(what, cap)))));
                        }
                    }
                    Err(trailers) => {
                        self.finish();
                        self.out.push_back(trailers);
                        self.done = true;
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.out.is_empty()
    }
}
