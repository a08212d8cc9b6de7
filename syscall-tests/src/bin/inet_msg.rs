//! Messages on AF_INET/AF_INET6 sockets (send(2), recv(2), udp(7), tcp(7)): sendmmsg and
//! recvmmsg batches, MSG_PEEK, MSG_WAITALL, MSG_TRUNC on datagrams and streams, MSG_DONTWAIT,
//! EPIPE/SIGPIPE and MSG_NOSIGNAL, resets, FIONREAD/SIOCOUTQ, scatter/gather, sender
//! addresses, datagram limits and ICMP port-unreachable errors on connected UDP sockets.
#![deny(unsafe_code)]

#[path = "inet_common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use syscall_tests::task::{block, fork_and_check, pending, sig_bit};
use syscall_tests::{
    Errno, Fd, Outcome, check, ensure, ensure_eq, fails_with, libc, poll_one, run_tests, succeeds,
    succeeds_with, syscall, tests, zeroed,
};

const SIOCOUTQ: u64 = 0x5411;
const SIOCINQ: u64 = 0x541b;

fn iov(b: &mut [u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_mut_ptr().cast(),
        iov_len: b.len(),
    }
}

/// A `msghdr` over `iovs`, with a name buffer when `name` is given.
fn msghdr(iovs: &mut [libc::iovec], name: Option<&mut [u8]>) -> libc::msghdr {
    let mut h = zeroed::<libc::mmsghdr>().msg_hdr;
    h.msg_iov = iovs.as_mut_ptr();
    h.msg_iovlen = iovs.len();
    if let Some(n) = name {
        h.msg_name = n.as_mut_ptr().cast();
        h.msg_namelen = n.len() as u32;
    }
    h
}

fn recvmsg(fd: &Fd, h: &mut libc::msghdr, flags: i32) -> i64 {
    syscall!(libc::SYS_recvmsg, fd.raw(), h as *mut libc::msghdr, flags)
}

fn recvmmsg(fd: &Fd, v: &mut [libc::mmsghdr], flags: i32) -> i64 {
    syscall!(
        libc::SYS_recvmmsg,
        fd.raw(),
        v.as_mut_ptr(),
        v.len(),
        flags,
        0usize
    )
}

// ---------------------------------------------------------------- sendmmsg / recvmmsg

fn sendmmsg_sends_a_batch_of_datagrams() -> Outcome {
    let (a, b) = udp_pair(false)?;
    let mut bufs: Vec<Vec<u8>> = vec![b"one".to_vec(), b"three".to_vec(), b"fifteen".to_vec()];
    let mut iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| iov(b)).collect();
    let mut v: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|i| {
            let mut m = zeroed::<libc::mmsghdr>();
            m.msg_hdr.msg_iov = i as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    check!(
        syscall!(libc::SYS_sendmmsg, a.raw(), v.as_mut_ptr(), v.len(), 0),
        succeeds_with(3)
    );
    ensure_eq!(
        v.iter().map(|m| m.msg_len).collect::<Vec<_>>(),
        vec![3, 5, 7]
    );
    for want in [&b"one"[..], b"three", b"fifteen"] {
        let mut buf = [0u8; 32];
        let n = check!(recv(&b, &mut buf, 0), succeeds());
        ensure_eq!(&buf[..n as usize], want);
    }
    Ok(())
}

fn recvmmsg_receives_a_batch_with_each_length() -> Outcome {
    let (a, b) = udp_pair(true)?;
    for m in [&b"ab"[..], b"cde", b"fghi"] {
        check!(send(&a, m, 0), succeeds());
    }
    let mut bufs = [[0u8; 16]; 4];
    let mut iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| iov(b)).collect();
    let mut v: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|i| {
            let mut m = zeroed::<libc::mmsghdr>();
            m.msg_hdr.msg_iov = i as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    check!(recvmmsg(&b, &mut v, libc::MSG_DONTWAIT), succeeds_with(3));
    ensure_eq!(
        v[..3].iter().map(|m| m.msg_len).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    ensure_eq!(&bufs[2][..4], b"fghi");
    Ok(())
}

fn recvmmsg_with_waitforone_returns_what_is_queued() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"only", 0), succeeds());
    let mut bufs = [[0u8; 16]; 3];
    let mut iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| iov(b)).collect();
    let mut v: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|i| {
            let mut m = zeroed::<libc::mmsghdr>();
            m.msg_hdr.msg_iov = i as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    check!(recvmmsg(&b, &mut v, libc::MSG_WAITFORONE), succeeds_with(1));
    ensure_eq!(v[0].msg_len, 4);
    Ok(())
}

