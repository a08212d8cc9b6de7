//! Connection life cycle of AF_INET/AF_INET6 sockets (bind(2), listen(2), accept4(2),
//! connect(2), shutdown(2), ip(7)): bind errors and ephemeral ports, listen backlogs, accept4
//! flags, readiness of connects and shutdowns through poll/epoll/select, getsockname and
//! getpeername for IPv4, IPv6 and v4-mapped addresses, connect(AF_UNSPEC).
#![deny(unsafe_code)]

#[path = "inet_common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use common::*;
use syscall_tests::{
    Errno, Fd, Outcome, check, ensure, ensure_eq, fails_with, libc, poll_one, run_tests, succeeds,
    succeeds_with, syscall, tests, zeroed,
};

fn any(v6: bool, port: u16) -> SocketAddr {
    if v6 {
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0))
    } else {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
    }
}

fn mapped_lo(port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(
        Ipv4Addr::LOCALHOST.to_ipv6_mapped(),
        port,
        0,
        0,
    ))
}

fn listen(fd: &Fd, backlog: i32) -> i64 {
    syscall!(libc::SYS_listen, fd.raw(), backlog)
}

fn shutdown(fd: &Fd, how: i32) -> i64 {
    syscall!(libc::SYS_shutdown, fd.raw(), how)
}

fn unspec() -> [u8; 16] {
    [0u8; 16]
}

/// A non-blocking connect to `a` that started (0 or EINPROGRESS).
fn start_connect(v6: bool, a: SocketAddr) -> Result<Fd, String> {
    let c = sock(domain(v6), libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    let r = connect_raw(&c, a);
    if r != 0 {
        ensure_eq!(syscall_tests::last_errno(), libc::EINPROGRESS);
    }
    Ok(c)
}

// ---------------------------------------------------------------- bind

fn binding_twice_is_einval() -> Outcome {
    let s = tcp(false)?;
    bind(&s, lo(false, 0))?;
    check!(bind_raw(&s, lo(false, 0)), fails_with(Errno::EINVAL));
    let u = udp(true)?;
    bind(&u, lo(true, 0))?;
    check!(bind_raw(&u, lo(true, 0)), fails_with(Errno::EINVAL));
    Ok(())
}

fn bind_after_connect_is_einval() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(bind_raw(&c, lo(false, 0)), fails_with(Errno::EINVAL));
    Ok(())
}

