//! AF_UNIX sockets (unix(7)): stream, datagram and sequenced-packet endpoints, listeners and
//! the name registry. Every operation here is non-blocking (EAGAIN); the syscall layer sleeps.
//!
//! An [`Endpoint`] owns its receive queue: a sender locks the *receiver's* state and appends a
//! [`Message`] (bytes, passed files, the sender's credentials and name). A stream receive reads
//! across messages, but never past one that carries files (so the files arrive with the bytes
//! they were sent with); datagram and seqpacket receives take one message, truncating it.
//!
//! Connected peers hold `Weak` references to each other; the file description holds the only
//! strong one (or a listener's backlog, before accept). When an endpoint goes away its `Drop`
//! shuts the peer down in both directions (EOF for its reads, EPIPE for its writes) and removes
//! its registry entry. `shutdown(2)` on a connected stream or seqpacket socket mirrors the
//! flags onto the peer, as Linux does: SHUT_WR here is "no more reads" there.
//!
//! Flow control: a send may queue at most the sender's SO_SNDBUF bytes at the receiver (a
//! stream send is then partial, a message send waits); a datagram receiver also takes at most
//! `MAX_DGRAM_QLEN` messages from senders other than its own connected peer
//! (net.unix.max_dgram_qlen). This bounds what a guest can make the sentry buffer.
//!
//! Lock order: see the module doc of `socket`: one endpoint state at a time; `REGISTRY` alone.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use abi::file::{O_RDWR, Stat};
use abi::socket::{self as s, Ucred};
use abi::{Errno, SysResult};
use vfs::waiter::{EventMask, WaitQueue};
use vfs::{FileOps, OpenFile};

/// Default SO_SNDBUF/SO_RCVBUF as Linux reports it (net.core.wmem_default, 212992).
pub const DEFAULT_BUF: usize = 212_992;
/// net.core.wmem_max / rmem_max: the largest value setsockopt accepts (before doubling).
const MAX_BUF: usize = 212_992;
/// SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF (include/net/sock.h) on x86-64.
const MIN_SNDBUF: usize = 4608;
const MIN_RCVBUF: usize = 2304;
/// net.unix.max_dgram_qlen default.
const MAX_DGRAM_QLEN: usize = 10;
/// net.core.somaxconn default: listen(2) backlogs are capped here.
const SOMAXCONN: usize = 4096;
/// What each queued message costs in flow control besides its bytes (Linux charges an skb's
/// truesize), so that empty or tiny messages cannot queue without bound.
const MSG_OVERHEAD: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The three socket types unix(7) supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    Stream,
    Dgram,
    SeqPacket,
}

impl SockType {
    /// The type part of socket(2)'s `type`. unix_create: SOCK_RAW is treated as SOCK_DGRAM.
    pub fn from_raw(t: i32) -> Option<SockType> {
        match t {
            s::SOCK_STREAM => Some(SockType::Stream),
            s::SOCK_DGRAM | 3 => Some(SockType::Dgram),
            s::SOCK_SEQPACKET => Some(SockType::SeqPacket),
            _ => None,
        }
    }

    /// The SO_TYPE value.
    pub fn raw(self) -> i32 {
        match self {
            SockType::Stream => s::SOCK_STREAM,
            SockType::Dgram => s::SOCK_DGRAM,
            SockType::SeqPacket => s::SOCK_SEQPACKET,
        }
    }

    /// Stream and seqpacket sockets connect to a listener; datagram sockets do not.
    pub fn is_connection_oriented(self) -> bool {
        self != SockType::Dgram
    }
}

/// A socket's address as getsockname(2) reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// Not bound (reported as just the family, length 2).
    Unnamed,
    /// An abstract name: `sun_path[0]` is NUL, the rest (exactly the given length) is the name.
    Abstract(Vec<u8>),
    /// A filesystem path, as given to bind(2) (without the terminating NUL).
    Path(Vec<u8>),
}

impl UnixAddr {
    /// Decodes a `sockaddr_un` of `bytes.len()` bytes (already checked to be at least the
    /// family and at most `sizeof(struct sockaddr_un)`). The family is checked by the caller.
    pub fn from_sockaddr(bytes: &[u8]) -> UnixAddr {
        let path = bytes.get(s::SUN_PATH_OFFSET..).unwrap_or_default();
        match path.split_first() {
            None => UnixAddr::Unnamed,
            Some((0, name)) => UnixAddr::Abstract(name.to_vec()),
            Some(_) => {
                let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
                UnixAddr::Path(path.get(..end).unwrap_or_default().to_vec())
            }
        }
    }

    /// The `sockaddr_un` bytes, with the length Linux reports: the family alone when unnamed,
    /// family + NUL + name for an abstract name, family + path + NUL for a path.
    pub fn to_sockaddr(&self) -> Vec<u8> {
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let mut v = (s::AF_UNIX as u16).to_ne_bytes().to_vec();
        match self {
            UnixAddr::Unnamed => {}
            UnixAddr::Abstract(n) => {
                v.push(0);
                v.extend_from_slice(n);
            }
            UnixAddr::Path(p) => {
                v.extend_from_slice(p);
                v.push(0);
            }
        }
        v
    }
}

