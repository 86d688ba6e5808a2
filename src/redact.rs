//! Redaction of what comes back to the agent: every known secret value, in every spelling an
//! API would echo it in, replaced by its placeholder in headers and in streamed bodies; and a
//! rule's own redaction (`rule_body`: pattern sets, JSON fields masked by `json_mask`); and
//! secret values in JSON shown to people (`json_strings`).

mod body;
mod counts;
mod json_mask;
mod json_strings;
mod patterns;
mod response;
mod rule_body;
mod spelling;
mod stream;

pub use body::{ScrubbedBody, Tally};
pub use counts::{Encoding, RedactionCounts};
pub use json_strings::{scrub_json_strings, scrub_text};
pub use patterns::Scrubber;
pub use response::{UnscannableResponse, scrub_response};
pub use rule_body::{RuleRedactedBody, RuleRedaction};
pub use stream::StreamScrubber;
