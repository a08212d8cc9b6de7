//! AF_INET and AF_INET6 sockets over loopback (ip(7), tcp(7), udp(7)): TCP connections
//! (blocking and non-blocking connect, accept with several clients, large transfers, half
//! close, refused connects), UDP datagrams (truncation, connected peers), addresses, options
//! and readiness. Everything runs on 127.0.0.1 / ::1 with ports the kernel picks.
#![deny(unsafe_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;

use syscall_tests::libc;
use syscall_tests::{
    Errno, Fd, Outcome, check, ensure, ensure_eq, fails_with, poll_one, run_tests, succeeds,
    syscall, tests,
};

fn e(r: std::io::Result<impl Sized>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| e.to_string())
}

fn listener(addr: &str) -> Result<(TcpListener, SocketAddr), String> {
    let l = TcpListener::bind(addr).map_err(|e| e.to_string())?;
    let a = l.local_addr().map_err(|e| e.to_string())?;
    Ok((l, a))
}

fn raw_socket(domain: i32, ty: i32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_socket, domain, ty | libc::SOCK_CLOEXEC, 0),
        succeeds()
    ))
}

fn sockaddr_in(a: std::net::SocketAddrV4) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&a.port().to_be_bytes());
    b[4..8].copy_from_slice(&a.ip().octets());
    b
}

fn getsockopt_int(fd: i32, level: i32, name: i32) -> Result<i32, String> {
    let mut v: i32 = -1;
    let mut len: u32 = 4;
    check!(
        syscall!(
            libc::SYS_getsockopt,
            fd,
            level,
            name,
            &mut v as *mut i32,
            &mut len as *mut u32
        ),
        succeeds()
    );
    Ok(v)
}

fn tcp_echo_v4() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let mut c = TcpStream::connect(a).map_err(|e| e.to_string())?;
    let (mut s, peer) = l.accept().map_err(|e| e.to_string())?;
    ensure_eq!(peer, c.local_addr().map_err(|e| e.to_string())?);
    e(c.write_all(b"ping"))?;
    let mut b = [0u8; 4];
    e(s.read_exact(&mut b))?;
    ensure_eq!(&b, b"ping");
    e(s.write_all(b"pong"))?;
    e(c.read_exact(&mut b))?;
    ensure_eq!(&b, b"pong");
    Ok(())
}

fn tcp_echo_v6() -> Outcome {
    let (l, a) = listener("[::1]:0")?;
    let mut c = TcpStream::connect(a).map_err(|e| e.to_string())?;
    let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
    e(c.write_all(b"six"))?;
    let mut b = [0u8; 3];
    e(s.read_exact(&mut b))?;
    ensure_eq!(&b, b"six");
    Ok(())
}

fn large_transfer_arrives_intact() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let data: Vec<u8> = (0..(8u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sender = {
        let data = data.clone();
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut c = TcpStream::connect(a)?;
            c.write_all(&data)?;
            c.shutdown(Shutdown::Write)
        })
    };
    let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    e(s.read_to_end(&mut got))?;
    e(sender.join().map_err(|_| "sender panicked".to_string())?)?;
    ensure_eq!(got.len(), data.len());
    ensure!(got == data, "data differs");
    Ok(())
}

fn several_clients_are_accepted() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let clients: Vec<TcpStream> = (0..6)
        .map(|_| TcpStream::connect(a))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut ports = std::collections::HashSet::new();
    for _ in 0..6 {
        let (_, p) = l.accept().map_err(|e| e.to_string())?;
        ports.insert(p.port());
    }
    ensure_eq!(ports.len(), 6, "distinct ephemeral ports");
    drop(clients);
    Ok(())
}

fn half_close_delivers_eof_then_data_still_flows_back() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let mut c = TcpStream::connect(a).map_err(|e| e.to_string())?;
    let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
    e(c.write_all(b"req"))?;
    e(c.shutdown(Shutdown::Write))?;
    let mut got = Vec::new();
    e(s.read_to_end(&mut got))?;
    ensure_eq!(&got[..], b"req");
    e(s.write_all(b"resp"))?;
    drop(s);
    let mut back = Vec::new();
    e(c.read_to_end(&mut back))?;
    ensure_eq!(&back[..], b"resp");
    Ok(())
}

fn connect_to_a_closed_port_is_econnrefused() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    drop(l);
    match TcpStream::connect(a) {
        Err(err) => ensure_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED)),
        Ok(_) => return Err("connected to a closed port".into()),
    }
    Ok(())
}

