//! Compiles an action's `input:` schema: known types, keywords that apply to the type,
//! `required:` names among `properties:`, regexes, and `enum:` members of the type.

use super::Ctx;
use crate::actions::raw::RawSchema;
use crate::actions::schema::{Bounds, Kind, Schema};
use crate::policy::compile::{REGEX_SIZE_LIMIT, regex_error};
use crate::policy::raw::SStr;

/// Compiles a schema node; `at` is where errors without a better position go.
pub(super) fn compile_schema(ctx: &mut Ctx<'_>, at: &SStr, raw: &RawSchema) -> Option<Schema> {
    let Some(kind_text) = &raw.kind else {
        ctx.error_at(
            at,
            "schema has no `type:` (object, string, integer, number, boolean or array)",
        );
        return None;
    };
    let at = kind_text;
    let misplaced = |ctx: &mut Ctx<'_>, used: bool, keyword: &str| {
        if used {
            ctx.error_at(
                at,
                format!("`{keyword}` does not apply to type `{}`", at.value),
            );
        }
    };
    let is_obj = kind_text.value == "object";
    misplaced(ctx, !is_obj && !raw.properties.0.is_empty(), "properties");
    misplaced(ctx, !is_obj && !raw.required.is_empty(), "required");
    misplaced(
        ctx,
        !is_obj && raw.additional_properties.is_some(),
        "additionalProperties",
    );
    let is_str = kind_text.value == "string";
    misplaced(ctx, !is_str && raw.pattern.is_some(), "pattern");
    misplaced(ctx, !is_str && raw.min_length.is_some(), "minLength");
    misplaced(ctx, !is_str && raw.max_length.is_some(), "maxLength");
    let is_num = matches!(kind_text.value.as_str(), "integer" | "number");
    misplaced(ctx, !is_num && raw.minimum.is_some(), "minimum");
    misplaced(ctx, !is_num && raw.maximum.is_some(), "maximum");
    let is_arr = kind_text.value == "array";
    misplaced(ctx, !is_arr && raw.items.is_some(), "items");
    misplaced(ctx, !is_arr && raw.min_items.is_some(), "minItems");
    misplaced(ctx, !is_arr && raw.max_items.is_some(), "maxItems");

    let kind = match kind_text.value.as_str() {
        "object" => {
            let mut properties = Vec::new();
            for (name, sub) in &raw.properties.0 {
                if let Some(schema) = compile_schema(ctx, name, sub) {
                    properties.push((name.value.clone(), schema));
                }
            }
            for name in &raw.required {
                if !raw.properties.0.iter().any(|(n, _)| n.value == name.value) {
                    ctx.error_at(
                        name,
                        format!("required field `{}` is not in `properties:`", name.value),
                    );
                }
            }
            Kind::Object {
                properties,
                required: raw.required.iter().map(|r| r.value.clone()).collect(),
                additional: raw.additional_properties.unwrap_or(false),
            }
        }
        "string" => {
            let pattern = raw.pattern.as_ref().and_then(|p| {
                regex::RegexBuilder::new(&p.value)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        ctx.error_at(
                            p,
                            format!("invalid pattern `{}`: {}", p.value, regex_error(&e)),
                        )
                    })
                    .ok()
            });
            if let (Some(min), Some(max)) = (raw.min_length, raw.max_length)
                && min > max
            {
                ctx.error_at(at, format!("minLength {min} is more than maxLength {max}"));
            }
            Kind::String {
                pattern,
                min_length: raw.min_length,
                max_length: raw.max_length,
            }
        }
        "integer" | "number" => {
            if let (Some(min), Some(max)) = (raw.minimum, raw.maximum)
                && min > max
            {
                ctx.error_at(at, format!("minimum {min} is more than maximum {max}"));
            }
            let bounds = Bounds {
                minimum: raw.minimum,
                maximum: raw.maximum,
            };
            if kind_text.value == "integer" {
                Kind::Integer(bounds)
            } else {
                Kind::Number(bounds)
            }
        }
        "boolean" => Kind::Boolean,
        "array" => {
            let Some(items) = &raw.items else {
                ctx.error_at(at, "an array needs `items:` (the schema of its elements)");
                return None;
            };
            if let (Some(min), Some(max)) = (raw.min_items, raw.max_items)
                && min > max
            {
                ctx.error_at(at, format!("minItems {min} is more than maxItems {max}"));
            }
            Kind::Array {
                items: Box::new(compile_schema(ctx, at, items)?),
                min_items: raw.min_items,
                max_items: raw.max_items,
            }
        }
        other => {
            ctx.error_at(
                at,
                format!(
                    "unknown type `{other}` (object, string, integer, number, boolean or array)"
                ),
            );
            return None;
        }
    };
    let schema = Schema {
        kind,
        one_of: raw.one_of.clone(),
        description: raw.description.clone(),
    };
    if let Some(values) = &raw.one_of {
        if values.is_empty() {
            ctx.error_at(at, "`enum:` is empty");
        }
        let open = Schema {
            one_of: None,
            ..schema.clone()
        };
        for value in values {
            if let Err(e) = open.validate(value) {
                ctx.error_at(at, format!("`enum:` member {value}: {}", e.message));
            }
        }
    }
    Some(schema)
}
