//! `gzip` (RFC 1952) as a push decoder: header, raw deflate body, CRC-32 and size trailer,
//! then any further members (a multi-member file decodes to their concatenation).

use flate2::{Crc, Decompress, Status};

use super::stage::inflate_step;

/// Longest gzip header accepted (fixed part, extra field, file name, comment): a header
/// that never ends would otherwise hold the whole body.
const MAX_HEADER: usize = 64 * 1024;

/// Where the decoder is in the current member.
enum State {
    /// Waiting for a whole member header (`started`: any member began).
    Header { started: bool },
    /// Inflating the member's body.
    Body(Box<Decompress>),
    /// Waiting for the 8-byte trailer.
    Trailer,
    /// A member ended; more input starts another one.
    Done,
}

/// The gzip decoder.
pub(super) struct Gzip {
    state: State,
    /// CRC-32 and length of the current member's output.
    crc: Crc,
}

impl Default for Gzip {
    fn default() -> Self {
        Self {
            state: State::Header { started: false },
            crc: Crc::new(),
        }
    }
}

impl Gzip {
    /// One step: (consumed, produced).
    pub fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), String> {
        match &mut self.state {
            State::Done if input.is_empty() => Ok((0, 0)),
            State::Done => {
                self.state = State::Header { started: true };
                self.run(input, out)
            }
            State::Header { .. } => match header_len(input)? {
                Some(len) => {
                    self.state = State::Body(Box::new(Decompress::new(false)));
                    self.crc.reset();
                    Ok((len, 0))
                }
                None if input.len() > MAX_HEADER => {
                    Err(format!("header longer than {MAX_HEADER} bytes"))
                }
                None => Ok((0, 0)),
            },
            State::Body(inflate) => {
                let (consumed, produced, status) = inflate_step(inflate, input, out)?;
                self.crc.update(out.get(..produced).unwrap_or_default());
                if status == Status::StreamEnd {
                    self.state = State::Trailer;
                }
                Ok((consumed, produced))
            }
            State::Trailer => {
                let Some(&[c0, c1, c2, c3, s0, s1, s2, s3]) = input.first_chunk::<8>() else {
                    return Ok((0, 0));
                };
                let crc = u32::from_le_bytes([c0, c1, c2, c3]);
                let size = u32::from_le_bytes([s0, s1, s2, s3]);
                if crc != self.crc.sum() {
                    return Err("CRC-32 mismatch".to_owned());
                }
                if size != self.crc.amount() {
                    return Err("length mismatch".to_owned());
                }
                self.state = State::Done;
                Ok((8, 0))
            }
        }
    }

    /// Whether the input ended between members (or before any).
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done | State::Header { started: false })
    }
}

/// Flag bits of the header (RFC 1952 §2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const RESERVED: u8 = 0xe0;

/// The length of the member header at the start of `bytes`: `None` while incomplete.
fn header_len(bytes: &[u8]) -> Result<Option<usize>, String> {
    let magic = [0x1f, 0x8b, 8];
    for (byte, expected) in bytes.iter().zip(magic) {
        if *byte != expected {
            return Err("invalid gzip header".to_owned());
        }
    }
    let Some(&flags) = bytes.get(3) else {
        return Ok(None);
    };
    if flags & RESERVED != 0 {
        return Err("reserved gzip header flags set".to_owned());
    }
    let mut len = 10;
    if flags & FEXTRA != 0 {
        let Some(&[low, high]) = bytes.get(len..).and_then(<[u8]>::first_chunk::<2>) else {
            return Ok(None);
        };
        len += 2 + usize::from(u16::from_le_bytes([low, high]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(end) = bytes
                .get(len..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
            else {
                return Ok(None);
            };
            len += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        len += 2;
    }
    Ok((bytes.len() >= len).then_some(len))
}
