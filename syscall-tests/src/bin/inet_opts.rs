//! Socket options of AF_INET/AF_INET6 sockets (socket(7), ip(7), ipv6(7), tcp(7)): timeouts
//! and what they do to blocking calls, SO_LINGER (an abortive close resets the peer),
//! SO_REUSEPORT, keep-alive, TCP_INFO, TCP_MAXSEG, the IP/IPv6 header options with Linux's
//! ranges, and the flags that are only stored. Everything runs over loopback.
#![deny(unsafe_code)]

#[path = "inet_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use syscall_tests::libc;
use syscall_tests::{Errno, Outcome, check, ensure, ensure_eq, fails_with, run_tests, tests};

const SO_REUSEPORT: i32 = 15;
const TCP_INFO_STATE_ESTABLISHED: u8 = 1;

fn linger_bytes(on: i32, secs: i32) -> Vec<u8> {
    let mut v = on.to_ne_bytes().to_vec();
    v.extend_from_slice(&secs.to_ne_bytes());
    v
}

fn i32_at(b: &[u8], off: usize) -> i32 {
    i32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn i64_at(b: &[u8], off: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    i64::from_ne_bytes(a)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

// ---------------------------------------------------------------- timeouts

fn so_rcvtimeo_defaults_to_zero() -> Outcome {
    let s = tcp(false)?;
    let b = get_bytes(&s, libc::SOL_SOCKET, libc::SO_RCVTIMEO, 16)?;
    ensure_eq!(b.len(), 16);
    ensure_eq!((i64_at(&b, 0), i64_at(&b, 8)), (0, 0));
    Ok(())
}

fn so_rcvtimeo_round_trips_a_timeval() -> Outcome {
    let s = udp(true)?;
    set_timeout(&s, libc::SO_RCVTIMEO, Duration::from_millis(1500))?;
    let b = get_bytes(&s, libc::SOL_SOCKET, libc::SO_RCVTIMEO, 16)?;
    ensure_eq!((i64_at(&b, 0), i64_at(&b, 8)), (1, 500_000));
    Ok(())
}

fn so_sndtimeo_round_trips_a_timeval() -> Outcome {
    let s = tcp(false)?;
    set_timeout(&s, libc::SO_SNDTIMEO, Duration::from_secs(3))?;
    let b = get_bytes(&s, libc::SOL_SOCKET, libc::SO_SNDTIMEO, 16)?;
    ensure_eq!((i64_at(&b, 0), i64_at(&b, 8)), (3, 0));
    Ok(())
}

fn so_rcvtimeo_with_a_short_length_is_einval() -> Outcome {
    let s = tcp(false)?;
    check!(
        setsockopt_raw(&s, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &[0u8; 8]),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn so_sndtimeo_with_microseconds_out_of_range_is_edom() -> Outcome {
    let s = udp(false)?;
    let mut v = 1i64.to_ne_bytes().to_vec();
    v.extend_from_slice(&1_000_000i64.to_ne_bytes());
    check!(
        setsockopt_raw(&s, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &v),
        fails_with(Errno::EDOM)
    );
    Ok(())
}

fn timed_out<F: FnOnce() -> i64>(min: Duration, f: F, errno: i32) -> Outcome {
    let t0 = Instant::now();
    let r = f();
    let e = syscall_tests::last_errno();
    let took = t0.elapsed();
    ensure_eq!(r, -1, "the call returned");
    ensure_eq!(e, errno, "errno");
    ensure!(took >= min, "returned after {took:?}");
    ensure!(took < Duration::from_secs(5), "took {took:?}");
    Ok(())
}

fn tcp_recv_with_so_rcvtimeo_times_out_with_eagain() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    set_timeout(&c, libc::SO_RCVTIMEO, Duration::from_millis(100))?;
    let mut b = [0u8; 8];
    timed_out(
        Duration::from_millis(90),
        || recv(&c, &mut b, 0),
        libc::EAGAIN,
    )
}

fn udp_recv_with_so_rcvtimeo_times_out_with_eagain() -> Outcome {
    let u = udp(true)?;
    bind(&u, lo(true, 0))?;
    set_timeout(&u, libc::SO_RCVTIMEO, Duration::from_millis(100))?;
    let mut b = [0u8; 8];
    timed_out(
        Duration::from_millis(90),
        || recv(&u, &mut b, 0),
        libc::EAGAIN,
    )
}

fn accept_with_so_rcvtimeo_times_out_with_eagain() -> Outcome {
    let (l, _) = listener(false, 4)?;
    set_timeout(&l, libc::SO_RCVTIMEO, Duration::from_millis(100))?;
    timed_out(
        Duration::from_millis(90),
        || syscall_tests::syscall!(libc::SYS_accept4, l.raw(), 0usize, 0usize, 0),
        libc::EAGAIN,
    )
}

fn read_with_so_rcvtimeo_times_out_with_eagain() -> Outcome {
    let (c, _s) = tcp_pair(true)?;
    set_timeout(&c, libc::SO_RCVTIMEO, Duration::from_millis(100))?;
    let mut b = [0u8; 8];
    timed_out(
        Duration::from_millis(90),
        || syscall_tests::syscall!(libc::SYS_read, c.raw(), b.as_mut_ptr(), 8),
        libc::EAGAIN,
    )
}

fn data_arriving_before_the_timeout_is_returned() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    set_timeout(&c, libc::SO_RCVTIMEO, Duration::from_secs(3))?;
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        send(&s, b"late", 0)
    });
    let mut b = [0u8; 8];
    let n = check!(recv(&c, &mut b, 0), syscall_tests::succeeds());
    ensure_eq!(&b[..n as usize], b"late");
    ensure_eq!(t.join().map_err(|_| "sender panicked")?, 4);
    Ok(())
}

