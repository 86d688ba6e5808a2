//! Entering a user namespace and writing its id maps: the jail's outer namespace maps
//! keyward's user to root, the command's nested one maps that root back to keyward's user,
//! so the command sees the ids it has outside. A process can map only its own ids into a
//! namespace it just entered, so other users' files appear as the overflow id (`nobody`)
//! inside, also when keyward runs as root.

use rustix::thread::UnshareFlags;

use super::JailError;

/// Whose ids a new user namespace maps.
#[derive(Debug, Clone, Copy)]
pub enum Mapping {
    /// The outer namespace: keyward's uid/gid become 0 inside.
    Outer { uid: u32, gid: u32 },
    /// The command's namespace, created from inside the outer one (where keyward is 0):
    /// 0 becomes keyward's uid/gid again.
    Inner { uid: u32, gid: u32 },
}

impl Mapping {
    /// The `uid_map` and `gid_map` lines (`setgroups` is denied first, as mapping one's own
    /// group requires).
    fn lines(self) -> (String, String) {
        match self {
            Self::Outer { uid, gid } => (format!("0 {uid} 1\n"), format!("0 {gid} 1\n")),
            Self::Inner { uid, gid } => (format!("{uid} 0 1\n"), format!("{gid} 0 1\n")),
        }
    }
}

/// `unshare(2)` of a new user namespace together with `others`, then its id maps.
pub fn enter(mapping: Mapping, others: UnshareFlags) -> Result<(), JailError> {
    unshare(UnshareFlags::NEWUSER | others, "user")?;
    let (uid_map, gid_map) = mapping.lines();
    let write = |file: &'static str, text: &str| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|source| JailError::IdMap { file, source })
    };
    write("setgroups", "deny")?;
    write("uid_map", &uid_map)?;
    write("gid_map", &gid_map)
}

/// `unshare(2)`; `what` names the namespace in the error.
#[expect(
    deprecated,
    reason = "rustix marks unshare unsafe for CLONE_FILES only; the jail never passes it, and \
              calls it in a process of one thread"
)]
pub fn unshare(flags: UnshareFlags, what: &'static str) -> Result<(), JailError> {
    debug_assert!(!flags.contains(UnshareFlags::FILES));
    rustix::thread::unshare(flags).map_err(|e| JailError::Namespace {
        what,
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_root_outside_the_command_and_itself_inside() {
        let outer = Mapping::Outer {
            uid: 1000,
            gid: 100,
        };
        assert_eq!(outer.lines(), ("0 1000 1\n".into(), "0 100 1\n".into()));
        let inner = Mapping::Inner {
            uid: 1000,
            gid: 100,
        };
        assert_eq!(inner.lines(), ("1000 0 1\n".into(), "100 0 1\n".into()));
        let root = Mapping::Inner { uid: 0, gid: 0 };
        assert_eq!(root.lines(), ("0 0 1\n".into(), "0 0 1\n".into()));
    }
}
