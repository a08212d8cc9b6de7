//! getsockopt(2)/setsockopt(2) on AF_INET/AF_INET6 sockets (socket(7), ip(7), ipv6(7),
//! tcp(7)): called by `syscalls/socket.rs` for inet sockets (see `syscalls/inet.rs`).
//!
//! What it owns: the option table. Options that change the netstack's behaviour go to the
//! netstack handle (buffers, SO_REUSEADDR/SO_REUSEPORT, SO_KEEPALIVE and TCP_KEEP* on TCP,
//! SO_LINGER on TCP, TCP_NODELAY, IPV6_V6ONLY); the rest live in the socket's
//! [`SockOpts`](crate::socket::inet::SockOpts), validated with Linux's ranges and errnos.
//!
//! Levels as Linux dispatches them: IPPROTO_IP options work on both families (ipv6_setsockopt
//! hands SOL_IP to ip_setsockopt), IPPROTO_IPV6 ones only on AF_INET6, IPPROTO_TCP ones only
//! on TCP, IPPROTO_UDP ones only on UDP. Anything else is ENOPROTOOPT, except that
//! getsockopt on an AF_INET socket at a level it does not handle is EOPNOTSUPP (the level
//! falls through to do_ip_getsockopt, which says so; ipv6_getsockopt says ENOPROTOOPT).
//!
//! Shortcuts: TCP_SYNCNT, TCP_DEFER_ACCEPT, TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, UDP_CORK and
//! SO_BINDTODEVICE are validated and reported, not applied (loopback needs none of them);
//! TCP_INFO reports the state, MSS and queue counts from the netstack and fixed,
//! loopback-like values for the timers and congestion fields (smoltcp does not export its RTT
//! estimate); SO_LINGER with a non-zero time does not make close(2) wait.
//!
//! Lock order: `SockOpts` (leaf) is never held across a netstack call.

use abi::Errno;
use abi::cap::CAP_NET_ADMIN;
use abi::socket as s;
use netstack::Family;

use super::inet::{
    IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, sock,
};
use super::socket::{read_timeval_opt, timeval_bytes};
use super::{SyscallArgs, SyscallResult, ok_zero};
use crate::kernel::Task;
use crate::socket::inet::{InetSocket, Proto};
use vfs::OpenFile;

const SO_KEEPALIVE: i32 = 9;
const SO_BROADCAST: i32 = 6;
const SO_OOBINLINE: i32 = 10;
const SO_PRIORITY: i32 = 12;
const SO_LINGER: i32 = 13;
const SO_REUSEPORT: i32 = 15;
const SO_RCVLOWAT: i32 = 18;
const SO_SNDLOWAT: i32 = 19;

const IP_TOS: i32 = 1;
const IP_TTL: i32 = 2;
const IPV6_UNICAST_HOPS: i32 = 16;
const IPV6_V6ONLY: i32 = 26;
const IPV6_TCLASS: i32 = 67;
const IP_RECVERR: i32 = 11;
const IPV6_RECVERR: i32 = 25;

const TCP_NODELAY: i32 = 1;
const TCP_MAXSEG: i32 = 2;
const TCP_CORK: i32 = 3;
const TCP_KEEPIDLE: i32 = 4;
const TCP_KEEPINTVL: i32 = 5;
const TCP_KEEPCNT: i32 = 6;
const TCP_INFO: i32 = 11;
const TCP_QUICKACK: i32 = 12;
const TCP_SYNCNT: i32 = 7;
const TCP_DEFER_ACCEPT: i32 = 9;
const TCP_USER_TIMEOUT: i32 = 18;
const TCP_NOTSENT_LOWAT: i32 = 25;
const SO_BINDTODEVICE: i32 = 25;
/// MAX_TCP_SYNCNT, and Linux's default tcp_syn_retries.
const MAX_SYNCNT: i32 = 127;
const DEFAULT_SYNCNT: i32 = 6;
/// TCP_TIMEOUT_INIT and TCP_RTO_MAX in seconds (TCP_DEFER_ACCEPT's conversion).
const RTO_INIT_SECS: i32 = 1;
const RTO_MAX_SECS: i32 = 120;
/// IFNAMSIZ.
const IFNAMSIZ: usize = 16;