fn send_with_so_sndtimeo_on_a_full_buffer_times_out() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    fill(&c)?;
    set_timeout(&c, libc::SO_SNDTIMEO, Duration::from_millis(100))?;
    let big = vec![1u8; 4 << 20];
    let t0 = Instant::now();
    let r = send(&c, &big, libc::MSG_NOSIGNAL);
    let e = syscall_tests::last_errno();
    let took = t0.elapsed();
    ensure!(took >= Duration::from_millis(90), "returned after {took:?}");
    // Linux returns what it queued before the timer ran out, or EAGAIN if nothing.
    ensure!(
        (r == -1 && e == libc::EAGAIN) || (r > 0 && (r as usize) < big.len()),
        "send returned {r} errno {e}"
    );
    Ok(())
}

fn connect_with_so_sndtimeo_to_a_full_accept_queue_is_einprogress() -> Outcome {
    // listen(0) queues one connection; Linux drops the next SYN, so its connect waits.
    let (l, a) = listener(false, 0)?;
    let first = tcp(false)?;
    connect(&first, a)?;
    let c = tcp(false)?;
    set_timeout(&c, libc::SO_SNDTIMEO, Duration::from_millis(200))?;
    timed_out(
        Duration::from_millis(190),
        || connect_raw(&c, a),
        libc::EINPROGRESS,
    )?;
    drop(l);
    Ok(())
}

fn accepted_socket_inherits_the_listeners_rcvtimeo() -> Outcome {
    let (l, a) = listener(false, 4)?;
    set_timeout(&l, libc::SO_RCVTIMEO, Duration::from_secs(2))?;
    let c = tcp(false)?;
    connect(&c, a)?;
    let s = accept(&l, 0)?;
    let b = get_bytes(&s, libc::SOL_SOCKET, libc::SO_RCVTIMEO, 16)?;
    ensure_eq!((i64_at(&b, 0), i64_at(&b, 8)), (2, 0));
    Ok(())
}

// ---------------------------------------------------------------- SO_LINGER

fn so_linger_defaults_to_off() -> Outcome {
    let s = tcp(false)?;
    let b = get_bytes(&s, libc::SOL_SOCKET, libc::SO_LINGER, 8)?;
    ensure_eq!(b.len(), 8);
    ensure_eq!((i32_at(&b, 0), i32_at(&b, 4)), (0, 0));
    Ok(())
}

fn so_linger_round_trips() -> Outcome {
    let s = tcp(true)?;
    check!(
        setsockopt_raw(&s, libc::SOL_SOCKET, libc::SO_LINGER, &linger_bytes(1, 5)),
        syscall_tests::succeeds()
    );
    let b = get_bytes(&s, libc::SOL_SOCKET, libc::SO_LINGER, 8)?;
    ensure_eq!((i32_at(&b, 0), i32_at(&b, 4)), (1, 5));
    Ok(())
}