fn nonblocking_connect_is_einprogress_then_so_error_zero() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let SocketAddr::V4(a4) = a else {
        return Err("not v4".into());
    };
    let fd = raw_socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    let sa = sockaddr_in(a4);
    let r = syscall!(libc::SYS_connect, fd.raw(), sa.as_ptr(), 16);
    // Loopback may complete at once; otherwise EINPROGRESS.
    if r != 0 {
        ensure_eq!(syscall_tests::last_errno(), libc::EINPROGRESS);
    }
    ensure_eq!(poll_one(fd.raw(), libc::POLLOUT, 5000)?.0, 1);
    ensure_eq!(
        getsockopt_int(fd.raw(), libc::SOL_SOCKET, libc::SO_ERROR)?,
        0
    );
    let _ = l.accept().map_err(|e| e.to_string())?;
    Ok(())
}

fn nonblocking_connect_to_closed_port_reports_econnrefused() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    drop(l);
    let SocketAddr::V4(a4) = a else {
        return Err("not v4".into());
    };
    let fd = raw_socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    let sa = sockaddr_in(a4);
    let r = syscall!(libc::SYS_connect, fd.raw(), sa.as_ptr(), 16);
    if r == 0 {
        return Err("connect succeeded".into());
    }
    let err = syscall_tests::last_errno();
    if err == libc::EINPROGRESS {
        poll_one(fd.raw(), libc::POLLOUT, 5000)?;
        ensure_eq!(
            getsockopt_int(fd.raw(), libc::SOL_SOCKET, libc::SO_ERROR)?,
            libc::ECONNREFUSED
        );
    } else {
        ensure_eq!(err, libc::ECONNREFUSED);
    }
    Ok(())
}

fn nonblocking_accept_without_clients_is_eagain() -> Outcome {
    let (l, _) = listener("127.0.0.1:0")?;
    e(l.set_nonblocking(true))?;
    match l.accept() {
        Err(err) => ensure_eq!(err.raw_os_error(), Some(libc::EAGAIN)),
        Ok(_) => return Err("accepted nothing".into()),
    }
    Ok(())
}

fn binding_a_used_port_is_eaddrinuse() -> Outcome {
    let (_l, a) = listener("127.0.0.1:0")?;
    match TcpListener::bind(a) {
        Err(err) => ensure_eq!(err.raw_os_error(), Some(libc::EADDRINUSE)),
        Ok(_) => return Err("bound twice".into()),
    }
    Ok(())
}

/// A port below net.ipv4.ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE (inet_bind):
/// without capabilities it is EACCES, while port 0 and the start itself bind; root binds it.
fn low_ports_need_cap_net_bind_service() -> Outcome {
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .map_err(|e| e.to_string())?
        .trim()
        .parse()
        .map_err(|e| format!("ip_unprivileged_port_start: {e}"))?;
    ensure!(
        start > 1,
        "ip_unprivileged_port_start is {start}: no privileged port to try"
    );
    let low = start - 1;
    syscall_tests::task::fork_and_check(move || {
        check!(syscall!(libc::SYS_setuid, 65534), succeeds());
        match TcpListener::bind(("127.0.0.1", low)) {
            Err(err) => ensure_eq!(err.raw_os_error(), Some(libc::EACCES)),
            Ok(_) => return Err(format!("bound port {low} without CAP_NET_BIND_SERVICE")),
        }
        match UdpSocket::bind(("127.0.0.1", low)) {
            Err(err) => ensure_eq!(err.raw_os_error(), Some(libc::EACCES)),
            Ok(_) => return Err(format!("bound UDP port {low} without the capability")),
        }
        e(TcpListener::bind("127.0.0.1:0"))?;
        Ok(())
    })?;
    e(TcpListener::bind(("127.0.0.1", low)))
}

fn bind_to_a_non_local_address_is_eaddrnotavail() -> Outcome {
    match TcpListener::bind("192.0.2.1:0") {
        Err(err) => ensure_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL)),
        Ok(_) => return Err("bound a foreign address".into()),
    }
    Ok(())
}

fn getpeername_of_unconnected_is_enotconn() -> Outcome {
    let fd = raw_socket(libc::AF_INET, libc::SOCK_STREAM)?;
    let mut b = [0u8; 16];
    let mut len: u32 = 16;
    check!(
        syscall!(
            libc::SYS_getpeername,
            fd.raw(),
            b.as_mut_ptr(),
            &mut len as *mut u32
        ),
        fails_with(Errno::ENOTCONN)
    );
    Ok(())
}

