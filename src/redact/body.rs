//! A response body scrubbed as it streams: decoded first when compressed (sent on decoded,
//! with the caller fixing the headers), secrets replaced across chunk boundaries, counts
//! tallied for the exchange's audit entry.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::{RedactionCounts, StreamScrubber};
use crate::body::{BoxError, ProxyBody};
use crate::content_coding::Decoder;

/// Decoded bytes produced per frame at most (bounds memory on compressed responses).
const FRAME_TARGET: usize = 64 * 1024;

/// Redaction counts of one exchange, filled while its body streams.
pub type Tally = Arc<Mutex<RedactionCounts>>;

/// A body whose data passes through a [`StreamScrubber`] (and a [`Decoder`] when the
/// upstream compressed it).
pub struct ScrubbedBody {
    inner: ProxyBody,
    scrubber: StreamScrubber,
    decoder: Option<Decoder>,
    tally: Tally,
    done: bool,
    /// Trailers that arrived while held-back data still had to go out first.
    trailers: Option<Frame<Bytes>>,
    /// Whether the counts were added to the tally (at the end, or when dropped early).
    recorded: bool,
}

impl Drop for ScrubbedBody {
    fn drop(&mut self) {
        self.record();
    }
}

impl ScrubbedBody {
    pub fn new(
        inner: ProxyBody,
        scrubber: StreamScrubber,
        decoder: Option<Decoder>,
        tally: Tally,
    ) -> Self {
        Self {
            inner,
            scrubber,
            decoder,
            tally,
            done: false,
            trailers: None,
            recorded: false,
        }
    }

    /// Adds this body's counts to the exchange's tally, once.
    fn record(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        if let Ok(mut tally) = self.tally.lock() {
            tally.merge(self.scrubber.counts());
        }
    }

    /// Decodes (if needed) and scrubs one piece of input.
    fn process(&mut self, data: Bytes) -> Result<Bytes, BoxError> {
        match &mut self.decoder {
            None => Ok(self.scrubber.push(data)),
            Some(decoder) => {
                decoder.feed(&data);
                let decoded = decoder.decode(FRAME_TARGET)?;
                Ok(self.scrubber.push(decoded.into()))
            }
        }
    }

    /// End of input: flush the decoder and the scrubber's held-back bytes.
    fn finish(&mut self) -> Result<Bytes, BoxError> {
        let mut out = Vec::new();
        if let Some(decoder) = self.decoder.take() {
            let rest = decoder.finish()?;
            out.extend_from_slice(&self.scrubber.push(rest.into()));
        }
        out.extend_from_slice(&self.scrubber.finish());
        self.record();
        Ok(Bytes::from(out))
    }
}

impl Body for ScrubbedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Bounded: each turn either returns or consumes input (a frame or pending decoder
        // bytes); at most FRAME_TARGET-sized steps of pending input.
        for _ in 0..1024 {
            if self.done {
                return Poll::Ready(self.trailers.take().map(Ok));
            }
            if let Some(decoder) = self.decoder.as_mut()
                && decoder.has_pending()
            {
                let decoded = match decoder.decode(FRAME_TARGET) {
                    Ok(d) => d,
                    Err(e) => return Poll::Ready(Some(Err(e.into()))),
                };
                let out = self.scrubber.push(decoded.into());
                if !out.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                continue;
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    // The last frame of a plain body: scrubbed whole and sent as one.
                    Ok(data) if self.decoder.is_none() && self.inner.is_end_stream() => {
                        self.done = true;
                        let out = self.scrubber.push_last(data);
                        self.record();
                        if out.is_empty() {
                            return Poll::Ready(None);
                        }
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    Ok(data) => match self.process(data) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    },
                    // Trailers: flush held-back data first, then pass them on.
                    Err(frame) => {
                        self.done = true;
                        return match self.finish() {
                            Ok(out) if out.is_empty() => Poll::Ready(Some(Ok(frame))),
                            Ok(out) => {
                                self.trailers = Some(frame);
                                Poll::Ready(Some(Ok(Frame::data(out))))
                            }
                            Err(e) => Poll::Ready(Some(Err(e))),
                        };
                    }
                },
                Poll::Ready(None) => {
                    self.done = true;
                    return last_frame(self.finish());
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// What a body that transforms its input yields once the input ended: the bytes its
/// `finish` flushed as one last data frame, or the end when nothing was held back.
pub(super) fn last_frame(
    flushed: Result<Bytes, BoxError>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    match flushed {
        Ok(out) if out.is_empty() => Poll::Ready(None),
        Ok(out) => Poll::Ready(Some(Ok(Frame::data(out)))),
        Err(e) => Poll::Ready(Some(Err(e))),
    }
}

/// A body streaming `chunks` as data frames, one a chunk (for the redacting bodies' tests).
#[cfg(test)]
pub(super) fn chunked(chunks: Vec<Vec<u8>>) -> ProxyBody {
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, BoxError>(Frame::data(Bytes::from(c)))),
    );
    http_body_util::BodyExt::boxed(http_body_util::StreamBody::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_coding::Coding;
    use crate::redact::Scrubber;
    use crate::secret::SecretValue;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn gzip_body_with_secret_split_across_chunks_is_decoded_and_scrubbed() {
        let secret = SecretValue::new("tok_live_abcdefghijklmnop");
        let scrubber = Arc::new(Scrubber::new([(&secret, "keyward:t:0123456789abcdef")]));
        let plain = b"{\"echo\":\"tok_live_abcdefghijklmnop\"}".repeat(1000);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, &plain).unwrap();
        let gz = e.finish().unwrap();
        let chunks = gz.chunks(13).map(<[u8]>::to_vec).collect();
        let tally = Tally::default();
        let body = ScrubbedBody::new(
            chunked(chunks),
            StreamScrubber::new(scrubber),
            Some(Decoder::new(&[Coding::Gzip]).unwrap()),
            tally.clone(),
        );
        let out = BodyExt::collect(body).await.unwrap().to_bytes();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(!text.contains("tok_live_abcdefghijklmnop"));
        assert_eq!(text.matches("keyward:t:0123456789abcdef").count(), 1000);
        assert_eq!(tally.lock().unwrap().raw, 1000);
    }
}
