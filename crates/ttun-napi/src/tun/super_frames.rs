//! Super-frames: a TCP super-packet the kernel hands an offloading TUN (up to 64 KiB) travels to
//! the peer as one frame, instead of being cut into MTU-sized packets sealed one by one — when,
//! and only when, it is addressed to the peer's own tunnel address and the peer has shown that it
//! takes such a packet.
//!
//! Why that is safe: v1 frames carry any IP packet up to 65519 bytes, and the peer writes what it
//! receives to its TUN. A Linux peer delivers an over-MTU packet addressed to itself (local
//! delivery checks no MTU); a packet it would have to forward, or a peer whose OS refuses
//! over-MTU writes, would lose it. So nothing is assumed: once per session the sending side
//! sends a probe, an ICMP echo request of the largest frame's size with Don't Fragment, to each
//! peer address it knows ([`SuperFramePeers`]), and the family is switched on only when the echo
//! reply comes back from that address. A peer that forwards the probe (the address is not its
//! own) returns at most "fragmentation needed" or nothing; a userspace peer has no kernel to
//! answer; a v1 peer just writes the probe to its TUN like any packet. No reply: nothing changes.
//! The probe tests exactly the path a super-frame takes, at the largest size one can have.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use ttun_proto::MAX_PLAINTEXT_LEN;

#[cfg(any(unix, test))]
use super::ip_packets::echo_request;
use super::ip_packets::{destination, echo_reply_of};

/// The largest packet sent whole, and the probe's size: what one frame carries.
pub const MAX_SUPER_PACKET: usize = MAX_PLAINTEXT_LEN;

/// This end's tunnel address and the peer's, per family; a family absent is never probed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SuperFramePeers {
    pub ipv4: Option<(Ipv4Addr, Ipv4Addr)>,
    pub ipv6: Option<(Ipv6Addr, Ipv6Addr)>,
}

impl SuperFramePeers {
    fn pairs(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> {
        let ipv4 = self.ipv4.map(|(own, peer)| (IpAddr::V4(own), IpAddr::V4(peer)));
        let ipv6 = self.ipv6.map(|(own, peer)| (IpAddr::V6(own), IpAddr::V6(peer)));
        ipv4.into_iter().chain(ipv6)
    }

    pub fn is_empty(&self) -> bool {
        self.ipv4.is_none() && self.ipv6.is_none()
    }
}

/// One session's super-frame state: the probes it sent and which peer addresses answered.
pub struct SuperFrames {
    peers: SuperFramePeers,
    probe_id: u16,
    ipv4_confirmed: AtomicBool,
    ipv6_confirmed: AtomicBool,
    /// Some probe is unanswered: received packets are looked at until it is.
    awaiting: AtomicBool,
}

impl SuperFrames {
    /// `probe_id` should differ from session to session (a late reply to an earlier session's
    /// probe must not count).
    pub fn new(peers: SuperFramePeers, probe_id: u16) -> Self {
        Self {
            peers,
            probe_id,
            ipv4_confirmed: AtomicBool::new(false),
            ipv6_confirmed: AtomicBool::new(false),
            awaiting: AtomicBool::new(!peers.is_empty()),
        }
    }

    /// The probe packets to send to the peer, one per family.
    #[cfg(unix)]
    pub fn probes(&self) -> Vec<Vec<u8>> {
        self.peers.pairs().map(|(own, peer)| echo_request(own, peer, self.probe_id, 1, MAX_SUPER_PACKET)).collect()
    }

    /// Looks at a packet received from the peer for the reply to a probe.
    pub fn note_received(&self, packet: &[u8]) {
        if !self.awaiting.load(Relaxed) {
            return;
        }
        for (_, peer) in self.peers.pairs() {
            if echo_reply_of(packet, peer) == Some((self.probe_id, 1)) {
                self.confirmed(peer).store(true, Relaxed);
            }
        }
        let all = self.peers.pairs().all(|(_, peer)| self.confirmed(peer).load(Relaxed));
        self.awaiting.store(!all, Relaxed);
    }

    fn confirmed(&self, peer: IpAddr) -> &AtomicBool {
        if peer.is_ipv4() {
            &self.ipv4_confirmed
        } else {
            &self.ipv6_confirmed
        }
    }

