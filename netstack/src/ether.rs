//! Ethernet interfaces: the container's interface (a veth that Docker or a CNI plugin put in
//! its network namespace), driven by the stack over an AF_PACKET socket ([`PacketSocket`]).
//!
//! What it owns: per interface ([`Wire`]) its IPv4 addresses, its routes, an ARP cache and
//! the packets waiting for an ARP answer, and the frame counters. smoltcp runs one
//! `Interface` in IP mode for everything (see `stack.rs`); its device loops back packets
//! for local addresses and hands every other packet to the wire whose route matches. Here a
//! packet gets its checksums (smoltcp computes none: loopback packets need none), a next hop
//! (the destination on a directly connected subnet, else the route's gateway), the next
//! hop's MAC address (ARP, RFC 826) and an Ethernet header. Received frames go the other
//! way: ARP is answered or learnt here, IPv4 packets to one of our addresses (or broadcast)
//! have their checksums checked (the IPv4 header always; the transport checksum unless the
//! host says it is partial or verified) and are given to smoltcp.
//!
//! Neighbours: `stack.rs` (the device that calls [`Wire::transmit`] and [`Wire::input`], and
//! the receive thread), `afpacket.rs` (the socket). Everything here runs under the stack
//! lock; nothing blocks.
//!
//! Shortcuts:
//! * IPv4 only on the wire: IPv6 frames are dropped and IPv6 addresses of the interface are
//!   not taken over (no neighbour discovery); loopback IPv6 works as before.
//! * No IP fragmentation or reassembly: a packet larger than the interface MTU (a UDP
//!   datagram above MTU - 28 bytes) is dropped; TCP segments follow the peer's MSS.
//! * ARP entries live 60 s, then the next packet asks again (the old entry is dropped, not
//!   reconfirmed); at most [`MAX_PENDING`] packets wait for answers, the oldest dropped.
//! * No VLANs, multicast groups or promiscuous mode; frames to other MAC addresses are
//!   ignored.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, Icmpv4Packet, IpAddress, IpProtocol,
    Ipv4Packet, TcpPacket, UdpPacket,
};

use crate::afpacket::PacketSocket;

/// Ethernet header length.
pub(crate) const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];
/// How long an ARP answer is used.
const ARP_TTL: Duration = Duration::from_secs(60);
/// Least time between two ARP requests for one address.
const ARP_RETRY: Duration = Duration::from_secs(1);
/// A packet waiting for an ARP answer longer than this is dropped.
const PENDING_TTL: Duration = Duration::from_secs(3);
/// Most packets waiting for ARP answers, over all next hops.
pub(crate) const MAX_PENDING: usize = 64;

/// An Ethernet interface to attach to the stack ([`crate::Stack::attach_ethernet`]).
#[derive(Debug)]
pub struct EthernetConfig {
    /// Interface name (`eth0`).
    pub name: String,
    /// Interface index, as in the container's namespace.
    pub index: u32,
    /// The interface's MAC address.
    pub mac: [u8; 6],
    /// MTU (bytes of IP packet per frame).
    pub mtu: u32,
    /// IPv4 addresses with their prefix lengths (other families are ignored).
    pub addrs: Vec<(IpAddr, u8)>,
    /// Routes through this interface (the main table's routes whose output interface it is).
    pub routes: Vec<RouteInfo>,
    /// The packet socket bound to the interface.
    pub socket: PacketSocket,
}

/// One route as netlink `RTM_GETROUTE` and /proc/net/route report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    /// Destination network (0.0.0.0 with prefix 0 for the default route).
    pub dst: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Gateway (None: directly connected).
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub ifindex: u32,
}

/// Frame counters of one interface (/proc/net/dev).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// One attached Ethernet interface.
#[derive(Debug)]
pub(crate) struct Wire {
    pub(crate) index: u32,
    mac: [u8; 6],
    mtu: usize,
    addrs: Vec<(Ipv4Addr, u8)>,
    pub(crate) routes: Vec<RouteInfo>,
    pub(crate) sock: PacketSocket,
    arp: HashMap<Ipv4Addr, ([u8; 6], Instant)>,
    asked: HashMap<Ipv4Addr, Instant>,
    /// Ethernet frames (destination MAC still blank) waiting for their next hop's MAC.
    pending: VecDeque<(Ipv4Addr, Vec<u8>, Instant)>,
    pub(crate) stats: WireStats,
    /// Scratch frame for transmission.
    frame: Vec<u8>,
}

