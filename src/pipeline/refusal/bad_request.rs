//! Why a request is malformed or not a proxy request (400): each cause typed, worded once.

use crate::pipeline::HeadFinding;
use crate::pipeline::read_body::BodyReadError;
use crate::policy::{AmbiguousPath, NormalizeError};
use crate::target::TargetError;

/// A request keyward will not interpret; the connection closes after the 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    /// The raw head said what the parsed request no longer shows (a `#`, CL beside TE).
    #[error(transparent)]
    Head(#[from] HeadFinding),
    /// The target cannot be normalised (dot segment, encoded slash, bad host, …).
    #[error(transparent)]
    Target(#[from] NormalizeError),
    /// A path spelling servers read differently that the host's rules do not admit.
    #[error(transparent)]
    Spelling(#[from] AmbiguousPath),
    /// The body a rule or the exfiltration guard must see did not arrive.
    #[error(transparent)]
    Body(#[from] BodyReadError),
    /// A CONNECT whose target is a URI with a scheme instead of `host:port`.
    #[error("CONNECT target {uri} carries a scheme ({scheme}://); send CONNECT host:port")]
    ConnectWithScheme { uri: http::Uri, scheme: String },
    /// A CONNECT target that is not a valid `host:port`.
    #[error("invalid CONNECT target {raw:?}: {source}")]
    ConnectTarget { raw: String, source: TargetError },
    /// An absolute-form `http://` URI with no authority.
    #[error("absolute-form URI without a host")]
    NoAuthority,
    /// An absolute-form `http://` URI whose authority does not parse.
    #[error("invalid request target {authority}: {source}")]
    PlainTarget {
        authority: String,
        source: TargetError,
    },
    /// An absolute-form URI of another scheme than `http` (HTTPS goes through CONNECT).
    #[error("absolute-form {0}:// requests are refused; use CONNECT for HTTPS")]
    AbsoluteScheme(String),
    /// Origin-form on the proxy port.
    #[error("not a proxy request: send CONNECT host:port or an absolute-form http:// URI")]
    NotProxyRequest,
    /// CONNECT on a redirected connection, which already goes to its destination.
    #[error("CONNECT is refused on a redirected connection: it already goes to its destination")]
    ConnectRedirected,
    /// A transfer coding other than exactly `chunked` (as sent).
    #[error("Transfer-Encoding {0:?} is refused; only `chunked` is accepted")]
    TransferEncoding(String),
    /// A Host header that is not visible ASCII.
    #[error("Host header is not valid text")]
    HostNotText,
    /// Neither an authority in the target nor a Host header.
    #[error("request names no host (no Host header)")]
    NoHost,
    /// The request target's authority or a Host header (`what`) does not parse.
    #[error("invalid {what} {raw:?}: {source}")]
    Authority {
        what: &'static str,
        raw: String,
        source: TargetError,
    },
    /// The URI rebuilt for the upstream does not parse; `http`'s error as it words it (it
    /// cannot be cloned).
    #[error("invalid request target: {0}")]
    UpstreamUri(String),
}