const UDP_CORK: i32 = 1;

/// Linux's MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL / MAX_TCP_KEEPCNT.
const MAX_KEEPIDLE: i32 = 32767;
const MAX_KEEPINTVL: i32 = 32767;
const MAX_KEEPCNT: i32 = 127;
/// TCP_MAXSEG bounds (TCP_MIN_MSS, MAX_TCP_WINDOW).
const MIN_MSS: i32 = 88;
const MAX_MSS: i32 = 32767;
/// The default TTL / hop limit (net.ipv4.ip_default_ttl, net.ipv6.conf.all.hop_limit).
const DEFAULT_TTL: i32 = 64;
/// SO_PRIORITY values open to everyone (TC_PRIO_BESTEFFORT..TC_PRIO_INTERACTIVE).
const MAX_USER_PRIORITY: i32 = 6;
/// The ECN bits of IP_TOS / IPV6_TCLASS, which TCP keeps for itself.
const ECN_MASK: i32 = 3;
/// sizeof(struct tcp_info) as Linux 6.7+ reports it.
const TCP_INFO_LEN: usize = 248;

/// TCP_DEFER_ACCEPT seconds as retransmissions of the SYN-ACK (secs_to_retrans).
fn secs_to_retrans(secs: i32) -> u8 {
    if secs <= 0 {
        return 0;
    }
    let (mut res, mut timeout, mut period) = (1u8, RTO_INIT_SECS, RTO_INIT_SECS);
    while secs > period && res < 255 {
        res += 1;
        timeout = timeout.saturating_mul(2).min(RTO_MAX_SECS);
        period = period.saturating_add(timeout);
    }
    res
}

/// The seconds TCP_DEFER_ACCEPT reports for `retrans` (retrans_to_secs).
fn retrans_to_secs(retrans: u8) -> i32 {
    if retrans == 0 {
        return 0;
    }
    let (mut timeout, mut period) = (RTO_INIT_SECS, RTO_INIT_SECS);
    for _ in 1..retrans {
        timeout = timeout.saturating_mul(2).min(RTO_MAX_SECS);
        period = period.saturating_add(timeout);
    }
    period
}

