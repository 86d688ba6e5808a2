//! Actions: named, schema-checked operations (`github.create_issue`) declared in rule files
//! under `actions:`, which keyward turns into ordinary requests that the rules then decide.
//!
//! # Layout
//! - [`raw`](self::raw): serde structs of an `actions:` entry, `deny_unknown_fields`.
//! - [`compile`](self::compile): raw → [`Action`] with every error as `file:line:col`.
//! - [`schema`]: the input schema (a JSON Schema subset) and input validation.
//! - [`template`]: URL, header and body templates; [`render`]: input → request.
//! - [`shape`]: the upstream's JSON cut down to the fields the agent gets back.
//! - [`catalog`]: the actions served as MCP tools; [`via_proxy`]: their requests sent
//!   through keyward's own proxy port, marked by [`handoff`] with the action and its input; [`listener`]: the MCP listener serving them;
//!   [`refusal_record`]: the audit entry of a call refused before anything was sent.
//!
//! See `docs/actions.md` for the format.

pub mod catalog;
pub(crate) mod compile;
pub mod handoff;
pub mod listener;
pub mod openapi;
pub(crate) mod raw;
pub mod refusal_record;
pub mod render;
pub mod schema;
pub mod shape;
pub mod template;
#[cfg(test)]
pub(crate) mod testing;
pub mod via_proxy;

use bytes::Bytes;
use serde_json::Value;

use crate::policy::decision::Verdict;
use crate::policy::error::Pos;
use crate::policy::extras::{Approval, Limits};
use crate::policy::ids::{AgentId, SecretName};

pub use render::RenderError;
pub use schema::{InputError, Schema};
pub use shape::{Shape, ShapeError};
pub use template::{BodyTemplate, TextTemplate, UrlTemplate};

/// A compiled action.
#[derive(Clone, Debug)]
pub struct Action {
    /// `name:` a lowercase dotted identifier, unique across files.
    pub(crate) name: String,
    /// `description:` for the model.
    pub(crate) description: String,
    /// Where its `name` is written.
    pub(crate) pos: Pos,
    /// `agents:` who may use it (`None`: every agent).
    pub(crate) agents: Option<Vec<AgentId>>,
    /// `input:` the schema every call's input must satisfy.
    pub(crate) input: Schema,
    /// `request:` what a call becomes.
    pub(crate) request: RequestTemplate,
    /// `response.fields:` what the agent gets back (none listed: `{}`).
    pub(crate) shape: Shape,
    /// `decision:` the action's own verdict, on top of the rules (`None`: the rules alone).
    pub(crate) verdict: Option<Verdict>,
    /// `approval:` as on a rule.
    pub(crate) approval: Option<Approval>,
    /// `limits:` as on a rule.
    pub(crate) limits: Option<Limits>,
    /// `inject:` secrets whose placeholders the request may carry.
    pub(crate) inject: Vec<SecretName>,
}

/// An action's `request:`.
#[derive(Clone, Debug)]
pub struct RequestTemplate {
    /// The method.
    pub method: http::Method,
    /// The URL with its fixed host.
    pub url: UrlTemplate,
    /// Header templates.
    pub headers: Vec<(http::HeaderName, TextTemplate)>,
    /// The JSON body template (`None`: no body).
    pub body: Option<BodyTemplate>,
}

/// Why a call could not become a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The input does not satisfy the schema.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// The input cannot be rendered safely.
    #[error("{0}")]
    Render(#[from] RenderError),
}

impl Action {
    /// `name:`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `description:`.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// Where it is written.
    pub fn pos(&self) -> &Pos {
        &self.pos
    }
    /// `input:`.
    pub fn input(&self) -> &Schema {
        &self.input
    }
    /// `request:`.
    pub fn request(&self) -> &RequestTemplate {
        &self.request
    }
    /// `response.fields:`.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    /// `decision:`.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }
    /// `approval:`.
    pub fn approval(&self) -> Option<&Approval> {
        self.approval.as_ref()
    }
    /// `limits:`.
    pub fn limits(&self) -> Option<&Limits> {
        self.limits.as_ref()
    }
    /// `inject:`.
    pub fn inject(&self) -> &[SecretName] {
        &self.inject
    }

    /// May `agent` use it? Actions without `agents:` are open to every agent.
    pub fn applies_to(&self, agent: Option<&AgentId>) -> bool {
        match (&self.agents, agent) {
            (None, _) => true,
            (Some(list), Some(agent)) => list.contains(agent),
            (Some(_), None) => false,
        }
    }

    /// Validates `input` and renders the request it becomes (the rules still decide it).
    pub fn build(&self, input: &Value) -> Result<http::Request<Bytes>, CallError> {
        self.input.validate(input)?;
        let empty = serde_json::Map::new();
        let fields = input.as_object().unwrap_or(&empty);
        let template = &self.request;
        let target = render::render_target(&template.url, fields)?;
        let uri = format!(
            "{}://{}{target}",
            template.url.scheme, template.url.authority
        );
        let mut builder = http::Request::builder()
            .method(template.method.clone())
            .uri(uri);
        for (name, value) in &template.headers {
            if let Some(value) = render::render_header(name, value, fields)? {
                builder = builder.header(name, value);
            }
        }
        let body = match template
            .body
            .as_ref()
            .and_then(|b| render::render_body(b, fields))
        {
            Some(json) => {
                if !template
                    .headers
                    .iter()
                    .any(|(n, _)| n == http::header::CONTENT_TYPE)
                {
                    builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                }
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        builder
            .body(body)
            .map_err(|e| CallError::Render(RenderError::Invalid(e.to_string())))
    }
}
