//! Socket options and UDP association changes over `lo`: SO_REUSEPORT binds, SO_LINGER with a
//! zero time, TCP_INFO states, UDP disconnect and the ECONNREFUSED from a port unreachable.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use abi::Errno;
use common::*;
use netstack::{Family, Stack};
use vfs::waiter::EventMask;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

#[test]
fn reuseport_lets_two_sockets_share_a_port_only_when_both_ask() {
    let stack = Stack::new_loopback().expect("stack");
    let a = stack.tcp_socket(Family::V4);
    a.set_reuseport(true);
    a.bind(v4(0)).expect("bind a");
    let port = a.local_addr().port();
    let b = stack.tcp_socket(Family::V4);
    assert_eq!(b.bind(v4(port)), Err(Errno::EADDRINUSE));
    let c = stack.tcp_socket(Family::V4);
    c.set_reuseport(true);
    c.bind(v4(port)).expect("bind c");
    a.listen(4).expect("listen a");
    c.listen(4).expect("listen c");
}

#[test]
fn zero_linger_close_resets_the_peer() {
    let stack = Stack::new_loopback().expect("stack");
    let l = stack.tcp_socket(Family::V4);
    l.bind(v4(0)).expect("bind");
    l.listen(4).expect("listen");
    let c = stack.tcp_socket(Family::V4);
    connect(&c, l.local_addr()).expect("connect");
    let (s, _) = accept(&l);
    assert_eq!(s.info().state, 1);
    c.set_linger(Some(0));
    drop(c);
    let mut b = [0u8; 4];
    assert_eq!(recv(&s, &mut b), Err(Errno::ECONNRESET));
}

#[test]
fn tcp_info_follows_the_state() {
    let stack = Stack::new_loopback().expect("stack");
    let l = stack.tcp_socket(Family::V4);
    assert_eq!(l.info().state, 7);
    assert_eq!(l.maxseg(), 536);
    l.bind(v4(0)).expect("bind");
    l.listen(4).expect("listen");
    assert_eq!(l.info().state, 10);
    assert!(l.is_listening());
    let c = stack.tcp_socket(Family::V4);
    connect(&c, l.local_addr()).expect("connect");
    assert_eq!(c.info().state, 1);
    assert!(c.maxseg() > 536);
    l.disconnect().expect("disconnect");
    assert!(!l.is_listening());
    assert_eq!(l.accept().err(), Some(Errno::EINVAL));
}

#[test]
fn udp_disconnect_gives_back_a_picked_port() {
    let stack = Stack::new_loopback().expect("stack");
    let peer = stack.udp_socket(Family::V4);
    peer.bind(v4(0)).expect("bind");
    let u = stack.udp_socket(Family::V4);
    u.bind(v4(0)).expect("bind");
    u.connect(peer.local_addr()).expect("connect");
    u.disconnect().expect("disconnect");
    assert_eq!(u.peer_addr(), Err(Errno::ENOTCONN));
    assert_eq!(u.local_addr(), v4(0));
    // It may bind again.
    u.bind(v4(0)).expect("rebind");
}

#[test]
fn connected_udp_hears_port_unreachable_as_econnrefused() {
    let stack = Stack::new_loopback().expect("stack");
    let gone = stack.udp_socket(Family::V4);
    gone.bind(v4(0)).expect("bind");
    let dead = gone.local_addr();
    drop(gone);
    let u = stack.udp_socket(Family::V4);
    u.connect(dead).expect("connect");
    u.send_to(b"x", None).expect("send");
    let mut b = [0u8; 4];
    let r = block(u.wait_queue(), EventMask::IN | EventMask::ERR, || {
        u.recv_from(&mut b, false)
    });
    assert_eq!(r.err(), Some(Errno::ECONNREFUSED));
    assert_eq!(u.take_error(), None);
    // Unconnected sockets ignore them.
    let v = stack.udp_socket(Family::V4);
    v.send_to(b"x", Some(dead)).expect("send");
    assert_eq!(v.take_error(), None);
}
