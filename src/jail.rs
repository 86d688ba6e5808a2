//! `keyward run --jail`: the command in namespaces of its own whose only way out is keyward.
//!
//! Three processes, each a fresh `execve` of keyward so namespaces are entered while
//! single-threaded:
//!
//! | process | namespaces | job |
//! | --- | --- | --- |
//! | keyward (`run --jail`) | the host's | the proxy, serving sockets the jail bound inside its network namespace |
//! | jail setup (`jail-init`) | user A, mount, network | hides keyward's files, loopback-only network whose TCP is redirected to keyward and UDP/53 to keyward's DNS, binds those sockets and hands them over, then supervises |
//! | jail init (`jail-init --pid1`) | PID, user B, mount | PID 1: a fresh `/proc`, a nested user namespace (so the command holds no capability over the network, mounts or firewall of A, and A's mounts are locked), starts the command, forwards signals, reaps orphans |
//!
//! Nothing is made outside the namespaces: no interface, route or firewall rule of the
//! host. When the command ends, or keyward is killed (the setup process sees its control
//! socket close and kills PID 1), the last process of the namespaces exits and the kernel
//! removes them with their interfaces and rules.

pub mod control;
mod ids;
pub mod init;
mod mounts;
pub mod network;
pub mod spec;

pub use spec::JailSpec;

use std::path::PathBuf;

/// Why a jail could not be made (reported before the command starts).
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error(
        "cannot create the jail's {what} namespace: {source}{}",
        namespace_hint(what, source)
    )]
    Namespace {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot write {file} of the jail's user namespace: {source}")]
    IdMap {
        file: &'static str,
        source: std::io::Error,
    },
    #[error("the jail needs `{tool}` (Debian package {package}), which is not installed")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("setting up the jail's network: `{command}` failed: {detail}")]
    Network { command: String, detail: String },
    #[error("cannot {what} {path} in the jail: {source}")]
    Mount {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} inside the jail: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the jail's control channel: {0}")]
    Control(#[source] std::io::Error),
    #[error("the jail's control channel: {0}")]
    Protocol(String),
    #[error("the jail could not be set up: {0}")]
    Setup(String),
    #[error("cannot start {program} in the jail: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("the jail's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// What to do when the kernel refuses a namespace.
fn namespace_hint(what: &str, source: &std::io::Error) -> &'static str {
    let refused = matches!(
        source.raw_os_error(),
        Some(code) if code == rustix::io::Errno::PERM.raw_os_error()
            || code == rustix::io::Errno::NOSPC.raw_os_error()
            || code == rustix::io::Errno::ACCESS.raw_os_error()
    );
    if !refused {
        return "";
    }
    if what == "user" {
        " (this kernel does not allow unprivileged user namespaces: run as root, or allow them \
         with `sysctl kernel.unprivileged_userns_clone=1` / `user.max_user_namespaces`, or \
         lift the AppArmor restriction `kernel.apparmor_restrict_unprivileged_userns`)"
    } else {
        " (the kernel or a container runtime forbids it; a container needs \
         CAP_SYS_ADMIN or a seccomp profile that allows unshare)"
    }
}
