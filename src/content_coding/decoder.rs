//! The push decoder for a stack of codings: layers fed in order, each step bounded to
//! [`STEP_OUTPUT`] bytes, later layers drained first so little sits between them.

use super::stage::Stage;
use super::{Coding, CodingError, STEP_OUTPUT, corrupt};

/// One coding of a stack with the input it has not consumed yet.
struct Layer {
    stage: Stage,
    /// Input received; `pending[start..]` is not consumed yet (compacted now and then, so
    /// consuming a large buffered body stays linear).
    pending: Vec<u8>,
    start: usize,
    /// Whether any input reached this layer (an empty body is valid in every coding).
    fed: bool,
}

impl Layer {
    fn unconsumed(&self) -> &[u8] {
        self.pending.get(self.start..).unwrap_or_default()
    }

    fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.fed = true;
        if self.start > 0 && self.start >= self.pending.len() / 2 {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }
}

/// A push decoder for a stack of codings: feed encoded bytes, take decoded bytes in bounded
/// steps.
pub struct Decoder {
    /// Layers in decoding order: `layers[0]` takes the bytes on the wire.
    layers: Vec<Layer>,
    /// Output of one step.
    scratch: Vec<u8>,
    /// Whether the last [`Decoder::decode`] stopped with work left (or input came since).
    more: bool,
    /// Bytes fed to a decoder with no coding, passed on as they are.
    identity: Vec<u8>,
}

impl Decoder {
    /// A decoder for `codings` in decoding order (as [`parse`] returns them).
    pub fn new(codings: &[Coding]) -> Result<Self, CodingError> {
        let layers = codings
            .iter()
            .map(|&coding| {
                Ok(Layer {
                    stage: Stage::new(coding)?,
                    pending: Vec::new(),
                    start: 0,
                    fed: false,
                })
            })
            .collect::<Result<_, CodingError>>()?;
        Ok(Self {
            layers,
            scratch: vec![0; STEP_OUTPUT],
            more: false,
            identity: Vec::new(),
        })
    }

    /// Queues encoded bytes.
    pub fn feed(&mut self, encoded: &[u8]) {
        match self.layers.first_mut() {
            Some(layer) => layer.push(encoded),
            None => self.identity.extend_from_slice(encoded),
        }
        self.more = true;
    }

    /// Whether decoding can go on without more input.
    pub fn has_pending(&self) -> bool {
        self.more
    }

    /// Decodes queued input until about `want` decoded bytes are ready or no coding can go
    /// on without more input.
    pub fn decode(&mut self, want: usize) -> Result<Vec<u8>, CodingError> {
        let mut out = Vec::new();
        while out.len() < want {
            let left = want - out.len();
            if !self.step(&mut out, left)? {
                self.more = false;
                return Ok(out);
            }
        }
        self.more = true;
        Ok(out)
    }

    /// Ends the stream: returns the remaining decoded bytes; errors when a coding's stream
    /// is truncated or followed by stray bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, CodingError> {
        let mut out = Vec::new();
        while self.step(&mut out, STEP_OUTPUT)? {}
        for layer in &self.layers {
            let coding = layer.stage.coding();
            if !layer.unconsumed().is_empty() {
                return Err(corrupt(coding, "truncated stream"));
            }
            if layer.fed && !layer.stage.is_complete() {
                return Err(corrupt(coding, "truncated stream"));
            }
        }
        Ok(out)
    }

    /// Runs one layer once, the innermost one that can go on (draining later layers first
    /// keeps what sits between layers small). Returns whether anything moved.
    fn step(&mut self, out: &mut Vec<u8>, want: usize) -> Result<bool, CodingError> {
        if !self.identity.is_empty() {
            let take = want.min(self.identity.len());
            out.extend(self.identity.drain(..take));
            return Ok(take > 0);
        }
        let last = self.layers.len().saturating_sub(1);
        for index in (0..self.layers.len()).rev() {
            let room = if index == last {
                want.min(self.scratch.len())
            } else {
                self.scratch.len()
            };
            let Some(layer) = self.layers.get_mut(index) else {
                continue;
            };
            let Some(scratch) = self.scratch.get_mut(..room) else {
                continue;
            };
            let input = layer.pending.get(layer.start..).unwrap_or_default();
            let coding = layer.stage.coding();
            let (consumed, produced) = layer
                .stage
                .run(input, scratch)
                .map_err(|reason| corrupt(coding, &reason))?;
            layer.start += consumed;
            if consumed == 0 && produced == 0 {
                continue;
            }
            let decoded = self.scratch.get(..produced).unwrap_or_default();
            match self.layers.get_mut(index + 1) {
                Some(next) => next.push(decoded),
                None => out.extend_from_slice(decoded),
            }
            return Ok(true);
        }
        Ok(false)
    }
}
