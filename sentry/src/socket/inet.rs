//! AF_INET and AF_INET6 sockets (ip(7), tcp(7), udp(7)) over the sandbox's own TCP/IP stack
//! (`netstack`, on smoltcp): the file description and the address codecs. The app's traffic
//! never reaches a host socket.
//!
//! What this owns: [`InetSocket`] (a `netstack` TCP or UDP handle plus the socket options the
//! sentry answers itself, [`SockOpts`]: timeouts, IP/IPv6 header fields, flags that change
//! nothing on loopback) and its [`FileOps`] (read/write, readiness on the netstack's wait
//! queue, FIONREAD/SIOCOUTQ and the interface ioctls). The syscall handlers are in
//! `syscalls/inet.rs`; the stack is the kernel's ([`crate::kernel::Kernel::net_stack`]).
//!
//! Lock order: `InetSocket::opts` is a leaf (never held across a netstack call); the netstack's
//! stack lock is taken inside each netstack call, never with a sentry lock held by this module.
//!
//! Shortcuts: the stack has only the loopback interface (`lo`); SOCK_RAW is EPERM without
//! CAP_NET_RAW and EPROTONOSUPPORT with it; ICMP ("ping") sockets are open to every group
//! (net.ipv4.ping_group_range "0 2147483647", as Docker sets it for containers; Linux's own
//! default "1 0" allows none); options other than the ones `syscalls/inet_opts.rs` lists are
//! ENOPROTOOPT. IP_TTL/IP_TOS/IPV6_UNICAST_HOPS/IPV6_TCLASS, SO_PRIORITY, SO_BROADCAST,
//! SO_OOBINLINE, TCP_CORK, TCP_QUICKACK and TCP_MAXSEG are validated and reported as Linux
//! does but do not change the packets (loopback has no use for them). SO_RCVLOWAT holds back
//! a stream's readability (here) and blocking receives (`syscalls/inet.rs`) until that many
//! bytes are queued or the stream ends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use abi::file::Stat;
use abi::{Errno, SysResult};
use netstack::{Family, IcmpSocket, TcpSocket, UdpSocket};
use vfs::waiter::{EventMask, WaitQueue};
use vfs::{FileOps, OpenFile};

/// The protocol side of an inet socket.
#[derive(Debug)]
pub enum Proto {
    Tcp(TcpSocket),
    Udp(UdpSocket),
    /// An ICMP echo ("ping") socket: SOCK_DGRAM with IPPROTO_ICMP/IPPROTO_ICMPV6.
    Icmp(IcmpSocket),
}

/// The socket options the sentry keeps itself (the netstack keeps the ones that change its
/// behaviour: buffers, SO_REUSEADDR/PORT, keep-alive, linger on TCP, TCP_NODELAY, V6ONLY).
#[derive(Clone, Copy, Debug)]
pub struct SockOpts {
    /// SO_RCVTIMEO / SO_SNDTIMEO (None: wait forever).
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    pub broadcast: bool,
    pub oobinline: bool,
    /// SO_KEEPALIVE of a datagram socket (stored only, as Linux).
    pub keepalive: bool,
    /// SO_LINGER as set: (on, seconds).
    pub linger: (bool, i32),
    pub priority: i32,
    pub rcvlowat: i32,
    /// IP_TTL (-1: the default, 64).
    pub ttl: i32,
    pub tos: i32,
    /// IPV6_UNICAST_HOPS (-1: the default, 64).
    pub hops: i32,
    pub tclass: i32,
    pub cork: bool,
    pub quickack: bool,
    /// TCP_MAXSEG as set (0: none).
    pub user_mss: i32,
    /// TCP_USER_TIMEOUT (ms), TCP_SYNCNT (0: the default), TCP_NOTSENT_LOWAT.
    pub user_timeout: i32,
    pub syncnt: i32,
    pub notsent_lowat: i32,
    /// TCP_DEFER_ACCEPT as retransmissions (Linux's secs_to_retrans).
    pub defer_accept: u8,
    /// SO_BINDTODEVICE: the interface index (0: none).
    pub bound_dev: u32,
    /// IP_RECVERR / IPV6_RECVERR (glibc's resolver sets it). The stack queues no ICMP errors
    /// to sockets, so the error queue it enables stays empty (MSG_ERRQUEUE: EAGAIN).
    pub recverr: bool,
}

