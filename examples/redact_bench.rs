//! Redaction throughput: a 1 GiB body streamed through the scrubber with 20 known secrets,
//! against the same body passed through unscanned; then a body dense in escapes (`\"`, `\n`,
//! `\u00e9`, `%20`), the bytes every escaped spelling of a secret begins with. Run:
//! `cargo run --release --example redact_bench -- [GIB]`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use keyward::redact::{Scrubber, StreamScrubber};
use keyward::secret::SecretValue;

const CHUNK: usize = 16 * 1024;

fn main() {
    let gib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let total = gib * 1024 * 1024 * 1024;
    let secrets: Vec<(SecretValue, String)> = (0..20)
        .map(|i| {
            (
                SecretValue::new(format!(
                    "sk_live_{i:02}_{:032x}",
                    0x5eed_u128 * (i as u128 + 7)
                )),
                format!("keyward:s{i}:{i:016x}"),
            )
        })
        .collect();
    let built = Instant::now();
    let scrubber = Arc::new(Scrubber::new(secrets.iter().map(|(v, p)| (v, p.as_str()))));
    let built = built.elapsed();
    // JSON-ish text with one secret every 64 KiB, so replacements happen too.
    let plain_json =
        b"{\"id\":12345,\"name\":\"example item\",\"tags\":[\"a\",\"b\"],\"ok\":true},\n";
    let escaped_json =
        b"{\"q\":\"caf\\u00e9 \\\"x\\\"\\n\",\"u\":\"/s?q=a%20b&r=%2Fc\",\"t\":\"\\t\"},\n";
    let secret = secrets[3].0.expose();
    println!(
        "body: {gib} GiB in {CHUNK}-byte chunks, 20 secrets known (every spelling and base64 form), scrubber built in {:.1} ms",
        built.as_secs_f64() * 1e3
    );
    for (name, line) in [
        ("JSON", &plain_json[..]),
        ("escape-dense JSON", &escaped_json[..]),
    ] {
        run(name, line, secret, total, &scrubber);
    }
}

fn run(name: &str, line: &[u8], secret: &[u8], total: usize, scrubber: &Arc<Scrubber>) {
    let mut chunk = Vec::with_capacity(CHUNK);
    while chunk.len() < CHUNK {
        chunk.extend_from_slice(line);
    }
    chunk.truncate(CHUNK);
    let mut with_secret = chunk.clone();
    with_secret[100..100 + secret.len()].copy_from_slice(secret);
    // Chunks as a body streams them: shared bytes, passed on without a copy when clean.
    let (chunk, with_secret) = (bytes::Bytes::from(chunk), bytes::Bytes::from(with_secret));

    let start = Instant::now();
    let mut sink = 0usize;
    let mut sent = 0;
    let mut i = 0usize;
    while sent < total {
        let c = if i.is_multiple_of(4) {
            &with_secret
        } else {
            &chunk
        };
        sink += bytes::Bytes::copy_from_slice(c).len();
        sent += c.len();
        i += 1;
    }
    let plain = start.elapsed();

    let start = Instant::now();
    let mut stream = StreamScrubber::new(scrubber.clone());
    let mut out = 0usize;
    let mut sent = 0;
    let mut i = 0usize;
    while sent < total {
        let c = if i.is_multiple_of(4) {
            &with_secret
        } else {
            &chunk
        };
        out += stream.push(c.clone()).len();
        sent += c.len();
        i += 1;
    }
    out += stream.finish().len();
    let scanned = start.elapsed();
    let mb = total as f64 / 1e6;
    println!("{name}:");
    println!(
        "  unscanned pass-through: {:>8.0} MB/s ({:.2} s)",
        mb / plain.as_secs_f64(),
        plain.as_secs_f64()
    );
    println!(
        "  scrubbed:               {:>8.0} MB/s ({:.2} s), {} replacements",
        mb / scanned.as_secs_f64(),
        scanned.as_secs_f64(),
        stream.counts().total()
    );
    println!(
        "  cost: {:.1} ns/byte over pass-through (bytes out {out}, sink {sink})",
        (scanned.as_secs_f64() - plain.as_secs_f64()) * 1e9 / total as f64
    );
}
