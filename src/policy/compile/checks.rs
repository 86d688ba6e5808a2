//! Compiles condition maps, `body:` sections and `must_match` / `must_not_match` entries.

use super::{Compiled, Ctx, Names, REGEX_SIZE_LIMIT, regex_error};
use crate::policy::body::{DEFAULT_MAX_SIZE, MAX_MAX_SIZE};
use crate::policy::condition::{Condition, Test};
use crate::policy::json::JsonPath;
use crate::policy::raw::{RawBody, RawCondition, RawSize, SStr};
use crate::policy::rule::{BodyRules, Check, Matcher, Subject};
use crate::policy::units::parse_size;

/// Compiles one condition map and appends it as a check on `subject`.
pub(super) fn push_check(
    ctx: &mut Ctx<'_>,
    checks: &mut Vec<Check>,
    key: &SStr,
    subject: Subject,
    raw: &RawCondition,
) {
    if let Some(condition) = condition(ctx, key, raw) {
        checks.push(Check { subject, condition });
    }
}

/// Compiles one condition map; errors are placed at the key (or at a bad regex).
fn condition(ctx: &mut Ctx<'_>, key: &SStr, raw: &RawCondition) -> Option<Condition> {
    let mut tests = Vec::new();
    let must_exist = match (raw.present, raw.absent) {
        (Some(p), Some(a)) if p == a => {
            ctx.error_at(
                key,
                format!("`{}`: present and absent contradict", key.value),
            );
            return None;
        }
        (Some(p), _) => Some(p),
        (None, Some(a)) => Some(!a),
        (None, None) => None,
    };
    match must_exist {
        Some(true) => tests.push(Test::Present),
        Some(false) => tests.push(Test::Absent),
        None => {}
    }
    if let Some(v) = &raw.equals {
        tests.push(Test::Equals(v.clone()));
    }
    if let Some(options) = &raw.one_of {
        if options.is_empty() {
            ctx.error_at(key, format!("`{}`: one_of is empty", key.value));
        }
        tests.push(Test::OneOf(options.clone()));
    }
    if let Some(v) = &raw.not_equals {
        tests.push(Test::NotEquals(v.clone()));
    }
    if let Some(options) = &raw.not_one_of {
        if options.is_empty() {
            ctx.error_at(key, format!("`{}`: not_one_of is empty", key.value));
        }
        tests.push(Test::NotOneOf(options.clone()));
    }
    for (re, test) in [
        (&raw.regex, Test::Regex as fn(regex::Regex) -> Test),
        (&raw.not_regex, Test::NotRegex),
    ] {
        let Some(re) = re else { continue };
        match regex::RegexBuilder::new(&re.value)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(r) => tests.push(test(r)),
            Err(e) => ctx.error_at(
                re,
                format!("invalid regex `{}`: {}", re.value, regex_error(&e)),
            ),
        }
    }
    if let Some(n) = raw.max_len {
        tests.push(Test::MaxLen(n));
    }
    if let Some(n) = raw.max_items {
        tests.push(Test::MaxItems(n));
    }
    for (bound, test) in [
        (raw.min, Test::Min as fn(f64) -> Test),
        (raw.max, Test::Max),
    ] {
        match bound {
            Some(n) if !n.is_finite() => {
                ctx.error_at(key, format!("`{}`: bounds must be finite", key.value))
            }
            Some(n) => tests.push(test(n)),
            None => {}
        }
    }
    if let (Some(min), Some(max)) = (raw.min, raw.max)
        && min > max
    {
        ctx.error_at(
            key,
            format!("`{}`: min {min} is above max {max}", key.value),
        );
    }
    if must_exist == Some(false) && tests.len() > 1 {
        ctx.error_at(
            key,
            format!(
                "`{}`: absent cannot be combined with value tests",
                key.value
            ),
        );
    }
    if tests.is_empty() {
        if raw.regex.is_none() && raw.not_regex.is_none() {
            ctx.error_at(
                key,
                format!(
                    "`{}`: condition has no test (use equals, one_of, regex, not_equals, not_one_of, not_regex, absent, present, max_len, max_items, min, max)",
                    key.value
                ),
            );
        }
        return None;
    }
    match raw.optional {
        Some(true) if must_exist == Some(true) => {
            ctx.error_at(
                key,
                format!("`{}`: optional and present contradict", key.value),
            );
            None
        }
        Some(true) => Some(Condition::new(tests).optional()),
        _ => Some(Condition::new(tests)),
    }
}

/// Compiles a `body:` section, appending its JSON and form checks.
pub(super) fn compile_body(
    ctx: &mut Ctx<'_>,
    names: &Names,
    out: &Compiled,
    raw: &RawBody,
    checks: &mut Vec<Check>,
) -> BodyRules {
    for (pointer, cond) in &raw.json.0 {
        match JsonPath::parse(&pointer.value) {
            Ok(path) => push_check(ctx, checks, pointer, Subject::Json(path), cond),
            Err(e) => ctx.error_at(pointer, e.to_string()),
        }
    }
    for (pointer, cond) in &raw.form.0 {
        match JsonPath::parse(&pointer.value) {
            Ok(path) => push_check(ctx, checks, pointer, Subject::Form(path), cond),
            Err(e) => ctx.error_at(pointer, e.to_string()),
        }
    }
    let max_size = match &raw.max_size {
        None => DEFAULT_MAX_SIZE,
        Some(size) => {
            let parsed = match &size.value {
                RawSize::Bytes(n) => Ok(*n),
                RawSize::Text(text) => parse_size(text),
            };
            match parsed.map(usize::try_from) {
                Ok(Ok(n)) if n <= MAX_MAX_SIZE => n,
                Ok(_) => {
                    ctx.error_at(
                        size,
                        format!("max_size is over the {MAX_MAX_SIZE}-byte limit"),
                    );
                    DEFAULT_MAX_SIZE
                }
                Err(e) => {
                    ctx.error_at(size, e);
                    DEFAULT_MAX_SIZE
                }
            }
        }
    };
    BodyRules {
        max_size,
        must_match: matchers(ctx, names, out, &raw.must_match),
        must_not_match: matchers(ctx, names, out, &raw.must_not_match),
    }
}

/// Each entry is a pattern-set name when it looks like a name (a letter, then letters,
/// digits, `_`, `-`), else an inline regex. A plain-word regex can be written `(?:word)`.
fn matchers(ctx: &mut Ctx<'_>, names: &Names, out: &Compiled, raw: &[SStr]) -> Vec<Matcher> {
    let mut matchers = Vec::new();
    for entry in raw {
        if super::decls::is_name(&entry.value) {
            match names.patterns.get(&entry.value) {
                None => ctx.error_at(
                    entry,
                    format!(
                        "unknown pattern set `{}` (an inline regex that is a plain word can be written `(?:{})`)",
                        entry.value, entry.value
                    ),
                ),
                Some(None) => {}
                Some(Some(i)) => {
                    if let Some(set) = out.patterns.get(*i) {
                        matchers.push(Matcher {
                            label: set.name.clone(),
                            regexes: set.regexes.clone(),
                        });
                    }
                }
            }
            continue;
        }
        match regex::bytes::RegexBuilder::new(&entry.value)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => matchers.push(Matcher {
                label: format!("/{}/", entry.value),
                regexes: vec![re],
            }),
            Err(e) => ctx.error_at(
                entry,
                format!("invalid regex `{}`: {}", entry.value, regex_error(&e)),
            ),
        }
    }
    matchers
}