fn recvmmsg_reports_each_sender() -> Outcome {
    let rx = udp(false)?;
    bind(&rx, lo(false, 0))?;
    let to = local(&rx)?;
    let (t1, t2) = (udp(false)?, udp(false)?);
    bind(&t1, lo(false, 0))?;
    bind(&t2, lo(false, 0))?;
    check!(send_to(&t1, b"1", to, 0), succeeds());
    check!(send_to(&t2, b"2", to, 0), succeeds());
    let mut bufs = [[0u8; 8]; 2];
    let mut names = [[0u8; 16]; 2];
    let mut iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| iov(b)).collect();
    let mut v: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(names.iter_mut())
        .map(|(i, n)| {
            let mut m = zeroed::<libc::mmsghdr>();
            m.msg_hdr.msg_iov = i as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = n.as_mut_ptr().cast();
            m.msg_hdr.msg_namelen = 16;
            m
        })
        .collect();
    check!(recvmmsg(&rx, &mut v, libc::MSG_DONTWAIT), succeeds_with(2));
    ensure_eq!(v[0].msg_hdr.msg_namelen, 16);
    ensure_eq!(sa_parse(&names[0])?, local(&t1)?);
    ensure_eq!(sa_parse(&names[1])?, local(&t2)?);
    Ok(())
}

fn recvmmsg_on_an_empty_socket_with_dontwait_is_eagain() -> Outcome {
    let u = udp(false)?;
    bind(&u, lo(false, 0))?;
    let mut b = [0u8; 8];
    let mut i = [iov(&mut b)];
    let mut v = [zeroed::<libc::mmsghdr>()];
    v[0].msg_hdr.msg_iov = i.as_mut_ptr();
    v[0].msg_hdr.msg_iovlen = 1;
    check!(
        recvmmsg(&u, &mut v, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn recvmmsg_marks_a_truncated_datagram() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, &[9u8; 40], 0), succeeds());
    let mut small = [0u8; 10];
    let mut i = [iov(&mut small)];
    let mut v = [zeroed::<libc::mmsghdr>()];
    v[0].msg_hdr.msg_iov = i.as_mut_ptr();
    v[0].msg_hdr.msg_iovlen = 1;
    check!(recvmmsg(&b, &mut v, libc::MSG_DONTWAIT), succeeds_with(1));
    ensure_eq!(v[0].msg_len, 10);
    ensure!(
        v[0].msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        "msg_flags {:#x}",
        v[0].msg_hdr.msg_flags
    );
    Ok(())
}

fn sendmmsg_on_a_stream_sends_each_message_in_order() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    let mut bufs: Vec<Vec<u8>> = vec![b"abc".to_vec(), b"defg".to_vec()];
    let mut iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| iov(b)).collect();
    let mut v: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|i| {
            let mut m = zeroed::<libc::mmsghdr>();
            m.msg_hdr.msg_iov = i as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    check!(
        syscall!(libc::SYS_sendmmsg, c.raw(), v.as_mut_ptr(), v.len(), 0),
        succeeds_with(2)
    );
    ensure_eq!(recv_exact(&s, 7)?, b"abcdefg");
    Ok(())
}

// ---------------------------------------------------------------- flags

