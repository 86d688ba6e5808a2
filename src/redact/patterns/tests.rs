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

#[test]
fn encoders_agree_with_the_libraries_on_known_values() {
    // Python 3.11's and node 20's outputs as printed by them; Go's (`encoding/json`
    // `htmlSafeSet`, lower-case hex) and PHP's as documented.
    let s = "kwsec_ab/+=<&\"x y~*";
    assert_eq!(
        encoders::python_quote(s, ""),
        "kwsec_ab%2F%2B%3D%3C%26%22x%20y~%2A"
    );
    assert_eq!(
        encoders::python_quote(s, "/"),
        "kwsec_ab/%2B%3D%3C%26%22x%20y~%2A"
    );
    assert_eq!(
        encoders::python_quote_plus(s),
        "kwsec_ab%2F%2B%3D%3C%26%22x+y~%2A"
    );
    assert_eq!(encoders::python_json_dumps(s), r#""kwsec_ab/+=<&\"x y~*""#);
    assert_eq!(
        encoders::go_json_marshal(s),
        r#""kwsec_ab/+=\u003c\u0026\"x y~*""#
    );
    assert_eq!(encoders::php_json_encode(s), r#""kwsec_ab\/+=<&\"x y~*""#);
    assert_eq!(
        encoders::js_encode_uri_component(s),
        "kwsec_ab%2F%2B%3D%3C%26%22x%20y~*"
    );
    assert_eq!(encoders::python_json_dumps("é\u{1}"), r#""\u00e9\u0001""#);
}

/// Every encoder the property test echoes a secret through, by name.
fn encodings(secret: &str, spells: &[encoders::Spell], lead: &str) -> Vec<(&'static str, String)> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    // The string inside the quotes (one at each end: the secret may end with `\"`).
    let json = |j: String| j[1..j.len() - 1].to_owned();
    let b64 = format!("{lead}{secret}");
    vec![
        ("quote safe=''", encoders::python_quote(secret, "")),
        ("quote", encoders::python_quote(secret, "/")),
        ("quote_plus", encoders::python_quote_plus(secret)),
        ("json.dumps", json(encoders::python_json_dumps(secret))),
        ("go json", json(encoders::go_json_marshal(secret))),
        (
            "go json \\/",
            json(encoders::go_json_marshal(secret)).replace('/', "\\/"),
        ),
        ("php json_encode", json(encoders::php_json_encode(secret))),
        (
            "encodeURIComponent",
            encoders::js_encode_uri_component(secret),
        ),
        ("serde_json", json(serde_json::to_string(secret).unwrap())),
        ("base64", STANDARD.encode(&b64)),
        ("base64 no pad", STANDARD_NO_PAD.encode(&b64)),
        ("base64url", URL_SAFE.encode(&b64)),
        ("base64url no pad", URL_SAFE_NO_PAD.encode(&b64)),
        ("mix", encoders::mixed(secret, spells)),
    ]
}

/// `text` through a stream scrubber, cut at `cuts` (offsets, any order, clamped).
fn streamed(
    s: &std::sync::Arc<Scrubber>,
    text: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, RedactionCounts) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    cuts.sort_unstable();
    let mut stream = crate::redact::StreamScrubber::new(s.clone());
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([text.len()]) {
        out.extend_from_slice(&stream.push(bytes::Bytes::copy_from_slice(&text[from..cut])));
        from = cut;
    }
    out.extend_from_slice(&stream.finish());
    (out, stream.counts())
}

fn spell() -> impl proptest::strategy::Strategy<Value = encoders::Spell> {
    use encoders::Spell;
    proptest::prop_oneof![
        proptest::strategy::Just(Spell::Raw),
        proptest::strategy::Just(Spell::PercentUpper),
        proptest::strategy::Just(Spell::PercentLower),
        proptest::strategy::Just(Spell::UnicodeUpper),
        proptest::strategy::Just(Spell::UnicodeLower),
        proptest::strategy::Just(Spell::Short),
    ]
}

proptest::proptest! {
    /// Echoed through any encoder, or any per-character mix of escapes, embedded in other
    /// text and cut into chunks anywhere, a secret drawn from all printable ASCII never
    /// survives, neither encoded nor raw; the stream agrees with scrubbing the whole text.
    #[test]
    fn a_secret_never_survives_any_escaping(
        secret in "[ -~]{8,40}",
        spells in proptest::collection::vec(spell(), 1..41),
        lead in "[a-z:]{0,2}",
        before in "[ -~]{0,24}",
        after in "[ -~]{0,24}",
        cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..4),
    ) {
        let value = SecretValue::new(secret.as_str());
        let scrubber = std::sync::Arc::new(Scrubber::new([(&value, PLACEHOLDER)]));
        for (name, encoded) in encodings(&secret, &spells, &lead) {
            let text = format!("{before}{encoded}{after}");
            let mut counts = RedactionCounts::default();
            let whole = scrubber.scrub(text.as_bytes(), &mut counts).into_owned();
            let (out, stream_counts) = streamed(&scrubber, text.as_bytes(), &cuts);
            proptest::prop_assert_eq!(&out, &whole, "{}: stream and whole differ", name);
            proptest::prop_assert_eq!(stream_counts, counts);
            let shown = String::from_utf8_lossy(&out);
            proptest::prop_assert!(counts.total() >= 1, "{name}: nothing replaced in {text:?}");
            proptest::prop_assert!(!shown.contains(&encoded), "{name}: {encoded:?} survives in {shown:?}");
            proptest::prop_assert!(!shown.contains(&secret), "{name}: raw secret survives in {shown:?}");
        }
    }

    /// A near miss (one character of the secret changed) in any encoding is left alone:
    /// only the secret's own spellings are replaced.
    #[test]
    fn a_near_miss_is_left_alone(
        secret in "[!-~]{8,40}",
        at in proptest::prelude::any::<proptest::sample::Index>(),
        spells in proptest::collection::vec(spell(), 1..41),
    ) {
        let i = at.index(secret.len());
        // A raw `\` or `%` of the secret is rightly read from the first byte of the changed
        // character's escape (`\u005D` begins with `\`): that text does spell the secret.
        proptest::prop_assume!(!matches!(secret.as_bytes()[i], b'\\' | b'%'));
        let changed: String = secret
            .char_indices()
            .map(|(j, c)| if j == i { if c == '~' { '!' } else { char::from(c as u8 + 1) } } else { c })
            .collect();
        let value = SecretValue::new(secret.as_str());
        let scrubber = Scrubber::new([(&value, PLACEHOLDER)]);
        for (name, encoded) in encodings(&changed, &spells, "") {
            if name.starts_with("base64") {
                continue; // the fragments leave out up to two bytes at either end
            }
            let text = format!("<{encoded}>");
            if digits_spell_part_of(&text, &secret) {
                continue;
            }
            let mut counts = RedactionCounts::default();
            let out = scrubber.scrub(text.as_bytes(), &mut counts);
            proptest::prop_assert_eq!(counts.total(), 0, "{}: {:?} matched", name, text);
            proptest::prop_assert!(matches!(out, Cow::Borrowed(_)));
        }
    }
}

/// Whether two hex digits of an escape in `text` are also two consecutive characters of
/// `secret`: read raw, they may then begin or continue a true spelling of it that does not
/// touch the changed character (`4%30a…` holds `30a…` for the secret `30a…`).
fn digits_spell_part_of(text: &str, secret: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).enumerate().any(|(k, pair)| {
        let in_escape = pair.iter().all(u8::is_ascii_hexdigit)
            && (k >= 1 && bytes[k - 1] == b'%'
                || bytes[..k]
                    .windows(2)
                    .rposition(|w| w == b"\\u")
                    .is_some_and(|u| k - u <= 4));
        in_escape
            && secret
                .as_bytes()
                .windows(2)
                .any(|w| w.eq_ignore_ascii_case(pair))
    })
}