fn int(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn flag(v: bool) -> Vec<u8> {
    int(i32::from(v))
}

fn size(v: usize) -> Vec<u8> {
    int(i32::try_from(v).unwrap_or(i32::MAX))
}

/// `struct tcp_info` (include/uapi/linux/tcp.h) for `c`: the byte offsets are the
/// structure's (u8 state at 0, then u32 fields from offset 8).
fn tcp_info(c: &netstack::TcpSocket) -> Vec<u8> {
    const RTO: usize = 8;
    const ATO: usize = 12;
    const SND_MSS: usize = 16;
    const RCV_MSS: usize = 20;
    const UNACKED: usize = 24;
    const PMTU: usize = 60;
    const RCV_SSTHRESH: usize = 64;
    const RTT: usize = 68;
    const RTTVAR: usize = 72;
    const SND_SSTHRESH: usize = 76;
    const SND_CWND: usize = 80;
    const ADVMSS: usize = 84;
    const REORDERING: usize = 88;
    const RCV_SPACE: usize = 96;
    let i = c.info();
    let established = i.mss != 0;
    let mss = if established { i.mss } else { 536 };
    let mut b = vec![0u8; TCP_INFO_LEN];
    if let Some(st) = b.first_mut() {
        *st = i.state;
    }
    let mut put = |off: usize, v: u32| {
        if let Some(d) = b.get_mut(off..off + 4) {
            d.copy_from_slice(&v.to_ne_bytes());
        }
    };
    let u = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    // Timers: Linux's initial RTO (1 s) before a connection, its floor plus a loopback RTT
    // after.
    put(RTO, if established { 204_000 } else { 1_000_000 });
    put(ATO, if established { 40_000 } else { 0 });
    put(SND_MSS, mss);
    put(RCV_MSS, if established { mss } else { 0 });
    // tcpi_unacked: packets in flight, or the accept queue of a listener.
    let unacked = if i.state == 10 {
        u(i.recv_queued)
    } else {
        u(i.unacked.div_ceil(usize::try_from(mss).unwrap_or(1).max(1)))
    };
    put(UNACKED, unacked);
    put(PMTU, 65535);
    put(RCV_SSTHRESH, u(i.rcvbuf / 2));
    if established {
        put(RTT, 50);
        put(RTTVAR, 25);
    }
    // TCP_INFINITE_SSTHRESH, the initial window of 10 segments, the default reordering.
    put(SND_SSTHRESH, 0x7fff_ffff);
    put(SND_CWND, 10);
    put(ADVMSS, mss);
    put(REORDERING, 3);
    put(RCV_SPACE, u(i.rcvbuf / 2));
    b
}

/// getsockopt(2) on an inet socket.
pub(super) fn getsockopt(t: &Task, file: &OpenFile, args: &SyscallArgs) -> SyscallResult {
    let so = sock(file)?;
    let (level, name, val_ptr, len_ptr) = (args.int(1), args.int(2), args.ptr(3), args.ptr(4));
    let have: i32 = t.copy_in_obj(len_ptr)?;
    let value = if (level, name) == (s::SOL_SOCKET, SO_BINDTODEVICE) {
        let v = bound_device(t, so)?;
        // sock_getbindtodevice: a bound name needs an IFNAMSIZ buffer.
        if !v.is_empty() && usize::try_from(have).is_ok_and(|h| h < IFNAMSIZ) {
            return Err(Errno::EINVAL);
        }
        v
    } else {
        get_value(so, level, name)?
    };
    let have = usize::try_from(have).map_err(|_| Errno::EINVAL)?;
    let n = value.len().min(have);
    if n > 0 {
        t.mm.copy_out(val_ptr, value.get(..n).unwrap_or_default())?;
    }
    t.copy_out_obj(len_ptr, &i32::try_from(n).unwrap_or(0))?;
    ok_zero()
}

fn get_value(so: &InetSocket, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
    let o = *so.opts();
    let v6 = so.family == Family::V6;
    Ok(match (&so.proto, level, name) {
        (_, s::SOL_SOCKET, s::SO_TYPE) => int(so.sock_type()),
        (_, s::SOL_SOCKET, s::SO_DOMAIN) => int(so.domain()),
        (Proto::Tcp(_), s::SOL_SOCKET, s::SO_PROTOCOL) => int(IPPROTO_TCP),
        (Proto::Udp(_), s::SOL_SOCKET, s::SO_PROTOCOL) => int(IPPROTO_UDP),
        (Proto::Icmp(_), s::SOL_SOCKET, s::SO_PROTOCOL) => {
            int(if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP })
        }
        (Proto::Icmp(_), s::SOL_SOCKET, s::SO_ERROR) => int(0),
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_ERROR) => int(c.take_error().map_or(0, Errno::raw)),
        (Proto::Udp(u), s::SOL_SOCKET, s::SO_ERROR) => int(u.take_error().map_or(0, Errno::raw)),
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_ACCEPTCONN) => flag(c.is_listening()),
        (_, s::SOL_SOCKET, s::SO_ACCEPTCONN) => flag(false),
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_REUSEADDR) => flag(c.reuseaddr()),
        (Proto::Udp(u), s::SOL_SOCKET, s::SO_REUSEADDR) => flag(u.reuseaddr()),
        (Proto::Tcp(c), s::SOL_SOCKET, SO_REUSEPORT) => flag(c.reuseport()),
        (Proto::Udp(u), s::SOL_SOCKET, SO_REUSEPORT) => flag(u.reuseport()),
        (Proto::Tcp(c), s::SOL_SOCKET, SO_KEEPALIVE) => flag(c.keepalive()),
        (_, s::SOL_SOCKET, SO_KEEPALIVE) => flag(o.keepalive),
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_RCVBUF) => size(c.recv_buffer_size()),
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_SNDBUF) => size(c.send_buffer_size()),
        (Proto::Udp(u), s::SOL_SOCKET, s::SO_RCVBUF) => size(u.recv_buffer_size()),
        (Proto::Udp(u), s::SOL_SOCKET, s::SO_SNDBUF) => size(u.send_buffer_size()),
        (_, s::SOL_SOCKET, s::SO_RCVTIMEO) => timeval_bytes(o.rcvtimeo),
        (_, s::SOL_SOCKET, s::SO_SNDTIMEO) => timeval_bytes(o.sndtimeo),
        (_, s::SOL_SOCKET, SO_BROADCAST) => flag(o.broadcast),
        (_, s::SOL_SOCKET, SO_OOBINLINE) => flag(o.oobinline),
        (_, s::SOL_SOCKET, SO_PRIORITY) => int(o.priority),
        (_, s::SOL_SOCKET, SO_RCVLOWAT) => int(o.rcvlowat),
        (_, s::SOL_SOCKET, SO_SNDLOWAT) => int(1),
        (_, s::SOL_SOCKET, SO_LINGER) => {
            let mut v = int(i32::from(o.linger.0));
            v.extend_from_slice(&o.linger.1.to_ne_bytes());
            v
        }
        (_, IPPROTO_IP, IP_TTL) => int(if o.ttl < 0 { DEFAULT_TTL } else { o.ttl }),
        (_, IPPROTO_IP, IP_TOS) => int(o.tos),
        (_, IPPROTO_IP, IP_RECVERR) => flag(o.recverr),
        (_, IPPROTO_IPV6, IPV6_RECVERR) if v6 => flag(o.recverr),
        (_, IPPROTO_IPV6, IPV6_UNICAST_HOPS) if v6 => {
            int(if o.hops < 0 { DEFAULT_TTL } else { o.hops })
        }
        (_, IPPROTO_IPV6, IPV6_TCLASS) if v6 => int(o.tclass),
        (Proto::Tcp(c), IPPROTO_IPV6, IPV6_V6ONLY) if v6 => flag(c.v6only()),
        (Proto::Udp(u), IPPROTO_IPV6, IPV6_V6ONLY) if v6 => flag(u.v6only()),
        (Proto::Tcp(c), IPPROTO_TCP, TCP_NODELAY) => flag(c.nodelay()),
        (Proto::Tcp(c), IPPROTO_TCP, TCP_MAXSEG) => {
            let m = c.maxseg();
            let connected = c.info().mss != 0;
            if o.user_mss > 0 && !connected {
                int(o.user_mss)
            } else {
                int(i32::try_from(m).unwrap_or(i32::MAX))
            }
        }
        (Proto::Tcp(_), IPPROTO_TCP, TCP_CORK) => flag(o.cork),
        (Proto::Tcp(c), IPPROTO_TCP, TCP_KEEPIDLE) => size(c.keepidle() as usize),
        (Proto::Tcp(c), IPPROTO_TCP, TCP_KEEPINTVL) => size(c.keepintvl() as usize),
        (Proto::Tcp(c), IPPROTO_TCP, TCP_KEEPCNT) => size(c.keepcnt() as usize),
        (Proto::Tcp(_), IPPROTO_TCP, TCP_QUICKACK) => flag(o.quickack),
        (Proto::Tcp(_), IPPROTO_TCP, TCP_USER_TIMEOUT) => int(o.user_timeout),
        (Proto::Tcp(_), IPPROTO_TCP, TCP_SYNCNT) => int(if o.syncnt == 0 {
            DEFAULT_SYNCNT
        } else {
            o.syncnt
        }),
        (Proto::Tcp(_), IPPROTO_TCP, TCP_NOTSENT_LOWAT) => int(o.notsent_lowat),
        (Proto::Tcp(_), IPPROTO_TCP, TCP_DEFER_ACCEPT) => int(retrans_to_secs(o.defer_accept)),
        (Proto::Tcp(c), IPPROTO_TCP, TCP_INFO) => tcp_info(c),
        (Proto::Udp(_), IPPROTO_UDP, UDP_CORK) => flag(o.cork),
        (Proto::Tcp(_), IPPROTO_TCP, _) | (Proto::Udp(_), IPPROTO_UDP, _) => {
            return Err(Errno::ENOPROTOOPT);
        }
        (_, s::SOL_SOCKET | IPPROTO_IP, _) => return Err(Errno::ENOPROTOOPT),
        _ if v6 => return Err(Errno::ENOPROTOOPT),
        _ => return Err(Errno::EOPNOTSUPP),
    })
}

