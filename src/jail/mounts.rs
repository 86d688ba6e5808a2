//! The jail's view of the file system: keyward's state covered, its rules read-only, a
//! `/proc` of the jail's own processes. Done in the outer mount namespace; the command's
//! nested user namespace then locks these mounts, so it can neither unmount nor remount them.

use std::path::Path;

use rustix::mount::{MountFlags, MountPropagationFlags};

use super::{JailError, JailSpec};

/// Mount options of the cover over a hidden directory.
const COVER_OPTIONS: &std::ffi::CStr = c"mode=0755,size=1m";

/// Applies `spec` to this mount namespace.
pub fn apply(spec: &JailSpec) -> Result<(), JailError> {
    let err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |e: rustix::io::Errno| JailError::Mount {
            what,
            path,
            source: e.into(),
        }
    };
    // Nothing done here propagates back to the host's mount namespace.
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(err("make private", Path::new("/")))?;
    for path in &spec.read_only {
        rustix::mount::mount_bind(path, path).map_err(err("bind", path))?;
        read_only(path).map_err(err("make read-only", path))?;
    }
    // The files to show are read before their directory is covered.
    let shown: Vec<(&Path, Vec<u8>)> = spec
        .shown_files
        .iter()
        .filter_map(|p| std::fs::read(p).ok().map(|c| (p.as_path(), c)))
        .collect();
    for dir in &spec.hidden_dirs {
        rustix::mount::mount(
            "keyward-jail",
            dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            Some(COVER_OPTIONS),
        )
        .map_err(err("cover", dir))?;
    }
    for (path, content) in &shown {
        if spec.hidden_dirs.iter().any(|d| path.starts_with(d)) {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| JailError::Mount {
                    what: "show",
                    path: path.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(path, content).map_err(|source| JailError::Mount {
                what: "show",
                path: path.to_path_buf(),
                source,
            })?;
        }
    }
    for dir in &spec.hidden_dirs {
        read_only(dir).map_err(err("make read-only", dir))?;
    }
    for file in &spec.hidden_files {
        rustix::mount::mount_bind("/dev/null", file).map_err(err("cover", file))?;
        read_only(file).map_err(err("make read-only", file))?;
    }
    Ok(())
}

/// Remounts the mount at `path` read-only (and without set-uid programs or devices).
fn read_only(path: &Path) -> rustix::io::Result<()> {
    rustix::mount::mount_remount(
        path,
        MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        "",
    )
}

/// Mounts a `/proc` that shows the jail's PID namespace only (called as its PID 1).
pub fn fresh_proc() -> Result<(), JailError> {
    rustix::mount::mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(|e| JailError::Mount {
        what: "mount",
        path: "/proc".into(),
        source: e.into(),
    })
}
