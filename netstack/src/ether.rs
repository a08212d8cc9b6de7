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

use crate::afpacket::{PacketSocket, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VnetHdr};

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
/// The MSS smoltcp is told wire peers announced: one IPv4 GSO frame's worth of payload.
const GSO_MSS: u16 = 65535 - 20 - 60;
/// Most remembered peer MSS values (the table is cleared when full: segments then follow
/// the MTU).
const MAX_FLOWS: usize = 16384;
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
    arp: HashMap<Ipv4Addr, ([u8; 6], Instant)>,
    asked: HashMap<Ipv4Addr, Instant>,
    /// Ethernet frames (destination MAC still blank) waiting for their next hop's MAC.
    pending: VecDeque<(Ipv4Addr, Vec<u8>, VnetHdr, Instant)>,
    /// The MSS each wire peer announced, by (peer address, peer port, our port): smoltcp
    /// is told a larger one (see [`Wire::input`]) so it hands over GSO-sized segments.
    peer_mss: HashMap<(Ipv4Addr, u16, u16), u16>,
    pub(crate) stats: WireStats,
    /// Frames ready to send. They leave after the stack lock is released
    /// (`Stack::release`), so the host's work on them (the bridge, the peer's TCP receive,
    /// run inline by `sendmsg`) does not hold up the stack.
    pub(crate) txq: Vec<(VnetHdr, Vec<u8>)>,
    /// Frame buffers back from the sender, for reuse.
    pub(crate) spare: Vec<Vec<u8>>,
}

