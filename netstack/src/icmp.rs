//! Ping sockets (Linux's SOCK_DGRAM with IPPROTO_ICMP / IPPROTO_ICMPV6, net/ipv4/ping.c): the
//! app sends an echo request (8-byte ICMP header + payload) and receives echo replies. The
//! stack rewrites the identifier to the socket's own (its "port", chosen like an ephemeral port
//! when unbound) and delivers only echo replies carrying it, with their checksum computed.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use abi::Errno;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::icmp::{self, PacketBuffer, PacketMetadata};
use smoltcp::wire::IpAddress;
use vfs::waiter::WaitQueue;

use crate::stack::{Family, Inner, Kind, Proto, Readiness, Stack, canon, expose};
use crate::udp::RecvMeta;

/// ICMP header length (type, code, checksum, identifier, sequence).
const HDR: usize = 8;
/// Echo request / reply types: ICMPv4 (RFC 792) and ICMPv6 (RFC 4443).
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// Largest ICMP message (an IPv4 datagram less its header).
const MAX_MESSAGE: usize = 65515;
const BUF: usize = 212_992;
const PACKETS: usize = 64;

/// A ping socket's state under the stack lock.
#[derive(Debug)]
pub(crate) struct IcmpState {
    family: Family,
    h: Option<SocketHandle>,
    ident: u16,
    bound: Option<IpAddr>,
    peer: Option<IpAddr>,
    /// Echo replies for this socket, oldest first.
    rx: VecDeque<(Vec<u8>, IpAddr)>,
}

fn isock<'a>(
    sockets: &'a mut SocketSet<'static>,
    h: SocketHandle,
) -> &'a mut icmp::Socket<'static> {
    sockets.get_mut::<icmp::Socket>(h)
}

impl IcmpState {
    /// Moves echo replies from smoltcp's queue to ours (requests to ourselves are dropped: the
    /// interface answers them).
    pub(crate) fn after_poll(&mut self, sockets: &mut SocketSet<'static>) {
        let Some(h) = self.h else { return };
        let reply = match self.family {
            Family::V4 => ECHO_REPLY_V4,
            Family::V6 => ECHO_REPLY_V6,
        };
        let so = isock(sockets, h);
        while let Ok((data, from)) = so.recv() {
            if data.first() == Some(&reply) && self.rx.len() < PACKETS {
                self.rx.push_back((data.to_vec(), IpAddr::from(from)));
            }
        }
    }

    fn readiness(&self, sockets: &mut SocketSet<'static>) -> Readiness {
        Readiness {
            readable: !self.rx.is_empty(),
            writable: self.h.is_none_or(|h| isock(sockets, h).can_send()),
            ..Readiness::default()
        }
    }

    pub(crate) fn signature(&self, sockets: &mut SocketSet<'static>) -> (Readiness, usize, usize) {
        (self.readiness(sockets), self.rx.len(), 0)
    }
}

/// A ping socket of a [`Stack`].
#[derive(Debug)]
pub struct IcmpSocket {
    stack: Arc<Stack>,
    id: u64,
    family: Family,
    queue: Arc<WaitQueue>,
}

impl Stack {
    /// A new ping socket (SOCK_DGRAM, IPPROTO_ICMP for V4 / IPPROTO_ICMPV6 for V6).
    pub fn icmp_socket(self: &Arc<Self>, family: Family) -> IcmpSocket {
        let (id, queue) = self.peek(|i| {
            i.add_slot(Kind::Icmp(IcmpState {
                family,
                h: None,
                ident: 0,
                bound: None,
                peer: None,
                rx: VecDeque::new(),
            }))
        });
        IcmpSocket {
            stack: self.clone(),
            id,
            family,
            queue,
        }
    }
}

fn parts(inner: &mut Inner, id: u64) -> Result<(&mut IcmpState, &mut SocketSet<'static>), Errno> {
    let Inner { slots, sockets, .. } = inner;
    match slots.get_mut(&id).map(|s| &mut s.kind) {
        Some(Kind::Icmp(c)) => Ok((c, sockets)),
        _ => Err(Errno::EBADF),
    }
}

fn do_bind(inner: &mut Inner, id: u64, ip: IpAddr, ident: u16) -> Result<(), Errno> {
    if parts(inner, id)?.0.h.is_some() {
        return Err(Errno::EINVAL);
    }
    if !inner.is_local(ip) {
        return Err(Errno::EADDRNOTAVAIL);
    }
    let ident = inner.bind_port(id, Proto::Icmp, ip, ident, (false, false), false)?;
    let mut so = icmp::Socket::new(
        PacketBuffer::new(vec![PacketMetadata::EMPTY; PACKETS], vec![0u8; BUF]),
        PacketBuffer::new(vec![PacketMetadata::EMPTY; PACKETS], vec![0u8; BUF]),
    );
    if so.bind(icmp::Endpoint::Ident(ident)).is_err() {
        inner.release(id);
        return Err(Errno::EINVAL);
    }
    let h = inner.sockets.add(so);
    let (c, _) = parts(inner, id)?;
    c.h = Some(h);
    c.ident = ident;
    c.bound = Some(ip);
    Ok(())
}

