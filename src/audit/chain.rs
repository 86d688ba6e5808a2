//! The hash chain that makes the log tamper-evident: each entry's hash covers the previous
//! entry's hash, so an edited, deleted or reordered line breaks every link after it.
//!
//! # Definition
//! For each line of the log, in order (across rotated files, oldest first):
//!
//! 1. Parse the line as a JSON object `E`. Remove its `"hash"` member; keep `"prev_hash"`.
//! 2. The *canonical bytes* are `E` serialized as compact JSON (no whitespace, `,` and `:`
//!    separators), object keys sorted by code point at every level, strings in UTF-8 with
//!    only `"`, `\` and control characters (U+0000–U+001F) escaped, as `\"`, `\\`, `\b`,
//!    `\f`, `\n`, `\r`, `\t`, or `\u00xx` with lowercase hex.
//! 3. `hash = lowercase_hex(SHA-256(prev_hash || canonical_bytes))`, where `prev_hash` is
//!    the 64 ASCII hex characters themselves (not the 32 bytes they encode).
//! 4. `prev_hash` of the first entry ever written is 64 zeros ([`GENESIS_HASH`]); every later
//!    entry's `prev_hash` is the `hash` of the entry before it, also across rotation.
//!
//! Numbers: integers are printed as integers; the writer rounds `duration_ms` and
//! `upstream_ms` to three decimals in `[0, 1e12]` so that every JSON library prints them the
//! same way (shortest round-trip digits, never in exponent notation).
//!
//! # Checking a log with Python
//! ```python
//! import hashlib, json
//! prev = "0" * 64                      # or the first entry's prev_hash for a partial log
//! for files in [["audit.jsonl"]]:      # rotated files oldest first, then audit.jsonl
//!     for path in files:
//!         for n, line in enumerate(open(path, encoding="utf-8"), 1):
//!             entry = json.loads(line)
//!             claimed = entry.pop("hash")
//!             assert entry["prev_hash"] == prev, f"{path}:{n}: prev_hash mismatch"
//!             canon = json.dumps(entry, sort_keys=True, separators=(",", ":"),
//!                                ensure_ascii=False)
//!             digest = hashlib.sha256((prev + canon).encode("utf-8")).hexdigest()
//!             assert digest == claimed, f"{path}:{n}: hash mismatch"
//!             prev = claimed
//! print("ok, last hash", prev)
//! ```

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical::CanonicalEntry;
use super::entry::AuditEntry;

/// `prev_hash` of the first entry of a log: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Largest duration (ms) written as is; larger values are clamped so they never print in
/// exponent notation, which JSON libraries disagree on.
const MAX_MS: f64 = 1e12;

/// Why an entry could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The line parsed as JSON, but not as an object.
    #[error("entry is a JSON {found}, not an object")]
    NotAnObject {
        /// The kind of JSON value found instead.
        found: &'static str,
    },
    /// The entry could not be turned into JSON.
    #[error("entry {request_id} cannot be serialized: {source}")]
    Serialize {
        /// The entry's request id.
        request_id: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
}

/// Sets `entry.prev_hash` to `prev_hash`, normalises its durations (see the module doc) and
/// sets `entry.hash`. Returns the entry's log line, without the trailing newline: its
/// canonical bytes with the `hash` member in its sorted place, so the entry is serialized
/// once.
pub fn seal(entry: &mut AuditEntry, prev_hash: &str) -> Result<Vec<u8>, ChainError> {
    entry.prev_hash = prev_hash.to_owned();
    entry.hash = String::new();
    entry.duration_ms = normalise_ms(entry.duration_ms);
    entry.upstream_ms = entry.upstream_ms.map(normalise_ms);
    // Sized for a typical line and its `hash` member, so the buffer is allocated once.
    let mut canonical = Vec::with_capacity(LINE_CAPACITY);
    serde_json::to_writer(&mut canonical, &CanonicalEntry::from(&*entry)).map_err(|source| {
        ChainError::Serialize {
            request_id: entry.request_id.clone(),
            source,
        }
    })?;
    entry.hash = chain_hash(prev_hash, &canonical);
    // `hash` sorts right before `host`, a member every entry has. Every string before it is
    // escaped, so the first `,"host":` in the bytes is that member's.
    let at = canonical
        .windows(HOST_MEMBER.len())
        .position(|w| w == HOST_MEMBER);
    let at = at.ok_or_else(|| ChainError::Serialize {
        request_id: entry.request_id.clone(),
        source: serde::ser::Error::custom("the canonical form has no host member"),
    })?;
    let member = HASH_MEMBER
        .iter()
        .chain(entry.hash.as_bytes())
        .chain(b"\"")
        .copied();
    canonical.splice(at..at, member);
    Ok(canonical)
}

/// The start of the `hash` member as it is spliced into a line.
const HASH_MEMBER: &[u8] = br#","hash":""#;

/// Bytes reserved for a line: most entries are well under this, a larger one grows.
const LINE_CAPACITY: usize = 1024;