fn so_linger_with_a_short_length_is_einval() -> Outcome {
    let s = tcp(false)?;
    check!(
        setsockopt_raw(&s, libc::SOL_SOCKET, libc::SO_LINGER, &1i32.to_ne_bytes()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn close_with_zero_linger_resets_the_peer() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    check!(
        setsockopt_raw(&c, libc::SOL_SOCKET, libc::SO_LINGER, &linger_bytes(1, 0)),
        syscall_tests::succeeds()
    );
    drop(c);
    let mut b = [0u8; 8];
    ensure_eq!(
        syscall_tests::poll_one(s.raw(), libc::POLLIN, 5000)?.0,
        1,
        "the reset arrives"
    );
    check!(recv(&s, &mut b, 0), fails_with(Errno::ECONNRESET));
    Ok(())
}

fn close_with_linger_off_is_an_orderly_eof() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    check!(
        setsockopt_raw(&c, libc::SOL_SOCKET, libc::SO_LINGER, &linger_bytes(0, 0)),
        syscall_tests::succeeds()
    );
    drop(c);
    let mut b = [0u8; 8];
    check!(recv(&s, &mut b, 0), syscall_tests::succeeds_with(0));
    Ok(())
}

// ---------------------------------------------------------------- SO_REUSEPORT

fn so_reuseport_defaults_off_and_round_trips() -> Outcome {
    let s = udp(false)?;
    ensure_eq!(get_int(&s, libc::SOL_SOCKET, SO_REUSEPORT)?, 0);
    set_int(&s, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    ensure_eq!(get_int(&s, libc::SOL_SOCKET, SO_REUSEPORT)?, 1);
    Ok(())
}

fn two_tcp_sockets_with_so_reuseport_bind_one_port() -> Outcome {
    let a = tcp(false)?;
    let b = tcp(false)?;
    set_int(&a, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    set_int(&b, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    bind(&a, lo(false, 0))?;
    bind(&b, local(&a)?)?;
    ensure_eq!(local(&a)?, local(&b)?);
    Ok(())
}

fn so_reuseport_on_only_one_socket_is_eaddrinuse() -> Outcome {
    let a = tcp(false)?;
    let b = tcp(false)?;
    set_int(&a, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    bind(&a, lo(false, 0))?;
    check!(bind_raw(&b, local(&a)?), fails_with(Errno::EADDRINUSE));
    Ok(())
}

fn two_reuseport_listeners_share_a_port_and_accept() -> Outcome {
    let a = tcp(false)?;
    let b = tcp(false)?;
    set_int(&a, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    set_int(&b, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    bind(&a, lo(false, 0))?;
    let addr = local(&a)?;
    bind(&b, addr)?;
    check!(
        syscall_tests::syscall!(libc::SYS_listen, a.raw(), 8),
        syscall_tests::succeeds()
    );
    check!(
        syscall_tests::syscall!(libc::SYS_listen, b.raw(), 8),
        syscall_tests::succeeds()
    );
    let c = tcp(false)?;
    connect(&c, addr)?;
    let mut fds = [
        libc::pollfd {
            fd: a.raw(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.raw(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    check!(
        syscall_tests::syscall!(libc::SYS_poll, fds.as_mut_ptr(), 2, 5000),
        syscall_tests::succeeds_with(1)
    );
    let l = if fds[0].revents != 0 { &a } else { &b };
    let s = accept(l, 0)?;
    ensure_eq!(peer(&s)?, local(&c)?);
    Ok(())
}

fn two_reuseport_udp_sockets_share_a_port_and_one_receives() -> Outcome {
    let a = udp(false)?;
    let b = udp(false)?;
    set_int(&a, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    set_int(&b, libc::SOL_SOCKET, SO_REUSEPORT, 1)?;
    bind(&a, lo(false, 0))?;
    let addr = local(&a)?;
    bind(&b, addr)?;
    let tx = udp(false)?;
    check!(
        send_to(&tx, b"one", addr, 0),
        syscall_tests::succeeds_with(3)
    );
    std::thread::sleep(Duration::from_millis(50));
    let mut got = 0;
    for s in [&a, &b] {
        let mut buf = [0u8; 8];
        let r = recv(s, &mut buf, libc::MSG_DONTWAIT);
        if r == 3 {
            ensure_eq!(&buf[..3], b"one");
            got += 1;
        }
    }
    ensure_eq!(got, 1, "exactly one socket received the datagram");
    Ok(())
}

// ---------------------------------------------------------------- keep-alive

fn so_keepalive_round_trips_on_tcp() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    ensure_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_KEEPALIVE)?, 0);
    set_int(&c, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    ensure_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_KEEPALIVE)?, 1);
    Ok(())
}

fn so_keepalive_is_stored_on_udp() -> Outcome {
    let u = udp(false)?;
    set_int(&u, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 7)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_KEEPALIVE)?, 1);
    Ok(())
}

fn tcp_keepidle_round_trips() -> Outcome {
    let s = tcp(false)?;
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 30)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE)?, 30);
    Ok(())
}

fn tcp_keepidle_out_of_range_is_einval() -> Outcome {
    let s = tcp(true)?;
    set_int_fails(&s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 0, Errno::EINVAL)?;
    set_int_fails(
        &s,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPIDLE,
        32768,
        Errno::EINVAL,
    )?;
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 32767)?;
    Ok(())
}

fn tcp_keepintvl_round_trips_and_checks_its_range() -> Outcome {
    let s = tcp(false)?;
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 11)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL)?, 11);
    set_int_fails(&s, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 0, Errno::EINVAL)?;
    set_int_fails(
        &s,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        32768,
        Errno::EINVAL,
    )?;
    Ok(())
}