fn v4_in(addr: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let p = u32::from(prefix.min(32));
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    u32::from(addr) & mask == u32::from(net) & mask
}

impl Wire {
    pub(crate) fn new(cfg: EthernetConfig) -> Wire {
        let addrs = cfg
            .addrs
            .iter()
            .filter_map(|(a, p)| match a {
                IpAddr::V4(v4) => Some((*v4, *p)),
                IpAddr::V6(_) => None,
            })
            .collect();
        Wire {
            index: cfg.index,
            mac: cfg.mac,
            mtu: usize::try_from(cfg.mtu).unwrap_or(1500).max(68),
            addrs,
            routes: cfg.routes,
            sock: cfg.socket,
            arp: HashMap::new(),
            asked: HashMap::new(),
            pending: VecDeque::new(),
            stats: WireStats::default(),
            frame: Vec::with_capacity(ETH_HLEN + 65536),
        }
    }

    /// The interface MTU.
    pub(crate) fn mtu(&self) -> usize {
        self.mtu
    }

    /// The IPv4 addresses (with prefixes) served on this interface.
    pub(crate) fn v4_addrs(&self) -> &[(Ipv4Addr, u8)] {
        &self.addrs
    }

    /// The next hop for `dst` through this interface and the matching prefix length (longer
    /// wins across interfaces), or None if no route here covers it.
    pub(crate) fn next_hop(&self, dst: Ipv4Addr) -> Option<(Ipv4Addr, u8)> {
        let mut best: Option<(Ipv4Addr, u8)> = None;
        let mut offer = |hop: Ipv4Addr, prefix: u8| {
            if best.is_none_or(|(_, p)| prefix > p) {
                best = Some((hop, prefix));
            }
        };
        if dst == Ipv4Addr::BROADCAST {
            offer(dst, 32);
        }
        for (a, p) in &self.addrs {
            if v4_in(dst, *a, *p) {
                offer(dst, *p);
            }
        }
        for r in &self.routes {
            let IpAddr::V4(net) = r.dst else { continue };
            if !v4_in(dst, net, r.prefix) {
                continue;
            }
            match r.gateway {
                Some(IpAddr::V4(gw)) => offer(gw, r.prefix),
                Some(IpAddr::V6(_)) => {}
                None => offer(dst, r.prefix),
            }
        }
        best
    }

    fn is_broadcast(&self, dst: Ipv4Addr) -> bool {
        dst == Ipv4Addr::BROADCAST
            || self.addrs.iter().any(|(a, p)| {
                *p < 31 && v4_in(dst, *a, *p) && {
                    let host = u32::MAX >> u32::from(*p);
                    u32::from(dst) & host == host
                }
            })
    }

