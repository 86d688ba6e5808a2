//! The audit entries of the kill switch's pauses and resumes, written by the record writer
//! the admin API itself cannot name.

use std::sync::Arc;

use crate::audit::Decision as AuditDecision;
use crate::control::pause::{PauseEvent, RecordPause};
use crate::pipeline::exchange::{RequestId, Scheme};
use crate::pipeline::record::{Place, Recorder, Refused};

/// The audit entry of a pause or resume made through the admin API: an entry of its own,
/// under the caller's address and the agent's name, `deny` for a pause and `allow` for a
/// resume, its reason saying who paused whom and why.
pub(super) fn writer(recorder: Arc<Recorder>) -> RecordPause {
    Box::new(move |event: PauseEvent<'_>| {
        let refused = Refused {
            place: Place {
                client: event.caller,
                target: None,
                scheme: Scheme::Http,
                agent: event.agent,
            },
            method: "POST",
            path: event.path,
            decision: if event.pause {
                AuditDecision::Deny
            } else {
                AuditDecision::Allow
            },
            reason: event.reason,
            status: Some(200),
        };
        recorder.refused(refused, &RequestId::new());
    })
}