fn msg_peek_on_udp_leaves_the_datagram_queued() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"peekaboo", 0), succeeds());
    let mut buf = [0u8; 16];
    check!(recv(&b, &mut buf, libc::MSG_PEEK), succeeds_with(8));
    check!(recv(&b, &mut buf, 0), succeeds_with(8));
    ensure_eq!(&buf[..8], b"peekaboo");
    check!(
        recv(&b, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn msg_peek_on_tcp_leaves_the_bytes_queued() -> Outcome {
    let (c, s) = tcp_pair(true)?;
    send_all(&c, b"stream")?;
    let mut buf = [0u8; 16];
    ensure!(
        eventually(|| recv(&s, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT) == 6),
        "peek never saw 6 bytes"
    );
    ensure_eq!(recv_exact(&s, 6)?, b"stream");
    Ok(())
}

fn msg_peek_with_msg_trunc_reports_the_datagram_length() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, &[1u8; 30], 0), succeeds());
    let mut buf = [0u8; 4];
    check!(
        recv(&b, &mut buf, libc::MSG_PEEK | libc::MSG_TRUNC),
        succeeds_with(30)
    );
    let mut all = [0u8; 64];
    check!(recv(&b, &mut all, 0), succeeds_with(30));
    Ok(())
}

fn msg_waitall_waits_for_the_full_count() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    let t = std::thread::spawn(move || {
        let a = send(&c, b"hello ", 0);
        std::thread::sleep(Duration::from_millis(50));
        let b = send(&c, b"world", 0);
        (a, b, c)
    });
    let mut buf = [0u8; 11];
    check!(recv(&s, &mut buf, libc::MSG_WAITALL), succeeds_with(11));
    ensure_eq!(&buf, b"hello world");
    let (a, b, _c) = t.join().map_err(|_| "sender panicked")?;
    ensure_eq!((a, b), (6, 5));
    Ok(())
}

fn msg_waitall_returns_short_at_end_of_stream() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    send_all(&c, b"abc")?;
    drop(c);
    let mut buf = [0u8; 10];
    check!(recv(&s, &mut buf, libc::MSG_WAITALL), succeeds_with(3));
    Ok(())
}

fn msg_trunc_on_tcp_discards_the_bytes() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    send_all(&c, b"0123456789")?;
    ensure!(
        eventually(|| ioctl_int(&s, libc::FIONREAD).is_ok_and(|n| n == 10)),
        "data never arrived"
    );
    let mut buf = [0xffu8; 4];
    check!(recv(&s, &mut buf, libc::MSG_TRUNC), succeeds_with(4));
    ensure_eq!(buf, [0xff; 4], "MSG_TRUNC copied data");
    ensure_eq!(recv_exact(&s, 6)?, b"456789");
    Ok(())
}

fn recvmsg_sets_msg_trunc_for_a_cut_datagram() -> Outcome {
    let (a, b) = udp_pair(true)?;
    check!(send(&a, &[3u8; 20], 0), succeeds());
    let mut small = [0u8; 5];
    let mut i = [iov(&mut small)];
    let mut h = msghdr(&mut i, None);
    check!(recvmsg(&b, &mut h, 0), succeeds_with(5));
    ensure!(
        h.msg_flags & libc::MSG_TRUNC != 0,
        "flags {:#x}",
        h.msg_flags
    );
    Ok(())
}

fn recvmsg_with_msg_trunc_returns_the_full_datagram_length() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, &[3u8; 20], 0), succeeds());
    let mut small = [0u8; 5];
    let mut i = [iov(&mut small)];
    let mut h = msghdr(&mut i, None);
    check!(recvmsg(&b, &mut h, libc::MSG_TRUNC), succeeds_with(20));
    Ok(())
}