impl Default for SockOpts {
    fn default() -> SockOpts {
        SockOpts {
            rcvtimeo: None,
            sndtimeo: None,
            broadcast: false,
            oobinline: false,
            keepalive: false,
            linger: (false, 0),
            priority: 0,
            rcvlowat: 1,
            ttl: -1,
            tos: 0,
            hops: -1,
            tclass: 0,
            cork: false,
            quickack: true,
            recverr: false,
            user_mss: 0,
            user_timeout: 0,
            syncnt: 0,
            notsent_lowat: 0,
            defer_accept: 0,
            bound_dev: 0,
        }
    }
}

/// One AF_INET/AF_INET6 socket.
#[derive(Debug)]
pub struct InetSocket {
    pub family: Family,
    pub proto: Proto,
    ino: u64,
    opts: Mutex<SockOpts>,
}

/// SIOCOUTQ (TIOCOUTQ): bytes not yet sent.
const SIOCOUTQ: u32 = 0x5411;

impl InetSocket {
    pub fn new(family: Family, proto: Proto) -> InetSocket {
        InetSocket::with_opts(family, proto, SockOpts::default())
    }

    /// A socket starting with `opts` (an accepted connection inherits its listener's).
    pub fn with_opts(family: Family, proto: Proto, opts: SockOpts) -> InetSocket {
        static NEXT_INO: AtomicU64 = AtomicU64::new(0x494e_0000);
        InetSocket {
            family,
            proto,
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            opts: Mutex::new(opts),
        }
    }

    /// The sentry-side options (a leaf lock).
    pub fn opts(&self) -> MutexGuard<'_, SockOpts> {
        self.opts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn queue(&self) -> &WaitQueue {
        match &self.proto {
            Proto::Tcp(s) => s.wait_queue(),
            Proto::Udp(s) => s.wait_queue(),
            Proto::Icmp(s) => s.wait_queue(),
        }
    }

    /// SOCK_STREAM or SOCK_DGRAM.
    pub fn sock_type(&self) -> i32 {
        match self.proto {
            Proto::Tcp(_) => abi::socket::SOCK_STREAM,
            Proto::Udp(_) | Proto::Icmp(_) => abi::socket::SOCK_DGRAM,
        }
    }

    /// AF_INET or AF_INET6.
    pub fn domain(&self) -> i32 {
        match self.family {
            Family::V4 => abi::socket::AF_INET,
            Family::V6 => abi::socket::AF_INET6,
        }
    }

    fn events(&self) -> EventMask {
        match &self.proto {
            Proto::Tcp(s) => s.readiness().events(),
            Proto::Udp(s) => s.readiness().events(),
            Proto::Icmp(s) => s.readiness().events(),
        }
    }

