//! UDP sockets over smoltcp's datagram sockets: bind (or autobind at first send/connect),
//! connect as a default peer and filter (AF_UNSPEC dissolves it), send_to/recv_from with peek
//! and full-length reporting. A connected socket also has a smoltcp ICMP socket bound to its
//! port, which hears the port-unreachable errors smoltcp sends for datagrams no socket takes:
//! one from the peer becomes the pending `ECONNREFUSED` (udp_err), returned by the next
//! send/recv or SO_ERROR; unconnected sockets ignore ICMP errors, as Linux without IP_RECVERR.
//! shutdown(2) sets Linux's flags: a read shutdown makes the socket readable (RDHUP) without
//! stopping delivery, a write shutdown makes sends EPIPE (no SIGPIPE for datagrams).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use abi::Errno;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::icmp;
use smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata, UdpMetadata};
use smoltcp::wire::{
    Icmpv4DstUnreachable, Icmpv4Packet, Icmpv4Repr, Icmpv6DstUnreachable, Icmpv6Packet, Icmpv6Repr,
    IpAddress, IpEndpoint, IpListenEndpoint,
};
use vfs::waiter::WaitQueue;

use crate::stack::{Family, Inner, Kind, Proto, Readiness, SocketEntry, Stack, canon, expose};

/// Default payload bytes of each direction's queue (Linux's default `rmem_default`).
const DEFAULT_BUF: usize = 212_992;
/// Datagrams each direction's queue holds.
const DEFAULT_PACKETS: usize = 256;
/// Largest UDP payload over IPv4 (65535 - 20 - 8).
const MAX_DATAGRAM: usize = 65507;
/// Largest UDP payload over IPv6 without fragmentation (65535 - 40 - 8).
const MAX_DATAGRAM_V6: usize = 65487;
const MIN_BUF: usize = 4608;
const MAX_BUF: usize = 16 << 20;

/// Where a received datagram came from and how long it really was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes copied into the caller's buffer.
    pub copied: usize,
    /// The datagram's full length (more than `copied`: MSG_TRUNC).
    pub len: usize,
    /// The sender.
    pub from: SocketAddr,
}

/// A UDP socket's state under the stack lock.
#[derive(Debug)]
pub(crate) struct UdpState {
    family: Family,
    h: Option<SocketHandle>,
    bound: Option<(IpAddr, u16)>,
    peer: Option<(IpAddr, u16)>,
    /// bind(2) named the port (a port picked by the stack is given back when the association
    /// dissolves, as Linux without SOCK_BINDPORT_LOCK).
    explicit: bool,
    /// The address kept after such a port was given back (the next bind uses it).
    kept_addr: Option<IpAddr>,
    /// The ICMP socket hearing errors about this port, while connected.
    errs: Option<SocketHandle>,
    /// The pending error (SO_ERROR): ECONNREFUSED from a port unreachable.
    error: Option<Errno>,
    reuseaddr: bool,
    reuseport: bool,
    v6only: bool,
    rcvbuf: usize,
    sndbuf: usize,
    /// shutdown(2) flags (RCV_SHUTDOWN, SEND_SHUTDOWN).
    shut_rd: bool,
    shut_wr: bool,
}

/// ICMP error messages queued per connected socket.
const ERR_PACKETS: usize = 4;
const ERR_BUF: usize = 2048;

/// The destination port of the UDP datagram a port-unreachable ICMP message `data` (of `v4`
/// or v6) reports, if it is one.
fn port_unreachable_for(v4: bool, data: &[u8]) -> Option<u16> {
    let caps = smoltcp::phy::ChecksumCapabilities::ignored();
    // The quoted datagram starts with its UDP header: source port, destination port.
    let dport = |quoted: &[u8]| {
        quoted
            .get(2..4)
            .and_then(|p| <[u8; 2]>::try_from(p).ok())
            .map(u16::from_be_bytes)
    };
    if v4 {
        let p = Icmpv4Packet::new_checked(data).ok()?;
        match Icmpv4Repr::parse(&p, &caps).ok()? {
            Icmpv4Repr::DstUnreachable {
                reason: Icmpv4DstUnreachable::PortUnreachable,
                data,
                ..
            } => dport(data),
            _ => None,
        }
    } else {
        // The pseudo-header addresses only matter for the checksum, which is not checked.
        let any = smoltcp::wire::Ipv6Address::UNSPECIFIED;
        let p = Icmpv6Packet::new_checked(data).ok()?;
        match Icmpv6Repr::parse(&any, &any, &p, &caps).ok()? {
            Icmpv6Repr::DstUnreachable {
                reason: Icmpv6DstUnreachable::PortUnreachable,
                data,
                ..
            } => dport(data),
            _ => None,
        }
    }
}

