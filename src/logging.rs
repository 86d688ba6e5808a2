//! Log output: human-readable text or JSON lines, filtered by `RUST_LOG` (default `info`);
//! colours only when stderr is a terminal and `NO_COLOR` is unset, so files and collectors get
//! plain lines.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    init_with_default(format, "info");
}

/// Like [`init`], with `default` as the filter when `RUST_LOG` is unset.
pub fn init_with_default(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// For `keyward run`, whose lines share a terminal with the command's: `warn` unless
/// `RUST_LOG` says otherwise, and each text line starts with `keyward: ` so it never reads as
/// the command's own (JSON lines name their source in their fields).
pub fn init_beside_command(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour());
    let _ = match format {
        LogFormat::Text => builder.with_writer(|| Prefixed).try_init(),
        LogFormat::Json => builder
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .try_init(),
    };
}

/// What marks keyward's lines beside a command's.
const PREFIX: &[u8] = b"keyward: ";

/// Writes each formatted event (one `write` call) to stderr after [`PREFIX`], in one write so
/// lines of concurrent events do not interleave.
struct Prefixed;

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut line = Vec::with_capacity(PREFIX.len() + buf.len());
        line.extend_from_slice(PREFIX);
        line.extend_from_slice(buf);
        std::io::stderr().lock().write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Whether log lines are coloured.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
