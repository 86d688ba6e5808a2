//! When the writer signs: after every N entries, when T has passed since the last
//! checkpoint with entries unsigned, and (driven by the sink) before a rotation and at
//! shutdown. Also where the settings and the signing key's secret source live.

use std::time::Duration;

use tokio::time::Instant;

use super::Signer;
use super::key::{self, KeyError};
use crate::credentials::source::{
    DEFAULT_EXEC_TTL, ExecSource, SecretSource, SourceError, parse_source,
};

/// Default number of entries between checkpoints.
pub const DEFAULT_EVERY_ENTRIES: u64 = 1000;
/// Default longest time an entry stays unsigned while the writer runs.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Where the signing key comes from, like any other credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `env:NAME` or `file:PATH`.
    Spec(String),
    /// An argv list: the command's standard output.
    Exec(Vec<String>),
}

/// `audit.checkpoints:` once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// The signing key's source.
    pub key: KeySource,
    /// Sign after this many entries (at least 1).
    pub every_entries: u64,
    /// Sign when this long has passed since the last checkpoint and entries are unsigned.
    pub interval: Duration,
}

impl CheckpointConfig {
    /// Defaults (1000 entries, 60 s) for `key`.
    pub fn new(key: KeySource) -> Self {
        CheckpointConfig {
            key,
            every_entries: DEFAULT_EVERY_ENTRIES,
            interval: DEFAULT_INTERVAL,
        }
    }

    /// Reads the key from its source. Errors name the source, never the key.
    pub async fn load_signer(&self) -> Result<Signer, SignerError> {
        let source: Box<dyn SecretSource> = match &self.key {
            KeySource::Spec(spec) => parse_source(spec)?,
            KeySource::Exec(argv) => Box::new(ExecSource::new(argv.clone(), DEFAULT_EXEC_TTL)),
        };
        let value = source.resolve().await?;
        Ok(Signer::new(key::signing_key(value.expose())?))
    }
}

/// Why the signing key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// Its source could not be read.
    #[error("audit signing key: {0}")]
    Source(#[from] SourceError),
    /// What the source holds is not a key.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The signer and its counters, owned by the sink.
#[derive(Debug)]
pub struct Schedule {
    signer: Signer,
    every_entries: u64,
    interval: Duration,
    /// Entries sealed since the last checkpoint.
    since: u64,
    /// When the last checkpoint was sealed (or the writer started).
    last: Instant,
}

impl Schedule {
    /// A schedule starting now; `unsigned` entries already in the log are not yet signed.
    pub fn new(signer: Signer, config: &CheckpointConfig, unsigned: u64) -> Self {
        Schedule {
            signer,
            every_entries: config.every_entries.max(1),
            interval: config.interval,
            since: unsigned,
            last: Instant::now(),
        }
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Counts a sealed entry; true when a checkpoint is due by count.
    pub fn count_entry(&mut self) -> bool {
        self.since += 1;
        self.since >= self.every_entries
    }

    /// Whether entries are unsigned.
    pub fn has_unsigned(&self) -> bool {
        self.since > 0
    }

    /// When a checkpoint falls due by time, while entries are unsigned.
    pub fn deadline(&self) -> Option<Instant> {
        self.has_unsigned().then(|| self.last + self.interval)
    }

    /// Whether a checkpoint is due by time now.
    pub fn due_by_time(&self) -> bool {
        self.deadline().is_some_and(|d| d <= Instant::now())
    }

    /// Records that a checkpoint was sealed.
    pub fn signed(&mut self) {
        self.since = 0;
        self.last = Instant::now();
    }
}
