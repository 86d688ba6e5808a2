//! Log output: human-readable text or JSON lines, filtered by `RUST_LOG` (default `info`);
//! colours only when stderr is a terminal and `NO_COLOR` is unset, so files and collectors get
//! plain lines.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    init_with_default(format, "info");
}

/// Like [`init`], with `default` as the filter when `RUST_LOG` is unset (`keyward run`
/// keeps its command's terminal quiet with `warn`).
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

/// Whether log lines are coloured.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
