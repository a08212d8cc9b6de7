//! The stack core: interfaces, the socket table, the port table, the poll driver and readiness
//! notification. Socket-type logic lives in `tcp.rs` and `udp.rs`; see the crate doc for the
//! poll model and lock order.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use abi::Errno;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use vfs::waiter::{EventMask, WaitQueue};

use crate::afpacket::{PacketSocket, VnetHdr};
use crate::ether::{self, EthernetConfig, RouteInfo, Wire, WireStats};
use crate::icmp::IcmpState;
use crate::tcp::TcpState;
use crate::udp::UdpState;

/// `IFF_UP` (include/uapi/linux/if.h).
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_BROADCAST`.
pub const IFF_BROADCAST: u32 = 0x2;
/// `IFF_MULTICAST`.
pub const IFF_MULTICAST: u32 = 0x1000;
/// `IFF_RUNNING`.
pub const IFF_RUNNING: u32 = 0x40;
/// `IFF_LOWER_UP` (netlink only).
pub const IFF_LOWER_UP: u32 = 0x10000;

/// Most smoltcp sockets a listener keeps in LISTEN at once (handshakes in flight); established
/// connections wait in the accept queue, bounded by the backlog.
pub const MAX_LISTEN_POOL: usize = 128;

/// smoltcp sockets a listener keeps in LISTEN between SYN bursts (see
/// `TcpState::prepare_for_syns`, which grows the pool when SYNs are queued).
pub const IDLE_LISTEN: usize = 4;

/// First and last ephemeral port (Linux's default `ip_local_port_range`).
const EPHEMERAL_FIRST: u16 = 32768;
const EPHEMERAL_LAST: u16 = 60999;

/// Most poll rounds one operation runs (each round drains the loopback queue once).
const MAX_POLL_ROUNDS: usize = 4096;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// AF_INET.
    V4,
    /// AF_INET6.
    V6,
}

impl Family {
    /// The wildcard address of this family.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// The loopback address of this family.
    pub fn loopback(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }
}

/// What a socket's readiness is now (see tcp_poll/udp_poll in Linux).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data (or a connection, or EOF) can be read without blocking.
    pub readable: bool,
    /// Data can be written without blocking.
    pub writable: bool,
    /// Both directions are shut (or the connection is closed): POLLHUP.
    pub hup: bool,
    /// The peer closed its sending side: POLLRDHUP.
    pub rdhup: bool,
    /// An error is pending (`SO_ERROR`): POLLERR.
    pub err: bool,
}

impl Readiness {
    /// As poll(2)/epoll event bits.
    pub fn events(&self) -> EventMask {
        let mut m = EventMask::empty();
        if self.readable {
            m |= EventMask::IN | EventMask::RDNORM;
        }
        if self.writable {
            m |= EventMask::OUT | EventMask::WRNORM;
        }
        if self.hup {
            m |= EventMask::HUP;
        }
        if self.rdhup {
            m |= EventMask::RDHUP;
        }
        if self.err {
            m |= EventMask::ERR;
        }
        m
    }
}

/// One socket as /proc/net/{tcp,tcp6,udp,udp6} lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketEntry {
    /// AF_INET or AF_INET6 (decides tcp vs tcp6).
    pub family: Family,
    /// Local address (v4-mapped on AF_INET6 when the peer is IPv4).
    pub local: SocketAddr,
    /// Remote address (the family's wildcard and port 0 when none).
    pub remote: SocketAddr,
    /// Linux's TCP state number (include/net/tcp_states.h): 1 ESTABLISHED … 10 LISTEN,
    /// 11 CLOSING; UDP: 1 when connected, 7 otherwise.
    pub state: u8,
    /// Bytes queued to send (tx_queue).
    pub tx_queue: usize,
    /// Bytes queued to read (rx_queue); for a listener, the accept queue length.
    pub rx_queue: usize,
}

/// One network interface as netlink and `SIOCGIF*` report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Name (`lo`).
    pub name: String,
    /// Interface index (1 for `lo`).
    pub index: u32,
    /// `IFF_*` flags.
    pub flags: u32,
    /// MTU as Linux reports it.
    pub mtu: u32,
    /// Hardware address (all zero for loopback).
    pub mac: [u8; 6],
    /// Addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
}

/// The device under smoltcp's one interface. A transmitted packet for a local address (lo's
/// or any interface's) is queued to be received back, in order; any other packet goes to the
/// Ethernet interface whose route matches (`ether.rs`), and is dropped when none does.
/// Packets read from the wires are queued the same way. Packet buffers are recycled (and kept
/// at their largest size) so a packet costs no allocation or zeroing.
#[derive(Debug, Default)]
pub(crate) struct Dev {
    /// Packets to receive: a buffer and the packet's range in it.
    queue: VecDeque<(Vec<u8>, usize, usize)>,
    /// Spare buffers.
    free: RefCell<Vec<Vec<u8>>>,
    pub(crate) wires: Vec<Wire>,
    /// Every interface address: packets to these are looped back.
    locals: Vec<IpAddr>,
}

/// Most spare buffers kept.
const MAX_SPARE: usize = 64;
/// Most frames taken from one wire per receive round.
const RX_BATCH: usize = 64;
/// Receive buffer: the largest IP packet plus the Ethernet header.
const RX_BUF: usize = 65536 + ether::ETH_HLEN;

/// Receive token of [`Dev`].
#[derive(Debug)]
pub(crate) struct DevRx<'a> {
    buf: Vec<u8>,
    range: (usize, usize),
    free: &'a RefCell<Vec<Vec<u8>>>,
}

/// Transmit token of [`Dev`].
#[derive(Debug)]
pub(crate) struct DevTx<'a> {
    queue: &'a mut VecDeque<(Vec<u8>, usize, usize)>,
    free: &'a RefCell<Vec<Vec<u8>>>,
    wires: &'a mut [Wire],
    locals: &'a [IpAddr],
}

impl phy::RxToken for DevRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.buf.get(self.range.0..self.range.1).unwrap_or(&[]));
        recycle(self.free, self.buf);
        r
    }
}

fn recycle(free: &RefCell<Vec<Vec<u8>>>, buf: Vec<u8>) {
    let mut free = free.borrow_mut();
    if free.len() < MAX_SPARE {
        free.push(buf);
    }
}

/// The Ethernet interface (index in `wires`) and next hop for `dst`: the longest matching
/// prefix over all of them.
fn wire_route(wires: &[Wire], dst: Ipv4Addr) -> Option<(usize, Ipv4Addr)> {
    wires
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.next_hop(dst).map(|(hop, p)| (i, hop, p)))
        .max_by_key(|(_, _, p)| *p)
        .map(|(i, hop, _)| (i, hop))
}

/// The destination of an IP packet (None if it is neither a v4 nor a v6 packet).
fn packet_dst(p: &[u8]) -> Option<IpAddr> {
    match p.first()? >> 4 {
        4 => {
            let b: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 => {
            let b: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

impl phy::TxToken for DevTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.free.borrow_mut().pop().unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        // smoltcp writes the whole packet (`len` bytes) into the slice.
        let r = match buf.get_mut(..len) {
            Some(b) => f(b),
            None => f(&mut []),
        };
        let dst = buf.get(..len).and_then(packet_dst);
        let local = self.wires.is_empty()
            || dst.is_none_or(|d| d.is_loopback() || self.locals.contains(&d));
        if local {
            self.queue.push_back((buf, 0, len));
            return r;
        }
        if let Some(IpAddr::V4(d)) = dst
            && let Some((i, hop)) = wire_route(self.wires, d)
            && let (Some(w), Some(pkt)) = (self.wires.get_mut(i), buf.get_mut(..len))
        {
            w.transmit(pkt, hop, Instant::now());
        }
        recycle(self.free, buf);
        r
    }
}

impl phy::Device for Dev {
    type RxToken<'a> = DevRx<'a>;
    type TxToken<'a> = DevTx<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        // The IPv4 total length is 16 bits: 65535 is the largest usable MTU. TCP segments to
        // a wire peer follow its (smaller) MSS.
        caps.max_transmission_unit = 65535;
        caps.medium = Medium::Ip;
        // Loopback packets need no checksums; the wire computes and checks its own.
        caps.checksum = ChecksumCapabilities::ignored();
        caps
    }

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (buf, start, end) = self.queue.pop_front()?;
        let rx = DevRx {
            buf,
            range: (start, end),
            free: &self.free,
        };
        let tx = DevTx {
            queue: &mut self.queue,
            free: &self.free,
            wires: &mut self.wires,
            locals: &self.locals,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(DevTx {
            queue: &mut self.queue,
            free: &self.free,
            wires: &mut self.wires,
            locals: &self.locals,
        })
    }
}

impl Dev {
    fn has_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The destination (address, port) of every queued TCP SYN (without ACK).
    fn queued_syns(&self, out: &mut Vec<(IpAddr, u16)>) {
        for (buf, start, end) in &self.queue {
            let Some(p) = buf.get(*start..*end) else {
                continue;
            };
            let (dst, tcp) = match p.first().map(|b| b >> 4) {
                Some(4) => {
                    let ihl = usize::from(p[0] & 0xf) * 4;
                    // Protocol TCP, not a later fragment.
                    let frag = p
                        .get(6..8)
                        .map(|f| u16::from_be_bytes([f[0], f[1]]) & 0x1fff);
                    if p.get(9) != Some(&6) || frag != Some(0) {
                        continue;
                    }
                    let Some(d) = p.get(16..20).and_then(|d| <[u8; 4]>::try_from(d).ok()) else {
                        continue;
                    };
                    (IpAddr::V4(Ipv4Addr::from(d)), p.get(ihl..))
                }
                Some(6) => {
                    if p.get(6) != Some(&6) {
                        continue;
                    }
                    let Some(d) = p.get(24..40).and_then(|d| <[u8; 16]>::try_from(d).ok()) else {
                        continue;
                    };
                    (IpAddr::V6(Ipv6Addr::from(d)), p.get(40..))
                }
                _ => continue,
            };
            if let Some(t) = tcp
                && let (Some(ph), Some(pl), Some(&flags)) = (t.get(2), t.get(3), t.get(13))
                && flags & 0x12 == 0x02
            {
                out.push((dst, u16::from_be_bytes([*ph, *pl])));
            }
        }
    }

    /// Passes frames read from wire `i` (buffer, frame) through its Ethernet layer and queues
    /// the IP packets for us; the buffers of the others go back to `bufs`.
    fn take_frames(
        &mut self,
        i: usize,
        got: &mut Vec<(Vec<u8>, crate::afpacket::Frame)>,
        bufs: &mut Vec<Vec<u8>>,
    ) {
        let now = Instant::now();
        for (mut buf, f) in got.drain(..) {
            let r = match (self.wires.get_mut(i), buf.get_mut(..f.len)) {
                (Some(w), Some(frame)) => w.input(frame, f.csum_trusted, now),
                _ => None,
            };
            match r {
                Some(r) => self.queue.push_back((buf, r.start, r.end)),
                None => bufs.push(buf),
            }
        }
        // Buffers of the packets consumed meanwhile serve the next batch.
        let mut free = self.free.borrow_mut();
        while bufs.len() < RX_BATCH {
            match free.pop() {
                Some(b) => bufs.push(b),
                None => break,
            }
        }
    }

    /// Moves every wire's queued frames to `tx`, taking back the buffers it has sent.
    fn stage_tx(&mut self, tx: &mut TxStage) {
        for (i, w) in self.wires.iter_mut().enumerate() {
            if let Some(spare) = tx.spare.get_mut(i) {
                while w.spare.len() < ether::MAX_SPARE_FRAMES {
                    match spare.pop() {
                        Some(b) => w.spare.push(b),
                        None => break,
                    }
                }
            }
            tx.frames
                .extend(w.txq.drain(..).map(|(vnet, frame)| (i, vnet, frame)));
        }
    }

    fn has_tx(&self) -> bool {
        self.wires.iter().any(|w| !w.txq.is_empty())
    }
}

/// Frames on their way to the wires, sent with only this stage's lock held (lock order:
/// `Stack::inner`, then `Stack::tx`). Whoever moves frames here takes this lock before
/// releasing `inner`, so frames leave in the order the stack made them.
#[derive(Debug, Default)]
struct TxStage {
    /// (wire index, header, frame), in order.
    frames: Vec<(usize, VnetHdr, Vec<u8>)>,
    /// Each wire's socket, by wire index.
    socks: Vec<PacketSocket>,
    /// Sent buffers, by wire index, until the wire takes them back.
    spare: Vec<Vec<Vec<u8>>>,
    /// Frames the host refused (queue full) and host errors, by wire index.
    dropped: Vec<u64>,
    errors: Vec<u64>,
}

impl TxStage {
    fn flush(&mut self) {
        let TxStage {
            frames,
            socks,
            spare,
            dropped,
            errors,
        } = self;
        for (i, vnet, frame) in frames.drain(..) {
            let Some(sock) = socks.get(i) else { continue };
            match sock.send(vnet, &frame) {
                Ok(()) => {}
                Err(e) if e == Errno::EAGAIN || e == Errno::ENOBUFS => {
                    if let Some(d) = dropped.get_mut(i) {
                        *d += 1;
                    }
                }
                Err(_) => {
                    if let Some(c) = errors.get_mut(i) {
                        *c += 1;
                    }
                }
            }
            if let Some(s) = spare.get_mut(i)
                && s.len() < ether::MAX_SPARE_FRAMES
            {
                s.push(frame);
            }
        }
    }
}

/// What is reported about one interface (the packets of all of them go through `Dev`).
pub struct NetIf {
    pub(crate) info: InterfaceInfo,
}

impl std::fmt::Debug for NetIf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetIf").field("info", &self.info).finish()
    }
}

/// Which port table a bind is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Tcp,
    Udp,
    /// Ping sockets: the "port" is the echo identifier.
    Icmp,
}

/// One bound (address, port) of a socket.
#[derive(Clone, Debug)]
pub(crate) struct BindRec {
    owner: u64,
    proto: Proto,
    addr: IpAddr,
    port: u16,
    reuse: bool,
    /// SO_REUSEPORT: shares the port with other binds that set it, listening or not.
    reuseport: bool,
    v6only: bool,
    listening: bool,
}

impl BindRec {
    /// Whether the two binds cover a common local address.
    fn overlaps(&self, o: &BindRec) -> bool {
        if self.addr == o.addr {
            return true;
        }
        let wild = |b: &BindRec| b.addr.is_unspecified();
        match (self.addr, o.addr) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                wild(self) || wild(o)
            }
            // A v4 bind against a dual-stack `::` bind.
            (IpAddr::V4(_), IpAddr::V6(_)) => wild(o) && !o.v6only,
            (IpAddr::V6(_), IpAddr::V4(_)) => wild(self) && !self.v6only,
        }
    }
}

/// A socket's kind-specific state.
#[derive(Debug)]
pub(crate) enum Kind {
    Tcp(TcpState),
    Udp(UdpState),
    Icmp(IcmpState),
}

/// One socket of the stack.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) queue: Arc<WaitQueue>,
    /// What was last notified: events, bytes readable, bytes of send space.
    sig: (EventMask, usize, usize),
    pub(crate) kind: Kind,
}

/// Everything under the stack lock.
pub(crate) struct Inner {
    /// smoltcp's one interface (IP medium) over [`Dev`], holding every address.
    pub(crate) iface: Interface,
    pub(crate) dev: Dev,
    /// The interfaces as reported, in index order.
    pub(crate) ifs: Vec<NetIf>,
    /// Routes through the Ethernet interfaces (loopback's are implied).
    pub(crate) routes: Vec<RouteInfo>,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) slots: HashMap<u64, Slot>,
    next_id: u64,
    binds: Vec<BindRec>,
    next_ephemeral: u16,
    /// Closed sockets still finishing (FIN exchange, RST to send); removed once closed.
    pub(crate) orphans: Vec<SocketHandle>,
    /// Readiness changes found by the last poll, announced once the lock is released.
    notes: Vec<(Arc<WaitQueue>, EventMask)>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("ifs", &self.ifs)
            .field("slots", &self.slots.len())
            .field("binds", &self.binds)
            .finish()
    }
}

impl Inner {
    pub(crate) fn add_slot(&mut self, kind: Kind) -> (u64, Arc<WaitQueue>) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let queue = Arc::new(WaitQueue::new());
        self.slots.insert(
            id,
            Slot {
                queue: queue.clone(),
                sig: (EventMask::empty(), 0, 0),
                kind,
            },
        );
        (id, queue)
    }

    /// Whether `addr` is one of the interfaces' addresses (or the wildcard).
    pub(crate) fn is_local(&self, addr: IpAddr) -> bool {
        addr.is_unspecified()
            || self
                .ifs
                .iter()
                .any(|i| i.info.addrs.iter().any(|(a, _)| *a == addr))
    }

    /// Every interface address.
    pub(crate) fn local_addrs(&self) -> Vec<IpAddr> {
        self.ifs
            .iter()
            .flat_map(|i| i.info.addrs.iter().map(|(a, _)| *a))
            .collect()
    }

    /// smoltcp's context for connects (the interface that routes `_remote`).
    pub(crate) fn iface_for(&mut self, remote: IpAddr) -> Option<&mut Interface> {
        self.routable(remote).then_some(&mut self.iface)
    }

    /// The source address a packet to `remote` gets (smoltcp's choice: an address on the
    /// destination's subnet, else the first interface address of its family; loopback for
    /// loopback destinations).
    pub(crate) fn source_for(&self, remote: IpAddr) -> IpAddr {
        if remote.is_loopback() || self.is_local(remote) {
            return match remote {
                IpAddr::V4(_) if self.is_local(remote) && !remote.is_loopback() => remote,
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
        }
        self.iface
            .get_source_address(&IpAddress::from(remote))
            .map(IpAddr::from)
            .unwrap_or(match remote {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            })
    }

    /// The largest IP packet that can go to `remote` unfragmented: the wire's MTU off-host,
    /// 65535 to a local address.
    pub(crate) fn path_mtu(&self, remote: IpAddr) -> usize {
        if remote.is_loopback() || self.is_local(remote) {
            return 65535;
        }
        match remote {
            IpAddr::V4(v4) => wire_route(&self.dev.wires, v4)
                .and_then(|(i, _)| self.dev.wires.get(i))
                .map_or(65535, Wire::mtu),
            IpAddr::V6(_) => 65535,
        }
    }

    /// Whether a packet to `remote` has somewhere to go: a local address, or a route of an
    /// Ethernet interface.
    pub(crate) fn routable(&self, remote: IpAddr) -> bool {
        remote.is_loopback()
            || self.is_local(remote)
            || match remote {
                IpAddr::V4(v4) => wire_route(&self.dev.wires, v4).is_some(),
                IpAddr::V6(_) => false,
            }
    }

    /// Records a bind of `owner` to (`addr`, `port`); port 0 picks an ephemeral port. Returns
    /// the port. `reuse` is (SO_REUSEADDR, SO_REUSEPORT).
    pub(crate) fn bind_port(
        &mut self,
        owner: u64,
        proto: Proto,
        addr: IpAddr,
        port: u16,
        reuse: (bool, bool),
        v6only: bool,
    ) -> Result<u16, Errno> {
        let (reuse, reuseport) = reuse;
        let mut rec = BindRec {
            owner,
            proto,
            addr,
            port,
            reuse,
            reuseport,
            v6only,
            listening: false,
        };
        if port == 0 {
            rec.port = self.ephemeral(proto)?;
        } else {
            let conflict = self.binds.iter().any(|b| {
                b.proto == proto
                    && b.port == port
                    && b.owner != owner
                    && b.overlaps(&rec)
                    && !(b.reuse && reuse && !b.listening)
                    && !(b.reuseport && reuseport)
            });
            if conflict {
                return Err(Errno::EADDRINUSE);
            }
        }
        let p = rec.port;
        self.binds.push(rec);
        Ok(p)
    }

    fn ephemeral(&mut self, proto: Proto) -> Result<u16, Errno> {
        let span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
        for _ in 0..span {
            let p = self.next_ephemeral;
            self.next_ephemeral = if p >= EPHEMERAL_LAST {
                EPHEMERAL_FIRST
            } else {
                p + 1
            };
            if !self.binds.iter().any(|b| b.proto == proto && b.port == p) {
                return Ok(p);
            }
        }
        Err(Errno::EADDRNOTAVAIL)
    }

    /// Marks `owner`'s bind as listening; `EADDRINUSE` if another listener overlaps it.
    pub(crate) fn set_listening(&mut self, owner: u64) -> Result<(), Errno> {
        let Some(mine) = self.binds.iter().find(|b| b.owner == owner).cloned() else {
            return Err(Errno::EINVAL);
        };
        let conflict = self.binds.iter().any(|b| {
            b.owner != owner
                && b.proto == mine.proto
                && b.port == mine.port
                && b.listening
                && b.overlaps(&mine)
                && !(b.reuseport && mine.reuseport)
        });
        if conflict {
            return Err(Errno::EADDRINUSE);
        }
        for b in self.binds.iter_mut().filter(|b| b.owner == owner) {
            b.listening = true;
        }
        Ok(())
    }

    /// Forgets every bind of `owner`.
    pub(crate) fn release(&mut self, owner: u64) {
        self.binds.retain(|b| b.owner != owner);
    }

    /// Runs smoltcp on every interface, then the per-socket bookkeeping, then notification.
    fn poll(&mut self) {
        // Bookkeeping may abort sockets (a listener refusing a family); their RST goes out in
        // one more round.
        for _ in 0..4 {
            let now = smoltcp::time::Instant::now();
            for _ in 0..MAX_POLL_ROUNDS {
                self.prepare_listeners();
                self.iface.poll(now, &mut self.dev, &mut self.sockets);
                if !self.dev.has_pending() {
                    break;
                }
            }
            let Inner {
                sockets,
                slots,
                orphans,
                ..
            } = self;
            // Orphans that reached CLOSED (their RST or last ACK went out in the poll above)
            // or TIME-WAIT are done.
            orphans.retain(|h| {
                let s = sockets.get::<smoltcp::socket::tcp::Socket>(*h);
                let done = matches!(
                    s.state(),
                    smoltcp::socket::tcp::State::Closed | smoltcp::socket::tcp::State::TimeWait
                );
                if done {
                    sockets.remove(*h);
                }
                !done
            });
            let mut fresh = Vec::new();
            for slot in slots.values_mut() {
                match &mut slot.kind {
                    Kind::Tcp(t) => t.after_poll(sockets, &mut fresh),
                    Kind::Udp(u) => u.after_poll(sockets),
                    Kind::Icmp(c) => c.after_poll(sockets),
                }
            }
            if fresh.is_empty() {
                break;
            }
            orphans.extend(fresh);
        }
        let Inner { sockets, slots, .. } = self;
        for slot in slots.values_mut() {
            let (r, rx, tx) = match &slot.kind {
                Kind::Tcp(t) => t.signature(sockets),
                Kind::Udp(u) => u.signature(sockets),
                Kind::Icmp(c) => c.signature(sockets),
            };
            let sig = (r.events(), rx, tx);
            if sig != slot.sig {
                slot.sig = sig;
                self.notes.push((slot.queue.clone(), sig.0));
            }
        }
    }

    /// Grows listen pools for the SYNs waiting in the device queue.
    fn prepare_listeners(&mut self) {
        let mut syns = Vec::new();
        self.dev.queued_syns(&mut syns);
        if syns.is_empty() {
            return;
        }
        let Inner { slots, sockets, .. } = self;
        for slot in slots.values_mut() {
            if let Kind::Tcp(t) = &mut slot.kind {
                t.prepare_for_syns(sockets, &syns);
            }
        }
    }

    /// When smoltcp next wants to be polled.
    fn next_deadline(&mut self) -> Option<Instant> {
        let now = smoltcp::time::Instant::now();
        let mut best: Option<Duration> = None;
        if let Some(d) = self.iface.poll_delay(now, &self.sockets) {
            let d = Duration::from_micros(d.total_micros());
            best = Some(best.map_or(d, |b| b.min(d)));
        }
        best.and_then(|d| Instant::now().checked_add(d))
    }
}

/// The timer thread's shared state.
#[derive(Debug, Default)]
struct Timer {
    state: Mutex<TimerState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct TimerState {
    deadline: Option<Instant>,
    stop: bool,
}

/// One sandbox's TCP/IP stack.
#[derive(Debug)]
pub struct Stack {
    inner: Mutex<Inner>,
    tx: Mutex<TxStage>,
    timer: Arc<Timer>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        lock(&self.timer.state).stop = true;
        self.timer.cv.notify_all();
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

impl Stack {
    /// A stack with only `lo` (127.0.0.1/8, ::1/128), and its timer thread. `ENOMEM` if the
    /// thread cannot be started.
    pub fn new_loopback() -> Result<Arc<Stack>, Errno> {
        let mut dev = Dev::default();
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed();
        let mut iface = Interface::new(cfg, &mut dev, smoltcp::time::Instant::now());
        let addrs = vec![
            (IpAddr::V4(Ipv4Addr::LOCALHOST), 8u8),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), 128u8),
        ];
        iface.update_ip_addrs(|a| {
            for (ip, len) in &addrs {
                // The interface holds a handful of addresses; two always fit.
                let _ = a.push(IpCidr::new(IpAddress::from(*ip), *len));
            }
        });
        let lo = NetIf {
            info: InterfaceInfo {
                name: "lo".to_string(),
                index: 1,
                flags: IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP,
                mtu: 65536,
                mac: [0; 6],
                addrs,
            },
        };
        let span = u64::from(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1);
        let start = EPHEMERAL_FIRST + u16::try_from(seed() % span).unwrap_or(0);
        let stack = Arc::new(Stack {
            inner: Mutex::new(Inner {
                iface,
                dev,
                ifs: vec![lo],
                routes: Vec::new(),
                sockets: SocketSet::new(vec![]),
                slots: HashMap::new(),
                next_id: 1,
                binds: Vec::new(),
                next_ephemeral: start,
                orphans: Vec::new(),
                notes: Vec::new(),
            }),
            tx: Mutex::new(TxStage::default()),
            timer: Arc::new(Timer::default()),
        });
        let weak = Arc::downgrade(&stack);
        let timer = stack.timer.clone();
        std::thread::Builder::new()
            .name("netstack-timer".into())
            .spawn(move || timer_thread(weak, timer))
            .map_err(|_| Errno::ENOMEM)?;
        Ok(stack)
    }

    /// The TCP sockets (`tcp`) or UDP sockets (`!tcp`) for /proc/net, in creation order.
    pub fn socket_table(&self, tcp: bool) -> Vec<SocketEntry> {
        let mut inner = lock(&self.inner);
        let Inner { slots, sockets, .. } = &mut *inner;
        let mut ids: Vec<&u64> = slots.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| match slots.get(id).map(|s| &s.kind) {
                Some(Kind::Tcp(t)) if tcp => t.entry(sockets),
                Some(Kind::Udp(u)) if !tcp => u.entry(sockets),
                _ => None,
            })
            .collect()
    }

    /// The interfaces, in index order.
    pub fn interfaces(&self) -> Vec<InterfaceInfo> {
        lock(&self.inner)
            .ifs
            .iter()
            .map(|i| i.info.clone())
            .collect()
    }

    /// Adds an Ethernet interface: its IPv4 addresses become local addresses of the stack,
    /// its routes are used for egress, and a receive thread (`netstack-rx`, holding only a
    /// `Weak<Stack>`) moves its frames into the stack until the stack is dropped. Existing
    /// wildcard listeners do not pick up the new addresses (attach before the app runs).
    /// `EEXIST` if the index is taken, `ENOSPC` if smoltcp's address or route table is full,
    /// `ENOMEM` if the thread cannot start.
    pub fn attach_ethernet(self: &Arc<Self>, cfg: EthernetConfig) -> Result<(), Errno> {
        let sock = cfg.socket.clone();
        let name = cfg.name.clone();
        let mut inner = lock(&self.inner);
        if inner.ifs.iter().any(|i| i.info.index == cfg.index) {
            return Err(Errno::EEXIST);
        }
        let (mtu, mac) = (cfg.mtu, cfg.mac);
        let wire = Wire::new(cfg);
        let v4: Vec<(Ipv4Addr, u8)> = wire.v4_addrs().to_vec();
        let mut full = false;
        // Interface addresses first, so smoltcp picks them (not 127.0.0.1) as the source
        // for destinations off every subnet.
        inner.iface.update_ip_addrs(|a| {
            for (ip, len) in v4.iter().rev() {
                if a.insert(0, IpCidr::new(IpAddress::Ipv4(*ip), *len))
                    .is_err()
                {
                    full = true;
                }
            }
        });
        for r in &wire.routes {
            if let (IpAddr::V4(net), Some(IpAddr::V4(gw))) = (r.dst, r.gateway) {
                let route = smoltcp::iface::Route {
                    cidr: IpCidr::new(IpAddress::Ipv4(net), r.prefix),
                    via_router: IpAddress::Ipv4(gw),
                    preferred_until: None,
                    expires_at: None,
                };
                inner.iface.routes_mut().update(|t| {
                    if t.push(route).is_err() {
                        full = true;
                    }
                });
            }
        }
        if full {
            return Err(Errno::ENOSPC);
        }
        let index = wire.index;
        inner.routes.extend(wire.routes.iter().cloned());
        inner.ifs.push(NetIf {
            info: InterfaceInfo {
                name: name.clone(),
                index,
                flags: IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP,
                mtu,
                mac,
                addrs: v4.iter().map(|(a, p)| (IpAddr::V4(*a), *p)).collect(),
            },
        });
        inner.ifs.sort_by_key(|i| i.info.index);
        inner.dev.wires.push(wire);
        let wire_no = inner.dev.wires.len() - 1;
        let locals = inner.local_addrs();
        inner.dev.locals = locals;
        {
            let mut tx = lock(&self.tx);
            tx.socks.push(sock.clone());
            tx.spare.push(Vec::new());
            tx.dropped.push(0);
            tx.errors.push(0);
        }
        drop(inner);
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name(format!("netstack-rx-{name}"))
            .spawn(move || rx_thread(weak, sock, wire_no))
            .map_err(|_| Errno::ENOMEM)?;
        Ok(())
    }

    /// Adds `ip` (a 127/8 address) to `lo` as a /32, as `ip addr add 127.0.0.11/32 dev lo`
    /// would: sockets may then bind it. `EINVAL` for a non-loopback address, `ENOSPC` when
    /// smoltcp's address table is full.
    pub fn add_loopback_address(&self, ip: Ipv4Addr) -> Result<(), Errno> {
        if !ip.is_loopback() {
            return Err(Errno::EINVAL);
        }
        let mut inner = lock(&self.inner);
        if inner.is_local(IpAddr::V4(ip)) {
            return Ok(());
        }
        let mut full = false;
        inner.iface.update_ip_addrs(|a| {
            full = a.push(IpCidr::new(IpAddress::Ipv4(ip), 32)).is_err();
        });
        if full {
            return Err(Errno::ENOSPC);
        }
        if let Some(lo) = inner.ifs.iter_mut().find(|i| i.info.index == 1) {
            lo.info.addrs.push((IpAddr::V4(ip), 32));
        }
        let locals = inner.local_addrs();
        inner.dev.locals = locals;
        Ok(())
    }

    /// The routes of the Ethernet interfaces.
    pub fn routes(&self) -> Vec<RouteInfo> {
        lock(&self.inner).routes.clone()
    }

    /// Frame counters of the Ethernet interfaces, by interface index.
    pub fn wire_stats(&self) -> Vec<(u32, WireStats)> {
        let inner = lock(&self.inner);
        let tx = lock(&self.tx);
        inner
            .dev
            .wires
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let mut st = w.stats;
                let (d, e) = (
                    tx.dropped.get(i).copied().unwrap_or(0),
                    tx.errors.get(i).copied().unwrap_or(0),
                );
                // Refused frames were counted as sent when queued.
                st.tx_packets = st.tx_packets.saturating_sub(d + e);
                st.tx_dropped += d;
                st.tx_errors += e;
                (w.index, st)
            })
            .collect()
    }

    /// Runs `f` on the stack state, then polls, notifies and reschedules the timer.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = lock(&self.inner);
        let r = f(&mut inner);
        self.poll_locked(&mut inner);
        self.release(inner);
        r
    }

    /// Unlocks the stack, then sends the frames the poll queued and announces its readiness
    /// changes: neither the host's work on a frame nor a woken thread then waits on `inner`.
    fn release(&self, mut inner: MutexGuard<'_, Inner>) {
        let notes = std::mem::take(&mut inner.notes);
        if inner.dev.has_tx() {
            let mut tx = lock(&self.tx);
            inner.dev.stage_tx(&mut tx);
            drop(inner);
            tx.flush();
        } else {
            drop(inner);
        }
        for (q, ev) in notes {
            q.notify(ev);
        }
    }

    /// Runs `f` on the stack state without polling (pure queries).
    pub(crate) fn peek<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut lock(&self.inner))
    }

    fn poll_locked(&self, inner: &mut Inner) {
        inner.poll();
        if let Some(d) = inner.next_deadline() {
            let mut t = lock(&self.timer.state);
            if t.deadline.is_none_or(|cur| d < cur) {
                t.deadline = Some(d);
                self.timer.cv.notify_all();
            }
        }
    }
}

fn timer_thread(stack: Weak<Stack>, timer: Arc<Timer>) {
    let mut st = lock(&timer.state);
    loop {
        if st.stop {
            return;
        }
        match st.deadline {
            None => st = timer.cv.wait(st).unwrap_or_else(PoisonError::into_inner),
            Some(d) => {
                let now = Instant::now();
                if now < d {
                    st = timer
                        .cv
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    continue;
                }
                st.deadline = None;
                drop(st);
                let Some(s) = stack.upgrade() else { return };
                let mut inner = lock(&s.inner);
                s.poll_locked(&mut inner);
                s.release(inner);
                drop(s);
                st = lock(&timer.state);
            }
        }
    }
}

/// The receive thread of Ethernet interface `wire`: waits for frames and reads a batch
/// without the stack lock, then takes it to move the batch into the stack and poll. Ends once
/// the stack is dropped.
fn rx_thread(stack: Weak<Stack>, sock: PacketSocket, wire: usize) {
    let mut bufs: Vec<Vec<u8>> = Vec::new();
    let mut got = Vec::with_capacity(RX_BATCH);
    let mut more = false;
    loop {
        // After a full batch more frames are likely queued: read on without waiting.
        let ready = more || sock.wait_readable(500);
        let Some(s) = stack.upgrade() else { return };
        if !ready {
            continue;
        }
        while got.len() < RX_BATCH {
            let mut buf = bufs.pop().unwrap_or_default();
            if buf.len() < RX_BUF {
                buf.resize(RX_BUF, 0);
            }
            match sock.recv(&mut buf) {
                Ok(Some(f)) => got.push((buf, f)),
                Ok(None) | Err(_) => {
                    bufs.push(buf);
                    break;
                }
            }
        }
        more = got.len() == RX_BATCH;
        if got.is_empty() {
            continue;
        }
        let mut inner = lock(&s.inner);
        inner.dev.take_frames(wire, &mut got, &mut bufs);
        s.poll_locked(&mut inner);
        s.release(inner);
    }
}

/// The address a socket of `family` reports for `ip` (v4-mapped on AF_INET6).
pub(crate) fn expose(family: Family, ip: IpAddr, port: u16) -> SocketAddr {
    match (family, ip) {
        (Family::V6, IpAddr::V4(v4)) => {
            SocketAddr::V6(SocketAddrV6::new(v4.to_ipv6_mapped(), port, 0, 0))
        }
        (_, ip) => SocketAddr::new(ip, port),
    }
}

/// The stack's form of an address given to a socket of `family`: v4-mapped becomes IPv4
/// (`ENETUNREACH` for a v6-only socket when `connect`ing, `EINVAL` when binding, as
/// inet6_bind).
pub(crate) fn canon(
    family: Family,
    addr: SocketAddr,
    v6only: bool,
    for_bind: bool,
) -> Result<(IpAddr, u16), Errno> {
    match (family, addr) {
        (Family::V4, SocketAddr::V4(a)) => Ok((IpAddr::V4(*a.ip()), a.port())),
        (Family::V6, SocketAddr::V6(a)) => match a.ip().to_ipv4_mapped() {
            Some(_) if v6only => Err(if for_bind {
                Errno::EINVAL
            } else {
                Errno::ENETUNREACH
            }),
            Some(v4) => Ok((IpAddr::V4(v4), a.port())),
            None => Ok((IpAddr::V6(*a.ip()), a.port())),
        },
        _ => Err(Errno::EAFNOSUPPORT),
    }
}
