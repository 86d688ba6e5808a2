//! The control channel between keyward and its jail: a Unix socket pair, the jail's end
//! as the setup process's stdin. The setup sends the sockets it bound (or why it failed);
//! keyward answers "go" with its own stdin for the command, then passes on signals one byte
//! each. When keyward's end closes (keyward exited or was killed), the jail is torn down.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

use super::JailError;
use super::network::JailSockets;

/// Most descriptors one message carries (proxy, two transparent, two DNS, and spare).
const MAX_FDS: usize = 8;
/// Largest header a message may have.
const MAX_HEADER: usize = 64 * 1024;
/// The byte that lets the jail start the command.
const GO: u8 = b'g';

/// The setup's report: how many sockets of each kind follow, in order, or why it failed.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    transparent: usize,
    dns: usize,
    error: Option<String>,
}

/// Sends the bound sockets (proxy, then transparent, then DNS).
pub fn send_ready(control: &UnixStream, sockets: &JailSockets) -> Result<(), JailError> {
    let report = Report {
        transparent: sockets.transparent.len(),
        dns: sockets.dns.len(),
        error: None,
    };
    let mut fds: Vec<BorrowedFd<'_>> = vec![sockets.proxy.as_fd()];
    fds.extend(sockets.transparent.iter().map(AsFd::as_fd));
    fds.extend(sockets.dns.iter().map(AsFd::as_fd));
    send(control, &report, &fds)
}

/// Reports a setup failure.
pub fn send_failed(control: &UnixStream, error: &JailError) -> Result<(), JailError> {
    let report = Report {
        transparent: 0,
        dns: 0,
        error: Some(error.to_string()),
    };
    send(control, &report, &[])
}

/// Receives the setup's sockets, or its failure.
pub fn recv_ready(control: &UnixStream) -> Result<JailSockets, JailError> {
    let (report, fds): (Report, Vec<OwnedFd>) = recv(control)?;
    if let Some(error) = report.error {
        return Err(JailError::Setup(error));
    }
    if fds.len() != 1 + report.transparent + report.dns {
        return Err(JailError::Protocol(format!(
            "{} sockets received, {} announced",
            fds.len(),
            1 + report.transparent + report.dns
        )));
    }
    let mut fds = fds.into_iter();
    let proxy = fds
        .next()
        .map(TcpListener::from)
        .ok_or_else(|| JailError::Protocol("no proxy socket".into()))?;
    let transparent = fds
        .by_ref()
        .take(report.transparent)
        .map(TcpListener::from)
        .collect();
    let dns = fds.map(UdpSocket::from).collect();
    Ok(JailSockets {
        proxy,
        transparent,
        dns,
    })
}

/// Lets the jail start the command, with `stdin` as its standard input.
pub fn send_go(control: &UnixStream, stdin: BorrowedFd<'_>) -> Result<(), JailError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    let fds = [stdin];
    if !ancillary.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(JailError::Protocol("no room for the descriptor".into()));
    }
    rustix::net::sendmsg(
        control,
        &[IoSlice::new(&[GO])],
        &mut ancillary,
        SendFlags::empty(),
    )
    .map_err(|e| JailError::Control(e.into()))?;
    Ok(())
}

/// Waits for "go"; the command's stdin. `None` when keyward went away instead.
pub fn recv_go(control: &UnixStream) -> Result<Option<OwnedFd>, JailError> {
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        control,
        &mut [IoSliceMut::new(&mut byte)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| JailError::Control(e.into()))?;
    if got.bytes == 0 {
        return Ok(None);
    }
    if byte[0] != GO {
        return Err(JailError::Protocol(format!("unexpected byte {}", byte[0])));
    }
    let stdin = received_fds(&mut ancillary).into_iter().next();
    stdin
        .map(Some)
        .ok_or_else(|| JailError::Protocol("\"go\" without the command's stdin".into()))
}

/// Passes signal `number` on to the jail's command.
pub fn send_signal(mut control: &UnixStream, number: u8) -> Result<(), JailError> {
    control.write_all(&[number]).map_err(JailError::Control)
}

