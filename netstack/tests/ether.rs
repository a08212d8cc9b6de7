//! The Ethernet path end to end: the stack serves an address on one end of a veth pair in a
//! private network namespace (the kernel has no address on that end, as after the runtime's
//! takeover), and the host kernel on the other end talks TCP, UDP and ICMP to it. This covers
//! ARP both ways, the checksums the wire computes (the kernel verifies them) and the partial
//! checksums it receives from the kernel (veth offload).
//!
//! Needs root (a network namespace, a veth pair, an AF_PACKET socket): without it the test
//! says it is skipped, and fails when RVISOR_REQUIRE_CAPS=1 asks for every test to run.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;

use common::{accept, connect, recv_exact, send_all};
use netstack::{EthernetConfig, Family, PacketSocket, RouteInfo, Stack};

fn sh(cmd: &str) -> Result<(), String> {
    let st = Command::new("sh")
        .args(["-c", cmd])
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{cmd}` failed: {st}"))
    }
}

fn skip(why: &str) {
    if std::env::var_os("RVISOR_REQUIRE_CAPS").is_some_and(|v| v == "1") {
        panic!("cannot run (RVISOR_REQUIRE_CAPS=1): {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// Runs `body` on a thread in a new network namespace with a veth pair `rv0` (ours, no kernel
/// address) — `rv1` (the kernel's, 10.77.0.1/24).
fn in_veth_namespace(body: impl FnOnce(std::sync::Arc<Stack>) + Send + 'static) {
    let t = std::thread::spawn(move || {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            skip(&format!("unshare(CLONE_NEWNET): {e}"));
            return;
        }
        if let Err(e) = sh("ip link add rv0 type veth peer name rv1 && \
             ip addr add 10.77.0.1/24 dev rv1 && ip link set rv1 up && \
             ip link set rv0 up && ip link set lo up")
        {
            skip(&e);
            return;
        }
        let index = nix::net::if_::if_nametoindex("rv0").expect("rv0 index");
        let mac = mac_of_ns("rv0");
        let socket = PacketSocket::open(index).expect("AF_PACKET socket on rv0");
        let stack = Stack::new_loopback().expect("stack");
        stack
            .attach_ethernet(EthernetConfig {
                name: "eth0".into(),
                index,
                mac,
                mtu: 1500,
                addrs: vec![(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2)), 24)],
                routes: vec![RouteInfo {
                    dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    prefix: 0,
                    gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1))),
                    ifindex: index,
                }],
                socket,
            })
            .expect("attach");
        body(stack);
    });
    t.join().expect("test thread");
}

/// The MAC of `name` as `ip link` in the current thread's namespace prints it (sysfs shows
/// the namespace that mounted it, not ours).
fn mac_of_ns(name: &str) -> [u8; 6] {
    let out = Command::new("ip")
        .args(["-o", "link", "show", name])
        .output()
        .expect("ip link show");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut m = [0u8; 6];
    for (i, part) in mac.split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    m
}

#[test]
fn kernel_and_stack_talk_tcp_both_ways_over_a_veth() {
    in_veth_namespace(|stack| {
        // Stack -> kernel: a large transfer to a kernel listener on the peer address.
        let l = std::net::TcpListener::bind("10.77.0.1:0").expect("kernel listener");
        let port = l.local_addr().unwrap().port();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 977) as u8).collect();
        let expect = data.clone();
        let reader = std::thread::spawn(move || {
            let (mut c, peer) = l.accept().expect("kernel accept");
            let mut got = Vec::new();
            c.read_to_end(&mut got).expect("kernel read");
            c.write_all(b"thanks").expect("kernel write");
            (got, peer)
        });
        let s = stack.tcp_socket(Family::V4);
        connect(&s, SocketAddr::from(([10, 77, 0, 1], port))).expect("stack connect");
        send_all(&s, &data);
        s.shutdown(netstack::Shutdown::Write).expect("shutdown");
        let mut reply = [0u8; 6];
        assert_eq!(recv_exact(&s, &mut reply), 6);
        assert_eq!(&reply, b"thanks");
        let (got, peer) = reader.join().unwrap();
        assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2)));
        assert!(
            got == expect,
            "kernel got {} bytes, corrupted or short",
            got.len()
        );

        // Kernel -> stack: the stack listens on its address; the kernel connects and sends.
        let l = stack.tcp_socket(Family::V4);
        l.bind(SocketAddr::from(([0, 0, 0, 0], 8080)))
            .expect("bind");
        l.listen(8).expect("listen");
        let payload = expect.clone();
        let writer = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect("10.77.0.2:8080").expect("kernel connect");
            c.write_all(&payload).expect("kernel write");
            c.shutdown(std::net::Shutdown::Write).unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).unwrap();
            back
        });
        let (c, from) = accept(&l);
        assert_eq!(from.ip(), IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)));
        let mut got = vec![0u8; expect.len() + 1];
        let n = recv_exact(&c, &mut got);
        assert_eq!(n, expect.len());
        assert!(got[..n] == expect[..], "stack got corrupted data");
        send_all(&c, b"ok");
        drop(c);
        assert_eq!(writer.join().unwrap(), b"ok");

        // A closed port of the stack's address is refused (RST), as Linux would answer.
        let e = std::net::TcpStream::connect("10.77.0.2:8081").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        let st = stack.wire_stats();
        assert_eq!(st.len(), 1);
        assert!(st[0].1.rx_packets > 0 && st[0].1.tx_packets > 0);
    });
}

#[test]
fn kernel_pings_and_sends_udp_to_the_stack() {
    in_veth_namespace(|stack| {
        let u = stack.udp_socket(Family::V4);
        u.bind(SocketAddr::from(([10, 77, 0, 2], 5353)))
            .expect("udp bind");
        let k = std::net::UdpSocket::bind("10.77.0.1:0").expect("kernel udp");
        k.send_to(b"hello stack", "10.77.0.2:5353")
            .expect("kernel send");
        let mut buf = [0u8; 64];
        let m = common::block(u.wait_queue(), vfs::waiter::EventMask::IN, || {
            u.recv_from(&mut buf, false)
        })
        .expect("stack recv");
        assert_eq!(&buf[..m.copied], b"hello stack");
        let from = m.from;
        u.send_to(b"hello kernel", Some(from)).expect("stack send");
        k.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let (n, src) = k.recv_from(&mut buf).expect("kernel recv");
        assert_eq!(&buf[..n], b"hello kernel");
        assert_eq!(src, SocketAddr::from(([10, 77, 0, 2], 5353)));
        // smoltcp answers echo requests for the address; the kernel checks the checksum.
        kernel_ping(Ipv4Addr::new(10, 77, 0, 2));
    });
}

/// One echo request from a kernel ping socket (allowed for root in this namespace only), and
/// its answer.
fn kernel_ping(dst: Ipv4Addr) {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recv, sendto,
        setsockopt, socket, sockopt,
    };
    std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 0").expect("ping_group_range");
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .expect("kernel ping socket");
    let tv = nix::sys::time::TimeVal::new(10, 0);
    setsockopt(&fd, sockopt::ReceiveTimeout, &tv).unwrap();
    // Type 8 (echo request), code 0, checksum (the kernel fills it), id, sequence, payload.
    let req = [8u8, 0, 0, 0, 0, 0, 0, 1, b'r', b'v'];
    let to = SockaddrIn::from(std::net::SocketAddrV4::new(dst, 0));
    sendto(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &req,
        &to,
        MsgFlags::empty(),
    )
    .expect("send echo request");
    let mut buf = [0u8; 64];
    let n = recv(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &mut buf,
        MsgFlags::empty(),
    )
    .expect("echo reply");
    assert!(n >= 10 && buf[0] == 0, "not an echo reply: {:?}", &buf[..n]);
    assert_eq!(&buf[8..10], b"rv");
}
