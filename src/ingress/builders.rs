//! The hyper connection builders a proxy serves with, set from its resource limits: the proxy
//! protocol on client connections, and HTTP/1.1 or HTTP/2 inside intercepted tunnels.

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use crate::config::Config;

/// Most concurrent HTTP/2 streams an agent may open on one tunnel.
const H2_MAX_CONCURRENT_STREAMS: u32 = 256;
/// Streams an agent may open and reset before being answered (rapid-reset guard).
const H2_MAX_PENDING_RESETS: usize = 64;

/// The builder for decrypted HTTP/1.1 (`h2`: false) or HTTP/2 inside tunnels.
pub(super) fn tunnel_builder(config: &Config, h2: bool) -> auto::Builder<TokioExecutor> {
    let limits = &config.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .keep_alive_interval(Some(limits.idle_timeout / 2))
        .keep_alive_timeout(limits.header_read_timeout);
    if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    }
}

/// The builder for the proxy protocol on client connections.
pub(super) fn outer_builder(config: &Config) -> hyper::server::conn::http1::Builder {
    let limits = &config.limits;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
}
