//! The stdio transport: one JSON-RPC message per line on stdin, one answer per line on
//! stdout, as MCP clients that launch their servers as processes speak it. A line longer
//! than [`MAX_LINE`] is answered with a parse error and skipped.

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::{Catalog, PARSE_ERROR, RpcError, ToolServer, error_response};
use crate::policy::AgentId;

/// The longest message read, in bytes.
pub const MAX_LINE: usize = 1 << 20;

/// Serves messages from `input` until it ends; `Err` when `output` cannot be written.
pub async fn serve<C, R, W>(
    server: &ToolServer<C>,
    agent: Option<&AgentId>,
    mut input: R,
    mut output: W,
) -> std::io::Result<()>
where
    C: Catalog,
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut line = Vec::new();
    loop {
        line.clear();
        let (read, whole) = read_line(&mut input, &mut line).await?;
        if read == 0 {
            return Ok(());
        }
        let answer = if whole {
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            server.handle_bytes(agent, text).await
        } else {
            Some(error_response(
                Value::Null,
                RpcError::new(PARSE_ERROR, format!("a message over {MAX_LINE} bytes")),
            ))
        };
        if let Some(answer) = answer {
            let mut bytes = serde_json::to_vec(&answer).unwrap_or_default();
            bytes.push(b'\n');
            output.write_all(&bytes).await?;
            output.flush().await?;
        }
    }
}

/// Reads one line into `line` (at most [`MAX_LINE`] bytes kept); the bytes consumed, and
/// whether the line fitted.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut fits = true;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok((consumed, fits));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..=at], true),
            None => (buf, false),
        };
        if fits && line.len() + chunk.len() <= MAX_LINE + 1 {
            line.extend_from_slice(chunk);
        } else {
            fits = false;
            line.clear();
        }
        let n = chunk.len();
        input.consume(n);
        consumed += n;
        if done {
            return Ok((consumed, fits));
        }
    }
}