fn socket_options_report_type_domain_protocol() -> Outcome {
    let t = raw_socket(libc::AF_INET, libc::SOCK_STREAM)?;
    ensure_eq!(
        getsockopt_int(t.raw(), libc::SOL_SOCKET, libc::SO_TYPE)?,
        libc::SOCK_STREAM
    );
    ensure_eq!(
        getsockopt_int(t.raw(), libc::SOL_SOCKET, libc::SO_DOMAIN)?,
        libc::AF_INET
    );
    ensure_eq!(
        getsockopt_int(t.raw(), libc::SOL_SOCKET, libc::SO_PROTOCOL)?,
        libc::IPPROTO_TCP
    );
    let u = raw_socket(libc::AF_INET6, libc::SOCK_DGRAM)?;
    ensure_eq!(
        getsockopt_int(u.raw(), libc::SOL_SOCKET, libc::SO_TYPE)?,
        libc::SOCK_DGRAM
    );
    ensure_eq!(
        getsockopt_int(u.raw(), libc::SOL_SOCKET, libc::SO_DOMAIN)?,
        libc::AF_INET6
    );
    ensure_eq!(
        getsockopt_int(u.raw(), libc::SOL_SOCKET, libc::SO_PROTOCOL)?,
        libc::IPPROTO_UDP
    );
    Ok(())
}

fn tcp_nodelay_round_trips() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let c = TcpStream::connect(a).map_err(|e| e.to_string())?;
    let _s = l.accept().map_err(|e| e.to_string())?;
    ensure!(
        !c.nodelay().map_err(|e| e.to_string())?,
        "nodelay on by default"
    );
    e(c.set_nodelay(true))?;
    ensure!(c.nodelay().map_err(|e| e.to_string())?, "nodelay not set");
    ensure_eq!(
        getsockopt_int(c.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY)?,
        1
    );
    Ok(())
}

fn fionread_counts_unread_bytes() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let mut c = TcpStream::connect(a).map_err(|e| e.to_string())?;
    let (s, _) = l.accept().map_err(|e| e.to_string())?;
    e(c.write_all(b"12345"))?;
    let mut n: i32 = 0;
    for _ in 0..100 {
        check!(
            syscall!(
                libc::SYS_ioctl,
                s.as_raw_fd(),
                libc::FIONREAD,
                &mut n as *mut i32
            ),
            succeeds()
        );
        if n == 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    ensure_eq!(n, 5);
    Ok(())
}

fn poll_sees_readable_after_data() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let mut c = TcpStream::connect(a).map_err(|e| e.to_string())?;
    let (s, _) = l.accept().map_err(|e| e.to_string())?;
    ensure_eq!(poll_one(s.as_raw_fd(), libc::POLLIN, 0)?.0, 0);
    e(c.write_all(b"x"))?;
    let (n, revents) = poll_one(s.as_raw_fd(), libc::POLLIN, 5000)?;
    ensure_eq!(n, 1);
    ensure!(revents & libc::POLLIN != 0, "revents {:#x}", revents);
    Ok(())
}

fn peer_close_makes_reads_return_zero() -> Outcome {
    let (l, a) = listener("127.0.0.1:0")?;
    let c = TcpStream::connect(a).map_err(|e| e.to_string())?;
    let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
    drop(c);
    let mut b = [0u8; 8];
    ensure_eq!(s.read(&mut b).map_err(|e| e.to_string())?, 0);
    Ok(())
}

fn udp_round_trip_v4_and_v6() -> Outcome {
    for host in ["127.0.0.1:0", "[::1]:0"] {
        let a = UdpSocket::bind(host).map_err(|e| e.to_string())?;
        let b = UdpSocket::bind(host).map_err(|e| e.to_string())?;
        e(b.send_to(b"dgram", a.local_addr().map_err(|e| e.to_string())?))?;
        let mut buf = [0u8; 16];
        let (n, from) = a.recv_from(&mut buf).map_err(|e| e.to_string())?;
        ensure_eq!(&buf[..n], b"dgram");
        ensure_eq!(from, b.local_addr().map_err(|e| e.to_string())?);
    }
    Ok(())
}

fn udp_truncation_reports_msg_trunc_length() -> Outcome {
    let a = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let b = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    e(b.send_to(&[7u8; 100], a.local_addr().map_err(|e| e.to_string())?))?;
    let mut small = [0u8; 10];
    let n = check!(
        syscall!(
            libc::SYS_recvfrom,
            a.as_raw_fd(),
            small.as_mut_ptr(),
            10,
            libc::MSG_TRUNC,
            0,
            0
        ),
        succeeds()
    );
    ensure_eq!(n, 100, "MSG_TRUNC returns the datagram's length");
    // The rest of the datagram is gone.
    e(a.set_nonblocking(true))?;
    ensure!(a.recv(&mut small).is_err(), "a second read found data");
    Ok(())
}

fn connected_udp_ignores_other_senders() -> Outcome {
    let a = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let friend = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let stranger = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    e(a.connect(friend.local_addr().map_err(|e| e.to_string())?))?;
    e(stranger.send_to(b"no", a.local_addr().map_err(|e| e.to_string())?))?;
    e(friend.send_to(b"yes", a.local_addr().map_err(|e| e.to_string())?))?;
    let mut buf = [0u8; 8];
    let n = a.recv(&mut buf).map_err(|e| e.to_string())?;
    ensure_eq!(&buf[..n], b"yes");
    Ok(())
}

