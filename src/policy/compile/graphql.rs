//! Compiles a rule's `graphql:` section: operation types, operation names, top-level
//! fields written `type.field`, persisted query hashes, and `variables:` conditions.

use serde_saphyr::Spanned;

use super::mcp::list;
use super::{Ctx, checks};
use crate::policy::graphql::request::is_sha256_hex;
use crate::policy::graphql::{FieldRef, GraphqlSelector, OperationType};
use crate::policy::json::JsonPath;
use crate::policy::raw::{OneOrMany, RawGraphql};
use crate::policy::rule::Subject;

/// Compiles `graphql:`; errors are recorded at the offending key or value.
pub(super) fn compile_graphql(ctx: &mut Ctx<'_>, raw: &Spanned<RawGraphql>) -> GraphqlSelector {
    let gql = &raw.value;
    let operations = entries(ctx, gql.operation.as_ref(), "operation", |text| {
        OperationType::parse(text).ok_or_else(|| {
            format!("unknown GraphQL operation type `{text}` (query, mutation or subscription)")
        })
    });
    let names = entries(ctx, gql.name.as_ref(), "name", |text| {
        let valid = !text.is_empty()
            && !text.starts_with(|c: char| c.is_ascii_digit())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        valid
            .then(|| text.to_owned())
            .ok_or_else(|| format!("invalid GraphQL operation name `{text}`"))
    });
    let fields = entries(ctx, gql.fields.as_ref(), "fields", |text| {
        FieldRef::parse(text).ok_or_else(|| {
            format!(
                "invalid GraphQL field `{text}` (write `type.field`, e.g. `mutation.deleteRepository`)"
            )
        })
    });
    if let (Some(kinds), Some(fields), Some(at)) = (&operations, &fields, &gql.fields)
        && let Some(field) = fields.iter().find(|f| !kinds.contains(&f.kind))
    {
        ctx.error_at(
            at,
            format!(
                "field `{field}` is under an operation type that `graphql.operation:` does not list"
            ),
        );
    }
    let persisted = entries(ctx, gql.persisted.as_ref(), "persisted", |text| {
        is_sha256_hex(text)
            .then(|| text.to_ascii_lowercase())
            .ok_or_else(|| {
                format!("invalid persisted query hash `{text}` (a sha256 in 64 hex digits)")
            })
    });
    let mut variables = Vec::new();
    for (pointer, cond) in &gql.variables.0 {
        match JsonPath::parse(&pointer.value) {
            Ok(path) => checks::push_check(
                ctx,
                &mut variables,
                pointer,
                Subject::GraphqlVariable(path),
                cond,
            ),
            Err(e) => ctx.error_at(pointer, e.to_string()),
        }
    }
    GraphqlSelector {
        operations,
        names,
        fields,
        persisted,
        variables,
    }
}

/// Parses each entry of one list key; errors at the key's value.
fn entries<T>(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<OneOrMany>>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    let raw = raw?;
    let texts = list(&raw.value);
    if texts.is_empty() {
        ctx.error_at(raw, format!("`graphql.{key}:` list is empty"));
    }
    let mut out = Vec::new();
    for text in texts {
        match parse(text) {
            Ok(value) => out.push(value),
            Err(message) => ctx.error_at(raw, message),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
