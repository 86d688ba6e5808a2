//! The jail's two processes inside: the setup (outer user, mount and network namespaces;
//! hands its sockets to keyward, then supervises) and PID 1 of the jail's PID namespace
//! (fresh `/proc`, the command's nested user namespace, signals, orphans).

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::UnshareFlags;
use tokio::io::AsyncReadExt;

use super::ids::{self, Mapping};
use super::{JailError, JailSpec, control, mounts, network};

/// The setup's exit status when it could not build the jail (and told keyward why).
const SETUP_FAILED: u8 = 2;
/// The hidden subcommand the jail's processes run as.
pub const SUBCOMMAND: &str = "jail-init";
/// The flag that makes [`SUBCOMMAND`] PID 1.
pub const PID1_FLAG: &str = "--pid1";
/// The running keyward binary.
pub const SELF_EXE: &str = "/proc/self/exe";
/// The flag that carries the [`JailSpec`].
pub const SPEC_FLAG: &str = "--spec";

/// The setup process: builds the jail around itself, hands its sockets to keyward over the
/// control channel (its stdin), starts PID 1 on "go" and returns the command's exit code.
pub fn setup(spec: &JailSpec, command: &[OsString]) -> Result<u8, JailError> {
    let control = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(UnixStream::from)
        .map_err(JailError::Control)?;
    let sockets = match build(spec) {
        Ok(sockets) => sockets,
        Err(error) => {
            // keyward reports it; the setup's own message would repeat it.
            return match control::send_failed(&control, &error) {
                Ok(()) => Ok(SETUP_FAILED),
                Err(_) => Err(error),
            };
        }
    };
    control::send_ready(&control, &sockets)?;
    drop(sockets);
    let Some(stdin) = control::recv_go(&control)? else {
        // keyward went away before the command started.
        return Ok(1);
    };
    ids::unshare(UnshareFlags::NEWPID, "PID")?;
    crate::dumpable::forbid_inspection().map_err(|e| JailError::Setup(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(JailError::Runtime)?;
    runtime.block_on(supervise(spec, command, control, stdin))
}

/// The namespaces, mounts and network of the jail, and its sockets.
fn build(spec: &JailSpec) -> Result<network::JailSockets, JailError> {
    ids::enter(
        Mapping::Outer {
            uid: spec.uid,
            gid: spec.gid,
        },
        UnshareFlags::NEWNS | UnshareFlags::NEWNET,
    )?;
    mounts::apply(spec)?;
    let v6 = network::configure()?;
    network::bind(v6)
}

/// Starts PID 1 and waits for it, passing keyward's signals on; kills it when keyward's
/// end of the control channel closes.
async fn supervise(
    spec: &JailSpec,
    command: &[OsString],
    control: UnixStream,
    stdin: std::os::fd::OwnedFd,
) -> Result<u8, JailError> {
    // The running binary, even where a hidden directory now covers its path.
    let mut child = tokio::process::Command::new(SELF_EXE)
        .arg(SUBCOMMAND)
        .arg(PID1_FLAG)
        .arg(SPEC_FLAG)
        .arg(spec.to_arg())
        .arg("--")
        .args(command)
        .stdin(Stdio::from(stdin))
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| JailError::Spawn {
            program: "the jail's init".into(),
            source,
        })?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    control.set_nonblocking(true).map_err(JailError::Control)?;
    let mut control = tokio::net::UnixStream::from_std(control).map_err(JailError::Control)?;
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(JailError::Runtime)?;
                return Ok(crate::exit_status::code(status));
            }
            read = control.read(&mut byte) => match read {
                Ok(1) => {
                    if let (Some(pid), Some(signal)) = (pid, Signal::from_named_raw(i32::from(byte[0]))) {
                        let _ = rustix::process::kill_process(pid, signal);
                    }
                }
                // keyward is gone: so is the jail.
                _ => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return Ok(crate::exit_status::of_signal(Signal::KILL.as_raw()));
                }
            },
        }
    }
}

/// PID 1 of the jail: mounts its `/proc`, enters the command's user and mount namespaces,
/// starts the command, forwards signals to it, reaps every orphan, and exits with the
/// command's status (the kernel then ends whatever else runs in the jail).
pub fn pid1(spec: &JailSpec, command: &[OsString]) -> Result<u8, JailError> {
    // Dies with the setup process (keyward killed): the kernel then kills the jail.
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    mounts::fresh_proc()?;
    ids::enter(
        Mapping::Inner {
            uid: spec.uid,
            gid: spec.gid,
        },
        UnshareFlags::NEWNS,
    )?;
    // The command runs as the same user: it must not read or trace PID 1.
    crate::dumpable::forbid_inspection().map_err(|e| JailError::Setup(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(JailError::Runtime)?;
    runtime.block_on(init(command))
}

/// The init loop of PID 1.
async fn init(command: &[OsString]) -> Result<u8, JailError> {
    use tokio::signal::unix::{SignalKind, signal};
    let (program, args) = command
        .split_first()
        .ok_or_else(|| JailError::Setup("no command given".into()))?;
    let listen = |kind| signal(kind).map_err(JailError::Runtime);
    let mut chld = listen(SignalKind::child())?;
    let mut int = listen(SignalKind::interrupt())?;
    let mut term = listen(SignalKind::terminate())?;
    let mut hup = listen(SignalKind::hangup())?;
    let mut quit = listen(SignalKind::quit())?;
    let child = std::process::Command::new(program)
        .args(args)
        .spawn()
        .map_err(|source| JailError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| JailError::Setup("the command has no process id".into()))?;
    // The command is reaped below with every orphan, not through `child`.
    drop(child);
    loop {
        if let Some(code) = reap(pid) {
            return Ok(code);
        }
        let forward = tokio::select! {
            _ = chld.recv() => None,
            _ = int.recv() => Some(Signal::INT),
            _ = term.recv() => Some(Signal::TERM),
            _ = hup.recv() => Some(Signal::HUP),
            _ = quit.recv() => Some(Signal::QUIT),
        };
        if let Some(signal) = forward {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }
}

/// Reaps every child that has ended; the command's exit code once it has.
fn reap(command: Pid) -> Option<u8> {
    let mut code = None;
    while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
        if pid == command {
            code = Some(match (status.exit_status(), status.terminating_signal()) {
                (Some(raw), _) => u8::try_from(raw & 0xff).unwrap_or(1),
                (None, Some(signal)) => crate::exit_status::of_signal(signal),
                (None, None) => 1,
            });
        }
    }
    code
}
