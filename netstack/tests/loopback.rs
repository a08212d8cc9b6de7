//! The stack over `lo`: TCP and UDP as Linux behaves on loopback.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use abi::Errno;
use common::*;
use netstack::{Family, Shutdown, Stack, TcpSocket};
use vfs::waiter::{EventMask, Waiter, WakeReason};

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
}

fn listener(stack: &Arc<Stack>, addr: SocketAddr, backlog: i32) -> TcpSocket {
    let fam = if addr.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    let l = stack.tcp_socket(fam);
    l.bind(addr).expect("bind");
    l.listen(backlog).expect("listen");
    l
}

fn echo_several(addr: SocketAddr) {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, addr, 16);
    let addr = l.local_addr();
    assert_ne!(addr.port(), 0);
    const CLIENTS: usize = 4;
    const LEN: usize = 256 * 1024;
    let server = thread::spawn(move || {
        let mut workers = Vec::new();
        for _ in 0..CLIENTS {
            let (c, peer) = accept(&l);
            assert_eq!(peer.ip(), addr.ip());
            workers.push(thread::spawn(move || {
                let mut buf = vec![0u8; 8192];
                loop {
                    let n = recv(&c, &mut buf).expect("server recv");
                    if n == 0 {
                        break;
                    }
                    send_all(&c, &buf[..n]);
                }
            }));
        }
        for w in workers {
            w.join().expect("echo worker");
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let stack = stack.clone();
            thread::spawn(move || {
                let fam = if addr.is_ipv4() {
                    Family::V4
                } else {
                    Family::V6
                };
                let s = stack.tcp_socket(fam);
                connect(&s, addr).expect("connect");
                assert_eq!(s.peer_addr(), Ok(addr));
                let data = pattern(LEN, i as u8);
                let s = Arc::new(s);
                let writer = {
                    let s = s.clone();
                    let data = data.clone();
                    thread::spawn(move || {
                        send_all(&s, &data);
                        s.shutdown(Shutdown::Write).expect("shutdown");
                    })
                };
                let mut back = vec![0u8; LEN + 1];
                let got = recv_exact(&s, &mut back);
                writer.join().expect("writer");
                assert_eq!(got, LEN);
                assert!(back[..LEN] == data[..], "echoed data differs");
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    server.join().expect("server");
}

#[test]
fn tcp_echo_v4_several_clients() {
    echo_several(v4(0));
}

#[test]
fn tcp_echo_v6_several_clients() {
    echo_several(v6(0));
}

fn transfer(addr: SocketAddr, len: usize) {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, addr, 1);
    let addr = l.local_addr();
    let sender = {
        let stack = stack.clone();
        thread::spawn(move || {
            let fam = if addr.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            };
            let s = stack.tcp_socket(fam);
            connect(&s, addr).expect("connect");
            let mut sum = Fnv::new();
            let chunk = pattern(64 * 1024, 7);
            let mut left = len;
            let mut round = 0u8;
            while left > 0 {
                let mut c = chunk.clone();
                c[0] = round;
                round = round.wrapping_add(1);
                let n = left.min(c.len());
                sum.update(&c[..n]);
                send_all(&s, &c[..n]);
                left -= n;
            }
            sum.0
        })
    };
    let (c, _) = accept(&l);
    let mut sum = Fnv::new();
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(&c, &mut buf).expect("recv");
        if n == 0 {
            break;
        }
        sum.update(&buf[..n]);
        total += n;
    }
    assert_eq!(total, len);
    assert_eq!(sender.join().expect("sender"), sum.0);
}

#[test]
fn tcp_transfer_4mib_checksum_v4() {
    transfer(v4(0), 4 << 20);
}

#[test]
fn tcp_transfer_4mib_checksum_v6() {
    transfer(v6(0), 4 << 20);
}

#[test]
fn tcp_half_close() {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, v4(0), 1);
    let c = stack.tcp_socket(Family::V4);
    connect(&c, l.local_addr()).expect("connect");
    let (s, _) = accept(&l);
    send_all(&c, b"request");
    c.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(c.send(b"x"), Err(Errno::EPIPE));
    let mut buf = [0u8; 64];
    assert_eq!(recv_exact(&s, &mut buf), 7);
    assert_eq!(&buf[..7], b"request");
    // EOF seen: readable and RDHUP, still writable.
    let r = s.readiness();
    assert!(r.readable && r.rdhup && r.writable && !r.hup, "{r:?}");
    assert_eq!(s.recv(&mut buf, false), Ok(0));
    // The other direction still works.
    send_all(&s, b"reply");
    s.shutdown(Shutdown::Write).expect("server shutdown");
    assert_eq!(recv_exact(&c, &mut buf), 5);
    assert_eq!(&buf[..5], b"reply");
    assert_eq!(c.recv(&mut buf, false), Ok(0));
    assert!(c.readiness().hup);
}

