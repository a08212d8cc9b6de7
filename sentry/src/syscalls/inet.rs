//! Socket syscalls on AF_INET/AF_INET6 sockets (`socket::inet`, over the netstack): each
//! entry point of `syscalls/socket.rs` tries [`inet_of`] first and hands an inet socket here.
//! The netstack's calls never block; the handlers sleep on the socket's wait queue with
//! `socket::wait_for`, as for unix sockets, bounded by SO_RCVTIMEO (recv, accept) and
//! SO_SNDTIMEO (send, connect: an expired connect is EINPROGRESS and goes on in the
//! background, as Linux). Socket options are in `syscalls/inet_opts.rs`.
//!
//! connect(AF_UNSPEC) dissolves a UDP or ping socket's association and disconnects a TCP
//! socket (RST to the peer; a listener stops listening).

use std::net::SocketAddr;
use std::sync::Arc;

use abi::Errno;
use abi::cap::{CAP_NET_BIND_SERVICE, CAP_NET_RAW};
use abi::socket::{self as s, MsgHdr};
use netstack::{Family, Shutdown};
use vfs::OpenFile;
use vfs::waiter::EventMask;

use super::socket::{Blocking, IoVecs, ok_fd, sigpipe_unless, wait_for};
use super::{SyscallArgs, SyscallResult, ok_usize, ok_zero};
use crate::kernel::Task;
use crate::socket::inet::{self, InetFile, InetSocket, Proto, parse_sockaddr, sockaddr_bytes};

pub(super) const IPPROTO_IP: i32 = 0;
pub(super) const IPPROTO_TCP: i32 = 6;
pub(super) const IPPROTO_UDP: i32 = 17;
pub(super) const IPPROTO_ICMP: i32 = 1;
pub(super) const IPPROTO_IPV6: i32 = 41;
pub(super) const IPPROTO_ICMPV6: i32 = 58;
const SOCK_RAW: i32 = 3;
/// recvmsg's MSG_ERRQUEUE.
const MSG_ERRQUEUE: u32 = 0x2000;

/// The inet socket behind `fd`, if it is one.
pub(super) fn inet_of(t: &Task, fd: i32) -> Option<Arc<OpenFile>> {
    let file = t.fds().file(fd).ok()?;
    file.ops_any()?.downcast_ref::<InetFile>()?;
    Some(file)
}

pub(super) fn sock(file: &OpenFile) -> Result<&InetSocket, Errno> {
    file.ops_any()
        .and_then(|a| a.downcast_ref::<InetFile>())
        .map(|f| &f.sock)
        .ok_or(Errno::ENOTSOCK)
}