/// Which way a blocking operation moves data (which timeout applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Receive,
    Send,
}

/// The SO_RCVTIMEO/SO_SNDTIMEO of `file` for a wait on `mask` (IN: receive, else send), if
/// it is a unix socket with one set: the generic read/write blocking loop asks this.
pub fn block_timeout(file: &OpenFile, mask: EventMask) -> Option<Duration> {
    let sock = file.ops_any()?.downcast_ref::<UnixSocketFile>()?;
    let dir = if mask.contains(EventMask::IN) {
        Direction::Receive
    } else {
        Direction::Send
    };
    sock.ep.timeout(dir)
}

/// The registry key of a bound name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NameKey {
    Abstract(Vec<u8>),
    /// The socket inode bind(2) created, by device and inode number.
    Inode {
        dev: u64,
        ino: u64,
    },
}

/// Bound names → endpoints. Entries are removed when their endpoint is dropped.
static REGISTRY: LazyLock<Mutex<HashMap<NameKey, Weak<Endpoint>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The endpoint bound to `key`, if it is still alive.
pub fn lookup(key: &NameKey) -> Option<Arc<Endpoint>> {
    lock(&REGISTRY).get(key).and_then(Weak::upgrade)
}

/// One queued message.
#[derive(Debug)]
struct Message {
    data: Vec<u8>,
    /// Bytes of `data` a stream reader has already consumed.
    off: usize,
    rights: Vec<Arc<OpenFile>>,
    cred: Ucred,
    from: UnixAddr,
    /// Who sent it: woken (OUT) when the message is consumed, since the room it took was
    /// the sender's to wait for (a datagram sender may not be our peer).
    sender: Weak<Endpoint>,
}

impl Message {
    fn remaining(&self) -> &[u8] {
        self.data.get(self.off..).unwrap_or_default()
    }
}

#[derive(Debug)]
enum Conn {
    Unconnected,
    Listening {
        backlog: VecDeque<Arc<Endpoint>>,
        max: usize,
        /// The credentials of the listen(2) caller: what a connecting client sees as
        /// SO_PEERCRED.
        cred: Ucred,
    },
    Connected,
}

#[derive(Debug)]
struct State {
    conn: Conn,
    /// The connected peer, or a datagram socket's default destination.
    peer: Option<Weak<Endpoint>>,
    recv: VecDeque<Message>,
    /// Unread data bytes in `recv` (FIONREAD).
    recv_bytes: usize,
    /// `recv_bytes` plus [`MSG_OVERHEAD`] per message: what senders' SO_SNDBUF bounds.
    charged: usize,
    /// No more data will arrive (our SHUT_RD, the peer's SHUT_WR, or the peer closed).
    rcv_shut: bool,
    /// Writes fail with EPIPE (our SHUT_WR, the peer's SHUT_RD, or the peer closed).
    snd_shut: bool,
    name: UnixAddr,
    key: Option<NameKey>,
    sndbuf: usize,
    rcvbuf: usize,
    passcred: bool,
    reuseaddr: bool,
    /// SO_RCVTIMEO / SO_SNDTIMEO: how long a blocking receive (and accept) / send (and
    /// connect) waits before EAGAIN; `None` forever.
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
    peer_cred: Option<Ucred>,
    /// The last file description was closed ([`Endpoint::release`]).
    closed: bool,
    /// The server side of a connection not yet accepted (unix_release_sock's "embrion").
    embryo: bool,
    /// A pending error (`sk_err`): ECONNRESET when the peer closed with unread data or before
    /// accepting. Reported once, by a receive that finds no data or by SO_ERROR.
    error: Option<Errno>,
}

/// Received data and what came with it.
#[derive(Debug, Default)]
pub struct Received {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// The full length of the (first) message: larger than `len` when it was truncated.
    pub msg_len: usize,
    pub rights: Vec<Arc<OpenFile>>,
    pub cred: Option<Ucred>,
    pub from: Option<UnixAddr>,
}

/// One AF_UNIX socket.
#[derive(Debug)]
pub struct Endpoint {
    kind: SockType,
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
    /// The creator's credentials: what write(2) (which has no task) stamps on messages.
    owner: Ucred,
}

