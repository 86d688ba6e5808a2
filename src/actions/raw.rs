//! Raw serde structs of one `actions:` entry, exactly as written (`deny_unknown_fields`
//! everywhere, so an unknown key or schema keyword is an error at its position).

use serde::Deserialize;
use serde_json::Value;

use crate::policy::raw::{OrderedMap, RawApproval, RawLimits, RawVerdict, SStr};

/// One entry of `actions:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub name: SStr,
    pub description: SStr,
    #[serde(default)]
    pub agents: Option<Vec<SStr>>,
    pub input: RawSchema,
    pub request: RawRequest,
    #[serde(default)]
    pub response: Option<RawShape>,
    #[serde(default)]
    pub decision: Option<RawVerdict>,
    #[serde(default)]
    pub approval: Option<RawApproval>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub inject: Vec<SStr>,
}

/// An action's `input:` — the JSON Schema subset keyward understands.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawSchema {
    #[serde(default, rename = "type")]
    pub kind: Option<SStr>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub properties: OrderedMap<RawSchema>,
    #[serde(default)]
    pub required: Vec<SStr>,
    #[serde(default, rename = "enum")]
    pub one_of: Option<Vec<Value>>,
    #[serde(default)]
    pub pattern: Option<SStr>,
    #[serde(default)]
    pub minimum: Option<f64>,
    #[serde(default)]
    pub maximum: Option<f64>,
    #[serde(default)]
    pub min_length: Option<u64>,
    #[serde(default)]
    pub max_length: Option<u64>,
    #[serde(default)]
    pub items: Option<Box<RawSchema>>,
    #[serde(default)]
    pub min_items: Option<u64>,
    #[serde(default)]
    pub max_items: Option<u64>,
    #[serde(default)]
    pub additional_properties: Option<bool>,
}

/// An action's `request:` — what a call becomes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    pub method: SStr,
    pub url: SStr,
    #[serde(default)]
    pub headers: OrderedMap<SStr>,
    #[serde(default)]
    pub body: Option<serde_saphyr::Spanned<Value>>,
}

/// An action's `response:` — which fields of the upstream's JSON the agent gets back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShape {
    pub fields: Vec<SStr>,
}
