//! keyward's own process closed to inspection: on Linux it marks itself non-dumpable
//! (`prctl(PR_SET_DUMPABLE, 0)`, as ssh-agent does) before it reads any secret, so other
//! processes of the same user — an agent among them — can neither read its
//! `/proc/PID/environ`, `mem` or `maps` nor attach to it with ptrace, and it leaves no
//! core dump. Root (CAP_SYS_PTRACE) still can: the jail is what separates root agents.

/// Why keyward could not close itself to inspection.
#[derive(Debug, thiserror::Error)]
#[error("cannot mark the process non-dumpable: {0}")]
pub struct DumpableError(#[from] std::io::Error);

/// Marks this process non-dumpable. Commands it starts are dumpable again after `execve`
/// (the kernel resets the flag), so agents run as usual.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn forbid_inspection() -> Result<(), DumpableError> {
    use rustix::process::{DumpableBehavior, set_dumpable_behavior};
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(|e| DumpableError(e.into()))
}

/// Other systems have no such flag; nothing to do.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn forbid_inspection() -> Result<(), DumpableError> {
    Ok(())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_off_after_the_call() {
        forbid_inspection().unwrap();
        let flag = rustix::process::dumpable_behavior().unwrap();
        assert_eq!(flag, rustix::process::DumpableBehavior::NotDumpable);
    }
}
