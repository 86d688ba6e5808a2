//! keyward: the execution boundary between AI agents and the network. A forward HTTPS proxy
//! that terminates agents' TLS with its own CA, decides every request, forwards what is
//! allowed over verified TLS, and records every decision.
//!
//! # Layout
//! The request path, in the order a request meets it:
//!
//! | module | job |
//! | --- | --- |
//! | [`listener`] | accept loop, connection limit, back-off, per-connection task |
//! | [`head_scan`] | raw HTTP/1 heads beside hyper: `#`, both framings (400), too-long request lines (414) |
//! | [`proxy_request`] | the proxy protocol: CONNECT, absolute-form `http://`, 400 otherwise |
//! | [`intercept`] | TLS termination of a tunnel: ClientHello check, SNI pinning, ALPN |
//! | [`pipeline`] | the request path: method check, pinning, decision, forwarding, clean-up |
//! | [`policy`] | the rule engine: compile, normalise, decide (pure); `--allow` host rules |
//! | [`agents`] | agent identity from proxy credentials (407) |
//! | [`limits`] | per-rule rate limits behind a counter store (429) |
//! | [`approvals`] | requests held for a person, follow-up windows |
//! | [`credentials`] | secret sources, placeholder injection, the exfiltration guard |
//! | [`redact`] | secrets and rule patterns scrubbed from responses (compressed bodies decoded) |
//! | [`content_coding`] | the one `Content-Encoding` decoder, for rule inspection and redaction, and its bomb caps |
//! | [`request_body`] | request body read-ahead and guarded streaming |
//! | [`closing_body`] | the response body that writes the exchange's audit entry when it ends |
//! | [`upstream`] | pooled verified client, destination guard, rules' private allowances, `--resolve` pins |
//! | [`websocket`] | bridging upgraded connections after a 101 |
//! | [`refusal`] | the one place a failure becomes the agent's status + JSON |
//! | [`exchange`] | per-exchange context, the guard that records it on every path, and the one record writer |
//!
//! Around it: [`config`] (defaults, `keyward.yaml`, flags), [`ca`] (root CA, leaf issuer,
//! bounded cache), [`proxy`] (shared state, bind, run, drain), [`active`] (rules and
//! credentials in force, swapped on reload), [`reload`] (SIGHUP, directory watch), [`audit`]
//! (hash-chained log, verify, tail), [`admin`] (health, metrics, approvals, reload API; always
//! token-protected, by named approver tokens or one generated beside the CA), [`metrics`],
//! [`cli`], [`connection`] (driving a connection to its end), [`conn_event`] (audit entries for
//! refusals outside any exchange: malformed heads, HTTP/2 violations, non-TLS tunnels, 407 and
//! 400 on the proxy port), [`activity`] (idle detection), [`hop`] (hop-by-hop headers),
//! [`target`] (host and port parsing), [`rewind`] (peeked bytes), [`secret`] (the redacted
//! secret type), [`dumpable`] (keyward's own `/proc` files and memory closed to processes of
//! the same user), [`body`], [`tls`], [`logging`]. For adoption: [`agent_env`] (the
//! environment `keyward run` and `keyward env` give an agent, and the combined CA bundle).

pub mod agent_env;
pub mod audit;
pub mod body;
pub mod ca;
pub mod cli;
pub mod config;
pub mod content_coding;
pub mod control;
pub mod credentials;
pub mod dumpable;
pub mod ingress;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod proxy;
pub mod redact;
pub mod secret;
pub mod server;
pub mod target;
pub mod tls;
pub mod upstream;

pub use config::Config;
pub use proxy::{Proxy, RunningProxy};
