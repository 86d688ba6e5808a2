//! Encoders an upstream might echo a secret through, written to match the named library
//! functions byte for byte (for the property tests of the scrubber).

/// Python 3.7+ `urllib.parse.quote(s, safe)`: UTF-8 bytes, letters, digits and `_.-~`
/// always kept, bytes in `safe` kept, everything else `%XX` in upper case.
pub fn python_quote(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) || safe.as_bytes().contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Python `urllib.parse.quote_plus(s, safe="")`: `quote(s, safe + " ")` with spaces then
/// turned into `+` (so `+` itself is `%2B`).
pub fn python_quote_plus(s: &str) -> String {
    python_quote(s, " ").replace(' ', "+")
}

/// Python `json.dumps(s)` (`ensure_ascii=True`): `\"` `\\` `\n` `\r` `\t` `\b` `\f`, other
/// control and all non-ASCII characters as lower-case `\uxxxx` (surrogate pairs above the
/// BMP); `/` and DEL as they are.
pub fn python_json_dumps(s: &str) -> String {
    json_string(s, |c, out| {
        if c < ' ' || !c.is_ascii() {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    })
}

/// Go `encoding/json.Marshal` of a string (HTML-safe, the default): `\"` `\\` `\n` `\r`
/// `\t` `\b` `\f` (Go 1.22+), other control characters and `<` `>` `&` U+2028 U+2029 as
/// lower-case `\u00xx` / `\u20xx`; everything else, `/` included, as it is.
pub fn go_json_marshal(s: &str) -> String {
    json_string(s, |c, out| {
        if c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    })
}

/// `s` in double quotes with the short escapes both JSON encoders above write (`\"` `\\`
/// `\n` `\r` `\t` `\b` `\f`); every other character as `other` writes it.
fn json_string(s: &str, other: impl Fn(char, &mut String)) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => other(c, &mut out),
        }
    }
    out.push('"');
    out
}

/// PHP `json_encode($s)` with default flags: like Python's `json.dumps`, and `/` as `\/`.
pub fn php_json_encode(s: &str) -> String {
    python_json_dumps(s).replace('/', "\\/")
}

/// JavaScript `encodeURIComponent(s)`: letters, digits and `-_.!~*'()` kept, every other
/// UTF-8 byte `%XX` in upper case.
pub fn js_encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One character's spelling in a mixed encoding, as chosen by the test.
#[derive(Debug, Clone, Copy)]
pub enum Spell {
    Raw,
    PercentUpper,
    PercentLower,
    UnicodeUpper,
    UnicodeLower,
    /// `\"`, `\\`, `\/`, `\n`… where the character has one, `+` for a space; raw otherwise.
    Short,
}

/// `s` with character `i` spelled `spells[i % spells.len()]`.
pub fn mixed(s: &str, spells: &[Spell]) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let spell = spells
            .get(i % spells.len().max(1))
            .copied()
            .unwrap_or(Spell::Raw);
        let mut utf8 = [0; 4];
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        match spell {
            Spell::Raw => out.push(c),
            Spell::PercentUpper => bytes
                .iter()
                .for_each(|b| out.push_str(&format!("%{b:02X}"))),
            Spell::PercentLower => bytes
                .iter()
                .for_each(|b| out.push_str(&format!("%{b:02x}"))),
            Spell::UnicodeUpper | Spell::UnicodeLower => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    let hex = format!("{unit:04x}");
                    out.push_str("\\u");
                    match spell {
                        Spell::UnicodeUpper => out.push_str(&hex.to_ascii_uppercase()),
                        _ => out.push_str(&hex),
                    }
                }
            }
            Spell::Short => match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                ' ' => out.push('+'),
                c => out.push(c),
            },
        }
    }
    out
}