fn msg_dontwait_on_an_empty_stream_is_eagain() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    let mut buf = [0u8; 4];
    check!(
        recv(&c, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    ensure_eq!(
        fl(&c)? & i64::from(libc::O_NONBLOCK),
        0,
        "the file stays blocking"
    );
    Ok(())
}

fn msg_dontwait_on_an_empty_datagram_socket_is_eagain() -> Outcome {
    let u = udp(true)?;
    bind(&u, lo(true, 0))?;
    let mut buf = [0u8; 4];
    check!(
        recv(&u, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn send_after_shut_wr_is_epipe_with_msg_nosignal() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(
        syscall!(libc::SYS_shutdown, c.raw(), libc::SHUT_WR),
        succeeds()
    );
    check!(send(&c, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
    Ok(())
}

fn send_after_shut_wr_raises_sigpipe() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGPIPE)?;
        let (c, _s) = tcp_pair(false)?;
        check!(
            syscall!(libc::SYS_shutdown, c.raw(), libc::SHUT_WR),
            succeeds()
        );
        check!(send(&c, b"x", 0), fails_with(Errno::EPIPE));
        ensure!(
            pending()? & sig_bit(libc::SIGPIPE) != 0,
            "SIGPIPE not pending"
        );
        Ok(())
    })
}

fn write_after_shut_wr_raises_sigpipe() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGPIPE)?;
        let (c, _s) = tcp_pair(true)?;
        check!(
            syscall!(libc::SYS_shutdown, c.raw(), libc::SHUT_WR),
            succeeds()
        );
        check!(
            syscall!(libc::SYS_write, c.raw(), b"x".as_ptr(), 1),
            fails_with(Errno::EPIPE)
        );
        ensure!(
            pending()? & sig_bit(libc::SIGPIPE) != 0,
            "SIGPIPE not pending"
        );
        Ok(())
    })
}

fn msg_nosignal_suppresses_sigpipe() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGPIPE)?;
        let (c, _s) = tcp_pair(false)?;
        check!(
            syscall!(libc::SYS_shutdown, c.raw(), libc::SHUT_WR),
            succeeds()
        );
        check!(send(&c, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
        ensure_eq!(pending()? & sig_bit(libc::SIGPIPE), 0, "SIGPIPE pending");
        Ok(())
    })
}

/// A pair whose server side was closed abortively (SO_LINGER 0): the client got a RST.
fn reset_pair() -> Result<Fd, String> {
    let (c, s) = tcp_pair(false)?;
    let mut l = 1i32.to_ne_bytes().to_vec();
    l.extend_from_slice(&0i32.to_ne_bytes());
    check!(
        setsockopt_raw(&s, libc::SOL_SOCKET, libc::SO_LINGER, &l),
        succeeds()
    );
    drop(s);
    ensure_eq!(poll_one(c.raw(), libc::POLLIN, 5000)?.0, 1, "no reset seen");
    Ok(c)
}

fn send_on_a_reset_connection_is_econnreset_then_epipe() -> Outcome {
    let c = reset_pair()?;
    check!(
        send(&c, b"x", libc::MSG_NOSIGNAL),
        fails_with(Errno::ECONNRESET)
    );
    check!(send(&c, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
    Ok(())
}

fn recv_on_a_reset_connection_is_econnreset_then_eof() -> Outcome {
    let c = reset_pair()?;
    let mut b = [0u8; 4];
    check!(recv(&c, &mut b, 0), fails_with(Errno::ECONNRESET));
    check!(recv(&c, &mut b, 0), succeeds_with(0));
    Ok(())
}

fn a_reset_connection_polls_err_and_hup() -> Outcome {
    let c = reset_pair()?;
    let (_, rev) = poll_one(c.raw(), libc::POLLIN | libc::POLLOUT, 0)?;
    ensure!(rev & libc::POLLERR != 0, "revents {rev:#x}");
    ensure!(rev & libc::POLLHUP != 0, "revents {rev:#x}");
    ensure_eq!(
        get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR)?,
        libc::ECONNRESET
    );
    ensure_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR)?, 0);
    Ok(())
}

// ---------------------------------------------------------------- ioctls

fn siocoutq_of_an_idle_connection_is_zero() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    ensure_eq!(ioctl_int(&c, SIOCOUTQ)?, 0);
    Ok(())
}

fn siocoutq_counts_bytes_the_peer_has_not_taken() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    let queued = fill(&c)?;
    let n = ioctl_int(&c, SIOCOUTQ)?;
    ensure!(n > 0 && n as usize <= queued, "SIOCOUTQ {n} of {queued}");
    Ok(())
}