/// SO_BINDTODEVICE's value: the interface name with its NUL, empty when unbound.
fn bound_device(t: &Task, so: &InetSocket) -> Result<Vec<u8>, Errno> {
    let idx = so.opts().bound_dev;
    if idx == 0 {
        return Ok(Vec::new());
    }
    let stack = t.kernel.net_stack()?;
    let name = stack
        .interfaces()
        .into_iter()
        .find(|i| i.index == idx)
        .map(|i| i.name)
        .unwrap_or_default();
    let mut v = name.into_bytes();
    v.push(0);
    Ok(v)
}

/// SO_BINDTODEVICE: a name of up to IFNAMSIZ bytes (NUL-terminated or not); empty unbinds;
/// ENODEV for no such interface. The binding is recorded, not applied (routing is the
/// stack's).
fn bind_to_device(t: &Task, so: &InetSocket, val_ptr: u64, len: i32) -> Result<(), Errno> {
    let n = usize::try_from(len)
        .map_err(|_| Errno::EINVAL)?
        .min(IFNAMSIZ - 1);
    let mut b = vec![0u8; n];
    if n > 0 {
        t.mm.copy_in(val_ptr, &mut b)?;
    }
    let name: Vec<u8> = b.into_iter().take_while(|&c| c != 0).collect();
    if name.is_empty() {
        so.opts().bound_dev = 0;
        return Ok(());
    }
    let stack = t.kernel.net_stack()?;
    let idx = stack
        .interfaces()
        .into_iter()
        .find(|i| i.name.as_bytes() == name.as_slice())
        .map(|i| i.index)
        .ok_or(Errno::ENODEV)?;
    so.opts().bound_dev = idx;
    Ok(())
}

