//! The audit trail: one hash-chained JSON Lines entry per decision, written by a single
//! task, verifiable afterwards by anyone with a SHA-256 and a JSON library.
//!
//! # Layout
//! | module | job |
//! | --- | --- |
//! | [`entry`] | [`AuditEntry`]: the fields of one decision (never headers or bodies) |
//! | [`decision`] | [`Decision`] (allow, deny, approve, rate_limited, error) and [`Mode`] |
//! | [`learn`] | [`WouldRecord`] (the outcome learn mode let through, or shadow rules would decide) and [`Observed`] (names a learned request carried) |
//! | [`chain`] | the hash chain's exact definition, with a Python checker in its doc |
//! | [`checkpoint`] | Ed25519-signed checkpoints on the chain, their keys and their check |
//! | [`export`] | the entry in other forms for ingestion: OCSF lines, OTLP log records |
//! | `canonical` | the entry's canonical (sorted-key) bytes written straight from the struct |
//! | [`writer`] | [`AuditWriter`]: config, start, the one task that owns the file |
//! | [`handle`] | [`AuditHandle`]: record, try_record, flush, close, health |
//! | [`sink`] | the blocking file side: append, rotate by size, fsync, retry, health flag |
//! | [`resume`] | continuing an existing log's chain after a restart |
//! | [`rotate`] | rotated file names and listing a log's files in chain order |
//! | [`verify`] | `keyward audit verify`: the first broken entry, by file and line |
//! | [`tail`](mod@tail) | `keyward audit tail`: filtered entries and their one-line rendering |
//! | [`timestamp`] | the UTC time formats used in entries and rotated names |
//!
//! # Use
//! The proxy starts one writer at boot and gives the handle to its one record writer
//! (`exchange::Recorder`), which queues every exchange's closing entry with
//! `record_detached`. Before forwarding a new request it checks `handle.is_healthy()` and
//! answers 503 when the log cannot be written. At shutdown, once the connections are
//! drained, `handle.close()` writes what is queued (entries waiting for room first), fsyncs
//! and stops the writer, and the proxy awaits the writer's task before it returns.

mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod decision;
pub mod entry;
pub mod export;
pub mod handle;
pub mod learn;
pub mod recent;
pub mod resume;
pub mod rotate;
pub mod sink;
pub mod tail;
pub mod timestamp;
pub mod verify;
pub mod writer;

pub use decision::{Decision, Mode, UnknownDecision};
pub use entry::{ApprovalDecision, ApprovalRecord, AuditEntry};
pub use handle::AuditHandle;
pub use learn::{Observed, WouldRecord};
pub use rotate::log_files;
pub use tail::{TailError, TailFilter, render, tail};
pub use timestamp::now_rfc3339;
pub use verify::{BreakReason, VerifyError, VerifyReport, verify_files};
pub use writer::{AuditConfig, AuditError, AuditWriter, FsyncPolicy, LineFormat};
