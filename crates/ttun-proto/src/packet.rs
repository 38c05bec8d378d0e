//! What a data frame may carry: exactly one whole IPv4 or IPv6 packet. Both ends check it, on the
//! way into the TUN (a frame holding anything else is dropped, not written) and on the way out of
//! JavaScript in the userspace mode, so the check lives here, once, for the addon and the
//! WebAssembly core alike.

/// True for a whole IPv4 or IPv6 packet: right version, header inside, length field = size.
pub fn is_ip_packet(packet: &[u8]) -> bool {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            let header_len = usize::from(packet[0] & 0x0f) * 4;
            let total_len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            header_len >= 20 && header_len <= total_len && total_len == packet.len()
        }
        Some(6) if packet.len() >= 40 => {
            let payload_len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
            40 + payload_len == packet.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::is_ip_packet;

    const V4: &str = "4500001c00010000400100000a0101020a0101010800f7ff00000000";

    #[test]
    fn accepts_whole_ipv4_and_ipv6_packets() {
        assert!(is_ip_packet(&hex(V4)));
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[5] = 8;
        assert!(is_ip_packet(&v6));
    }

    #[test]
    fn rejects_empty_truncated_padded_and_other_versions() {
        let v4 = hex(V4);
        assert!(!is_ip_packet(&[]));
        assert!(!is_ip_packet(&v4[..27]));
        assert!(!is_ip_packet(&[v4.as_slice(), &[0]].concat()));
        let mut bad_ihl = v4.clone();
        bad_ihl[0] = 0x44;
        assert!(!is_ip_packet(&bad_ihl));
        let mut v5 = v4.clone();
        v5[0] = 0x55;
        assert!(!is_ip_packet(&v5));
        assert!(!is_ip_packet(b"TTUN/v1\0"));
    }

    /// A packet of `len` bytes whose headers say so, the rest arbitrary.
    fn packet(version: u8, len: usize, fill: &[u8]) -> Vec<u8> {
        let mut p: Vec<u8> = (0..len).map(|i| fill[i % fill.len()]).collect();
        if version == 4 {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        } else {
            p[0] = 0x60 | (p[0] & 0x0f);
            p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        }
        p
    }

    proptest! {
        #[test]
        fn whole_packets_pass_and_one_byte_more_or_less_does_not(
            v6 in any::<bool>(),
            extra in 0usize..2000,
            fill in proptest::collection::vec(any::<u8>(), 1..64),
        ) {
            let (version, len) = if v6 { (6, 40 + extra) } else { (4, 20 + extra) };
            let p = packet(version, len, &fill);
            prop_assert!(is_ip_packet(&p));
            prop_assert!(!is_ip_packet(&p[..len - 1]));
            prop_assert!(!is_ip_packet(&[p.as_slice(), &[0]].concat()));
        }

        #[test]
        fn anything_accepted_is_version_4_or_6_with_its_length(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if is_ip_packet(&bytes) {
                let declared = match bytes[0] >> 4 {
                    4 => usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                    6 => 40 + usize::from(u16::from_be_bytes([bytes[4], bytes[5]])),
                    other => return Err(TestCaseError::fail(std::format!("version {other} accepted"))),
                };
                prop_assert_eq!(declared, bytes.len());
            }
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
