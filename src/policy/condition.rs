//! Value conditions (`equals`, `one_of`, `regex`, their negations `not_equals`,
//! `not_one_of`, `not_regex`, `absent`, `present`, `max_len`, `max_items`, `min`, `max`),
//! combinable in one map, checked against selected values.
//!
//! Scalars compare by value: a numeric string equals the number it spells (query, header
//! and form values are always strings). A pointer without `*` that selects nothing fails every
//! value test (`… is missing`) — fail closed — unless the condition says `optional: true`;
//! with `*`, each selected value must pass (none selected: holds).

use std::fmt;

use regex::Regex;
use serde_json::Value;

use crate::policy::json::Selected;

/// One test inside a condition map.
#[derive(Clone, Debug)]
pub enum Test {
    /// `equals: v`
    Equals(Value),
    /// `one_of: [a, b]`
    OneOf(Vec<Value>),
    /// `regex: '…'` (unanchored search; anchor with `^…$`)
    Regex(Regex),
    /// `not_equals: v`: any value but `v` (a missing value still fails unless optional)
    NotEquals(Value),
    /// `not_one_of: [a, b]`: any value but these
    NotOneOf(Vec<Value>),
    /// `not_regex: '…'`: a string the pattern does not find
    NotRegex(Regex),
    /// `absent: true` or `present: false`
    Absent,
    /// `present: true` or `absent: false`
    Present,
    /// `max_len: n` (characters of a string)
    MaxLen(u64),
    /// `max_items: n` (elements of an array)
    MaxItems(u64),
    /// `min: x` (numbers and numeric strings)
    Min(f64),
    /// `max: x`
    Max(f64),
}

/// A compiled condition map: every test must hold.
#[derive(Clone, Debug)]
pub struct Condition {
    /// The tests, in a fixed order.
    tests: Vec<Test>,
    /// `optional: true`: a missing value passes the value tests.
    optional: bool,
}

/// Longest value text quoted in a reason, so reasons stay short and leak little.
const MAX_SHOWN: usize = 64;

impl Condition {
    /// A condition from its tests (the compiler has checked they are consistent).
    pub fn new(tests: Vec<Test>) -> Condition {
        Condition {
            tests,
            optional: false,
        }
    }

    /// The same tests, holding when the value is missing.
    pub fn optional(self) -> Condition {
        Condition {
            optional: true,
            ..self
        }
    }

    /// The tests.
    pub fn tests(&self) -> &[Test] {
        &self.tests
    }

