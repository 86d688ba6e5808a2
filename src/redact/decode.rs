//! Streaming decompression of response bodies (`gzip`, `deflate`, `br`, `zstd`) so they can
//! be scanned: compressed input is fed in small slices, so one chunk of a decompression bomb
//! never expands into more than a bounded amount of memory at once.

use std::io::Write;

/// Compressed bytes fed to the decoder per step; bounds the output of one step to roughly
/// this times the format's maximum ratio (~1,000 for deflate).
const STEP: usize = 1024;

/// A content coding keyward can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    /// Parses a `Content-Encoding` value. `Ok(None)` for identity / absent; `Err` for any
    /// coding keyward cannot decode (including stacked codings).
    pub fn parse(value: Option<&str>) -> Result<Option<Self>, String> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match value.to_ascii_lowercase().as_str() {
            "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
            "deflate" => Ok(Some(Coding::Deflate)),
            "br" => Ok(Some(Coding::Brotli)),
            "zstd" => Ok(Some(Coding::Zstd)),
            other => Err(other.to_owned()),
        }
    }
}

enum Inner {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

/// A push decoder: feed compressed bytes, take decoded bytes.
pub struct Decoder {
    inner: Inner,
    /// Compressed bytes not yet fed (kept so each step stays small).
    pending: Vec<u8>,
}

impl Decoder {
    pub fn new(coding: Coding) -> std::io::Result<Self> {
        let inner = match coding {
            Coding::Gzip => Inner::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
            Coding::Deflate => Inner::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            Coding::Brotli => {
                Inner::Brotli(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096)))
            }
            Coding::Zstd => Inner::Zstd(zstd::stream::write::Decoder::new(Vec::new())?),
        };
        Ok(Self {
            inner,
            pending: Vec::new(),
        })
    }

    /// Queues compressed bytes.
    pub fn feed(&mut self, compressed: &[u8]) {
        self.pending.extend_from_slice(compressed);
    }

    /// Whether queued compressed bytes remain.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Decodes queued input until about `want` decoded bytes are ready or the queue is empty.
    pub fn decode(&mut self, want: usize) -> std::io::Result<Vec<u8>> {
        let mut fed = 0;
        while fed < self.pending.len() && self.output_len() < want {
            let end = (fed + STEP).min(self.pending.len());
            self.write(fed, end)?;
            fed = end;
        }
        self.pending.drain(..fed);
        Ok(self.take_output())
    }

    /// Ends the stream; returns the remaining decoded bytes. Errors on truncated input.
    pub fn finish(mut self) -> std::io::Result<Vec<u8>> {
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for chunk in pending.chunks(STEP) {
            self.write_slice(chunk)?;
            out.append(&mut self.take_output());
        }
        let rest = match self.inner {
            Inner::Gzip(d) => d.finish()?,
            Inner::Deflate(d) => d.finish()?,
            Inner::Brotli(mut d) => {
                d.flush()?;
                d.into_inner()
                    .map_err(|_| std::io::Error::other("truncated brotli stream"))?
            }
            Inner::Zstd(mut d) => {
                d.flush()?;
                d.into_inner()
            }
        };
        out.extend_from_slice(&rest);
        Ok(out)
    }

    fn write(&mut self, start: usize, end: usize) -> std::io::Result<()> {
        let slice = self.pending[start..end].to_vec();
        self.write_slice(&slice)
    }

    fn write_slice(&mut self, slice: &[u8]) -> std::io::Result<()> {
        match &mut self.inner {
            Inner::Gzip(d) => d.write_all(slice),
            Inner::Deflate(d) => d.write_all(slice),
            Inner::Brotli(d) => d.write_all(slice),
            Inner::Zstd(d) => d.write_all(slice),
        }
    }

    fn output_len(&mut self) -> usize {
        match &mut self.inner {
            Inner::Gzip(d) => d.get_ref().len(),
            Inner::Deflate(d) => d.get_ref().len(),
            Inner::Brotli(d) => d.get_ref().len(),
            Inner::Zstd(d) => d.get_ref().len(),
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        match &mut self.inner {
            Inner::Gzip(d) => std::mem::take(d.get_mut()),
            Inner::Deflate(d) => std::mem::take(d.get_mut()),
            Inner::Brotli(d) => std::mem::take(d.get_mut()),
            Inner::Zstd(d) => std::mem::take(d.get_mut()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn compress(coding: Coding, data: &[u8]) -> Vec<u8> {
        match coding {
            Coding::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Coding::Deflate => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Coding::Brotli => {
                let mut out = Vec::new();
                {
                    let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    e.write_all(data).unwrap();
                }
                out
            }
            Coding::Zstd => zstd::stream::encode_all(data, 3).unwrap(),
        }
    }

    #[test]
    fn every_coding_round_trips_in_small_pieces() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            let compressed = compress(coding, &data);
            let mut d = Decoder::new(coding).unwrap();
            let mut out = Vec::new();
            for piece in compressed.chunks(777) {
                d.feed(piece);
                while d.has_pending() {
                    out.extend(d.decode(64 * 1024).unwrap());
                }
            }
            out.extend(d.finish().unwrap());
            assert_eq!(out, data, "{coding:?}");
        }
    }

    #[test]
    fn a_bomb_chunk_is_decoded_in_bounded_steps() {
        let zeros = vec![0u8; 64 * 1024 * 1024];
        let compressed = compress(Coding::Gzip, &zeros);
        let mut d = Decoder::new(Coding::Gzip).unwrap();
        d.feed(&compressed);
        let mut steps = 0;
        let mut total = 0;
        while d.has_pending() {
            let out = d.decode(64 * 1024).unwrap();
            assert!(
                out.len() <= 64 * 1024 + 2 * 1024 * 1024,
                "step produced {}",
                out.len()
            );
            total += out.len();
            steps += 1;
        }
        total += d.finish().unwrap().len();
        assert_eq!(total, zeros.len());
        assert!(steps > 10);
    }

    #[test]
    fn unknown_or_stacked_codings_are_errors() {
        assert_eq!(Coding::parse(None), Ok(None));
        assert_eq!(Coding::parse(Some("identity")), Ok(None));
        assert_eq!(Coding::parse(Some("GZIP")), Ok(Some(Coding::Gzip)));
        assert!(Coding::parse(Some("gzip, br")).is_err());
        assert!(Coding::parse(Some("compress")).is_err());
    }
}
