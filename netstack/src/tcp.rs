//! TCP sockets: Linux socket semantics (bind, listen with an accept queue, non-blocking connect
//! with `SO_ERROR`, half-close, abortive close, disconnect by AF_UNSPEC) over smoltcp's
//! one-connection sockets, and the options that change the stack's behaviour (buffers,
//! SO_REUSEADDR/SO_REUSEPORT, keep-alive, SO_LINGER, TCP_NODELAY, IPV6_V6ONLY) plus what
//! TCP_INFO/TCP_MAXSEG report ([`TcpInfo`]).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use abi::Errno;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use vfs::waiter::WaitQueue;

use crate::stack::{
    Family, IDLE_LISTEN, Inner, Kind, MAX_LISTEN_POOL, Proto, Readiness, SocketEntry, Stack, canon,
    expose,
};

/// Default receive and send buffer (bytes) of a new socket.
const DEFAULT_BUF: usize = 1 << 20;
/// Smallest and largest buffer a socket option may ask for (after Linux's doubling).
const MIN_BUF: usize = 4608;
const MAX_BUF: usize = 16 << 20;
/// Linux's `tcp_keepalive_time`, `tcp_keepalive_intvl` and `tcp_keepalive_probes`.
const KEEPALIVE_IDLE: u32 = 7200;
const KEEPALIVE_INTVL: u32 = 75;
const KEEPALIVE_CNT: u32 = 9;
/// Linux's TCP_MSS_DEFAULT: what TCP_MAXSEG reports before a connection.
const MSS_DEFAULT: u32 = 536;
/// The MSS on a 65535-byte-MTU link: MTU minus the IP and TCP headers.
const MSS_V4: u32 = 65535 - 20 - 20;
const MSS_V6: u32 = 65535 - 40 - 20;
/// How long a closed socket may keep retransmitting its FIN before it is dropped.
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest listen backlog (Linux's `somaxconn`).
const MAX_BACKLOG: usize = 4096;

/// Which direction(s) `shutdown` closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// SHUT_RD.
    Read,
    /// SHUT_WR: sends FIN.
    Write,
    /// SHUT_RDWR.
    Both,
}

#[derive(Clone, Copy, Debug)]
struct Opts {
    nodelay: bool,
    keepalive: bool,
    reuseaddr: bool,
    reuseport: bool,
    v6only: bool,
    rcvbuf: usize,
    sndbuf: usize,
    /// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT (seconds, seconds, probes).
    keepidle: u32,
    keepintvl: u32,
    keepcnt: u32,
    /// SO_LINGER's time when on (`Some(0)`: close aborts with RST).
    linger: Option<u32>,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            nodelay: false,
            keepalive: false,
            reuseaddr: false,
            reuseport: false,
            v6only: false,
            rcvbuf: DEFAULT_BUF,
            sndbuf: DEFAULT_BUF,
            keepidle: KEEPALIVE_IDLE,
            keepintvl: KEEPALIVE_INTVL,
            keepcnt: KEEPALIVE_CNT,
            linger: None,
        }
    }
}

#[derive(Debug)]
struct Stream {
    h: SocketHandle,
    /// Reached ESTABLISHED at some point.
    established: bool,
    /// `connect` already returned 0 for this connection (next one is `EISCONN`).
    connect_reported: bool,
    /// The smoltcp state seen after the last poll.
    last: State,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
}

#[derive(Debug)]
struct Listener {
    /// What smoltcp listens on: the bound address; for a wildcard of one family only (AF_INET,
    /// or AF_INET6 with IPV6_V6ONLY) each local address of that family, so the other family's
    /// SYNs find no listener and are refused; `None` (any) for a dual-stack `::`.
    eps: Vec<IpListenEndpoint>,
    /// Sockets in LISTEN or SYN-RECEIVED, with the index of their endpoint in `eps`.
    pool: Vec<(usize, SocketHandle)>,
    ready: VecDeque<SocketHandle>,
    backlog: usize,
}

#[derive(Debug)]
enum Mode {
    Idle,
    Stream(Stream),
    Listen(Listener),
}

/// A producer of bytes for [`TcpSocket::send_with`]: fills the slice (as far as it can) and
/// returns the count and the fault that stopped it, if any.
pub type Fill<'a> = dyn FnMut(&mut [u8]) -> (usize, Option<Errno>) + 'a;
/// A consumer of bytes for [`TcpSocket::recv_with`]: takes from the slice (as far as it can)
/// and returns the count and the fault that stopped it, if any.
pub type Drain<'a> = dyn FnMut(&[u8]) -> (usize, Option<Errno>) + 'a;

/// A TCP socket's state under the stack lock.
#[derive(Debug)]
pub(crate) struct TcpState {
    family: Family,
    opts: Opts,
    bound: Option<(IpAddr, u16)>,
    mode: Mode,
    error: Option<Errno>,
    shut_rd: bool,
    shut_wr: bool,
}

fn new_smol(opts: &Opts) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; opts.rcvbuf]),
        tcp::SocketBuffer::new(vec![0u8; opts.sndbuf]),
    );
    apply(&mut s, opts);
    s
}