fn fionread_on_udp_is_the_size_of_the_next_datagram() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"five!", 0), succeeds());
    check!(send(&a, b"nine bytes", 0), succeeds());
    ensure!(
        eventually(|| ioctl_int(&b, libc::FIONREAD).is_ok_and(|n| n == 5)),
        "FIONREAD {:?}",
        ioctl_int(&b, libc::FIONREAD)
    );
    Ok(())
}

fn fionread_on_an_empty_udp_socket_is_zero() -> Outcome {
    let u = udp(false)?;
    bind(&u, lo(false, 0))?;
    ensure_eq!(ioctl_int(&u, libc::FIONREAD)?, 0);
    Ok(())
}

fn siocinq_on_tcp_counts_every_queued_byte() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    send_all(&c, b"abc")?;
    send_all(&c, b"defg")?;
    ensure!(
        eventually(|| ioctl_int(&s, SIOCINQ).is_ok_and(|n| n == 7)),
        "SIOCINQ {:?}",
        ioctl_int(&s, SIOCINQ)
    );
    Ok(())
}

// ---------------------------------------------------------------- addresses and iovecs

fn recvmsg_reports_the_ipv6_sender() -> Outcome {
    let (a, b) = udp_pair(true)?;
    check!(send(&a, b"v6", 0), succeeds());
    let mut buf = [0u8; 8];
    let mut name = [0u8; 28];
    let mut i = [iov(&mut buf)];
    let mut h = msghdr(&mut i, Some(&mut name));
    check!(recvmsg(&b, &mut h, 0), succeeds_with(2));
    ensure_eq!(h.msg_namelen, 28);
    ensure_eq!(sa_parse(&name)?, local(&a)?);
    Ok(())
}

fn recvfrom_with_a_short_address_buffer_reports_the_full_length() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"x", 0), succeeds());
    let mut buf = [0u8; 4];
    let mut name = [0u8; 4];
    let mut len: u32 = 4;
    check!(
        syscall!(
            libc::SYS_recvfrom,
            b.raw(),
            buf.as_mut_ptr(),
            4,
            0,
            name.as_mut_ptr(),
            &mut len as *mut u32
        ),
        succeeds_with(1)
    );
    ensure_eq!(len, 16);
    ensure_eq!(u16::from_ne_bytes([name[0], name[1]]), libc::AF_INET as u16);
    Ok(())
}

fn sendto_with_an_address_on_a_connected_udp_socket_goes_there() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    let other = udp(false)?;
    bind(&other, lo(false, 0))?;
    check!(
        send_to(&a, b"elsewhere", local(&other)?, 0),
        succeeds_with(9)
    );
    let mut buf = [0u8; 16];
    ensure_eq!(poll_one(other.raw(), libc::POLLIN, 5000)?.0, 1);
    check!(recv(&other, &mut buf, 0), succeeds_with(9));
    Ok(())
}

fn send_on_an_unconnected_udp_socket_is_edestaddrreq() -> Outcome {
    let u = udp(false)?;
    check!(send(&u, b"x", 0), fails_with(Errno::EDESTADDRREQ));
    Ok(())
}

fn a_zero_length_datagram_is_a_datagram() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"", 0), succeeds_with(0));
    ensure_eq!(poll_one(b.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 4];
    check!(recv(&b, &mut buf, 0), succeeds_with(0));
    check!(
        recv(&b, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn an_oversized_ipv4_datagram_is_emsgsize() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    let big = vec![0u8; 65508];
    check!(send(&a, &big, 0), fails_with(Errno::EMSGSIZE));
    Ok(())
}

fn a_zero_length_read_consumes_a_datagram() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"gone", 0), succeeds());
    ensure_eq!(poll_one(b.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 0];
    check!(recv(&b, &mut buf, 0), succeeds_with(0));
    let mut more = [0u8; 8];
    check!(
        recv(&b, &mut more, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn sendmsg_gathers_iovecs_on_a_stream() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    let (mut x, mut y) = (b"gath".to_vec(), b"ered".to_vec());
    let mut i = [iov(&mut x), iov(&mut y)];
    let h = msghdr(&mut i, None);
    check!(
        syscall!(libc::SYS_sendmsg, c.raw(), &h as *const libc::msghdr, 0),
        succeeds_with(8)
    );
    ensure_eq!(recv_exact(&s, 8)?, b"gathered");
    Ok(())
}

fn recvmsg_scatters_a_datagram_over_iovecs() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"scattered", 0), succeeds());
    let (mut x, mut y) = ([0u8; 4], [0u8; 8]);
    let mut i = [iov(&mut x), iov(&mut y)];
    let mut h = msghdr(&mut i, None);
    check!(recvmsg(&b, &mut h, 0), succeeds_with(9));
    ensure_eq!(&x, b"scat");
    ensure_eq!(&y[..5], b"tered");
    Ok(())
}

