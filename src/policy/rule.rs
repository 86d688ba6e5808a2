//! A compiled rule: selector, conditions, body requirements, decision and carried extras.

use ipnet::IpNet;

use crate::policy::condition::Condition;
use crate::policy::decision::{Mode, Verdict};
use crate::policy::error::Pos;
use crate::policy::extras::{Approval, HeaderTemplate, Limits, ResponseRedaction};
use crate::policy::graphql::GraphqlSelector;
use crate::policy::ids::{AgentId, RuleId, SecretName};
use crate::policy::json::JsonPath;
use crate::policy::mcp::McpSelector;
use crate::policy::spelling::Spellings;
use crate::policy::url_pattern::UrlPattern;

/// What a condition looks at.
#[derive(Clone, Debug)]
pub enum Subject {
    /// A query parameter (decoded; repeated parameters are an array).
    Query(String),
    /// A request header (repeated headers are an array).
    Header(http::HeaderName),
    /// A `{name}` capture of the URL pattern.
    Capture(String),
    /// A pointer into the JSON body.
    Json(JsonPath),
    /// A pointer into the form-urlencoded body (`/to` is field `to`).
    Form(JsonPath),
    /// A pointer into an MCP call's `params.arguments`.
    McpArgument(JsonPath),
    /// A pointer into a GraphQL operation's `variables`.
    GraphqlVariable(JsonPath),
}

/// One condition on one subject.
#[derive(Clone, Debug)]
pub struct Check {
    /// What is checked.
    pub subject: Subject,
    /// The tests it must pass.
    pub condition: Condition,
}

/// A `must_match` / `must_not_match` entry: a regex or a named pattern set.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// `secrets` for a set, `/regex/` for an inline regex.
    pub label: String,
    /// The regexes; the entry matches when any of them matches the raw body.
    pub regexes: Vec<regex::bytes::Regex>,
}

/// A rule's `body:` section.
#[derive(Clone, Debug)]
pub struct BodyRules {
    /// Bodies over this size are not inspected but denied.
    pub max_size: usize,
    /// Each must match the decoded body.
    pub must_match: Vec<Matcher>,
    /// None may match the decoded body.
    pub must_not_match: Vec<Matcher>,
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) id: RuleId,
    pub(crate) description: Option<String>,
    pub(crate) pos: Pos,
    pub(crate) agents: Option<Vec<AgentId>>,
    pub(crate) methods: Option<Vec<http::Method>>,
    pub(crate) url: UrlPattern,
    pub(crate) checks: Vec<Check>,
    pub(crate) body: Option<BodyRules>,
    /// `mcp:` the JSON-RPC calls the rule matches; `Some` means the body is read as JSON-RPC.
    pub(crate) mcp: Option<McpSelector>,
    /// `graphql:` the GraphQL operations the rule matches; `Some` means the request is read
    /// as GraphQL.
    pub(crate) graphql: Option<GraphqlSelector>,
    pub(crate) verdict: Verdict,
    pub(crate) mode: Mode,
    pub(crate) inject: Vec<SecretName>,
    /// Whether placeholders in the body are replaced too (`inject_body: true`).
    pub(crate) inject_body: bool,
    pub(crate) set_headers: Vec<HeaderTemplate>,
    /// `sign:` the signature header computed with a secret.
    pub(crate) sign: Option<crate::policy::signing::Signing>,
    pub(crate) limits: Option<Limits>,
    pub(crate) approval: Option<Approval>,
    pub(crate) response: Option<ResponseRedaction>,
    /// `allow_private:` ranges: the private destinations this rule's requests may reach.
    pub(crate) allow_private: Vec<IpNet>,
    /// `path_spellings:` the ambiguous spellings this rule admits for its host.
    pub(crate) path_spellings: Spellings,
    /// `POST https://host/path`, computed once for traces.
    pub(crate) selector: String,
}