fn tcp_keepcnt_round_trips_and_checks_its_range() -> Outcome {
    let s = tcp(false)?;
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_KEEPCNT)?, 4);
    set_int_fails(&s, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 0, Errno::EINVAL)?;
    set_int_fails(&s, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 128, Errno::EINVAL)?;
    Ok(())
}

fn keepalive_options_apply_to_a_connected_socket() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    set_int(&c, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set_int(&c, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 1)?;
    set_int(&c, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 1)?;
    // Probes to a live peer keep the connection up; data still flows.
    std::thread::sleep(Duration::from_millis(1200));
    check!(send(&s, b"ok", 0), syscall_tests::succeeds_with(2));
    ensure_eq!(recv_exact(&c, 2)?, b"ok");
    Ok(())
}

fn tcp_level_options_on_udp_are_enoprotoopt_to_set() -> Outcome {
    let u = udp(false)?;
    set_int_fails(
        &u,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPIDLE,
        10,
        Errno::ENOPROTOOPT,
    )?;
    set_int_fails(
        &u,
        libc::IPPROTO_TCP,
        libc::TCP_NODELAY,
        1,
        Errno::ENOPROTOOPT,
    )?;
    Ok(())
}

// ---------------------------------------------------------------- TCP_INFO / TCP_MAXSEG

fn tcp_info_of_a_connection_is_established_with_timers_and_mss() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    let b = get_bytes(&c, libc::IPPROTO_TCP, libc::TCP_INFO, 512)?;
    ensure!(
        b.len() >= 104 && b.len() < 512,
        "tcp_info is {} bytes",
        b.len()
    );
    ensure_eq!(b[0], TCP_INFO_STATE_ESTABLISHED);
    ensure!(u32_at(&b, 8) > 0, "tcpi_rto 0");
    ensure!(u32_at(&b, 16) > 0, "tcpi_snd_mss 0");
    ensure!(u32_at(&b, 20) > 0, "tcpi_rcv_mss 0");
    Ok(())
}

fn tcp_info_of_a_new_socket_is_close() -> Outcome {
    let s = tcp(true)?;
    let b = get_bytes(&s, libc::IPPROTO_TCP, libc::TCP_INFO, 512)?;
    ensure!(b.len() >= 104, "tcp_info is {} bytes", b.len());
    ensure_eq!(b[0], 7, "TCP_CLOSE");
    Ok(())
}

fn tcp_info_of_a_listener_is_listen() -> Outcome {
    let (l, _) = listener(false, 4)?;
    let b = get_bytes(&l, libc::IPPROTO_TCP, libc::TCP_INFO, 512)?;
    ensure_eq!(b[0], 10, "TCP_LISTEN");
    Ok(())
}

fn tcp_info_is_truncated_to_the_callers_length() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    let b = get_bytes(&c, libc::IPPROTO_TCP, libc::TCP_INFO, 8)?;
    ensure_eq!(b.len(), 8);
    ensure_eq!(b[0], TCP_INFO_STATE_ESTABLISHED);
    Ok(())
}

fn tcp_info_after_the_peer_closes_is_close_wait() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    drop(s);
    ensure!(
        eventually(|| get_bytes(&c, libc::IPPROTO_TCP, libc::TCP_INFO, 8)
            .is_ok_and(|b| b.first() == Some(&8))),
        "state never became CLOSE_WAIT"
    );
    Ok(())
}

fn tcp_maxseg_of_an_unconnected_socket_is_536() -> Outcome {
    let s = tcp(false)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_MAXSEG)?, 536);
    Ok(())
}

fn tcp_maxseg_of_a_connection_fits_the_loopback_mtu() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    let m = get_int(&c, libc::IPPROTO_TCP, libc::TCP_MAXSEG)?;
    ensure!(m > 536 && m <= 65495, "mss {m}");
    Ok(())
}

fn tcp_maxseg_set_checks_its_range() -> Outcome {
    let s = tcp(false)?;
    set_int_fails(&s, libc::IPPROTO_TCP, libc::TCP_MAXSEG, 87, Errno::EINVAL)?;
    set_int_fails(
        &s,
        libc::IPPROTO_TCP,
        libc::TCP_MAXSEG,
        32768,
        Errno::EINVAL,
    )?;
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_MAXSEG, 1000)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_MAXSEG)?, 1000);
    Ok(())
}

fn tcp_cork_round_trips() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    ensure_eq!(get_int(&c, libc::IPPROTO_TCP, libc::TCP_CORK)?, 0);
    set_int(&c, libc::IPPROTO_TCP, libc::TCP_CORK, 1)?;
    ensure_eq!(get_int(&c, libc::IPPROTO_TCP, libc::TCP_CORK)?, 1);
    set_int(&c, libc::IPPROTO_TCP, libc::TCP_CORK, 0)?;
    ensure_eq!(get_int(&c, libc::IPPROTO_TCP, libc::TCP_CORK)?, 0);
    Ok(())
}

