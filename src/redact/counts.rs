//! What redaction replaced, counted by the form the secret was found in (raw, percent-encoded,
//! JSON-escaped, base64) and by rule redactions: the figures of the audit entry and metrics.

/// The form in which a secret was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Raw,
    UrlEncoded,
    JsonEscaped,
    Base64,
}

/// How many replacements of each form were made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedactionCounts {
    pub raw: u64,
    pub url_encoded: u64,
    pub json_escaped: u64,
    pub base64: u64,
    /// Rule redactions: pattern-set matches and masked JSON fields.
    pub patterns: u64,
}

impl RedactionCounts {
    pub fn add(&mut self, encoding: Encoding) {
        match encoding {
            Encoding::Raw => self.raw += 1,
            Encoding::UrlEncoded => self.url_encoded += 1,
            Encoding::JsonEscaped => self.json_escaped += 1,
            Encoding::Base64 => self.base64 += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.raw + self.url_encoded + self.json_escaped + self.base64
    }

    pub fn merge(&mut self, other: RedactionCounts) {
        self.raw += other.raw;
        self.url_encoded += other.url_encoded;
        self.json_escaped += other.json_escaped;
        self.base64 += other.base64;
        self.patterns += other.patterns;
    }
}
