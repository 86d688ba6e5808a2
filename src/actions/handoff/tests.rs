use serde_json::json;

use super::*;
use crate::secret::SecretValue;

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

fn call(name: &str) -> HandedCall {
    HandedCall {
        name: name.into(),
        input: Some(Arc::new(json!({"repo": "keyward"}))),
    }
}

#[test]
fn an_action_name_without_the_token_is_stripped_and_not_trusted() {
    let handoff = Handoff::new();
    let mut h = headers(&[(ACTION_HEADER, "github.create_issue"), ("x-other", "1")]);
    assert_eq!(handoff.take(&mut h), None);
    assert!(h.get(ACTION_HEADER).is_none());
    assert!(h.get("x-other").is_some());
    let mut h = headers(&[
        (ACTION_HEADER, "a.b"),
        (ACTION_TOKEN_HEADER, "guess"),
        (ACTION_CALL_HEADER, "1"),
    ]);
    assert_eq!(handoff.take(&mut h), None);
    assert!(h.is_empty(), "every header removed: {h:?}");
}

#[test]
fn a_handed_call_is_taken_once_with_its_input_and_the_headers_go() {
    let handoff = Handoff::new();
    assert_eq!(format!("{:?}", handoff.token), "[redacted]");
    let mut h = HeaderMap::new();
    let ticket = handoff.hand(call("a.b"), &mut h).unwrap();
    assert_eq!(h.len(), 3);
    assert!(h.get(ACTION_TOKEN_HEADER).unwrap().is_sensitive());
    let mut again = h.clone();
    assert_eq!(handoff.take(&mut h), Some(call("a.b")));
    assert!(h.is_empty());
    // A replay of the same headers names the action, without an input to record.
    let replayed = handoff.take(&mut again).unwrap();
    assert_eq!((replayed.name.as_str(), replayed.input), ("a.b", None));
    drop(ticket);
    assert_eq!(handoff.in_flight(), 0);
}

#[test]
fn a_call_id_of_another_action_does_not_lend_its_input() {
    let handoff = Handoff::new();
    let mut h = HeaderMap::new();
    let _ticket = handoff.hand(call("a.b"), &mut h).unwrap();
    h.insert(ACTION_HEADER, HeaderValue::from_static("c.d"));
    let taken = handoff.take(&mut h).unwrap();
    assert_eq!((taken.name.as_str(), taken.input), ("c.d", None));
}

#[test]
fn a_dropped_ticket_forgets_the_call_and_in_flight_calls_are_bounded() {
    let handoff = Handoff::new();
    let mut h = HeaderMap::new();
    let ticket = handoff.hand(call("a.b"), &mut h).unwrap();
    drop(ticket);
    assert_eq!(handoff.take(&mut h).unwrap().input, None);
    let mut tickets = Vec::new();
    for _ in 0..MAX_IN_FLIGHT {
        tickets.push(handoff.hand(call("a.b"), &mut HeaderMap::new()).unwrap());
    }
    assert_eq!(
        handoff.hand(call("a.b"), &mut HeaderMap::new()).err(),
        Some(HandoffError::Busy)
    );
    tickets.clear();
    assert!(handoff.hand(call("a.b"), &mut HeaderMap::new()).is_ok());
}

#[test]
fn the_recorded_input_has_secret_values_replaced_and_is_bounded() {
    let secret = SecretValue::new(b"ghp_realrealrealrealrealrealrealrealreal".to_vec());
    let known = Scrubber::new([(&secret, "keyward:github:1")]);
    let input = json!({
        "title": "leak ghp_realrealrealrealrealrealrealrealreal here",
        "labels": ["ghp_realrealrealrealrealrealrealrealreal", 3],
        "n": 1.5,
    });
    let recorded = recorded_input(&input, &known);
    let text = recorded.to_string();
    assert!(!text.contains("ghp_real"), "{text}");
    assert_eq!(recorded["title"], "leak keyward:github:1 here");
    assert_eq!(recorded["labels"], json!(["keyward:github:1", 3]));
    assert_eq!(recorded["n"], 1.5);
    let big = json!({ "body": "x".repeat(INPUT_RECORDED) });
    let note = recorded_input(&big, &known);
    assert!(
        note.as_str().unwrap().contains("too large to record"),
        "{note}"
    );
}