    /// Sends the IPv4 packet `ip` (checksums not yet computed) towards `hop`.
    pub(crate) fn transmit(&mut self, ip: &mut [u8], hop: Ipv4Addr, now: Instant) {
        if ip.len() > self.mtu || !fill_checksums(ip) {
            self.stats.tx_dropped += 1;
            return;
        }
        let dst_mac = if self.is_broadcast(hop) {
            Some(BROADCAST)
        } else {
            match self.arp.get(&hop) {
                Some((mac, at)) if now.duration_since(*at) < ARP_TTL => Some(*mac),
                _ => None,
            }
        };
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.extend_from_slice(&dst_mac.unwrap_or([0; 6]));
        frame.extend_from_slice(&self.mac);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame.extend_from_slice(ip);
        match dst_mac {
            Some(_) => self.send_frame(&frame),
            None => {
                self.arp.remove(&hop);
                self.expire_pending(now);
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_front();
                    self.stats.tx_dropped += 1;
                }
                self.pending.push_back((hop, frame.clone(), now));
                self.ask(hop, now);
            }
        }
        self.frame = frame;
    }

    fn send_frame(&mut self, frame: &[u8]) {
        match self.sock.send(frame) {
            Ok(()) => {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += frame.len() as u64;
            }
            Err(e) if e == abi::Errno::EAGAIN || e == abi::Errno::ENOBUFS => {
                self.stats.tx_dropped += 1;
            }
            Err(_) => self.stats.tx_errors += 1,
        }
    }

    fn expire_pending(&mut self, now: Instant) {
        while let Some((_, _, at)) = self.pending.front() {
            if now.duration_since(*at) < PENDING_TTL {
                break;
            }
            self.pending.pop_front();
            self.stats.tx_dropped += 1;
        }
    }

    /// Broadcasts an ARP request for `hop` unless one went out within [`ARP_RETRY`].
    fn ask(&mut self, hop: Ipv4Addr, now: Instant) {
        if self
            .asked
            .get(&hop)
            .is_some_and(|at| now.duration_since(*at) < ARP_RETRY)
        {
            return;
        }
        let Some(src) = self.source_for(hop) else {
            return;
        };
        self.asked.insert(hop, now);
        let repr = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(self.mac),
            source_protocol_addr: src,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: hop,
        };
        self.send_arp(&repr, BROADCAST);
    }

    /// Our address on `hop`'s subnet, else our first address.
    fn source_for(&self, hop: Ipv4Addr) -> Option<Ipv4Addr> {
        self.addrs
            .iter()
            .find(|(a, p)| v4_in(hop, *a, *p))
            .or(self.addrs.first())
            .map(|(a, _)| *a)
    }

    fn send_arp(&mut self, repr: &ArpRepr, dst_mac: [u8; 6]) {
        let mut frame = vec![0u8; ETH_HLEN + repr.buffer_len()];
        frame[..6].copy_from_slice(&dst_mac);
        frame[6..12].copy_from_slice(&self.mac);
        frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        repr.emit(&mut ArpPacket::new_unchecked(&mut frame[ETH_HLEN..]));
        self.send_frame(&frame);
    }

    fn learn(&mut self, ip: Ipv4Addr, mac: [u8; 6], now: Instant) {
        if mac == BROADCAST || mac[0] & 1 != 0 || ip.is_unspecified() {
            return;
        }
        self.arp.insert(ip, (mac, now));
        self.asked.remove(&ip);
        let mut waiting = std::mem::take(&mut self.pending);
        waiting.retain(|(hop, frame, _)| {
            if *hop != ip {
                return true;
            }
            let mut f = frame.clone();
            f[..6].copy_from_slice(&mac);
            self.send_frame(&f);
            false
        });
        self.pending = waiting;
    }

    /// Handles one received frame: ARP here; an IPv4 packet for us is passed to `deliver`
    /// as the frame range holding it. Returns that range, if any.
    pub(crate) fn input(
        &mut self,
        frame: &[u8],
        csum_trusted: bool,
        now: Instant,
    ) -> Option<std::ops::Range<usize>> {
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += frame.len() as u64;
        let (Some(dst), Some(et)) = (frame.get(..6), frame.get(12..14)) else {
            self.stats.rx_errors += 1;
            return None;
        };
        if dst != self.mac && dst != BROADCAST {
            self.stats.rx_dropped += 1;
            return None;
        }
        let payload = frame.get(ETH_HLEN..).unwrap_or(&[]);
        match u16::from_be_bytes([et[0], et[1]]) {
            ETHERTYPE_ARP => {
                self.arp_input(payload, now);
                None
            }
            ETHERTYPE_IPV4 => {
                let r = self.ip_input(payload, csum_trusted);
                if r.is_none() {
                    self.stats.rx_dropped += 1;
                }
                r.map(|r| r.start + ETH_HLEN..r.end + ETH_HLEN)
            }
            _ => {
                self.stats.rx_dropped += 1;
                None
            }
        }
    }

    fn arp_input(&mut self, payload: &[u8], now: Instant) {
        let Ok(pkt) = ArpPacket::new_checked(payload) else {
            self.stats.rx_errors += 1;
            return;
        };
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) = ArpRepr::parse(&pkt)
        else {
            self.stats.rx_dropped += 1;
            return;
        };
        let for_us = self.addrs.iter().any(|(a, _)| *a == target_protocol_addr);
        let known = self.arp.contains_key(&source_protocol_addr);
        if for_us || known {
            self.learn(source_protocol_addr, source_hardware_addr.0, now);
        }
        if for_us && operation == ArpOperation::Request {
            let reply = ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: EthernetAddress(self.mac),
                source_protocol_addr: target_protocol_addr,
                target_hardware_addr: source_hardware_addr,
                target_protocol_addr: source_protocol_addr,
            };
            self.send_arp(&reply, source_hardware_addr.0);
        }
    }

    /// Checks an IPv4 packet; the range of `payload` that holds it (Ethernet padding cut).
    fn ip_input(&self, payload: &[u8], csum_trusted: bool) -> Option<std::ops::Range<usize>> {
        let pkt = Ipv4Packet::new_checked(payload).ok()?;
        if !pkt.verify_checksum() {
            return None;
        }
        let dst = pkt.dst_addr();
        if !(self.addrs.iter().any(|(a, _)| *a == dst) || self.is_broadcast(dst)) {
            return None;
        }
        let total = usize::from(pkt.total_len());
        let hlen = usize::from(pkt.header_len());
        if !csum_trusted && !pkt.more_frags() && pkt.frag_offset() == 0 {
            let src = IpAddress::Ipv4(pkt.src_addr());
            let dsta = IpAddress::Ipv4(dst);
            let body = payload.get(hlen..total)?;
            let ok = match pkt.next_header() {
                IpProtocol::Tcp => TcpPacket::new_checked(body)
                    .map(|t| t.verify_checksum(&src, &dsta))
                    .unwrap_or(false),
                IpProtocol::Udp => UdpPacket::new_checked(body)
                    .map(|u| u.checksum() == 0 || u.verify_checksum(&src, &dsta))
                    .unwrap_or(false),
                IpProtocol::Icmp => Icmpv4Packet::new_checked(body)
                    .map(|c| c.verify_checksum())
                    .unwrap_or(false),
                _ => true,
            };
            if !ok {
                return None;
            }
        }
        Some(0..total)
    }
}