    /// A non-blocking receive into `buf`: (copied, full length of a datagram, sender).
    pub fn recv(
        &self,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<(usize, usize, Option<SocketAddr>), Errno> {
        match &self.proto {
            Proto::Tcp(s) => s.recv(buf, peek).map(|n| (n, n, None)),
            Proto::Udp(s) => s
                .recv_from(buf, peek)
                .map(|m| (m.copied, m.len, Some(m.from))),
            Proto::Icmp(s) => s
                .recv_from(buf, peek)
                .map(|m| (m.copied, m.len, Some(m.from))),
        }
    }

    /// A non-blocking send of `buf` (to `to`, for UDP).
    pub fn send(&self, buf: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        match &self.proto {
            Proto::Tcp(s) => s.send(buf),
            Proto::Udp(s) => s.send_to(buf, to),
            Proto::Icmp(s) => s.send_to(buf, to),
        }
    }
}

/// The file description of an inet socket.
#[derive(Debug)]
pub struct InetFile {
    pub sock: InetSocket,
}

/// SO_RCVTIMEO (`mask` has IN) or SO_SNDTIMEO of an inet socket file, for read(2)/write(2)
/// (`syscalls::fs::blocking`); None for other files or no timeout.
pub fn block_timeout(file: &OpenFile, mask: EventMask) -> Option<Duration> {
    let f = file.ops_any()?.downcast_ref::<InetFile>()?;
    let o = f.sock.opts();
    if mask.contains(EventMask::IN) {
        o.rcvtimeo
    } else {
        o.sndtimeo
    }
}

/// A new file description for `sock`.
pub fn new_file(sock: InetSocket, nonblock: bool) -> std::sync::Arc<OpenFile> {
    let flags = abi::file::O_RDWR | if nonblock { abi::file::O_NONBLOCK } else { 0 };
    OpenFile::new_ops(None, Box::new(InetFile { sock }), flags)
}

impl FileOps for InetFile {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.sock.recv(buf, false).map(|(n, _, _)| n)
    }

    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        self.sock.send(buf, None)
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(super::socket_stat(self.sock.ino))
    }

    fn ioctl(&self, mem: &dyn vfs::UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        // tcp_ioctl: no queue counts on a listener.
        if let Proto::Tcp(c) = &self.sock.proto
            && matches!(cmd, abi::ioctl::FIONREAD | SIOCOUTQ)
            && c.is_listening()
        {
            return Err(Errno::EINVAL);
        }
        let count = match (cmd, &self.sock.proto) {
            (abi::ioctl::FIONREAD, Proto::Tcp(s)) => Some(s.recv_queued()),
            (abi::ioctl::FIONREAD, Proto::Udp(s)) => Some(s.next_datagram_len()),
            (SIOCOUTQ, Proto::Tcp(s)) => Some(s.send_queued()),
            (SIOCOUTQ, Proto::Udp(_) | Proto::Icmp(_)) => Some(0),
            (abi::ioctl::FIONREAD, Proto::Icmp(_)) => Some(0),
            _ => None,
        };
        if let Some(n) = count {
            mem.copy_out(arg, &i32::try_from(n).unwrap_or(i32::MAX).to_ne_bytes())?;
            return Ok(0);
        }
        super::netlink::netdev_ioctl(mem, cmd, arg, true).unwrap_or(Err(Errno::ENOTTY))
    }

    fn readiness(&self, mask: EventMask) -> EventMask {
        let mut ev = self.sock.events();
        // SO_RCVLOWAT: a stream is readable with that many bytes, or at its end.
        let lowat = usize::try_from(self.sock.opts().rcvlowat).unwrap_or(1);
        if lowat > 1
            && let Proto::Tcp(c) = &self.sock.proto
            && !ev.intersects(EventMask::RDHUP | EventMask::HUP | EventMask::ERR)
            && c.recv_queued() < lowat
        {
            ev.remove(EventMask::IN | EventMask::RDNORM);
        }
        ev & (mask | EventMask::ALWAYS)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(self.sock.queue())
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

// ---------------------------------------------------------------- addresses

/// Parses a `sockaddr_in`/`sockaddr_in6` for a socket of `family`: EINVAL if too short,
/// EAFNOSUPPORT for another family (an AF_INET6 socket takes only AF_INET6 addresses, with
/// v4-mapped ones for IPv4).
pub fn parse_sockaddr(family: Family, b: &[u8]) -> Result<SocketAddr, Errno> {
    let fam = b
        .get(..2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map(u16::from_ne_bytes)
        .ok_or(Errno::EINVAL)?;
    let port = |b: &[u8]| {
        b.get(2..4)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map(u16::from_be_bytes)
            .unwrap_or(0)
    };
    match (family, i32::from(fam)) {
        (Family::V4, abi::socket::AF_INET) => {
            let a: [u8; 4] = b
                .get(4..8)
                .and_then(|s| s.try_into().ok())
                .ok_or(Errno::EINVAL)?;
            if b.len() < 16 {
                return Err(Errno::EINVAL);
            }
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(a),
                port(b),
            )))
        }
        (Family::V6, abi::socket::AF_INET6) => {
            if b.len() < 24 {
                return Err(Errno::EINVAL);
            }
            let flow = b
                .get(4..8)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map_or(0, u32::from_be_bytes);
            let a: [u8; 16] = b
                .get(8..24)
                .and_then(|s| s.try_into().ok())
                .ok_or(Errno::EINVAL)?;
            let scope = b
                .get(24..28)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map_or(0, u32::from_ne_bytes);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a),
                port(b),
                flow,
                scope,
            )))
        }
        // An AF_INET socket given AF_UNSPEC with INADDR_ANY binds like AF_INET (Linux's
        // inet_bind compatibility); anything else of the wrong family is EAFNOSUPPORT.
        (Family::V4, 0) if b.get(4..8) == Some(&[0, 0, 0, 0][..]) && b.len() >= 16 => Ok(
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port(b))),
        ),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// The `sockaddr_in`/`sockaddr_in6` of `a` as a socket of `family` reports it (IPv4 peers of
