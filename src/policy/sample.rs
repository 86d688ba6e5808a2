//! A request written as text (`POST https://host/path?q`), for `tests:` entries and for
//! `keyward explain`: parsed into the same head and body the proxy would pass.

use crate::policy::compile::parse_method_text;
use crate::policy::request::{RequestBody, RequestHead, Scheme};

/// An owned request built from text, with optional headers and body.
#[derive(Clone, Debug)]
pub struct SampleRequest {
    /// The method.
    pub method: http::Method,
    /// http or https.
    pub scheme: Scheme,
    /// The host as written.
    pub host: String,
    /// The port (the scheme's default when none is written).
    pub port: u16,
    /// The raw path (default `/`).
    pub path: String,
    /// The raw query without `?`.
    pub query: Option<String>,
    /// Headers to send.
    pub headers: http::HeaderMap,
    /// The body bytes, if any.
    pub body: Option<Vec<u8>>,
}

/// Why a request line cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid request `{text}`: {reason}")]
pub struct SampleRequestError {
    /// The text as written.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl SampleRequest {
    /// Parses `METHOD URL`.
    pub fn parse(line: &str) -> Result<SampleRequest, SampleRequestError> {
        let fail = |reason: String| SampleRequestError {
            text: line.to_owned(),
            reason,
        };
        let mut words = line.split_whitespace();
        let (Some(method), Some(url), None) = (words.next(), words.next(), words.next()) else {
            return Err(fail("expected `METHOD URL`".into()));
        };
        let method = parse_method_text(method).map_err(&fail)?;
        SampleRequest::from_url(method, url).map_err(|e| fail(e.reason))
    }

    /// Builds a request for `method` and an absolute `http(s)://` URL.
    pub fn from_url(method: http::Method, url: &str) -> Result<SampleRequest, SampleRequestError> {
        let fail = |reason: &str| SampleRequestError {
            text: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = match url.split_once("://") {
            Some(("https", rest)) => (Scheme::Https, rest),
            Some(("http", rest)) => (Scheme::Http, rest),
            _ => return Err(fail("URL must start with https:// or http://")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (rest, query) = match rest.split_once('?') {
            Some((before, q)) => (before, Some(q.to_owned())),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(fail("user info is not allowed"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port.parse::<u16>().map_err(|_| fail("invalid port"))?;
                (host, port)
            }
            _ => (authority, scheme.default_port()),
        };
        if host.is_empty() {
            return Err(fail("missing host"));
        }
        Ok(SampleRequest {
            method,
            scheme,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            query,
            headers: http::HeaderMap::new(),
            body: None,
        })
    }

    /// The head the engine decides on.
    pub fn head(&self) -> RequestHead<'_> {
        RequestHead {
            method: &self.method,
            scheme: self.scheme,
            host: &self.host,
            port: self.port,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }

    /// The body as the proxy would pass it after reading at most `max_size` bytes.
    pub fn body_view(&self, max_size: usize) -> RequestBody<'_> {
        let bytes = self.body.as_deref().unwrap_or_default();
        let header =
            |name: http::header::HeaderName| self.headers.get(name).and_then(|v| v.to_str().ok());
        RequestBody {
            bytes: bytes.get(..max_size).unwrap_or(bytes),
            content_encoding: header(http::header::CONTENT_ENCODING),
            content_type: header(http::header::CONTENT_TYPE),
            truncated: bytes.len() > max_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_lines() {
        let r = SampleRequest::parse("POST https://API.github.com/repos/a/b/issues?x=1#f").unwrap();
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(r.scheme, Scheme::Https);
        assert_eq!((r.host.as_str(), r.port), ("API.github.com", 443));
        assert_eq!(r.path, "/repos/a/b/issues");
        assert_eq!(r.query.as_deref(), Some("x=1"));
        let r = SampleRequest::parse("GET http://[::1]:8080").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("[::1]", 8080, "/")
        );
    }

    #[test]
    fn rejects_bad_lines() {
        for bad in [
            "GET",
            "get https://a.com/",
            "GET ftp://a/",
            "GET https://a.com:x/",
            "GET https:///x",
            "GET https://a.com/ extra",
        ] {
            assert!(SampleRequest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn body_view_truncates_like_the_proxy() {
        let mut r = SampleRequest::parse("POST https://a.com/").unwrap();
        r.body = Some(b"0123456789".to_vec());
        let view = r.body_view(4);
        assert_eq!((view.bytes, view.truncated), (&b"0123"[..], true));
        assert!(!r.body_view(10).truncated);
    }
}