fn tcp_quickack_is_accepted_and_reported() -> Outcome {
    let s = tcp(false)?;
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 0)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_QUICKACK)?, 0);
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_QUICKACK)?, 1);
    Ok(())
}

// ---------------------------------------------------------------- IP / IPv6 header options

fn ip_ttl_defaults_to_64_and_round_trips() -> Outcome {
    let s = udp(false)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IP, libc::IP_TTL)?, 64);
    set_int(&s, libc::IPPROTO_IP, libc::IP_TTL, 7)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IP, libc::IP_TTL)?, 7);
    Ok(())
}

fn ip_ttl_out_of_range_is_einval_and_minus_one_resets() -> Outcome {
    let s = tcp(false)?;
    set_int_fails(&s, libc::IPPROTO_IP, libc::IP_TTL, 0, Errno::EINVAL)?;
    set_int_fails(&s, libc::IPPROTO_IP, libc::IP_TTL, 256, Errno::EINVAL)?;
    set_int(&s, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
    set_int(&s, libc::IPPROTO_IP, libc::IP_TTL, -1)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IP, libc::IP_TTL)?, 64);
    Ok(())
}

fn ip_ttl_works_on_an_ipv6_socket() -> Outcome {
    let s = udp(true)?;
    set_int(&s, libc::IPPROTO_IP, libc::IP_TTL, 9)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IP, libc::IP_TTL)?, 9);
    Ok(())
}

fn ip_tos_round_trips_on_udp() -> Outcome {
    let s = udp(false)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IP, libc::IP_TOS)?, 0);
    set_int(&s, libc::IPPROTO_IP, libc::IP_TOS, 0x10)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IP, libc::IP_TOS)?, 0x10);
    Ok(())
}

fn ip_tos_on_tcp_keeps_the_ecn_bits_to_itself() -> Outcome {
    let s = tcp(false)?;
    set_int(&s, libc::IPPROTO_IP, libc::IP_TOS, 0x13)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IP, libc::IP_TOS)?, 0x10);
    Ok(())
}

fn ipv6_unicast_hops_defaults_to_64_and_round_trips() -> Outcome {
    let s = udp(true)?;
    ensure_eq!(
        get_int(&s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)?,
        64
    );
    set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 3)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)?, 3);
    Ok(())
}

fn ipv6_unicast_hops_out_of_range_is_einval() -> Outcome {
    let s = tcp(true)?;
    set_int_fails(
        &s,
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
        -2,
        Errno::EINVAL,
    )?;
    set_int_fails(
        &s,
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
        256,
        Errno::EINVAL,
    )?;
    set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 0)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)?, 0);
    set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, -1)?;
    ensure_eq!(
        get_int(&s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)?,
        64
    );
    Ok(())
}

fn ipv6_tclass_round_trips_and_checks_its_range() -> Outcome {
    let s = udp(true)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IPV6, libc::IPV6_TCLASS)?, 0);
    set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0x20)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IPV6, libc::IPV6_TCLASS)?, 0x20);
    set_int_fails(
        &s,
        libc::IPPROTO_IPV6,
        libc::IPV6_TCLASS,
        256,
        Errno::EINVAL,
    )?;
    set_int_fails(&s, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, -2, Errno::EINVAL)?;
    set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, -1)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_IPV6, libc::IPV6_TCLASS)?, 0);
    Ok(())
}

fn ipv6_options_on_an_ipv4_socket_are_refused() -> Outcome {
    let s = udp(false)?;
    set_int_fails(
        &s,
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
        5,
        Errno::ENOPROTOOPT,
    )?;
    let t = tcp(false)?;
    set_int_fails(
        &t,
        libc::IPPROTO_IPV6,
        libc::IPV6_TCLASS,
        5,
        Errno::ENOPROTOOPT,
    )?;
    Ok(())
}

// ---------------------------------------------------------------- SOL_SOCKET flags

fn so_error_of_a_fresh_socket_is_zero() -> Outcome {
    for s in [tcp(false)?, udp(true)?] {
        ensure_eq!(get_int(&s, libc::SOL_SOCKET, libc::SO_ERROR)?, 0);
    }
    Ok(())
}

fn so_acceptconn_is_one_only_for_a_listener() -> Outcome {
    let (l, _) = listener(true, 4)?;
    ensure_eq!(get_int(&l, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)?, 1);
    let t = tcp(true)?;
    ensure_eq!(get_int(&t, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)?, 0);
    let u = udp(false)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)?, 0);
    Ok(())
}

