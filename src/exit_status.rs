//! The exit status a wrapper passes on (`keyward run`, the jail's processes): the command's
//! own code, or 128 + N when signal N ended it, as shells report it.

use std::process::ExitStatus;

/// Added to the number of the signal that ended a command.
pub const SIGNAL_EXIT_BASE: i32 = 128;

/// The code for a command that ended with `status`.
pub fn code(status: ExitStatus) -> u8 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return of_signal(signal);
        }
    }
    status
        .code()
        .and_then(|c| u8::try_from(c & 0xff).ok())
        .unwrap_or(1)
}

/// The code for a command that signal `signal` ended.
pub fn of_signal(signal: i32) -> u8 {
    u8::try_from(SIGNAL_EXIT_BASE + signal).unwrap_or(u8::MAX)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn codes_pass_through_and_signals_add_128() {
        assert_eq!(code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(code(ExitStatus::from_raw(9)), 137);
        assert_eq!(of_signal(15), 143);
    }
}
