//! The response body that carries its exchange to the end: counts the bytes sent to the
//! agent and runs the exchange's closing step when the body ends or is dropped (client gone),
//! after dropping the bodies it wraps so that their readers finish first.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxError, ProxyBody};
use crate::pipeline::exchange::Exchange;

/// `inner`, finishing `exchange` exactly once.
pub struct ClosingBody {
    inner: ProxyBody,
    exchange: Option<Exchange>,
    bytes: u64,
}

impl ClosingBody {
    pub fn new(inner: ProxyBody, exchange: Exchange) -> Self {
        Self {
            inner,
            exchange: Some(exchange),
            bytes: 0,
        }
    }

    fn close(&mut self) {
        if let Some(mut exchange) = self.exchange.take() {
            // The body's readers finish first (LLM usage recorded and spent), so the entry
            // carries what they found and the next request meets what they spent.
            self.inner = crate::body::empty();
            exchange.bytes_out = self.bytes;
            exchange.finish();
        }
    }
}

impl Drop for ClosingBody {
    fn drop(&mut self) {
        self.close();
    }
}

impl Body for ClosingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.close(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
