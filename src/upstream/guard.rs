//! The destination guard: which resolved addresses keyward refuses to dial (loopback,
//! private, CGNAT, link-local and metadata, unique-local, multicast, …), judging IPv6 forms
//! that embed an IPv4 address by the embedded address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused, or `None` when it is a public unicast address.
pub fn refusal_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "unspecified or this-network (0.0.0.0/8)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local or cloud metadata (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation range",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    let seg = ip.segments();
    let reason = match seg[0] {
        _ if ip.is_unspecified() => "unspecified (::)",
        _ if ip.is_loopback() => "loopback (::1)",
        0xfc00..=0xfdff => "unique-local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast (ff00::/8)",
        0x2001 if seg[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x3fff if seg[1] <= 0x0fff => "documentation (3fff::/20)",
        0x0100 if seg[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        // RFC 8215: the operator's own NAT64, translating to any (also internal) IPv4.
        0x0064 if seg[1] == 0xff9b && seg[2] == 0x0001 => "local-use NAT64 (64:ff9b:1::/48)",
        0x0000 => "reserved (::/8)",
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address embedded in IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96),
/// NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo (2001::/32) addresses.
pub(super) fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match seg {
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => {
            Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(Ipv4Addr::new(o[12], o[13], o[14], o[15])),
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        // Teredo carries the client's IPv4 obfuscated (bit-inverted) in the last 32 bits.
        [0x2001, 0x0000, ..] => Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_table() {
        let rows: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("140.82.112.3", true),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("0.0.0.0", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("100.128.0.1", true),
            ("169.254.169.254", false),
            ("192.0.2.1", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("198.18.0.1", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("::", false),
            ("::1", false),
            ("fc00::1", false),
            ("fd00:ec2::254", false),
            ("fe80::1", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            ("2606:4700::1111", true),
            ("2a00:1450:4001::200e", true),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b::808:808", true),
            ("2002:7f00:1::", false),
            ("2002:0808:0808::", true),
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", false),
            // Broadcast, reserved and special-purpose IPv4.
            ("240.0.0.1", false),
            ("239.255.255.255", false),
            ("0.1.2.3", false),
            ("192.0.0.8", false),
            ("192.88.99.1", false),
            ("198.19.255.255", false),
            ("198.20.0.1", true),
            ("1.0.0.1", true),
            // Documentation ranges, both families (3fff::/20 is RFC 9637).
            ("3fff::1", false),
            ("3fff:fff:ffff::1", false),
            ("3fff:1000::1", true),
            ("2001:db8:ffff::1", false),
            // Other special IPv6.
            ("100::1", false),
            ("fec0::1", false),
            ("ff05::2", false),
            ("fdff:ffff::1", false),
            ("2001:4860:4860::8888", true),
            // IPv6 forms embedding internal IPv4, judged by the embedded address.
            ("::ffff:10.0.0.1", false),
            ("::ffff:0.0.0.0", false),
            ("::ffff:255.255.255.255", false),
            ("::ffff:100.64.0.1", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::c0a8:101", false),
            ("64:ff9b:1::a00:1", false),
            ("64:ff9b:1::808:808", false),
            ("2002:c0a8:0101::", false),
            ("2002:a9fe:a9fe::1", false),
            // Teredo whose client address is 192.0.2.45 (documentation), then a public one.
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
            ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", true),
        ];
        for (addr, allowed) in rows {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(
                refusal_reason(ip).is_none(),
                *allowed,
                "{addr}: {:?}",
                refusal_reason(ip)
            );
        }
    }
}
