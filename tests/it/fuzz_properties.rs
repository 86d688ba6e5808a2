//! The fuzz targets' properties (`fuzz/src/checks.rs`, included as is) run under proptest in
//! the ordinary test run, and replayed over the committed seed corpus (`fuzz/corpus/`).

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

use proptest::prelude::*;

/// Random byte edits (replace, insert, delete) of `seed`.
fn mutated(seed: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..12).prop_map(
        move |edits| {
            let mut out = seed.to_vec();
            for (at, byte, kind) in edits {
                let i = at.index(out.len() + 1);
                match kind {
                    0 if i < out.len() => out[i] = byte,
                    1 => out.insert(i, byte),
                    _ if i < out.len() => {
                        out.remove(i);
                    }
                    _ => {}
                }
            }
            out
        },
    )
}

/// One fuzz target's property.
type Check = fn(&[u8]);

const RULES: &[u8] = include_bytes!("../../rules/github.yaml");
const ISSUE: &[u8] = br#"{"title":"hi","labels":["bug","triage"],"body":"x"}"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn connect_authority(text in "[\\[\\]a-fA-F0-9xX.:@%_-]{0,40}|[a-z0-9.]{1,20}:[0-9]{1,6}") {
        checks::connect_authority(text.as_bytes());
    }

    #[test]
    fn normalize_target(text in "[a-zA-Z0-9.\\[\\]:%-]{0,20}\n[0-9]{0,6}\n(/[a-zA-Z0-9.%;\\\\]{0,8}){0,5}") {
        checks::normalize_target(text.as_bytes());
    }

    #[test]
    fn proxy_request(head in prop_oneof![
        mutated(b"CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n\r\n"),
        mutated(b"GET http://plain.example:8080/a?b=c HTTP/1.1\r\nHost: plain.example\r\n\r\n"),
        mutated(b"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n"),
    ]) {
        checks::proxy_request(&head);
    }

    #[test]
    fn json_body(body in mutated(ISSUE)) {
        checks::json_body(&body);
    }

    #[test]
    fn stream_redactor(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        checks::stream_redactor(&data);
    }
}

proptest! {
    // Compiling is slower: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn rule_compile(text in mutated(RULES)) {
        checks::rule_compile(&text);
    }
}

#[test]
fn seed_corpus_replays_clean() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let targets: [(&str, Check); 6] = [
        ("connect_authority", checks::connect_authority),
        ("proxy_request", checks::proxy_request),
        ("rule_compile", checks::rule_compile),
        ("normalize_target", checks::normalize_target),
        ("json_body", checks::json_body),
        ("stream_redactor", checks::stream_redactor),
    ];
    let mut replayed = 0;
    for (name, check) in targets {
        for entry in std::fs::read_dir(corpus.join(name)).unwrap() {
            check(&std::fs::read(entry.unwrap().path()).unwrap());
            replayed += 1;
        }
    }
    assert!(replayed >= 20, "only {replayed} seeds");
}