fn usock<'a>(sockets: &'a mut SocketSet<'static>, h: SocketHandle) -> &'a mut udp::Socket<'static> {
    sockets.get_mut::<udp::Socket>(h)
}

impl UdpState {
    /// Drops queued datagrams this socket must not see: the other family's (smoltcp's wildcard
    /// bind hears both), and, once connected, other peers'.
    pub(crate) fn after_poll(&mut self, sockets: &mut SocketSet<'static>) {
        if let Some(eh) = self.errs {
            let so = sockets.get_mut::<icmp::Socket>(eh);
            while let Ok((data, from)) = so.recv() {
                let v4 = matches!(from, IpAddress::Ipv4(_));
                let about_peer = self.peer.is_some_and(|(pip, pport)| {
                    pip == IpAddr::from(from) && port_unreachable_for(v4, data) == Some(pport)
                });
                if about_peer {
                    self.error = Some(Errno::ECONNREFUSED);
                }
            }
        }
        let Some(h) = self.h else { return };
        let (family, v6only, peer) = (self.family, self.v6only, self.peer);
        let so = usock(sockets, h);
        while let Ok((_, meta)) = so.peek() {
            let ip = IpAddr::from(meta.endpoint.addr);
            let family_ok = match ip {
                IpAddr::V4(_) => family == Family::V4 || !v6only,
                IpAddr::V6(_) => family == Family::V6,
            };
            let peer_ok = peer.is_none_or(|(pip, pport)| pip == ip && pport == meta.endpoint.port);
            if family_ok && peer_ok {
                break;
            }
            let _ = so.recv();
        }
    }

    /// This socket's /proc/net/udp line (None while unbound).
    pub(crate) fn entry(&self, sockets: &mut SocketSet<'static>) -> Option<SocketEntry> {
        let fam = self.family;
        let (ip, port) = self.bound?;
        let (tx_queue, rx_queue) = self.h.map_or((0, 0), |h| {
            let so = usock(sockets, h);
            (so.send_queue(), so.recv_queue())
        });
        Some(SocketEntry {
            family: fam,
            local: expose(fam, ip, port),
            remote: self
                .peer
                .map(|(pip, pp)| expose(fam, pip, pp))
                .unwrap_or(expose(fam, fam.unspecified(), 0)),
            state: if self.peer.is_some() { 1 } else { 7 },
            tx_queue,
            rx_queue,
        })
    }

    fn readiness(&self, sockets: &mut SocketSet<'static>) -> Readiness {
        // datagram_poll: a read shutdown is readable (and RDHUP), both shut is HUP.
        let shut = Readiness {
            readable: self.shut_rd,
            rdhup: self.shut_rd,
            hup: self.shut_rd && self.shut_wr,
            ..Readiness::default()
        };
        let r = match self.h {
            None => Readiness {
                writable: true,
                ..Readiness::default()
            },
            Some(h) => {
                let so = usock(sockets, h);
                Readiness {
                    readable: so.can_recv(),
                    writable: so.can_send(),
                    err: self.error.is_some(),
                    ..Readiness::default()
                }
            }
        };
        Readiness {
            readable: r.readable || shut.readable,
            rdhup: shut.rdhup,
            hup: shut.hup,
            ..r
        }
    }

    pub(crate) fn signature(&self, sockets: &mut SocketSet<'static>) -> (Readiness, usize, usize) {
        let r = self.readiness(sockets);
        match self.h {
            Some(h) => {
                let so = usock(sockets, h);
                (r, so.recv_queue(), so.send_queue())
            }
            None => (r, 0, 0),
        }
    }
}

/// A UDP socket of a [`Stack`].
#[derive(Debug)]
pub struct UdpSocket {
    stack: Arc<Stack>,
    id: u64,
    family: Family,
    queue: Arc<WaitQueue>,
}

impl Stack {
    /// A new, unbound UDP socket.
    pub fn udp_socket(self: &Arc<Self>, family: Family) -> UdpSocket {
        let (id, queue) = self.peek(|i| {
            i.add_slot(Kind::Udp(UdpState {
                family,
                h: None,
                bound: None,
                peer: None,
                explicit: false,
                kept_addr: None,
                errs: None,
                error: None,
                reuseaddr: false,
                reuseport: false,
                v6only: false,
                rcvbuf: DEFAULT_BUF,
                sndbuf: DEFAULT_BUF,
                shut_rd: false,
                shut_wr: false,
            }))
        });
        UdpSocket {
            stack: self.clone(),
            id,
            family,
            queue,
        }
    }
}

