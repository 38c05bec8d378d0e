//! The few IP packet operations the data path does itself: the Internet checksum, finishing a
//! TCP super-packet the kernel left for offload so it can travel as one packet
//! ([`finish_tcp_super_packet`]) and handing one to the kernel to check ([`defer_tcp_checksum`]),
//! and the ICMP echo packets of the super-frame probe
//! ([`echo_request`], [`echo_reply_of`]).
use std::net::IpAddr;
use std::ops::Range;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
const IPV6_FRAGMENT_HEADER: u8 = 44;
const IPV4_HEADER_LEN: usize = 20;
/// Where the IPv4 header's own checksum sits.
const IPV4_CHECKSUM_AT: usize = 10;
const IPV6_HEADER_LEN: usize = 40;
const ICMP_HEADER_LEN: usize = 8;
/// Where TCP's checksum field sits from the start of the TCP header.
pub const TCP_CHECKSUM_AT: usize = 16;

/// The 16-bit one's complement sum of `bytes` (read as big-endian words, an odd last byte padded
/// with zero) added to `initial`, not yet folded.
///
/// It runs over every byte of a 64 KiB super-packet, so it is written for speed: the sum is taken
/// over native-endian words (one's complement addition does not care about byte order, RFC 1071
/// §2(B): the folded result only comes out byte-swapped), 32 bits at a time into four independent
/// 64-bit lanes that the compiler can keep in vector registers. 64 KiB adds up to far below 2^64.
fn ones_complement_sum(bytes: &[u8], initial: u64) -> u64 {
    let mut lanes = [0u64; 4];
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(4)) {
            *lane += u64::from(u32::from_ne_bytes([word[0], word[1], word[2], word[3]]));
        }
    }
    let mut native: u64 = lanes.iter().sum();
    let mut pairs = blocks.remainder().chunks_exact(2);
    for pair in &mut pairs {
        native += u64::from(u16::from_ne_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        // Padded with a zero byte after it, as in big-endian order.
        native += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    initial + u64::from(u16::from_be(fold(native)))
}

/// `sum` folded to 16 bits, end-around carries added back: the same value modulo 0xffff.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    sum as u16
}

/// The checksum field's value for data whose one's complement sum is `sum`.
fn checksum_of(sum: u64) -> u16 {
    !fold(sum)
}

/// Sets the 16-bit checksum field at `field` to the checksum of `packet[covered]` (the field
/// counted as zero) and `initial` (a pseudo-header's sum, or the partial sum the kernel left).
pub fn fill_checksum(packet: &mut [u8], covered: Range<usize>, field: usize, initial: u64) {
    packet[field..field + 2].fill(0);
    let checksum = checksum_of(ones_complement_sum(&packet[covered], initial));
    packet[field..field + 2].copy_from_slice(&checksum.to_be_bytes());
}

/// The pseudo-header's sum for an upper-layer packet of `length` bytes from `packet`'s source to
/// its destination (IPv4 or IPv6, told by the version nibble).
fn pseudo_header_sum(packet: &[u8], protocol: u8, length: usize) -> u64 {
    let addresses = if packet[0] >> 4 == 4 { &packet[12..20] } else { &packet[8..40] };
    ones_complement_sum(addresses, u64::from(protocol) + length as u64)
}