#[test]
fn a_scrubber_knows_the_pairs_it_was_built_from() {
    let (a, b) = (
        SecretValue::new("first-secret-value"),
        SecretValue::new("second/secret"),
    );
    let s = Scrubber::new([(&a, "p1"), (&b, "p2")]);
    assert!(s.is_built_from([(&a, "p1"), (&b, "p2")]));
    assert!(!s.is_built_from([(&b, "p2"), (&a, "p1")]));
    assert!(!s.is_built_from([(&a, "p1")]));
    assert!(!s.is_built_from([(&a, "p1"), (&b, "p3")]));
}

#[test]
fn a_non_ascii_secret_is_replaced_in_every_escaping() {
    let secret = "tok-é/😀 end";
    let value = SecretValue::new(secret);
    let s = Scrubber::new([(&value, PLACEHOLDER)]);
    let inner = |j: String| j[1..j.len() - 1].to_owned();
    for encoded in [
        secret.to_owned(),
        encoders::python_quote(secret, ""),
        encoders::python_quote_plus(secret),
        inner(encoders::python_json_dumps(secret)),
        inner(encoders::php_json_encode(secret)),
        encoders::js_encode_uri_component(secret),
    ] {
        let mut counts = RedactionCounts::default();
        let out = s
            .scrub(format!("[{encoded}]").as_bytes(), &mut counts)
            .into_owned();
        assert_eq!(counts.total(), 1, "{encoded}");
        assert!(
            !String::from_utf8_lossy(&out).contains(&encoded),
            "{encoded}"
        );
    }
}

#[test]
fn patterns_that_do_not_compile_withhold_every_value() {
    let secret = SecretValue::new("kwsec_withheld_0123456789");
    let mut scrubber = Scrubber::new([(&secret, "keyward:x:0011223344556677")]);
    scrubber.regex = None;
    scrubber.broken = true;
    assert!(!scrubber.is_empty());
    let mut counts = RedactionCounts::default();
    let out = scrubber.scrub(b"nothing secret here", &mut counts);
    assert_eq!(
        out.as_ref(),
        WITHHELD,
        "fail closed: nothing passes unscrubbed"
    );
    assert_eq!(
        scrubber.owners_found(b"anything"),
        vec![0],
        "the guard refuses"
    );
}

#[test]
fn covers_says_which_secrets_it_was_built_from() {
    let one = SecretValue::new("kwsec_one_0123456789");
    let two = SecretValue::new("kwsec_two_0123456789");
    let empty = SecretValue::new("");
    let mut scrubber = Scrubber::new([(&one, "keyward:one:00"), (&empty, "keyward:e:00")]);
    assert!(scrubber.covers(one.expose()));
    assert!(
        !scrubber.covers(two.expose()),
        "a rotated value needs a rebuild"
    );
    assert!(
        !scrubber.covers(b"kwsec_one"),
        "a part of a secret is not the secret"
    );
    assert!(!scrubber.covers(empty.expose()));
    scrubber.regex = None;
    scrubber.broken = true;
    assert!(
        scrubber.covers(two.expose()),
        "broken patterns withhold everything"
    );
}