fn parts(inner: &mut Inner, id: u64) -> Result<(&mut UdpState, &mut SocketSet<'static>), Errno> {
    let Inner { slots, sockets, .. } = inner;
    match slots.get_mut(&id).map(|s| &mut s.kind) {
        Some(Kind::Udp(u)) => Ok((u, sockets)),
        _ => Err(Errno::EBADF),
    }
}

/// Binds `id` to (`ip`, `port`) (port 0: ephemeral) and creates its smoltcp socket.
fn do_bind(inner: &mut Inner, id: u64, ip: IpAddr, port: u16) -> Result<(), Errno> {
    let (u, _) = parts(inner, id)?;
    if u.bound.is_some() {
        return Err(Errno::EINVAL);
    }
    let (reuse, v6only, rcv, snd) = ((u.reuseaddr, u.reuseport), u.v6only, u.rcvbuf, u.sndbuf);
    if !inner.is_local(ip) {
        return Err(Errno::EADDRNOTAVAIL);
    }
    let port = inner.bind_port(id, Proto::Udp, ip, port, reuse, v6only)?;
    let mut so = udp::Socket::new(
        PacketBuffer::new(vec![PacketMetadata::EMPTY; DEFAULT_PACKETS], vec![0u8; rcv]),
        PacketBuffer::new(vec![PacketMetadata::EMPTY; DEFAULT_PACKETS], vec![0u8; snd]),
    );
    let ep = IpListenEndpoint {
        addr: (!ip.is_unspecified()).then(|| IpAddress::from(ip)),
        port,
    };
    if so.bind(ep).is_err() {
        inner.release(id);
        return Err(Errno::EINVAL);
    }
    let h = inner.sockets.add(so);
    let (u, _) = parts(inner, id)?;
    u.h = Some(h);
    u.bound = Some((ip, port));
    Ok(())
}

fn autobind(inner: &mut Inner, id: u64) -> Result<SocketHandle, Errno> {
    let (u, _) = parts(inner, id)?;
    if let Some(h) = u.h {
        return Ok(h);
    }
    let ip = u.kept_addr.take().unwrap_or(u.family.unspecified());
    do_bind(inner, id, ip, 0)?;
    parts(inner, id)?.0.h.ok_or(Errno::EINVAL)
}

impl UdpSocket {
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

