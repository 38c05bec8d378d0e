//! Received stream → opened frames → packets written to the TUN, on the JS thread.
use ttun_proto::Receiver;

use super::device::PacketWriter;
use super::stats::add;
use super::Shared;
use crate::errors::{from_proto, Result};

pub fn receive(shared: &Shared, receiver: &mut Receiver, writer: &mut PacketWriter, chunk: &mut [u8]) -> Result<()> {
    let result = receiver.receive(chunk, |packet| {
        if !is_ip_packet(packet) {
            // An authenticated peer sent something that is not one IP packet: v1 would end the
            // session on the failed TUN write; we drop it and keep the tunnel up.
            add(&shared.stats.rx_dropped_not_ip, 1);
            return;
        }
        add(&shared.stats.rx_bytes, packet.len() as u64);
        writer.push(packet);
        if writer.is_full() {
            flush(shared, writer);
        }
    });
    // Packets opened before a bad frame are still delivered.
    flush(shared, writer);
    result.map_err(from_proto)
}

fn flush(shared: &Shared, writer: &mut PacketWriter) {
    let outcome = writer.flush(&shared.device);
    let refused = u64::from(outcome.error.is_some());
    add(&shared.stats.rx_packets, outcome.written as u64 - refused);
    add(&shared.stats.rx_dropped_tun_write, refused);
}

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
    use super::is_ip_packet;

    #[test]
    fn accepts_whole_ipv4_and_ipv6_packets() {
        let v4 = hex("4500001c00010000400100000a0101020a0101010800f7ff00000000");
        assert!(is_ip_packet(&v4));
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[5] = 8;
        assert!(is_ip_packet(&v6));
    }

    #[test]
    fn rejects_empty_truncated_padded_and_other_versions() {
        let v4 = hex("4500001c00010000400100000a0101020a0101010800f7ff00000000");
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

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