/// an AF_INET6 socket as v4-mapped addresses).
pub fn sockaddr_bytes(family: Family, a: SocketAddr) -> Vec<u8> {
    match (family, a) {
        (Family::V4, SocketAddr::V4(v)) => {
            let mut b = vec![0u8; 16];
            b[..2].copy_from_slice(
                &u16::try_from(abi::socket::AF_INET)
                    .unwrap_or(2)
                    .to_ne_bytes(),
            );
            b[2..4].copy_from_slice(&v.port().to_be_bytes());
            b[4..8].copy_from_slice(&v.ip().octets());
            b
        }
        (Family::V4, SocketAddr::V6(v)) => {
            let ip = v.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED);
            sockaddr_bytes(Family::V4, SocketAddr::V4(SocketAddrV4::new(ip, v.port())))
        }
        (Family::V6, a) => {
            let (ip, port, flow, scope) = match a {
                SocketAddr::V6(v) => (*v.ip(), v.port(), v.flowinfo(), v.scope_id()),
                SocketAddr::V4(v) => (v.ip().to_ipv6_mapped(), v.port(), 0, 0),
            };
            let mut b = vec![0u8; 28];
            b[..2].copy_from_slice(
                &u16::try_from(abi::socket::AF_INET6)
                    .unwrap_or(10)
                    .to_ne_bytes(),
            );
            b[2..4].copy_from_slice(&port.to_be_bytes());
            b[4..8].copy_from_slice(&flow.to_be_bytes());
            b[8..24].copy_from_slice(&ip.octets());
            b[24..28].copy_from_slice(&scope.to_ne_bytes());
            b
        }
    }
}

/// Whether `ip` is the wildcard of its family.
pub fn is_unspecified(ip: IpAddr) -> bool {
    ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            parse_sockaddr(Family::V4, &sockaddr_bytes(Family::V4, a)),
            Ok(a)
        );
        let b: SocketAddr = "[::1]:53".parse().unwrap();
        assert_eq!(
            parse_sockaddr(Family::V6, &sockaddr_bytes(Family::V6, b)),
            Ok(b)
        );
        assert_eq!(
            parse_sockaddr(Family::V6, &sockaddr_bytes(Family::V4, a)),
            Err(Errno::EAFNOSUPPORT)
        );
        assert_eq!(parse_sockaddr(Family::V4, &[2, 0]), Err(Errno::EINVAL));
        // An IPv4 peer of an AF_INET6 socket is shown v4-mapped.
        let m = sockaddr_bytes(Family::V6, a);
        assert_eq!(&m[8..24], &Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets());
    }
}