impl Rule {
    /// The rule's unique id.
    pub fn id(&self) -> &RuleId {
        &self.id
    }
    /// Its `description:`.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// Where it is written (`file:line:col` of its `id`).
    pub fn pos(&self) -> &Pos {
        &self.pos
    }
    /// The agents it applies to (`None`: all).
    pub fn agents(&self) -> Option<&[AgentId]> {
        self.agents.as_deref()
    }
    /// The methods it applies to (`None`: all).
    pub fn methods(&self) -> Option<&[http::Method]> {
        self.methods.as_deref()
    }
    /// Its URL pattern.
    pub fn url(&self) -> &UrlPattern {
        &self.url
    }
    /// Its query, header, capture and body conditions.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }
    /// Its body requirements (`Some` means the body is inspected).
    pub fn body(&self) -> Option<&BodyRules> {
        self.body.as_ref()
    }
    /// Its `mcp:` selector.
    pub fn mcp(&self) -> Option<&McpSelector> {
        self.mcp.as_ref()
    }
    /// Its `graphql:` selector.
    pub fn graphql(&self) -> Option<&GraphqlSelector> {
        self.graphql.as_ref()
    }
    /// `decision:`.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
    /// `mode:`.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// `inject:` secret names.
    pub fn inject(&self) -> &[SecretName] {
        &self.inject
    }

    /// `inject_body:` whether placeholders in the request body are replaced.
    pub fn inject_body(&self) -> bool {
        self.inject_body
    }
    /// `set_headers:` templates.
    pub fn set_headers(&self) -> &[HeaderTemplate] {
        &self.set_headers
    }
    /// `sign:`.
    pub fn sign(&self) -> Option<&crate::policy::signing::Signing> {
        self.sign.as_ref()
    }
    /// `limits:`.
    pub fn limits(&self) -> Option<&Limits> {
        self.limits.as_ref()
    }
    /// `approval:`.
    pub fn approval(&self) -> Option<&Approval> {
        self.approval.as_ref()
    }
    /// `response:`.
    pub fn response(&self) -> Option<&ResponseRedaction> {
        self.response.as_ref()
    }
    /// `path_spellings:` the ambiguous path spellings it admits for its host.
    pub fn path_spellings(&self) -> Spellings {
        self.path_spellings
    }
    /// `allow_private:` ranges: private addresses the upstream connector may dial for the
    /// requests this rule allows (see `upstream::PrivateAllowance`).
    pub fn allow_private(&self) -> &[IpNet] {
        &self.allow_private
    }

    /// `METHODS URL` as shown in traces, e.g. `POST https://api.github.com/repos/acme/*/issues`.
    pub(crate) fn selector_text(methods: Option<&[http::Method]>, url: &UrlPattern) -> String {
        let methods = methods.map_or_else(
            || "*".to_owned(),
            |m| {
                m.iter()
                    .map(http::Method::as_str)
                    .collect::<Vec<_>>()
                    .join("|")
            },
        );
        format!("selector {methods} {url}")
    }

    /// Does this rule apply to `agent`? Rules without `agents:` apply to everyone,
    /// including unauthenticated requests; rules with it only to those agents.
    pub(crate) fn applies_to(&self, agent: Option<&AgentId>) -> bool {
        match (&self.agents, agent) {
            (None, _) => true,
            (Some(list), Some(agent)) => list.contains(agent),
            (Some(_), None) => false,
        }
    }

    /// Does the method match?
    pub(crate) fn matches_method(&self, method: &http::Method) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(method))
    }
}

/// A named set of regexes from `patterns:` (e.g. `secrets`: token formats).
#[derive(Clone, Debug)]
pub struct PatternSet {
    /// The set's name.
    pub name: String,
    /// The regexes as written (for response redaction).
    pub sources: Vec<String>,
    /// The same regexes compiled for bodies.
    pub regexes: Vec<regex::bytes::Regex>,
}
