//! One coding's decoder behind one interface: given input and an output slice, consume some
//! input, write at most the slice, say how much of each.

use flate2::{Decompress, FlushDecompress, Status};
use zstd::stream::raw::{DParameter, InBuffer, Operation, OutBuffer};

use super::gzip::Gzip;
use super::{Coding, CodingError, ZSTD_WINDOW_LOG_MAX};

/// The brotli decoder's state, with the standard allocator.
type BrotliState = brotli::BrotliState<
    brotli::enc::StandardAlloc,
    brotli::enc::StandardAlloc,
    brotli::enc::StandardAlloc,
>;

/// A decoder for one coding.
pub(super) enum Stage {
    Gzip(Box<Gzip>),
    Deflate(Box<Deflate>),
    Brotli {
        state: Box<BrotliState>,
        done: bool,
    },
    Zstd {
        decoder: Box<zstd::stream::raw::Decoder<'static>>,
        /// Whether the last frame ended (and was flushed whole).
        frame_done: bool,
    },
}

impl Stage {
    pub fn new(coding: Coding) -> Result<Self, CodingError> {
        Ok(match coding {
            Coding::Gzip => Stage::Gzip(Box::default()),
            Coding::Deflate => Stage::Deflate(Box::default()),
            Coding::Brotli => {
                let mut state = BrotliState::new(
                    brotli::enc::StandardAlloc::default(),
                    brotli::enc::StandardAlloc::default(),
                    brotli::enc::StandardAlloc::default(),
                );
                // RFC 7932 windows only (at most 16 MiB); the large-window extension asks
                // for up to 1 GiB.
                state.large_window = false;
                Stage::Brotli {
                    state: Box::new(state),
                    done: false,
                }
            }
            Coding::Zstd => {
                let zstd_error = |e: std::io::Error| super::corrupt(Coding::Zstd, &e.to_string());
                let mut decoder = zstd::stream::raw::Decoder::new().map_err(zstd_error)?;
                decoder
                    .set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
                    .map_err(zstd_error)?;
                Stage::Zstd {
                    decoder: Box::new(decoder),
                    frame_done: true,
                }
            }
        })
    }

    pub fn coding(&self) -> Coding {
        match self {
            Stage::Gzip(_) => Coding::Gzip,
            Stage::Deflate(_) => Coding::Deflate,
            Stage::Brotli { .. } => Coding::Brotli,
            Stage::Zstd { .. } => Coding::Zstd,
        }
    }

    /// Decodes from `input` into `out`: (bytes consumed, bytes written). (0, 0) means the
    /// stage needs more input (or its stream has ended).
    pub fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), String> {
        match self {
            Stage::Gzip(gzip) => gzip.run(input, out),
            Stage::Deflate(deflate) => deflate.run(input, out),
            Stage::Brotli { state, done } => brotli_run(state, done, input, out),
            Stage::Zstd {
                decoder,
                frame_done,
            } => {
                let mut src = InBuffer::around(input);
                let mut dst = OutBuffer::around(out);
                let hint = decoder.run(&mut src, &mut dst).map_err(|e| e.to_string())?;
                let moved = (src.pos(), dst.pos());
                if moved != (0, 0) {
                    *frame_done = hint == 0;
                }
                Ok(moved)
            }
        }
    }

    /// Whether the stream ended where a stream of this coding may end.
    pub fn is_complete(&self) -> bool {
        match self {
            Stage::Gzip(gzip) => gzip.is_complete(),
            Stage::Deflate(deflate) => deflate.done,
            Stage::Brotli { done, .. } => *done,
            Stage::Zstd { frame_done, .. } => *frame_done,
        }
    }
}

/// One brotli step.
fn brotli_run(
    state: &mut BrotliState,
    done: &mut bool,
    input: &[u8],
    out: &mut [u8],
) -> Result<(usize, usize), String> {
    if *done {
        return match input.is_empty() {
            true => Ok((0, 0)),
            false => Err("stray bytes after the end of the stream".to_owned()),
        };
    }
    let (mut available_in, mut input_offset) = (input.len(), 0);
    let (mut available_out, mut output_offset, mut total_out) = (out.len(), 0, 0);
    let result = brotli::BrotliDecompressStream(
        &mut available_in,
        &mut input_offset,
        input,
        &mut available_out,
        &mut output_offset,
        out,
        &mut total_out,
        state,
    );
    match result {
        brotli::BrotliResult::ResultFailure => Err("invalid brotli stream".to_owned()),
        brotli::BrotliResult::ResultSuccess => {
            *done = true;
            Ok((input_offset, output_offset))
        }
        brotli::BrotliResult::NeedsMoreInput | brotli::BrotliResult::NeedsMoreOutput => {
            Ok((input_offset, output_offset))
        }
    }
}

/// `deflate`: zlib-wrapped (RFC 1950) or raw (RFC 1951), chosen from the first two bytes.
#[derive(Default)]
pub(super) struct Deflate {
    /// Chosen once two bytes are in.
    inflate: Option<Decompress>,
    done: bool,
}

impl Deflate {
    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), String> {
        if self.done {
            return match input.is_empty() {
                true => Ok((0, 0)),
                false => Err("stray bytes after the end of the stream".to_owned()),
            };
        }
        let inflate = match &mut self.inflate {
            Some(inflate) => inflate,
            None => match input {
                [first, second, ..] => self
                    .inflate
                    .insert(Decompress::new(is_zlib_header(*first, *second))),
                _ => return Ok((0, 0)),
            },
        };
        let (consumed, produced, status) = inflate_step(inflate, input, out)?;
        self.done = status == Status::StreamEnd;
        Ok((consumed, produced))
    }
}

/// Whether two bytes open a zlib stream: method 8 (deflate), a window of at most 32 KiB, and
/// the header check (`CMF·256 + FLG` a multiple of 31). Raw deflate rarely passes all three.
pub(super) fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

/// One inflate step: (consumed, produced, status).
pub(super) fn inflate_step(
    inflate: &mut Decompress,
    input: &[u8],
    out: &mut [u8],
) -> Result<(usize, usize, Status), String> {
    let (before_in, before_out) = (inflate.total_in(), inflate.total_out());
    let status = inflate
        .decompress(input, out, FlushDecompress::None)
        .map_err(|e| e.to_string())?;
    let consumed = usize::try_from(inflate.total_in() - before_in).unwrap_or(usize::MAX);
    let produced = usize::try_from(inflate.total_out() - before_out).unwrap_or(usize::MAX);
    Ok((consumed.min(input.len()), produced.min(out.len()), status))
}