    /// Whether the super-packet `packet` may go to the peer whole.
    pub fn takes_whole(&self, packet: &[u8]) -> bool {
        if packet.len() > MAX_SUPER_PACKET {
            return false;
        }
        match destination(packet) {
            Some(IpAddr::V4(to)) => {
                self.ipv4_confirmed.load(Relaxed) && self.peers.ipv4.is_some_and(|(_, peer)| peer == to)
            }
            Some(IpAddr::V6(to)) => {
                self.ipv6_confirmed.load(Relaxed) && self.peers.ipv6.is_some_and(|(_, peer)| peer == to)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> SuperFramePeers {
        SuperFramePeers {
            ipv4: Some((Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(10, 1, 1, 2))),
            ipv6: Some(("fc11::1".parse().unwrap(), "fc11::2".parse().unwrap())),
        }
    }

    /// The peer's kernel answering a probe: the reply (type 0 / 129) with addresses swapped.
    fn reply_to(probe: &[u8]) -> Vec<u8> {
        let (source, target) = match probe[0] >> 4 {
            4 => (IpAddr::from(<[u8; 4]>::try_from(&probe[12..16]).unwrap()), destination(probe).unwrap()),
            _ => (IpAddr::from(<[u8; 16]>::try_from(&probe[8..24]).unwrap()), destination(probe).unwrap()),
        };
        let icmp_at = if source.is_ipv4() { 20 } else { 40 };
        let id = u16::from_be_bytes([probe[icmp_at + 4], probe[icmp_at + 5]]);
        let mut reply = echo_request(target, source, id, 1, 1280);
        reply[icmp_at] = if source.is_ipv4() { 0 } else { 129 };
        reply
    }

    fn to_peer(v6: bool, len: usize) -> Vec<u8> {
        let (own, peer): (IpAddr, IpAddr) = if v6 {
            ("fc11::1".parse::<Ipv6Addr>().unwrap().into(), "fc11::2".parse::<Ipv6Addr>().unwrap().into())
        } else {
            (Ipv4Addr::new(10, 1, 1, 1).into(), Ipv4Addr::new(10, 1, 1, 2).into())
        };
        echo_request(own, peer, 0, 0, len)
    }

    #[test]
    fn nothing_goes_whole_until_the_peer_answers_the_probe_of_that_family() {
        let state = SuperFrames::new(peers(), 0x5151);
        let probes = state.probes();
        assert_eq!(probes.len(), 2);
        assert!(probes.iter().all(|p| p.len() == MAX_SUPER_PACKET));
        assert!(!state.takes_whole(&to_peer(false, 60_000)));
        assert!(!state.takes_whole(&to_peer(true, 60_000)));
        state.note_received(&reply_to(&probes[0]));
        assert!(state.takes_whole(&to_peer(false, 60_000)));
        assert!(!state.takes_whole(&to_peer(true, 60_000)), "IPv6 is still unconfirmed");
        state.note_received(&reply_to(&probes[1]));
        assert!(state.takes_whole(&to_peer(true, 60_000)));
        assert!(!state.takes_whole(&to_peer(false, MAX_SUPER_PACKET + 1)), "larger than a frame");
    }

    #[test]
    fn a_reply_to_another_probe_or_to_another_address_counts_for_nothing() {
        let state = SuperFrames::new(peers(), 0x5151);
        let other = SuperFrames::new(peers(), 0x6262);
        state.note_received(&reply_to(&other.probes()[0]));
        assert!(!state.takes_whole(&to_peer(false, 60_000)));
        // Confirmed for 10.1.1.2 only: a packet to another address through the tunnel stays split.
        state.note_received(&reply_to(&state.probes()[0]));
        let mut elsewhere = to_peer(false, 60_000);
        elsewhere[16..20].copy_from_slice(&[198, 51, 100, 7]);
        assert!(!state.takes_whole(&elsewhere));
    }

    #[test]
    fn no_peers_means_no_probes() {
        let state = SuperFrames::new(SuperFramePeers::default(), 1);
        assert!(state.probes().is_empty());
        assert!(!state.takes_whole(&to_peer(false, 2000)));
    }
}
