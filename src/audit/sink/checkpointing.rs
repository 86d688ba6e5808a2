//! The sink's checkpoints: sealed on the current head and queued like entries, by time when
//! the writer wakes and at shutdown (by count and before a rotation from [`Sink::push`]).

use std::io;

use super::{Pending, Sink};
use crate::audit::checkpoint::schedule::Schedule;

impl Sink {
    /// Seals a checkpoint when one is due by time.
    pub fn checkpoint_if_due(&mut self) {
        if self.checkpoints.as_ref().is_some_and(Schedule::due_by_time) {
            self.push_checkpoint();
        }
    }

    /// Seals a checkpoint when entries are unsigned (at shutdown).
    pub fn checkpoint_now(&mut self) {
        if self
            .checkpoints
            .as_ref()
            .is_some_and(Schedule::has_unsigned)
        {
            self.push_checkpoint();
        }
    }

    /// When the next checkpoint falls due by time.
    pub fn checkpoint_deadline(&self) -> Option<tokio::time::Instant> {
        self.checkpoints.as_ref().and_then(Schedule::deadline)
    }

    /// Seals a checkpoint on the current head and queues it, to be written in the file
    /// that holds what it signs (even past `rotate_bytes`).
    pub(super) fn push_checkpoint(&mut self) {
        let Some(schedule) = self.checkpoints.as_mut() else {
            return;
        };
        let time = crate::audit::timestamp::now_rfc3339();
        match schedule
            .signer()
            .line(&self.replica, self.seq, &self.tip, time)
        {
            Ok((mut line, hash)) => {
                schedule.signed();
                line.push(b'\n');
                self.projected += line.len() as u64;
                self.tip = hash;
                self.pending.push_back(Pending {
                    line,
                    copy: None,
                    rotate_before: false,
                    keep_in_file: true,
                });
            }
            Err(e) => self.fail("checkpoint", &io::Error::other(e)),
        }
    }
}
