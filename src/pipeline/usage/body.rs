//! The response body read for usage on its way: every frame passes on at once, unchanged;
//! the usage is recorded and spent as the body ends (with its last frame when the inner body
//! knows it is the last), so a request that follows the answer meets the budget it spent.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::Meter;
use super::report::Reader;
use crate::body::{BoxError, ProxyBody};

/// `inner`, its usage read by `reader` and recorded by `meter` exactly once.
pub struct UsageBody {
    inner: ProxyBody,
    meter: Meter,
    reader: Reader,
    done: bool,
}

impl UsageBody {
    pub fn new(inner: ProxyBody, meter: Meter, reader: Reader) -> Self {
        Self {
            inner,
            meter,
            reader,
            done: false,
        }
    }

    fn finish(&mut self, complete: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let read = self.reader.finish(complete);
        self.meter.record(self.reader.usage(), read);
    }
}

impl Drop for UsageBody {
    /// The agent went away mid-stream: what was reported so far is spent.
    fn drop(&mut self) {
        self.finish(false);
    }
}

impl Body for UsageBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.reader.feed(data);
                    this.meter.progress(this.reader.usage());
                }
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
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
