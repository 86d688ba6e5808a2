//! What a jail is made of, decided by `keyward run` and handed to the jail's processes on
//! their command line: the paths to hide or show read-only and the user it runs as.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Unix sockets of local daemons that would start a process outside the jail for the
/// command (a container with the host's network, a systemd unit over D-Bus): covered when
/// they exist. Unix sockets on the file system cross network namespaces; abstract ones do not.
const DAEMON_SOCKETS: [&str; 9] = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/dbus/system_bus_socket",
    "/var/run/dbus/system_bus_socket",
    "/run/systemd/private",
];
/// The same for the user's own daemons, under `/run/user/UID/`: the session bus and
/// `systemd --user` (`systemd-run --user`), rootless Docker and Podman.
const USER_DAEMON_SOCKETS: [&str; 4] = ["bus", "systemd", "docker.sock", "podman"];

/// The jail's shape. Paths are absolute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailSpec {
    /// Directories covered by an empty read-only tmpfs: keyward's CA directory, its audit
    /// log's directory, directories the operator names with `--hide`.
    pub hidden_dirs: Vec<PathBuf>,
    /// Files covered by an empty one: secret files, admin token files, daemon sockets.
    pub hidden_files: Vec<PathBuf>,
    /// Files inside hidden directories the command still reads (the CA certificate and
    /// the bundle its trust variables point at), copied into the cover.
    pub shown_files: Vec<PathBuf>,
    /// Paths the command may read but not change: the rules directory and config file,
    /// since a changed rule would be reloaded and change decisions.
    pub read_only: Vec<PathBuf>,
    /// keyward's user id outside the jail: the command keeps it inside.
    pub uid: u32,
    /// keyward's group id outside the jail.
    pub gid: u32,
}

impl JailSpec {
    /// A spec for keyward's user, with the well-known daemon sockets that exist covered.
    pub fn new() -> Self {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let mut spec = Self {
            uid,
            gid,
            ..Self::default()
        };
        let runtime_dir = PathBuf::from(format!("/run/user/{uid}"));
        let user_sockets = USER_DAEMON_SOCKETS.iter().map(|s| runtime_dir.join(s));
        for path in DAEMON_SOCKETS.iter().map(PathBuf::from).chain(user_sockets) {
            spec.hide(&path);
        }
        spec
    }

    /// Where a hidden directory would cover `dir` (the command's working directory): the
    /// jail would take the command's own files away.
    pub fn covering(&self, dir: &Path) -> Option<&Path> {
        let dir = std::fs::canonicalize(dir).ok()?;
        self.hidden_dirs
            .iter()
            .find(|hidden| dir.starts_with(hidden))
            .map(PathBuf::as_path)
    }

    /// Hides `path`, a directory or a file; paths that do not exist are skipped.
    pub fn hide(&mut self, path: &Path) {
        let Ok(path) = std::fs::canonicalize(path) else {
            return;
        };
        let list = if path.is_dir() {
            &mut self.hidden_dirs
        } else {
            &mut self.hidden_files
        };
        if !list.contains(&path) {
            list.push(path);
        }
    }

    /// Keeps `file` readable even when a hidden directory holds it.
    pub fn show(&mut self, file: &Path) {
        if let Ok(path) = std::fs::canonicalize(file)
            && !self.shown_files.contains(&path)
        {
            self.shown_files.push(path);
        }
    }

    /// Makes `path` read-only in the jail; paths that do not exist are skipped.
    pub fn read_only(&mut self, path: &Path) {
        if let Ok(path) = std::fs::canonicalize(path)
            && !self.read_only.contains(&path)
        {
            self.read_only.push(path);
        }
    }

    /// The spec as one command-line argument.
    pub fn to_arg(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The spec from its command-line argument.
    pub fn from_arg(arg: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_its_argument_form() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "x").unwrap();
        let mut spec = JailSpec::new();
        spec.hide(dir.path());
        spec.hide(&file);
        spec.hide(&dir.path().join("missing"));
        spec.show(&file);
        spec.read_only(dir.path());
        let back = JailSpec::from_arg(&spec.to_arg()).unwrap();
        assert_eq!(back, spec);
        let dir = std::fs::canonicalize(dir.path()).unwrap();
        assert!(back.hidden_dirs.contains(&dir));
        assert!(back.hidden_files.contains(&dir.join("token")));
        assert!(!back.hidden_files.iter().any(|p| p.ends_with("missing")));
    }

    #[test]
    fn a_hidden_directory_holding_the_working_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let mut spec = JailSpec::new();
        spec.hide(&work.join("certs-missing"));
        assert_eq!(spec.covering(&work), None);
        spec.hide(dir.path());
        let hidden = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(spec.covering(&work), Some(hidden.as_path()));
    }
}