#[test]
fn tcp_connect_to_closed_port_is_refused() {
    let stack = Stack::new_loopback().expect("stack");
    // A port nobody listens on: bind one, then free it.
    let port = {
        let t = stack.tcp_socket(Family::V4);
        t.bind(v4(0)).expect("bind");
        t.local_addr().port()
    };
    for addr in [v4(port), v6(port)] {
        let fam = if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        let s = stack.tcp_socket(fam);
        assert_eq!(s.connect(addr), Err(Errno::EINPROGRESS));
        let w = Waiter::new();
        let _r = s.wait_queue().register(w.clone(), EventMask::OUT);
        let deadline = std::time::Instant::now() + STEP;
        while !s.readiness().err {
            w.prepare();
            if s.readiness().err {
                break;
            }
            assert_ne!(w.wait(Some(deadline)), WakeReason::TimedOut);
        }
        assert_eq!(s.take_error(), Some(Errno::ECONNREFUSED));
        assert_eq!(s.take_error(), None);
        // The blocking form: connect again reports the failure.
        let s2 = stack.tcp_socket(fam);
        assert_eq!(connect(&s2, addr), Err(Errno::ECONNREFUSED));
    }
}

#[test]
fn tcp_connect_states() {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, v4(0), 4);
    let c = stack.tcp_socket(Family::V4);
    let mut buf = [0u8; 4];
    assert_eq!(c.recv(&mut buf, false), Err(Errno::ENOTCONN));
    assert_eq!(c.send(b"x"), Err(Errno::EPIPE));
    assert_eq!(c.peer_addr(), Err(Errno::ENOTCONN));
    assert_eq!(c.shutdown(Shutdown::Both), Err(Errno::ENOTCONN));
    assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
    assert_eq!(c.accept().err(), Some(Errno::EINVAL));
    assert_eq!(c.connect(l.local_addr()), Err(Errno::EINPROGRESS));
    connect(&c, l.local_addr()).expect("connect completes");
    assert_eq!(c.connect(l.local_addr()), Err(Errno::EISCONN));
    assert_eq!(c.listen(1), Err(Errno::EINVAL));
    assert_eq!(l.connect(v4(1)), Err(Errno::EISCONN));
    let local = c.local_addr();
    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!((32768..=60999).contains(&local.port()));
    let (s, peer) = accept(&l);
    assert_eq!(peer, local);
    assert_eq!(s.peer_addr(), Ok(local));
    assert_eq!(s.local_addr(), l.local_addr());
    // Nothing queued: EAGAIN; peek leaves data in place.
    assert_eq!(s.recv(&mut buf, false), Err(Errno::EAGAIN));
    send_all(&c, b"abcd");
    assert_eq!(
        block(s.wait_queue(), EventMask::IN, || s
            .recv(&mut buf[..2], true)),
        Ok(2)
    );
    assert_eq!(s.recv_queued(), 4);
    assert_eq!(s.recv(&mut buf, false), Ok(4));
    assert_eq!(&buf, b"abcd");
}

