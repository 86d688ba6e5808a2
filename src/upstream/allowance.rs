//! The private destinations one request may reach: the deciding rule's `allow_private:`
//! ranges, which open guarded addresses they cover; the most sensitive blocks (loopback,
//! link-local and cloud metadata, this-network, multicast, reserved) only when named.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::guard;

/// The ranges of guarded addresses a request may dial, sorted and without repeats so that
/// equal allowances compare (and pool) equal. The default allows nothing private.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PrivateAllowance {
    /// The rule's `allow_private:` ranges; `None` for none (most requests: no allocation).
    ranges: Option<Arc<[IpNet]>>,
}

impl PrivateAllowance {
    /// The allowance of a rule whose `allow_private:` lists `ranges`.
    pub fn new(ranges: &[IpNet]) -> Self {
        if ranges.is_empty() {
            return Self { ranges: None };
        }
        let mut ranges = ranges.to_vec();
        ranges.sort_unstable();
        ranges.dedup();
        Self {
            ranges: Some(ranges.into()),
        }
    }

    /// True when no private address is opened.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_none()
    }

    /// May `ip`, an address the destination guard refuses, be dialled? Yes when a range
    /// covers it; in a block that must be named explicitly, only a range inside that block
    /// counts (`169.254.169.254/32` opens the metadata address, `0.0.0.0/0` does not).
    pub fn covers(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if let IpAddr::V6(v6) = ip
            && guard::embedded_v4(v6).is_some_and(|v4| explicit_block(IpAddr::V4(v4)).is_some())
        {
            // A translated form (NAT64, 6to4, Teredo) of a loopback or metadata address is
            // never opened: nobody means that, and nobody needs it.
            return false;
        }
        let block = explicit_block(ip);
        self.ranges
            .iter()
            .flat_map(|ranges| ranges.iter())
            .any(|range| range.contains(&ip) && block.is_none_or(|b| b.contains(range)))
    }
}

/// The block a range must lie inside to open `ip`, when `ip` is in one of the blocks that a
/// broad range does not open.
fn explicit_block(ip: IpAddr) -> Option<IpNet> {
    let prefix = match ip {
        IpAddr::V4(v4) => match v4.octets() {
            [0 | 127, ..] => 8,
            [169, 254, ..] => 16,
            [224..=255, ..] => 4,
            _ => return None,
        },
        IpAddr::V6(v6) => match v6.segments()[0] {
            _ if v6.is_unspecified() || v6.is_loopback() => 128,
            0xfe80..=0xfebf => 10,
            0xff00..=0xffff => 8,
            _ => return None,
        },
    };
    IpNet::new(ip, prefix).ok().map(|net| net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowing(ranges: &[&str]) -> PrivateAllowance {
        let ranges: Vec<IpNet> = ranges.iter().map(|r| r.parse().unwrap()).collect();
        PrivateAllowance::new(&ranges)
    }

    fn covers(allowance: &PrivateAllowance, ip: &str) -> bool {
        allowance.covers(ip.parse().unwrap())
    }

    #[test]
    fn a_range_opens_the_private_addresses_it_covers_and_no_others() {
        let a = allowing(&["10.20.0.0/16", "fd00:1::/32"]);
        assert!(covers(&a, "10.20.3.4"));
        assert!(covers(&a, "::ffff:10.20.3.4"));
        assert!(covers(&a, "fd00:1::5"));
        assert!(!covers(&a, "10.21.0.1"));
        assert!(!covers(&a, "192.168.1.1"));
        assert!(!covers(&a, "fd00:2::5"));
        // NAT64 and 6to4 forms of a covered address are other destinations.
        assert!(!covers(&a, "64:ff9b::a14:304"));
        assert!(!covers(&PrivateAllowance::default(), "10.20.3.4"));
    }

    #[test]
    fn loopback_link_local_and_metadata_open_only_when_named() {
        let broad = allowing(&["0.0.0.0/0", "::/0"]);
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!covers(&broad, ip), "{ip}");
        }
        assert!(covers(&broad, "10.0.0.1"));
        assert!(covers(&broad, "fd00::1"));

        let metadata = allowing(&["169.254.169.254/32"]);
        assert!(covers(&metadata, "169.254.169.254"));
        assert!(!covers(&metadata, "169.254.169.253"));
        let loopback = allowing(&["127.0.0.0/8", "::1/128"]);
        assert!(covers(&loopback, "127.0.0.2"));
        assert!(covers(&loopback, "::1"));
        assert!(!covers(&loopback, "169.254.169.254"));
        // 128.0.0.0/1 does not lie inside 240.0.0.0/4, so the broadcast address stays shut.
        assert!(!covers(&allowing(&["128.0.0.0/1"]), "255.255.255.255"));
        assert!(!covers(&allowing(&["64:ff9b::/96"]), "64:ff9b::7f00:1"));
    }

    #[test]
    fn equal_allowances_are_equal_whatever_the_order() {
        assert_eq!(
            allowing(&["10.0.0.0/8", "192.168.0.0/16", "10.0.0.0/8"]),
            allowing(&["192.168.0.0/16", "10.0.0.0/8"])
        );
        assert!(PrivateAllowance::default().is_empty());
    }
}
