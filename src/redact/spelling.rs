//! Every way a secret can be spelled in text: each character raw, percent-encoded (either hex
//! case, `+` for a space) or JSON-escaped (`\uXXXX` in either hex case, surrogate pairs,
//! `\"` `\\` `\/` and the short control escapes), in any mix per character; compiled to one
//! regular expression per secret, and walked by hand to hold back a stream's tail and to
//! count a match under its escaping family.
//!
//! Listing whole encodings (`quote(s)`, `json.dumps(s)`, …) misses the ones nobody listed:
//! Python's `safe="/"`, Go's `\u003c`, lower-case hex. Spelling each character instead covers
//! every encoder that escapes character by character, by construction.

use super::Encoding;

/// The escaping family a spelling belongs to (what a match is counted under).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Raw,
    Percent,
    Json,
}

/// One spelling of one character: at each byte position, the (at most two) bytes allowed
/// there — a hex digit letter either case, anything else exactly.
#[derive(Debug, Clone)]
struct Spelling {
    bytes: Vec<[u8; 2]>,
    family: Family,
}

/// How a spelling meets the text at some position.
enum Meet {
    /// The text differs.
    Apart,
    /// The text ends inside the spelling: more input could complete it.
    Partial,
    /// The whole spelling is there; it ends at this position.
    Full(usize),
}

impl Spelling {
    fn empty(family: Family) -> Self {
        Self {
            bytes: Vec::new(),
            family,
        }
    }

    fn append(&mut self, more: Spelling) {
        self.bytes.extend(more.bytes);
    }

    fn exact(bytes: &[u8], family: Family) -> Self {
        Self {
            bytes: bytes.iter().map(|&b| [b, b]).collect(),
            family,
        }
    }

    /// `prefix` then the bytes of `hex` with every letter allowed in either case.
    fn hex(prefix: &[u8], hex: &str, family: Family) -> Self {
        let mut bytes: Vec<[u8; 2]> = prefix.iter().map(|&b| [b, b]).collect();
        bytes.extend(
            hex.bytes()
                .map(|b| [b.to_ascii_uppercase(), b.to_ascii_lowercase()]),
        );
        Self { bytes, family }
    }

    fn meet(&self, text: &[u8]) -> Meet {
        for (i, allowed) in self.bytes.iter().enumerate() {
            match text.get(i) {
                None => return Meet::Partial,
                Some(b) if allowed.contains(b) => {}
                Some(_) => return Meet::Apart,
            }
        }
        Meet::Full(self.bytes.len())
    }

    /// Regex source matching exactly this spelling (bytes as `\xHH`, Unicode off).
    fn regex(&self, out: &mut String) {
        for [a, b] in &self.bytes {
            if a == b {
                out.push_str(&format!("\\x{a:02X}"));
            } else {
                out.push_str(&format!("[\\x{a:02X}\\x{b:02X}]"));
            }
        }
    }
}

/// A secret as a sequence of characters, each with all its spellings, longest first (so a
/// leftmost-first match takes `\\` over a lone `\`, and `%25` over a lone `%`).
#[derive(Debug, Clone)]
pub(super) struct Spelled {
    chars: Vec<Vec<Spelling>>,
}

impl Spelled {
    pub(super) fn new(secret: &[u8]) -> Self {
        let mut chars = Vec::with_capacity(secret.len());
        for chunk in secret.utf8_chunks() {
            for c in chunk.valid().chars() {
                chars.push(char_spellings(c));
            }
            for &b in chunk.invalid() {
                chars.push(vec![
                    Spelling::hex(b"%", &format!("{b:02X}"), Family::Percent),
                    Spelling::exact(&[b], Family::Raw),
                ]);
            }
        }
        Self { chars }
    }

    /// The longest text any spelling takes, in bytes (what a stream may have to hold back).
    pub(super) fn longest(&self) -> usize {
        self.chars
            .iter()
            .map(|alts| alts.iter().map(|s| s.bytes.len()).max().unwrap_or(0))
            .sum()
    }