fn read_and_write_work_on_a_tcp_socket() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    check!(
        syscall!(libc::SYS_write, c.raw(), b"rw".as_ptr(), 2),
        succeeds_with(2)
    );
    let mut buf = [0u8; 2];
    check!(
        syscall!(libc::SYS_read, s.raw(), buf.as_mut_ptr(), 2),
        succeeds_with(2)
    );
    ensure_eq!(&buf, b"rw");
    Ok(())
}

fn a_zero_byte_send_on_a_stream_returns_zero() -> Outcome {
    let (c, _s) = tcp_pair(false)?;
    check!(send(&c, b"", 0), succeeds_with(0));
    Ok(())
}

fn msg_errqueue_on_an_empty_error_queue_is_eagain() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"data", 0), succeeds());
    ensure_eq!(poll_one(b.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 8];
    let mut i = [iov(&mut buf)];
    let mut h = msghdr(&mut i, None);
    check!(
        recvmsg(&b, &mut h, libc::MSG_ERRQUEUE),
        fails_with(Errno::EAGAIN)
    );
    let (c, _s) = tcp_pair(true)?;
    let mut h = msghdr(&mut i, None);
    check!(
        recvmsg(&c, &mut h, libc::MSG_ERRQUEUE),
        fails_with(Errno::EAGAIN)
    );
    // The datagram is still there.
    check!(recv(&b, &mut buf, 0), succeeds_with(4));
    Ok(())
}