#[test]
fn tcp_close_with_unread_data_resets_peer() {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, v4(0), 1);
    let c = stack.tcp_socket(Family::V4);
    connect(&c, l.local_addr()).expect("connect");
    let (s, _) = accept(&l);
    send_all(&c, b"unread");
    block(s.wait_queue(), EventMask::IN, || {
        if s.recv_queued() > 0 {
            Ok(())
        } else {
            Err(Errno::EAGAIN)
        }
    })
    .expect("data arrives");
    drop(s);
    let mut buf = [0u8; 8];
    assert_eq!(recv(&c, &mut buf), Err(Errno::ECONNRESET));
    assert_eq!(c.recv(&mut buf, false), Ok(0));
}

#[test]
fn tcp_bind_errors() {
    let stack = Stack::new_loopback().expect("stack");
    let a = stack.tcp_socket(Family::V4);
    a.bind(v4(0)).expect("bind");
    let port = a.local_addr().port();
    let b = stack.tcp_socket(Family::V4);
    assert_eq!(b.bind(v4(port)), Err(Errno::EADDRINUSE));
    let wild = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    assert_eq!(b.bind(wild), Err(Errno::EADDRINUSE));
    // A dual-stack `::` bind covers IPv4 too; a v6-only one does not.
    let c = stack.tcp_socket(Family::V6);
    let wild6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    assert_eq!(c.bind(wild6), Err(Errno::EADDRINUSE));
    let d = stack.tcp_socket(Family::V6);
    d.set_v6only(true).expect("v6only");
    d.bind(wild6).expect("v6-only bind beside a v4 bind");
    assert_eq!(d.set_v6only(false), Err(Errno::EINVAL));
    // Not a local address.
    let e = stack.tcp_socket(Family::V4);
    let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
    assert_eq!(e.bind(remote), Err(Errno::EADDRNOTAVAIL));
    assert_eq!(e.bind(v6(0)), Err(Errno::EAFNOSUPPORT));
    // Bound twice.
    assert_eq!(a.bind(v4(0)), Err(Errno::EINVAL));
    // SO_REUSEADDR on both: binding is fine, but only one may listen.
    let f = stack.tcp_socket(Family::V4);
    f.set_reuseaddr(true);
    f.bind(v4(0)).expect("bind");
    let p2 = f.local_addr().port();
    let g = stack.tcp_socket(Family::V4);
    g.set_reuseaddr(true);
    g.bind(v4(p2)).expect("reuseaddr bind");
    f.listen(1).expect("listen");
    assert_eq!(g.listen(1), Err(Errno::EADDRINUSE));
    // Once closed, the port is free again.
    drop(a);
    let h = stack.tcp_socket(Family::V4);
    h.bind(v4(port)).expect("rebind after close");
}

#[test]
fn tcp_ephemeral_ports_are_distinct() {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, v4(0), 64);
    let mut seen = std::collections::HashSet::new();
    let mut socks = Vec::new();
    for _ in 0..40 {
        let s = stack.tcp_socket(Family::V4);
        connect(&s, l.local_addr()).expect("connect");
        let p = s.local_addr().port();
        assert!((32768..=60999).contains(&p), "{p}");
        assert!(seen.insert(p), "port {p} reused");
        socks.push(s);
        let _ = accept(&l);
    }
    for _ in 0..20 {
        let u = stack.udp_socket(Family::V4);
        u.bind(v4(0)).expect("udp bind");
        let p = u.local_addr().port();
        assert!((32768..=60999).contains(&p), "{p}");
        socks.push(stack.tcp_socket(Family::V4));
        std::mem::forget(u);
    }
}

#[test]
fn tcp_accept_backlog_of_8() {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, v4(0), 8);
    let addr = l.local_addr();
    // Eight concurrent non-blocking connects, all before any accept.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let s = stack.tcp_socket(Family::V4);
            assert_eq!(s.connect(addr), Err(Errno::EINPROGRESS));
            s
        })
        .collect();
    for c in &clients {
        connect(c, addr).expect("established without accept");
    }
    assert!(l.readiness().readable);
    let mut peers = std::collections::HashSet::new();
    for (i, c) in clients.iter().enumerate() {
        send_all(c, &[i as u8]);
    }
    for _ in 0..8 {
        let (s, peer) = l.accept().expect("queued connection");
        assert!(peers.insert(peer));
        let mut b = [0u8; 1];
        assert_eq!(recv(&s, &mut b), Ok(1));
    }
    assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
    assert!(!l.readiness().readable);
}

