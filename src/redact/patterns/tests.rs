//! Tests of the secret forms and their replacement.

use super::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

const SECRET: &str = "ghp_R3alT0ken/With+Special=Chars\"x";
const PLACEHOLDER: &str = "keyward:github:7f3c9a1e5b2d4c8e";

fn scrubber() -> Scrubber {
    let s = SecretValue::new(SECRET);
    Scrubber::new([(&s, PLACEHOLDER)])
}

fn leaks(text: &[u8]) -> bool {
    let hay = String::from_utf8_lossy(text);
    hay.contains(SECRET)
        || hay.contains(&utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string())
        || hay.contains(serde_json::to_string(SECRET).unwrap().trim_matches('"'))
}

#[test]
fn every_encoding_is_replaced() {
    let s = scrubber();
    let json = serde_json::to_string(SECRET).unwrap();
    let url = utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string();
    let input = format!("raw={SECRET}&url={url}&json={json}");
    let mut counts = RedactionCounts::default();
    let out = s.scrub(input.as_bytes(), &mut counts);
    assert!(!leaks(&out), "{}", String::from_utf8_lossy(&out));
    assert!(String::from_utf8_lossy(&out).contains(PLACEHOLDER));
    assert_eq!(counts.raw, 1);
    assert_eq!(counts.url_encoded, 1);
    assert_eq!(counts.json_escaped, 1);
}

#[test]
fn base64_at_every_alignment_in_both_alphabets_is_replaced() {
    let s = scrubber();
    for prefix in ["", "u", "us", "user:"] {
        for engine in [STANDARD, URL_SAFE] {
            let encoded = engine.encode(format!("{prefix}{SECRET}"));
            let mut counts = RedactionCounts::default();
            let out = s.scrub(encoded.as_bytes(), &mut counts);
            assert_eq!(counts.base64, 1, "prefix {prefix:?}");
            let decoded = engine.decode(&*out).unwrap_or_default();
            assert!(!String::from_utf8_lossy(&decoded).contains(SECRET));
            assert!(!String::from_utf8_lossy(&out).contains(&engine.encode(SECRET)[4..12]));
        }
    }
}

#[test]
fn nothing_to_scrub_borrows() {
    let s = scrubber();
    let mut counts = RedactionCounts::default();
    assert!(matches!(s.scrub(b"hello", &mut counts), Cow::Borrowed(_)));
    assert!(Scrubber::empty().is_empty());
}
