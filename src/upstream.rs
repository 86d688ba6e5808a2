//! The upstream side: a pooled HTTP/1.1 + HTTP/2 client over verified rustls, dialling only
//! addresses that passed the destination guard (or that the operator pinned with `--resolve`).

mod client;
mod connector;
mod error;
pub mod guard;
mod roots;

pub use client::{Upstream, UpstreamBody};
pub use connector::GuardedConnector;
pub use error::{UpstreamError, UpstreamFailure};
pub use roots::{RootsError, upstream_roots};
