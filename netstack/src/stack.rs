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

use crate::icmp::IcmpState;
use crate::tcp::TcpState;
use crate::udp::UdpState;

/// `IFF_UP` (include/uapi/linux/if.h).
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_RUNNING`.
pub const IFF_RUNNING: u32 = 0x40;
/// `IFF_LOWER_UP` (netlink only).
pub const IFF_LOWER_UP: u32 = 0x10000;

/// Most smoltcp sockets a listener keeps in LISTEN at once (handshakes in flight); established
/// connections wait in the accept queue, bounded by the backlog.
pub const MAX_LISTEN_POOL: usize = 16;

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

/// A loopback device: every transmitted packet is received back, in order. Packet buffers are
/// recycled (and kept at their largest size) so a packet costs no allocation or zeroing.
#[derive(Debug, Default)]
pub(crate) struct LoopDev {
    /// Packets in flight: a buffer and the packet's length in it.
    queue: VecDeque<(Vec<u8>, usize)>,
    /// Spare buffers.
    free: RefCell<Vec<Vec<u8>>>,
}

/// Most spare buffers kept.
const MAX_SPARE: usize = 64;

/// Receive token of [`LoopDev`].
#[derive(Debug)]
pub(crate) struct LoopRx<'a> {
    buf: Vec<u8>,
    len: usize,
    free: &'a RefCell<Vec<Vec<u8>>>,
}

/// Transmit token of [`LoopDev`].
#[derive(Debug)]
pub(crate) struct LoopTx<'a> {
    queue: &'a mut VecDeque<(Vec<u8>, usize)>,
    free: &'a RefCell<Vec<Vec<u8>>>,
}

impl phy::RxToken for LoopRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.buf.get(..self.len).unwrap_or(&[]));
        let mut free = self.free.borrow_mut();
        if free.len() < MAX_SPARE {
            free.push(self.buf);
        }
        r
    }
}

impl phy::TxToken for LoopTx<'_> {
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
        self.queue.push_back((buf, len));
        r
    }
}

impl phy::Device for LoopDev {
    type RxToken<'a> = LoopRx<'a>;
    type TxToken<'a> = LoopTx<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        // The IPv4 total length is 16 bits: 65535 is the largest usable MTU.
        caps.max_transmission_unit = 65535;
        caps.medium = Medium::Ip;
        // Nothing leaves the process: no checksums to compute or verify.
        caps.checksum = ChecksumCapabilities::ignored();
        caps
    }

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (buf, len) = self.queue.pop_front()?;
        let rx = LoopRx {
            buf,
            len,
            free: &self.free,
        };
        let tx = LoopTx {
            queue: &mut self.queue,
            free: &self.free,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(LoopTx {
            queue: &mut self.queue,
            free: &self.free,
        })
    }
}

/// The device under an interface. Later: a raw-frame device over an AF_PACKET fd.
#[derive(Debug)]
pub(crate) enum Device {
    Loopback(LoopDev),
}

impl Device {
    fn has_pending(&self) -> bool {
        match self {
            Device::Loopback(d) => !d.queue.is_empty(),
        }
    }
}

/// One interface: smoltcp's `Interface`, its device and what is reported about it.
pub struct NetIf {
    pub(crate) info: InterfaceInfo,
    pub(crate) iface: Interface,
    pub(crate) dev: Device,
}

impl std::fmt::Debug for NetIf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetIf").field("info", &self.info).finish()
    }
}

impl NetIf {
    fn poll(&mut self, now: smoltcp::time::Instant, sockets: &mut SocketSet<'static>) {
        for _ in 0..MAX_POLL_ROUNDS {
            match &mut self.dev {
                Device::Loopback(d) => {
                    self.iface.poll(now, d, sockets);
                }
            }
            if !self.dev.has_pending() {
                break;
            }
        }
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
    pub(crate) ifs: Vec<NetIf>,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) slots: HashMap<u64, Slot>,
    next_id: u64,
    binds: Vec<BindRec>,
    next_ephemeral: u16,
    /// Closed sockets still finishing (FIN exchange, RST to send); removed once closed.
    pub(crate) orphans: Vec<SocketHandle>,
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
    pub(crate) fn iface_for(&mut self, _remote: IpAddr) -> Option<&mut Interface> {
        self.ifs.first_mut().map(|i| &mut i.iface)
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
            for i in &mut self.ifs {
                i.poll(now, &mut self.sockets);
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
                slot.queue.notify(sig.0);
            }
        }
    }

    /// When smoltcp next wants to be polled.
    fn next_deadline(&mut self) -> Option<Instant> {
        let now = smoltcp::time::Instant::now();
        let mut best: Option<Duration> = None;
        for i in &mut self.ifs {
            if let Some(d) = i.iface.poll_delay(now, &self.sockets) {
                let d = Duration::from_micros(d.total_micros());
                best = Some(best.map_or(d, |b| b.min(d)));
            }
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
        let mut dev = LoopDev::default();
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
            iface,
            dev: Device::Loopback(dev),
        };
        let span = u64::from(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1);
        let start = EPHEMERAL_FIRST + u16::try_from(seed() % span).unwrap_or(0);
        let stack = Arc::new(Stack {
            inner: Mutex::new(Inner {
                ifs: vec![lo],
                sockets: SocketSet::new(vec![]),
                slots: HashMap::new(),
                next_id: 1,
                binds: Vec::new(),
                next_ephemeral: start,
                orphans: Vec::new(),
            }),
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

    /// Runs `f` on the stack state, then polls, notifies and reschedules the timer.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = lock(&self.inner);
        let r = f(&mut inner);
        self.poll_locked(&mut inner);
        r
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
                drop(inner);
                drop(s);
                st = lock(&timer.state);
            }
        }
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
