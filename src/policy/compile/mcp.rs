//! Compiles a rule's `mcp:` section: JSON-RPC method patterns, tool names, and the
//! `arguments:` conditions on `params.arguments`.

use serde_saphyr::Spanned;

use super::{Ctx, checks};
use crate::policy::json::JsonPath;
use crate::policy::mcp::{
    McpSelector, MethodPattern, PROMPTS_GET, RESOURCES_READ, ResourcePattern, TOOLS_CALL,
};
use crate::policy::raw::{OneOrMany, RawMcp};
use crate::policy::rule::Subject;

/// Compiles `mcp:`; errors are recorded at the offending key or value.
pub(super) fn compile_mcp(ctx: &mut Ctx<'_>, raw: &Spanned<RawMcp>) -> McpSelector {
    let mcp = &raw.value;
    let methods = mcp.method.as_ref().map(|m| {
        let texts = list(&m.value);
        if texts.is_empty() {
            ctx.error_at(m, "`mcp.method:` list is empty");
        }
        let mut patterns = Vec::new();
        for text in texts {
            match MethodPattern::parse(text) {
                Some(p) => patterns.push(p),
                None => ctx.error_at(
                    m,
                    format!(
                        "invalid JSON-RPC method `{text}` (a name such as `tools/call`, or a prefix such as `notifications/*`)"
                    ),
                ),
            }
        }
        patterns
    });
    let names = |method: &str| {
        methods.as_ref().is_some_and(|m| {
            m.iter()
                .any(|p| p == &MethodPattern::Exact(method.to_owned()))
        })
    };
    let tools = mcp.tool.as_ref().map(|t| {
        let texts = list(&t.value);
        if texts.is_empty() {
            ctx.error_at(t, "`mcp.tool:` list is empty");
        }
        if texts.iter().any(|name| name.is_empty()) {
            ctx.error_at(t, "empty tool name");
        }
        if !names(TOOLS_CALL) {
            ctx.error_at(
                t,
                "`mcp.tool:` needs `method: tools/call` (only tools/call names a tool)",
            );
        }
        texts.into_iter().map(str::to_owned).collect()
    });
    let resources = mcp.resource.as_ref().map(|r| {
        let texts = list(&r.value);
        if texts.is_empty() {
            ctx.error_at(r, "`mcp.resource:` list is empty");
        }
        if !names(RESOURCES_READ) {
            ctx.error_at(
                r,
                "`mcp.resource:` needs `method: resources/read` (only resources/read names a resource)",
            );
        }
        let mut patterns = Vec::new();
        for text in texts {
            match ResourcePattern::parse(text) {
                Some(p) => patterns.push(p),
                None => ctx.error_at(
                    r,
                    format!(
                        "invalid resource URI `{text}` (a URI, or a prefix ending in `*` such as `file:///docs/*`)"
                    ),
                ),
            }
        }
        patterns
    });
    let mut arguments = Vec::new();
    for (pointer, cond) in &mcp.arguments.0 {
        if !names(TOOLS_CALL) && !names(PROMPTS_GET) {
            ctx.error_at(
                pointer,
                "`mcp.arguments:` needs `method: tools/call` or `prompts/get` (the calls with params.arguments)",
            );
        }
        match JsonPath::parse(&pointer.value) {
            Ok(path) => checks::push_check(
                ctx,
                &mut arguments,
                pointer,
                Subject::McpArgument(path),
                cond,
            ),
            Err(e) => ctx.error_at(pointer, e.to_string()),
        }
    }
    McpSelector {
        methods,
        tools,
        resources,
        arguments,
    }
}

/// The entries of `x` or `[x, y]` (of `mcp:` and `graphql:` lists alike).
pub(super) fn list(value: &OneOrMany) -> Vec<&str> {
    match value {
        OneOrMany::One(one) => vec![one.as_str()],
        OneOrMany::Many(many) => many.iter().map(String::as_str).collect(),
    }
}

#[cfg(test)]
mod tests;