/// Makes a TCP super-packet read from an offloading TUN a complete packet of its own length: the
/// kernel leaves the TCP checksum for the device to finish (`csum_start`: the IP header length),
/// and the IP length fields are set again to the length at hand. Returns false, changing nothing,
/// for anything that is not an IPv4/IPv6 TCP packet laid out that way.
// Only the Linux device (virtio-net offload) has super-packets to finish or checksums to defer.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn finish_tcp_super_packet(packet: &mut [u8], csum_start: usize) -> bool {
    let len = packet.len();
    let Some(&first) = packet.first() else { return false };
    let (fixed_header, protocol_at) = match first >> 4 {
        4 => (IPV4_HEADER_LEN, 9),
        6 => (IPV6_HEADER_LEN, 6),
        _ => return false,
    };
    let checksum_at = csum_start + TCP_CHECKSUM_AT;
    if len > usize::from(u16::MAX) || csum_start < fixed_header || checksum_at + 2 > len || len < csum_start + 20 {
        return false;
    }
    if first >> 4 == 4 {
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len != csum_start || packet[protocol_at] != IPPROTO_TCP {
            return false;
        }
        packet[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        fill_checksum(packet, 0..header_len, IPV4_CHECKSUM_AT, 0);
    } else {
        // With extension headers the next-header chain decides; the kernel's csum_start is where
        // TCP begins either way, and only TCP super-packets come here.
        if csum_start == IPV6_HEADER_LEN && packet[protocol_at] != IPPROTO_TCP {
            return false;
        }
        packet[4..6].copy_from_slice(&((len - IPV6_HEADER_LEN) as u16).to_be_bytes());
    }
    let pseudo_header = pseudo_header_sum(packet, IPPROTO_TCP, len - csum_start);
    fill_checksum(packet, csum_start..len, checksum_at, pseudo_header);
    true
}

/// Prepares a TCP packet to be handed to the kernel with its checksum marked as to be computed
/// (`VIRTIO_NET_HDR_F_NEEDS_CSUM`, the state the sending kernel left it in): the checksum field
/// gets the pseudo-header's sum, and the offset where TCP starts is returned. The kernel then
/// trusts the packet as it trusts its own, instead of summing all of it again: it arrived sealed
/// by the peer, so nothing on the way could have changed it. None, changing nothing, for anything
/// but a TCP packet directly behind an IPv4 or IPv6 header.
// Only the Linux device (virtio-net offload) has super-packets to finish or checksums to defer.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn defer_tcp_checksum(packet: &mut [u8]) -> Option<usize> {
    let len = packet.len();
    let (start, protocol) = match packet.first()? >> 4 {
        4 => (usize::from(packet[0] & 0x0f) * 4, *packet.get(9)?),
        6 => (IPV6_HEADER_LEN, *packet.get(6)?),
        _ => return None,
    };
    if protocol != IPPROTO_TCP || start < IPV4_HEADER_LEN || len < start + 20 || len > usize::from(u16::MAX) {
        return None;
    }
    let partial = fold(pseudo_header_sum(packet, IPPROTO_TCP, len - start));
    packet[start + TCP_CHECKSUM_AT..start + TCP_CHECKSUM_AT + 2].copy_from_slice(&partial.to_be_bytes());
    Some(start)
}

/// The destination address of an IPv4 or IPv6 packet.
pub fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(packet.get(16..20)?).ok()?)),
        6 => Some(IpAddr::from(<[u8; 16]>::try_from(packet.get(24..40)?).ok()?)),
        _ => None,
    }
}

/// An ICMP (or ICMPv6) echo request of `total_len` bytes from `source` to `target`, which must
/// be of one family. IPv4's carries Don't Fragment: nothing on the way may cut it up.
// Probes are sent by the socket sessions' reader thread, which is Unix-only.
#[cfg(any(unix, test))]
pub fn echo_request(source: IpAddr, target: IpAddr, id: u16, sequence: u16, total_len: usize) -> Vec<u8> {
    let mut packet = vec![0u8; total_len];
    let icmp_at = match (source, target) {
        (IpAddr::V4(source), IpAddr::V4(target)) => {
            packet[0] = 0x45;
            packet[2..4].copy_from_slice(&(total_len as u16).to_be_bytes());
            packet[6] = 0x40; // Don't Fragment
            packet[8] = 64; // TTL
            packet[9] = IPPROTO_ICMP;
            packet[12..16].copy_from_slice(&source.octets());
            packet[16..20].copy_from_slice(&target.octets());
            fill_checksum(&mut packet, 0..IPV4_HEADER_LEN, IPV4_CHECKSUM_AT, 0);
            packet[IPV4_HEADER_LEN] = 8; // echo request
            IPV4_HEADER_LEN
        }
        (IpAddr::V6(source), IpAddr::V6(target)) => {
            packet[0] = 0x60;
            packet[4..6].copy_from_slice(&((total_len - IPV6_HEADER_LEN) as u16).to_be_bytes());
            packet[6] = IPPROTO_ICMPV6;
            packet[7] = 64; // hop limit
            packet[8..24].copy_from_slice(&source.octets());
            packet[24..40].copy_from_slice(&target.octets());
            packet[IPV6_HEADER_LEN] = 128; // echo request
            IPV6_HEADER_LEN
        }
        _ => panic!("echo_request: source and target of different families"),
    };
    packet[icmp_at + 4..icmp_at + 6].copy_from_slice(&id.to_be_bytes());
    packet[icmp_at + 6..icmp_at + 8].copy_from_slice(&sequence.to_be_bytes());
    let initial =
        if icmp_at == IPV6_HEADER_LEN { pseudo_header_sum(&packet, IPPROTO_ICMPV6, total_len - icmp_at) } else { 0 };
    fill_checksum(&mut packet, icmp_at..total_len, icmp_at + 2, initial);
    packet
}