fn so_acceptconn_cannot_be_set() -> Outcome {
    let t = tcp(false)?;
    set_int_fails(
        &t,
        libc::SOL_SOCKET,
        libc::SO_ACCEPTCONN,
        1,
        Errno::ENOPROTOOPT,
    )?;
    Ok(())
}

fn so_broadcast_round_trips() -> Outcome {
    let u = udp(false)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_BROADCAST)?, 0);
    set_int(&u, libc::SOL_SOCKET, libc::SO_BROADCAST, 1)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_BROADCAST)?, 1);
    Ok(())
}

fn so_oobinline_round_trips() -> Outcome {
    let t = tcp(false)?;
    ensure_eq!(get_int(&t, libc::SOL_SOCKET, libc::SO_OOBINLINE)?, 0);
    set_int(&t, libc::SOL_SOCKET, libc::SO_OOBINLINE, 1)?;
    ensure_eq!(get_int(&t, libc::SOL_SOCKET, libc::SO_OOBINLINE)?, 1);
    Ok(())
}

fn so_priority_round_trips() -> Outcome {
    let t = tcp(false)?;
    ensure_eq!(get_int(&t, libc::SOL_SOCKET, libc::SO_PRIORITY)?, 0);
    set_int(&t, libc::SOL_SOCKET, libc::SO_PRIORITY, 6)?;
    ensure_eq!(get_int(&t, libc::SOL_SOCKET, libc::SO_PRIORITY)?, 6);
    Ok(())
}

fn so_rcvlowat_defaults_to_one_and_zero_means_one() -> Outcome {
    let u = udp(false)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_RCVLOWAT)?, 1);
    set_int(&u, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 10)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_RCVLOWAT)?, 10);
    set_int(&u, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 0)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_RCVLOWAT)?, 1);
    Ok(())
}

fn so_rcvlowat_holds_back_readability_until_enough_bytes() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    set_int(&s, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 5)?;
    send_all(&c, b"abc")?;
    ensure_eq!(syscall_tests::poll_one(s.raw(), libc::POLLIN, 100)?.0, 0);
    send_all(&c, b"de")?;
    ensure_eq!(syscall_tests::poll_one(s.raw(), libc::POLLIN, 5000)?.0, 1);
    Ok(())
}

fn so_rcvlowat_makes_a_blocking_recv_wait_for_enough_bytes() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    set_int(&s, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 5)?;
    send_all(&c, b"abc")?;
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        send(&c, b"def", 0)
    });
    let mut b = [0u8; 16];
    check!(recv(&s, &mut b, 0), syscall_tests::succeeds_with(6));
    ensure_eq!(&b[..6], b"abcdef");
    ensure_eq!(t.join().map_err(|_| "sender panicked")?, 3);
    Ok(())
}

fn so_rcvlowat_does_not_hold_back_a_nonblocking_recv() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    set_int(&s, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 5)?;
    send_all(&c, b"abc")?;
    let mut b = [0u8; 16];
    ensure!(
        eventually(|| recv(&s, &mut b, libc::MSG_DONTWAIT) == 3),
        "no partial read"
    );
    Ok(())
}

fn so_rcvlowat_yields_to_the_end_of_the_stream() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    set_int(&s, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 100)?;
    send_all(&c, b"ab")?;
    drop(c);
    ensure_eq!(syscall_tests::poll_one(s.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut b = [0u8; 16];
    check!(recv(&s, &mut b, 0), syscall_tests::succeeds_with(2));
    Ok(())
}

fn tcp_user_timeout_round_trips_and_refuses_negatives() -> Outcome {
    let s = tcp(false)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT)?, 0);
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 30000)?;
    ensure_eq!(
        get_int(&s, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT)?,
        30000
    );
    set_int_fails(
        &s,
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        -1,
        Errno::EINVAL,
    )?;
    Ok(())
}

fn tcp_syncnt_round_trips_and_checks_its_range() -> Outcome {
    let s = tcp(true)?;
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_SYNCNT, 3)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_SYNCNT)?, 3);
    set_int_fails(&s, libc::IPPROTO_TCP, libc::TCP_SYNCNT, 0, Errno::EINVAL)?;
    set_int_fails(&s, libc::IPPROTO_TCP, libc::TCP_SYNCNT, 128, Errno::EINVAL)?;
    Ok(())
}

fn tcp_notsent_lowat_round_trips() -> Outcome {
    let s = tcp(false)?;
    ensure_eq!(get_int(&s, libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT)?, 0);
    set_int(&s, libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, 16384)?;
    ensure_eq!(
        get_int(&s, libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT)?,
        16384
    );
    Ok(())
}