/// Most spare frame buffers a wire keeps.
pub(crate) const MAX_SPARE_FRAMES: usize = 64;

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
            arp: HashMap::new(),
            asked: HashMap::new(),
            pending: VecDeque::new(),
            peer_mss: HashMap::new(),
            stats: WireStats::default(),
            txq: Vec::new(),
            spare: Vec::new(),
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

    /// Sends the IPv4 packet `ip` (checksums not yet computed) towards `hop`. A TCP segment
    /// leaves with its checksum partial and, when it is larger than one segment of the
    /// peer's MSS, as one GSO frame the kernel segments; other packets get their checksums
    /// here and must fit the MTU.
    pub(crate) fn transmit(&mut self, ip: &mut [u8], hop: Ipv4Addr, now: Instant) {
        let Some(vnet) = self.offload(ip) else {
            self.stats.tx_dropped += 1;
            return;
        };
        let dst_mac = if self.is_broadcast(hop) {
            Some(BROADCAST)
        } else {
            match self.arp.get(&hop) {
                Some((mac, at)) if now.duration_since(*at) < ARP_TTL => Some(*mac),
                _ => None,
            }
        };
        let mut frame = self.spare.pop().unwrap_or_default();
        frame.clear();
        frame.extend_from_slice(&dst_mac.unwrap_or([0; 6]));
        frame.extend_from_slice(&self.mac);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame.extend_from_slice(ip);
        match dst_mac {
            Some(_) => self.queue_frame(vnet, frame),
            None => {
                self.arp.remove(&hop);
                self.expire_pending(now);
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_front();
                    self.stats.tx_dropped += 1;
                }
                self.pending.push_back((hop, frame, vnet, now));
                self.ask(hop, now);
            }
        }
    }

    /// Fills in the checksums of `ip` and says how the kernel is to finish the frame: TCP
    /// with a partial checksum (and GSO past one segment), the rest complete. None for a
    /// malformed packet or one too large for the MTU.
    fn offload(&self, ip: &mut [u8]) -> Option<VnetHdr> {
        let (ihl, total, tcp) = {
            let pkt = Ipv4Packet::new_checked(&*ip).ok()?;
            let tcp = pkt.next_header() == IpProtocol::Tcp && pkt.frag_offset() == 0;
            (
                usize::from(pkt.header_len()),
                usize::from(pkt.total_len()),
                tcp,
            )
        };
        if !tcp {
            if ip.len() > self.mtu || !fill_checksums(ip) {
                return None;
            }
            return Some(VnetHdr::default());
        }
        let mut pkt = Ipv4Packet::new_checked(&mut *ip).ok()?;
        pkt.fill_checksum();
        let (src, dst) = (pkt.src_addr(), pkt.dst_addr());
        let seg = ip.get_mut(ihl..total)?;
        let thl = usize::from(seg.get(12)? >> 4) * 4;
        if thl < 20 || thl > seg.len() {
            return None;
        }
        let (ours, theirs) = (
            u16::from_be_bytes([*seg.first()?, *seg.get(1)?]),
            u16::from_be_bytes([*seg.get(2)?, *seg.get(3)?]),
        );
        let tcp_len = u32::try_from(seg.len()).ok()?;
        let partial = pseudo_sum(src, dst, tcp_len);
        seg.get_mut(16..18)?.copy_from_slice(&partial.to_be_bytes());
        let payload = seg.len() - thl;
        let mut vnet = VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            csum_start: u16::try_from(ETH_HLEN + ihl).ok()?,
            csum_offset: 16,
            ..VnetHdr::default()
        };
        let room = self.mtu.checked_sub(ihl + thl)?;
        let mss = self
            .peer_mss
            .get(&(dst, theirs, ours))
            .map_or(room, |m| usize::from(*m).min(room))
            .max(1);
        if payload > mss {
            vnet.gso_type = VNET_GSO_TCPV4;
            vnet.gso_size = u16::try_from(mss).ok()?;
            vnet.hdr_len = u16::try_from(ETH_HLEN + ihl + thl).ok()?;
        } else if total > self.mtu {
            return None;
        }
        Some(vnet)
    }

    /// Queues a finished frame for sending (see `txq`); it counts as transmitted from here,
    /// and a host refusal later counts it as dropped.
    fn queue_frame(&mut self, vnet: VnetHdr, frame: Vec<u8>) {
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += frame.len() as u64;
        self.txq.push((vnet, frame));
    }

    fn expire_pending(&mut self, now: Instant) {
        while let Some((_, _, _, at)) = self.pending.front() {
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
        self.queue_frame(VnetHdr::default(), frame);
    }

    fn learn(&mut self, ip: Ipv4Addr, mac: [u8; 6], now: Instant) {
        if mac == BROADCAST || mac[0] & 1 != 0 || ip.is_unspecified() {
            return;
        }
        self.arp.insert(ip, (mac, now));
        self.asked.remove(&ip);
        let waiting = std::mem::take(&mut self.pending);
        for (hop, mut frame, vnet, at) in waiting {
            if hop != ip {
                self.pending.push_back((hop, frame, vnet, at));
                continue;
            }
            if let Some(d) = frame.get_mut(..6) {
                d.copy_from_slice(&mac);
            }
            self.queue_frame(vnet, frame);
        }
    }

    /// Handles one received frame: ARP here; an IPv4 packet for us is passed to `deliver`
    /// as the frame range holding it. Returns that range, if any.
    pub(crate) fn input(
        &mut self,
        frame: &mut [u8],
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
        let et = u16::from_be_bytes([et[0], et[1]]);
        let payload = frame.get(ETH_HLEN..).unwrap_or(&[]);
        match et {
            ETHERTYPE_ARP => {
                self.arp_input(payload, now);
                None
            }
            ETHERTYPE_IPV4 => {
                let r = self.ip_input(payload, csum_trusted);
                if r.is_none() {
                    self.stats.rx_dropped += 1;
                }
                let r = r.map(|r| r.start + ETH_HLEN..r.end + ETH_HLEN);
                if let Some(pkt) = r.clone().and_then(|r| frame.get_mut(r)) {
                    self.raise_syn_mss(pkt);
                }
                r
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

    /// In a (checked) TCP SYN from the wire, remembers the peer's MSS option and raises it
    /// to [`GSO_MSS`]: smoltcp then builds segments of up to that size, which
    /// [`Wire::offload`] hands to the kernel as GSO frames of the real MSS. smoltcp does
    /// not verify checksums, so the changed option needs no checksum update.
    fn raise_syn_mss(&mut self, ip: &mut [u8]) {
        let Ok(pkt) = Ipv4Packet::new_checked(&*ip) else {
            return;
        };
        if pkt.next_header() != IpProtocol::Tcp || pkt.frag_offset() != 0 {
            return;
        }
        let ihl = usize::from(pkt.header_len());
        let src = pkt.src_addr();
        let Some(seg) = ip.get_mut(ihl..) else {
            return;
        };
        let (Some(&flags), Some(&off)) = (seg.get(13), seg.get(12)) else {
            return;
        };
        if flags & 0x02 == 0 {
            return;
        }
        let thl = usize::from(off >> 4) * 4;
        let ports = (
            u16::from_be_bytes([seg[0], seg[1]]),
            u16::from_be_bytes([seg[2], seg[3]]),
        );
        let Some(opts) = seg.get_mut(20..thl) else {
            return;
        };
        let mut i = 0usize;
        while i < opts.len() {
            match opts[i] {
                0 => break,
                1 => i += 1,
                kind => {
                    let Some(&len) = opts.get(i + 1) else { break };
                    let len = usize::from(len);
                    if len < 2 || i + len > opts.len() {
                        break;
                    }
                    if kind == 2 && len == 4 {
                        let mss = u16::from_be_bytes([opts[i + 2], opts[i + 3]]);
                        if self.peer_mss.len() >= MAX_FLOWS {
                            self.peer_mss.clear();
                        }
                        self.peer_mss.insert((src, ports.0, ports.1), mss);
                        opts[i + 2..i + 4].copy_from_slice(&GSO_MSS.to_be_bytes());
                        return;
                    }
                    i += len;
                }
            }
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

/// The folded (not inverted) TCP pseudo-header sum, as a partial checksum starts.
fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, tcp_len: u32) -> u16 {
    let (s, d) = (src.octets(), dst.octets());
    let mut sum: u32 = 0;
    for w in [[s[0], s[1]], [s[2], s[3]], [d[0], d[1]], [d[2], d[3]]] {
        sum += u32::from(u16::from_be_bytes(w));
    }
    sum += 6 + (tcp_len >> 16) + (tcp_len & 0xffff);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
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