/// socket(2) for AF_INET/AF_INET6 (`ty` without the flag bits).
pub(super) fn socket(t: &Task, domain: i32, ty: i32, protocol: i32, flags: i32) -> SyscallResult {
    let family = if domain == s::AF_INET {
        Family::V4
    } else {
        Family::V6
    };
    let icmp = if family == Family::V4 {
        IPPROTO_ICMP
    } else {
        IPPROTO_ICMPV6
    };
    #[derive(PartialEq)]
    enum Kind {
        Tcp,
        Udp,
        Icmp,
    }
    let kind = match (ty, protocol) {
        (s::SOCK_STREAM, 0 | IPPROTO_TCP) => Kind::Tcp,
        (s::SOCK_DGRAM, 0 | IPPROTO_UDP) => Kind::Udp,
        (s::SOCK_DGRAM, p) if p == icmp => Kind::Icmp,
        (SOCK_RAW, _) if !t.creds.has_cap(CAP_NET_RAW) => return Err(Errno::EPERM),
        (SOCK_RAW, _) => return Err(Errno::EPROTONOSUPPORT),
        (s::SOCK_STREAM | s::SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    let stack = t.kernel.net_stack()?;
    let p = match kind {
        Kind::Tcp => Proto::Tcp(stack.tcp_socket(family)),
        Kind::Udp => Proto::Udp(stack.udp_socket(family)),
        Kind::Icmp => Proto::Icmp(stack.icmp_socket(family)),
    };
    let file = inet::new_file(InetSocket::new(family, p), flags & s::SOCK_NONBLOCK != 0);
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    ok_fd(
        t.fds()
            .insert_from(0, file, flags & s::SOCK_CLOEXEC != 0, limit)?,
    )
}

/// Reads the socket address at `ptr` (`len` bytes) for a socket of `family`.
fn read_addr(t: &Task, family: Family, ptr: u64, len: u32) -> Result<SocketAddr, Errno> {
    let n = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if n > 128 {
        return Err(Errno::EINVAL);
    }
    let mut b = vec![0u8; n];
    t.mm.copy_in(ptr, &mut b)?;
    parse_sockaddr(family, &b)
}

/// Stores `a` at `ptr` (truncated to `*len_ptr`), its real length at `len_ptr`.
fn write_addr(
    t: &Task,
    family: Family,
    ptr: u64,
    len_ptr: u64,
    a: SocketAddr,
) -> Result<(), Errno> {
    if len_ptr == 0 {
        return Ok(());
    }
    let have: i32 = t.copy_in_obj(len_ptr)?;
    let have = usize::try_from(have).map_err(|_| Errno::EINVAL)?;
    let b = sockaddr_bytes(family, a);
    let n = b.len().min(have);
    if n > 0 {
        t.mm.copy_out(ptr, b.get(..n).unwrap_or_default())?;
    }
    t.copy_out_obj(len_ptr, &i32::try_from(b.len()).unwrap_or(0))?;
    Ok(())
}

/// How a call on `file` may block: not with O_NONBLOCK or MSG_DONTWAIT, else until the
/// socket's SO_SNDTIMEO (`send`) or SO_RCVTIMEO.
fn blocking(file: &OpenFile, so: &InetSocket, flags: u32, send: bool) -> Blocking {
    if file.is_nonblocking() || flags & s::MSG_DONTWAIT != 0 {
        return Blocking::No;
    }
    let o = so.opts();
    match if send { o.sndtimeo } else { o.rcvtimeo } {
        None => Blocking::Forever,
        Some(d) => Blocking::For(d),
    }
}

pub(super) fn bind(t: &Task, file: &OpenFile, ptr: u64, len: u32) -> SyscallResult {
    let so = sock(file)?;
    let a = read_addr(t, so.family, ptr, len)?;
    // inet_bind: a port below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE (ping
    // sockets' "port" is their echo identifier: no check).
    let start = t
        .kernel
        .unprivileged_port_start
        .load(std::sync::atomic::Ordering::Relaxed);
    if !matches!(so.proto, Proto::Icmp(_))
        && a.port() != 0
        && u32::from(a.port()) < start
        && !t.creds.has_cap(CAP_NET_BIND_SERVICE)
    {
        return Err(Errno::EACCES);
    }
    match &so.proto {
        Proto::Tcp(s) => s.bind(a)?,
        Proto::Udp(s) => s.bind(a)?,
        Proto::Icmp(s) => s.bind(a)?,
    }
    ok_zero()
}

pub(super) fn listen(file: &OpenFile, backlog: i32) -> SyscallResult {
    match &sock(file)?.proto {
        Proto::Tcp(s) => s.listen(backlog)?,
        Proto::Udp(_) | Proto::Icmp(_) => return Err(Errno::EOPNOTSUPP),
    }
    ok_zero()
}

pub(super) fn accept(t: &Task, file: &OpenFile, addr: u64, len: u64, flags: i32) -> SyscallResult {
    let so = sock(file)?;
    let Proto::Tcp(l) = &so.proto else {
        return Err(Errno::EOPNOTSUPP);
    };
    let how = blocking(file, so, 0, false);
    let (conn, peer) = wait_for(t, how, &[so.queue()], EventMask::IN, || l.accept())?;
    if addr != 0 {
        write_addr(t, so.family, addr, len, peer)?;
    }
    let opts = *so.opts();
    let nf = inet::new_file(
        InetSocket::with_opts(so.family, Proto::Tcp(conn), opts),
        flags & s::SOCK_NONBLOCK != 0,
    );
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    ok_fd(
        t.fds()
            .insert_from(0, nf, flags & s::SOCK_CLOEXEC != 0, limit)?,
    )
}

/// Whether the address at `ptr` is AF_UNSPEC (connect's "dissolve the association").
fn is_unspec(t: &Task, ptr: u64, len: u32) -> Result<bool, Errno> {
    if len < 2 {
        return Ok(false);
    }
    let fam: u16 = t.copy_in_obj(ptr)?;
    Ok(fam == 0)
}

pub(super) fn connect(t: &Task, file: &OpenFile, ptr: u64, len: u32) -> SyscallResult {
    let so = sock(file)?;
    if is_unspec(t, ptr, len)? {
        match &so.proto {
            Proto::Udp(u) => u.disconnect()?,
            Proto::Tcp(c) => c.disconnect()?,
            Proto::Icmp(i) => i.disconnect()?,
        }
        return ok_zero();
    }
    match &so.proto {
        Proto::Icmp(i) => {
            let a = read_addr(t, so.family, ptr, len)?;
            i.connect(a)?;
            ok_zero()
        }
        Proto::Udp(u) => {
            // AF_UNSPEC dissolves the association (udp_disconnect); not built: EAFNOSUPPORT
            // comes from the parser for it.
            let a = read_addr(t, so.family, ptr, len)?;
            u.connect(a)?;
            ok_zero()
        }
        Proto::Tcp(c) => {
            let a = read_addr(t, so.family, ptr, len)?;
            match c.connect(a) {
                Err(Errno::EINPROGRESS) if !file.is_nonblocking() => {
                    // Blocking connect: wait until writable (or an error), then ask again for
                    // the outcome; SO_SNDTIMEO expiring leaves it in progress.
                    wait_for(
                        t,
                        blocking(file, so, 0, true),
                        &[so.queue()],
                        EventMask::OUT,
                        || match c.connect(a) {
                            Err(Errno::EALREADY | Errno::EINPROGRESS) => Err(Errno::EAGAIN),
                            Err(Errno::EISCONN) => Ok(()),
                            r => r,
                        },
                    )
                    .map_err(|e| {
                        if e == Errno::EAGAIN {
                            Errno::EINPROGRESS
                        } else {
                            e
                        }
                    })?;
                    ok_zero()
                }
                r => {
                    r?;
                    ok_zero()
                }
            }
        }
    }
}

pub(super) fn getsockname(t: &Task, file: &OpenFile, ptr: u64, len_ptr: u64) -> SyscallResult {
    let so = sock(file)?;
    let a = match &so.proto {
        Proto::Tcp(s) => s.local_addr(),
        Proto::Udp(s) => s.local_addr(),
        Proto::Icmp(s) => s.local_addr(),
    };
    write_addr(t, so.family, ptr, len_ptr, a)?;
    ok_zero()
}

pub(super) fn getpeername(t: &Task, file: &OpenFile, ptr: u64, len_ptr: u64) -> SyscallResult {
    let so = sock(file)?;
    let a = match &so.proto {
        Proto::Tcp(s) => s.peer_addr()?,
        Proto::Udp(s) => s.peer_addr()?,
        // A ping socket's default destination is not kept for getpeername (not built).
        Proto::Icmp(_) => return Err(Errno::ENOTCONN),
    };
    write_addr(t, so.family, ptr, len_ptr, a)?;
    ok_zero()
}

pub(super) fn shutdown(file: &OpenFile, how: i32) -> SyscallResult {
    let how = match how {
        s::SHUT_RD => Shutdown::Read,
        s::SHUT_WR => Shutdown::Write,
        s::SHUT_RDWR => Shutdown::Both,
        _ => return Err(Errno::EINVAL),
    };
    match &sock(file)?.proto {
        // SHUT_RD on a listener stops it (tcp_disconnect), as connect(AF_UNSPEC).
        Proto::Tcp(c) if c.is_listening() && how != Shutdown::Write => c.disconnect()?,
        Proto::Tcp(s) => s.shutdown(how)?,
        Proto::Udp(u) => u.shutdown(how != Shutdown::Write, how != Shutdown::Read)?,
        Proto::Icmp(_) => return Err(Errno::ENOTCONN),
    }
    ok_zero()
}

/// The send half of sendto/sendmsg: stream data in pieces until all is sent (or, after some
/// progress, a signal/error), a datagram at once.
pub(super) fn send(
    t: &Task,
    file: &OpenFile,
    iov: &IoVecs,
    to: Option<(u64, u32)>,
    flags: u32,
) -> SyscallResult {
    let so = sock(file)?;
    let dest = match to {
        Some((p, l)) if p != 0 && l != 0 => Some(read_addr(t, so.family, p, l)?),
        _ => None,
    };
    let how = blocking(file, so, flags, true);
    let chunk = 64 * 1024;
    let total = iov.total;
    if let Proto::Udp(_) | Proto::Icmp(_) = so.proto {
        if flags & s::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let (data, err) = iov.gather(t, 0, total);
        if let Some(e) = err {
            return Err(e);
        }
        let n = wait_for(t, how, &[so.queue()], EventMask::OUT, || {
            so.send(&data, dest)
        })?;
        return ok_usize(n);
    }
    if total == 0 {
        return ok_usize(0);
    }
    if let Proto::Tcp(c) = &so.proto {
        // Straight from the app's buffers into the send buffer.
        let mut done = 0usize;
        loop {
            let r = wait_for(t, how, &[so.queue()], EventMask::OUT, || {
                // The stack may ask twice (its ring wraps): each piece continues the last.
                let mut at = done;
                c.send_with(total - done, &mut |dst| {
                    let (n, e) = iov.gather_into(t, at, dst);
                    at += n;
                    (n, e)
                })
            });
            match r {
                Ok(n) => done += n,
                // Progress so far is the result; the error comes with the next call.
                Err(_) if done > 0 => return ok_usize(done),
                // A connection reset by the peer is ECONNRESET once, then EPIPE (with SIGPIPE).
                Err(Errno::EPIPE) => return Err(sigpipe_unless(t, Errno::EPIPE, flags)),
                Err(e) => return Err(e),
            }
            if done >= total {
                return ok_usize(done);
            }
        }
    }
    let mut done = 0usize;
    loop {
        let (data, err) = iov.gather(t, done, (total - done).min(chunk));
        if data.is_empty() {
            return match err {
                Some(e) if done == 0 => Err(e),
                _ => ok_usize(done),
            };
        }
        let mut off = 0usize;
        while off < data.len() {
            let r = wait_for(t, how, &[so.queue()], EventMask::OUT, || {
                so.send(data.get(off..).unwrap_or_default(), None)
            });
            match r {
                Ok(n) => off += n,
                // Progress so far is the result; the error comes with the next call.
                Err(_) if done + off > 0 => return ok_usize(done + off),
                // A connection reset by the peer is ECONNRESET once, then EPIPE (with SIGPIPE).
                Err(Errno::EPIPE) => return Err(sigpipe_unless(t, Errno::EPIPE, flags)),
                Err(e) => return Err(e),
            }
        }
        done += data.len();
        if done >= total || err.is_some() {
            return ok_usize(done);
        }
    }
}

/// The receive half of recvfrom/recvmsg: (copied, real length for MSG_TRUNC, sender).
pub(super) fn recv(
    t: &Task,
    file: &OpenFile,
    iov: &IoVecs,
    flags: u32,
) -> Result<(usize, usize, Option<SocketAddr>), Errno> {
    let so = sock(file)?;
    // No ICMP errors are queued (IP_RECVERR is not built): the error queue is always empty.
    if flags & MSG_ERRQUEUE != 0 {
        return Err(Errno::EAGAIN);
    }
    // No urgent data on a stream (EINVAL, as tcp_recv_urg without any); datagram sockets
    // ignore MSG_OOB.
    if flags & s::MSG_OOB != 0 && matches!(so.proto, Proto::Tcp(_)) {
        return Err(Errno::EINVAL);
    }
    let peek = flags & s::MSG_PEEK != 0;
    let how = blocking(file, so, flags, false);
    if let Proto::Tcp(c) = &so.proto
        && !peek
        && flags & s::MSG_TRUNC == 0
    {
        return recv_stream_direct(t, so, c, iov, how, flags);
    }
    let want = iov.total.min(512 * 1024);
    let mut buf = vec![0u8; want];
    let stream = matches!(so.proto, Proto::Tcp(_));
    let waitall = flags & s::MSG_WAITALL != 0 && !peek && stream;
    // A blocking stream receive waits for SO_RCVLOWAT bytes (or the end), MSG_WAITALL for
    // all of them (sock_rcvlowat).
    let lowat = usize::try_from(so.opts().rcvlowat).unwrap_or(1).min(want);
    let target = if waitall {
        want
    } else if stream && !peek && !matches!(how, Blocking::No) {
        lowat
    } else {
        0
    };
    let (mut n, mut full, from) = wait_for(t, how, &[so.queue()], EventMask::IN, || {
        match (so.recv(&mut buf, peek), &so.proto) {
            // A blocking receive on a read-shut datagram socket with nothing queued returns
            // 0 (__skb_wait_for_more_packets); a non-blocking one still says EAGAIN.
            (Err(Errno::EAGAIN), Proto::Udp(u))
                if !matches!(how, Blocking::No) && u.read_shut() =>
            {
                Ok((0, 0, None))
            }
            (r, _) => r,
        }
    })?;
    if target > n {
        while n < target && n > 0 {
            let rest = buf.get_mut(n..).unwrap_or_default();
            match wait_for(t, how, &[so.queue()], EventMask::IN, || {
                so.recv(rest, false)
            }) {
                Ok((0, _, _)) => break,
                Ok((m, _, _)) => n += m,
                Err(_) => break,
            }
        }
        full = n;
    }
    // MSG_TRUNC on a stream discards the bytes (tcp_recvmsg): the count is the result.
    if flags & s::MSG_TRUNC != 0 && matches!(so.proto, Proto::Tcp(_)) {
        return Ok((n, n, from));
    }
    let (copied, err) = iov.scatter(t, 0, buf.get(..n).unwrap_or_default());
    if let Some(e) = err
        && copied == 0
        && n > 0
    {
        return Err(e);
    }
    Ok((copied, full, from))
}

/// A stream receive (no MSG_PEEK, no MSG_TRUNC) straight from the receive buffer into the
/// app's buffers: waits for the first bytes, then (blocking) for SO_RCVLOWAT of them, or all
/// with MSG_WAITALL, as `recv` does with its bounce buffer.
fn recv_stream_direct(
    t: &Task,
    so: &InetSocket,
    c: &netstack::TcpSocket,
    iov: &IoVecs,
    how: Blocking,
    flags: u32,
) -> Result<(usize, usize, Option<SocketAddr>), Errno> {
    let want = iov.total;
    let waitall = flags & s::MSG_WAITALL != 0;
    let lowat = usize::try_from(so.opts().rcvlowat).unwrap_or(1).min(want);
    let target = if waitall {
        want
    } else if !matches!(how, Blocking::No) {
        lowat
    } else {
        0
    };
    // The stack may hand over two pieces (its ring wraps): each continues the last.
    let recv_at = |start: usize| {
        wait_for(t, how, &[so.queue()], EventMask::IN, || {
            let mut at = start;
            c.recv_with(want - start, &mut |data| {
                let (n, e) = iov.scatter(t, at, data);
                at += n;
                (n, e)
            })
        })
    };
    let mut n = recv_at(0)?;
    while n < target && n > 0 {
        match recv_at(n) {
            Ok(0) | Err(_) => break,
            Ok(m) => n += m,
        }
    }
    Ok((n, n, None))
}

/// read(2)/write(2) on an inet socket: recv/send with no flags, straight between the app's
/// buffer and the stack (no bounce buffer). None if `file` is not an inet socket.
pub(super) fn read_write(
    t: &Task,
    file: &OpenFile,
    addr: u64,
    count: usize,
    read: bool,
) -> Option<SyscallResult> {
    let so = sock(file).ok()?;
    if !matches!(so.proto, Proto::Tcp(_)) {
        return None;
    }
    let iov = IoVecs::single(addr, count as u64);
    Some(if read {
        recv(t, file, &iov, 0).and_then(|(n, _, _)| ok_usize(n))
    } else {
        send(t, file, &iov, None, 0)
    })
}

pub(super) fn recvfrom(t: &Task, file: &OpenFile, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(3);
    let iov = IoVecs::single(args.ptr(1), args.size(2));
    let (n, full, from) = recv(t, file, &iov, flags)?;
    let so = sock(file)?;
    if args.ptr(4) != 0
        && let Some(a) = from
    {
        write_addr(t, so.family, args.ptr(4), args.ptr(5), a)?;
    }
    let dgram = matches!(so.proto, Proto::Udp(_) | Proto::Icmp(_));
    ok_usize(if dgram && flags & s::MSG_TRUNC != 0 {
        full
    } else {
        n
    })
}

pub(super) fn recvmsg(t: &Task, file: &OpenFile, hdr_ptr: u64, flags: u32) -> SyscallResult {
    let mut hdr: MsgHdr = t.copy_in_obj(hdr_ptr)?;
    let iov = IoVecs::read(t, hdr.iov, hdr.iovlen)?;
    let (n, full, from) = recv(t, file, &iov, flags)?;
    let so = sock(file)?;
    if hdr.name != 0 {
        match from {
            Some(a) => {
                let b = sockaddr_bytes(so.family, a);
                let have = usize::try_from(hdr.namelen).unwrap_or(0);
                let k = b.len().min(have);
                t.mm.copy_out(hdr.name, b.get(..k).unwrap_or_default())?;
                hdr.namelen = u32::try_from(b.len()).unwrap_or(0);
            }
            None => hdr.namelen = 0,
        }
    }
    hdr.controllen = 0;
    let dgram = matches!(so.proto, Proto::Udp(_) | Proto::Icmp(_));
    hdr.flags = if dgram && full > n { s::MSG_TRUNC } else { 0 };
    t.copy_out_obj(hdr_ptr, &hdr)?;
    ok_usize(if dgram && flags & s::MSG_TRUNC != 0 {
        full
    } else {
        n
    })
}

pub(super) fn sendmsg(t: &Task, file: &OpenFile, hdr_ptr: u64, flags: u32) -> SyscallResult {
    let hdr: MsgHdr = t.copy_in_obj(hdr_ptr)?;
    let iov = IoVecs::read(t, hdr.iov, hdr.iovlen)?;
    send(t, file, &iov, Some((hdr.name, hdr.namelen)), flags)
}
