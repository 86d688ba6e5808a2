//! GraphQL over HTTP: a rule's `graphql:` selector and the operations of a request.
//!
//! A request under a `graphql:` rule is read as GraphQL ([`request`]); each operation (one,
//! or each element of a batch) is decided on its own, by its type, name and top-level
//! fields ([`document`]). A request that cannot be read as GraphQL is denied.

pub mod document;
pub mod request;

use std::fmt;

use serde_json::Value;

use crate::policy::decision::Verdict;
use crate::policy::ids::RuleId;
use crate::policy::rule::Check;

pub use document::Operation;

/// The type of a GraphQL operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationType {
    /// `query` (and the `{ … }` shorthand).
    Query,
    /// `mutation`.
    Mutation,
    /// `subscription`.
    Subscription,
}

impl OperationType {
    /// `query`, `mutation` or `subscription`, as written in documents and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        }
    }

    /// Parses an operation type as a rule writes it.
    pub fn parse(text: &str) -> Option<OperationType> {
        match text {
            "query" => Some(OperationType::Query),
            "mutation" => Some(OperationType::Mutation),
            "subscription" => Some(OperationType::Subscription),
            _ => None,
        }
    }
}

impl fmt::Display for OperationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A top-level field as a rule writes it: `mutation.deleteRepository`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRef {
    /// The operation type the field is selected under.
    pub kind: OperationType,
    /// The field's name (not an alias).
    pub name: String,
}

impl FieldRef {
    /// Parses `type.field`; `None` when the type is unknown or the field is not a name.
    pub fn parse(text: &str) -> Option<FieldRef> {
        let (kind, name) = text.split_once('.')?;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let kind = OperationType::parse(kind).filter(|_| valid)?;
        Some(FieldRef {
            kind,
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

/// A rule's compiled `graphql:` section.
#[derive(Clone, Debug, Default)]
pub struct GraphqlSelector {
    /// `operation:`; `None` admits every type.
    pub operations: Option<Vec<OperationType>>,
    /// `name:` operation names; `None` admits every operation, named or not.
    pub names: Option<Vec<String>>,
    /// `fields:` top-level fields. An allow rule matches an operation all of whose fields
    /// are listed; a deny or approve rule one that selects any listed field.
    pub fields: Option<Vec<FieldRef>>,
    /// `persisted:` sha256 hashes (lowercase hex): the rule matches only these persisted
    /// queries, and is the one way to admit a hash sent without its query text.
    pub persisted: Option<Vec<String>>,
    /// `variables:` conditions on the operation's `variables`.
    pub variables: Vec<Check>,
}

impl GraphqlSelector {
    /// `Ok(())` when the rule, of `verdict`, selects `op`; else why not.
    pub fn matches(&self, op: &GraphqlOp, verdict: Verdict) -> Result<(), String> {
        if let Some(hashes) = &self.persisted {
            let hash = op.hash();
            if !hashes.iter().any(|h| Some(h.as_str()) == hash) {
                return Err(match hash {
                    Some(h) => format!("persisted query {h} is not listed"),
                    None => "not a persisted query".to_owned(),
                });
            }
        }
        let Some(operation) = &op.operation else {
            if self.operations.is_some() || self.names.is_some() || self.fields.is_some() {
                return Err(
                    "a persisted query sent without its text: its operation is unknown".to_owned(),
                );
            }
            return Ok(());
        };
        if let Some(kinds) = &self.operations
            && !kinds.contains(&operation.kind)
        {
            return Err(format!(
                "graphql operation {} does not match",
                operation.kind
            ));
        }
        if let Some(names) = &self.names {
            match &operation.name {
                Some(name) if names.contains(name) => {}
                Some(name) => return Err(format!("graphql operation name {name} does not match")),
                None => return Err("the operation has no name".to_owned()),
            }
        }
        if let Some(fields) = &self.fields {
            let listed = |name: &String| {
                fields
                    .iter()
                    .any(|f| f.kind == operation.kind && &f.name == name)
            };
            let kind = operation.kind;
            if verdict == Verdict::Allow {
                if let Some(other) = operation.fields.iter().find(|f| !listed(f)) {
                    return Err(format!("graphql field {kind}.{other} is not listed"));
                }
            } else if !operation.fields.iter().any(listed) {
                return Err("no listed graphql field is selected".to_owned());
            }
        }
        Ok(())
    }

    /// `graphql mutation addComment [deleteRepository]`, as shown in traces.
    pub fn text(&self) -> String {
        let mut text = "graphql".to_owned();
        if let Some(kinds) = &self.operations {
            let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            text = format!("{text} {}", kinds.join("|"));
        }
        if let Some(names) = &self.names {
            text = format!("{text} name {}", names.join("|"));
        }
        if let Some(fields) = &self.fields {
            let fields: Vec<String> = fields.iter().map(ToString::to_string).collect();
            text = format!("{text} fields {}", fields.join("|"));
        }
        if let Some(hashes) = &self.persisted {
            text = format!("{text} persisted {}", hashes.join("|"));
        }
        text
    }
}

/// One GraphQL operation of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphqlOp {
    /// Its place in a batch (0 for a single operation).
    pub index: usize,
    /// The operation run; `None` for a persisted query sent by hash alone.
    pub operation: Option<Operation>,
    /// Its `variables`, when present.
    pub variables: Option<Value>,
    /// `extensions.persistedQuery.sha256Hash`, when sent (checked against the text).
    pub persisted: Option<String>,
}

impl GraphqlOp {
    /// The persisted query hash sent; `None` when the request sent none.
    pub fn hash(&self) -> Option<&str> {
        self.persisted.as_deref()
    }

    /// `mutation DeleteRepo (deleteRepository)`, or `persisted query <hash>`.
    pub fn label(&self) -> String {
        match (&self.operation, &self.persisted) {
            (Some(op), _) => {
                let name = op
                    .name
                    .as_deref()
                    .map_or(String::new(), |n| format!(" {n}"));
                format!("{}{name} ({})", op.kind, op.fields.join(", "))
            }
            (None, Some(hash)) => format!("persisted query {hash}"),
            (None, None) => "an operation".to_owned(),
        }
    }
}

/// The GraphQL operations of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphqlOps {
    /// The operations, in body order.
    pub ops: Vec<GraphqlOp>,
    /// Whether the body was a batch (a JSON array).
    pub batch: bool,
}

/// How one operation of a request was decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphqlOpDecision {
    /// The operation.
    pub op: GraphqlOp,
    /// Its verdict (the enforced one).
    pub verdict: Verdict,
    /// The rule that decided it.
    pub rule: Option<RuleId>,
    /// Why.
    pub reason: String,
}

/// The per-operation decisions of a GraphQL request, kept in the [`crate::policy::Decision`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphqlDecision {
    /// Whether the body was a batch.
    pub batch: bool,
    /// One entry per operation, in body order; empty when the request could not be read
    /// as GraphQL (then the request's decision is the denial saying why).
    pub ops: Vec<GraphqlOpDecision>,
    /// The index of the operation whose decision is the request's.
    pub deciding: usize,
}

impl GraphqlDecision {
    /// The operation whose decision is the request's.
    pub fn deciding_op(&self) -> Option<&GraphqlOpDecision> {
        self.ops.get(self.deciding)
    }
}

#[cfg(test)]
mod tests;
