//! The rule engine: YAML rules compiled into an immutable [`RuleSet`] that decides every
//! request — pure, no I/O, unit-testable, shared by the proxy, `check`, `explain` and `test`.
//!
//! # Layout
//! - [`raw`](self::raw): serde structs of a rule file, `deny_unknown_fields`, with spans.
//! - [`compile`](self::compile): raw → compiled in one pass, every error as `file:line:col`.
//! - [`url_pattern`]: `scheme://host[:port]/path` patterns with `*`, `**`, `{name}`.
//! - [`normalize`]: the canonical request target every rule is matched against;
//!   [`spelling`]: path spellings servers read differently, refused unless a host opts in.
//! - [`json`]: JSON pointers with `*` segments; [`condition`]: the value tests.
//! - [`mcp`]: JSON-RPC calls of MCP bodies and the `mcp:` selector.
//! - [`graphql`]: GraphQL operations of a request and the `graphql:` selector.
//! - [`body`]: size limits, decoding (by [`crate::content_coding`]) with a bomb cap, JSON/form.
//! - [`index`](self::index): rules by host; [`engine`](self::engine): the pure decision.
//! - [`tests_runner`]: the `tests:` entries; [`explain`]: a decision as text.
//! - [`suggest`]: a draft rule file from the requests an audit log recorded.
//!
//! # YAML parsing
//! Rule files are parsed with serde-saphyr: `serde_yaml` is archived and deprecated, while
//! saphyr is maintained, written without panics on malformed input, and gives every value a
//! line and column through `Spanned<T>`, which is how errors found after parsing (bad
//! regex, unknown pattern set, duplicate id, unknown agent) point at `file:line:col`.
//!
//! See `docs/rules.md` for the language reference and the decision semantics.

pub mod body;
pub(crate) mod compile;
pub mod condition;
pub mod decision;
pub mod decls;
mod engine;
pub mod error;
pub mod explain;
pub mod extras;
pub mod graphql;
mod host_allow;
pub mod ids;
mod index;
pub mod json;
pub mod mcp;
pub mod normalize;
pub(crate) mod raw;
pub mod request;
pub mod rule;
mod ruleset;
pub mod sample;
pub mod signing;
pub mod spelling;
pub mod suggest;
pub mod tests_runner;
pub mod units;
pub mod url_pattern;

pub use body::BodyError;
pub use compile::Source;
pub use decision::{ConditionTrace, Decision, Mode, ShadowOutcome, Verdict};
pub use decls::{
    AgentDecl, AwsSmDecl, CredentialSource, OAuth2Decl, RoleId, SecretDecl, SecretKind, VaultAuth,
    VaultDecl,
};
pub use engine::NO_RULE;
pub use error::{CompileError, CompileErrors, Pos};
pub use explain::explain;
pub use graphql::{GraphqlDecision, GraphqlOpDecision};
pub use host_allow::{HostAllow, HostAllowError};
pub use ids::{AgentId, RuleId, SecretName};
pub use mcp::{McpCall, McpCallDecision, McpDecision};
pub use normalize::{NormalizeError, NormalizedTarget, normalize_target};
pub use request::{BodyNeed, RequestBody, RequestHead, Scheme};
pub use rule::Rule;
pub use ruleset::{RuleSet, Summary};
pub use sample::{SampleRequest, SampleRequestError};
pub use spelling::{AmbiguousPath, Spellings};
pub use tests_runner::{RuleTest, TestOutcome, TestReport};

#[cfg(test)]
mod examples_tests;
