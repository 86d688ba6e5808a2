//! HTTP/1 request heads as the agent wrote them, read beside hyper's parser: what the parsed
//! request no longer shows (a `#` in the target, which the `http` crate cuts off;
//! `Content-Length` beside `Transfer-Encoding`, which hyper drops) is handed to the
//! request as a [`HeadFinding`] for the pipeline to refuse, and a request line longer than
//! the head limit is answered 414 here, where hyper would answer 431 or reset.
//!
//! The scanner follows the framing hyper accepts (`Content-Length` or chunked) to find each
//! head; on anything it cannot follow (a parse error, a CONNECT or an upgrade, after which
//! the bytes are no longer HTTP/1) it stops looking and leaves the connection to hyper.

mod framing;

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::exchange::RequestId;
use crate::refusal::Refusal;
use framing::Scan;

/// Most bytes read and discarded after a 414, so the agent reads it rather than a reset.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// Why a request must be refused although hyper parsed it: the pipeline answers 400 with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeadFinding(pub String);

/// A request line over the head limit, answered 414 by the scanner: its id and reason.
#[derive(Clone, Debug)]
pub struct TooLong {
    /// The id in the answer, for the audit entry.
    pub id: RequestId,
    /// Why.
    pub reason: String,
}

/// What the scanner of one connection found, head by head, for its service to pick up.
#[derive(Debug, Default)]
pub struct Findings {
    inner: Mutex<Found>,
}

#[derive(Debug, Default)]
struct Found {
    /// One entry per head scanned, in order (hyper serves them in that order).
    heads: VecDeque<Option<HeadFinding>>,
    /// The request line answered 414, if any.
    too_long: Option<TooLong>,
}

impl Findings {
    /// Attaches the finding of the next head, if it has one, to the request hyper parsed
    /// from it.
    pub fn tag<B>(&self, req: &mut http::Request<B>) {
        let next = self
            .inner
            .lock()
            .ok()
            .and_then(|mut found| found.heads.pop_front())
            .flatten();
        if let Some(finding) = next {
            req.extensions_mut().insert(finding);
        }
    }

    /// The request line answered 414, once.
    pub fn take_too_long(&self) -> Option<TooLong> {
        self.inner.lock().ok().and_then(|mut f| f.too_long.take())
    }

    fn push(&self, finding: Option<HeadFinding>) {
        if let Ok(mut found) = self.inner.lock() {
            found.heads.push_back(finding);
        }
    }

    fn set_too_long(&self, too_long: TooLong) {
        if let Ok(mut found) = self.inner.lock() {
            found.too_long = Some(too_long);
        }
    }
}

/// An agent connection's IO with the scanner reading what hyper reads.
pub struct HeadScan<IO> {
    io: IO,
    scan: Scan,
    findings: Arc<Findings>,
    /// The 414 being written, then the drain, once a request line was too long.
    refusing: Option<Refusing>,
}

/// The 414's bytes and how far its writing and the drain got.
struct Refusing {
    response: Vec<u8>,
    written: usize,
    flushed: bool,
    shut: bool,
    drained: usize,
}

impl<IO> HeadScan<IO> {
    /// Scans `io` for heads of at most `limit` bytes; `enabled: false` (an h2 connection)
    /// passes everything through.
    pub fn new(io: IO, limit: usize, enabled: bool, findings: Arc<Findings>) -> Self {
        Self {
            io,
            scan: if enabled {
                Scan::new(limit)
            } else {
                Scan::off()
            },
            findings,
            refusing: None,
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> HeadScan<IO> {
    /// Writes the 414, shuts the write side, then reads and discards until the agent closes
    /// (at most [`DRAIN_LIMIT`]); then end of stream for hyper.
    fn poll_refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(r) = self.refusing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let io = &mut self.io;
        while let Some(rest) = r.response.get(r.written..).filter(|rest| !rest.is_empty()) {
            match ready!(Pin::new(&mut *io).poll_write(cx, rest)) {
                Ok(0) | Err(_) => return Poll::Ready(Ok(())),
                Ok(n) => r.written += n,
            }
        }
        if !r.flushed {
            if ready!(Pin::new(&mut *io).poll_flush(cx)).is_err() {
                return Poll::Ready(Ok(()));
            }
            r.flushed = true;
        }
        if !r.shut {
            if ready!(Pin::new(&mut *io).poll_shutdown(cx)).is_err() {
                return Poll::Ready(Ok(()));
            }
            r.shut = true;
        }
        let mut scratch = [0u8; 8192];
        while r.drained <= DRAIN_LIMIT {
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut *io).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => r.drained += buf.filled().len(),
                _ => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadScan<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.refusing.is_some() {
            return this.poll_refuse(cx);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let fresh = buf.filled().get(before..).unwrap_or_default();
        let mut heads = Vec::new();
        let too_long = this.scan.feed(fresh, &mut heads);
        for finding in heads {
            this.findings.push(finding);
        }
        let Some(reason) = too_long else {
            return Poll::Ready(Ok(()));
        };
        // hyper never sees the rest of the line: it reads the end of the stream instead.
        buf.set_filled(before);
        let id = RequestId::new();
        let response = Refusal::UriTooLong(reason.clone()).to_http1_bytes(&id);
        this.findings.set_too_long(TooLong { id, reason });
        this.refusing = Some(Refusing {
            response,
            written: 0,
            flushed: false,
            shut: false,
            drained: 0,
        });
        this.poll_refuse(cx)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for HeadScan<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