    /// bind(2).
    pub fn bind(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (u, _) = parts(inner, id)?;
            let (ip, port) = canon(u.family, addr, u.v6only, true)?;
            do_bind(inner, id, ip, port)?;
            let (u, _) = parts(inner, id)?;
            u.explicit = port != 0;
            u.kept_addr = None;
            Ok(())
        })
    }

    /// connect(2): sets the default peer (and binds if needed); only its datagrams are
    /// received afterwards.
    pub fn connect(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (u, _) = parts(inner, id)?;
            let (mut ip, port) = canon(u.family, addr, u.v6only, false)?;
            if ip.is_unspecified() {
                ip = match ip {
                    IpAddr::V4(_) => Family::V4.loopback(),
                    IpAddr::V6(_) => Family::V6.loopback(),
                };
            }
            autobind(inner, id)?;
            let (u, _) = parts(inner, id)?;
            u.peer = Some((ip, port));
            u.error = None;
            let Some((_, lport)) = u.bound else {
                return Ok(());
            };
            if u.errs.is_none() {
                let mut es = icmp::Socket::new(
                    icmp::PacketBuffer::new(
                        vec![icmp::PacketMetadata::EMPTY; ERR_PACKETS],
                        vec![0u8; ERR_BUF],
                    ),
                    icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 1], vec![0u8; 1]),
                );
                let ep = IpListenEndpoint {
                    addr: None,
                    port: lport,
                };
                // Without it only the ECONNREFUSED report is lost.
                if es.bind(icmp::Endpoint::Udp(ep)).is_ok() {
                    let eh = inner.sockets.add(es);
                    parts(inner, id)?.0.errs = Some(eh);
                }
            }
            Ok(())
        })
    }

    /// connect(2) with AF_UNSPEC (udp_disconnect): forgets the peer; a port that was bound
    /// only implicitly (by connect or send) is released.
    pub fn disconnect(&self) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (u, _) = parts(inner, id)?;
            u.peer = None;
            u.error = None;
            let errs = u.errs.take();
            let drop_bind = !u.explicit && u.bound.is_some();
            let h = if drop_bind {
                u.kept_addr = u.bound.take().map(|(ip, _)| ip);
                u.h.take()
            } else {
                None
            };
            if let Some(eh) = errs {
                inner.sockets.remove(eh);
            }
            if let Some(h) = h {
                inner.sockets.remove(h);
                inner.release(id);
            }
            Ok(())
        })
    }

    /// shutdown(2) (`read`, `write`: the directions): the flags are set even on an unconnected
    /// socket, which then gets `ENOTCONN` (inet_shutdown's "wake up other listeners" rule).
    /// A read shutdown makes the socket readable; a write shutdown makes sends `EPIPE`.
    pub fn shutdown(&self, read: bool, write: bool) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (u, _) = parts(inner, id)?;
            u.shut_rd |= read;
            u.shut_wr |= write;
            if u.peer.is_none() {
                return Err(Errno::ENOTCONN);
            }
            Ok(())
        })
    }

    /// Whether reading was shut down (a blocking receive on an empty queue then returns 0).
    pub fn read_shut(&self) -> bool {
        self.stack
            .peek(|inner| parts(inner, self.id).is_ok_and(|(u, _)| u.shut_rd))
    }

    /// SO_ERROR: takes the pending error.
    pub fn take_error(&self) -> Option<Errno> {
        self.op(|inner, id| Ok(parts(inner, id)?.0.error.take()))
            .ok()
            .flatten()
    }

    /// send_to(2) (`to` None: the connected peer, else `EDESTADDRREQ`). The whole datagram is
    /// queued or nothing: `EAGAIN` when the queue is full, `EMSGSIZE` when it can never fit.
    pub fn send_to(&self, buf: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        self.op(|inner, id| {
            let (u, _) = parts(inner, id)?;
            if let Some(e) = u.error.take() {
                return Err(e);
            }
            if u.shut_wr {
                return Err(Errno::EPIPE);
            }
            let (ip, port) = match to {
                Some(a) => canon(u.family, a, u.v6only, false)?,
                None => u.peer.ok_or(Errno::EDESTADDRREQ)?,
            };
            // No IP fragmentation: a datagram must fit the 65535-byte MTU with its headers.
            let max = match ip {
                IpAddr::V4(_) => MAX_DATAGRAM,
                IpAddr::V6(_) => MAX_DATAGRAM_V6,
            };
            if buf.len() > max {
                return Err(Errno::EMSGSIZE);
            }
            if port == 0 {
                return Err(Errno::EINVAL);
            }
            let ip = if ip.is_unspecified() {
                match ip {
                    IpAddr::V4(_) => Family::V4.loopback(),
                    IpAddr::V6(_) => Family::V6.loopback(),
                }
            } else {
                ip
            };
            if !inner.routable(ip) {
                return Err(Errno::ENETUNREACH);
            }
            // No fragmentation on the wire either.
            if buf.len() > inner.path_mtu(ip).saturating_sub(28) {
                return Err(Errno::EMSGSIZE);
            }
            let h = autobind(inner, id)?;
            let so = usock(&mut inner.sockets, h);
            if buf.len() > so.payload_send_capacity() {
                return Err(Errno::EMSGSIZE);
            }
            let meta = UdpMetadata::from(IpEndpoint::new(IpAddress::from(ip), port));
            match so.send_slice(buf, meta) {
                Ok(()) => Ok(buf.len()),
                Err(udp::SendError::BufferFull) => Err(Errno::EAGAIN),
                Err(udp::SendError::Unaddressable) => Err(Errno::EINVAL),
            }
        })
    }

    /// recv_from(2) (MSG_PEEK with `peek`): copies what fits and reports the full length
    /// (MSG_TRUNC); `EAGAIN` when nothing is queued.
    pub fn recv_from(&self, buf: &mut [u8], peek: bool) -> Result<RecvMeta, Errno> {
        self.op(|inner, id| {
            let (u, sockets) = parts(inner, id)?;
            if let Some(e) = u.error.take() {
                return Err(e);
            }
            let family = u.family;
            let h = u.h.ok_or(Errno::EAGAIN)?;
            let so = usock(sockets, h);
            let (data, meta) = so.peek().map_err(|_| Errno::EAGAIN)?;
            let len = data.len();
            let copied = len.min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..copied), data.get(..copied)) {
                dst.copy_from_slice(src);
            }
            let from = expose(family, IpAddr::from(meta.endpoint.addr), meta.endpoint.port);
            if !peek {
                let _ = so.recv();
            }
            Ok(RecvMeta { copied, len, from })
        })
    }

    /// getsockname(2).
    pub fn local_addr(&self) -> SocketAddr {
        let family = self.family;
        self.stack.peek(|inner| {
            match parts(inner, self.id).map(|(u, _)| (u.bound, u.peer, u.kept_addr)) {
                Ok((bound, peer, kept)) => match (bound, peer) {
                    // Connected on the wildcard: the source address of the route.
                    (Some((ip, port)), Some((pip, _))) if ip.is_unspecified() => {
                        expose(family, inner.source_for(pip), port)
                    }
                    (Some((ip, port)), _) => expose(family, ip, port),
                    (None, _) => expose(family, kept.unwrap_or(family.unspecified()), 0),
                },
                Err(_) => expose(family, family.unspecified(), 0),
            }
        })
    }

    /// getpeername(2): `ENOTCONN` unless connected.
    pub fn peer_addr(&self) -> Result<SocketAddr, Errno> {
        let family = self.family;
        self.stack.peek(|inner| {
            let (u, _) = parts(inner, self.id)?;
            u.peer
                .map(|(ip, p)| expose(family, ip, p))
                .ok_or(Errno::ENOTCONN)
        })
    }

    /// The current readiness.
    pub fn readiness(&self) -> Readiness {
        self.stack.peek(|inner| {
            parts(inner, self.id)
                .map(|(u, s)| u.readiness(s))
                .unwrap_or_default()
        })
    }

    /// FIONREAD: the size of the next datagram (0 if none).
    pub fn next_datagram_len(&self) -> usize {
        self.stack.peek(|inner| {
            let Ok((u, s)) = parts(inner, self.id) else {
                return 0;
            };
            u.h.and_then(|h| usock(s, h).peek().ok().map(|(d, _)| d.len()))
                .unwrap_or(0)
        })
    }

    /// SO_REUSEADDR (takes effect at the next bind).
    pub fn set_reuseaddr(&self, on: bool) {
        let _ = self.op(|inner, id| {
            parts(inner, id)?.0.reuseaddr = on;
            Ok(())
        });
    }

    /// SO_REUSEPORT (takes effect at the next bind).
    pub fn set_reuseport(&self, on: bool) {
        let _ = self.op(|inner, id| {
            parts(inner, id)?.0.reuseport = on;
            Ok(())
        });
    }

    /// SO_REUSEPORT.
    pub fn reuseport(&self) -> bool {
        self.stack
            .peek(|inner| parts(inner, self.id).is_ok_and(|(u, _)| u.reuseport))
    }

    /// SO_REUSEADDR.
    pub fn reuseaddr(&self) -> bool {
        self.stack
            .peek(|inner| parts(inner, self.id).is_ok_and(|(u, _)| u.reuseaddr))
    }

    /// IPV6_V6ONLY.
    pub fn v6only(&self) -> bool {
        self.stack
            .peek(|inner| parts(inner, self.id).is_ok_and(|(u, _)| u.v6only))
    }

    /// IPV6_V6ONLY; `EINVAL` once bound.
    pub fn set_v6only(&self, on: bool) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (u, _) = parts(inner, id)?;
            if u.family != Family::V6 || u.bound.is_some() {
                return Err(Errno::EINVAL);
            }
            u.v6only = on;
            Ok(())
        })
    }

    /// SO_RCVBUF (doubled and clamped as Linux; applies if set before the socket binds).
    pub fn set_recv_buffer_size(&self, n: usize) {
        let _ = self.op(|inner, id| {
            parts(inner, id)?.0.rcvbuf = n.saturating_mul(2).clamp(MIN_BUF, MAX_BUF);
            Ok(())
        });
    }

    /// SO_RCVBUF as getsockopt reports it.
    pub fn recv_buffer_size(&self) -> usize {
        self.stack
            .peek(|inner| parts(inner, self.id).map(|(u, _)| u.rcvbuf).unwrap_or(0))
    }

    /// SO_SNDBUF (as [`UdpSocket::set_recv_buffer_size`]).
    pub fn set_send_buffer_size(&self, n: usize) {
        let _ = self.op(|inner, id| {
            parts(inner, id)?.0.sndbuf = n.saturating_mul(2).clamp(MIN_BUF, MAX_BUF);
            Ok(())
        });
    }

    /// SO_SNDBUF as getsockopt reports it.
    pub fn send_buffer_size(&self) -> usize {
        self.stack
            .peek(|inner| parts(inner, self.id).map(|(u, _)| u.sndbuf).unwrap_or(0))
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.stack.with(|inner| {
            inner.release(self.id);
            if let Some(slot) = inner.slots.remove(&self.id)
                && let Kind::Udp(u) = slot.kind
            {
                for h in u.h.into_iter().chain(u.errs) {
                    inner.sockets.remove(h);
                }
            }
        });
    }
}