/// Where the `hash` member goes in a line: before this, the first member sorting after it.
const HOST_MEMBER: &[u8] = br#","host":"#;

/// The hash a parsed log line should carry, computed from its own `prev_hash` member
/// (missing or non-string `prev_hash` counts as empty, which never matches a real chain).
pub fn expected_hash(line: &Value) -> Result<String, ChainError> {
    let prev = line.get("prev_hash").and_then(Value::as_str).unwrap_or("");
    Ok(chain_hash(prev, &canonical_bytes(line.clone())?))
}

/// The canonical bytes of an entry: the object without `hash`, keys sorted, compact.
pub fn canonical_bytes(entry: Value) -> Result<Vec<u8>, ChainError> {
    let Value::Object(mut map) = entry else {
        return Err(ChainError::NotAnObject {
            found: kind(&entry),
        });
    };
    map.remove("hash");
    // Sort explicitly rather than trusting serde_json's map type: another crate in the
    // build enabling `preserve_order` must not change the hashes.
    let sorted = sort_keys(Value::Object(map));
    // Serializing a `Value` (string keys, finite numbers) cannot fail; map it anyway.
    serde_json::to_vec(&sorted).map_err(|source| ChainError::Serialize {
        request_id: String::from("(canonical form)"),
        source,
    })
}

/// `lowercase_hex(SHA-256(prev_hash || canonical))`.
pub fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in hasher.finalize() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Whether `s` looks like a chain hash: 64 lowercase hex digits.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Rounds to microseconds and clamps to `[0, MAX_MS]`; non-finite becomes 0.
fn normalise_ms(ms: f64) -> f64 {
    if !ms.is_finite() {
        return 0.0;
    }
    (ms.clamp(0.0, MAX_MS) * 1000.0).round() / 1000.0
}

fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut pairs: Vec<(String, Value)> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> AuditEntry {
        let mut e = AuditEntry::new(id, "127.0.0.1:1", "GET", "https", "h.example", 443, "/p");
        e.time = "2026-11-25T19:15:00.123Z".into();
        e
    }

    #[test]
    fn canonical_bytes_drop_hash_and_sort_keys_at_every_level() {
        let v = serde_json::json!({"z": 1, "hash": "x", "a": {"y": 2, "b": [ {"d": 1, "c": 2} ]}});
        let bytes = canonical_bytes(v).unwrap();
        assert_eq!(bytes, br#"{"a":{"b":[{"c":2,"d":1}],"y":2},"z":1}"#);
    }

    #[test]
    fn sealed_line_verifies_and_links_to_prev() {
        let mut first = entry("r1");
        let line = seal(&mut first, GENESIS_HASH).unwrap();
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed["prev_hash"], GENESIS_HASH);
        assert_eq!(expected_hash(&parsed).unwrap(), first.hash);
        assert!(is_hash(&first.hash));

        let mut second = entry("r2");
        seal(&mut second, &first.hash).unwrap();
        assert_eq!(second.prev_hash, first.hash);
        assert_ne!(second.hash, first.hash);
    }

    #[test]
    fn a_sealed_line_is_the_entry_with_its_hash() {
        let mut e = entry("r1");
        e.agent = Some(r#"a,"host":"x"#.into());
        e.reason = Some("why".into());
        let line = seal(&mut e, GENESIS_HASH).unwrap();
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed, serde_json::to_value(&e).unwrap());
        assert_eq!(parsed["hash"], e.hash.as_str());
        assert_eq!(parsed["host"], "h.example");
    }

    #[test]
    fn editing_any_field_changes_the_hash() {
        let mut e = entry("r1");
        let line = seal(&mut e, GENESIS_HASH).unwrap();
        let mut parsed: Value = serde_json::from_slice(&line).unwrap();
        parsed["status"] = Value::from(200);
        assert_ne!(expected_hash(&parsed).unwrap(), e.hash);
    }

    #[test]
    fn durations_are_rounded_to_microseconds_and_kept_out_of_exponent_form() {
        let mut e = entry("r1");
        e.duration_ms = 0.000_01;
        e.upstream_ms = Some(f64::NAN);
        seal(&mut e, GENESIS_HASH).unwrap();
        assert_eq!(e.duration_ms, 0.0);
        assert_eq!(e.upstream_ms, Some(0.0));
        e.duration_ms = 1e300;
        let line = seal(&mut e, GENESIS_HASH).unwrap();
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains("\"duration_ms\":1000000000000.0"), "{text}");
    }

    #[test]
    fn hash_of_a_fixed_entry_is_stable() {
        // Guards the on-disk format: changing field names, order-independence or the hash
        // definition breaks every existing log. The value was checked with the Python
        // snippet in the module doc.
        let mut e = entry("r1");
        e.duration_ms = 12.5;
        seal(&mut e, GENESIS_HASH).unwrap();
        assert_eq!(e.hash, FIXED_HASH);
    }

    const FIXED_HASH: &str = "c94612b4d4339ace0ba248943e658bb224ea11028b1d635109c2b0dcac503513";
}