fn dual_stack_listener_accepts_ipv4_as_mapped() -> Outcome {
    let l = TcpListener::bind("[::]:0").map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    let _c = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let (_, peer) = l.accept().map_err(|e| e.to_string())?;
    match peer {
        SocketAddr::V6(v) => {
            ensure_eq!(v.ip().to_ipv4_mapped(), Some(std::net::Ipv4Addr::LOCALHOST))
        }
        SocketAddr::V4(_) => return Err("an AF_INET6 listener reported an AF_INET peer".into()),
    }
    Ok(())
}

fn raw_sockets_need_cap_net_raw_or_are_refused() -> Outcome {
    // As root natively a raw socket opens; either way the call never crashes and a
    // failure is EPERM (no CAP_NET_RAW) or EPROTONOSUPPORT (no raw support).
    let r = syscall!(
        libc::SYS_socket,
        libc::AF_INET,
        libc::SOCK_RAW,
        libc::IPPROTO_UDP
    );
    if r < 0 {
        let err = syscall_tests::last_errno();
        ensure!(
            err == libc::EPERM || err == libc::EPROTONOSUPPORT,
            "errno {err}"
        );
    } else {
        drop(Fd::from_ret(r)?);
    }
    Ok(())
}

fn stream_with_udp_protocol_is_eprotonosupport() -> Outcome {
    check!(
        syscall!(
            libc::SYS_socket,
            libc::AF_INET,
            libc::SOCK_STREAM,
            libc::IPPROTO_UDP
        ),
        fails_with(Errno::EPROTONOSUPPORT)
    );
    Ok(())
}

/// The group range allowed to open ICMP echo sockets, from /proc (Linux's default "1 0"
/// allows nobody).
fn ping_allowed() -> Result<bool, String> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map_err(|e| e.to_string())?;
    let v: Vec<u32> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let gid = syscall!(libc::SYS_getgid) as u32;
    Ok(v.len() == 2 && v[0] <= gid && gid <= v[1])
}

fn icmp_checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ping_socket_echo_or_eacces() -> Outcome {
    let r = syscall!(
        libc::SYS_socket,
        libc::AF_INET,
        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
        libc::IPPROTO_ICMP
    );
    if !ping_allowed()? {
        ensure!(
            r < 0 && syscall_tests::last_errno() == libc::EACCES,
            "ping socket outside ping_group_range"
        );
        return Ok(());
    }
    let fd = Fd::from_ret(r)?;
    let mut pkt = vec![8u8, 0, 0, 0, 0, 0, 0, 1];
    pkt.extend_from_slice(b"rvisor");
    let c = icmp_checksum(&pkt);
    pkt[2..4].copy_from_slice(&c.to_be_bytes());
    let to = sockaddr_in(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        0,
    ));
    check!(
        syscall!(
            libc::SYS_sendto,
            fd.raw(),
            pkt.as_ptr(),
            pkt.len(),
            0,
            to.as_ptr(),
            16
        ),
        succeeds()
    );
    ensure_eq!(poll_one(fd.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 64];
    let n = check!(
        syscall!(
            libc::SYS_recvfrom,
            fd.raw(),
            buf.as_mut_ptr(),
            buf.len(),
            0,
            0,
            0
        ),
        succeeds()
    );
    ensure!(n >= 14, "short reply {n}");
    ensure_eq!(buf[0], 0, "an echo reply");
    ensure_eq!(&buf[8..14], b"rvisor");
    Ok(())
}

fn main() -> std::process::ExitCode {
    run_tests(tests![
        tcp_echo_v4,
        tcp_echo_v6,
        large_transfer_arrives_intact,
        several_clients_are_accepted,
        half_close_delivers_eof_then_data_still_flows_back,
        connect_to_a_closed_port_is_econnrefused,
        nonblocking_connect_is_einprogress_then_so_error_zero,
        nonblocking_connect_to_closed_port_reports_econnrefused,
        nonblocking_accept_without_clients_is_eagain,
        binding_a_used_port_is_eaddrinuse,
        bind_to_a_non_local_address_is_eaddrnotavail,
        low_ports_need_cap_net_bind_service,
        getpeername_of_unconnected_is_enotconn,
        socket_options_report_type_domain_protocol,
        tcp_nodelay_round_trips,
        fionread_counts_unread_bytes,
        poll_sees_readable_after_data,
        peer_close_makes_reads_return_zero,
        udp_round_trip_v4_and_v6,
        udp_truncation_reports_msg_trunc_length,
        connected_udp_ignores_other_senders,
        dual_stack_listener_accepts_ipv4_as_mapped,
        raw_sockets_need_cap_net_raw_or_are_refused,
        stream_with_udp_protocol_is_eprotonosupport,
        ping_socket_echo_or_eacces,
    ])
}
