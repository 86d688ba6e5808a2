//! Path patterns: literal segments, `*` (one), `**` (any number) and `{name}` (captured).
//!
//! Matching is case-sensitive and works on the once-decoded segments of a normalised target;
//! literal segments of the pattern are percent-decoded once at compile time in the same way.

use std::fmt;

use crate::policy::normalize::percent_decode_strict;

/// One segment of a path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    /// Exactly this (decoded) text.
    Literal(String),
    /// `*`: any one non-empty segment.
    One,
    /// `**`: zero or more segments, empty ones included.
    Many,
    /// `{name}`: one non-empty segment, captured under `name`.
    Capture(String),
}

/// A compiled path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    /// The segments after the leading `/`.
    segs: Vec<Seg>,
    /// True when some segment is a capture (only then are positions recorded).
    has_captures: bool,
}

impl PathPattern {
    /// `/**`: every path.
    pub fn any() -> PathPattern {
        PathPattern {
            segs: vec![Seg::Many],
            has_captures: false,
        }
    }

    /// Parses a path pattern starting with `/`.
    pub fn parse(text: &str) -> Result<PathPattern, String> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("path `{text}` must start with `/`"))?;
        let mut segs = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for raw in rest.split('/') {
            let seg = match raw {
                "*" => Seg::One,
                "**" => Seg::Many,
                _ if raw.starts_with('{') && raw.ends_with('}') && raw.len() > 2 => {
                    let name = &raw[1..raw.len() - 1];
                    if !is_identifier(name) {
                        return Err(format!("capture `{raw}` needs a name like `{{repo}}`"));
                    }
                    if names.contains(&name) {
                        return Err(format!("capture `{{{name}}}` appears twice"));
                    }
                    names.push(name);
                    Seg::Capture(name.to_owned())
                }
                _ => Seg::Literal(literal(raw)?),
            };
            segs.push(seg);
        }
        let has_captures = !names.is_empty();
        Ok(PathPattern { segs, has_captures })
    }

    /// The names of the captures, in order.
    pub fn capture_names(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Capture(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Matches decoded segments; `Some(captures)` on a match.
    ///
    /// Classic wildcard matching with backtracking to the last `**`: O(segments × pattern).
    pub fn matches(&self, path: &[String]) -> Option<Vec<(String, String)>> {
        let mut assigned = if self.has_captures {
            vec![0usize; self.segs.len()]
        } else {
            Vec::new()
        };
        let (mut p, mut s) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while let Some(segment) = path.get(s) {
            match self.segs.get(p) {
                Some(Seg::Many) => {
                    star = Some((p + 1, s));
                    p += 1;
                    continue;
                }
                Some(seg) if seg_matches(seg, segment) => {
                    if let Some(slot) = assigned.get_mut(p) {
                        *slot = s;
                    }
                    p += 1;
                    s += 1;
                    continue;
                }
                _ => {}
            }
            let (after_star, from) = star?;
            p = after_star;
            s = from + 1;
            star = Some((after_star, from + 1));
        }
        while matches!(self.segs.get(p), Some(Seg::Many)) {
            p += 1;
        }
        if p != self.segs.len() {
            return None;
        }
        let mut captures = Vec::new();
        for (seg, &at) in self.segs.iter().zip(assigned.iter()) {
            if let (Seg::Capture(name), Some(value)) = (seg, path.get(at)) {
                captures.push((name.clone(), value.clone()));
            }
        }
        Some(captures)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for seg in &self.segs {
            f.write_str("/")?;
            match seg {
                Seg::Literal(l) => f.write_str(l)?,
                Seg::One => f.write_str("*")?,
                Seg::Many => f.write_str("**")?,
                Seg::Capture(n) => write!(f, "{{{n}}}")?,
            }
        }
        Ok(())
    }
}

/// Does one pattern segment match one path segment?
fn seg_matches(seg: &Seg, segment: &str) -> bool {
    match seg {
        Seg::Literal(l) => l == segment,
        Seg::One | Seg::Capture(_) => !segment.is_empty(),
        Seg::Many => true,
    }
}

/// Decodes and checks a literal segment of a pattern.
fn literal(raw: &str) -> Result<String, String> {
    if raw.contains(['*', '{', '}', '\\']) {
        return Err(format!(
            "segment `{raw}`: `*`, `{{`, `}}` and `\\` are only allowed as whole segments `*`, `**`, `{{name}}`"
        ));
    }
    let bytes = percent_decode_strict(raw.as_bytes())
        .ok_or_else(|| format!("segment `{raw}` has a malformed percent escape"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("segment `{raw}` is not UTF-8 once decoded"))?;
    if text == "." || text == ".." || text.contains(['/', '\\']) {
        return Err(format!(
            "segment `{raw}` can never match (dot segments and encoded slashes are refused)"
        ));
    }
    Ok(text)
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path[1..].split('/').map(str::to_owned).collect()
    }

    fn m(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathPattern::parse(pattern).unwrap().matches(&segs(path))
    }

    #[test]
    fn literal_and_star() {
        assert!(m("/repos/acme/*/issues", "/repos/acme/x/issues").is_some());
        assert!(m("/repos/acme/*/issues", "/repos/acme/x/y/issues").is_none());
        assert!(m("/repos/acme/*/issues", "/repos/acme//issues").is_none());
        assert!(m("/repos/acme/*/issues", "/repos/ACME/x/issues").is_none());
    }

    #[test]
    fn double_star() {
        assert!(m("/a/**", "/a").is_some());
        assert!(m("/a/**", "/a/b/c").is_some());
        assert!(m("/**/z", "/a/b/z").is_some());
        assert!(m("/**/z", "/z").is_some());
        assert!(m("/a/**/b/**/c", "/a/x/b/y/b/z/c").is_some());
        assert!(m("/a/**/c", "/a/x/b").is_none());
    }

    #[test]
    fn captures() {
        let c = m("/repos/{owner}/{repo}/issues", "/repos/acme/web/issues").unwrap();
        assert_eq!(
            c,
            vec![
                ("owner".into(), "acme".into()),
                ("repo".into(), "web".into())
            ]
        );
        let c = m("/**/{last}", "/a/b/c").unwrap();
        assert_eq!(c, vec![("last".into(), "c".into())]);
    }

    #[test]
    fn trailing_and_duplicate_slashes_are_distinct() {
        assert!(m("/a/b", "/a/b/").is_none());
        assert!(m("/a/b", "/a//b").is_none());
        assert!(m("/", "/").is_some());
        assert!(m("/", "/a").is_none());
    }

    #[test]
    fn literal_segments_are_decoded_once() {
        assert!(m("/a%20b", "/a b").is_some());
        assert!(m("/%252e", "/%2e").is_some());
    }
}
