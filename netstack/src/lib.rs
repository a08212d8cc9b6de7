//! The sandbox's own TCP/IP stack: AF_INET/AF_INET6 stream and datagram sockets on `smoltcp`.
//!
//! What it owns: one [`Stack`] per sandbox (shared as `Arc<Stack>`) holding the smoltcp
//! interface(s), their devices, the smoltcp `SocketSet`, the port table (binds, ephemeral ports)
//! and the per-socket state that smoltcp does not model (listen pools and accept queues, pending
//! `SO_ERROR`, shutdown flags, options). [`TcpSocket`] and [`UdpSocket`] are handles the sentry
//! will keep in its socket files; every call is non-blocking and returns `abi::Errno` values as
//! Linux would (`EAGAIN` where Linux would block). Blocking is the caller's business: each socket
//! has a [`vfs::waiter::WaitQueue`] that is notified whenever its readiness may have changed, so
//! the sentry blocks with the same waiter/epoll machinery as for pipes.
//!
//! Neighbours: `abi` (errno values), `vfs::waiter` (wait queues). Nothing here knows about
//! syscalls or guest memory: socket-address parsing, `MSG_*` flags, `SIGPIPE` and timeouts are
//! the sentry's.
//!
//! # Interfaces
//! `lo` (index 1): 127.0.0.1/8 and ::1/128, MTU 65535 in smoltcp (the IPv4 length field's
//! limit), reported as 65536 like Linux. Ethernet interfaces are attached with
//! [`Stack::attach_ethernet`]: the container's veth, over an AF_PACKET socket
//! ([`PacketSocket`], `afpacket.rs`) with ARP, routing and checksums in `ether.rs`.
//! smoltcp runs **one** `Interface` (IP medium) holding every address over one device
//! (`stack::Dev`) that loops back packets for local addresses and routes the rest to the
//! Ethernet interface whose route matches: smoltcp lets every interface dispatch every
//! socket, so one interface with routing below it is what keeps a socket's packets on its
//! own link. [`Stack::interfaces`] and [`Stack::routes`] are what netlink, `SIOCGIF*` and
//! /proc/net report; each Ethernet interface has a receive thread (`netstack-rx-<name>`).
//! `afpacket.rs` is the crate's only unsafe code (the libc calls of the packet socket).
//!
//! # Poll model
//! smoltcp's `Interface::poll` moves packets and runs the TCP timers. Two drivers call it:
//! * **poll-on-operation**: every socket operation (bind, connect, send, recv, close, ...) runs
//!   under the stack lock and then polls until the loopback queue is empty (bounded), so a send
//!   on loopback has been delivered to the peer socket before the call returns;
//! * **a timer thread** (`netstack-timer`, one per stack) sleeps on a condvar until the earliest
//!   `Interface::poll_at` (retransmissions, delayed ACKs, keep-alives, TIME-WAIT), polls, and
//!   sleeps again. An operation that makes the next deadline earlier than the one the thread
//!   sleeps for wakes it. The thread holds only a `Weak<Stack>` and ends when the stack is
//!   dropped.
//!
//! After every poll, the stack promotes established connections of listen pools into accept
//! queues, detects resets (`SO_ERROR`), reaps closed orphans, and recomputes each socket's
//! readiness; a socket whose readiness (or queued byte counts) changed has its wait queue
//! notified. No caller ever spins. Both the frames a poll made for the wires and those
//! notifications wait until the stack lock is released (`Stack::release`): `sendmsg` on a
//! packet socket runs the host's bridge and the peer's TCP receive inline, and a woken reader
//! goes straight for the stack lock. The receive threads read their batch of frames before
//! taking the lock.
//!
//! # Lock order
//! `Stack::inner` (all smoltcp state) → `Stack::tx` (frames on their way to the wires: taken
//! before `inner` is released, so frames leave in the order they were made, and held alone
//! while they are sent). Wait queues are notified with no stack lock held → the `Notify` leaf
//! locks (waiter, epoll ready list). `Stack::timer` is taken after `inner` (to lower the
//! deadline) and never held while taking `inner`.
//!
//! # Shortcuts
//! * Buffer sizes are fixed when smoltcp's socket is created (connect, listen, accept, UDP
//!   bind); `SO_RCVBUF`/`SO_SNDBUF` set later are remembered and reported but not applied.
//! * A listening socket is a pool of smoltcp sockets in LISTEN (one handshake each):
//!   [`IDLE_LISTEN`] between bursts, grown before each poll to one per SYN waiting in the
//!   device queue (up to [`MAX_LISTEN_POOL`] and the backlog), plus an accept queue of at
//!   most `backlog` established connections. Connections established while the queue is full wait in the pool (up to
//!   max(backlog, MAX_LISTEN_POOL) of them) and move to the queue as accept makes room: the
//!   client sees its connect complete at once, where Linux drops the SYN and the client's
//!   retransmission gets in later. Beyond that, SYNs are refused (RST). The pool's buffers
//!   are allocated zeroed, so untouched ones cost address space only.
//! * Dual-stack: an AF_INET6 socket bound to `::` (without `IPV6_V6ONLY`) accepts and receives
//!   IPv4 too, reported as v4-mapped `::ffff:a.b.c.d`. A one-family wildcard listener (AF_INET
//!   on 0.0.0.0, v6-only on `::`) listens on each local address of its family (addresses added
//!   to an interface later are not picked up by existing listeners). smoltcp's UDP sockets
//!   bound to a wildcard hear both families: the wrong family's datagrams are dropped, and a
//!   port shared by an AF_INET and a v6-only AF_INET6 UDP socket delivers to only one of them.
//! * Only exact interface addresses are local: 127.0.0.1 and ::1 (and addresses added with
//!   [`Stack::add_loopback_address`]), not the rest of 127/8.
//! * Ping sockets ([`IcmpSocket`], SOCK_DGRAM + IPPROTO_ICMP/ICMPV6): echo requests only, the
//!   identifier is the socket's "port"; smoltcp answers echo requests to local addresses. The
//!   `ping_group_range` permission check is the sentry's.
//! * No IP fragmentation: UDP payloads above 65507 (IPv4) / 65487 (IPv6) bytes on loopback,
//!   and above the MTU less 28 bytes to an Ethernet interface, are `EMSGSIZE`. IPv4 only on
//!   Ethernet interfaces (see `ether.rs`).
//! * UDP: a connected socket hears smoltcp's ICMP port unreachables (an ICMP socket bound to
//!   its port) as a pending `ECONNREFUSED`; unconnected ones ignore them (no IP_RECVERR). A
//!   connected UDP socket drops datagrams from other peers when reading; disconnecting
//!   (AF_UNSPEC) gives back a port the stack picked, keeping the bound address.
//! * A connect never times out on its own (smoltcp retransmits SYNs); the sentry applies its
//!   timeouts (SO_SNDTIMEO). Keep-alive probes every TCP_KEEPIDLE seconds (7200 by default)
//!   when on; TCP_KEEPINTVL/TCP_KEEPCNT are stored and reported, and a silent peer is never
//!   given up on. SO_LINGER with a zero time makes close send RST; other linger times are
//!   stored (close does not wait). TCP_INFO's timers are not smoltcp's (not exported): the
//!   sentry reports loopback-like constants; the MSS is the link's (65495 / 65475).
//! * TCP connect(AF_UNSPEC) aborts a connection or stops a listener but keeps the bind (Linux
//!   gives back a port the stack picked).
//! * smoltcp is trusted not to panic on packets (0.12.0 did, in `window_to_update`, under a
//!   plain loopback transfer; 0.14 has the fix). A panic there aborts the sentry.
//! * SO_REUSEADDR: two sockets may bind the same port when both set it and neither listens;
//!   `listen` fails with `EADDRINUSE` if another socket on an overlapping address already does.
//!   SO_REUSEPORT: sockets that all set it share the port, listening or not (no uid check);
//!   incoming connections and datagrams go to the first matching smoltcp socket, not spread
//!   by a hash as Linux does.

#![deny(unsafe_code)]

mod afpacket;
mod ether;
mod icmp;
mod stack;
mod tcp;
mod udp;

pub use afpacket::{Frame, PacketSocket};
pub use ether::{EthernetConfig, RouteInfo, WireStats};
pub use icmp::IcmpSocket;
pub use stack::{
    Family, IDLE_LISTEN, IFF_BROADCAST, IFF_LOOPBACK, IFF_LOWER_UP, IFF_MULTICAST, IFF_RUNNING,
    IFF_UP, InterfaceInfo, MAX_LISTEN_POOL, NetIf, Readiness, SocketEntry, Stack,
};
pub use tcp::{Shutdown, TcpInfo, TcpSocket};
pub use udp::{RecvMeta, UdpSocket};