fn msg_oob_is_ignored_by_a_datagram_receive() -> Outcome {
    let (a, b) = udp_pair(false)?;
    check!(send(&a, b"oob?", 0), succeeds());
    ensure_eq!(poll_one(b.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 8];
    check!(recv(&b, &mut buf, libc::MSG_OOB), succeeds_with(4));
    Ok(())
}

fn msg_oob_on_a_datagram_send_is_eopnotsupp() -> Outcome {
    let (a, _b) = udp_pair(false)?;
    check!(send(&a, b"x", libc::MSG_OOB), fails_with(Errno::EOPNOTSUPP));
    Ok(())
}

fn msg_oob_without_urgent_data_on_a_stream_is_einval() -> Outcome {
    let (c, s) = tcp_pair(false)?;
    send_all(&c, b"normal")?;
    let mut buf = [0u8; 8];
    check!(recv(&s, &mut buf, libc::MSG_OOB), fails_with(Errno::EINVAL));
    Ok(())
}

// ---------------------------------------------------------------- ICMP errors

fn connected_udp_to_a_closed_port_gets_econnrefused() -> Outcome {
    let gone = udp(false)?;
    bind(&gone, lo(false, 0))?;
    let dead = local(&gone)?;
    drop(gone);
    let u = udp(false)?;
    connect(&u, dead)?;
    check!(send(&u, b"anyone?", 0), succeeds_with(7));
    ensure_eq!(poll_one(u.raw(), libc::POLLIN, 5000)?.0, 1);
    let mut buf = [0u8; 8];
    check!(recv(&u, &mut buf, 0), fails_with(Errno::ECONNREFUSED));
    check!(
        recv(&u, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn a_port_unreachable_is_reported_by_so_error_once() -> Outcome {
    let gone = udp(true)?;
    bind(&gone, lo(true, 0))?;
    let dead = local(&gone)?;
    drop(gone);
    let u = udp(true)?;
    connect(&u, dead)?;
    check!(send(&u, b"x", 0), succeeds());
    let (_, rev) = poll_one(u.raw(), libc::POLLIN, 5000)?;
    ensure!(rev & libc::POLLERR != 0, "revents {rev:#x}");
    ensure_eq!(
        get_int(&u, libc::SOL_SOCKET, libc::SO_ERROR)?,
        libc::ECONNREFUSED
    );
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_ERROR)?, 0);
    Ok(())
}

fn unconnected_udp_ignores_port_unreachables() -> Outcome {
    let gone = udp(false)?;
    bind(&gone, lo(false, 0))?;
    let dead = local(&gone)?;
    drop(gone);
    let u = udp(false)?;
    check!(send_to(&u, b"x", dead, 0), succeeds());
    std::thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 8];
    check!(
        recv(&u, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    ensure_eq!(get_int(&u, libc::SOL_SOCKET, libc::SO_ERROR)?, 0);
    Ok(())
}

fn main() -> std::process::ExitCode {
    run_tests(tests![
        sendmmsg_sends_a_batch_of_datagrams,
        recvmmsg_receives_a_batch_with_each_length,
        recvmmsg_with_waitforone_returns_what_is_queued,
        recvmmsg_reports_each_sender,
        recvmmsg_on_an_empty_socket_with_dontwait_is_eagain,
        recvmmsg_marks_a_truncated_datagram,
        sendmmsg_on_a_stream_sends_each_message_in_order,
        msg_peek_on_udp_leaves_the_datagram_queued,
        msg_peek_on_tcp_leaves_the_bytes_queued,
        msg_peek_with_msg_trunc_reports_the_datagram_length,
        msg_waitall_waits_for_the_full_count,
        msg_waitall_returns_short_at_end_of_stream,
        msg_trunc_on_tcp_discards_the_bytes,
        recvmsg_sets_msg_trunc_for_a_cut_datagram,
        recvmsg_with_msg_trunc_returns_the_full_datagram_length,
        msg_dontwait_on_an_empty_stream_is_eagain,
        msg_dontwait_on_an_empty_datagram_socket_is_eagain,
        send_after_shut_wr_is_epipe_with_msg_nosignal,
        send_after_shut_wr_raises_sigpipe,
        write_after_shut_wr_raises_sigpipe,
        msg_nosignal_suppresses_sigpipe,
        send_on_a_reset_connection_is_econnreset_then_epipe,
        recv_on_a_reset_connection_is_econnreset_then_eof,
        a_reset_connection_polls_err_and_hup,
        siocoutq_of_an_idle_connection_is_zero,
        siocoutq_counts_bytes_the_peer_has_not_taken,
        fionread_on_udp_is_the_size_of_the_next_datagram,
        fionread_on_an_empty_udp_socket_is_zero,
        siocinq_on_tcp_counts_every_queued_byte,
        recvmsg_reports_the_ipv6_sender,
        recvfrom_with_a_short_address_buffer_reports_the_full_length,
        sendto_with_an_address_on_a_connected_udp_socket_goes_there,
        send_on_an_unconnected_udp_socket_is_edestaddrreq,
        a_zero_length_datagram_is_a_datagram,
        an_oversized_ipv4_datagram_is_emsgsize,
        a_zero_length_read_consumes_a_datagram,
        sendmsg_gathers_iovecs_on_a_stream,
        recvmsg_scatters_a_datagram_over_iovecs,
        read_and_write_work_on_a_tcp_socket,
        a_zero_byte_send_on_a_stream_returns_zero,
        msg_errqueue_on_an_empty_error_queue_is_eagain,
        msg_oob_is_ignored_by_a_datagram_receive,
        msg_oob_on_a_datagram_send_is_eopnotsupp,
        msg_oob_without_urgent_data_on_a_stream_is_einval,
        connected_udp_to_a_closed_port_gets_econnrefused,
        a_port_unreachable_is_reported_by_so_error_once,
        unconnected_udp_ignores_port_unreachables,
    ])
}