    /// Checks the values a pointer selected. `prefix` is put before concrete pointers
    /// (`query.`, `header.`, `capture.`; empty for bodies); `label` names the subject when
    /// nothing was selected; `single` is true for pointers without `*`. `Ok` carries a short
    /// detail for the trace, `Err` the failure, e.g.
    /// `/labels/1 = "wontfix" is not one of [bug, triage]`.
    pub fn check(
        &self,
        prefix: &str,
        label: &str,
        selected: &[Selected<'_>],
        single: bool,
        detail: bool,
    ) -> Result<String, String> {
        let show_at = |at: &str| shown_at(prefix, label, at);
        let has_value_tests = self
            .tests
            .iter()
            .any(|t| !matches!(t, Test::Absent | Test::Present));
        for test in &self.tests {
            match test {
                Test::Absent => {
                    if let Some((at, _)) = selected.first() {
                        return Err(format!("{} is present but must be absent", show_at(at)));
                    }
                }
                Test::Present if selected.is_empty() => {
                    return Err(format!("{label} is missing"));
                }
                _ => {}
            }
        }
        if has_value_tests && single && selected.is_empty() && !self.optional {
            return Err(format!("{label} is missing"));
        }
        for (at, value) in selected {
            let at = show_at(at);
            for test in &self.tests {
                check_value(test, &at, value)?;
            }
        }
        if !detail {
            return Ok(String::new());
        }
        Ok(match selected {
            [] => format!("{label} not present"),
            [(at, value)] => format!("{} = {}", show_at(at), show(value)),
            many => format!("holds for {} values", many.len()),
        })
    }
}

/// How a concrete pointer is shown: `/labels/1`, `query.per_page`, or the label for the
/// whole document.
fn shown_at(prefix: &str, label: &str, at: &str) -> String {
    if at.is_empty() {
        label.to_owned()
    } else if prefix.is_empty() {
        at.to_owned()
    } else {
        format!("{prefix}{}", at.trim_start_matches('/'))
    }
}

/// Checks one test against one selected value.
fn check_value(test: &Test, at: &str, value: &Value) -> Result<(), String> {
    // Shown only in a failure message: serializing a large value for every passing test
    // was a measurable part of each decision.
    let shown = Shown(value);
    match test {
        Test::Absent | Test::Present => Ok(()),
        Test::Equals(expected) if values_equal(expected, value) => Ok(()),
        Test::Equals(expected) => Err(format!("{at} = {shown} does not equal {}", show(expected))),
        Test::OneOf(options) if options.iter().any(|o| values_equal(o, value)) => Ok(()),
        Test::OneOf(options) => Err(format!(
            "{at} = {shown} is not one of {}",
            ShowList(options)
        )),
        Test::Regex(re) => match scalar_text(value) {
            Some(text) if re.is_match(&text) => Ok(()),
            Some(_) => Err(format!("{at} = {shown} does not match /{re}/")),
            None => Err(format!("{at} = {shown} is not a string")),
        },
        Test::NotEquals(excluded) if values_equal(excluded, value) => {
            Err(format!("{at} = {shown}, which not_equals excludes"))
        }
        Test::NotEquals(_) => Ok(()),
        Test::NotOneOf(excluded) if excluded.iter().any(|o| values_equal(o, value)) => {
            Err(format!(
                "{at} = {shown} is one of {}, which not_one_of excludes",
                ShowList(excluded)
            ))
        }
        Test::NotOneOf(_) => Ok(()),
        Test::NotRegex(re) => match scalar_text(value) {
            Some(text) if re.is_match(&text) => Err(format!(
                "{at} = {shown} matches /{re}/, which not_regex excludes"
            )),
            Some(_) => Ok(()),
            None => Err(format!("{at} = {shown} is not a string")),
        },
        Test::MaxLen(max) => match value {
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if len <= *max {
                    Ok(())
                } else {
                    Err(format!("{at} has length {len}, over max_len {max}"))
                }
            }
            _ => Err(format!("{at} = {shown} is not a string")),
        },
        Test::MaxItems(max) => match value {
            Value::Array(items) if items.len() as u64 <= *max => Ok(()),
            Value::Array(items) => Err(format!(
                "{at} has {} items, over max_items {max}",
                items.len()
            )),
            _ => Err(format!("{at} = {shown} is not an array")),
        },
        Test::Min(min) => match as_number(value) {
            Some(n) if n >= *min => Ok(()),
            Some(_) => Err(format!("{at} = {shown} is below min {}", Num(*min))),
            None => Err(format!("{at} = {shown} is not a number")),
        },
        Test::Max(max) => match as_number(value) {
            Some(n) if n <= *max => Ok(()),
            Some(_) => Err(format!("{at} = {shown} is above max {}", Num(*max))),
            None => Err(format!("{at} = {shown} is not a number")),
        },
    }
}

/// Scalar equality with numeric strings equal to the numbers they spell.
pub(crate) fn values_equal(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            match (as_number(expected), as_number(actual)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
        }
        _ => expected == actual,
    }
}

/// A finite number from a JSON number or a numeric string.
fn as_number(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

/// The text of a string, number or boolean.
fn scalar_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        _ => None,
    }
}

/// A value displayed with [`show`] when (and only when) it is formatted.
struct Shown<'a>(&'a Value);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&show(self.0))
    }
}

/// Compact JSON, cut to [`MAX_SHOWN`] characters.
pub(crate) fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let cut: String = text.chars().take(MAX_SHOWN).collect();
    format!("{cut}…")
}

/// A list shown as `[bug, triage]` (strings unquoted).
pub(crate) struct ShowList<'a>(pub &'a [Value]);

impl fmt::Display for ShowList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match v {
                Value::String(s) => f.write_str(s)?,
                other => f.write_str(&show(other))?,
            }
        }
        f.write_str("]")
    }
}

/// A number shown without a needless `.0`.
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            write!(f, "{}", self.0 as i64)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, test) in self.tests.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match test {
                Test::Equals(v) => write!(f, "equals {}", show(v))?,
                Test::OneOf(vs) => write!(f, "one_of {}", ShowList(vs))?,
                Test::Regex(re) => write!(f, "regex /{re}/")?,
                Test::NotEquals(v) => write!(f, "not_equals {}", show(v))?,
                Test::NotOneOf(vs) => write!(f, "not_one_of {}", ShowList(vs))?,
                Test::NotRegex(re) => write!(f, "not_regex /{re}/")?,
                Test::Absent => f.write_str("absent")?,
                Test::Present => f.write_str("present")?,
                Test::MaxLen(n) => write!(f, "max_len {n}")?,
                Test::MaxItems(n) => write!(f, "max_items {n}")?,
                Test::Min(n) => write!(f, "min {}", Num(*n))?,
                Test::Max(n) => write!(f, "max {}", Num(*n))?,
            }
        }
        if self.optional {
            f.write_str(", optional")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