#[test]
fn tcp_dual_stack_listener_accepts_v4_mapped() {
    let stack = Stack::new_loopback().expect("stack");
    let l = stack.tcp_socket(Family::V6);
    l.bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0))
        .expect("bind ::");
    l.listen(4).expect("listen");
    let port = l.local_addr().port();
    let c = stack.tcp_socket(Family::V4);
    connect(&c, v4(port)).expect("v4 connect to ::");
    let (s, peer) = accept(&l);
    let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
    assert_eq!(peer.ip(), IpAddr::V6(mapped));
    assert_eq!(peer.port(), c.local_addr().port());
    send_all(&c, b"hi");
    let mut b = [0u8; 2];
    assert_eq!(recv_exact(&s, &mut b), 2);
    // A v4 listener does not take IPv6 connections: refused, as Linux.
    let l4 = listener(
        &stack,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        4,
    );
    let port4 = l4.local_addr().port();
    let c6 = stack.tcp_socket(Family::V6);
    assert_eq!(connect(&c6, v6(port4)), Err(Errno::ECONNREFUSED));
    let c4 = stack.tcp_socket(Family::V4);
    connect(&c4, v4(port4)).expect("v4 connect to 0.0.0.0");
    // A v6-only listener does not take IPv4 ones.
    let l6 = stack.tcp_socket(Family::V6);
    l6.set_v6only(true).expect("v6only");
    l6.bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0))
        .expect("bind");
    l6.listen(4).expect("listen");
    let port6 = l6.local_addr().port();
    let c4 = stack.tcp_socket(Family::V4);
    assert_eq!(connect(&c4, v4(port6)), Err(Errno::ECONNREFUSED));
    let c6 = stack.tcp_socket(Family::V6);
    connect(&c6, v6(port6)).expect("v6 connect to v6-only ::");
    // UDP: a dual-stack `::` socket hears IPv4 (v4-mapped); an AF_INET one does not hear IPv6.
    let u6 = stack.udp_socket(Family::V6);
    u6.bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0))
        .expect("bind");
    let u4 = stack.udp_socket(Family::V4);
    u4.send_to(b"v4", Some(v4(u6.local_addr().port())))
        .expect("send");
    let mut b = [0u8; 8];
    let m = udp_recv(&u6, &mut b, false);
    assert_eq!(m.from.ip(), IpAddr::V6(mapped));
    let w4 = stack.udp_socket(Family::V4);
    w4.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
        .expect("bind");
    let s6 = stack.udp_socket(Family::V6);
    s6.send_to(b"v6", Some(v6(w4.local_addr().port())))
        .expect("send");
    assert_eq!(w4.recv_from(&mut b, false).err(), Some(Errno::EAGAIN));
}

#[test]
fn tcp_options() {
    let stack = Stack::new_loopback().expect("stack");
    let s = stack.tcp_socket(Family::V4);
    assert!(!s.nodelay() && !s.keepalive() && !s.reuseaddr());
    s.set_nodelay(true);
    s.set_keepalive(true);
    assert!(s.nodelay() && s.keepalive());
    s.set_recv_buffer_size(100_000);
    assert_eq!(s.recv_buffer_size(), 200_000);
    s.set_send_buffer_size(1);
    assert_eq!(s.send_buffer_size(), 4608);
    // Fresh socket: POLLOUT | POLLHUP as Linux.
    assert_eq!(
        s.readiness().events(),
        EventMask::OUT | EventMask::WRNORM | EventMask::HUP
    );
    // A small receive buffer limits what is queued; the rest waits in the sender.
    let l = listener(&stack, v4(0), 1);
    connect(&s, l.local_addr()).expect("connect");
    let (a, _) = accept(&l);
    let big = vec![1u8; 1 << 20];
    let mut sent = 0;
    while let Ok(n) = s.send(&big[sent..]) {
        sent += n;
    }
    assert!(a.recv_queued() <= 200_000, "{}", a.recv_queued());
    assert!(!s.readiness().writable);
}