fn tcp_defer_accept_reports_whole_retransmission_periods() -> Outcome {
    let (l, _) = listener(false, 4)?;
    ensure_eq!(get_int(&l, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT)?, 0);
    // 5 s is three SYN-ACK retransmissions (1 + 2 + 4 s).
    set_int(&l, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 5)?;
    ensure_eq!(get_int(&l, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT)?, 7);
    set_int(&l, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1)?;
    ensure_eq!(get_int(&l, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT)?, 1);
    set_int(&l, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 0)?;
    ensure_eq!(get_int(&l, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT)?, 0);
    Ok(())
}

fn so_bindtodevice_names_lo_and_refuses_unknown_devices() -> Outcome {
    let u = udp(false)?;
    ensure_eq!(
        get_bytes(&u, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, 16)?.len(),
        0
    );
    check!(
        setsockopt_raw(&u, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, b"lo"),
        syscall_tests::succeeds()
    );
    ensure_eq!(
        get_bytes(&u, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, 16)?,
        b"lo\0".to_vec()
    );
    let mut small = [0u8; 8];
    let mut len: u32 = 8;
    check!(
        syscall_tests::syscall!(
            libc::SYS_getsockopt,
            u.raw(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            small.as_mut_ptr(),
            &mut len as *mut u32
        ),
        fails_with(Errno::EINVAL)
    );
    check!(
        setsockopt_raw(&u, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, b"nosuchdev9\0"),
        fails_with(Errno::ENODEV)
    );
    check!(
        setsockopt_raw(&u, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, b""),
        syscall_tests::succeeds()
    );
    ensure_eq!(
        get_bytes(&u, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, 16)?.len(),
        0
    );
    Ok(())
}

fn int_options_with_a_short_length_are_einval() -> Outcome {
    let t = tcp(false)?;
    for (level, name) in [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        (libc::SOL_SOCKET, libc::SO_BROADCAST),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    ] {
        check!(
            setsockopt_raw(&t, level, name, &[1u8, 0]),
            fails_with(Errno::EINVAL)
        );
    }
    Ok(())
}

fn int_options_are_truncated_to_a_short_buffer() -> Outcome {
    let u = udp(false)?;
    set_int(&u, libc::SOL_SOCKET, libc::SO_RCVBUF, 10000)?;
    let b = get_bytes(&u, libc::SOL_SOCKET, libc::SO_RCVBUF, 2)?;
    ensure_eq!(b.len(), 2);
    Ok(())
}

fn unknown_options_are_enoprotoopt() -> Outcome {
    let t = tcp(false)?;
    set_int_fails(&t, libc::SOL_SOCKET, 9999, 1, Errno::ENOPROTOOPT)?;
    get_fails(&t, libc::SOL_SOCKET, 9999, Errno::ENOPROTOOPT)?;
    set_int_fails(&t, libc::IPPROTO_TCP, 9999, 1, Errno::ENOPROTOOPT)?;
    get_fails(&t, libc::IPPROTO_TCP, 9999, Errno::ENOPROTOOPT)?;
    Ok(())
}

fn getsockopt_at_a_foreign_level_is_eopnotsupp_on_ipv4_and_enoprotoopt_on_ipv6() -> Outcome {
    let t4 = tcp(false)?;
    get_fails(&t4, 999, 1, Errno::EOPNOTSUPP)?;
    get_fails(
        &t4,
        libc::IPPROTO_IPV6,
        libc::IPV6_TCLASS,
        Errno::EOPNOTSUPP,
    )?;
    get_fails(&t4, libc::IPPROTO_UDP, 1, Errno::EOPNOTSUPP)?;
    let u4 = udp(false)?;
    get_fails(&u4, libc::IPPROTO_TCP, libc::TCP_INFO, Errno::EOPNOTSUPP)?;
    let t6 = tcp(true)?;
    get_fails(&t6, 999, 1, Errno::ENOPROTOOPT)?;
    let u6 = udp(true)?;
    get_fails(&u6, libc::IPPROTO_TCP, libc::TCP_INFO, Errno::ENOPROTOOPT)?;
    Ok(())
}

fn setsockopt_at_an_unknown_level_is_enoprotoopt() -> Outcome {
    for v6 in [false, true] {
        let t = tcp(v6)?;
        set_int_fails(&t, 999, 1, 1, Errno::ENOPROTOOPT)?;
        let u = udp(v6)?;
        set_int_fails(&u, 999, 1, 1, Errno::ENOPROTOOPT)?;
    }
    Ok(())
}

fn udp_cork_round_trips_on_udp() -> Outcome {
    let u = udp(false)?;
    ensure_eq!(get_int(&u, libc::IPPROTO_UDP, libc::UDP_CORK)?, 0);
    set_int(&u, libc::IPPROTO_UDP, libc::UDP_CORK, 1)?;
    ensure_eq!(get_int(&u, libc::IPPROTO_UDP, libc::UDP_CORK)?, 1);
    set_int(&u, libc::IPPROTO_UDP, libc::UDP_CORK, 0)?;
    Ok(())
}

fn so_sndbuf_of_udp_reports_the_doubled_value() -> Outcome {
    let u = udp(false)?;
    set_int(&u, libc::SOL_SOCKET, libc::SO_SNDBUF, 16384)?;
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_SNDBUF)?, 32768);
    Ok(())
}

