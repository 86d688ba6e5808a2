//! Hop-by-hop headers: the connection-level headers stripped in both directions (and the ones
//! the `Connection` header names), with `Upgrade` kept only for a real upgrade.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one hop and never cross keyward.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `Proxy-Connection`, which some clients send in place of `Connection`.
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes hop-by-hop headers. When `upgrade` names a protocol being upgraded to, the
/// `Upgrade` header is set to it and `Connection: upgrade` kept, and `Sec-WebSocket-Extensions`
/// is removed: keyward reads every message, so none is compressed (`permessage-deflate`) or
/// otherwise transformed by an extension it would have to undo.
pub fn strip(headers: &mut HeaderMap, upgrade: Option<&HeaderValue>) {
    // One pass over the names (a handful per message) rather than a hashed removal per
    // hop-by-hop name: most messages carry none of them.
    let named: Vec<HeaderName> =
        if headers.contains_key(header::CONNECTION) || headers.contains_key(PROXY_CONNECTION) {
            headers
                .get_all(header::CONNECTION)
                .iter()
                .chain(headers.get_all(PROXY_CONNECTION).iter())
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
                .collect()
        } else {
            Vec::new()
        };
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(&name.as_str()) || named.contains(name))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::UPGRADE, protocol.clone());
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    }
}

/// The protocol a request asks to upgrade to, when it is exactly `websocket` and
/// `Connection` lists `upgrade` (substring matches such as `notwebsocket` do not count).
pub fn websocket_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let upgrade = headers.get(header::UPGRADE)?;
    let is_websocket = upgrade
        .to_str()
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    (connection_upgrade && is_websocket).then(|| upgrade.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_fixed_and_named_hop_headers() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("accept", "*/*"),
        ]);
        strip(&mut h, None);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn proxy_connection_names_go_and_a_message_without_hop_headers_stays_whole() {
        let mut h = map(&[
            ("proxy-connection", "X-Hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("accept", "*/*"),
        ]);
        strip(&mut h, None);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
        let plain = map(&[("accept", "*/*"), ("x-custom", "1"), ("x-custom", "2")]);
        let mut h = plain.clone();
        strip(&mut h, None);
        assert_eq!(h, plain);
    }

    #[test]
    fn websocket_upgrade_needs_exact_token_and_connection_upgrade() {
        let ok = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(websocket_upgrade(&ok).is_some());
        let sub = map(&[("connection", "upgrade"), ("upgrade", "notwebsocket")]);
        assert!(websocket_upgrade(&sub).is_none());
        let no_conn = map(&[("upgrade", "websocket")]);
        assert!(websocket_upgrade(&no_conn).is_none());
        let mut h = ok.clone();
        strip(&mut h, websocket_upgrade(&ok).as_ref());
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
    }

    #[test]
    fn an_upgrade_loses_its_websocket_extensions() {
        let offered = map(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            (
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits",
            ),
            ("sec-websocket-protocol", "chat"),
        ]);
        let mut h = offered.clone();
        strip(&mut h, websocket_upgrade(&offered).as_ref());
        assert!(!h.contains_key("sec-websocket-extensions"));
        assert_eq!(h["sec-websocket-protocol"], "chat");
    }
}