#[test]
fn readiness_change_wakes_waiter() {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, v6(0), 1);
    let c = Arc::new(stack.tcp_socket(Family::V6));
    connect(&c, l.local_addr()).expect("connect");
    let (s, _) = accept(&l);
    let w = Waiter::new();
    let _r = s.wait_queue().register(w.clone(), EventMask::IN);
    w.prepare();
    assert!(!s.readiness().readable);
    let writer = {
        let c = c.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            send_all(&c, b"wake");
        })
    };
    assert_eq!(
        w.wait(Some(std::time::Instant::now() + STEP)),
        WakeReason::Notified
    );
    assert!(s.readiness().readable);
    writer.join().expect("writer");
    // A listener's queue: readable when a connection arrives.
    let w2 = Waiter::new();
    let _r2 = l.wait_queue().register(w2.clone(), EventMask::IN);
    w2.prepare();
    let c2 = stack.tcp_socket(Family::V6);
    let _ = c2.connect(l.local_addr());
    assert_eq!(
        w2.wait(Some(std::time::Instant::now() + STEP)),
        WakeReason::Notified
    );
    assert!(l.readiness().readable);
}

#[test]
fn udp_send_recv_and_truncation() {
    let stack = Stack::new_loopback().expect("stack");
    for (fam, addr) in [(Family::V4, v4(0)), (Family::V6, v6(0))] {
        let a = stack.udp_socket(fam);
        a.bind(addr).expect("bind");
        let b = stack.udp_socket(fam);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv_from(&mut buf, false).err(), Some(Errno::EAGAIN));
        assert_eq!(b.send_to(b"x", None), Err(Errno::EDESTADDRREQ));
        let data = pattern(100, 3);
        assert_eq!(b.send_to(&data, Some(a.local_addr())), Ok(100));
        let from = b.local_addr();
        assert_ne!(from.port(), 0, "autobound");
        // Peek: the whole length, nothing consumed.
        let m = udp_recv(&a, &mut buf[..10], true);
        assert_eq!((m.copied, m.len), (10, 100));
        assert_eq!(a.next_datagram_len(), 100);
        let m = udp_recv(&a, &mut buf[..10], false);
        assert_eq!((m.copied, m.len), (10, 100));
        assert_eq!(&buf[..10], &data[..10]);
        assert_eq!(m.from.port(), from.port());
        assert_eq!(a.recv_from(&mut buf, false).err(), Some(Errno::EAGAIN));
        // Connected: default peer, others filtered.
        a.connect(m.from).expect("connect");
        assert_eq!(a.peer_addr(), Ok(m.from));
        let other = stack.udp_socket(fam);
        other.send_to(b"noise", Some(a.local_addr())).expect("send");
        b.send_to(b"hello", Some(a.local_addr())).expect("send");
        let m = udp_recv(&a, &mut buf, false);
        assert_eq!(&buf[..m.copied], b"hello");
        a.send_to(b"back", None).expect("send to peer");
        let m = udp_recv(&b, &mut buf, false);
        assert_eq!(&buf[..m.copied], b"back");
        // Too big for any datagram.
        assert_eq!(
            b.send_to(&vec![0u8; 70000], Some(a.local_addr())),
            Err(Errno::EMSGSIZE)
        );
        // The largest datagram crosses whole.
        let max = if fam == Family::V4 { 65507 } else { 65487 };
        let big = pattern(max, 9);
        let q = stack.udp_socket(fam);
        q.bind(addr).expect("bind");
        assert_eq!(b.send_to(&big, Some(q.local_addr())), Ok(max));
        let mut rbuf = vec![0u8; 70000];
        let m = udp_recv(&q, &mut rbuf, false);
        assert_eq!((m.copied, m.len), (max, max));
        assert!(rbuf[..max] == big[..]);
        assert_eq!(
            b.send_to(&vec![0u8; max + 1], Some(q.local_addr())),
            Err(Errno::EMSGSIZE)
        );
        // Port in use.
        let c = stack.udp_socket(fam);
        assert_eq!(c.bind(a.local_addr()), Err(Errno::EADDRINUSE));
    }
}