fn main() -> std::process::ExitCode {
    run_tests(tests![
        so_rcvtimeo_defaults_to_zero,
        so_rcvtimeo_round_trips_a_timeval,
        so_sndtimeo_round_trips_a_timeval,
        so_rcvtimeo_with_a_short_length_is_einval,
        so_sndtimeo_with_microseconds_out_of_range_is_edom,
        tcp_recv_with_so_rcvtimeo_times_out_with_eagain,
        udp_recv_with_so_rcvtimeo_times_out_with_eagain,
        accept_with_so_rcvtimeo_times_out_with_eagain,
        read_with_so_rcvtimeo_times_out_with_eagain,
        data_arriving_before_the_timeout_is_returned,
        send_with_so_sndtimeo_on_a_full_buffer_times_out,
        connect_with_so_sndtimeo_to_a_full_accept_queue_is_einprogress,
        accepted_socket_inherits_the_listeners_rcvtimeo,
        so_linger_defaults_to_off,
        so_linger_round_trips,
        so_linger_with_a_short_length_is_einval,
        close_with_zero_linger_resets_the_peer,
        close_with_linger_off_is_an_orderly_eof,
        so_reuseport_defaults_off_and_round_trips,
        two_tcp_sockets_with_so_reuseport_bind_one_port,
        so_reuseport_on_only_one_socket_is_eaddrinuse,
        two_reuseport_listeners_share_a_port_and_accept,
        two_reuseport_udp_sockets_share_a_port_and_one_receives,
        so_keepalive_round_trips_on_tcp,
        so_keepalive_is_stored_on_udp,
        tcp_keepidle_round_trips,
        tcp_keepidle_out_of_range_is_einval,
        tcp_keepintvl_round_trips_and_checks_its_range,
        tcp_keepcnt_round_trips_and_checks_its_range,
        keepalive_options_apply_to_a_connected_socket,
        tcp_level_options_on_udp_are_enoprotoopt_to_set,
        tcp_info_of_a_connection_is_established_with_timers_and_mss,
        tcp_info_of_a_new_socket_is_close,
        tcp_info_of_a_listener_is_listen,
        tcp_info_is_truncated_to_the_callers_length,
        tcp_info_after_the_peer_closes_is_close_wait,
        tcp_maxseg_of_an_unconnected_socket_is_536,
        tcp_maxseg_of_a_connection_fits_the_loopback_mtu,
        tcp_maxseg_set_checks_its_range,
        tcp_cork_round_trips,
        tcp_quickack_is_accepted_and_reported,
        ip_ttl_defaults_to_64_and_round_trips,
        ip_ttl_out_of_range_is_einval_and_minus_one_resets,
        ip_ttl_works_on_an_ipv6_socket,
        ip_tos_round_trips_on_udp,
        ip_tos_on_tcp_keeps_the_ecn_bits_to_itself,
        ipv6_unicast_hops_defaults_to_64_and_round_trips,
        ipv6_unicast_hops_out_of_range_is_einval,
        ipv6_tclass_round_trips_and_checks_its_range,
        ipv6_options_on_an_ipv4_socket_are_refused,
        so_error_of_a_fresh_socket_is_zero,
        so_acceptconn_is_one_only_for_a_listener,
        so_acceptconn_cannot_be_set,
        so_broadcast_round_trips,
        so_oobinline_round_trips,
        so_priority_round_trips,
        so_rcvlowat_defaults_to_one_and_zero_means_one,
        so_rcvlowat_holds_back_readability_until_enough_bytes,
        so_rcvlowat_makes_a_blocking_recv_wait_for_enough_bytes,
        so_rcvlowat_does_not_hold_back_a_nonblocking_recv,
        so_rcvlowat_yields_to_the_end_of_the_stream,
        tcp_user_timeout_round_trips_and_refuses_negatives,
        tcp_syncnt_round_trips_and_checks_its_range,
        tcp_notsent_lowat_round_trips,
        tcp_defer_accept_reports_whole_retransmission_periods,
        so_bindtodevice_names_lo_and_refuses_unknown_devices,
        int_options_with_a_short_length_are_einval,
        int_options_are_truncated_to_a_short_buffer,
        unknown_options_are_enoprotoopt,
        so_sndbuf_of_udp_reports_the_doubled_value,
        getsockopt_at_a_foreign_level_is_eopnotsupp_on_ipv4_and_enoprotoopt_on_ipv6,
        setsockopt_at_an_unknown_level_is_enoprotoopt,
        udp_cork_round_trips_on_udp,
    ])
}
