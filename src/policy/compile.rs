//! The compiler: rule files (raw serde structs) to a validated [`Compiled`] set in one pass
//! that collects every error as `file:line:col: message`.
//!
//! Order of the pass: parse every file; collect declarations from all files (`patterns`,
//! `secrets`, `agents`), so that files may refer to each other in any order; compile rules
//! (duplicate ids across files are errors); compile `tests:` (which may name rules).

mod checks;
mod decls;
pub(crate) mod extras;
mod graphql;
mod managers;
mod mcp;
mod rule;
mod samples;
mod signing;

pub(crate) use decls::parse_method_text;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::policy::decls::{AgentDecl, SecretDecl};
use crate::policy::error::{CompileErrors, Errors, Pos};
use crate::policy::raw::RawFile;
use crate::policy::rule::{PatternSet, Rule};
use crate::policy::tests_runner::RuleTest;

/// One rule file's path (as shown in errors) and text.
#[derive(Clone, Debug)]
pub struct Source {
    /// Shown in every error position.
    pub path: PathBuf,
    /// The YAML text.
    pub text: String,
}

/// Everything a compile produces; [`crate::policy::RuleSet`] indexes it.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    pub rules: Vec<Rule>,
    pub patterns: Vec<PatternSet>,
    pub secrets: Vec<SecretDecl>,
    pub agents: Vec<AgentDecl>,
    pub tests: Vec<RuleTest>,
    /// `actions:` entries.
    pub actions: Vec<crate::actions::Action>,
}

/// What rules may refer to, gathered from all files before rules are compiled.
pub(crate) struct Names {
    /// Pattern sets by name (index into `Compiled::patterns`; `None` when it had errors).
    pub patterns: HashMap<String, Option<usize>>,
    /// Secrets by name (index into `Compiled::secrets`; `None` when the declaration had
    /// errors, so that uses of it do not cascade into more errors).
    pub secrets: HashMap<String, Option<usize>>,
    /// Declared agent names.
    pub agents: HashSet<String>,
    /// Secrets of kind `aws` (they sign requests; no template may name them).
    pub aws_secrets: HashSet<String>,
}

/// The state of one file's compile: where we are, where errors go, what names exist.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub errors: &'a mut Errors,
}

impl Ctx<'_> {
    /// Records an error at a spanned value.
    pub fn error_at<T>(&mut self, at: &serde_saphyr::Spanned<T>, message: impl Into<String>) {
        let pos = Pos::of(self.file, at);
        self.errors.push(pos, message);
    }

    /// The position of a spanned value in this file.
    pub fn pos<T>(&self, at: &serde_saphyr::Spanned<T>) -> Pos {
        Pos::of(self.file, at)
    }
}

/// Compiles rule files, returning every error found.
pub(crate) fn compile(sources: &[Source]) -> Result<Compiled, CompileErrors> {
    let mut errors = Errors::default();
    let files: Vec<(&Path, RawFile)> = sources
        .iter()
        .filter_map(|s| parse_file(s, &mut errors).map(|raw| (s.path.as_path(), raw)))
        .collect();

    let mut out = Compiled::default();
    let names = decls::compile_decls(&files, &mut out, &mut errors);

    let mut seen_ids: HashMap<String, Pos> = HashMap::new();
    let mut test_files = Vec::new();
    let mut action_names = HashMap::new();
    for (file, raw) in files {
        let mut ctx = Ctx {
            file,
            errors: &mut errors,
        };
        for raw_rule in raw.rules {
            let pos = ctx.pos(&raw_rule.id);
            let id = raw_rule.id.value.clone();
            if let Some(first) = seen_ids.get(&id) {
                ctx.errors.push(
                    pos.clone(),
                    format!("duplicate rule id `{id}` (first defined at {first})"),
                );
            } else {
                seen_ids.insert(id, pos);
            }
            if let Some(rule) = rule::compile_rule(&mut ctx, &names, &out, raw_rule) {
                out.rules.push(rule);
            }
        }
        let actions = crate::actions::compile::compile_actions(
            &mut ctx,
            &names,
            &out,
            raw.actions,
            &mut action_names,
        );
        out.actions.extend(actions);
        test_files.push((file, raw.tests));
    }
    for (file, tests) in test_files {
        let mut ctx = Ctx {
            file,
            errors: &mut errors,
        };
        for raw_test in tests {
            if let Some(test) = samples::compile_test(&mut ctx, &names, &seen_ids, raw_test) {
                out.tests.push(test);
            }
        }
    }
    errors.finish()?;
    Ok(out)
}

/// Parses one file; YAML and shape errors (unknown fields, wrong types) are recorded with
/// the position serde-saphyr reports.
fn parse_file(source: &Source, errors: &mut Errors) -> Option<RawFile> {
    match serde_saphyr::from_str::<Option<RawFile>>(&source.text) {
        Ok(raw) => Some(raw.unwrap_or_default()),
        Err(e) => {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let pos = Pos {
                file: source.path.clone(),
                line,
                column,
            };
            errors.push(pos, strip_location(&e.without_snippet().to_string()));
            None
        }
    }
}

/// Removes serde-saphyr's trailing ` at line N, column M` (we print the position first).
fn strip_location(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message);
    match first_line.rfind(" at line ") {
        Some(i) if first_line[i..].contains(", column ") => first_line[..i].to_owned(),
        _ => first_line.to_owned(),
    }
}

/// Flattens a regex error to its one-line cause.
pub(crate) fn regex_error(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("error: "))
        .map_or_else(|| text.replace('\n', " "), str::to_owned)
}

/// Compiled regexes are capped so that a rule file cannot make the proxy build huge automata.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[cfg(test)]
mod tests;