impl Endpoint {
    /// A new unconnected, unbound socket.
    pub fn new(kind: SockType, owner: Ucred) -> Arc<Endpoint> {
        static NEXT_INO: AtomicU64 = AtomicU64::new(20_000);
        Arc::new(Endpoint {
            kind,
            state: Mutex::new(State {
                conn: Conn::Unconnected,
                peer: None,
                recv: VecDeque::new(),
                recv_bytes: 0,
                charged: 0,
                rcv_shut: false,
                snd_shut: false,
                name: UnixAddr::Unnamed,
                key: None,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
                passcred: false,
                reuseaddr: false,
                rcvtimeo: None,
                sndtimeo: None,
                peer_cred: None,
                closed: false,
                embryo: false,
                error: None,
            }),
            queue: WaitQueue::new(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            owner,
        })
    }

    /// socketpair(2): two connected sockets, each seeing `cred` as its peer's.
    pub fn pair(kind: SockType, cred: Ucred) -> (Arc<Endpoint>, Arc<Endpoint>) {
        let a = Endpoint::new(kind, cred);
        let b = Endpoint::new(kind, cred);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut st = lock(&x.state);
            st.conn = Conn::Connected;
            st.peer = Some(Arc::downgrade(y));
            st.peer_cred = Some(cred);
        }
        (a, b)
    }

    pub fn kind(&self) -> SockType {
        self.kind
    }

    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    fn peer(&self) -> Option<Arc<Endpoint>> {
        lock(&self.state).peer.as_ref().and_then(Weak::upgrade)
    }

    /// The wait queue of the peer (a blocked sender also waits there: the peer's reads make
    /// room).
    pub fn peer_endpoint(&self) -> Option<Arc<Endpoint>> {
        self.peer()
    }

    pub fn name(&self) -> UnixAddr {
        lock(&self.state).name.clone()
    }

    /// getpeername(2): ENOTCONN without a live peer.
    pub fn peer_name(&self) -> SysResult<UnixAddr> {
        let peer = self.peer().ok_or(Errno::ENOTCONN)?;
        Ok(peer.name())
    }

    pub fn is_bound(&self) -> bool {
        lock(&self.state).name != UnixAddr::Unnamed
    }

    pub fn is_listening(&self) -> bool {
        matches!(lock(&self.state).conn, Conn::Listening { .. })
    }

    /// SO_PEERCRED: the peer's credentials from connect/listen time; Linux reports pid 0 and
    /// uid/gid -1 (overflow ids) for a socket that never connected.
    pub fn peer_cred(&self) -> Ucred {
        lock(&self.state).peer_cred.unwrap_or(Ucred {
            pid: 0,
            uid: u32::MAX,
            gid: u32::MAX,
        })
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&self) -> Option<Errno> {
        lock(&self.state).error.take()
    }

    pub fn sndbuf(&self) -> usize {
        lock(&self.state).sndbuf
    }

    pub fn rcvbuf(&self) -> usize {
        lock(&self.state).rcvbuf
    }

    /// SO_SNDBUF: Linux doubles the value (for bookkeeping overhead), capped at wmem_max.
    pub fn set_sndbuf(&self, v: i32) {
        let v = usize::try_from(v).unwrap_or(0).min(MAX_BUF);
        lock(&self.state).sndbuf = (v * 2).max(MIN_SNDBUF);
        self.queue.notify(EventMask::OUT | EventMask::WRNORM);
    }

    /// SO_RCVBUF: doubled, as SO_SNDBUF. Stored and reported; flow control uses SO_SNDBUF.
    pub fn set_rcvbuf(&self, v: i32) {
        let v = usize::try_from(v).unwrap_or(0).min(MAX_BUF);
        lock(&self.state).rcvbuf = (v * 2).max(MIN_RCVBUF);
    }

    pub fn passcred(&self) -> bool {
        lock(&self.state).passcred
    }

    pub fn set_passcred(&self, on: bool) {
        lock(&self.state).passcred = on;
    }

    /// SO_RCVTIMEO (`Direction::Receive`) or SO_SNDTIMEO.
    pub fn timeout(&self, dir: Direction) -> Option<Duration> {
        let st = lock(&self.state);
        match dir {
            Direction::Receive => st.rcvtimeo,
            Direction::Send => st.sndtimeo,
        }
    }

    pub fn set_timeout(&self, dir: Direction, t: Option<Duration>) {
        let mut st = lock(&self.state);
        match dir {
            Direction::Receive => st.rcvtimeo = t,
            Direction::Send => st.sndtimeo = t,
        }
    }

    pub fn reuseaddr(&self) -> bool {
        lock(&self.state).reuseaddr
    }

    pub fn set_reuseaddr(&self, on: bool) {
        lock(&self.state).reuseaddr = on;
    }

    /// bind(2) to `name` under `key`: EINVAL if already bound, EADDRINUSE if the key is taken.
    pub fn bind(self: &Arc<Self>, name: UnixAddr, key: NameKey) -> SysResult<()> {
        if self.is_bound() {
            return Err(Errno::EINVAL);
        }
        {
            let mut reg = lock(&REGISTRY);
            if reg.get(&key).is_some_and(|w| w.strong_count() > 0) {
                return Err(Errno::EADDRINUSE);
            }
            reg.insert(key.clone(), Arc::downgrade(self));
        }
        let mut st = lock(&self.state);
        st.name = name;
        st.key = Some(key);
        Ok(())
    }