#[test]
fn interfaces_report_lo() {
    let stack = Stack::new_loopback().expect("stack");
    let ifs = stack.interfaces();
    assert_eq!(ifs.len(), 1);
    let lo = &ifs[0];
    assert_eq!((lo.name.as_str(), lo.index, lo.mtu), ("lo", 1, 65536));
    assert_ne!(lo.flags & netstack::IFF_LOOPBACK, 0);
    assert_ne!(lo.flags & netstack::IFF_UP, 0);
    assert!(lo.addrs.contains(&(IpAddr::V4(Ipv4Addr::LOCALHOST), 8)));
    assert!(lo.addrs.contains(&(IpAddr::V6(Ipv6Addr::LOCALHOST), 128)));
}

/// The internet checksum (RFC 1071) of `data`, folded; 0 when a message with its checksum
/// field filled in is correct.
fn inet_checksum(pseudo: &[u8], data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for part in [pseudo, data] {
        for c in part.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            sum += u32::from(w);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn icmp_ping_loopback() {
    let stack = Stack::new_loopback().expect("stack");
    for (fam, dst, req, rep) in [(Family::V4, v4(0), 8u8, 0u8), (Family::V6, v6(0), 128, 129)] {
        let s = stack.icmp_socket(fam);
        let mut msg = vec![req, 0, 0, 0, 0xde, 0xad, 0, 7];
        msg.extend_from_slice(b"ping payload");
        assert_eq!(s.send_to(&msg[..4], Some(dst)), Err(Errno::EINVAL));
        assert_eq!(
            s.send_to(&[rep, 0, 0, 0, 0, 0, 0, 0], Some(dst)),
            Err(Errno::EINVAL)
        );
        assert_eq!(s.send_to(&msg, Some(dst)), Ok(msg.len()));
        let ident = s.ident();
        assert_ne!(ident, 0);
        assert_eq!(s.local_addr().port(), ident);
        let mut buf = [0u8; 64];
        let m = block(s.wait_queue(), EventMask::IN, || {
            s.recv_from(&mut buf, false)
        })
        .expect("echo reply");
        assert_eq!(m.len, msg.len());
        assert_eq!(m.from.ip(), dst.ip());
        let reply = &buf[..m.copied];
        assert_eq!(reply[0], rep);
        assert_eq!(u16::from_be_bytes([reply[4], reply[5]]), ident);
        assert_eq!(&reply[6..8], &[0, 7]);
        assert_eq!(&reply[8..], b"ping payload");
        let pseudo: Vec<u8> = if fam == Family::V6 {
            let mut p = Vec::new();
            p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
            p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
            p.extend_from_slice(&(reply.len() as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 58]);
            p
        } else {
            Vec::new()
        };
        assert_eq!(inet_checksum(&pseudo, reply), 0, "reply checksum");
        // Only the reply is delivered (not our own request).
        assert_eq!(s.recv_from(&mut buf, false).err(), Some(Errno::EAGAIN));
    }
}

#[test]
fn socket_table_for_proc_net() {
    let stack = Stack::new_loopback().expect("stack");
    let l = listener(&stack, v4(0), 4);
    let c = stack.tcp_socket(Family::V4);
    connect(&c, l.local_addr()).expect("connect");
    let u = stack.udp_socket(Family::V6);
    u.bind(v6(0)).expect("bind");
    let tcp = stack.socket_table(true);
    // The listener (with one queued connection) and the client.
    assert_eq!(tcp.len(), 2, "{tcp:?}");
    assert_eq!(
        (tcp[0].state, tcp[0].local, tcp[0].rx_queue),
        (10, l.local_addr(), 1)
    );
    assert_eq!(
        (tcp[1].state, tcp[1].local, tcp[1].remote),
        (1, c.local_addr(), l.local_addr())
    );
    let udp = stack.socket_table(false);
    assert_eq!(udp.len(), 1);
    assert_eq!(
        (udp[0].family, udp[0].local, udp[0].state),
        (Family::V6, u.local_addr(), 7)
    );
}