fn autobind(inner: &mut Inner, id: u64) -> Result<SocketHandle, Errno> {
    let (c, _) = parts(inner, id)?;
    if let Some(h) = c.h {
        return Ok(h);
    }
    let ip = c.family.unspecified();
    do_bind(inner, id, ip, 0)?;
    parts(inner, id)?.0.h.ok_or(Errno::EINVAL)
}

impl IcmpSocket {
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

    /// bind(2): the port is the echo identifier (0: pick one).
    pub fn bind(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (c, _) = parts(inner, id)?;
            let (ip, ident) = canon(c.family, addr, true, true)?;
            do_bind(inner, id, ip, ident)
        })
    }

    /// connect(2): the default destination.
    pub fn connect(&self, addr: SocketAddr) -> Result<(), Errno> {
        self.op(|inner, id| {
            let (c, _) = parts(inner, id)?;
            let (ip, _) = canon(c.family, addr, true, false)?;
            autobind(inner, id)?;
            parts(inner, id)?.0.peer = Some(ip);
            Ok(())
        })
    }

    /// connect(2) with AF_UNSPEC: forgets the default destination (the identifier stays).
    pub fn disconnect(&self) -> Result<(), Errno> {
        self.op(|inner, id| {
            parts(inner, id)?.0.peer = None;
            Ok(())
        })
    }

    /// sendto(2): `buf` is an echo request (type 8 / 128, code 0, at least 8 bytes) else
    /// `EINVAL`; the identifier is replaced by the socket's and the checksum computed.
    pub fn send_to(&self, buf: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        self.op(|inner, id| {
            let (c, _) = parts(inner, id)?;
            let dst = match to {
                Some(a) => canon(c.family, a, true, false)?.0,
                None => c.peer.ok_or(Errno::EDESTADDRREQ)?,
            };
            if buf.len() > MAX_MESSAGE {
                return Err(Errno::EMSGSIZE);
            }
            let request = match c.family {
                Family::V4 => ECHO_REQUEST_V4,
                Family::V6 => ECHO_REQUEST_V6,
            };
            if buf.len() < HDR || buf.first() != Some(&request) || buf.get(1) != Some(&0) {
                return Err(Errno::EINVAL);
            }
            let dst = if dst.is_unspecified() {
                c.family.loopback()
            } else {
                dst
            };
            if !inner.routable(dst) {
                return Err(Errno::ENETUNREACH);
            }
            let h = autobind(inner, id)?;
            let ident = parts(inner, id)?.0.ident;
            let so = isock(&mut inner.sockets, h);
            let out = so
                .send(buf.len(), IpAddress::from(dst))
                .map_err(|_| Errno::EAGAIN)?;
            out.copy_from_slice(buf);
            // Our identifier; smoltcp computes the checksum when it emits the message.
            if let Some(idf) = out.get_mut(4..6) {
                idf.copy_from_slice(&ident.to_be_bytes());
            }
            Ok(buf.len())
        })
    }

    /// recvfrom(2): the next echo reply (ICMP header + payload), its full length, and its
    /// sender (port 0); `EAGAIN` when none.
    pub fn recv_from(&self, buf: &mut [u8], peek: bool) -> Result<RecvMeta, Errno> {
        self.op(|inner, id| {
            let (c, _) = parts(inner, id)?;
            let family = c.family;
            let (data, from) = c.rx.front().ok_or(Errno::EAGAIN)?;
            let len = data.len();
            let copied = len.min(buf.len());
            if let (Some(d), Some(s)) = (buf.get_mut(..copied), data.get(..copied)) {
                d.copy_from_slice(s);
            }
            let from = expose(family, *from, 0);
            if !peek {
                c.rx.pop_front();
            }
            Ok(RecvMeta { copied, len, from })
        })
    }

    /// The echo identifier (0 until bound).
    pub fn ident(&self) -> u16 {
        self.stack
            .peek(|inner| parts(inner, self.id).map(|(c, _)| c.ident).unwrap_or(0))
    }

    /// getsockname(2): the bound address, the identifier as port.
    pub fn local_addr(&self) -> SocketAddr {
        let family = self.family;
        self.stack.peek(|inner| match parts(inner, self.id) {
            Ok((c, _)) => expose(family, c.bound.unwrap_or(family.unspecified()), c.ident),
            Err(_) => expose(family, family.unspecified(), 0),
        })
    }

    /// The current readiness.
    pub fn readiness(&self) -> Readiness {
        self.stack.peek(|inner| {
            parts(inner, self.id)
                .map(|(c, s)| c.readiness(s))
                .unwrap_or_default()
        })
    }
}

impl Drop for IcmpSocket {
    fn drop(&mut self) {
        self.stack.with(|inner| {
            inner.release(self.id);
            if let Some(slot) = inner.slots.remove(&self.id)
                && let Kind::Icmp(c) = slot.kind
                && let Some(h) = c.h
            {
                inner.sockets.remove(h);
            }
        });
    }
}