/// One message: a 4-byte length, the JSON header, descriptors attached.
fn send<T: Serialize>(
    control: &UnixStream,
    header: &T,
    fds: &[BorrowedFd<'_>],
) -> Result<(), JailError> {
    let json = serde_json::to_vec(header).map_err(|e| JailError::Protocol(e.to_string()))?;
    let len =
        u32::try_from(json.len()).map_err(|_| JailError::Protocol("header too long".into()))?;
    let mut message = len.to_be_bytes().to_vec();
    message.extend_from_slice(&json);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !ancillary.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(JailError::Protocol("too many descriptors".into()));
    }
    let sent = rustix::net::sendmsg(
        control,
        &[IoSlice::new(&message)],
        &mut ancillary,
        SendFlags::empty(),
    )
    .map_err(|e| JailError::Control(e.into()))?;
    if sent < message.len() {
        let mut rest = control;
        rest.write_all(message.get(sent..).unwrap_or_default())
            .map_err(JailError::Control)?;
    }
    Ok(())
}

/// Receives one message sent by [`send`].
fn recv<T: for<'de> Deserialize<'de>>(
    control: &UnixStream,
) -> Result<(T, Vec<OwnedFd>), JailError> {
    let mut buf = vec![0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        control,
        &mut [IoSliceMut::new(&mut buf)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| JailError::Control(e.into()))?;
    let fds = received_fds(&mut ancillary);
    if got.bytes == 0 {
        return Err(JailError::Protocol(
            "the jail's setup ended without a report".into(),
        ));
    }
    buf.truncate(got.bytes);
    let mut rest = control;
    while buf.len() < 4 {
        let mut more = [0u8; 4];
        let n = rest.read(&mut more).map_err(JailError::Control)?;
        if n == 0 {
            return Err(JailError::Protocol("truncated report".into()));
        }
        buf.extend_from_slice(more.get(..n).unwrap_or_default());
    }
    let len = buf
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l <= MAX_HEADER)
        .ok_or_else(|| JailError::Protocol("bad report length".into()))?;
    if buf.len() < 4 + len {
        let start = buf.len();
        buf.resize(4 + len, 0);
        rest.read_exact(buf.get_mut(start..).unwrap_or_default())
            .map_err(JailError::Control)?;
    }
    let header = serde_json::from_slice(buf.get(4..4 + len).unwrap_or_default())
        .map_err(|e| JailError::Protocol(e.to_string()))?;
    Ok((header, fds))
}

/// The descriptors a received message carried.
fn received_fds(ancillary: &mut RecvAncillaryBuffer<'_>) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    for message in ancillary.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    fds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_and_go_cross_the_channel() {
        let (keyward, jail) = UnixStream::pair().unwrap();
        let sockets = JailSockets {
            proxy: TcpListener::bind("127.0.0.1:0").unwrap(),
            transparent: vec![TcpListener::bind("127.0.0.1:0").unwrap()],
            dns: vec![UdpSocket::bind("127.0.0.1:0").unwrap()],
        };
        send_ready(&jail, &sockets).unwrap();
        let got = recv_ready(&keyward).unwrap();
        assert_eq!(
            got.proxy.local_addr().unwrap(),
            sockets.proxy.local_addr().unwrap()
        );
        assert_eq!(got.transparent.len(), 1);
        assert_eq!(
            got.dns[0].local_addr().unwrap(),
            sockets.dns[0].local_addr().unwrap()
        );
        let stdin = std::fs::File::open("/dev/null").unwrap();
        send_go(&keyward, stdin.as_fd()).unwrap();
        assert!(recv_go(&jail).unwrap().is_some());
        send_signal(&keyward, 15).unwrap();
        let mut byte = [0u8; 1];
        (&jail).read_exact(&mut byte).unwrap();
        assert_eq!(byte, [15]);
        drop(keyward);
        assert!(recv_go(&jail).unwrap().is_none());
    }

    #[test]
    fn a_failure_is_reported_as_such() {
        let (keyward, jail) = UnixStream::pair().unwrap();
        let error = JailError::MissingTool {
            tool: "nft",
            package: "nftables",
        };
        send_failed(&jail, &error).unwrap();
        let Err(JailError::Setup(text)) = recv_ready(&keyward) else {
            panic!("expected the setup failure");
        };
        assert!(text.contains("nftables"), "{text}");
        drop(jail);
        assert!(matches!(recv_ready(&keyward), Err(JailError::Protocol(_))));
    }
}
