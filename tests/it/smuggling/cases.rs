//! The hand-written requests of the smuggling tests: each names the trick, says what
//! keyward must do with it, and carries the bytes (with a smuggled request in the tail).

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// 4xx, nothing upstream.
    Refused,
    /// Exactly one request upstream, re-framed; the smuggled one never arrives.
    OneRequest,
}

/// `(name, expectation, bytes)` for a request target prefix (`http://host` on the proxy
/// port, empty in a tunnel) and Host.
pub fn cases(prefix: &str, host: &str) -> Vec<(&'static str, Expect, String)> {
    let tail =
        format!("GET {prefix}/smuggled HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let post = |headers: &str, body: &str| {
        format!("POST {prefix}/a HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n{body}{tail}")
    };
    let chunked = |size_line: &str| {
        post(
            "Transfer-Encoding: chunked\r\n",
            &format!("{size_line}\r\nhello\r\n0\r\n\r\n"),
        )
    };
    let cl_te_body = format!("0\r\n\r\n{tail}");
    use Expect::*;
    vec![
        (
            "conflicting Content-Length",
            Refused,
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
        ),
        (
            "Content-Length list",
            Refused,
            post("Content-Length: 5, 5\r\n", "hello"),
        ),
        (
            "negative Content-Length",
            Refused,
            post("Content-Length: -1\r\n", ""),
        ),
        (
            "signed Content-Length",
            Refused,
            post("Content-Length: +5\r\n", "hello"),
        ),
        (
            "chunked, identity",
            Refused,
            chunked_with("chunked, identity", &post),
        ),
        (
            "identity, chunked",
            Refused,
            chunked_with("identity, chunked", &post),
        ),
        (
            "upper-case CHUNKED",
            Refused,
            chunked_with("CHUNKED", &post),
        ),
        ("xchunked", Refused, chunked_with("xchunked", &post)),
        (
            "chunked with a vertical tab",
            Refused,
            chunked_with("chunked\x0b", &post),
        ),
        (
            "two Transfer-Encoding lines",
            Refused,
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            Refused,
            format!(
                "POST {prefix}/a HTTP/1.0\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{tail}"
            ),
        ),
        (
            "obs-fold",
            Refused,
            post("X-Fold: a\r\n b\r\nContent-Length: 0\r\n", ""),
        ),
        (
            "obs-fold Transfer-Encoding",
            Refused,
            post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"),
        ),
        (
            "space before colon",
            Refused,
            post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"),
        ),
        (
            "space in a header name",
            Refused,
            post("X Bad: 1\r\nContent-Length: 0\r\n", ""),
        ),
        (
            "control character in a header name",
            Refused,
            post("X-\x01Bad: 1\r\nContent-Length: 0\r\n", ""),
        ),
        (
            "NUL in a header value",
            Refused,
            post("X-A: a\x00b\r\nContent-Length: 0\r\n", ""),
        ),
        (
            "bare CR in a header value",
            Refused,
            post("X-A: a\rb\r\nContent-Length: 0\r\n", ""),
        ),
        ("chunk size zz", Refused, chunked("zz")),
        ("chunk size -5", Refused, chunked("-5")),
        ("chunk size 0x5", Refused, chunked("0x5")),
        (
            "chunk size overflowing 64 bits",
            Refused,
            chunked("1ffffffffffffffff"),
        ),
        (
            "chunk size with a bare LF",
            Refused,
            post("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n"),
        ),
        // Both framings: servers disagree on which one wins (RFC 9112 §6.1 lets a recipient
        // reject it); keyward refuses it, as Envoy does, and closes the connection.
        (
            "Content-Length then Transfer-Encoding",
            Refused,
            post(
                &format!(
                    "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                    cl_te_body.len()
                ),
                "0\r\n\r\n",
            ),
        ),
        (
            "Transfer-Encoding then Content-Length",
            Refused,
            post(
                &format!(
                    "Transfer-Encoding: chunked\r\nContent-Length: {}\r\n",
                    cl_te_body.len()
                ),
                "0\r\n\r\n",
            ),
        ),
        // Optional whitespace and bare-LF line ends are legal (RFC 9112 §2.2, §5.1); the
        // upstream gets a clean CRLF request either way.
        (
            "tabs around chunked",
            OneRequest,
            format!(
                "POST {prefix}/a HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding:\tchunked\t\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            ),
        ),
        (
            "bare LF line ends",
            OneRequest,
            format!(
                "POST {prefix}/a HTTP/1.1\nHost: {host}\nContent-Length: 5\nConnection: close\n\nhello"
            ),
        ),
    ]
}

fn chunked_with(coding: &str, post: &dyn Fn(&str, &str) -> String) -> String {
    post(
        &format!("Transfer-Encoding: {coding}\r\n"),
        "5\r\nhello\r\n0\r\n\r\n",
    )
}
