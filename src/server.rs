//! Serving sockets, whatever they carry: the serving threads (a runtime each), the accept
//! loop (connection limit, back-off), the driver that runs one connection to its end, idle
//! tracking, and the ordered shutdown.
//! Nothing here knows the proxy protocol or the pipeline: the ingress layer hands the accept
//! loop what to run for each connection.

pub mod accept;
pub mod activity;
pub mod connection;
mod drain;
mod lifecycle;
pub mod workers;

pub use drain::drain;
pub use lifecycle::Lifecycle;
