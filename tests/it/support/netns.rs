//! A private network link for tests: a veth pair whose far end sits in a network namespace
//! made for one test, giving the root namespace a private (10.213.0.0/16) address that is not
//! loopback. Needs root and iproute2; removed by name when dropped, also on failure.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Attempts at finding an unused /30 before giving up.
const ATTEMPTS: usize = 8;

/// A veth pair: `host` in the root namespace holds `host_addr`/30, its peer in the
/// namespace `netns` holds the next address. Dropping it deletes both.
pub struct PrivateLink {
    /// The namespace holding the far end.
    pub netns: String,
    host: String,
    /// The root namespace's private address on the link.
    pub host_addr: Ipv4Addr,
    /// The far end's address, inside `netns`.
    pub peer_addr: Ipv4Addr,
    /// The /30 the link uses, as written in `allow_private:`.
    pub cidr: String,
}

impl PrivateLink {
    /// Creates the link, or says why it cannot (not root, no `ip`, no namespaces).
    pub fn create() -> Result<Self, String> {
        if !ip(&["-V"]) {
            return Err("iproute2's `ip` is not installed".into());
        }
        if rustix::process::geteuid().as_raw() != 0 {
            return Err("network namespaces need root".into());
        }
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let tag: u16 = rand::random::<u16>() & 0x3fff;
            let third = u8::try_from(tag >> 6).unwrap_or(0);
            let base = u8::try_from(tag & 0x3f).unwrap_or(0) * 4;
            let link = PrivateLink {
                netns: format!("kw-{tag:04x}"),
                host: format!("kwh{tag:04x}"),
                host_addr: Ipv4Addr::new(10, 213, third, base + 1),
                peer_addr: Ipv4Addr::new(10, 213, third, base + 2),
                cidr: format!("10.213.{third}.{base}/30"),
            };
            match link.set_up(&link.peer_addr.to_string()) {
                Ok(()) => return Ok(link),
                // `link` drops here, removing whatever part was made.
                Err(step) => last = step,
            }
        }
        Err(format!("cannot create a veth pair in a namespace: {last}"))
    }

    fn set_up(&self, peer_addr: &str) -> Result<(), String> {
        let peer = format!("{}p", self.host);
        let host_cidr = format!("{}/30", self.host_addr);
        let peer_cidr = format!("{peer_addr}/30");
        let steps: [&[&str]; 7] = [
            &["netns", "add", &self.netns],
            &[
                "link",
                "add",
                &self.host,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "netns",
                &self.netns,
            ],
            &["addr", "add", &host_cidr, "dev", &self.host],
            &["-n", &self.netns, "addr", "add", &peer_cidr, "dev", &peer],
            &["-n", &self.netns, "link", "set", &peer, "up"],
            &["-n", &self.netns, "link", "set", "lo", "up"],
            &["link", "set", &self.host, "up"],
        ];
        for step in steps {
            if !ip(step) {
                return Err(format!("`ip {}` failed", step.join(" ")));
            }
        }
        Ok(())
    }
}

impl Drop for PrivateLink {
    fn drop(&mut self) {
        // Deleting the namespace deletes the peer and with it the pair; the host end is
        // deleted by name too in case the pair was made outside it.
        ip(&["netns", "del", &self.netns]);
        ip(&["link", "del", &self.host]);
    }
}

/// Runs `ip ARGS`, quietly; true when it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