fn apply(s: &mut tcp::Socket<'static>, opts: &Opts) {
    s.set_nagle_enabled(!opts.nodelay);
    // smoltcp sends a probe after each idle interval: TCP_KEEPIDLE's.
    let idle = Duration::from_secs(u64::from(opts.keepidle));
    s.set_keep_alive(opts.keepalive.then_some(idle.into()));
}

fn sock<'a>(sockets: &'a mut SocketSet<'static>, h: SocketHandle) -> &'a mut tcp::Socket<'static> {
    sockets.get_mut::<tcp::Socket>(h)
}

fn endpoint_addr(family: Family, ep: IpEndpoint) -> SocketAddr {
    expose(family, IpAddr::from(ep.addr), ep.port)
}

/// Linux's TCP state number (include/net/tcp_states.h) of a smoltcp state.
fn linux_state(st: State) -> u8 {
    match st {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

/// What TCP_INFO reports that the stack knows (the sentry fills in the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Linux's state number (1 ESTABLISHED … 10 LISTEN, 7 CLOSE).
    pub state: u8,
    /// Segment size both ways once connected (0 before).
    pub mss: u32,
    /// Bytes sent but not acknowledged.
    pub unacked: usize,
    /// Bytes queued to read.
    pub recv_queued: usize,
    /// The receive buffer size.
    pub rcvbuf: usize,
}

/// A receive that found nothing queued: the pending error once, EAGAIN during the handshake,
/// 0 at the end of the stream (or for an empty buffer), else EAGAIN.
fn nothing_queued(
    error: &mut Option<Errno>,
    shut_rd: bool,
    st: State,
    empty: bool,
) -> Result<usize, Errno> {
    if let Some(e) = error.take() {
        return Err(e);
    }
    if matches!(st, State::SynSent | State::SynReceived) {
        return Err(Errno::EAGAIN);
    }
    if shut_rd || peer_closed(st) || empty {
        return Ok(0);
    }
    Err(Errno::EAGAIN)
}

/// A peer FIN was received (or the connection is gone).
fn peer_closed(st: State) -> bool {
    matches!(
        st,
        State::CloseWait | State::LastAck | State::Closing | State::TimeWait | State::Closed
    )
}

/// Our FIN was sent.
fn we_closed(st: State) -> bool {
    matches!(
        st,
        State::FinWait1
            | State::FinWait2
            | State::Closing
            | State::LastAck
            | State::TimeWait
            | State::Closed
    )
}

impl TcpState {
    fn new(family: Family) -> TcpState {
        TcpState {
            family,
            opts: Opts::default(),
            bound: None,
            mode: Mode::Idle,
            error: None,
            shut_rd: false,
            shut_wr: false,
        }
    }

    /// Bookkeeping after smoltcp ran: promote handshakes, notice resets.
    /// Before smoltcp sees a burst of SYNs (`syns`: destination address and port of each
    /// queued SYN), gives each endpoint of this listener that many sockets in LISTEN (up to
    /// [`MAX_LISTEN_POOL`] and the backlog), so none of them meets a RST for want of a
    /// listening socket. Between bursts the pool keeps only [`IDLE_LISTEN`]: every poll walks
    /// every smoltcp socket, so idle ones cost every operation of the stack.
    pub(crate) fn prepare_for_syns(
        &mut self,
        sockets: &mut SocketSet<'static>,
        syns: &[(IpAddr, u16)],
    ) {
        let Mode::Listen(l) = &mut self.mode else {
            return;
        };
        let limit = l.backlog.clamp(1, MAX_LISTEN_POOL);
        for (e, ep) in l.eps.iter().enumerate() {
            let hits = |(a, p): &&(IpAddr, u16)| {
                *p == ep.port && ep.addr.is_none_or(|x| IpAddr::from(x) == *a)
            };
            let want = syns.iter().filter(hits).count().min(limit);
            if want == 0 {
                continue;
            }
            let (mut listening, mut total) = (0usize, 0usize);
            for (pe, h) in &l.pool {
                if *pe == e {
                    total += 1;
                    if sock(sockets, *h).state() == State::Listen {
                        listening += 1;
                    }
                }
            }
            while listening < want && total < MAX_LISTEN_POOL {
                let mut so = new_smol(&self.opts);
                if so.listen(*ep).is_err() {
                    break;
                }
                l.pool.push((e, sockets.add(so)));
                listening += 1;
                total += 1;
            }
        }
    }

    pub(crate) fn after_poll(
        &mut self,
        sockets: &mut SocketSet<'static>,
        orphans: &mut Vec<SocketHandle>,
    ) {
        match &mut self.mode {
            Mode::Idle => {}
            Mode::Stream(s) => {
                let st = sock(sockets, s.h).state();
                if matches!(
                    st,
                    State::Established
                        | State::FinWait1
                        | State::FinWait2
                        | State::CloseWait
                        | State::Closing
                        | State::LastAck
                        | State::TimeWait
                ) {
                    if !s.established {
                        let so = sock(sockets, s.h);
                        s.local = so.local_endpoint().map(|e| endpoint_addr(self.family, e));
                        s.peer = so.remote_endpoint().map(|e| endpoint_addr(self.family, e));
                    }
                    s.established = true;
                }
                if st == State::Closed
                    && s.last != State::Closed
                    && !matches!(s.last, State::TimeWait | State::LastAck | State::Closing)
                {
                    self.error = Some(if s.established {
                        Errno::ECONNRESET
                    } else {
                        Errno::ECONNREFUSED
                    });
                }
                s.last = st;
            }
            Mode::Listen(l) => {
                let family = self.family;
                let v6only = self.opts.v6only;
                let mut i = 0;
                while let Some(&(e, h)) = l.pool.get(i) {
                    let so = sock(sockets, h);
                    match so.state() {
                        State::Listen | State::SynReceived => i += 1,
                        State::Closed => {
                            // A handshake that was reset: listen again.
                            let relisten = l.eps.get(e).map(|ep| so.listen(*ep).is_ok());
                            if relisten != Some(true) {
                                orphans.push(l.pool.swap_remove(i).1);
                            } else {
                                i += 1;
                            }
                        }
                        _ => {
                            let wrong_family = match so.remote_endpoint().map(|e| e.addr) {
                                Some(IpAddress::Ipv6(_)) => family == Family::V4,
                                Some(IpAddress::Ipv4(_)) => family == Family::V6 && v6only,
                                None => false,
                            };
                            if wrong_family {
                                so.abort();
                                orphans.push(l.pool.swap_remove(i).1);
                            } else if l.ready.len() < l.backlog {
                                l.ready.push_back(l.pool.swap_remove(i).1);
                            } else {
                                i += 1;
                            }
                        }
                    }
                }
                // Handshakes that complete while the accept queue is full wait in the pool
                // (up to another backlog's worth, at least MAX_LISTEN_POOL) instead of
                // refusing newcomers: Linux drops their SYNs and lets the client retry, so
                // they are accepted later too.
                let target = l.backlog.min(IDLE_LISTEN);
                let cap = target
                    .saturating_mul(l.eps.len())
                    .saturating_add(l.backlog.max(MAX_LISTEN_POOL));
                for (e, ep) in l.eps.iter().enumerate() {
                    let mut have = l
                        .pool
                        .iter()
                        .filter(|(pe, h)| {
                            *pe == e
                                && matches!(
                                    sock(sockets, *h).state(),
                                    State::Listen | State::SynReceived
                                )
                        })
                        .count();
                    while have < target && l.pool.len() < cap {
                        let mut so = new_smol(&self.opts);
                        if so.listen(*ep).is_err() {
                            break;
                        }
                        l.pool.push((e, sockets.add(so)));
                        have += 1;
                    }
                }
            }
        }
    }

    fn readiness(&self, sockets: &mut SocketSet<'static>) -> Readiness {
        let err = self.error.is_some();
        match &self.mode {
            // Linux's tcp_poll for a TCP_CLOSE socket: POLLOUT | POLLHUP.
            Mode::Idle => Readiness {
                writable: true,
                hup: true,
                err,
                ..Readiness::default()
            },
            Mode::Listen(l) => Readiness {
                readable: !l.ready.is_empty(),
                err,
                ..Readiness::default()
            },
            Mode::Stream(s) => {
                let so = sock(sockets, s.h);
                let st = so.state();
                if matches!(st, State::SynSent | State::SynReceived) {
                    return Readiness {
                        err,
                        ..Readiness::default()
                    };
                }
                let rdhup = peer_closed(st);
                let rcv_shut = rdhup || self.shut_rd;
                let snd_shut = we_closed(st) || self.shut_wr;
                Readiness {
                    readable: so.can_recv() || rcv_shut || err,
                    writable: (so.may_send() && so.can_send()) || snd_shut || st == State::Closed,
                    hup: st == State::Closed || (rcv_shut && snd_shut),
                    rdhup,
                    err,
                }
            }
        }
    }

    /// This socket's /proc/net/tcp line (None for a socket neither bound nor connected).
    pub(crate) fn entry(&self, sockets: &mut SocketSet<'static>) -> Option<SocketEntry> {
        let fam = self.family;
        let none = expose(fam, fam.unspecified(), 0);
        let bound = self.bound.map(|(ip, p)| expose(fam, ip, p));
        match &self.mode {
            Mode::Idle => bound.map(|local| SocketEntry {
                family: fam,
                local,
                remote: none,
                state: 7,
                tx_queue: 0,
                rx_queue: 0,
            }),
            Mode::Listen(l) => Some(SocketEntry {
                family: fam,
                local: bound.unwrap_or(none),
                remote: none,
                state: 10,
                tx_queue: 0,
                rx_queue: l.ready.len(),
            }),
            Mode::Stream(s) => {
                let so = sock(sockets, s.h);
                let state = linux_state(so.state());
                Some(SocketEntry {
                    family: fam,
                    local: s
                        .local
                        .or_else(|| so.local_endpoint().map(|e| endpoint_addr(fam, e)))
                        .or(bound)
                        .unwrap_or(none),
                    remote: s.peer.unwrap_or(none),
                    state,
                    tx_queue: so.send_queue(),
                    rx_queue: so.recv_queue(),
                })
            }
        }
    }

    /// Readiness plus the byte counts whose change also warrants a notification.
    pub(crate) fn signature(&self, sockets: &mut SocketSet<'static>) -> (Readiness, usize, usize) {
        let r = self.readiness(sockets);
        match &self.mode {
            Mode::Stream(s) => {
                let so = sock(sockets, s.h);
                (
                    r,
                    so.recv_queue(),
                    so.send_capacity().saturating_sub(so.send_queue()),
                )
            }
            Mode::Listen(l) => (r, l.ready.len(), 0),
            Mode::Idle => (r, 0, 0),
        }
    }
}

/// A TCP socket of a [`Stack`]. Dropping it closes it (gracefully, or with RST if unread data
/// is left, as Linux does).
#[derive(Debug)]
pub struct TcpSocket {
    stack: Arc<Stack>,
    id: u64,
    family: Family,
    queue: Arc<WaitQueue>,
}

impl Stack {
    /// A new, unbound TCP socket.
    pub fn tcp_socket(self: &Arc<Self>, family: Family) -> TcpSocket {
        let (id, queue) = self.peek(|i| i.add_slot(Kind::Tcp(TcpState::new(family))));
        TcpSocket {
            stack: self.clone(),
            id,
            family,
            queue,
        }
    }
}

/// The socket's state, split from the rest of the stack state.
fn parts(inner: &mut Inner, id: u64) -> Result<(&mut TcpState, &mut SocketSet<'static>), Errno> {
    let Inner { slots, sockets, .. } = inner;
    match slots.get_mut(&id).map(|s| &mut s.kind) {
        Some(Kind::Tcp(t)) => Ok((t, sockets)),
        _ => Err(Errno::EBADF),
    }
}

impl TcpSocket {
    /// AF_INET or AF_INET6.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The queue notified whenever this socket's readiness may have changed.
    pub fn wait_queue(&self) -> &Arc<WaitQueue> {
        &self.queue
    }

    fn op<R>(&self, f: impl FnOnce(&mut Inner, u64) -> Result<R, Errno>) -> Result<R, Errno> {
        self.stack.with(|inner| f(inner, self.id))
    }

    fn query<R>(&self, f: impl FnOnce(&mut TcpState, &mut SocketSet<'static>) -> R) -> Option<R> {
        self.stack
            .peek(|inner| parts(inner, self.id).ok().map(|(t, s)| f(t, s)))
    }

    /// bind(2). Port 0 picks an ephemeral port.
    pub fn bind(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (t, _) = parts(inner, id)?;
            let (ip, port) = canon(t.family, addr, t.opts.v6only, true)?;
            if t.bound.is_some() || !matches!(t.mode, Mode::Idle) {
                return Err(Errno::EINVAL);
            }
            let (reuse, v6only) = ((t.opts.reuseaddr, t.opts.reuseport), t.opts.v6only);
            if !inner.is_local(ip) {
                return Err(Errno::EADDRNOTAVAIL);
            }
            let port = inner.bind_port(id, Proto::Tcp, ip, port, reuse, v6only)?;
            let (t, _) = parts(inner, id)?;
            t.bound = Some((ip, port));
            Ok(())
        })
    }

    /// Binds to an ephemeral port on the wildcard address if not bound yet.
    fn autobind(inner: &mut Inner, id: u64) -> Result<(IpAddr, u16), Errno> {
        let (t, _) = parts(inner, id)?;
        if let Some(b) = t.bound {
            return Ok(b);
        }
        let ip = t.family.unspecified();
        let (reuse, v6only) = ((t.opts.reuseaddr, t.opts.reuseport), t.opts.v6only);
        let port = inner.bind_port(id, Proto::Tcp, ip, 0, reuse, v6only)?;
        let (t, _) = parts(inner, id)?;
        t.bound = Some((ip, port));
        Ok((ip, port))
    }

    /// listen(2). A second call only changes the backlog.
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        let backlog = usize::try_from(backlog).unwrap_or(0).clamp(1, MAX_BACKLOG);
        self.op(|inner, id| {
            {
                let (t, _) = parts(inner, id)?;
                match &mut t.mode {
                    Mode::Stream(_) => return Err(Errno::EINVAL),
                    Mode::Listen(l) => {
                        l.backlog = backlog;
                        return Ok(());
                    }
                    Mode::Idle => {}
                }
            }
            let (ip, port) = Self::autobind(inner, id)?;
            inner.set_listening(id)?;
            let locals = inner.local_addrs();
            let (t, _) = parts(inner, id)?;
            let one = |a: Option<IpAddr>| IpListenEndpoint {
                addr: a.map(IpAddress::from),
                port,
            };
            let eps = match (ip.is_unspecified(), t.family, t.opts.v6only) {
                (false, _, _) => vec![one(Some(ip))],
                (true, Family::V6, false) => vec![one(None)],
                (true, fam, _) => locals
                    .into_iter()
                    .filter(|a| a.is_ipv4() == (fam == Family::V4))
                    .map(|a| one(Some(a)))
                    .collect(),
            };
            t.mode = Mode::Listen(Listener {
                eps,
                pool: Vec::new(),
                ready: VecDeque::new(),
                backlog,
            });
            // The pool is filled by the poll that follows.
            Ok(())
        })
    }

    /// accept(2): the oldest established connection and its peer address; `EAGAIN` if none,
    /// `EINVAL` if not listening.
    pub fn accept(&self) -> Result<(TcpSocket, SocketAddr), Errno> {
        let (id, queue, peer) = self.op(|inner, id| {
            let (t, sockets) = parts(inner, id)?;
            let Mode::Listen(l) = &mut t.mode else {
                return Err(Errno::EINVAL);
            };
            let h = l.ready.pop_front().ok_or(Errno::EAGAIN)?;
            let family = t.family;
            let mut opts = t.opts;
            opts.reuseaddr = false;
            opts.reuseport = false;
            let so = sock(sockets, h);
            let local = so.local_endpoint().map(|e| endpoint_addr(family, e));
            let peer = so.remote_endpoint().map(|e| endpoint_addr(family, e));
            let st = so.state();
            let child = TcpState {
                family,
                opts,
                bound: None,
                mode: Mode::Stream(Stream {
                    h,
                    established: true,
                    connect_reported: true,
                    last: st,
                    local,
                    peer,
                }),
                error: None,
                shut_rd: false,
                shut_wr: false,
            };
            let (cid, q) = inner.add_slot(Kind::Tcp(child));
            let peer = peer.unwrap_or_else(|| expose(family, family.unspecified(), 0));
            Ok((cid, q, peer))
        })?;
        Ok((
            TcpSocket {
                stack: self.stack.clone(),
                id,
                family: self.family,
                queue,
            },
            peer,
        ))
    }

    /// connect(2), non-blocking: the first call returns `EINPROGRESS`; later calls return
    /// `EALREADY` while the handshake runs, then 0 once (established) or the error (refused,
    /// reset), then `EISCONN`. A blocking connect is: call, wait for writable, call again.
    pub fn connect(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (t, sockets) = parts(inner, id)?;
            let (mut ip, port) = canon(t.family, addr, t.opts.v6only, false)?;
            match &mut t.mode {
                Mode::Listen(_) => return Err(Errno::EISCONN),
                Mode::Stream(s) => {
                    let st = sock(sockets, s.h).state();
                    if matches!(st, State::SynSent | State::SynReceived) {
                        return Err(Errno::EALREADY);
                    }
                    if let Some(e) = t.error.take() {
                        return Err(e);
                    }
                    if s.established {
                        if s.connect_reported {
                            return Err(Errno::EISCONN);
                        }
                        s.connect_reported = true;
                        return Ok(());
                    }
                    // A failed attempt whose error was already collected: try again.
                    let h = s.h;
                    sockets.remove(h);
                    t.mode = Mode::Idle;
                }
                Mode::Idle => {}
            }
            if ip.is_unspecified() {
                // Linux connects to the loopback address for the wildcard.
                ip = match ip {
                    IpAddr::V4(_) => Family::V4.loopback(),
                    IpAddr::V6(_) => Family::V6.loopback(),
                };
            }
            if port == 0 {
                return Err(Errno::ECONNREFUSED);
            }
            let (lip, lport) = Self::autobind(inner, id)?;
            let (t, _) = parts(inner, id)?;
            let opts = t.opts;
            let mut so = new_smol(&opts);
            let local = IpListenEndpoint {
                addr: (!lip.is_unspecified()).then(|| IpAddress::from(lip)),
                port: lport,
            };
            let remote = IpEndpoint::new(IpAddress::from(ip), port);
            let iface = inner.iface_for(ip).ok_or(Errno::ENETUNREACH)?;
            so.connect(iface.context(), remote, local)
                .map_err(|e| match e {
                    tcp::ConnectError::InvalidState => Errno::EISCONN,
                    tcp::ConnectError::Unaddressable => Errno::ENETUNREACH,
                })?;
            let h = inner.sockets.add(so);
            let (t, _) = parts(inner, id)?;
            t.error = None;
            t.mode = Mode::Stream(Stream {
                h,
                established: false,
                connect_reported: false,
                last: State::SynSent,
                local: None,
                peer: Some(expose(t.family, ip, port)),
            });
            Err(Errno::EINPROGRESS)
        })
    }

    /// connect(2) with AF_UNSPEC (tcp_disconnect): a connection is aborted (RST to the peer),
    /// a listener stops listening and drops its queue; the socket is unconnected again and
    /// keeps its bind (Linux gives back a port the stack picked: a shortcut).
    pub fn disconnect(&self) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (t, _) = parts(inner, id)?;
            let mode = std::mem::replace(&mut t.mode, Mode::Idle);
            t.error = None;
            t.shut_rd = false;
            t.shut_wr = false;
            let rebind = t.bound.map(|(ip, port)| {
                (
                    ip,
                    port,
                    (t.opts.reuseaddr, t.opts.reuseport),
                    t.opts.v6only,
                )
            });
            match mode {
                Mode::Idle => {}
                Mode::Stream(s) => {
                    sock(&mut inner.sockets, s.h).abort();
                    inner.orphans.push(s.h);
                }
                Mode::Listen(l) => {
                    for h in l.pool.into_iter().map(|(_, h)| h).chain(l.ready) {
                        sock(&mut inner.sockets, h).abort();
                        inner.orphans.push(h);
                    }
                    // The bind again, without the listening mark.
                    if let Some((ip, port, reuse, v6only)) = rebind {
                        inner.release(id);
                        inner.bind_port(id, Proto::Tcp, ip, port, reuse, v6only)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// send(2): bytes queued (maybe fewer than `buf.len()`), `EAGAIN` when the buffer is full,
    /// `EPIPE` after SHUT_WR or when the connection is gone (the sentry raises SIGPIPE).
    pub fn send(&self, buf: &[u8]) -> Result<usize, Errno> {
        let mut at = 0usize;
        self.send_with(buf.len(), &mut |dst| {
            let n = dst.len().min(buf.len() - at);
            dst[..n].copy_from_slice(&buf[at..at + n]);
            at += n;
            (n, None)
        })
    }

    /// send(2) without a bounce buffer: `fill` writes up to `len` bytes straight into the send
    /// buffer (it returns how many it wrote, and the fault that stopped it, if any). The same
    /// errors as [`TcpSocket::send`]; a fault before any byte is returned as the error.
    pub fn send_with(&self, len: usize, fill: &mut Fill<'_>) -> Result<usize, Errno> {
        self.op(|inner, id| {
            let (t, sockets) = parts(inner, id)?;
            if let Some(e) = t.error.take() {
                return Err(e);
            }
            if t.shut_wr {
                return Err(Errno::EPIPE);
            }
            let Mode::Stream(s) = &mut t.mode else {
                return Err(Errno::EPIPE);
            };
            let so = sock(sockets, s.h);
            match so.state() {
                State::SynSent | State::SynReceived => return Err(Errno::EAGAIN),
                _ if !so.may_send() => return Err(Errno::EPIPE),
                _ => {}
            }
            if len == 0 {
                return Ok(0);
            }
            let mut done = 0usize;
            let mut fault = None;
            // The free space may wrap around the ring: at most two contiguous pieces.
            for _ in 0..2 {
                let rest = len - done;
                let r = so.send(|buf| {
                    let want = buf.len().min(rest);
                    let (c, e) = fill(buf.get_mut(..want).unwrap_or_default());
                    let c = c.min(want);
                    fault = e;
                    (c, (c, want))
                });
                match r {
                    Ok((c, want)) => {
                        done += c;
                        if c < want || c == 0 || fault.is_some() || done >= len {
                            break;
                        }
                    }
                    Err(_) if done > 0 => break,
                    Err(_) => return Err(Errno::EPIPE),
                }
            }
            match (done, fault) {
                (0, Some(e)) => Err(e),
                (0, None) => Err(Errno::EAGAIN),
                (n, _) => Ok(n),
            }
        })
    }

    /// recv(2) without a bounce buffer: `sink` is given the queued bytes (up to `len`) to
    /// copy out and returns how many it took, and the fault that stopped it, if any; those
    /// are consumed. Otherwise as [`TcpSocket::recv`] without peeking; a fault before any
    /// byte is returned as the error.
    pub fn recv_with(&self, len: usize, sink: &mut Drain<'_>) -> Result<usize, Errno> {
        self.op(|inner, id| {
            let (t, sockets) = parts(inner, id)?;
            let Mode::Stream(s) = &mut t.mode else {
                return Err(Errno::ENOTCONN);
            };
            let so = sock(sockets, s.h);
            if so.recv_queue() > 0 && len > 0 {
                let mut done = 0usize;
                let mut fault = None;
                for _ in 0..2 {
                    let rest = len - done;
                    let r = so.recv(|buf| {
                        let want = buf.len().min(rest);
                        let (c, e) = sink(buf.get(..want).unwrap_or_default());
                        let c = c.min(want);
                        fault = e;
                        (c, (c, want))
                    });
                    match r {
                        Ok((c, want)) => {
                            done += c;
                            if c < want
                                || c == 0
                                || fault.is_some()
                                || done >= len
                                || so.recv_queue() == 0
                            {
                                break;
                            }
                        }
                        // After a first piece, an empty (finished) buffer ends the copy.
                        Err(_) if done > 0 => break,
                        Err(_) => return Err(Errno::ENOTCONN),
                    }
                }
                return match (done, fault) {
                    (0, Some(e)) => Err(e),
                    (n, _) => Ok(n),
                };
            }
            let st = so.state();
            nothing_queued(&mut t.error, t.shut_rd, st, len == 0)
        })
    }

    /// recv(2) (MSG_PEEK with `peek`): 0 at end of stream, `EAGAIN` when nothing is queued,
    /// `ENOTCONN` when not connected, a pending error (ECONNRESET) once.
    pub fn recv(&self, buf: &mut [u8], peek: bool) -> Result<usize, Errno> {
        if !peek {
            let mut at = 0usize;
            return self.recv_with(buf.len(), &mut |src| {
                let n = src.len().min(buf.len() - at);
                buf[at..at + n].copy_from_slice(&src[..n]);
                at += n;
                (n, None)
            });
        }
        self.op(|inner, id| {
            let (t, sockets) = parts(inner, id)?;
            let Mode::Stream(s) = &mut t.mode else {
                return Err(Errno::ENOTCONN);
            };
            let so = sock(sockets, s.h);
            if so.recv_queue() > 0 && !buf.is_empty() {
                return so.peek_slice(buf).map_err(|_| Errno::ENOTCONN);
            }
            let st = so.state();
            nothing_queued(&mut t.error, t.shut_rd, st, buf.is_empty())
        })
    }

    /// shutdown(2). SHUT_WR sends FIN once the queued data is out.
    pub fn shutdown(&self, how: Shutdown) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (t, sockets) = parts(inner, id)?;
            let s = match &mut t.mode {
                Mode::Stream(s) => s,
                // Linux's inet_shutdown: SHUT_WR alone leaves a listener as it is.
                Mode::Listen(_) if how == Shutdown::Write => return Ok(()),
                _ => return Err(Errno::ENOTCONN),
            };
            let so = sock(sockets, s.h);
            if matches!(so.state(), State::SynSent | State::Closed) && !s.established {
                return Err(Errno::ENOTCONN);
            }
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                t.shut_rd = true;
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) {
                t.shut_wr = true;
                so.close();
                s.last = so.state();
            }
            Ok(())
        })
    }

    /// getsockname(2).
    pub fn local_addr(&self) -> SocketAddr {
        self.query(|t, sockets| {
            let unbound = expose(t.family, t.family.unspecified(), 0);
            match &t.mode {
                Mode::Stream(s) => s
                    .local
                    .or_else(|| {
                        sock(sockets, s.h)
                            .local_endpoint()
                            .map(|e| endpoint_addr(t.family, e))
                    })
                    .or(t.bound.map(|(ip, p)| expose(t.family, ip, p)))
                    .unwrap_or(unbound),
                _ => t
                    .bound
                    .map(|(ip, p)| expose(t.family, ip, p))
                    .unwrap_or(unbound),
            }
        })
        .unwrap_or_else(|| expose(self.family, self.family.unspecified(), 0))
    }

    /// getpeername(2): `ENOTCONN` unless connected.
    pub fn peer_addr(&self) -> Result<SocketAddr, Errno> {
        self.query(|t, sockets| match &t.mode {
            Mode::Stream(s) if s.established => {
                let so = sock(sockets, s.h);
                if so.state() == State::Closed {
                    Err(Errno::ENOTCONN)
                } else {
                    s.peer.ok_or(Errno::ENOTCONN)
                }
            }
            _ => Err(Errno::ENOTCONN),
        })
        .unwrap_or(Err(Errno::ENOTCONN))
    }

    /// SO_ERROR: takes the pending error.
    pub fn take_error(&self) -> Option<Errno> {
        self.op(|inner, id| Ok(parts(inner, id)?.0.error.take()))
            .ok()
            .flatten()
    }

    /// The current readiness.
    pub fn readiness(&self) -> Readiness {
        self.query(|t, s| t.readiness(s)).unwrap_or_default()
    }

    /// FIONREAD: bytes queued for reading.
    pub fn recv_queued(&self) -> usize {
        self.query(|t, s| match &t.mode {
            Mode::Stream(st) => sock(s, st.h).recv_queue(),
            _ => 0,
        })
        .unwrap_or(0)
    }

    /// SIOCOUTQ: bytes queued for sending (not yet acknowledged).
    pub fn send_queued(&self) -> usize {
        self.query(|t, s| match &t.mode {
            Mode::Stream(st) => sock(s, st.h).send_queue(),
            _ => 0,
        })
        .unwrap_or(0)
    }

    fn set_opt(&self, f: impl FnOnce(&mut Opts)) {
        let _ = self.op(|inner, id| {
            let (t, sockets) = parts(inner, id)?;
            f(&mut t.opts);
            if let Mode::Stream(s) = &t.mode {
                apply(sock(sockets, s.h), &t.opts);
            }
            Ok(())
        });
    }

    fn get_opt<R: Default>(&self, f: impl FnOnce(&Opts) -> R) -> R {
        self.query(|t, _| f(&t.opts)).unwrap_or_default()
    }

    /// TCP_NODELAY.
    pub fn set_nodelay(&self, on: bool) {
        self.set_opt(|o| o.nodelay = on);
    }

    /// TCP_NODELAY.
    pub fn nodelay(&self) -> bool {
        self.get_opt(|o| o.nodelay)
    }

    /// SO_KEEPALIVE.
    pub fn set_keepalive(&self, on: bool) {
        self.set_opt(|o| o.keepalive = on);
    }

    /// SO_KEEPALIVE.
    pub fn keepalive(&self) -> bool {
        self.get_opt(|o| o.keepalive)
    }

    /// SO_REUSEADDR (takes effect at the next bind).
    pub fn set_reuseaddr(&self, on: bool) {
        self.set_opt(|o| o.reuseaddr = on);
    }

    /// SO_REUSEADDR.
    pub fn reuseaddr(&self) -> bool {
        self.get_opt(|o| o.reuseaddr)
    }

    /// IPV6_V6ONLY; `EINVAL` once bound (as Linux) or on an AF_INET socket (Linux:
    /// ENOPROTOOPT, answered by the sentry before it gets here).
    pub fn set_v6only(&self, on: bool) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (t, _) = parts(inner, id)?;
            if t.family != Family::V6 || t.bound.is_some() {
                return Err(Errno::EINVAL);
            }
            t.opts.v6only = on;
            Ok(())
        })
    }

    /// IPV6_V6ONLY.
    pub fn v6only(&self) -> bool {
        self.get_opt(|o| o.v6only)
    }

    /// SO_RCVBUF: Linux doubles the value and clamps it; the result is the buffer size of
    /// connections made after the call (see the crate doc).
    pub fn set_recv_buffer_size(&self, n: usize) {
        self.set_opt(|o| o.rcvbuf = n.saturating_mul(2).clamp(MIN_BUF, MAX_BUF));
    }

    /// SO_RCVBUF as getsockopt reports it.
    pub fn recv_buffer_size(&self) -> usize {
        self.get_opt(|o| o.rcvbuf)
    }

    /// SO_SNDBUF (as [`TcpSocket::set_recv_buffer_size`]).
    pub fn set_send_buffer_size(&self, n: usize) {
        self.set_opt(|o| o.sndbuf = n.saturating_mul(2).clamp(MIN_BUF, MAX_BUF));
    }

    /// SO_SNDBUF as getsockopt reports it.
    pub fn send_buffer_size(&self) -> usize {
        self.get_opt(|o| o.sndbuf)
    }

    /// SO_REUSEPORT (takes effect at the next bind).
    pub fn set_reuseport(&self, on: bool) {
        self.set_opt(|o| o.reuseport = on);
    }

    /// SO_REUSEPORT.
    pub fn reuseport(&self) -> bool {
        self.get_opt(|o| o.reuseport)
    }

    /// TCP_KEEPIDLE (seconds; the caller checks the range): the keep-alive interval smoltcp
    /// uses.
    pub fn set_keepidle(&self, secs: u32) {
        self.set_opt(|o| o.keepidle = secs);
    }

    /// TCP_KEEPIDLE.
    pub fn keepidle(&self) -> u32 {
        self.get_opt(|o| o.keepidle)
    }

    /// TCP_KEEPINTVL (stored: smoltcp probes at one interval).
    pub fn set_keepintvl(&self, secs: u32) {
        self.set_opt(|o| o.keepintvl = secs);
    }

    /// TCP_KEEPINTVL.
    pub fn keepintvl(&self) -> u32 {
        self.get_opt(|o| o.keepintvl)
    }

    /// TCP_KEEPCNT (stored: smoltcp never gives up on a silent peer).
    pub fn set_keepcnt(&self, n: u32) {
        self.set_opt(|o| o.keepcnt = n);
    }

    /// TCP_KEEPCNT.
    pub fn keepcnt(&self) -> u32 {
        self.get_opt(|o| o.keepcnt)
    }

    /// SO_LINGER: `Some(0)` makes the close abortive (RST); other times are stored (the close
    /// does not wait for the data to drain).
    pub fn set_linger(&self, secs: Option<u32>) {
        self.set_opt(|o| o.linger = secs);
    }

    /// SO_LINGER.
    pub fn linger(&self) -> Option<u32> {
        self.get_opt(|o| o.linger)
    }

    /// SO_ACCEPTCONN: whether the socket listens.
    pub fn is_listening(&self) -> bool {
        self.query(|t, _| matches!(t.mode, Mode::Listen(_)))
            .unwrap_or(false)
    }

    /// What TCP_INFO and TCP_MAXSEG report.
    pub fn info(&self) -> TcpInfo {
        self.query(|t, sockets| {
            let rcvbuf = t.opts.rcvbuf;
            match &t.mode {
                Mode::Idle => TcpInfo {
                    state: 7,
                    rcvbuf,
                    ..TcpInfo::default()
                },
                Mode::Listen(l) => TcpInfo {
                    state: 10,
                    recv_queued: l.ready.len(),
                    rcvbuf,
                    ..TcpInfo::default()
                },
                Mode::Stream(s) => {
                    let so = sock(sockets, s.h);
                    let v4 = so
                        .remote_endpoint()
                        .is_some_and(|e| matches!(e.addr, IpAddress::Ipv4(_)));
                    TcpInfo {
                        state: linux_state(so.state()),
                        mss: if !s.established {
                            0
                        } else if v4 {
                            MSS_V4
                        } else {
                            MSS_V6
                        },
                        unacked: so.send_queue(),
                        recv_queued: so.recv_queue(),
                        rcvbuf,
                    }
                }
            }
        })
        .unwrap_or_default()
    }

    /// TCP_MAXSEG: the connection's MSS, Linux's default (536) before one.
    pub fn maxseg(&self) -> u32 {
        match self.info().mss {
            0 => MSS_DEFAULT,
            m => m,
        }
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        self.stack.with(|inner| {
            inner.release(self.id);
            let Some(slot) = inner.slots.remove(&self.id) else {
                return;
            };
            let Kind::Tcp(t) = slot.kind else { return };
            match t.mode {
                Mode::Idle => {}
                Mode::Stream(s) => {
                    let so = sock(&mut inner.sockets, s.h);
                    // Unread data or SO_LINGER with a zero time: abortive close with RST, as
                    // Linux.
                    if so.recv_queue() > 0 || t.opts.linger == Some(0) {
                        so.abort();
                    } else {
                        so.close();
                        so.set_timeout(Some(ORPHAN_TIMEOUT.into()));
                    }
                    inner.orphans.push(s.h);
                }
                Mode::Listen(l) => {
                    for h in l.pool.into_iter().map(|(_, h)| h).chain(l.ready) {
                        sock(&mut inner.sockets, h).abort();
                        inner.orphans.push(h);
                    }
                }
            }
        });
    }
}