fn bind_with_a_short_address_is_einval() -> Outcome {
    let s = tcp(false)?;
    let b = sa_bytes(lo(false, 0));
    check!(
        syscall!(libc::SYS_bind, s.raw(), b.as_ptr(), 8),
        fails_with(Errno::EINVAL)
    );
    let s6 = udp(true)?;
    let b6 = sa_bytes(lo(true, 0));
    check!(
        syscall!(libc::SYS_bind, s6.raw(), b6.as_ptr(), 20),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn bind_with_the_other_family_is_eafnosupport() -> Outcome {
    let s = tcp(false)?;
    check!(bind_raw(&s, lo(true, 0)), fails_with(Errno::EAFNOSUPPORT));
    let s6 = tcp(true)?;
    let b = sa_bytes(lo(false, 0));
    let mut padded = b.clone();
    padded.resize(28, 0);
    check!(
        syscall!(libc::SYS_bind, s6.raw(), padded.as_ptr(), 28),
        fails_with(Errno::EAFNOSUPPORT)
    );
    Ok(())
}

fn udp_bind_to_a_used_port_is_eaddrinuse() -> Outcome {
    let a = udp(false)?;
    bind(&a, lo(false, 0))?;
    let b = udp(false)?;
    check!(bind_raw(&b, local(&a)?), fails_with(Errno::EADDRINUSE));
    Ok(())
}

fn wildcard_bind_conflicts_with_a_loopback_bind() -> Outcome {
    let a = tcp(false)?;
    bind(&a, lo(false, 0))?;
    let port = local(&a)?.port();
    let b = tcp(false)?;
    check!(
        bind_raw(&b, any(false, port)),
        fails_with(Errno::EADDRINUSE)
    );
    Ok(())
}

fn so_reuseaddr_lets_two_udp_sockets_bind_a_port() -> Outcome {
    let a = udp(false)?;
    let b = udp(false)?;
    set_int(&a, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int(&b, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    bind(&a, lo(false, 0))?;
    bind(&b, local(&a)?)?;
    Ok(())
}

fn an_ipv6_and_a_v6only_socket_do_not_share_a_wildcard_with_ipv4() -> Outcome {
    // A dual-stack [::] bind covers 0.0.0.0 too.
    let six = tcp(true)?;
    bind(&six, any(true, 0))?;
    let port = local(&six)?.port();
    let four = tcp(false)?;
    check!(
        bind_raw(&four, any(false, port)),
        fails_with(Errno::EADDRINUSE)
    );
    // A v6-only one does not.
    let only = tcp(true)?;
    set_int(&only, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    bind(&only, any(true, 0))?;
    let port = local(&only)?.port();
    let four = tcp(false)?;
    bind(&four, any(false, port))?;
    Ok(())
}

/// The ephemeral port range (net.ipv4.ip_local_port_range), Linux's default when unreadable.
fn port_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let v: Vec<u16> = t
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 2).then(|| (v[0], v[1]))
        })
        .unwrap_or((32768, 60999))
}

fn bind_to_port_zero_picks_an_ephemeral_port() -> Outcome {
    let (lo_p, hi_p) = port_range();
    for v6 in [false, true] {
        let s = udp(v6)?;
        bind(&s, lo(v6, 0))?;
        let p = local(&s)?.port();
        ensure!((lo_p..=hi_p).contains(&p), "port {p} outside {lo_p}-{hi_p}");
    }
    Ok(())
}

fn connect_autobinds_an_ephemeral_port() -> Outcome {
    let (lo_p, hi_p) = port_range();
    let (c, _s) = tcp_pair(false)?;
    let p = local(&c)?.port();
    ensure!((lo_p..=hi_p).contains(&p), "port {p} outside {lo_p}-{hi_p}");
    Ok(())
}

fn ephemeral_ports_are_distinct() -> Outcome {
    let socks: Vec<Fd> = (0..8).map(|_| udp(false)).collect::<Result<_, _>>()?;
    let mut ports = std::collections::HashSet::new();
    for s in &socks {
        bind(s, lo(false, 0))?;
        ports.insert(local(s)?.port());
    }
    ensure_eq!(ports.len(), 8);
    Ok(())
}

// ---------------------------------------------------------------- listen / accept

fn listen_on_udp_is_eopnotsupp() -> Outcome {
    let u = udp(false)?;
    check!(listen(&u, 4), fails_with(Errno::EOPNOTSUPP));
    Ok(())
}

fn listen_on_a_connected_socket_is_einval() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(listen(&c, 4), fails_with(Errno::EINVAL));
    Ok(())
}

fn listen_twice_succeeds() -> Outcome {
    let (l, a) = listener(false, 1)?;
    check!(listen(&l, 16), succeeds());
    let c = tcp(false)?;
    connect(&c, a)?;
    accept(&l, 0)?;
    Ok(())
}

fn listen_with_backlog_zero_still_accepts_a_connection() -> Outcome {
    let (l, a) = listener(true, 0)?;
    let c = tcp(true)?;
    connect(&c, a)?;
    let s = accept(&l, 0)?;
    ensure_eq!(peer(&s)?, local(&c)?);
    Ok(())
}

fn connections_beyond_the_backlog_are_accepted_once_there_is_room() -> Outcome {
    let (l, a) = listener(false, 1)?;
    let clients: Vec<Fd> = (0..4)
        .map(|_| start_connect(false, a))
        .collect::<Result<_, _>>()?;
    let mut peers = std::collections::HashSet::new();
    for _ in 0..clients.len() {
        ensure_eq!(
            poll_one(l.raw(), libc::POLLIN, 10000)?.0,
            1,
            "nothing to accept"
        );
        let s = accept(&l, 0)?;
        peers.insert(peer(&s)?);
    }
    for c in &clients {
        ensure!(peers.contains(&local(c)?), "a client was not accepted");
        ensure_eq!(get_int(c, libc::SOL_SOCKET, libc::SO_ERROR)?, 0);
    }
    Ok(())
}

