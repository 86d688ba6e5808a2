//! Raw serde structs for one rule file, exactly as written (`deny_unknown_fields` everywhere).
//!
//! Values whose errors are found only later (regexes, names, URLs) are wrapped in
//! [`Spanned`] so the compiler can report their `file:line:col`.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// A spanned string: a value plus where it was written.
pub(crate) type SStr = Spanned<String>;

mod credentials;

pub(crate) use credentials::*;

/// One rule file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub patterns: OrderedMap<Vec<SStr>>,
    #[serde(default)]
    pub secrets: OrderedMap<RawSecret>,
    #[serde(default)]
    pub agents: OrderedMap<RawAgent>,
    #[serde(default)]
    pub tests: Vec<RawTest>,
    /// `actions:` (see `crate::actions`).
    #[serde(default)]
    pub actions: Vec<crate::actions::raw::RawAction>,
}

/// One entry of `rules:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: SStr,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub agents: Option<Vec<SStr>>,
    #[serde(default)]
    pub method: Option<Spanned<OneOrMany>>,
    pub url: SStr,
    #[serde(default)]
    pub query: OrderedMap<RawCondition>,
    #[serde(default)]
    pub headers: OrderedMap<RawCondition>,
    #[serde(default)]
    pub captures: OrderedMap<RawCondition>,
    #[serde(default)]
    pub body: Option<RawBody>,
    #[serde(default)]
    pub mcp: Option<Spanned<RawMcp>>,
    #[serde(default)]
    pub graphql: Option<Spanned<RawGraphql>>,
    pub decision: RawVerdict,
    #[serde(default)]
    pub mode: Option<RawMode>,
    #[serde(default)]
    pub inject: Vec<SStr>,
    #[serde(default)]
    pub inject_body: bool,
    #[serde(default)]
    pub set_headers: OrderedMap<SStr>,
    #[serde(default)]
    pub sign: Option<RawSign>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub approval: Option<RawApproval>,
    #[serde(default)]
    pub response: Option<RawResponse>,
    #[serde(default)]
    pub allow_private: Vec<SStr>,
    #[serde(default)]
    pub path_spellings: Option<RawSpellings>,
}

/// `path_spellings:` — ambiguous path spellings the rule's host admits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpellings {
    #[serde(default)]
    pub empty_segments: Option<RawAdmit>,
    #[serde(default)]
    pub parameters: Option<RawAdmit>,
}

/// `allow` or `refuse` (the default) for one spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawAdmit {
    Allow,
    Refuse,
}

/// `method: POST` or `method: [GET, HEAD]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `decision:` and a test's `expect:`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawVerdict {
    Allow,
    Deny,
    Approve,
}

/// `mode:`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawMode {
    Enforce,
    Shadow,
}

/// A rule's `body:` requirements.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBody {
    #[serde(default)]
    pub json: OrderedMap<RawCondition>,
    #[serde(default)]
    pub form: OrderedMap<RawCondition>,
    #[serde(default)]
    pub must_match: Vec<SStr>,
    #[serde(default)]
    pub must_not_match: Vec<SStr>,
    #[serde(default)]
    pub max_size: Option<Spanned<RawSize>>,
}

/// A rule's `mcp:` selector: which JSON-RPC calls it matches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    #[serde(default)]
    pub method: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub tool: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub resource: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub arguments: OrderedMap<RawCondition>,
}

/// A rule's `graphql:` selector: which GraphQL operations it matches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGraphql {
    #[serde(default)]
    pub operation: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub name: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub fields: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub persisted: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub variables: OrderedMap<RawCondition>,
}

/// `max_size: 65536` or `max_size: 64KiB`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSize {
    Bytes(u64),
    Text(String),
}

/// One condition map: every key present must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCondition {
    #[serde(default, deserialize_with = "some_value")]
    pub equals: Option<Value>,
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    #[serde(default)]
    pub regex: Option<SStr>,
    #[serde(default, deserialize_with = "some_value")]
    pub not_equals: Option<Value>,
    #[serde(default)]
    pub not_one_of: Option<Vec<Value>>,
    #[serde(default)]
    pub not_regex: Option<SStr>,
    #[serde(default)]
    pub absent: Option<bool>,
    #[serde(default)]
    pub present: Option<bool>,
    #[serde(default)]
    pub max_len: Option<u64>,
    #[serde(default)]
    pub max_items: Option<u64>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub optional: Option<bool>,
}

/// `limits:` (parsed and validated; enforced by later work).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    #[serde(default)]
    pub rate: Option<SStr>,
    /// LLM tokens per window (`2M/day`).
    #[serde(default)]
    pub tokens: Option<SStr>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub per: Option<RawPer>,
}

/// `limits.per:`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawPer {
    Agent,
    Rule,
}

/// `approval:` (parsed and validated; used by the approvals work).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApproval {
    #[serde(default)]
    pub timeout: Option<SStr>,
    #[serde(default)]
    pub webhook: Option<SStr>,
}

/// `response:` redaction (parsed and validated; used by the redaction work).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResponse {
    #[serde(default)]
    pub redact_json: Vec<SStr>,
    #[serde(default)]
    pub redact_patterns: Vec<SStr>,
}

/// One entry of `tests:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTest {
    pub request: SStr,
    #[serde(default)]
    pub agent: Option<SStr>,
    #[serde(default)]
    pub headers: OrderedMap<String>,
    #[serde(default, deserialize_with = "some_value")]
    pub body: Option<Value>,
    pub expect: RawVerdict,
    #[serde(default)]
    pub rule: Option<SStr>,
}

/// Deserializes any value, including `null`, as `Some` (so `equals: null` is expressible).
fn some_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A YAML mapping kept in file order, with the position of each key.
#[derive(Debug)]
pub(crate) struct OrderedMap<V>(pub Vec<(SStr, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<SStr>()? {
                    let value = map.next_value::<V>()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}