    /// Autobind (bind(2) with only the family): a free abstract name of five hex digits, as
    /// unix_autobind picks.
    pub fn autobind(self: &Arc<Self>) -> SysResult<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        for _ in 0..0x10_0000 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed) & 0xf_ffff;
            let name = format!("{n:05x}").into_bytes();
            match self.bind(
                UnixAddr::Abstract(name.clone()),
                NameKey::Abstract(name.clone()),
            ) {
                Err(Errno::EADDRINUSE) => {}
                r => return r,
            }
        }
        Err(Errno::ENOSPC)
    }

    /// listen(2): stream and seqpacket only (EOPNOTSUPP), bound (EINVAL), not connected
    /// (EINVAL). Calling it again changes the backlog.
    pub fn listen(&self, backlog: i32, cred: Ucred) -> SysResult<()> {
        if !self.kind.is_connection_oriented() {
            return Err(Errno::EOPNOTSUPP);
        }
        // listen(2): a backlog above somaxconn is silently truncated (a negative one is taken
        // as unsigned by the kernel, hence also the maximum).
        let max = usize::try_from(backlog).unwrap_or(SOMAXCONN).min(SOMAXCONN);
        let mut st = lock(&self.state);
        if st.name == UnixAddr::Unnamed {
            return Err(Errno::EINVAL);
        }
        match &mut st.conn {
            Conn::Connected => return Err(Errno::EINVAL),
            Conn::Listening { max: m, .. } => *m = max,
            c @ Conn::Unconnected => {
                *c = Conn::Listening {
                    backlog: VecDeque::new(),
                    max,
                    cred,
                }
            }
        }
        self.queue.notify(EventMask::OUT | EventMask::WRNORM);
        Ok(())
    }

    /// connect(2) of a stream/seqpacket socket to `listener` (EAGAIN while its backlog is
    /// full), or a datagram socket's default destination.
    pub fn connect(self: &Arc<Self>, listener: &Arc<Endpoint>, cred: Ucred) -> SysResult<()> {
        if listener.kind != self.kind {
            return Err(Errno::EPROTOTYPE);
        }
        if !self.kind.is_connection_oriented() {
            // A datagram connect only picks the destination: SO_PEERCRED stays unset.
            lock(&self.state).peer = Some(Arc::downgrade(listener));
            return Ok(());
        }
        {
            let st = lock(&self.state);
            match st.conn {
                Conn::Connected => return Err(Errno::EISCONN),
                Conn::Listening { .. } => return Err(Errno::EINVAL),
                Conn::Unconnected => {}
            }
        }
        // The server side of the new connection, queued at the listener until accept(2).
        let server = Endpoint::new(self.kind, listener.owner);
        let (sndbuf, rcvbuf, name) = {
            let st = lock(&listener.state);
            (st.sndbuf, st.rcvbuf, st.name.clone())
        };
        {
            let mut st = lock(&server.state);
            st.conn = Conn::Connected;
            st.peer = Some(Arc::downgrade(self));
            st.peer_cred = Some(cred);
            st.name = name;
            st.sndbuf = sndbuf;
            st.rcvbuf = rcvbuf;
            st.embryo = true;
        }
        let queued = {
            let mut st = lock(&listener.state);
            match &mut st.conn {
                Conn::Listening { backlog, max, cred } => {
                    // unix_recvq_full: the queue is full once it holds more than the backlog.
                    if backlog.len() > *max {
                        Err(Errno::EAGAIN)
                    } else {
                        backlog.push_back(Arc::clone(&server));
                        listener.queue.notify(EventMask::IN | EventMask::RDNORM);
                        Ok(*cred)
                    }
                }
                _ => Err(Errno::ECONNREFUSED),
            }
        };
        let listen_cred = match queued {
            Ok(c) => c,
            Err(e) => {
                // The unqueued server side must not reset this socket when it is dropped.
                lock(&server.state).peer = None;
                return Err(e);
            }
        };
        let mut st = lock(&self.state);
        st.conn = Conn::Connected;
        st.peer = Some(Arc::downgrade(&server));
        st.peer_cred = Some(listen_cred);
        drop(st);
        self.queue.notify(EventMask::OUT | EventMask::WRNORM);
        Ok(())
    }

    /// connect(2) with AF_UNSPEC on a datagram socket: forget the default destination.
    pub fn disconnect(&self) {
        let mut st = lock(&self.state);
        st.peer = None;
        st.peer_cred = None;
    }

    /// accept(2): the oldest pending connection (EAGAIN if none; EINVAL if not listening).
    pub fn accept(&self) -> SysResult<Arc<Endpoint>> {
        let mut st = lock(&self.state);
        let Conn::Listening { backlog, .. } = &mut st.conn else {
            return Err(Errno::EINVAL);
        };
        let ep = backlog.pop_front().ok_or(Errno::EAGAIN)?;
        drop(st);
        lock(&ep.state).embryo = false;
        // A connect(2) waiting for room in the backlog may go on.
        self.queue.notify(EventMask::OUT | EventMask::WRNORM);
        Ok(ep)
    }

    /// Sends one message (`to` for an unconnected datagram socket). Stream sends may be
    /// partial; message sends are whole or EAGAIN. Errors as unix(7)/Linux: ENOTCONN,
    /// EISCONN/EOPNOTSUPP (an address on a connection-oriented socket), EPIPE (shut down or
    /// the peer closed), ECONNREFUSED (a datagram peer that went away), EMSGSIZE.
    pub fn send(
        self: &Arc<Self>,
        data: &[u8],
        rights: &[Arc<OpenFile>],
        cred: Ucred,
        to: Option<Arc<Endpoint>>,
    ) -> SysResult<usize> {
        let (target, sndbuf, from) = {
            let st = lock(&self.state);
            if self.kind.is_connection_oriented() {
                if to.is_some() {
                    return Err(if matches!(st.conn, Conn::Connected) {
                        Errno::EISCONN
                    } else {
                        Errno::EOPNOTSUPP
                    });
                }
                if st.snd_shut {
                    return Err(Errno::EPIPE);
                }
                if !matches!(st.conn, Conn::Connected) {
                    return Err(Errno::ENOTCONN);
                }
            } else if st.snd_shut {
                return Err(Errno::EPIPE);
            }
            let target = match to {
                Some(t) => t,
                None => match &st.peer {
                    None => return Err(Errno::ENOTCONN),
                    Some(w) => match w.upgrade() {
                        Some(p) => p,
                        None if self.kind.is_connection_oriented() => return Err(Errno::EPIPE),
                        None => return Err(Errno::ECONNREFUSED),
                    },
                },
            };
            (target, st.sndbuf, st.name.clone())
        };
        if target.kind != self.kind {
            return Err(Errno::EPROTOTYPE);
        }
        if self.kind != SockType::Stream && data.len() > sndbuf {
            return Err(Errno::EMSGSIZE);
        }
        if self.kind == SockType::Stream && data.is_empty() {
            return Ok(0);
        }
        let mut st = lock(&target.state);
        if st.closed && self.kind == SockType::Dgram {
            return Err(Errno::ECONNREFUSED);
        }
        if st.rcv_shut {
            return Err(Errno::EPIPE);
        }
        if matches!(st.conn, Conn::Listening { .. }) {
            return Err(Errno::ECONNREFUSED);
        }
        let me = Arc::as_ptr(self);
        let n = match self.kind {
            SockType::Stream => {
                // Append to the last message when nothing tells them apart (no files, the
                // same sender and credentials), as Linux fills the tail skb.
                let tail = st.recv.back().filter(|m| {
                    rights.is_empty()
                        && m.rights.is_empty()
                        && m.cred == cred
                        && std::ptr::eq(m.sender.as_ptr(), me)
                });
                let cost = if tail.is_some() { 0 } else { MSG_OVERHEAD };
                let room = sndbuf.saturating_sub(st.charged.saturating_add(cost));
                if room == 0 {
                    return Err(Errno::EAGAIN);
                }
                let n = data.len().min(room);
                if tail.is_some()
                    && let Some(m) = st.recv.back_mut()
                {
                    m.data.extend_from_slice(data.get(..n).unwrap_or_default());
                    st.recv_bytes += n;
                    st.charged += n;
                    target.queue.notify(EventMask::IN | EventMask::RDNORM);
                    return Ok(n);
                }
                n
            }
            SockType::Dgram | SockType::SeqPacket => {
                let from_peer = st
                    .peer
                    .as_ref()
                    .is_some_and(|w| std::ptr::eq(w.as_ptr(), me));
                let over_bytes = !st.recv.is_empty()
                    && st.charged.saturating_add(data.len() + MSG_OVERHEAD) > sndbuf;
                let over_count =
                    self.kind == SockType::Dgram && !from_peer && st.recv.len() >= MAX_DGRAM_QLEN;
                if over_bytes || over_count {
                    return Err(Errno::EAGAIN);
                }
                data.len()
            }
        };
        st.recv.push_back(Message {
            data: data.get(..n).unwrap_or_default().to_vec(),
            off: 0,
            rights: rights.to_vec(),
            cred,
            from,
            sender: Arc::downgrade(self),
        });
        st.recv_bytes += n;
        st.charged += n + MSG_OVERHEAD;
        target.queue.notify(EventMask::IN | EventMask::RDNORM);
        Ok(n)
    }

    /// Receives into `buf` (MSG_PEEK: leaves the data queued). EAGAIN when nothing is queued
    /// and more may come; `len` 0 at end of stream. EINVAL on a listening or unconnected
    /// connection-oriented socket.
    pub fn recv(&self, buf: &mut [u8], peek: bool) -> SysResult<Received> {
        let mut st = lock(&self.state);
        if self.kind.is_connection_oriented() && !matches!(st.conn, Conn::Connected) {
            return Err(Errno::EINVAL);
        }
        if st.recv.is_empty() {
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            return if st.rcv_shut {
                Ok(Received::default())
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let mut out = Received::default();
        let mut senders: Vec<Weak<Endpoint>> = Vec::new();
        if self.kind == SockType::Stream {
            // unix_stream_read_generic: bytes are read across messages; a message carrying
            // files is the last one read (its files come with this call), and with
            // SO_PASSCRED messages from different senders are not glued together. `i`
            // indexes the message being read (it moves only when peeking: a consumed message
            // is popped).
            let passcred = st.passcred;
            let mut i = 0usize;
            while out.len < buf.len() {
                let Some(m) = st.recv.get_mut(i) else { break };
                match out.cred {
                    None => {
                        out.cred = Some(m.cred);
                        out.from = Some(m.from.clone());
                    }
                    Some(c) if passcred && c != m.cred => break,
                    Some(_) => {}
                }
                let src = m.remaining();
                let k = src.len().min(buf.len() - out.len);
                if let (Some(d), Some(sr)) = (buf.get_mut(out.len..out.len + k), src.get(..k)) {
                    d.copy_from_slice(sr);
                }
                out.len += k;
                let has_rights = !m.rights.is_empty();
                if has_rights {
                    out.rights = if peek {
                        m.rights.clone()
                    } else {
                        std::mem::take(&mut m.rights)
                    };
                }
                if peek {
                    i += 1;
                } else {
                    m.off += k;
                    let finished = m.off >= m.data.len();
                    st.recv_bytes = st.recv_bytes.saturating_sub(k);
                    st.charged = st.charged.saturating_sub(k);
                    if finished && let Some(done) = st.recv.pop_front() {
                        st.charged = st.charged.saturating_sub(MSG_OVERHEAD);
                        senders.push(done.sender);
                    }
                }
                if has_rights {
                    break;
                }
            }
            out.msg_len = out.len;
        } else {
            let Some(m) = st.recv.front() else {
                return Err(Errno::EAGAIN);
            };
            let k = m.data.len().min(buf.len());
            if let (Some(d), Some(sr)) = (buf.get_mut(..k), m.data.get(..k)) {
                d.copy_from_slice(sr);
            }
            out.len = k;
            out.msg_len = m.data.len();
            out.cred = Some(m.cred);
            out.from = Some(m.from.clone());
            out.rights.clone_from(&m.rights);
            if !peek && let Some(m) = st.recv.pop_front() {
                st.recv_bytes = st.recv_bytes.saturating_sub(m.data.len());
                st.charged = st.charged.saturating_sub(m.data.len() + MSG_OVERHEAD);
                out.rights = m.rights;
                senders.push(m.sender);
            }
        }
        let peer = st.peer.as_ref().and_then(Weak::upgrade);
        drop(st);
        if !peek {
            // Room was made: wake senders (the peer waits on its own queue, other datagram
            // senders on ours).
            self.queue.notify(EventMask::OUT | EventMask::WRNORM);
            if let Some(p) = peer {
                p.queue.notify(EventMask::OUT | EventMask::WRNORM);
            }
            for w in senders {
                if let Some(snd) = w.upgrade() {
                    snd.queue.notify(EventMask::OUT | EventMask::WRNORM);
                }
            }
        }
        Ok(out)
    }

    /// shutdown(2). On a connected stream or seqpacket socket the peer sees the mirror image.
    pub fn shutdown(&self, rd: bool, wr: bool) {
        let peer = {
            // unix_shutdown: no state check, an unconnected socket just records the flags.
            let mut st = lock(&self.state);
            st.rcv_shut |= rd;
            st.snd_shut |= wr;
            st.peer.as_ref().and_then(Weak::upgrade)
        };
        self.queue.notify(EventMask::all());
        if let Some(p) = peer.filter(|_| self.kind.is_connection_oriented()) {
            let mut st = lock(&p.state);
            st.rcv_shut |= wr;
            st.snd_shut |= rd;
            p.queue.notify(EventMask::all());
        }
    }

    /// Bytes (stream) or the size of the next message (datagram) a read would return
    /// (FIONREAD/SIOCINQ).
    pub fn readable_bytes(&self) -> usize {
        let st = lock(&self.state);
        match self.kind {
            SockType::Stream => st.recv_bytes,
            _ => st.recv.front().map_or(0, |m| m.data.len()),
        }
    }

    /// poll(2) readiness (unix_poll): IN with queued data or after the read side shut down,
    /// RDHUP after it shut down, HUP when both sides are shut (or a connection-oriented
    /// socket is not connected), OUT while the receiver has room.
    pub fn events(&self) -> EventMask {
        let (mut ev, peer, sndbuf) = {
            let st = lock(&self.state);
            let mut ev = EventMask::empty();
            if let Conn::Listening { backlog, .. } = &st.conn {
                if !backlog.is_empty() {
                    ev |= EventMask::IN | EventMask::RDNORM;
                }
                return ev;
            }
            if !st.recv.is_empty() {
                ev |= EventMask::IN | EventMask::RDNORM;
            }
            if st.error.is_some() {
                ev |= EventMask::ERR;
            }
            if st.rcv_shut {
                ev |= EventMask::IN | EventMask::RDNORM | EventMask::RDHUP;
            }
            if (st.rcv_shut && st.snd_shut)
                || (self.kind.is_connection_oriented() && !matches!(st.conn, Conn::Connected))
            {
                ev |= EventMask::HUP;
            }
            let peer = if st.snd_shut {
                None
            } else {
                st.peer.as_ref().and_then(Weak::upgrade)
            };
            (ev, peer, st.sndbuf)
        };
        let writable = match peer {
            None => true,
            Some(p) => {
                let st = lock(&p.state);
                st.charged.saturating_add(MSG_OVERHEAD) < sndbuf
                    && (self.kind != SockType::Dgram || st.recv.len() < MAX_DGRAM_QLEN)
            }
        };
        if writable {
            ev |= EventMask::OUT | EventMask::WRNORM;
        }
        ev
    }
}

impl Endpoint {
    /// The socket is closed: its last file description went away, or (for a connection that
    /// was never accepted) its listener's backlog dropped it. The peer is shut down both ways
    /// (EOF for its reads, EPIPE for its writes), a listener refuses connections from now on
    /// and drops its pending ones, queued messages (and the files they carry) are dropped,
    /// and the name is freed. This runs at close rather than at the endpoint's `Drop`, because
    /// a task blocked on this endpoint (a sender waiting for room, a connect waiting for the
    /// backlog) holds a reference, and it must see the close to wake up.
    pub fn release(&self) {
        let (key, peer, pending, queued, reset) = {
            let mut st = lock(&self.state);
            if st.closed {
                return;
            }
            st.closed = true;
            st.rcv_shut = true;
            st.snd_shut = true;
            let pending = match &mut st.conn {
                Conn::Listening { backlog, .. } => std::mem::take(backlog),
                _ => VecDeque::new(),
            };
            if matches!(st.conn, Conn::Listening { .. }) {
                st.conn = Conn::Unconnected;
            }
            st.recv_bytes = 0;
            st.charged = 0;
            let queued = std::mem::take(&mut st.recv);
            let peer = st.peer.as_ref().and_then(Weak::upgrade);
            // unix_release_sock: closing with unread data, or before being accepted, resets
            // the peer.
            let reset = !queued.is_empty() || st.embryo;
            (st.key.take(), peer, pending, queued, reset)
        };
        if let Some(key) = key {
            let mut reg = lock(&REGISTRY);
            let me: *const Endpoint = self;
            if reg
                .get(&key)
                .is_some_and(|w| w.strong_count() == 0 || std::ptr::eq(w.as_ptr(), me))
            {
                reg.remove(&key);
            }
        }
        // With no lock held: dropping these may release other sockets.
        drop(pending);
        drop(queued);
        if let Some(p) = peer.filter(|_| self.kind.is_connection_oriented()) {
            let mut ps = lock(&p.state);
            ps.rcv_shut = true;
            ps.snd_shut = true;
            if reset {
                ps.error = Some(Errno::ECONNRESET);
            }
            drop(ps);
            p.queue.notify(EventMask::all());
        }
        self.queue.notify(EventMask::all());
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.release();
    }
}

/// The FileOps of a socket file description.
#[derive(Debug)]
pub struct UnixSocketFile {
    pub ep: Arc<Endpoint>,
}

/// A socket file description over `ep` (O_RDWR, plus O_NONBLOCK if asked).
pub fn new_file(ep: Arc<Endpoint>, nonblock: bool) -> Arc<OpenFile> {
    let flags = O_RDWR | if nonblock { abi::file::O_NONBLOCK } else { 0 };
    OpenFile::new_ops(None, Box::new(UnixSocketFile { ep }), flags)
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        self.ep.release();
    }
}

