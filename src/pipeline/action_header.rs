//! The action name keyward's own MCP listener puts on the requests it sends: trusted only
//! with the per-process token beside it (compared in constant time), and both headers always
//! removed before anything else sees the request, so an agent cannot forge an action name in
//! the audit trail nor learn anything by sending them.

use http::HeaderMap;

use crate::actions::catalog::{ACTION_HEADER, ACTION_TOKEN_HEADER, ActionToken};

/// Removes both headers; the action name when the token is keyward's own.
pub fn take(headers: &mut HeaderMap, token: &ActionToken) -> Option<String> {
    let name = headers.remove(ACTION_HEADER);
    let proof = headers.remove(ACTION_TOKEN_HEADER);
    // Several copies of either header: not keyward's own client.
    while headers.remove(ACTION_HEADER).is_some() {}
    while headers.remove(ACTION_TOKEN_HEADER).is_some() {}
    let proof = proof?;
    if !token.matches(proof.as_bytes()) {
        return None;
    }
    name.and_then(|n| n.to_str().ok().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn an_action_name_without_the_token_is_stripped_and_not_trusted() {
        let token = ActionToken::random();
        let mut h = headers(&[(ACTION_HEADER, "github.create_issue"), ("x-other", "1")]);
        assert_eq!(take(&mut h, &token), None);
        assert!(h.get(ACTION_HEADER).is_none());
        assert!(h.get("x-other").is_some());
        let mut h = headers(&[(ACTION_HEADER, "a.b"), (ACTION_TOKEN_HEADER, "guess")]);
        assert_eq!(take(&mut h, &token), None);
        assert!(h.is_empty(), "both headers removed: {h:?}");
    }

    #[test]
    fn the_right_token_lets_the_name_through_and_is_stripped() {
        let token = ActionToken::random();
        let secret = format!("{:?}", token);
        assert_eq!(secret, "[redacted]");
        let value = token_value(&token);
        let mut h = headers(&[(ACTION_HEADER, "a.b"), (ACTION_TOKEN_HEADER, &value)]);
        assert_eq!(take(&mut h, &token).as_deref(), Some("a.b"));
        assert!(h.is_empty());
    }

    fn token_value(token: &ActionToken) -> String {
        token.header_for_tests()
    }
}
