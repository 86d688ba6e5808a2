//! The request view the engine decides on: head, optional body, and what body it needs.

use std::fmt;

/// The scheme of the request as the agent sent it (`https` inside a CONNECT tunnel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (absolute-form requests).
    Http,
    /// HTTPS (decrypted CONNECT tunnels).
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 for http, 443 for https.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }
}

/// The head of one request, borrowed from the proxy's parsed request.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a http::Method,
    /// http or https.
    pub scheme: Scheme,
    /// The host as received (normalised by the engine).
    pub host: &'a str,
    /// The destination port (the proxy fills the scheme's default when none was given).
    pub port: u16,
    /// The raw, percent-encoded path as received.
    pub path: &'a str,
    /// The raw query string without `?`.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
}

/// The body bytes the proxy read, as sent (still compressed if it was).
#[derive(Clone, Copy, Debug)]
pub struct RequestBody<'a> {
    /// The bytes read, at most the `max_size` from [`BodyNeed::Inspect`].
    pub bytes: &'a [u8],
    /// The `Content-Encoding` header, if any.
    pub content_encoding: Option<&'a str>,
    /// The `Content-Type` header, if any (informational: rules choose `json` or `form`).
    pub content_type: Option<&'a str>,
    /// True when the proxy stopped reading at `max_size` (the body is larger).
    pub truncated: bool,
}

/// Whether the proxy must read the body before deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyNeed {
    /// No matching rule looks at the body: decide on the head, stream the body.
    None,
    /// Read up to `max_size` bytes (set `truncated` if there is more) and pass them.
    Inspect {
        /// The largest `max_size` among the matching rules that inspect the body.
        max_size: usize,
    },
}