impl FileOps for UnixSocketFile {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        // Files passed with the data are dropped (closed), as a read(2) on Linux does.
        self.ep.recv(buf, false).map(|r| r.len)
    }

    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        self.ep.send(buf, &[], self.ep.owner, None)
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(super::socket_stat(self.ep.ino))
    }

    fn ioctl(&self, mem: &dyn vfs::UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        if cmd == abi::ioctl::FIONREAD {
            let n = i32::try_from(self.ep.readable_bytes()).unwrap_or(i32::MAX);
            mem.copy_out(arg, &n.to_ne_bytes())?;
            return Ok(0);
        }
        // Interface requests work on a socket of any family (glibc's if_nametoindex asks an
        // AF_UNIX socket).
        super::netlink::netdev_ioctl(mem, cmd, arg, false).unwrap_or(Err(Errno::ENOTTY))
    }

    fn readiness(&self, mask: EventMask) -> EventMask {
        self.ep.events() & (mask | EventMask::ALWAYS)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.ep.queue)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRED: Ucred = Ucred {
        pid: 1,
        uid: 0,
        gid: 0,
    };

    #[test]
    fn stream_pair_round_trips_and_eof_after_close() {
        let (a, b) = Endpoint::pair(SockType::Stream, CRED);
        assert_eq!(a.send(b"hello", &[], CRED, None), Ok(5));
        let mut buf = [0u8; 3];
        assert_eq!(b.recv(&mut buf, false).map(|r| r.len), Ok(3));
        assert_eq!(&buf, b"hel");
        drop(a);
        assert_eq!(b.recv(&mut buf, false).map(|r| r.len), Ok(2));
        assert_eq!(b.recv(&mut buf, false).map(|r| r.len), Ok(0));
        assert_eq!(b.send(b"x", &[], CRED, None), Err(Errno::EPIPE));
    }

    #[test]
    fn dgram_keeps_boundaries_and_reports_truncation() {
        let (a, b) = Endpoint::pair(SockType::Dgram, CRED);
        assert_eq!(a.send(b"abcdef", &[], CRED, None), Ok(6));
        assert_eq!(a.send(b"xy", &[], CRED, None), Ok(2));
        let mut buf = [0u8; 4];
        let r = b.recv(&mut buf, false).unwrap_or_default();
        assert_eq!((r.len, r.msg_len), (4, 6));
        let r = b.recv(&mut buf, false).unwrap_or_default();
        assert_eq!((r.len, r.msg_len), (2, 2));
        assert_eq!(b.recv(&mut buf, false).map(|r| r.len), Err(Errno::EAGAIN));
    }

    #[test]
    fn stream_send_is_bounded_by_sndbuf() {
        let (a, _b) = Endpoint::pair(SockType::Stream, CRED);
        let big = vec![0u8; DEFAULT_BUF + 10];
        assert_eq!(
            a.send(&big, &[], CRED, None),
            Ok(DEFAULT_BUF - MSG_OVERHEAD)
        );
        assert_eq!(a.send(b"x", &[], CRED, None), Err(Errno::EAGAIN));
    }

    #[test]
    fn listener_backlog_holds_one_more_than_asked_then_eagain() {
        let l = Endpoint::new(SockType::Stream, CRED);
        let name = b"rvisor-unit-backlog".to_vec();
        assert_eq!(
            l.bind(
                UnixAddr::Abstract(name.clone()),
                NameKey::Abstract(name.clone())
            ),
            Ok(())
        );
        assert_eq!(l.listen(0, CRED), Ok(()));
        let c1 = Endpoint::new(SockType::Stream, CRED);
        let c2 = Endpoint::new(SockType::Stream, CRED);
        assert_eq!(c1.connect(&l, CRED), Ok(()));
        assert_eq!(c2.connect(&l, CRED), Err(Errno::EAGAIN));
        let s1 = l.accept();
        assert_eq!(s1.as_ref().map(|_| ()), Ok(()));
        assert_eq!(l.accept().map(|_| ()), Err(Errno::EAGAIN));
        // The refused attempt left c2 usable (its discarded server side did not reset it).
        assert_eq!(c2.connect(&l, CRED), Ok(()));
        assert_eq!(c2.send(b"x", &[], CRED, None), Ok(1));
        drop(l);
        // The listener's close resets the connection it had not accepted.
        let mut b = [0u8; 1];
        assert_eq!(
            c2.recv(&mut b, false).map(|r| r.len),
            Err(Errno::ECONNRESET)
        );
        assert_eq!(c2.recv(&mut b, false).map(|r| r.len), Ok(0));
        assert!(lookup(&NameKey::Abstract(name)).is_none());
    }

    #[test]
    fn empty_datagrams_cannot_queue_without_bound() {
        let (a, _b) = Endpoint::pair(SockType::Dgram, CRED);
        let mut sent = 0usize;
        while a.send(&[], &[], CRED, None) == Ok(0) {
            sent += 1;
            assert!(sent <= DEFAULT_BUF / MSG_OVERHEAD, "unbounded queue");
        }
        assert_eq!(a.send(&[], &[], CRED, None), Err(Errno::EAGAIN));
    }

    #[test]
    fn sockaddr_lengths_match_linux() {
        assert_eq!(UnixAddr::Unnamed.to_sockaddr().len(), 2);
        assert_eq!(UnixAddr::Abstract(b"ab".to_vec()).to_sockaddr().len(), 5);
        assert_eq!(UnixAddr::Path(b"/tmp/s".to_vec()).to_sockaddr().len(), 9);
        assert_eq!(
            UnixAddr::from_sockaddr(b"\x01\x00/tmp/s\0junk"),
            UnixAddr::Path(b"/tmp/s".to_vec())
        );
        assert_eq!(
            UnixAddr::from_sockaddr(b"\x01\x00\0ab"),
            UnixAddr::Abstract(b"ab".to_vec())
        );
    }
}