/// Computes the IPv4 header checksum and the TCP/UDP/ICMP checksum of `ip` in place; false if
/// it is not a well-formed IPv4 packet.
fn fill_checksums(ip: &mut [u8]) -> bool {
    let Ok(mut pkt) = Ipv4Packet::new_checked(&mut *ip) else {
        return false;
    };
    pkt.fill_checksum();
    let src = IpAddress::Ipv4(pkt.src_addr());
    let dst = IpAddress::Ipv4(pkt.dst_addr());
    let proto = pkt.next_header();
    let first = pkt.frag_offset() == 0;
    let hlen = usize::from(pkt.header_len());
    let total = usize::from(pkt.total_len());
    let Some(body) = ip.get_mut(hlen..total) else {
        return false;
    };
    if !first {
        return true;
    }
    match proto {
        IpProtocol::Tcp => match TcpPacket::new_checked(body) {
            Ok(mut t) => t.fill_checksum(&src, &dst),
            Err(_) => return false,
        },
        IpProtocol::Udp => match UdpPacket::new_checked(body) {
            Ok(mut u) => u.fill_checksum(&src, &dst),
            Err(_) => return false,
        },
        IpProtocol::Icmp => match Icmpv4Packet::new_checked(body) {
            Ok(mut c) => c.fill_checksum(),
            Err(_) => return false,
        },
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_match() {
        let net = Ipv4Addr::new(172, 17, 0, 0);
        assert!(v4_in(Ipv4Addr::new(172, 17, 3, 4), net, 16));
        assert!(!v4_in(Ipv4Addr::new(172, 18, 0, 1), net, 16));
        assert!(v4_in(Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::UNSPECIFIED, 0));
    }
}