/// An int option value (EINVAL when `len` is shorter than an int).
fn int_opt(t: &Task, val_ptr: u64, len: i32) -> Result<i32, Errno> {
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    t.copy_in_obj(val_ptr)
}

/// An IP-level int: a full int, or one byte when shorter (do_ip_setsockopt).
fn ip_int(t: &Task, val_ptr: u64, len: i32) -> Result<i32, Errno> {
    match len {
        l if l >= 4 => t.copy_in_obj(val_ptr),
        l if l >= 1 => t.copy_in_obj::<u8>(val_ptr).map(i32::from),
        _ => Err(Errno::EINVAL),
    }
}

/// setsockopt(2) on an inet socket.
pub(super) fn setsockopt(t: &Task, file: &OpenFile, args: &SyscallArgs) -> SyscallResult {
    let so = sock(file)?;
    let (level, name, val_ptr, len) = (args.int(1), args.int(2), args.ptr(3), args.int(4));
    let v6 = so.family == Family::V6;
    let stream = matches!(so.proto, Proto::Tcp(_));
    let buf = |v: i32| usize::try_from(v).unwrap_or(0);
    match (&so.proto, level, name) {
        (_, s::SOL_SOCKET, s::SO_RCVTIMEO) => {
            so.opts().rcvtimeo = read_timeval_opt(t, val_ptr, len)?;
        }
        (_, s::SOL_SOCKET, SO_BINDTODEVICE) => bind_to_device(t, so, val_ptr, len)?,
        (_, s::SOL_SOCKET, s::SO_SNDTIMEO) => {
            so.opts().sndtimeo = read_timeval_opt(t, val_ptr, len)?;
        }
        (_, s::SOL_SOCKET, SO_LINGER) => {
            if len < 8 {
                return Err(Errno::EINVAL);
            }
            let [on, secs]: [i32; 2] = t.copy_in_obj(val_ptr)?;
            let on = on != 0;
            {
                let mut o = so.opts();
                o.linger.0 = on;
                if on {
                    // A negative time is "forever" (MAX_SCHEDULE_TIMEOUT) in Linux.
                    o.linger.1 = secs.max(0);
                }
            }
            if let Proto::Tcp(c) = &so.proto {
                c.set_linger(on.then(|| u32::try_from(secs.max(0)).unwrap_or(0)));
            }
        }
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_REUSEADDR) => {
            c.set_reuseaddr(int_opt(t, val_ptr, len)? != 0);
        }
        (Proto::Udp(u), s::SOL_SOCKET, s::SO_REUSEADDR) => {
            u.set_reuseaddr(int_opt(t, val_ptr, len)? != 0);
        }
        (Proto::Tcp(c), s::SOL_SOCKET, SO_REUSEPORT) => {
            c.set_reuseport(int_opt(t, val_ptr, len)? != 0);
        }
        (Proto::Udp(u), s::SOL_SOCKET, SO_REUSEPORT) => {
            u.set_reuseport(int_opt(t, val_ptr, len)? != 0);
        }
        (Proto::Tcp(c), s::SOL_SOCKET, SO_KEEPALIVE) => {
            c.set_keepalive(int_opt(t, val_ptr, len)? != 0);
        }
        (_, s::SOL_SOCKET, SO_KEEPALIVE) => so.opts().keepalive = int_opt(t, val_ptr, len)? != 0,
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_RCVBUF) => {
            c.set_recv_buffer_size(buf(int_opt(t, val_ptr, len)?));
        }
        (Proto::Tcp(c), s::SOL_SOCKET, s::SO_SNDBUF) => {
            c.set_send_buffer_size(buf(int_opt(t, val_ptr, len)?));
        }
        (Proto::Udp(u), s::SOL_SOCKET, s::SO_RCVBUF) => {
            u.set_recv_buffer_size(buf(int_opt(t, val_ptr, len)?));
        }
        (Proto::Udp(u), s::SOL_SOCKET, s::SO_SNDBUF) => {
            u.set_send_buffer_size(buf(int_opt(t, val_ptr, len)?));
        }
        (_, s::SOL_SOCKET, SO_BROADCAST) => so.opts().broadcast = int_opt(t, val_ptr, len)? != 0,
        (_, s::SOL_SOCKET, SO_OOBINLINE) => so.opts().oobinline = int_opt(t, val_ptr, len)? != 0,
        (_, s::SOL_SOCKET, SO_PRIORITY) => {
            let v = int_opt(t, val_ptr, len)?;
            if !(0..=MAX_USER_PRIORITY).contains(&v) && !t.creds.has_cap(CAP_NET_ADMIN) {
                return Err(Errno::EPERM);
            }
            so.opts().priority = v;
        }
        (_, s::SOL_SOCKET, SO_RCVLOWAT) => {
            let v = int_opt(t, val_ptr, len)?;
            let v = if v < 0 { i32::MAX } else { v };
            so.opts().rcvlowat = v.max(1);
        }
        (_, IPPROTO_IP, IP_RECVERR) => so.opts().recverr = ip_int(t, val_ptr, len)? != 0,
        (_, IPPROTO_IPV6, IPV6_RECVERR) if v6 => so.opts().recverr = int_opt(t, val_ptr, len)? != 0,
        (_, IPPROTO_IP, IP_TTL) => {
            let v = ip_int(t, val_ptr, len)?;
            if v != -1 && !(1..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            so.opts().ttl = v;
        }
        (_, IPPROTO_IP, IP_TOS) => {
            let v = ip_int(t, val_ptr, len)? & 0xff;
            let mut o = so.opts();
            o.tos = if stream {
                (v & !ECN_MASK) | (o.tos & ECN_MASK)
            } else {
                v
            };
        }
        (_, IPPROTO_IPV6, IPV6_UNICAST_HOPS) if v6 => {
            let v = int_opt(t, val_ptr, len)?;
            if !(-1..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            so.opts().hops = v;
        }
        (_, IPPROTO_IPV6, IPV6_TCLASS) if v6 => {
            let v = int_opt(t, val_ptr, len)?;
            if !(-1..=0xff).contains(&v) {
                return Err(Errno::EINVAL);
            }
            let v = v.max(0);
            let mut o = so.opts();
            o.tclass = if stream {
                (v & !ECN_MASK) | (o.tclass & ECN_MASK)
            } else {
                v
            };
        }
        (Proto::Tcp(c), IPPROTO_IPV6, IPV6_V6ONLY) if v6 => {
            c.set_v6only(int_opt(t, val_ptr, len)? != 0)?;
        }
        (Proto::Udp(u), IPPROTO_IPV6, IPV6_V6ONLY) if v6 => {
            u.set_v6only(int_opt(t, val_ptr, len)? != 0)?;
        }
        (Proto::Tcp(c), IPPROTO_TCP, TCP_NODELAY) => c.set_nodelay(int_opt(t, val_ptr, len)? != 0),
        (Proto::Tcp(_), IPPROTO_TCP, TCP_CORK) | (Proto::Udp(_), IPPROTO_UDP, UDP_CORK) => {
            so.opts().cork = int_opt(t, val_ptr, len)? != 0;
        }
        (Proto::Tcp(_), IPPROTO_TCP, TCP_QUICKACK) => {
            so.opts().quickack = int_opt(t, val_ptr, len)? != 0;
        }
        (Proto::Tcp(_), IPPROTO_TCP, TCP_USER_TIMEOUT) => {
            let v = int_opt(t, val_ptr, len)?;
            if v < 0 {
                return Err(Errno::EINVAL);
            }
            so.opts().user_timeout = v;
        }
        (Proto::Tcp(_), IPPROTO_TCP, TCP_SYNCNT) => {
            let v = int_opt(t, val_ptr, len)?;
            if !(1..=MAX_SYNCNT).contains(&v) {
                return Err(Errno::EINVAL);
            }
            so.opts().syncnt = v;
        }
        (Proto::Tcp(_), IPPROTO_TCP, TCP_NOTSENT_LOWAT) => {
            so.opts().notsent_lowat = int_opt(t, val_ptr, len)?;
        }
        (Proto::Tcp(_), IPPROTO_TCP, TCP_DEFER_ACCEPT) => {
            so.opts().defer_accept = secs_to_retrans(int_opt(t, val_ptr, len)?);
        }
        (Proto::Tcp(_), IPPROTO_TCP, TCP_MAXSEG) => {
            let v = int_opt(t, val_ptr, len)?;
            if v != 0 && !(MIN_MSS..=MAX_MSS).contains(&v) {
                return Err(Errno::EINVAL);
            }
            so.opts().user_mss = v;
        }
        (Proto::Tcp(c), IPPROTO_TCP, TCP_KEEPIDLE) => {
            let v = int_opt(t, val_ptr, len)?;
            if !(1..=MAX_KEEPIDLE).contains(&v) {
                return Err(Errno::EINVAL);
            }
            c.set_keepidle(v.unsigned_abs());
        }
        (Proto::Tcp(c), IPPROTO_TCP, TCP_KEEPINTVL) => {
            let v = int_opt(t, val_ptr, len)?;
            if !(1..=MAX_KEEPINTVL).contains(&v) {
                return Err(Errno::EINVAL);
            }
            c.set_keepintvl(v.unsigned_abs());
        }
        (Proto::Tcp(c), IPPROTO_TCP, TCP_KEEPCNT) => {
            let v = int_opt(t, val_ptr, len)?;
            if !(1..=MAX_KEEPCNT).contains(&v) {
                return Err(Errno::EINVAL);
            }
            c.set_keepcnt(v.unsigned_abs());
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    ok_zero()
}
