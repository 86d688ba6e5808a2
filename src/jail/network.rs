//! The jail's network namespace: loopback only, a default route into it so any address can be
//! dialled, an nftables table that redirects every TCP connection leaving loopback to
//! keyward's transparent listener and every UDP datagram to port 53 to keyward's DNS, and
//! drops everything else; then the sockets keyward serves there.
//!
//! The `ip` and `nft` programs (iproute2, nftables) configure it: the nft ruleset language
//! is the kernel's stable, documented interface, present on every distribution, while the
//! netlink crates for nf_tables are young and would re-implement the same ruleset as
//! message builders. Both run inside the namespace, as its root.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::JailError;

/// Where the proxy port is inside the jail (what the proxy variables point at).
pub const PROXY_PORT: u16 = 3128;
/// Where redirected TCP connections arrive inside the jail.
pub const TRANSPARENT_PORT: u16 = 15001;
/// Where DNS queries arrive inside the jail.
pub const DNS_PORT: u16 = 53;
/// What every name a rule could admit resolves to: any address outside loopback works, since
/// every TCP connection is redirected to keyward; this one is reserved for benchmarks
/// (RFC 2544) and so never names a real host.
pub const ANSWER_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Directories searched for `ip` and `nft` beside `PATH` (they live in sbin).
const SBIN: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// The sockets bound inside the jail, for keyward to serve.
pub struct JailSockets {
    /// The proxy port (`127.0.0.1:3128`).
    pub proxy: TcpListener,
    /// Transparent listeners (IPv4, and IPv6 when the namespace has it).
    pub transparent: Vec<TcpListener>,
    /// DNS sockets (IPv4, and IPv6 when the namespace has it).
    pub dns: Vec<UdpSocket>,
}

/// The nftables ruleset of the jail.
pub fn ruleset() -> String {
    format!(
        "table inet keyward_jail {{
  chain nat_output {{
    type nat hook output priority -100; policy accept;
    udp dport 53 redirect to :{DNS_PORT}
    ip daddr 127.0.0.0/8 return
    ip6 daddr ::1 return
    meta l4proto tcp redirect to :{TRANSPARENT_PORT}
  }}
  chain filter_output {{
    type filter hook output priority 0; policy drop;
    oif lo ip daddr 127.0.0.0/8 accept
    oif lo ip6 daddr ::1 accept
  }}
  chain filter_input {{
    type filter hook input priority 0; policy drop;
    iif lo accept
  }}
}}
"
    )
}

/// Configures the namespace this process is in; true when it has IPv6.
pub fn configure() -> Result<bool, JailError> {
    let ip = tool("ip", "iproute2")?;
    let nft = tool("nft", "nftables")?;
    run(&ip, &["link", "set", "lo", "up"], None)?;
    run(
        &ip,
        &["route", "add", "default", "dev", "lo", "src", "127.0.0.1"],
        None,
    )?;
    let v6 = run(&ip, &["-6", "route", "add", "default", "dev", "lo"], None).is_ok();
    run(&nft, &["-f", "-"], Some(&ruleset()))?;
    Ok(v6)
}

/// Binds the sockets keyward serves inside the namespace.
pub fn bind(v6: bool) -> Result<JailSockets, JailError> {
    let v4 = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6addr = |port| SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let tcp = |addr| TcpListener::bind(addr).map_err(|source| JailError::Bind { addr, source });
    let udp = |addr| UdpSocket::bind(addr).map_err(|source| JailError::Bind { addr, source });
    let mut transparent = vec![tcp(v4(TRANSPARENT_PORT))?];
    let mut dns = vec![udp(v4(DNS_PORT))?];
    if v6 {
        transparent.push(tcp(v6addr(TRANSPARENT_PORT))?);
        dns.push(udp(v6addr(DNS_PORT))?);
    }
    Ok(JailSockets {
        proxy: tcp(v4(PROXY_PORT))?,
        transparent,
        dns,
    })
}

/// The path of `name`, from `PATH` or the sbin directories.
fn tool(name: &'static str, package: &'static str) -> Result<PathBuf, JailError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(JailError::MissingTool {
            tool: name,
            package,
        })
}

/// Runs `program args`, feeding `input` on stdin; its stderr in the error.
fn run(program: &PathBuf, args: &[&str], input: Option<&str>) -> Result<(), JailError> {
    let command = format!("{} {}", program.display(), args.join(" "));
    let fail = |detail: String| JailError::Network {
        command: command.clone(),
        detail,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ruleset_redirects_tcp_and_dns_and_drops_the_rest() {
        let rules = ruleset();
        assert!(rules.contains("meta l4proto tcp redirect to :15001"));
        assert!(rules.contains("udp dport 53 redirect to :53"));
        assert!(rules.contains("policy drop"));
        // DNS is redirected before loopback is let through, so a resolver on 127.0.0.53
        // still reaches keyward.
        let dns = rules.find("udp dport 53").unwrap();
        let lo = rules.find("ip daddr 127.0.0.0/8 return").unwrap();
        assert!(dns < lo);
    }
}
