//! keyward: the execution boundary between AI agents and the network. A forward HTTPS proxy
//! that terminates agents' TLS with its own CA, decides every request, forwards what is
//! allowed over verified TLS, and records every decision.
//!
//! # Layout
//! The request path, in the order a request meets it, one folder a layer; a layer uses the
//! ones below it and never the ones above (`ingress` → `pipeline` → `server` for idle
//! tracking and the lifecycle; `server` knows neither):
//!
//! | module | job |
//! | --- | --- |
//! | [`server`] | accept loop (connection limit, back-off), the driver that runs a connection to its end, idle tracking, the ordered drain, the [`Lifecycle`](server::Lifecycle) handle |
//! | [`ingress`] | a client socket to requests: the raw-head scan beside hyper (`#`, both framings, 414), the proxy protocol (CONNECT, absolute-form `http://`, 400), agent authentication (407), TLS termination with SNI pinning, redirected connections on transparent listeners (original destination, SNI or Host), records of what never became a request; a jail's DNS responder |
//! | [`pipeline`] | one file a phase over one exchange context: admit, normalise, read the body, decide (learn mode lets denials through), hold, inject, forward, respond (WebSocket messages bridged: redacted, guarded, size-capped; LLM token usage read for audit, metrics and budgets); the refusal and the record |
//! | [`policy`] | the rule engine: compile, normalise, decide (pure); `--allow` host rules; drafts of rules from recorded traffic |
//! | [`actions`] | `actions:` of rule files: input schemas, request templates rendered into requests the rules decide, response shaping |
//! | [`control`] | what changes decisions at run time: the rules in force, reload, approvals, paused agents (the kill switch), rate-limit counters and token budgets (in memory, or shared by replicas in Redis), the token-protected admin API |
//! | [`credentials`] | secret sources (OAuth 2.0 token endpoints, AWS Secrets Manager and Vault among them), placeholder injection, request signing (HMAC, AWS SigV4 re-signing), the exfiltration guard, agents' proxy tokens |
//! | [`redact`] | secrets and rule patterns scrubbed from responses (compressed bodies decoded) |
//! | [`content_coding`] | the one `Content-Encoding` decoder, for rule inspection and redaction, and its bomb caps |
//! | [`upstream`] | pooled verified client, destination guard, rules' private allowances, `--resolve` pins |
//! | [`audit`] | hash-chained log, verify, tail |
//!
//! Around it: [`proxy`] (assembles the layers from a [`Config`], binds, runs, stops),
//! [`config`] (defaults, `keyward.yaml`, flags), [`ca`] (root CA, leaf issuer, bounded cache),
//! [`metrics`], [`cli`], [`target`] (host and port parsing), [`body`] (the one response body
//! type), [`secret`] (the redacted secret type), [`dumpable`] (keyward's own `/proc` files and
//! memory closed to processes of the same user), [`exit_status`], [`tls`], [`logging`]. For adoption:
//! [`agent_env`] (the environment `keyward run` and `keyward env` give an agent, and the
//! combined CA bundle), [`jail`] (`keyward run --jail`: the command in namespaces whose only way
//! out is keyward).

pub mod actions;
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
pub mod exit_status;
pub mod ingress;
#[cfg(target_os = "linux")]
pub mod jail;
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
pub mod tool_server;
pub mod upstream;

#[cfg(test)]
mod layering;

pub use config::Config;
pub use proxy::{Proxy, RunningProxy};