fn listen_without_bind_picks_a_port() -> Outcome {
    let l = tcp(false)?;
    check!(listen(&l, 4), succeeds());
    let a = local(&l)?;
    ensure!(a.port() != 0, "port 0");
    ensure_eq!(a.ip(), std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let c = tcp(false)?;
    connect(&c, lo(false, a.port()))?;
    accept(&l, 0)?;
    Ok(())
}

fn accept4_sock_nonblock_makes_the_new_socket_nonblocking() -> Outcome {
    let (l, a) = listener(false, 4)?;
    let c = tcp(false)?;
    connect(&c, a)?;
    let s = accept(&l, libc::SOCK_NONBLOCK)?;
    ensure!(fl(&s)? & i64::from(libc::O_NONBLOCK) != 0, "no O_NONBLOCK");
    let mut b = [0u8; 4];
    check!(recv(&s, &mut b, 0), fails_with(Errno::EAGAIN));
    Ok(())
}

fn accept4_sock_cloexec_sets_fd_cloexec() -> Outcome {
    let (l, a) = listener(false, 4)?;
    let c = tcp(false)?;
    connect(&c, a)?;
    let s = accept(&l, libc::SOCK_CLOEXEC)?;
    ensure_eq!(fdflags(&s)?, i64::from(libc::FD_CLOEXEC));
    Ok(())
}

fn accept_does_not_inherit_the_listeners_o_nonblock() -> Outcome {
    let l = sock(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    bind(&l, lo(false, 0))?;
    check!(listen(&l, 4), succeeds());
    let c = tcp(false)?;
    connect(&c, local(&l)?)?;
    ensure_eq!(poll_one(l.raw(), libc::POLLIN, 5000)?.0, 1);
    let s = accept(&l, 0)?;
    ensure_eq!(fl(&s)? & i64::from(libc::O_NONBLOCK), 0);
    ensure_eq!(fdflags(&s)?, 0);
    Ok(())
}

fn accept4_with_unknown_flags_is_einval() -> Outcome {
    let (l, _) = listener(false, 4)?;
    check!(
        syscall!(libc::SYS_accept4, l.raw(), 0usize, 0usize, 0x1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn accept_on_a_socket_that_does_not_listen_is_einval() -> Outcome {
    let s = tcp(false)?;
    bind(&s, lo(false, 0))?;
    check!(
        syscall!(libc::SYS_accept4, s.raw(), 0usize, 0usize, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn accept_on_udp_is_eopnotsupp() -> Outcome {
    let u = udp(false)?;
    check!(
        syscall!(libc::SYS_accept4, u.raw(), 0usize, 0usize, 0),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

fn accept_reports_the_peer_address() -> Outcome {
    let (l, a) = listener(true, 4)?;
    let c = tcp(true)?;
    connect(&c, a)?;
    let mut b = [0u8; 28];
    let mut len: u32 = 28;
    let s = Fd::from_ret(check!(
        syscall!(
            libc::SYS_accept4,
            l.raw(),
            b.as_mut_ptr(),
            &mut len as *mut u32,
            0
        ),
        succeeds()
    ))?;
    ensure_eq!(len, 28);
    ensure_eq!(sa_parse(&b)?, local(&c)?);
    ensure_eq!(local(&s)?, a);
    Ok(())
}

// ---------------------------------------------------------------- readiness

fn epoll_reports_a_completed_nonblocking_connect() -> Outcome {
    let (l, a) = listener(false, 4)?;
    let c = start_connect(false, a)?;
    let ep = Fd::from_ret(check!(
        syscall!(libc::SYS_epoll_create1, libc::EPOLL_CLOEXEC),
        succeeds()
    ))?;
    let mut ev = zeroed::<libc::epoll_event>();
    ev.events = libc::EPOLLOUT as u32;
    ev.u64 = 7;
    check!(
        syscall!(
            libc::SYS_epoll_ctl,
            ep.raw(),
            libc::EPOLL_CTL_ADD,
            c.raw(),
            &mut ev as *mut libc::epoll_event
        ),
        succeeds()
    );
    let mut out = [zeroed::<libc::epoll_event>(); 2];
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), out.as_mut_ptr(), 2, 5000),
        succeeds_with(1)
    );
    let (events, data) = (out[0].events, out[0].u64);
    ensure_eq!(data, 7);
    ensure!(events & libc::EPOLLOUT as u32 != 0, "events {events:#x}");
    ensure_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR)?, 0);
    accept(&l, 0)?;
    Ok(())
}

fn select_reports_a_completed_nonblocking_connect() -> Outcome {
    let (l, a) = listener(true, 4)?;
    let c = start_connect(true, a)?;
    let mut ws = [0u64; 16];
    let fd = c.raw() as usize;
    ws[fd / 64] |= 1 << (fd % 64);
    let mut tv = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    check!(
        syscall!(
            libc::SYS_select,
            c.raw() + 1,
            0usize,
            ws.as_mut_ptr(),
            0usize,
            &raw mut tv
        ),
        succeeds_with(1)
    );
    ensure!(ws[fd / 64] & (1 << (fd % 64)) != 0, "not writable");
    accept(&l, 0)?;
    Ok(())
}

fn a_refused_nonblocking_connect_polls_err_and_hup() -> Outcome {
    let (l, a) = listener(false, 4)?;
    drop(l);
    let c = sock(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    let r = connect_raw(&c, a);
    if r == 0 {
        return Err("connected to a closed port".into());
    }
    let (_, rev) = poll_one(c.raw(), libc::POLLOUT, 5000)?;
    ensure!(rev & libc::POLLERR != 0, "revents {rev:#x}");
    ensure!(rev & libc::POLLHUP != 0, "revents {rev:#x}");
    Ok(())
}

fn epollrdhup_is_reported_when_the_peer_shuts_down_writing() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    ensure_eq!(poll_one(s.raw(), libc::POLLRDHUP, 0)?.0, 0);
    check!(shutdown(&c, libc::SHUT_WR), succeeds());
    let (n, rev) = poll_one(s.raw(), libc::POLLRDHUP | libc::POLLIN, 5000)?;
    ensure_eq!(n, 1);
    ensure!(rev & libc::POLLRDHUP != 0, "revents {rev:#x}");
    ensure!(rev & libc::POLLHUP == 0, "POLLHUP too early: {rev:#x}");
    Ok(())
}

fn pollhup_once_both_directions_are_shut() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    check!(shutdown(&c, libc::SHUT_WR), succeeds());
    ensure!(
        eventually(|| poll_one(s.raw(), libc::POLLRDHUP, 0).is_ok_and(|(n, _)| n == 1)),
        "no POLLRDHUP"
    );
    check!(shutdown(&s, libc::SHUT_WR), succeeds());
    ensure!(
        eventually(|| poll_one(s.raw(), libc::POLLIN, 0).is_ok_and(|(_, r)| r & libc::POLLHUP != 0)),
        "no POLLHUP"
    );
    Ok(())
}

fn a_fresh_tcp_socket_polls_out_and_hup() -> Outcome {
    let s = tcp(false)?;
    let (_, rev) = poll_one(s.raw(), libc::POLLIN | libc::POLLOUT, 0)?;
    ensure_eq!(rev, libc::POLLOUT | libc::POLLHUP);
    Ok(())
}

fn a_listener_polls_in_when_a_connection_waits() -> Outcome {
    let (l, a) = listener(false, 4)?;
    ensure_eq!(poll_one(l.raw(), libc::POLLIN | libc::POLLOUT, 0)?.0, 0);
    let c = tcp(false)?;
    connect(&c, a)?;
    let (n, rev) = poll_one(l.raw(), libc::POLLIN | libc::POLLOUT, 5000)?;
    ensure_eq!((n, rev), (1, libc::POLLIN));
    Ok(())
}

// ---------------------------------------------------------------- shutdown

fn shut_rd_makes_reads_return_zero() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(shutdown(&c, libc::SHUT_RD), succeeds());
    let mut b = [0u8; 4];
    check!(recv(&c, &mut b, 0), succeeds_with(0));
    Ok(())
}

fn shut_wr_gives_the_peer_eof_while_data_still_flows_back() -> Outcome {
    let (c, s) = tcp_pair(true)?;
    check!(shutdown(&c, libc::SHUT_WR), succeeds());
    let mut b = [0u8; 4];
    check!(recv(&s, &mut b, 0), succeeds_with(0));
    send_all(&s, b"back")?;
    ensure_eq!(recv_exact(&c, 4)?, b"back");
    Ok(())
}

fn shut_rdwr_makes_sends_epipe_and_reads_zero() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(shutdown(&c, libc::SHUT_RDWR), succeeds());
    check!(send(&c, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
    let mut b = [0u8; 4];
    check!(recv(&c, &mut b, 0), succeeds_with(0));
    Ok(())
}

fn shutdown_twice_succeeds() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(shutdown(&c, libc::SHUT_WR), succeeds());
    check!(shutdown(&c, libc::SHUT_WR), succeeds());
    Ok(())
}

fn shutdown_of_an_unconnected_tcp_socket_is_enotconn() -> Outcome {
    let s = tcp(false)?;
    check!(shutdown(&s, libc::SHUT_RDWR), fails_with(Errno::ENOTCONN));
    Ok(())
}

fn shutdown_with_a_bad_how_is_einval() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(shutdown(&c, 3), fails_with(Errno::EINVAL));
    Ok(())
}

fn shutdown_of_an_unconnected_udp_socket_is_enotconn() -> Outcome {
    let u = udp(false)?;
    check!(shutdown(&u, libc::SHUT_RD), fails_with(Errno::ENOTCONN));
    Ok(())
}

fn shutdown_of_a_connected_udp_socket_succeeds() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    check!(shutdown(&a, libc::SHUT_WR), succeeds());
    Ok(())
}

fn shut_wr_on_a_listener_succeeds() -> Outcome {
    let (l, _) = listener(false, 4)?;
    check!(shutdown(&l, libc::SHUT_WR), succeeds());
    Ok(())
}

fn shut_rd_on_a_listener_stops_it() -> Outcome {
    let (l, _) = listener(false, 4)?;
    check!(shutdown(&l, libc::SHUT_RD), succeeds());
    check!(
        syscall!(
            libc::SYS_accept4,
            l.raw(),
            0usize,
            0usize,
            libc::SOCK_NONBLOCK
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn queue_counts_of_a_listener_are_einval() -> Outcome {
    let (l, _) = listener(true, 4)?;
    for req in [libc::FIONREAD, 0x5411] {
        let mut n = 0i32;
        check!(
            syscall!(libc::SYS_ioctl, l.raw(), req, &mut n as *mut i32),
            fails_with(Errno::EINVAL)
        );
    }
    Ok(())
}

fn udp_shut_rd_polls_readable_with_rdhup_and_data_still_arrives() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(shutdown(&a, libc::SHUT_RD), succeeds());
    let (_, rev) = poll_one(a.raw(), libc::POLLIN | libc::POLLRDHUP, 0)?;
    ensure_eq!(rev, libc::POLLIN | libc::POLLRDHUP);
    let mut buf = [0u8; 8];
    check!(
        recv(&a, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    check!(send(&b, b"still", 0), succeeds());
    ensure!(
        eventually(|| recv(&a, &mut buf, libc::MSG_DONTWAIT) == 5),
        "the datagram never came"
    );
    Ok(())
}

fn udp_blocking_recv_after_shut_rd_returns_zero() -> Outcome {
    let (a, _b) = udp_pair(true)?;
    check!(shutdown(&a, libc::SHUT_RD), succeeds());
    let mut buf = [0u8; 8];
    check!(recv(&a, &mut buf, 0), succeeds_with(0));
    Ok(())
}

fn udp_shut_wr_makes_sends_epipe() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    check!(shutdown(&a, libc::SHUT_WR), succeeds());
    check!(send(&a, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
    Ok(())
}

fn udp_send_after_shut_wr_is_epipe_without_sigpipe() -> Outcome {
    syscall_tests::task::fork_and_check(|| {
        syscall_tests::task::block(libc::SIGPIPE)?;
        let (a, _b) = udp_pair(false)?;
        check!(shutdown(&a, libc::SHUT_WR), succeeds());
        check!(send(&a, b"x", 0), fails_with(Errno::EPIPE));
        // Only streams raise SIGPIPE (sk_stream_error); udp_sendmsg just fails.
        ensure_eq!(
            syscall_tests::task::pending()? & syscall_tests::task::sig_bit(libc::SIGPIPE),
            0,
            "SIGPIPE pending"
        );
        Ok(())
    })
}

fn udp_shut_rdwr_polls_hup() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    check!(shutdown(&a, libc::SHUT_RDWR), succeeds());
    let (_, rev) = poll_one(a.raw(), libc::POLLIN, 0)?;
    ensure!(rev & libc::POLLHUP != 0, "revents {rev:#x}");
    Ok(())
}

// ---------------------------------------------------------------- names

fn getsockname_of_an_unbound_socket_is_the_wildcard() -> Outcome {
    for v6 in [false, true] {
        let s = tcp(v6)?;
        ensure_eq!(local(&s)?, any(v6, 0));
        let u = udp(v6)?;
        ensure_eq!(local(&u)?, any(v6, 0));
    }
    Ok(())
}

fn getsockname_and_getpeername_agree_across_a_v6_connection() -> Outcome {
    let (c, s) = tcp_pair(true)?;
    ensure_eq!(local(&c)?, peer(&s)?);
    ensure_eq!(peer(&c)?, local(&s)?);
    ensure_eq!(local(&s)?.ip(), std::net::IpAddr::V6(Ipv6Addr::LOCALHOST));
    Ok(())
}

fn an_ipv6_socket_connects_to_ipv4_through_a_mapped_address() -> Outcome {
    let (l, a) = listener(false, 4)?;
    let c = tcp(true)?;
    connect(&c, mapped_lo(a.port()))?;
    ensure_eq!(peer(&c)?, mapped_lo(a.port()));
    ensure_eq!(local(&c)?.ip(), mapped_lo(0).ip());
    let s = accept(&l, 0)?;
    ensure_eq!(peer(&s)?, lo(false, local(&c)?.port()));
    Ok(())
}

fn a_v6only_socket_cannot_reach_a_mapped_address() -> Outcome {
    let (_l, a) = listener(false, 4)?;
    let c = tcp(true)?;
    set_int(&c, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    check!(
        connect_raw(&c, mapped_lo(a.port())),
        fails_with(Errno::ENETUNREACH)
    );
    Ok(())
}

fn getsockname_with_a_short_buffer_truncates_and_reports_the_full_length() -> Outcome {
    let s = udp(true)?;
    bind(&s, lo(true, 0))?;
    let mut b = [0xffu8; 8];
    let mut len: u32 = 8;
    check!(
        syscall!(
            libc::SYS_getsockname,
            s.raw(),
            b.as_mut_ptr(),
            &mut len as *mut u32
        ),
        succeeds()
    );
    ensure_eq!(len, 28);
    ensure_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET6 as u16);
    Ok(())
}

fn connecting_a_wildcard_bound_udp_socket_fixes_its_source_address() -> Outcome {
    let a = udp(false)?;
    bind(&a, any(false, 0))?;
    let b = udp(false)?;
    bind(&b, lo(false, 0))?;
    connect(&a, local(&b)?)?;
    let me = local(&a)?;
    ensure_eq!(me.ip(), std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
    Ok(())
}

fn getpeername_of_a_connected_udp_socket() -> Outcome {
    let (a, b) = udp_pair(true)?;
    ensure_eq!(peer(&a)?, local(&b)?);
    Ok(())
}

// ---------------------------------------------------------------- connect

fn connect_af_unspec_dissolves_a_udp_association() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    let u = unspec();
    check!(
        syscall!(libc::SYS_connect, a.raw(), u.as_ptr(), 16),
        succeeds()
    );
    let mut b = [0u8; 16];
    let mut len: u32 = 16;
    check!(
        syscall!(
            libc::SYS_getpeername,
            a.raw(),
            b.as_mut_ptr(),
            &mut len as *mut u32
        ),
        fails_with(Errno::ENOTCONN)
    );
    check!(send(&a, b"x", 0), fails_with(Errno::EDESTADDRREQ));
    Ok(())
}

/// A UDP socket bound to an explicit port on loopback (one the kernel just handed out).
fn udp_on_explicit_port(v6: bool) -> Result<Fd, String> {
    let probe = udp(v6)?;
    bind(&probe, lo(v6, 0))?;
    let port = local(&probe)?.port();
    drop(probe);
    let a = udp(v6)?;
    bind(&a, lo(v6, port))?;
    Ok(a)
}

fn after_af_unspec_a_udp_socket_hears_everyone_again() -> Outcome {
    let a = udp_on_explicit_port(false)?;
    let friend = udp(false)?;
    bind(&friend, lo(false, 0))?;
    connect(&a, local(&friend)?)?;
    let u = unspec();
    check!(
        syscall!(libc::SYS_connect, a.raw(), u.as_ptr(), 16),
        succeeds()
    );
    let stranger = udp(false)?;
    check!(send_to(&stranger, b"hi", local(&a)?, 0), succeeds());
    ensure_eq!(poll_one(a.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 4];
    check!(recv(&a, &mut buf, 0), succeeds_with(2));
    Ok(())
}

fn af_unspec_gives_back_a_port_bound_as_zero_but_keeps_the_address() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    let u = unspec();
    check!(
        syscall!(libc::SYS_connect, a.raw(), u.as_ptr(), 16),
        succeeds()
    );
    ensure_eq!(local(&a)?, lo(false, 0));
    Ok(())
}

fn af_unspec_keeps_an_explicit_port() -> Outcome {
    let a = udp_on_explicit_port(true)?;
    let port = local(&a)?.port();
    let b = udp(true)?;
    bind(&b, lo(true, 0))?;
    connect(&a, local(&b)?)?;
    let u = unspec();
    check!(
        syscall!(libc::SYS_connect, a.raw(), u.as_ptr(), 16),
        succeeds()
    );
    ensure_eq!(local(&a)?, lo(true, port));
    Ok(())
}

fn af_unspec_on_an_unconnected_tcp_socket_succeeds() -> Outcome {
    let s = tcp(false)?;
    let u = unspec();
    check!(
        syscall!(libc::SYS_connect, s.raw(), u.as_ptr(), 16),
        succeeds()
    );
    Ok(())
}

fn af_unspec_on_a_connected_tcp_socket_resets_the_peer() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    let u = unspec();
    check!(
        syscall!(libc::SYS_connect, c.raw(), u.as_ptr(), 16),
        succeeds()
    );
    let mut b = [0u8; 16];
    let mut len: u32 = 16;
    check!(
        syscall!(
            libc::SYS_getpeername,
            c.raw(),
            b.as_mut_ptr(),
            &mut len as *mut u32
        ),
        fails_with(Errno::ENOTCONN)
    );
    ensure_eq!(poll_one(s.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 4];
    check!(recv(&s, &mut buf, 0), fails_with(Errno::ECONNRESET));
    Ok(())
}

fn af_unspec_on_a_listener_stops_it_listening() -> Outcome {
    let (l, _) = listener(false, 4)?;
    let u = unspec();
    check!(
        syscall!(libc::SYS_connect, l.raw(), u.as_ptr(), 16),
        succeeds()
    );
    ensure_eq!(get_int(&l, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)?, 0);
    check!(
        syscall!(libc::SYS_accept4, l.raw(), 0usize, 0usize, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn connect_on_a_connected_tcp_socket_is_eisconn() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    check!(connect_raw(&c, local(&s)?), fails_with(Errno::EISCONN));
    Ok(())
}

fn a_udp_socket_may_connect_again_to_another_peer() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    let c = udp(false)?;
    bind(&c, lo(false, 0))?;
    connect(&a, local(&c)?)?;
    ensure_eq!(peer(&a)?, local(&c)?);
    check!(send(&a, b"new", 0), succeeds_with(3));
    ensure_eq!(poll_one(c.raw(), libc::POLLIN, 5000)?.0, 1);
    Ok(())
}

fn connect_with_a_short_address_is_einval() -> Outcome {
    let s = tcp(false)?;
    let b = sa_bytes(lo(false, 80));
    check!(
        syscall!(libc::SYS_connect, s.raw(), b.as_ptr(), 4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn a_blocking_connect_with_a_timeout_to_a_listener_succeeds() -> Outcome {
    let (l, a) = listener(false, 4)?;
    let c = tcp(false)?;
    set_timeout(&c, libc::SO_SNDTIMEO, Duration::from_secs(2))?;
    connect(&c, a)?;
    accept(&l, 0)?;
    Ok(())
}

fn recv_on_a_listener_or_unconnected_socket_is_enotconn() -> Outcome {
    let (l, _) = listener(false, 4)?;
    let mut b = [0u8; 4];
    check!(
        recv(&l, &mut b, libc::MSG_DONTWAIT),
        fails_with(Errno::ENOTCONN)
    );
    let s = tcp(true)?;
    check!(
        recv(&s, &mut b, libc::MSG_DONTWAIT),
        fails_with(Errno::ENOTCONN)
    );
    Ok(())
}

fn send_on_an_unconnected_tcp_socket_is_epipe() -> Outcome {
    let s = tcp(false)?;
    check!(send(&s, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
    Ok(())
}

fn connect_to_port_zero_is_econnrefused() -> Outcome {
    let s = tcp(false)?;
    check!(
        connect_raw(&s, lo(false, 0)),
        fails_with(Errno::ECONNREFUSED)
    );
    Ok(())
}

fn a_dual_stack_socket_binds_a_mapped_ipv4_address() -> Outcome {
    let l = tcp(true)?;
    bind(&l, mapped_lo(0))?;
    let a = local(&l)?;
    ensure_eq!(a.ip(), mapped_lo(0).ip());
    check!(listen(&l, 4), succeeds());
    let c = tcp(false)?;
    connect(&c, lo(false, a.port()))?;
    let s = accept(&l, 0)?;
    ensure_eq!(peer(&s)?, mapped_lo(local(&c)?.port()));
    Ok(())
}

fn a_v6only_socket_cannot_bind_a_mapped_address() -> Outcome {
    let s = udp(true)?;
    set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    check!(bind_raw(&s, mapped_lo(0)), fails_with(Errno::EINVAL));
    Ok(())
}

fn main() -> std::process::ExitCode {
    run_tests(tests![
        binding_twice_is_einval,
        bind_after_connect_is_einval,
        bind_with_a_short_address_is_einval,
        bind_with_the_other_family_is_eafnosupport,
        udp_bind_to_a_used_port_is_eaddrinuse,
        wildcard_bind_conflicts_with_a_loopback_bind,
        so_reuseaddr_lets_two_udp_sockets_bind_a_port,
        an_ipv6_and_a_v6only_socket_do_not_share_a_wildcard_with_ipv4,
        bind_to_port_zero_picks_an_ephemeral_port,
        connect_autobinds_an_ephemeral_port,
        ephemeral_ports_are_distinct,
        listen_on_udp_is_eopnotsupp,
        listen_on_a_connected_socket_is_einval,
        listen_twice_succeeds,
        listen_with_backlog_zero_still_accepts_a_connection,
        connections_beyond_the_backlog_are_accepted_once_there_is_room,
        listen_without_bind_picks_a_port,
        accept4_sock_nonblock_makes_the_new_socket_nonblocking,
        accept4_sock_cloexec_sets_fd_cloexec,
        accept_does_not_inherit_the_listeners_o_nonblock,
        accept4_with_unknown_flags_is_einval,
        accept_on_a_socket_that_does_not_listen_is_einval,
        accept_on_udp_is_eopnotsupp,
        accept_reports_the_peer_address,
        epoll_reports_a_completed_nonblocking_connect,
        select_reports_a_completed_nonblocking_connect,
        a_refused_nonblocking_connect_polls_err_and_hup,
        epollrdhup_is_reported_when_the_peer_shuts_down_writing,
        pollhup_once_both_directions_are_shut,
        a_fresh_tcp_socket_polls_out_and_hup,
        a_listener_polls_in_when_a_connection_waits,
        shut_rd_makes_reads_return_zero,
        shut_wr_gives_the_peer_eof_while_data_still_flows_back,
        shut_rdwr_makes_sends_epipe_and_reads_zero,
        shutdown_twice_succeeds,
        shutdown_of_an_unconnected_tcp_socket_is_enotconn,
        shutdown_with_a_bad_how_is_einval,
        shutdown_of_an_unconnected_udp_socket_is_enotconn,
        shutdown_of_a_connected_udp_socket_succeeds,
        shut_wr_on_a_listener_succeeds,
        shut_rd_on_a_listener_stops_it,
        queue_counts_of_a_listener_are_einval,
        udp_shut_rd_polls_readable_with_rdhup_and_data_still_arrives,
        udp_blocking_recv_after_shut_rd_returns_zero,
        udp_shut_wr_makes_sends_epipe,
        udp_send_after_shut_wr_is_epipe_without_sigpipe,
        udp_shut_rdwr_polls_hup,
        getsockname_of_an_unbound_socket_is_the_wildcard,
        getsockname_and_getpeername_agree_across_a_v6_connection,
        an_ipv6_socket_connects_to_ipv4_through_a_mapped_address,
        a_v6only_socket_cannot_reach_a_mapped_address,
        getsockname_with_a_short_buffer_truncates_and_reports_the_full_length,
        connecting_a_wildcard_bound_udp_socket_fixes_its_source_address,
        getpeername_of_a_connected_udp_socket,
        connect_af_unspec_dissolves_a_udp_association,
        after_af_unspec_a_udp_socket_hears_everyone_again,
        af_unspec_gives_back_a_port_bound_as_zero_but_keeps_the_address,
        af_unspec_keeps_an_explicit_port,
        af_unspec_on_an_unconnected_tcp_socket_succeeds,
        af_unspec_on_a_connected_tcp_socket_resets_the_peer,
        af_unspec_on_a_listener_stops_it_listening,
        connect_on_a_connected_tcp_socket_is_eisconn,
        a_udp_socket_may_connect_again_to_another_peer,
        connect_with_a_short_address_is_einval,
        a_blocking_connect_with_a_timeout_to_a_listener_succeeds,
        recv_on_a_listener_or_unconnected_socket_is_enotconn,
        send_on_an_unconnected_tcp_socket_is_epipe,
        connect_to_port_zero_is_econnrefused,
        a_dual_stack_socket_binds_a_mapped_ipv4_address,
        a_v6only_socket_cannot_bind_a_mapped_address,
    ])
}