/// The echo identifier and sequence number when `packet` is an ICMP (or ICMPv6) echo reply from
/// `from`, or the first fragment of one (a reply larger than the path's MTU comes in fragments).
pub fn echo_reply_of(packet: &[u8], from: IpAddr) -> Option<(u16, u16)> {
    let icmp = match (packet.first()? >> 4, from) {
        (4, IpAddr::V4(from)) => {
            let header_len = usize::from(packet[0] & 0x0f) * 4;
            let fragment_offset = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]) & 0x1fff;
            if packet.get(9) != Some(&IPPROTO_ICMP) || packet.get(12..16)? != from.octets() || fragment_offset != 0 {
                return None;
            }
            let icmp = packet.get(header_len..)?;
            (icmp.first() == Some(&0)).then_some(icmp)?
        }
        (6, IpAddr::V6(from)) => {
            if packet.get(8..24)? != from.octets() {
                return None;
            }
            let icmp = match *packet.get(6)? {
                IPPROTO_ICMPV6 => packet.get(IPV6_HEADER_LEN..)?,
                IPV6_FRAGMENT_HEADER => {
                    let fragment = packet.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + 8)?;
                    let offset = u16::from_be_bytes([fragment[2], fragment[3]]) >> 3;
                    if fragment[0] != IPPROTO_ICMPV6 || offset != 0 {
                        return None;
                    }
                    packet.get(IPV6_HEADER_LEN + 8..)?
                }
                _ => return None,
            };
            (icmp.first() == Some(&129)).then_some(icmp)?
        }
        _ => return None,
    };
    let header = icmp.get(..ICMP_HEADER_LEN)?;
    Some((u16::from_be_bytes([header[4], header[5]]), u16::from_be_bytes([header[6], header[7]])))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    /// A TCP packet as an offloading TUN hands it over: lengths and checksum not final.
    fn unfinished_tcp(v6: bool, payload: usize) -> (Vec<u8>, usize) {
        let ip_len = if v6 { IPV6_HEADER_LEN } else { IPV4_HEADER_LEN };
        let mut packet = vec![0u8; ip_len + 20 + payload];
        if v6 {
            packet[0] = 0x60;
            packet[6] = IPPROTO_TCP;
            packet[8..24].copy_from_slice(&"fc11::1".parse::<Ipv6Addr>().unwrap().octets());
            packet[24..40].copy_from_slice(&"fc11::2".parse::<Ipv6Addr>().unwrap().octets());
        } else {
            packet[0] = 0x45;
            packet[9] = IPPROTO_TCP;
            packet[12..16].copy_from_slice(&[10, 1, 1, 1]);
            packet[16..20].copy_from_slice(&[10, 1, 1, 2]);
        }
        packet[ip_len + 12] = 5 << 4;
        for (i, byte) in packet[ip_len + 20..].iter_mut().enumerate() {
            *byte = (i * 7 + 3) as u8;
        }
        // What the kernel leaves in the checksum field: something to be overwritten.
        packet[ip_len + 16] = 0xab;
        (packet, ip_len)
    }

    /// A receiver's check: the sum over pseudo-header and segment, checksum included, is all ones.
    fn transport_checksum_ok(packet: &[u8], start: usize) -> bool {
        let sum = ones_complement_sum(&packet[start..], pseudo_header_sum(packet, IPPROTO_TCP, packet.len() - start));
        checksum_of(sum) == 0
    }

    #[test]
    fn a_finished_super_packet_checks_out_as_one_packet() {
        for v6 in [false, true] {
            for payload in [0, 1, 1227, 65_000 - 60] {
                let (mut packet, start) = unfinished_tcp(v6, payload);
                assert!(finish_tcp_super_packet(&mut packet, start));
                assert!(transport_checksum_ok(&packet, start), "v6 {v6} payload {payload}");
                if v6 {
                    assert_eq!(usize::from(u16::from_be_bytes([packet[4], packet[5]])), packet.len() - 40);
                } else {
                    assert_eq!(usize::from(u16::from_be_bytes([packet[2], packet[3]])), packet.len());
                    assert_eq!(checksum_of(ones_complement_sum(&packet[..20], 0)), 0, "IPv4 header checksum");
                }
            }
        }
    }

    #[test]
    fn a_deferred_checksum_is_what_the_kernel_completes_to_the_packets_own() {
        for ipv6 in [false, true] {
            let (mut packet, start) = unfinished_tcp(ipv6, 3000);
            assert!(finish_tcp_super_packet(&mut packet, start));
            let finished = packet.clone();
            assert_eq!(defer_tcp_checksum(&mut packet), Some(start));
            assert_ne!(packet, finished, "the field holds the pseudo-header's sum now");
            // What the kernel does with NEEDS_CSUM: sum from csum_start, the field included, and
            // store the complement in the field.
            let completed = checksum_of(ones_complement_sum(&packet[start..], 0));
            packet[start + 16..start + 18].copy_from_slice(&completed.to_be_bytes());
            assert_eq!(packet, finished, "ipv6 {ipv6}");
        }
        let (mut udp, _) = unfinished_tcp(false, 100);
        udp[9] = 17;
        let before = udp.clone();
        assert_eq!(defer_tcp_checksum(&mut udp), None);
        assert_eq!(udp, before);
        assert_eq!(defer_tcp_checksum(&mut [0x45; 30]), None, "too short for a TCP header");
        assert_eq!(defer_tcp_checksum(&mut [0x41; 60]), None, "an IPv4 header length below 20");
        assert_eq!(defer_tcp_checksum(&mut []), None);
    }

    #[test]
    fn only_tcp_laid_out_as_the_kernel_does_is_finished() {
        let (mut udp, start) = unfinished_tcp(false, 100);
        udp[9] = 17;
        let before = udp.clone();
        assert!(!finish_tcp_super_packet(&mut udp, start));
        assert_eq!(udp, before);
        let (mut tcp, _) = unfinished_tcp(false, 100);
        assert!(!finish_tcp_super_packet(&mut tcp, 24), "csum_start must be the IPv4 header length");
        assert!(!finish_tcp_super_packet(&mut [0x45; 30], 20), "too short for a TCP header");
        assert!(!finish_tcp_super_packet(&mut [], 20));
    }

    #[test]
    fn checksums_match_known_values() {
        // RFC 1071's example words 0001 f203 f4f5 f6f7: sum ddf2, checksum 220d.
        assert_eq!(checksum_of(ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)), 0x220d);
        // An odd length pads with a zero byte.
        assert_eq!(checksum_of(ones_complement_sum(&[0x01], 0)), !0x0100);
    }

    #[test]
    fn the_fast_sum_agrees_with_summing_big_endian_words_one_by_one() {
        fn word_by_word(bytes: &[u8], initial: u64) -> u64 {
            let words =
                bytes.chunks(2).map(|pair| u64::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])));
            initial + words.sum::<u64>()
        }
        // Every length around the 16-byte blocks and the 2-byte words, a super-packet's, and
        // contents that carry in every lane (all 0xff) as well as mixed ones.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut mixed = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        let lengths = (0..=70).chain([1279, 1280, 65_535]);
        for length in lengths {
            let contents = [vec![0xff; length], vec![0; length], (0..length).map(|_| mixed()).collect::<Vec<u8>>()];
            for bytes in contents {
                for initial in [0, 6 + length as u64, 0xffff_ffff] {
                    assert_eq!(
                        checksum_of(ones_complement_sum(&bytes, initial)),
                        checksum_of(word_by_word(&bytes, initial)),
                        "length {length}, initial {initial:#x}, first byte {:?}",
                        bytes.first()
                    );
                }
            }
        }
    }

    #[test]
    fn an_echo_request_is_well_formed_and_its_reply_is_recognised() {
        let pairs: [(IpAddr, IpAddr); 2] = [
            (Ipv4Addr::new(10, 1, 1, 1).into(), Ipv4Addr::new(10, 1, 1, 2).into()),
            ("fc11::1".parse::<Ipv6Addr>().unwrap().into(), "fc11::2".parse::<Ipv6Addr>().unwrap().into()),
        ];
        for (source, target) in pairs {
            let request = echo_request(source, target, 0x1234, 7, 65_519);
            assert_eq!(request.len(), 65_519);
            assert_eq!(destination(&request), Some(target));
            assert!(ttun_proto::is_ip_packet(&request));
            let icmp_at = if source.is_ipv4() { 20 } else { 40 };
            let initial =
                if source.is_ipv4() { 0 } else { pseudo_header_sum(&request, IPPROTO_ICMPV6, request.len() - 40) };
            assert_eq!(checksum_of(ones_complement_sum(&request[icmp_at..], initial)), 0, "ICMP checksum");
            // The request is no reply; the target's reply (type 0 / 129, addresses swapped) is.
            assert_eq!(echo_reply_of(&request, source), None);
            let mut reply = echo_request(target, source, 0x1234, 7, 1_280);
            reply[icmp_at] = if source.is_ipv4() { 0 } else { 129 };
            assert_eq!(echo_reply_of(&reply, target), Some((0x1234, 7)));
            assert_eq!(echo_reply_of(&reply, source), None, "from someone else");
        }
    }

    #[test]
    fn the_first_fragment_of_a_reply_is_recognised_and_later_ones_are_not() {
        // IPv4: first fragment (offset 0, more fragments) and a later one.
        let mut first = echo_request(Ipv4Addr::new(10, 1, 1, 2).into(), Ipv4Addr::new(10, 1, 1, 1).into(), 9, 1, 1_280);
        first[20] = 0;
        first[6] = 0x20; // MF, offset 0
        assert_eq!(echo_reply_of(&first, Ipv4Addr::new(10, 1, 1, 2).into()), Some((9, 1)));
        first[7] = 160; // offset 160 * 8
        assert_eq!(echo_reply_of(&first, Ipv4Addr::new(10, 1, 1, 2).into()), None);
        // IPv6: a fragment header in front of the ICMPv6 header.
        let from: Ipv6Addr = "fc11::2".parse().unwrap();
        let mut fragment = vec![0u8; 40 + 8 + 8];
        fragment[0] = 0x60;
        fragment[6] = IPV6_FRAGMENT_HEADER;
        fragment[8..24].copy_from_slice(&from.octets());
        fragment[40] = IPPROTO_ICMPV6;
        fragment[43] = 1; // offset 0, more fragments
        fragment[48] = 129;
        fragment[52..56].copy_from_slice(&[0, 9, 0, 1]);
        assert_eq!(echo_reply_of(&fragment, from.into()), Some((9, 1)));
        fragment[42] = 0x05; // a later fragment
        assert_eq!(echo_reply_of(&fragment, from.into()), None);
    }
}
