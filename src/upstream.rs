//! The upstream side: a pooled HTTP/1.1 + HTTP/2 client over verified rustls, dialling only
//! addresses that passed the destination guard, that the deciding rule's `allow_private:`
//! opens, or that the operator pinned with `--resolve`.

mod allowance;
mod client;
mod connector;
mod error;
pub mod guard;
mod roots;

pub use allowance::PrivateAllowance;
pub use client::{Upstream, UpstreamBody};
pub use connector::GuardedConnector;
pub use error::{ProtocolFailure, Timeout, TlsFailure, UpstreamError, UpstreamFailure};
pub use roots::{RootsError, upstream_roots};