    /// Regex source matching every spelling; for byte haystacks with Unicode mode off.
    pub(super) fn regex(&self) -> String {
        let mut out = String::new();
        for alts in &self.chars {
            out.push_str("(?:");
            for (i, s) in alts.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                s.regex(&mut out);
            }
            out.push(')');
        }
        out
    }

    /// Whether `text` (to its end) is a proper beginning of some spelling: the next bytes of
    /// a stream could make it a match, or a longer one.
    pub(super) fn is_open_prefix(&self, text: &[u8]) -> bool {
        let mut reach = vec![0usize];
        for alts in &self.chars {
            let mut next: Vec<usize> = Vec::new();
            for &pos in &reach {
                let Some(rest) = text.get(pos..) else {
                    continue;
                };
                if rest.is_empty() {
                    return true;
                }
                for s in alts {
                    match s.meet(rest) {
                        Meet::Apart => {}
                        Meet::Partial => return true,
                        Meet::Full(n) if !next.contains(&(pos + n)) => next.push(pos + n),
                        Meet::Full(_) => {}
                    }
                }
            }
            if next.is_empty() {
                return false;
            }
            reach = next;
        }
        false
    }

    /// The family a whole match is counted under: raw when every character is raw,
    /// JSON-escaped when any character is (JSON is the outer layer of a mix, as in a
    /// percent-encoded URL inside a JSON string), URL-encoded otherwise.
    pub(super) fn encoding_of(&self, matched: &[u8]) -> Encoding {
        // Reachable positions, each with the families used on the first path found to it.
        let mut reach: Vec<(usize, [bool; 2])> = vec![(0, [false; 2])];
        for alts in &self.chars {
            let mut next: Vec<(usize, [bool; 2])> = Vec::new();
            for &(pos, used) in &reach {
                let rest = matched.get(pos..).unwrap_or_default();
                for s in alts {
                    if let Meet::Full(n) = s.meet(rest)
                        && !next.iter().any(|(p, _)| *p == pos + n)
                    {
                        let mut used = used;
                        match s.family {
                            Family::Raw => {}
                            Family::Percent => used[0] = true,
                            Family::Json => used[1] = true,
                        }
                        next.push((pos + n, used));
                    }
                }
            }
            reach = next;
        }
        match reach.iter().find(|(pos, _)| *pos == matched.len()) {
            Some((_, [_, true])) => Encoding::JsonEscaped,
            Some((_, [true, false])) => Encoding::UrlEncoded,
            _ => Encoding::Raw,
        }
    }

    /// Bytes that can begin some spelling of the first character.
    pub(super) fn first_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.chars
            .first()
            .into_iter()
            .flatten()
            .filter_map(|s| s.bytes.first())
            .flatten()
            .copied()
    }
}

/// The spellings of one character, longest first.
fn char_spellings(c: char) -> Vec<Spelling> {
    let mut utf8 = [0u8; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    // `\uXXXX` (twice for a surrogate pair): the `u` is lower case, the hex either.
    let mut unicode = Spelling::empty(Family::Json);
    for unit in c.encode_utf16(&mut [0u16; 2]) {
        unicode.append(Spelling::hex(b"\\u", &format!("{unit:04X}"), Family::Json));
    }
    let mut percent = Spelling::empty(Family::Percent);
    for b in raw {
        percent.append(Spelling::hex(b"%", &format!("{b:02X}"), Family::Percent));
    }
    let mut out = vec![unicode, percent];
    let short: Option<&[u8]> = match c {
        '"' => Some(b"\\\""),
        '\\' => Some(b"\\\\"),
        '/' => Some(b"\\/"),
        '\u{8}' => Some(b"\\b"),
        '\u{c}' => Some(b"\\f"),
        '\n' => Some(b"\\n"),
        '\r' => Some(b"\\r"),
        '\t' => Some(b"\\t"),
        _ => None,
    };
    if let Some(short) = short {
        out.push(Spelling::exact(short, Family::Json));
    }
    if c == ' ' {
        out.push(Spelling::exact(b"+", Family::Percent));
    }
    out.push(Spelling::exact(raw, Family::Raw));
    // Longest first; the sort is stable, so equal lengths keep the order above.
    out.sort_by_key(|s| std::cmp::Reverse(s.bytes.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spells(secret: &str, text: &str) -> bool {
        let re = regex::bytes::Regex::new(&format!(
            "(?-u)^{}$",
            Spelled::new(secret.as_bytes()).regex()
        ))
        .unwrap();
        re.is_match(text.as_bytes())
    }

    #[test]
    fn each_character_may_take_any_spelling() {
        assert!(spells("a/b c\"", "a/b c\""));
        assert!(spells("a/b c\"", "%61%2fb+c\\\""));
        assert!(spells("a/b c\"", "\\u0061\\/b%20c\\u0022"));
        assert!(spells("<&>", "\\u003C\\u0026%3e"));
        assert!(spells("é😀", "\\u00E9\\ud83d\\uDE00"));
        assert!(spells("é😀", "%C3%A9%f0%9f%98%80"));
        assert!(!spells("a/b", "a/c"));
        assert!(!spells("ab", "AB"), "raw characters keep their case");
        assert!(!spells("a b", "a\\+b"));
    }

    #[test]
    fn a_match_counts_under_its_family() {
        let s = Spelled::new(b"a/b\\");
        assert_eq!(s.encoding_of(b"a/b\\"), Encoding::Raw);
        assert_eq!(s.encoding_of(b"a%2Fb%5c"), Encoding::UrlEncoded);
        assert_eq!(s.encoding_of(b"a\\/b\\\\"), Encoding::JsonEscaped);
        assert_eq!(s.encoding_of(b"a%2F\\u0062\\"), Encoding::JsonEscaped);
    }

    #[test]
    fn an_open_prefix_is_one_more_input_could_extend() {
        let s = Spelled::new(b"ab\\");
        assert!(s.is_open_prefix(b"a"));
        assert!(s.is_open_prefix(b"%6"));
        assert!(s.is_open_prefix(b"\\u006"));
        assert!(s.is_open_prefix(b"ab\\"), "`\\\\` would be longer");
        assert!(!s.is_open_prefix(b"ab\\\\"));
        assert!(!s.is_open_prefix(b"ax"));
        assert_eq!(s.longest(), 18);
    }
}
