//! Hand-written HTTP/2 frames over a tunnel: HPACK literals that clients refuse to encode
//! (CR/LF values, connection headers, bad pseudo-headers), CONTINUATION and RST_STREAM
//! floods, and just enough decoding to read a `:status`, a reset or a GOAWAY back.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Keyward;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// A header block's fields, names and values as raw bytes.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// How the server answered a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    Reset(u32),
    GoAway(u32),
    Closed,
    TimedOut,
}

/// One frame: header and payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn integer(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A header block of literal fields without indexing, names and values sent raw.
pub fn block(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        integer(&mut out, 0, 7, name.len());
        out.extend_from_slice(name);
        integer(&mut out, 0, 7, value.len());
        out.extend_from_slice(value);
    }
    out
}

/// A GET's pseudo-headers for `authority`.
pub fn get(authority: &str) -> Fields {
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", authority),
        (":path", "/"),
    ]
    .iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect()
}

/// An h2 TLS tunnel to `authority` with the preface and an empty SETTINGS sent.
pub async fn open(keyward: &Keyward, authority: &str) -> TlsStream<TcpStream> {
    let agent = keyward.agent();
    let tcp = agent.connect(authority).await.unwrap();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let mut tls = agent.tls(tcp, host, &[b"h2"]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(PREFACE).await.unwrap();
    tls.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    tls
}

/// Reads frames until stream `id` is answered or the connection ends, at most `wait`.
pub async fn answer<S: AsyncRead + Unpin>(tls: &mut S, id: u32, wait: Duration) -> Answer {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut head = [0u8; 9];
        match tokio::time::timeout_at(deadline, tls.read_exact(&mut head)).await {
            Err(_) => return Answer::TimedOut,
            Ok(Err(_)) => return Answer::Closed,
            Ok(Ok(_)) => {}
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        match tokio::time::timeout_at(deadline, tls.read_exact(&mut payload)).await {
            Err(_) => return Answer::TimedOut,
            Ok(Err(_)) => return Answer::Closed,
            Ok(Ok(_)) => {}
        }
        let code = |at: usize| u32::from_be_bytes(payload[at..at + 4].try_into().unwrap());
        match head[3] {
            GOAWAY => return Answer::GoAway(code(4)),
            RST_STREAM if stream == id => return Answer::Reset(code(0)),
            HEADERS if stream == id => {
                return Answer::Status(status(&payload).expect("no :status first"));
            }
            _ => {}
        }
    }
}

/// The `:status` at the start of a response header block (h2 sends it first), whether
/// indexed, or a literal with the indexed name `:status` and a raw or Huffman value.
fn status(block: &[u8]) -> Option<u16> {
    let mut at = 0;
    while block.get(at)? & 0xe0 == 0x20 {
        at += 1; // dynamic table size update (small values only)
    }
    let first = *block.get(at)?;
    if first & 0x80 != 0 {
        return [200, 204, 206, 304, 400, 404, 500]
            .get(usize::from(first & 0x7f).checked_sub(8)?)
            .copied();
    }
    let len = usize::from(block.get(at + 1)? & 0x7f);
    let huffman = block.get(at + 1)? & 0x80 != 0;
    let value = block.get(at + 2..at + 2 + len)?;
    let digits = if huffman {
        huffman_digits(value)?
    } else {
        String::from_utf8(value.to_vec()).ok()?
    };
    digits.parse().ok()
}

/// Decodes a Huffman string made only of digits (RFC 7541 codes: 0-2 are five bits, 3-9 six).
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let take = |at: usize, n: usize| {
        bits.get(at..at + n)
            .map(|s| s.iter().fold(0u8, |a, b| a << 1 | b))
    };
    let mut out = String::new();
    let mut at = 0;
    while at < bits.len() {
        match (take(at, 5), take(at, 6)) {
            (Some(v @ 0..=2), _) => {
                out.push(char::from(b'0' + v));
                at += 5;
            }
            (_, Some(v @ 0b011001..=0b011111)) => {
                out.push(char::from(b'3' + (v - 0b011001)));
                at += 6;
            }
            _ => break, // padding (all ones)
        }
    }
    Some(out)
}
