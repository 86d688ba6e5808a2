//! A secret's request scope: the `methods:` and `paths:` of its declaration. A secret is
//! injected only into requests inside its scope; its placeholder anywhere else is refused as
//! exfiltration. Paths are matched on the normalised, once-decoded segments, and a path a
//! server could read another way (`//`, `;` parameters) is inside the scope only when every
//! such reading is.

use std::fmt;

use http::Method;

use crate::policy::spelling;
use crate::policy::url_pattern::PathPattern;

/// The methods and paths a secret may be sent with; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Methods it may be sent with (`None`: any).
    pub methods: Option<Vec<Method>>,
    /// Paths it may be sent to (`None`: any).
    pub paths: Option<Vec<PathPattern>>,
}

/// What about a request is outside a secret's scope (names no value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutOfScope {
    /// The method is not in `methods:` (which are listed).
    Method { method: Method, allowed: String },
    /// The path (or a reading of it) matches none of `paths:` (which are listed).
    Path { path: String, allowed: String },
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutOfScope::Method { method, allowed } => {
                write!(f, "method {method} is not in its methods: {allowed}")
            }
            OutOfScope::Path { path, allowed } => {
                write!(f, "path {path} is not in its paths: {allowed}")
            }
        }
    }
}

impl Scope {
    /// `Ok` when a request with `method` to the decoded path `segments` is inside the scope.
    pub fn check(&self, method: &Method, segments: &[String]) -> Result<(), OutOfScope> {
        if let Some(methods) = &self.methods
            && !methods.contains(method)
        {
            return Err(OutOfScope::Method {
                method: method.clone(),
                allowed: list(methods),
            });
        }
        if let Some(paths) = &self.paths {
            let matches = |reading: &[String]| paths.iter().any(|p| p.matches(reading).is_some());
            let readings = spelling::readings(segments);
            let inside = if readings.is_empty() {
                matches(segments)
            } else {
                readings.iter().all(|r| matches(r))
            };
            if !inside {
                return Err(OutOfScope::Path {
                    path: format!("/{}", segments.join("/")),
                    allowed: list(paths),
                });
            }
        }
        Ok(())
    }
}

/// `a, b, c` (or `none` for an empty list, which admits nothing).
fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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

    fn scope(methods: &[&str], paths: &[&str]) -> Scope {
        Scope {
            methods: Some(
                methods
                    .iter()
                    .map(|m| Method::from_bytes(m.as_bytes()).unwrap())
                    .collect(),
            ),
            paths: Some(
                paths
                    .iter()
                    .map(|p| PathPattern::parse(p).unwrap())
                    .collect(),
            ),
        }
    }

    #[test]
    fn no_methods_or_paths_means_any_request() {
        let any = Scope::default();
        assert_eq!(any.check(&Method::DELETE, &segs("/a//b;x")), Ok(()));
    }

    #[test]
    fn a_method_outside_methods_is_out_of_scope() {
        let s = scope(&["GET", "POST"], &["/**"]);
        assert_eq!(s.check(&Method::POST, &segs("/x")), Ok(()));
        let err = s.check(&Method::DELETE, &segs("/x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "method DELETE is not in its methods: GET, POST"
        );
        // HEAD is not GET: methods are matched exactly.
        assert!(s.check(&Method::HEAD, &segs("/x")).is_err());
    }

    #[test]
    fn a_path_outside_paths_is_out_of_scope() {
        let s = scope(&["GET"], &["/repos/{owner}/*/issues", "/user"]);
        assert_eq!(
            s.check(&Method::GET, &segs("/repos/acme/kw/issues")),
            Ok(())
        );
        assert_eq!(s.check(&Method::GET, &segs("/user")), Ok(()));
        let err = s.check(&Method::GET, &segs("/admin")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "path /admin is not in its paths: /repos/{owner}/*/issues, /user"
        );
        assert!(s.check(&Method::GET, &segs("/user/keys")).is_err());
    }

    #[test]
    fn an_ambiguous_spelling_is_inside_only_when_every_reading_is() {
        let s = scope(&["GET"], &["/public/**"]);
        // Merged slashes read `/public/x` and the strict reading matches too.
        assert_eq!(s.check(&Method::GET, &segs("/public//x")), Ok(()));
        // `//public/x`: the strict reading is not under /public.
        assert!(s.check(&Method::GET, &segs("//public/x")).is_err());
        let exact = scope(&["GET"], &["/user", "/user;v=1"]);
        // `/user;v=1` stripped is `/user`: both readings allowed.
        assert_eq!(exact.check(&Method::GET, &segs("/user;v=1")), Ok(()));
        let one = scope(&["GET"], &["/*/keys"]);
        // `/x;/keys` strict matches `/*/keys`; stripped it is `/x/keys`, also matching.
        assert_eq!(one.check(&Method::GET, &segs("/x;/keys")), Ok(()));
        // `/a//keys` merged is `/a/keys`, but the strict `/a//keys` has three segments.
        assert!(one.check(&Method::GET, &segs("/a//keys")).is_err());
        // `/repos/;` strict matches `/repos/*`, but stripped it is `/repos/`: outside.
        let repos = scope(&["GET"], &["/repos/*"]);
        assert!(repos.check(&Method::GET, &segs("/repos/;")).is_err());
        let star = scope(&["GET"], &["/files/*"]);
        // `/files;/secret` strict is one segment `files;` under root: not `/files/*`.
        assert!(star.check(&Method::GET, &segs("/files;/secret")).is_err());
    }

    #[test]
    fn empty_lists_admit_nothing() {
        let none = scope(&[], &[]);
        let err = none.check(&Method::GET, &segs("/")).unwrap_err();
        assert!(err.to_string().contains("its methods: none"), "{err}");
    }
}
