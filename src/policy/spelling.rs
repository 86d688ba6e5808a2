//! Path spellings that upstream servers read differently: empty segments (`//`, merged by
//! nginx) and `;` path parameters (stripped by Tomcat, Spring and Jetty). A request carrying
//! one is refused unless a rule of its host opts in (`path_spellings:`); then deny and
//! approve rules are matched against every plausible reading of the path, allow rules
//! against the strict one.

/// Which ambiguous spellings a path contains, or which a host's rules admit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Spellings {
    /// An empty segment other than the last (`/a//b`, `//a`); a trailing `/` is not one.
    pub empty_segments: bool,
    /// A `;` inside a decoded segment (`/a;x=y`, `/a%3Bx`).
    pub parameters: bool,
}

impl Spellings {
    /// Both spellings, as their union.
    pub fn union(self, other: Spellings) -> Spellings {
        Spellings {
            empty_segments: self.empty_segments || other.empty_segments,
            parameters: self.parameters || other.parameters,
        }
    }

    /// The spellings found in decoded `segments`.
    pub fn of(segments: &[String]) -> Spellings {
        let last = segments.len().saturating_sub(1);
        Spellings {
            empty_segments: segments
                .iter()
                .enumerate()
                .any(|(i, s)| i < last && s.is_empty()),
            parameters: segments.iter().any(|s| s.contains(';')),
        }
    }

    /// `Err` naming the first spelling found here that `admitted` does not admit.
    pub fn check(self, admitted: Spellings, path: &str) -> Result<(), AmbiguousPath> {
        if self.empty_segments && !admitted.empty_segments {
            return Err(AmbiguousPath::EmptySegment(path.to_owned()));
        }
        if self.parameters && !admitted.parameters {
            return Err(AmbiguousPath::Parameter(path.to_owned()));
        }
        Ok(())
    }
}

/// A path whose spelling servers read differently, refused (the proxy answers 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmbiguousPath {
    /// `//` somewhere before the last segment.
    #[error(
        "ambiguous path `{0}`: an empty segment (`//`) is read as `/` by servers that merge slashes; refused (a rule of the host may admit it with `path_spellings: {{empty_segments: allow}}`)"
    )]
    EmptySegment(String),
    /// `;` in a segment.
    #[error(
        "ambiguous path `{0}`: a `;` path parameter is removed by servers that strip parameters (Tomcat, Spring, Jetty); refused (a rule of the host may admit it with `path_spellings: {{parameters: allow}}`)"
    )]
    Parameter(String),
}

/// A segment without its path parameters (`a;x=y` → `a`, `..;` → `..`).
pub fn strip_parameters(segment: &str) -> &str {
    segment.split(';').next().unwrap_or(segment)
}

/// Every reading of `segments` a server could route on, the strict one first, without
/// duplicates: slashes merged, parameters stripped, and both. Empty when the strict reading
/// is the only one (no empty segment, no parameter): the common path allocates nothing.
pub fn readings(segments: &[String]) -> Vec<Vec<String>> {
    if !segments.is_empty() && Spellings::of(segments) == Spellings::default() {
        return Vec::new();
    }
    let stripped: Vec<String> = segments
        .iter()
        .map(|s| strip_parameters(s).to_owned())
        .collect();
    let mut all: Vec<Vec<String>> = vec![segments.to_vec()];
    for reading in [merged(segments), stripped.clone(), merged(&stripped)] {
        if !all.contains(&reading) {
            all.push(reading);
        }
    }
    all
}

/// Empty segments before the last removed, as a server merging slashes reads them.
fn merged(segments: &[String]) -> Vec<String> {
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<String> = segments
        .iter()
        .enumerate()
        .filter(|(i, s)| *i == last || !s.is_empty())
        .map(|(_, s)| s.clone())
        .collect();
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path.strip_prefix('/')
            .unwrap()
            .split('/')
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn trailing_slash_is_not_an_empty_segment() {
        assert_eq!(Spellings::of(&segs("/a/b/")), Spellings::default());
        assert_eq!(Spellings::of(&segs("/")), Spellings::default());
        assert!(Spellings::of(&segs("//a")).empty_segments);
        assert!(Spellings::of(&segs("/a//")).empty_segments);
        assert!(Spellings::of(&segs("/a;x=y/b")).parameters);
    }

    #[test]
    fn readings_merge_slashes_and_strip_parameters() {
        let all = readings(&segs("/a//admin;x=y/"));
        assert_eq!(
            all,
            vec![
                segs("/a//admin;x=y/"),
                segs("/a/admin;x=y/"),
                segs("/a//admin/"),
                segs("/a/admin/"),
            ]
        );
        assert!(
            readings(&segs("/a/b")).is_empty(),
            "the strict reading only"
        );
        assert_eq!(readings(&segs("//")), vec![segs("//"), segs("/")]);
    }

    #[test]
    fn unadmitted_spellings_are_named() {
        let found = Spellings::of(&segs("/a//b;c"));
        let empty = Spellings {
            empty_segments: true,
            parameters: false,
        };
        assert!(matches!(
            found.check(Spellings::default(), "/a//b;c"),
            Err(AmbiguousPath::EmptySegment(_))
        ));
        assert!(matches!(
            found.check(empty, "/a//b;c"),
            Err(AmbiguousPath::Parameter(_))
        ));
        assert!(found.check(empty.union(found), "/a//b;c").is_ok());
    }
}
