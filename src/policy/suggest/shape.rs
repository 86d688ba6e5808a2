//! The shape of a recorded path: literal segments kept, variable ones (numeric ids, UUIDs,
//! hex hashes, long random tokens) generalised to `{name}` captures, and segments no
//! pattern literal can spell to `*`. Also the names drafted rules and captures get.

use std::collections::BTreeSet;

use crate::policy::url_pattern::path::is_identifier;

/// One segment of a drafted path pattern.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// Written as recorded (percent-escapes and all: pattern literals are decoded once,
    /// like request paths).
    Literal(String),
    /// A variable segment, captured as `{name}`.
    Capture(String),
    /// A segment a literal cannot spell: `*`.
    Any,
}

/// The pattern segments of a recorded raw path (`/repos/acme/issues/42`).
pub fn shape(path: &str) -> Vec<Seg> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut names = BTreeSet::new();
    let mut previous: Option<&str> = None;
    let mut segs = Vec::new();
    for raw in rest.split('/') {
        let seg = if is_variable(raw) {
            Seg::Capture(capture_name(previous, &mut names))
        } else if spellable(raw) {
            previous = Some(raw);
            Seg::Literal(raw.to_owned())
        } else {
            Seg::Any
        };
        segs.push(seg);
    }
    segs
}

/// The pattern text of `segs` (`/repos/acme/issues/{issue}`).
pub fn pattern(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        out.push('/');
        match seg {
            Seg::Literal(text) => out.push_str(text),
            Seg::Capture(name) => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
            Seg::Any => out.push('*'),
        }
    }
    out
}

/// A segment that varies between requests to the same endpoint: a number, a UUID, a hex
/// hash, or a long token of letters and many digits.
pub fn is_variable(seg: &str) -> bool {
    let len = seg.len();
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    if len == 0 {
        return false;
    }
    let token = seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let hex = seg.bytes().all(|b| b.is_ascii_hexdigit());
    digits == len
        || is_uuid(seg)
        || (hex && len >= 8 && digits > 0)
        || (token && len >= 10 && digits * 4 >= len)
        || (token && len >= 20 && digits > 0)
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(seg: &str) -> bool {
    let groups: Vec<&str> = seg.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a pattern literal can spell `raw` (it is decoded once, like request paths):
/// no `*`, `{`, `}`, `\`, a strict percent-encoding of UTF-8, and no dot segment or
/// encoded slash.
fn spellable(raw: &str) -> bool {
    if raw.contains(['*', '{', '}', '\\']) {
        return false;
    }
    let Some(bytes) = crate::policy::normalize::percent_decode_strict(raw.as_bytes()) else {
        return false;
    };
    match String::from_utf8(bytes) {
        Ok(text) => text != "." && text != ".." && !text.contains(['/', '\\']),
        Err(_) => false,
    }
}

/// The capture name for a variable after the literal `previous` (`issues` → `issue`),
/// unique among `taken`.
fn capture_name(previous: Option<&str>, taken: &mut BTreeSet<String>) -> String {
    let base = previous
        .map(|p| identifier(p.strip_suffix('s').filter(|s| !s.is_empty()).unwrap_or(p)))
        .filter(|b| is_identifier(b))
        .unwrap_or_else(|| "id".to_owned());
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// `api-version` → `api_version`; a leading digit gets a `_`.
fn identifier(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out.truncate(32);
    out
}

/// A rule id from its parts: lower-case letters, digits and `-`, at most 80 characters.
pub fn rule_id(host: &str, method: &str, segs: &[Seg]) -> String {
    let mut words = vec![host.to_owned(), method.to_ascii_lowercase()];
    let literals: Vec<String> = segs
        .iter()
        .filter_map(|s| match s {
            Seg::Literal(l) if !l.is_empty() => Some(l.clone()),
            Seg::Capture(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    if literals.is_empty() {
        words.push("root".to_owned());
    }
    words.extend(literals);
    let mut id = String::new();
    for word in words {
        for c in word.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() {
                id.push(c);
            } else if !id.ends_with('-') {
                id.push('-');
            }
        }
        if !id.ends_with('-') {
            id.push('-');
        }
    }
    let mut id: String = id.trim_matches('-').chars().take(80).collect();
    while id.ends_with('-') {
        id.pop();
    }
    if id.is_empty() || !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        id.insert_str(0, "learned-");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_uuids_hashes_and_tokens_are_variable_words_are_not() {
        for v in [
            "42",
            "0",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "a1b2c3d4",
            "ord_12345678",
            "tok_Ab3kQ9zXw2LmN8pR4tYv",
            "2026-11-25",
        ] {
            assert!(is_variable(v), "{v} is variable");
        }
        for w in [
            "repos", "issues", "v1", "api", "acme", "deadbeef", "", "users-v2",
        ] {
            assert!(!is_variable(w), "{w} is a literal");
        }
    }

    #[test]
    fn paths_become_patterns_with_named_captures() {
        let segs = shape("/repos/acme/issues/42/comments/7");
        assert_eq!(
            pattern(&segs),
            "/repos/acme/issues/{issue}/comments/{comment}"
        );
        assert_eq!(pattern(&shape("/42/43")), "/{id}/{id2}");
        assert_eq!(pattern(&shape("/")), "/");
        assert_eq!(pattern(&shape("/a/%2F/b")), "/a/*/b");
        assert_eq!(pattern(&shape("/a%20b/{x}")), "/a%20b/*");
        assert_eq!(pattern(&shape("/data/2024/x")), "/data/{data}/x");
    }

    #[test]
    fn rule_ids_are_plain_and_bounded() {
        let segs = shape("/repos/acme/issues/42");
        assert_eq!(
            rule_id("api.example.com", "POST", &segs),
            "api-example-com-post-repos-acme-issues-issue"
        );
        assert_eq!(rule_id("h", "GET", &shape("/")), "h-get-root");
        assert!(rule_id("h", "GET", &shape(&"/abc".repeat(50))).len() <= 80);
    }
}
