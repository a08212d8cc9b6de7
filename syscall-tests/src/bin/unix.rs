//! Unix domain sockets (unix(7), socket(7)): socketpair of the three types, message
//! boundaries and truncation, EOF/EPIPE/SIGPIPE and shutdown, bind/listen/connect/accept over
//! abstract names and paths, address reporting, socket options, poll readiness, and
//! SCM_RIGHTS/SCM_CREDENTIALS ancillary data.
//!
//! Tests that block, raise SIGPIPE or fork run in a forked child ([`fork_and_check`]).
#![deny(unsafe_code)]

use std::ffi::CStr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use syscall_tests::libc;
use syscall_tests::sys::signal_count;
use syscall_tests::task::{Child, fork_and_check, getpid, install_recorder, pipe, sleep_ms};
use syscall_tests::{
    Errno, Fd, LOW_ADDR, Outcome, check, ensure, ensure_eq, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests, unique_tmp_path,
};

// ---------------------------------------------------------------- helpers

fn socketpair(ty: i32) -> Result<(Fd, Fd), String> {
    let mut sv = [-1i32; 2];
    check!(
        syscall!(libc::SYS_socketpair, libc::AF_UNIX, ty, 0, sv.as_mut_ptr()),
        succeeds_with(0)
    );
    Ok((
        Fd::from_ret(i64::from(sv[0]))?,
        Fd::from_ret(i64::from(sv[1]))?,
    ))
}

fn socket(ty: i32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_socket, libc::AF_UNIX, ty, 0),
        succeeds()
    ))
}

/// A `sockaddr_un` for an abstract name (NUL + name; the length counts exactly those bytes).
fn abstract_addr(name: &str) -> Vec<u8> {
    let mut v = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    v.push(0);
    v.extend_from_slice(name.as_bytes());
    v
}

/// A `sockaddr_un` for a path, NUL-terminated.
fn path_addr(path: &CStr) -> Vec<u8> {
    let mut v = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    v.extend_from_slice(path.to_bytes_with_nul());
    v
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh abstract name, unique across processes.
fn unique_abstract() -> Vec<u8> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    abstract_addr(&format!("rvisor-st-unix-{}-{n}", std::process::id()))
}

fn bind(fd: &Fd, addr: &[u8]) -> i64 {
    syscall!(libc::SYS_bind, fd.raw(), addr.as_ptr(), addr.len())
}

fn connect(fd: &Fd, addr: &[u8]) -> i64 {
    syscall!(libc::SYS_connect, fd.raw(), addr.as_ptr(), addr.len())
}

fn send(fd: &Fd, data: &[u8], flags: i32) -> i64 {
    syscall!(
        libc::SYS_sendto,
        fd.raw(),
        data.as_ptr(),
        data.len(),
        flags,
        0,
        0
    )
}

fn recv(fd: &Fd, buf: &mut [u8], flags: i32) -> i64 {
    syscall!(
        libc::SYS_recvfrom,
        fd.raw(),
        buf.as_mut_ptr(),
        buf.len(),
        flags,
        0,
        0
    )
}

fn write(fd: &Fd, data: &[u8]) -> i64 {
    syscall!(libc::SYS_write, fd.raw(), data.as_ptr(), data.len())
}

fn read(fd: &Fd, buf: &mut [u8]) -> i64 {
    syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len())
}

/// A stream listener on a fresh abstract name, with its address.
fn listener(ty: i32, backlog: i32) -> Result<(Fd, Vec<u8>), String> {
    let l = socket(ty)?;
    let addr = unique_abstract();
    check!(bind(&l, &addr), succeeds_with(0));
    check!(
        syscall!(libc::SYS_listen, l.raw(), backlog),
        succeeds_with(0)
    );
    Ok((l, addr))
}

/// A connected (client, server) pair through a listener.
fn connected(ty: i32) -> Result<(Fd, Fd), String> {
    let (l, addr) = listener(ty, 5)?;
    let c = socket(ty)?;
    check!(connect(&c, &addr), succeeds_with(0));
    let s = Fd::from_ret(check!(
        syscall!(libc::SYS_accept4, l.raw(), 0, 0, 0),
        succeeds()
    ))?;
    Ok((c, s))
}

/// getsockname/getpeername into a 128-byte buffer: (bytes, reported length).
fn sockname(nr: i64, fd: &Fd) -> Result<(Vec<u8>, usize), String> {
    let mut buf = [0u8; 128];
    let mut len: u32 = 128;
    check!(
        syscall!(nr, fd.raw(), buf.as_mut_ptr(), &raw mut len),
        succeeds_with(0)
    );
    let n = usize::try_from(len).unwrap_or(0);
    Ok((buf.get(..n.min(128)).unwrap_or_default().to_vec(), n))
}

fn getsockopt_int(fd: &Fd, opt: i32) -> Result<i32, String> {
    let mut v = -1i32;
    let mut len: u32 = 4;
    check!(
        syscall!(
            libc::SYS_getsockopt,
            fd.raw(),
            libc::SOL_SOCKET,
            opt,
            &raw mut v,
            &raw mut len
        ),
        succeeds_with(0)
    );
    ensure_eq!(len, 4);
    Ok(v)
}

fn poll1(fd: &Fd, events: i16) -> Result<i16, String> {
    let mut p = libc::pollfd {
        fd: fd.raw(),
        events,
        revents: 0,
    };
    check!(syscall!(libc::SYS_poll, &raw mut p, 1, 0), succeeds());
    Ok(p.revents)
}

const CMSG_HDR: usize = 16;

/// sendmsg with `data` in one iovec and the fds as SCM_RIGHTS.
fn send_fds(fd: &Fd, data: &[u8], fds: &[i32]) -> i64 {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut control = vec![0u8; CMSG_HDR + fds.len() * 4 + 8];
    let clen = CMSG_HDR + fds.len() * 4;
    control[..8].copy_from_slice(&(clen as u64).to_ne_bytes());
    control[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
    control[12..16].copy_from_slice(&libc::SCM_RIGHTS.to_ne_bytes());
    for (i, f) in fds.iter().enumerate() {
        control[CMSG_HDR + i * 4..CMSG_HDR + i * 4 + 4].copy_from_slice(&f.to_ne_bytes());
    }
    let msg = libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: &raw mut iov,
        msg_iovlen: 1,
        msg_control: control.as_mut_ptr().cast(),
        msg_controllen: (clen + 7) & !7,
        msg_flags: 0,
    };
    syscall!(libc::SYS_sendmsg, fd.raw(), &raw const msg, 0)
}

/// What one recvmsg returned.
#[derive(Debug)]
struct Got {
    ret: i64,
    data: Vec<u8>,
    flags: i32,
    controllen: usize,
    /// (level, type, payload) of each control message.
    cmsgs: Vec<(i32, i32, Vec<u8>)>,
}

impl Got {
    fn fds(&self) -> Vec<i32> {
        self.cmsgs
            .iter()
            .filter(|(l, t, _)| *l == libc::SOL_SOCKET && *t == libc::SCM_RIGHTS)
            .flat_map(|(_, _, d)| {
                d.chunks_exact(4)
                    .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn recv_msg(fd: &Fd, len: usize, control_len: usize, flags: i32) -> Result<Got, String> {
    let mut data = vec![0u8; len];
    let mut control = vec![0u8; control_len];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut msg = libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: &raw mut iov,
        msg_iovlen: 1,
        msg_control: if control_len == 0 {
            std::ptr::null_mut()
        } else {
            control.as_mut_ptr().cast()
        },
        msg_controllen: control_len,
        msg_flags: 0,
    };
    let ret = check!(
        syscall!(libc::SYS_recvmsg, fd.raw(), &raw mut msg, flags),
        succeeds()
    );
    data.truncate(usize::try_from(ret).unwrap_or(0).min(len));
    let mut cmsgs = Vec::new();
    let mut off = 0usize;
    while off + CMSG_HDR <= msg.msg_controllen {
        let l = u64::from_ne_bytes(control[off..off + 8].try_into().unwrap_or_default());
        let l = usize::try_from(l).unwrap_or(0);
        if l < CMSG_HDR || off + l > control.len() {
            break;
        }
        let level = i32::from_ne_bytes(control[off + 8..off + 12].try_into().unwrap_or_default());
        let ty = i32::from_ne_bytes(control[off + 12..off + 16].try_into().unwrap_or_default());
        cmsgs.push((level, ty, control[off + CMSG_HDR..off + l].to_vec()));
        off += (l + 7) & !7;
    }
    Ok(Got {
        ret,
        data,
        flags: msg.msg_flags,
        controllen: msg.msg_controllen,
        cmsgs,
    })
}

fn getfd(fd: i32) -> i64 {
    syscall!(libc::SYS_fcntl, fd, libc::F_GETFD)
}

// ---------------------------------------------------------------- socket / socketpair

fn socketpair_stream_round_trips_bytes() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"hello"), succeeds_with(5));
    let mut buf = [0u8; 16];
    check!(read(&b, &mut buf), succeeds_with(5));
    ensure_eq!(&buf[..5], b"hello");
    check!(write(&b, b"back"), succeeds_with(4));
    check!(read(&a, &mut buf), succeeds_with(4));
    ensure_eq!(&buf[..4], b"back");
    Ok(())
}

fn socketpair_stream_merges_writes() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"ab"), succeeds_with(2));
    check!(write(&a, b"cd"), succeeds_with(2));
    let mut buf = [0u8; 16];
    check!(read(&b, &mut buf), succeeds_with(4));
    ensure_eq!(&buf[..4], b"abcd");
    Ok(())
}

fn socketpair_sock_nonblock_sets_o_nonblock() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    for fd in [&a, &b] {
        let fl = check!(
            syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFL),
            succeeds()
        );
        ensure_eq!(
            fl & i64::from(libc::O_NONBLOCK),
            i64::from(libc::O_NONBLOCK)
        );
    }
    Ok(())
}

fn socketpair_sock_cloexec_sets_fd_cloexec() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM | libc::SOCK_CLOEXEC)?;
    ensure_eq!(getfd(a.raw()), i64::from(libc::FD_CLOEXEC));
    ensure_eq!(getfd(b.raw()), i64::from(libc::FD_CLOEXEC));
    Ok(())
}

fn socketpair_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(
            libc::SYS_socketpair,
            libc::AF_UNIX,
            libc::SOCK_STREAM,
            0,
            LOW_ADDR
        ),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// unix(7) knows SOCK_STREAM, SOCK_DGRAM and SOCK_SEQPACKET; SOCK_RDM is not supported.
fn socket_unix_sock_rdm_fails_esocktnosupport() -> Outcome {
    check!(
        syscall!(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_RDM, 0),
        fails_with(Errno::ESOCKTNOSUPPORT)
    );
    Ok(())
}

fn socket_unix_bad_protocol_fails_eprotonosupport() -> Outcome {
    check!(
        syscall!(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 7),
        fails_with(Errno::EPROTONOSUPPORT)
    );
    Ok(())
}

fn socket_unknown_type_flag_fails_einval() -> Outcome {
    check!(
        syscall!(
            libc::SYS_socket,
            libc::AF_UNIX,
            libc::SOCK_STREAM | 0x100,
            0
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// socket(2): "EAFNOSUPPORT The implementation does not support the specified address family."
fn socket_unknown_family_fails_eafnosupport() -> Outcome {
    check!(
        syscall!(libc::SYS_socket, 200, libc::SOCK_STREAM, 0),
        fails_with(Errno::EAFNOSUPPORT)
    );
    Ok(())
}

/// socket(AF_INET, SOCK_STREAM) works (the sandbox's own TCP/IP stack).
fn socket_af_inet_stream_succeeds() -> Outcome {
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0),
        succeeds()
    ))?;
    drop(fd);
    Ok(())
}

fn fstat_of_socket_is_s_ifsock() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    let mut st: libc::stat = syscall_tests::zeroed();
    check!(
        syscall!(libc::SYS_fstat, a.raw(), &raw mut st),
        succeeds_with(0)
    );
    ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFSOCK);
    Ok(())
}

fn lseek_on_socket_fails_espipe() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    check!(
        syscall!(libc::SYS_lseek, a.raw(), 0, libc::SEEK_SET),
        fails_with(Errno::ESPIPE)
    );
    Ok(())
}

fn bind_on_pipe_fails_enotsock() -> Outcome {
    let (r, _w) = pipe()?;
    let addr = unique_abstract();
    check!(bind(&r, &addr), fails_with(Errno::ENOTSOCK));
    Ok(())
}

fn fionread_reports_queued_bytes() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"12345"), succeeds_with(5));
    let mut n = -1i32;
    check!(
        syscall!(libc::SYS_ioctl, b.raw(), libc::FIONREAD, &raw mut n),
        succeeds_with(0)
    );
    ensure_eq!(n, 5);
    Ok(())
}

// ---------------------------------------------------------------- EOF, EPIPE, shutdown

fn stream_read_after_peer_close_returns_eof() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"x"), succeeds_with(1));
    drop(a);
    let mut buf = [0u8; 4];
    check!(read(&b, &mut buf), succeeds_with(1));
    check!(read(&b, &mut buf), succeeds_with(0));
    Ok(())
}

fn stream_write_after_peer_close_fails_epipe_and_raises_sigpipe() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGPIPE, 0, 0)?;
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        drop(b);
        check!(write(&a, b"x"), fails_with(Errno::EPIPE));
        ensure_eq!(signal_count(libc::SIGPIPE), 1);
        Ok(())
    })
}

fn stream_send_msg_nosignal_after_peer_close_fails_epipe_without_sigpipe() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGPIPE, 0, 0)?;
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        drop(b);
        check!(send(&a, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
        ensure_eq!(signal_count(libc::SIGPIPE), 0);
        Ok(())
    })
}

fn shutdown_wr_gives_peer_eof() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"last"), succeeds_with(4));
    check!(
        syscall!(libc::SYS_shutdown, a.raw(), libc::SHUT_WR),
        succeeds_with(0)
    );
    let mut buf = [0u8; 8];
    check!(read(&b, &mut buf), succeeds_with(4));
    check!(read(&b, &mut buf), succeeds_with(0));
    // The other direction still works.
    check!(write(&b, b"ok"), succeeds_with(2));
    check!(read(&a, &mut buf), succeeds_with(2));
    Ok(())
}

fn shutdown_wr_then_send_fails_epipe() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    check!(
        syscall!(libc::SYS_shutdown, a.raw(), libc::SHUT_WR),
        succeeds_with(0)
    );
    check!(send(&a, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
    Ok(())
}

/// A peer's SHUT_RD is this side's "send shutdown" on a unix stream.
fn peer_shutdown_rd_makes_send_fail_epipe() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(
        syscall!(libc::SYS_shutdown, b.raw(), libc::SHUT_RD),
        succeeds_with(0)
    );
    check!(send(&a, b"x", libc::MSG_NOSIGNAL), fails_with(Errno::EPIPE));
    Ok(())
}

fn shutdown_bad_how_fails_einval() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    check!(
        syscall!(libc::SYS_shutdown, a.raw(), 7),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn shutdown_on_pipe_fails_enotsock() -> Outcome {
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_shutdown, r.raw(), libc::SHUT_RD),
        fails_with(Errno::ENOTSOCK)
    );
    Ok(())
}

fn send_on_unconnected_stream_fails_enotconn() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    check!(
        send(&s, b"x", libc::MSG_NOSIGNAL),
        fails_with(Errno::ENOTCONN)
    );
    Ok(())
}

fn recv_on_unconnected_stream_fails_einval() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let mut buf = [0u8; 4];
    check!(recv(&s, &mut buf, 0), fails_with(Errno::EINVAL));
    Ok(())
}

fn dgram_send_after_peer_close_fails_econnrefused() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    drop(b);
    check!(send(&a, b"x", 0), fails_with(Errno::ECONNREFUSED));
    Ok(())
}

// ---------------------------------------------------------------- flags and boundaries

fn dgram_preserves_message_boundaries() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    check!(send(&a, b"one", 0), succeeds_with(3));
    check!(send(&a, b"three", 0), succeeds_with(5));
    let mut buf = [0u8; 16];
    check!(recv(&b, &mut buf, 0), succeeds_with(3));
    ensure_eq!(&buf[..3], b"one");
    check!(recv(&b, &mut buf, 0), succeeds_with(5));
    ensure_eq!(&buf[..5], b"three");
    Ok(())
}

/// recv(2): MSG_TRUNC "return the real length of the packet or datagram, even when it was
/// longer than the passed buffer"; the rest of the datagram is discarded.
fn dgram_short_buffer_truncates_and_msg_trunc_returns_full_length() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    check!(send(&a, b"abcdefgh", 0), succeeds_with(8));
    check!(send(&a, b"ijklmnop", 0), succeeds_with(8));
    let mut buf = [0u8; 3];
    check!(recv(&b, &mut buf, 0), succeeds_with(3));
    ensure_eq!(&buf, b"abc");
    check!(recv(&b, &mut buf, libc::MSG_TRUNC), succeeds_with(8));
    ensure_eq!(&buf, b"ijk");
    check!(
        recv(&b, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn recvmsg_truncated_datagram_sets_msg_trunc() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    check!(send(&a, b"abcdefgh", 0), succeeds_with(8));
    let got = recv_msg(&b, 4, 0, 0)?;
    ensure_eq!(got.ret, 4);
    ensure_eq!(got.flags & libc::MSG_TRUNC, libc::MSG_TRUNC);
    Ok(())
}

fn seqpacket_preserves_boundaries_and_truncates() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_SEQPACKET)?;
    check!(send(&a, b"first", 0), succeeds_with(5));
    check!(send(&a, b"second", 0), succeeds_with(6));
    let got = recv_msg(&b, 3, 0, 0)?;
    ensure_eq!(got.data, b"fir".to_vec());
    ensure_eq!(got.flags & libc::MSG_TRUNC, libc::MSG_TRUNC);
    let got = recv_msg(&b, 16, 0, 0)?;
    ensure_eq!(got.data, b"second".to_vec());
    ensure_eq!(got.flags & libc::MSG_TRUNC, 0);
    Ok(())
}

fn seqpacket_eof_after_peer_close() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_SEQPACKET)?;
    drop(a);
    let mut buf = [0u8; 4];
    check!(recv(&b, &mut buf, 0), succeeds_with(0));
    Ok(())
}

fn msg_peek_leaves_data_queued() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"peek"), succeeds_with(4));
    let mut buf = [0u8; 8];
    check!(recv(&b, &mut buf, libc::MSG_PEEK), succeeds_with(4));
    check!(recv(&b, &mut buf, 0), succeeds_with(4));
    ensure_eq!(&buf[..4], b"peek");
    Ok(())
}

fn nonblocking_recv_of_empty_socket_fails_eagain() -> Outcome {
    let (_a, b) = socketpair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    let mut buf = [0u8; 4];
    check!(read(&b, &mut buf), fails_with(Errno::EAGAIN));
    Ok(())
}

fn msg_dontwait_on_blocking_socket_fails_eagain() -> Outcome {
    let (_a, b) = socketpair(libc::SOCK_STREAM)?;
    let mut buf = [0u8; 4];
    check!(
        recv(&b, &mut buf, libc::MSG_DONTWAIT),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn blocking_read_wakes_when_child_writes() -> Outcome {
    fork_and_check(|| {
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        let mut child = Child::spawn(move || {
            sleep_ms(50);
            i32::from(write(&a, b"late") != 4)
        })?;
        let mut buf = [0u8; 8];
        check!(read(&b, &mut buf), succeeds_with(4));
        ensure_eq!(&buf[..4], b"late");
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

fn msg_waitall_waits_for_the_whole_buffer() -> Outcome {
    fork_and_check(|| {
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        let mut child = Child::spawn(move || {
            let mut bad = 0;
            for part in [b"ab", b"cd", b"ef"] {
                sleep_ms(20);
                bad |= i32::from(write(&a, part) != 2);
            }
            bad
        })?;
        let mut buf = [0u8; 6];
        check!(recv(&b, &mut buf, libc::MSG_WAITALL), succeeds_with(6));
        ensure_eq!(&buf, b"abcdef");
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

fn sendmsg_gathers_and_recvmsg_scatters_iovecs() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_SEQPACKET)?;
    let (p1, p2) = (b"hello ".to_vec(), b"world".to_vec());
    let mut iov = [
        libc::iovec {
            iov_base: p1.as_ptr().cast_mut().cast(),
            iov_len: p1.len(),
        },
        libc::iovec {
            iov_base: p2.as_ptr().cast_mut().cast(),
            iov_len: p2.len(),
        },
    ];
    let msg = libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: iov.as_mut_ptr(),
        msg_iovlen: 2,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    };
    check!(
        syscall!(libc::SYS_sendmsg, a.raw(), &raw const msg, 0),
        succeeds_with(11)
    );
    let (mut r1, mut r2) = ([0u8; 4], [0u8; 16]);
    let mut riov = [
        libc::iovec {
            iov_base: r1.as_mut_ptr().cast(),
            iov_len: r1.len(),
        },
        libc::iovec {
            iov_base: r2.as_mut_ptr().cast(),
            iov_len: r2.len(),
        },
    ];
    let mut rmsg = libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: riov.as_mut_ptr(),
        msg_iovlen: 2,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    };
    check!(
        syscall!(libc::SYS_recvmsg, b.raw(), &raw mut rmsg, 0),
        succeeds_with(11)
    );
    ensure_eq!(&r1, b"hell");
    ensure_eq!(&r2[..7], b"o world");
    Ok(())
}

fn send_bad_buffer_fails_efault() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_DGRAM)?;
    check!(
        syscall!(libc::SYS_sendto, a.raw(), LOW_ADDR, 4, 0, 0, 0),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn dgram_larger_than_sndbuf_fails_emsgsize() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_DGRAM)?;
    let big = vec![0u8; 1 << 20];
    check!(send(&a, &big, 0), fails_with(Errno::EMSGSIZE));
    Ok(())
}

fn nonblocking_stream_fills_then_fails_eagain() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    let chunk = vec![0u8; 65536];
    let mut total = 0i64;
    for _ in 0..64 {
        let n = write(&a, &chunk);
        if n < 0 {
            break;
        }
        total += n;
    }
    ensure!(total > 0, "nothing was written");
    ensure!(total < 64 * 65536, "the buffer never filled: {total}");
    check!(write(&a, &chunk), fails_with(Errno::EAGAIN));
    Ok(())
}

// ---------------------------------------------------------------- bind / listen / connect

fn abstract_listener_accepts_and_round_trips() -> Outcome {
    let (c, s) = connected(libc::SOCK_STREAM)?;
    check!(write(&c, b"ping"), succeeds_with(4));
    let mut buf = [0u8; 8];
    check!(read(&s, &mut buf), succeeds_with(4));
    check!(write(&s, b"pong"), succeeds_with(4));
    check!(read(&c, &mut buf), succeeds_with(4));
    ensure_eq!(&buf[..4], b"pong");
    Ok(())
}

fn seqpacket_listener_keeps_boundaries() -> Outcome {
    let (c, s) = connected(libc::SOCK_SEQPACKET)?;
    check!(send(&c, b"ab", 0), succeeds_with(2));
    check!(send(&c, b"cd", 0), succeeds_with(2));
    let mut buf = [0u8; 8];
    check!(recv(&s, &mut buf, 0), succeeds_with(2));
    Ok(())
}

fn path_bind_creates_socket_file_and_accepts() -> Outcome {
    let path = unique_tmp_path("unix-sock");
    let l = socket(libc::SOCK_STREAM)?;
    let addr = path_addr(&path);
    check!(bind(&l, &addr), succeeds_with(0));
    let mut st: libc::stat = syscall_tests::zeroed();
    let r = syscall!(
        libc::SYS_newfstatat,
        libc::AT_FDCWD,
        path.as_ptr(),
        &raw mut st,
        0
    );
    let _unlink_later = scopeguard(&path);
    check!(r, succeeds_with(0));
    ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFSOCK);
    check!(syscall!(libc::SYS_listen, l.raw(), 1), succeeds_with(0));
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), succeeds_with(0));
    let s = Fd::from_ret(check!(
        syscall!(libc::SYS_accept, l.raw(), 0, 0),
        succeeds()
    ))?;
    check!(write(&c, b"via path"), succeeds_with(8));
    let mut buf = [0u8; 16];
    check!(read(&s, &mut buf), succeeds_with(8));
    Ok(())
}

/// Unlinks a path when dropped.
struct Unlink<'a>(&'a CStr);

impl Drop for Unlink<'_> {
    fn drop(&mut self) {
        let _ = syscall!(libc::SYS_unlinkat, libc::AT_FDCWD, self.0.as_ptr(), 0);
    }
}

fn scopeguard(p: &CStr) -> Unlink<'_> {
    Unlink(p)
}

fn bind_existing_path_fails_eaddrinuse() -> Outcome {
    let path = unique_tmp_path("unix-inuse");
    let a = socket(libc::SOCK_STREAM)?;
    let addr = path_addr(&path);
    check!(bind(&a, &addr), succeeds_with(0));
    let _u = scopeguard(&path);
    let b = socket(libc::SOCK_STREAM)?;
    check!(bind(&b, &addr), fails_with(Errno::EADDRINUSE));
    Ok(())
}

fn bind_abstract_name_in_use_fails_eaddrinuse() -> Outcome {
    let addr = unique_abstract();
    let a = socket(libc::SOCK_DGRAM)?;
    check!(bind(&a, &addr), succeeds_with(0));
    let b = socket(libc::SOCK_DGRAM)?;
    check!(bind(&b, &addr), fails_with(Errno::EADDRINUSE));
    drop(a);
    // The name is free again once its socket is closed.
    check!(bind(&b, &addr), succeeds_with(0));
    Ok(())
}

fn bind_twice_fails_einval() -> Outcome {
    let a = socket(libc::SOCK_STREAM)?;
    check!(bind(&a, &unique_abstract()), succeeds_with(0));
    check!(bind(&a, &unique_abstract()), fails_with(Errno::EINVAL));
    Ok(())
}

fn bind_address_too_long_fails_einval() -> Outcome {
    let a = socket(libc::SOCK_STREAM)?;
    let mut addr = unique_abstract();
    addr.resize(111, b'x');
    check!(bind(&a, &addr), fails_with(Errno::EINVAL));
    Ok(())
}

fn bind_bad_address_pointer_fails_efault() -> Outcome {
    let a = socket(libc::SOCK_STREAM)?;
    check!(
        syscall!(libc::SYS_bind, a.raw(), LOW_ADDR, 10),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// unix(7): binding with only the family "autobinds" an abstract name of five hex digits.
fn bind_family_only_autobinds_abstract_name() -> Outcome {
    let a = socket(libc::SOCK_DGRAM)?;
    let fam = (libc::AF_UNIX as u16).to_ne_bytes();
    check!(bind(&a, &fam), succeeds_with(0));
    let (name, len) = sockname(libc::SYS_getsockname, &a)?;
    ensure_eq!(len, 8);
    ensure_eq!(name.get(2), Some(&0u8));
    Ok(())
}

fn connect_to_unbound_abstract_name_fails_econnrefused() -> Outcome {
    let c = socket(libc::SOCK_STREAM)?;
    check!(
        connect(&c, &unique_abstract()),
        fails_with(Errno::ECONNREFUSED)
    );
    Ok(())
}

fn connect_to_missing_path_fails_enoent() -> Outcome {
    let c = socket(libc::SOCK_STREAM)?;
    let path = unique_tmp_path("unix-missing");
    check!(connect(&c, &path_addr(&path)), fails_with(Errno::ENOENT));
    Ok(())
}

fn connect_to_bound_but_not_listening_fails_econnrefused() -> Outcome {
    let l = socket(libc::SOCK_STREAM)?;
    let addr = unique_abstract();
    check!(bind(&l, &addr), succeeds_with(0));
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), fails_with(Errno::ECONNREFUSED));
    Ok(())
}

/// An abstract name bound by a socket of another type is not found (ECONNREFUSED)...
fn connect_stream_to_dgram_abstract_name_fails_econnrefused() -> Outcome {
    let d = socket(libc::SOCK_DGRAM)?;
    let addr = unique_abstract();
    check!(bind(&d, &addr), succeeds_with(0));
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), fails_with(Errno::ECONNREFUSED));
    Ok(())
}

/// ... while a socket file of another type is found and refused with EPROTOTYPE.
fn connect_stream_to_dgram_path_fails_eprototype() -> Outcome {
    let path = unique_tmp_path("unix-proto");
    let d = socket(libc::SOCK_DGRAM)?;
    let addr = path_addr(&path);
    check!(bind(&d, &addr), succeeds_with(0));
    let _u = scopeguard(&path);
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), fails_with(Errno::EPROTOTYPE));
    Ok(())
}

fn connect_twice_fails_eisconn() -> Outcome {
    let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), succeeds_with(0));
    check!(connect(&c, &addr), fails_with(Errno::EISCONN));
    drop(l);
    Ok(())
}

fn listen_on_unbound_socket_fails_einval() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    check!(
        syscall!(libc::SYS_listen, s.raw(), 1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn listen_on_dgram_fails_eopnotsupp() -> Outcome {
    let s = socket(libc::SOCK_DGRAM)?;
    check!(bind(&s, &unique_abstract()), succeeds_with(0));
    check!(
        syscall!(libc::SYS_listen, s.raw(), 1),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

fn nonblocking_accept_without_pending_fails_eagain() -> Outcome {
    let (l, _addr) = listener(libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 5)?;
    check!(
        syscall!(libc::SYS_accept4, l.raw(), 0, 0, 0),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn accept_on_unlistened_socket_fails_einval() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    check!(bind(&s, &unique_abstract()), succeeds_with(0));
    check!(
        syscall!(libc::SYS_accept, s.raw(), 0, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn accept4_flags_set_cloexec_and_nonblock() -> Outcome {
    let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), succeeds_with(0));
    let s = Fd::from_ret(check!(
        syscall!(
            libc::SYS_accept4,
            l.raw(),
            0,
            0,
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK
        ),
        succeeds()
    ))?;
    ensure_eq!(getfd(s.raw()), i64::from(libc::FD_CLOEXEC));
    let mut buf = [0u8; 2];
    check!(read(&s, &mut buf), fails_with(Errno::EAGAIN));
    Ok(())
}

fn accept4_unknown_flag_fails_einval() -> Outcome {
    let (l, _addr) = listener(libc::SOCK_STREAM, 5)?;
    check!(
        syscall!(libc::SYS_accept4, l.raw(), 0, 0, 0x1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// A listener queues one connection more than its backlog; then a non-blocking connect fails
/// with EAGAIN (unix(7)).
fn nonblocking_connect_to_full_backlog_fails_eagain() -> Outcome {
    let (_l, addr) = listener(libc::SOCK_STREAM, 0)?;
    let c1 = socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    check!(connect(&c1, &addr), succeeds_with(0));
    let c2 = socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    check!(connect(&c2, &addr), fails_with(Errno::EAGAIN));
    Ok(())
}

fn blocking_accept_wakes_when_child_connects() -> Outcome {
    fork_and_check(|| {
        let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
        let mut child = Child::spawn(move || {
            sleep_ms(50);
            let Ok(c) = socket(libc::SOCK_STREAM) else {
                return 2;
            };
            i32::from(connect(&c, &addr) != 0 || write(&c, b"hi") != 2)
        })?;
        let s = Fd::from_ret(check!(
            syscall!(libc::SYS_accept, l.raw(), 0, 0),
            succeeds()
        ))?;
        let mut buf = [0u8; 4];
        check!(read(&s, &mut buf), succeeds_with(2));
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

fn dgram_sendto_named_socket_and_recvfrom_reports_sender() -> Outcome {
    let (ra, sa) = (unique_abstract(), unique_abstract());
    let r = socket(libc::SOCK_DGRAM)?;
    check!(bind(&r, &ra), succeeds_with(0));
    let s = socket(libc::SOCK_DGRAM)?;
    check!(bind(&s, &sa), succeeds_with(0));
    check!(
        syscall!(
            libc::SYS_sendto,
            s.raw(),
            b"dg".as_ptr(),
            2,
            0,
            ra.as_ptr(),
            ra.len()
        ),
        succeeds_with(2)
    );
    let mut buf = [0u8; 8];
    let mut from = [0u8; 128];
    let mut flen: u32 = 128;
    check!(
        syscall!(
            libc::SYS_recvfrom,
            r.raw(),
            buf.as_mut_ptr(),
            8,
            0,
            from.as_mut_ptr(),
            &raw mut flen
        ),
        succeeds_with(2)
    );
    ensure_eq!(usize::try_from(flen).ok(), Some(sa.len()));
    ensure_eq!(&from[..sa.len()], &sa[..]);
    Ok(())
}

fn dgram_connect_sets_default_destination() -> Outcome {
    let ra = unique_abstract();
    let r = socket(libc::SOCK_DGRAM)?;
    check!(bind(&r, &ra), succeeds_with(0));
    let s = socket(libc::SOCK_DGRAM)?;
    check!(connect(&s, &ra), succeeds_with(0));
    check!(write(&s, b"to peer"), succeeds_with(7));
    let mut buf = [0u8; 16];
    check!(read(&r, &mut buf), succeeds_with(7));
    Ok(())
}

fn sendto_with_address_on_connected_stream_fails_eisconn() -> Outcome {
    let (c, _s) = connected(libc::SOCK_STREAM)?;
    let addr = unique_abstract();
    check!(
        syscall!(
            libc::SYS_sendto,
            c.raw(),
            b"x".as_ptr(),
            1,
            0,
            addr.as_ptr(),
            addr.len()
        ),
        fails_with(Errno::EISCONN)
    );
    Ok(())
}

// ---------------------------------------------------------------- names

fn getsockname_of_unbound_socket_is_family_only() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let (name, len) = sockname(libc::SYS_getsockname, &s)?;
    ensure_eq!(len, 2);
    ensure_eq!(name, (libc::AF_UNIX as u16).to_ne_bytes().to_vec());
    Ok(())
}

fn getsockname_reports_abstract_name_with_exact_length() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let addr = unique_abstract();
    check!(bind(&s, &addr), succeeds_with(0));
    let (name, len) = sockname(libc::SYS_getsockname, &s)?;
    ensure_eq!(len, addr.len());
    ensure_eq!(name, addr);
    Ok(())
}

/// The length of a path name counts the terminating NUL.
fn getsockname_reports_path_with_nul() -> Outcome {
    let path = unique_tmp_path("unix-name");
    let s = socket(libc::SOCK_DGRAM)?;
    let addr = path_addr(&path);
    check!(bind(&s, &addr), succeeds_with(0));
    let _u = scopeguard(&path);
    let (name, len) = sockname(libc::SYS_getsockname, &s)?;
    ensure_eq!(len, addr.len());
    ensure_eq!(name, addr);
    Ok(())
}

fn getsockname_short_buffer_reports_full_length() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let addr = unique_abstract();
    check!(bind(&s, &addr), succeeds_with(0));
    let mut buf = [0xffu8; 4];
    let mut len: u32 = 4;
    check!(
        syscall!(
            libc::SYS_getsockname,
            s.raw(),
            buf.as_mut_ptr(),
            &raw mut len
        ),
        succeeds_with(0)
    );
    ensure_eq!(usize::try_from(len).ok(), Some(addr.len()));
    ensure_eq!(&buf[..], &addr[..4]);
    Ok(())
}

fn getpeername_of_client_is_listener_name() -> Outcome {
    let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), succeeds_with(0));
    let (name, len) = sockname(libc::SYS_getpeername, &c)?;
    ensure_eq!(len, addr.len());
    ensure_eq!(name, addr);
    let s = Fd::from_ret(check!(
        syscall!(libc::SYS_accept, l.raw(), 0, 0),
        succeeds()
    ))?;
    // The accepted socket carries the listener's name; its peer (the client) is unnamed.
    let (name, _) = sockname(libc::SYS_getsockname, &s)?;
    ensure_eq!(name, addr);
    let (_, plen) = sockname(libc::SYS_getpeername, &s)?;
    ensure_eq!(plen, 2);
    Ok(())
}

fn getpeername_of_unconnected_socket_fails_enotconn() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let mut buf = [0u8; 128];
    let mut len: u32 = 128;
    check!(
        syscall!(
            libc::SYS_getpeername,
            s.raw(),
            buf.as_mut_ptr(),
            &raw mut len
        ),
        fails_with(Errno::ENOTCONN)
    );
    Ok(())
}

// ---------------------------------------------------------------- options

fn so_type_reports_socket_type() -> Outcome {
    let s = socket(libc::SOCK_SEQPACKET)?;
    ensure_eq!(getsockopt_int(&s, libc::SO_TYPE)?, libc::SOCK_SEQPACKET);
    let d = socket(libc::SOCK_DGRAM)?;
    ensure_eq!(getsockopt_int(&d, libc::SO_TYPE)?, libc::SOCK_DGRAM);
    Ok(())
}

fn so_domain_protocol_and_error() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    ensure_eq!(getsockopt_int(&s, libc::SO_DOMAIN)?, libc::AF_UNIX);
    ensure_eq!(getsockopt_int(&s, libc::SO_PROTOCOL)?, 0);
    ensure_eq!(getsockopt_int(&s, libc::SO_ERROR)?, 0);
    Ok(())
}

fn so_acceptconn_is_set_only_on_listeners() -> Outcome {
    let (l, _addr) = listener(libc::SOCK_STREAM, 5)?;
    ensure_eq!(getsockopt_int(&l, libc::SO_ACCEPTCONN)?, 1);
    let s = socket(libc::SOCK_STREAM)?;
    ensure_eq!(getsockopt_int(&s, libc::SO_ACCEPTCONN)?, 0);
    Ok(())
}

fn peercred(fd: &Fd) -> Result<libc::ucred, String> {
    let mut c = libc::ucred {
        pid: -1,
        uid: 0,
        gid: 0,
    };
    let mut len: u32 = 12;
    check!(
        syscall!(
            libc::SYS_getsockopt,
            fd.raw(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &raw mut c,
            &raw mut len
        ),
        succeeds_with(0)
    );
    ensure_eq!(len, 12);
    Ok(c)
}

fn so_peercred_of_socketpair_is_the_creator() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    let c = peercred(&a)?;
    ensure_eq!(c.pid, getpid());
    ensure_eq!(
        c.uid,
        u32::try_from(syscall!(libc::SYS_geteuid)).unwrap_or(0)
    );
    ensure_eq!(
        c.gid,
        u32::try_from(syscall!(libc::SYS_getegid)).unwrap_or(0)
    );
    Ok(())
}

fn so_peercred_of_accepted_socket_is_the_connecting_process() -> Outcome {
    fork_and_check(|| {
        let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
        let (r, w) = pipe()?;
        let mut child = Child::spawn(move || {
            let Ok(c) = socket(libc::SOCK_STREAM) else {
                return 2;
            };
            if connect(&c, &addr) != 0 {
                return 3;
            }
            // Hold the connection until the parent has looked.
            let mut b = [0u8; 1];
            drop(w);
            i32::from(read(&r, &mut b) < 0)
        })?;
        let s = Fd::from_ret(check!(
            syscall!(libc::SYS_accept, l.raw(), 0, 0),
            succeeds()
        ))?;
        let c = peercred(&s)?;
        ensure_eq!(c.pid, child.pid());
        drop(s);
        let _ = child.wait()?;
        Ok(())
    })
}

/// socket(7): SO_SNDBUF "The kernel doubles this value ... and this doubled value is returned
/// by getsockopt".
fn so_sndbuf_and_rcvbuf_report_doubled_values() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let v: i32 = 32768;
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        check!(
            syscall!(
                libc::SYS_setsockopt,
                s.raw(),
                libc::SOL_SOCKET,
                opt,
                &raw const v,
                4
            ),
            succeeds_with(0)
        );
        ensure_eq!(getsockopt_int(&s, opt)?, 65536);
    }
    Ok(())
}

fn getsockopt_unknown_option_fails_enoprotoopt() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let mut v = 0i32;
    let mut len: u32 = 4;
    check!(
        syscall!(
            libc::SYS_getsockopt,
            s.raw(),
            libc::SOL_SOCKET,
            9999,
            &raw mut v,
            &raw mut len
        ),
        fails_with(Errno::ENOPROTOOPT)
    );
    Ok(())
}

fn setsockopt_short_optlen_fails_einval() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let v: i32 = 1;
    check!(
        syscall!(
            libc::SYS_setsockopt,
            s.raw(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            &raw const v,
            2
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

// ---------------------------------------------------------------- poll

fn poll_fresh_pair_is_writable_not_readable() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    let ev = poll1(&a, libc::POLLIN | libc::POLLOUT)?;
    ensure_eq!(ev, libc::POLLOUT);
    Ok(())
}

fn poll_reports_pollin_after_peer_writes() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    check!(write(&a, b"x"), succeeds_with(1));
    let ev = poll1(&b, libc::POLLIN)?;
    ensure_eq!(ev, libc::POLLIN);
    Ok(())
}

fn poll_reports_pollhup_after_peer_close() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    drop(a);
    let ev = poll1(&b, libc::POLLIN)?;
    ensure_eq!(ev, libc::POLLIN | libc::POLLHUP);
    Ok(())
}

fn poll_listener_is_readable_with_pending_connection() -> Outcome {
    let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
    ensure_eq!(poll1(&l, libc::POLLIN)?, 0);
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), succeeds_with(0));
    ensure_eq!(poll1(&l, libc::POLLIN)?, libc::POLLIN);
    Ok(())
}

fn poll_blocks_until_child_writes() -> Outcome {
    fork_and_check(|| {
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        let mut child = Child::spawn(move || {
            sleep_ms(50);
            i32::from(write(&a, b"z") != 1)
        })?;
        let mut p = libc::pollfd {
            fd: b.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        check!(
            syscall!(libc::SYS_poll, &raw mut p, 1, 5000),
            succeeds_with(1)
        );
        // The child may already have exited (POLLHUP too).
        ensure_eq!(p.revents & libc::POLLIN, libc::POLLIN);
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

// ---------------------------------------------------------------- ancillary data

/// unix(7) SCM_RIGHTS: a pipe's read end sent by a child arrives as a new fd in the parent,
/// reading what the child writes into the pipe.
fn scm_rights_passes_pipe_fd_across_fork() -> Outcome {
    fork_and_check(|| {
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        let mut child = Child::spawn(move || {
            let Ok((r, w)) = pipe() else { return 2 };
            if send_fds(&a, b"F", &[r.raw()]) != 1 {
                return 3;
            }
            drop(r);
            i32::from(write(&w, b"through the pipe") != 16)
        })?;
        let got = recv_msg(&b, 4, 64, 0)?;
        ensure_eq!(got.data, b"F".to_vec());
        let fds = got.fds();
        ensure_eq!(fds.len(), 1);
        let passed = Fd::from_ret(i64::from(fds[0]))?;
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        let mut buf = [0u8; 32];
        check!(read(&passed, &mut buf), succeeds_with(16));
        ensure_eq!(&buf[..16], b"through the pipe");
        ensure_eq!(getfd(passed.raw()), 0);
        Ok(())
    })
}

fn scm_rights_msg_cmsg_cloexec_sets_fd_cloexec() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    let (r, _w) = pipe()?;
    check!(send_fds(&a, b"x", &[r.raw()]), succeeds_with(1));
    let got = recv_msg(&b, 4, 64, libc::MSG_CMSG_CLOEXEC)?;
    let fds = got.fds();
    ensure_eq!(fds.len(), 1);
    let passed = Fd::from_ret(i64::from(fds[0]))?;
    ensure_eq!(getfd(passed.raw()), i64::from(libc::FD_CLOEXEC));
    ensure_eq!(got.controllen, 24);
    Ok(())
}

fn scm_rights_short_control_buffer_sets_msg_ctrunc() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    let (r, w) = pipe()?;
    check!(send_fds(&a, b"x", &[r.raw(), w.raw()]), succeeds_with(1));
    // Room for one descriptor only: CMSG_LEN(4) = 20 (CMSG_LEN(8) = 24 would hold both).
    let got = recv_msg(&b, 4, 20, 0)?;
    let fds = got.fds();
    ensure_eq!(fds.len(), 1);
    let _passed = Fd::from_ret(i64::from(fds[0]))?;
    ensure_eq!(got.flags & libc::MSG_CTRUNC, libc::MSG_CTRUNC);
    Ok(())
}

fn scm_rights_without_control_buffer_sets_msg_ctrunc() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    let (r, _w) = pipe()?;
    check!(send_fds(&a, b"x", &[r.raw()]), succeeds_with(1));
    let got = recv_msg(&b, 4, 0, 0)?;
    ensure_eq!(got.ret, 1);
    ensure_eq!(got.flags & libc::MSG_CTRUNC, libc::MSG_CTRUNC);
    Ok(())
}

fn scm_rights_bad_fd_fails_ebadf() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    check!(send_fds(&a, b"x", &[9999]), fails_with(Errno::EBADF));
    Ok(())
}

fn so_passcred_delivers_scm_credentials() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    let one: i32 = 1;
    check!(
        syscall!(
            libc::SYS_setsockopt,
            b.raw(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            &raw const one,
            4
        ),
        succeeds_with(0)
    );
    ensure_eq!(getsockopt_int(&b, libc::SO_PASSCRED)?, 1);
    check!(send(&a, b"cred", 0), succeeds_with(4));
    let got = recv_msg(&b, 8, 64, 0)?;
    let cred = got
        .cmsgs
        .iter()
        .find(|(l, t, _)| *l == libc::SOL_SOCKET && *t == libc::SCM_CREDENTIALS)
        .map(|(_, _, d)| d.clone())
        .ok_or_else(|| format!("no SCM_CREDENTIALS in {got:?}"))?;
    ensure_eq!(cred.len(), 12);
    let pid = i32::from_ne_bytes([cred[0], cred[1], cred[2], cred[3]]);
    ensure_eq!(pid, getpid());
    Ok(())
}

// ---------------------------------------------------------------- blocking and wake-ups

/// A writer blocked on a full socket fails with EPIPE when the reader closes its end.
fn blocked_writer_fails_epipe_when_reader_closes() -> Outcome {
    fork_and_check(|| {
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        let chunk = vec![0u8; 1 << 20];
        let mut child = Child::spawn(move || {
            sleep_ms(100);
            drop(b);
            0
        })?;
        // Keep writing until the reader's close ends it (the first write fills the buffer
        // partially and returns; a later one blocks).
        let mut last;
        loop {
            last = send(&a, &chunk, libc::MSG_NOSIGNAL);
            if last < 0 {
                break;
            }
        }
        check!(last, fails_with(Errno::EPIPE));
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// A blocked writer goes on once the reader drains the buffer.
fn blocked_writer_resumes_when_reader_drains() -> Outcome {
    fork_and_check(|| {
        let (a, b) = socketpair(libc::SOCK_STREAM)?;
        let total: usize = 1 << 20;
        let mut child = Child::spawn(move || {
            sleep_ms(50);
            let mut got = 0usize;
            let mut buf = vec![0u8; 65536];
            while got < total {
                let n = read(&b, &mut buf);
                if n <= 0 {
                    return 1;
                }
                got += usize::try_from(n).unwrap_or(0);
            }
            0
        })?;
        let data = vec![7u8; total];
        let mut sent = 0usize;
        while sent < total {
            let n = check!(write(&a, &data[sent..]), succeeds());
            sent += usize::try_from(n).unwrap_or(0);
        }
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// unix(7): a blocking connect to a listener whose backlog is full waits until accept makes
/// room.
fn blocking_connect_to_full_backlog_waits_for_accept() -> Outcome {
    fork_and_check(|| {
        let (l, addr) = listener(libc::SOCK_STREAM, 0)?;
        let first = socket(libc::SOCK_STREAM)?;
        check!(connect(&first, &addr), succeeds_with(0));
        let mut child = Child::spawn(move || {
            let Ok(c) = socket(libc::SOCK_STREAM) else {
                return 2;
            };
            i32::from(connect(&c, &addr) != 0 || write(&c, b"2nd") != 3)
        })?;
        sleep_ms(50);
        let s1 = Fd::from_ret(check!(
            syscall!(libc::SYS_accept, l.raw(), 0, 0),
            succeeds()
        ))?;
        let s2 = Fd::from_ret(check!(
            syscall!(libc::SYS_accept, l.raw(), 0, 0),
            succeeds()
        ))?;
        let mut buf = [0u8; 4];
        check!(read(&s2, &mut buf), succeeds_with(3));
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        drop(s1);
        Ok(())
    })
}

/// Without SA_RESTART, a signal ends a blocked accept with EINTR.
fn signal_interrupts_blocked_accept_with_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, 0, 0)?;
        let (l, _addr) = listener(libc::SOCK_STREAM, 5)?;
        let _ = syscall!(libc::SYS_alarm, 1);
        check!(
            syscall!(libc::SYS_accept, l.raw(), 0, 0),
            fails_with(Errno::EINTR)
        );
        ensure_eq!(signal_count(libc::SIGALRM), 1);
        Ok(())
    })
}

/// Closing a listener ends the connections it had not accepted: the client reads EOF.
fn closing_listener_gives_pending_client_eof() -> Outcome {
    let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), succeeds_with(0));
    drop(l);
    let mut buf = [0u8; 4];
    let r = read(&c, &mut buf);
    // Linux reports ECONNRESET for a connection dropped before accept.
    check!(r, fails_with(Errno::ECONNRESET));
    Ok(())
}

fn epoll_reports_socket_readable() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    let ep = Fd::from_ret(check!(syscall!(libc::SYS_epoll_create1, 0), succeeds()))?;
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 42,
    };
    check!(
        syscall!(
            libc::SYS_epoll_ctl,
            ep.raw(),
            libc::EPOLL_CTL_ADD,
            b.raw(),
            &raw mut ev
        ),
        succeeds_with(0)
    );
    let mut out = [libc::epoll_event { events: 0, u64: 0 }; 2];
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), out.as_mut_ptr(), 2, 0),
        succeeds_with(0)
    );
    check!(write(&a, b"e"), succeeds_with(1));
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), out.as_mut_ptr(), 2, 1000),
        succeeds_with(1)
    );
    let (events, data) = (out[0].events, out[0].u64);
    ensure_eq!(events, libc::EPOLLIN as u32);
    ensure_eq!(data, 42);
    Ok(())
}

/// Each SCM_RIGHTS message arrives with its own bytes: a stream read stops before the next
/// message that carries descriptors.
fn scm_rights_messages_are_not_merged_on_a_stream() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    let (r, w) = pipe()?;
    check!(send_fds(&a, b"one", &[r.raw()]), succeeds_with(3));
    check!(send_fds(&a, b"two", &[w.raw()]), succeeds_with(3));
    let got = recv_msg(&b, 16, 64, 0)?;
    ensure_eq!(got.data, b"one".to_vec());
    let fds = got.fds();
    ensure_eq!(fds.len(), 1);
    let _f1 = Fd::from_ret(i64::from(fds[0]))?;
    let got = recv_msg(&b, 16, 64, 0)?;
    ensure_eq!(got.data, b"two".to_vec());
    let fds = got.fds();
    ensure_eq!(fds.len(), 1);
    let _f2 = Fd::from_ret(i64::from(fds[0]))?;
    Ok(())
}

/// A socket closed with unread data resets its peer: the next read fails with ECONNRESET
/// (reported once; SO_ERROR would have returned it too), then the stream is at EOF.
fn closing_with_unread_data_resets_peer() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"unread"), succeeds_with(6));
    drop(b);
    let mut buf = [0u8; 8];
    check!(read(&a, &mut buf), fails_with(Errno::ECONNRESET));
    check!(read(&a, &mut buf), succeeds_with(0));
    Ok(())
}

fn so_error_reports_and_clears_a_reset() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(write(&a, b"unread"), succeeds_with(6));
    drop(b);
    ensure_eq!(getsockopt_int(&a, libc::SO_ERROR)?, libc::ECONNRESET);
    ensure_eq!(getsockopt_int(&a, libc::SO_ERROR)?, 0);
    Ok(())
}

/// A datagram receiver takes a bounded queue from senders other than its peer
/// (net.unix.max_dgram_qlen); a write(2) blocked on it goes on once the receiver reads.
fn dgram_write_blocked_on_full_receiver_resumes_when_it_reads() -> Outcome {
    fork_and_check(|| {
        let ra = unique_abstract();
        let r = socket(libc::SOCK_DGRAM)?;
        check!(bind(&r, &ra), succeeds_with(0));
        let s = socket(libc::SOCK_DGRAM)?;
        check!(connect(&s, &ra), succeeds_with(0));
        let mut n = 0;
        while n < 100_000 && send(&s, b"q", libc::MSG_DONTWAIT) == 1 {
            n += 1;
        }
        ensure!(n < 100_000, "the receiver's queue never filled");
        check!(
            send(&s, b"q", libc::MSG_DONTWAIT),
            fails_with(Errno::EAGAIN)
        );
        // The parent keeps `r` open too, so the receiver outlives the child's exit.
        let r2 = Fd::from_ret(check!(syscall!(libc::SYS_dup, r.raw()), succeeds()))?;
        let mut child = Child::spawn(move || {
            sleep_ms(50);
            let mut b = [0u8; 4];
            i32::from(read(&r2, &mut b) != 1)
        })?;
        check!(write(&s, b"w"), succeeds_with(1));
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// ... but bytes sent before them are read together with them: the files come with the
/// call that reads the message carrying them.
fn stream_read_glues_plain_bytes_with_a_following_scm_rights_message() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    let (r, _w) = pipe()?;
    check!(write(&a, b"ab"), succeeds_with(2));
    check!(send_fds(&a, b"cd", &[r.raw()]), succeeds_with(2));
    check!(write(&a, b"ef"), succeeds_with(2));
    let got = recv_msg(&b, 16, 64, 0)?;
    ensure_eq!(got.data, b"abcd".to_vec());
    let fds = got.fds();
    ensure_eq!(fds.len(), 1);
    let _f = Fd::from_ret(i64::from(fds[0]))?;
    let got = recv_msg(&b, 16, 64, 0)?;
    ensure_eq!(got.data, b"ef".to_vec());
    ensure_eq!(got.fds().len(), 0);
    Ok(())
}

/// SO_PEERCRED is set by socketpair and stream connections only: pid 0 and the overflow
/// ids (-1) before that, and after a datagram connect.
fn so_peercred_of_unconnected_and_dgram_connected_socket_is_unset() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let c = peercred(&s)?;
    ensure_eq!((c.pid, c.uid, c.gid), (0, u32::MAX, u32::MAX));
    let ra = unique_abstract();
    let r = socket(libc::SOCK_DGRAM)?;
    check!(bind(&r, &ra), succeeds_with(0));
    let d = socket(libc::SOCK_DGRAM)?;
    check!(connect(&d, &ra), succeeds_with(0));
    let c = peercred(&d)?;
    ensure_eq!((c.pid, c.uid, c.gid), (0, u32::MAX, u32::MAX));
    Ok(())
}

/// open(2): "ENXIO The file is a UNIX domain socket."
fn open_of_socket_file_fails_enxio() -> Outcome {
    let path = unique_tmp_path("unix-open");
    let s = socket(libc::SOCK_STREAM)?;
    check!(bind(&s, &path_addr(&path)), succeeds_with(0));
    let _u = scopeguard(&path);
    check!(
        syscall!(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDWR,
            0
        ),
        fails_with(Errno::ENXIO)
    );
    Ok(())
}

/// After the socket file is unlinked the name is gone (ENOENT), and it can be bound again.
fn unlinked_socket_path_can_be_bound_again() -> Outcome {
    let path = unique_tmp_path("unix-rebind");
    let addr = path_addr(&path);
    let (a, b) = (socket(libc::SOCK_STREAM)?, socket(libc::SOCK_STREAM)?);
    check!(bind(&a, &addr), succeeds_with(0));
    check!(
        syscall!(libc::SYS_unlinkat, libc::AT_FDCWD, path.as_ptr(), 0),
        succeeds_with(0)
    );
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), fails_with(Errno::ENOENT));
    check!(bind(&b, &addr), succeeds_with(0));
    let _u = scopeguard(&path);
    check!(syscall!(libc::SYS_listen, b.raw(), 1), succeeds_with(0));
    check!(connect(&c, &addr), succeeds_with(0));
    Ok(())
}

fn shutdown_rd_makes_empty_read_return_eof() -> Outcome {
    let (_a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(
        syscall!(libc::SYS_shutdown, b.raw(), libc::SHUT_RD),
        succeeds_with(0)
    );
    let mut buf = [0u8; 4];
    check!(read(&b, &mut buf), succeeds_with(0));
    Ok(())
}

fn msg_peek_on_dgram_returns_the_same_message_again() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM)?;
    check!(send(&a, b"m1", 0), succeeds_with(2));
    check!(send(&a, b"m2", 0), succeeds_with(2));
    let mut buf = [0u8; 8];
    check!(recv(&b, &mut buf, libc::MSG_PEEK), succeeds_with(2));
    ensure_eq!(&buf[..2], b"m1");
    check!(recv(&b, &mut buf, 0), succeeds_with(2));
    ensure_eq!(&buf[..2], b"m1");
    check!(recv(&b, &mut buf, 0), succeeds_with(2));
    ensure_eq!(&buf[..2], b"m2");
    Ok(())
}

fn seqpacket_msg_trunc_returns_full_length() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_SEQPACKET)?;
    check!(send(&a, b"0123456789", 0), succeeds_with(10));
    let mut buf = [0u8; 4];
    check!(recv(&b, &mut buf, libc::MSG_TRUNC), succeeds_with(10));
    Ok(())
}

fn send_on_listening_socket_fails_enotconn() -> Outcome {
    let (l, _addr) = listener(libc::SOCK_STREAM, 5)?;
    check!(
        send(&l, b"x", libc::MSG_NOSIGNAL),
        fails_with(Errno::ENOTCONN)
    );
    Ok(())
}

fn connect_from_listening_socket_fails_einval() -> Outcome {
    let (l, _addr) = listener(libc::SOCK_STREAM, 5)?;
    let (_l2, addr2) = listener(libc::SOCK_STREAM, 5)?;
    check!(connect(&l, &addr2), fails_with(Errno::EINVAL));
    Ok(())
}

fn accept_reports_unnamed_client_with_family_only_length() -> Outcome {
    let (l, addr) = listener(libc::SOCK_STREAM, 5)?;
    let c = socket(libc::SOCK_STREAM)?;
    check!(connect(&c, &addr), succeeds_with(0));
    let mut buf = [0xffu8; 128];
    let mut len: u32 = 128;
    let s = Fd::from_ret(check!(
        syscall!(libc::SYS_accept, l.raw(), buf.as_mut_ptr(), &raw mut len),
        succeeds()
    ))?;
    ensure_eq!(len, 2);
    ensure_eq!(&buf[..2], &(libc::AF_UNIX as u16).to_ne_bytes());
    drop(s);
    Ok(())
}

// ---------------------------------------------------------------- timeouts

fn set_timeout(fd: &Fd, opt: i32, usec: i64) -> i64 {
    let tv = libc::timeval {
        tv_sec: usec / 1_000_000,
        tv_usec: usec % 1_000_000,
    };
    syscall!(
        libc::SYS_setsockopt,
        fd.raw(),
        libc::SOL_SOCKET,
        opt,
        &raw const tv,
        size_of::<libc::timeval>()
    )
}

fn elapsed_ms(start: std::time::Instant) -> u128 {
    start.elapsed().as_millis()
}

/// socket(7) SO_RCVTIMEO: a receive that times out "returns with ... errno set to EAGAIN";
/// read(2) obeys it too.
fn so_rcvtimeo_ends_blocking_recv_and_read_with_eagain() -> Outcome {
    let (_a, b) = socketpair(libc::SOCK_STREAM)?;
    check!(
        set_timeout(&b, libc::SO_RCVTIMEO, 100_000),
        succeeds_with(0)
    );
    let mut buf = [0u8; 4];
    let start = std::time::Instant::now();
    check!(recv(&b, &mut buf, 0), fails_with(Errno::EAGAIN));
    ensure!(
        elapsed_ms(start) >= 90,
        "returned after {} ms",
        elapsed_ms(start)
    );
    check!(read(&b, &mut buf), fails_with(Errno::EAGAIN));
    Ok(())
}

fn so_rcvtimeo_reads_back_as_set() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    check!(
        set_timeout(&s, libc::SO_RCVTIMEO, 200_000),
        succeeds_with(0)
    );
    let mut tv = libc::timeval {
        tv_sec: -1,
        tv_usec: -1,
    };
    let mut len: u32 = 16;
    check!(
        syscall!(
            libc::SYS_getsockopt,
            s.raw(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &raw mut tv,
            &raw mut len
        ),
        succeeds_with(0)
    );
    ensure_eq!((tv.tv_sec, tv.tv_usec, len), (0, 200_000, 16));
    Ok(())
}

fn so_rcvtimeo_ends_blocking_accept_with_eagain() -> Outcome {
    let (l, _addr) = listener(libc::SOCK_STREAM, 5)?;
    check!(set_timeout(&l, libc::SO_RCVTIMEO, 50_000), succeeds_with(0));
    check!(
        syscall!(libc::SYS_accept, l.raw(), 0, 0),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

/// SO_SNDTIMEO: a write to a full socket returns what it sent, then EAGAIN.
fn so_sndtimeo_ends_blocked_write_with_eagain() -> Outcome {
    let (a, _b) = socketpair(libc::SOCK_STREAM)?;
    check!(set_timeout(&a, libc::SO_SNDTIMEO, 50_000), succeeds_with(0));
    let chunk = vec![0u8; 1 << 20];
    let mut last = 0;
    for _ in 0..8 {
        last = write(&a, &chunk);
        if last < 0 {
            break;
        }
    }
    check!(last, fails_with(Errno::EAGAIN));
    Ok(())
}

fn so_rcvtimeo_usec_out_of_range_fails_edom() -> Outcome {
    let s = socket(libc::SOCK_STREAM)?;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 1_000_000,
    };
    check!(
        syscall!(
            libc::SYS_setsockopt,
            s.raw(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &raw const tv,
            16
        ),
        fails_with(Errno::EDOM)
    );
    Ok(())
}

/// Under SO_RCVTIMEO a signal ends the wait with EINTR even with SA_RESTART (socket(7)).
fn signal_interrupts_timed_recv_with_eintr_despite_sa_restart() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, libc::SA_RESTART as u64, 0)?;
        let (_a, b) = socketpair(libc::SOCK_STREAM)?;
        check!(
            set_timeout(&b, libc::SO_RCVTIMEO, 5_000_000),
            succeeds_with(0)
        );
        let _ = syscall!(libc::SYS_alarm, 1);
        let mut buf = [0u8; 4];
        check!(recv(&b, &mut buf, 0), fails_with(Errno::EINTR));
        ensure_eq!(signal_count(libc::SIGALRM), 1);
        Ok(())
    })
}

/// sendmmsg(2) of three datagrams, then recvmmsg(2) of up to four without waiting: three
/// messages with their lengths in msg_len; then nothing left: EAGAIN.
fn sendmmsg_and_recvmmsg_move_batches_of_datagrams() -> Outcome {
    let (a, b) = socketpair(libc::SOCK_DGRAM | libc::SOCK_CLOEXEC)?;
    let payloads: [&[u8]; 3] = [b"one", b"three", b"seventeen"];
    let mut iovs: Vec<libc::iovec> = payloads
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr().cast_mut().cast(),
            iov_len: p.len(),
        })
        .collect();
    let mut out: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            let mut m: libc::mmsghdr = syscall_tests::zeroed();
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    check!(
        syscall!(libc::SYS_sendmmsg, a.raw(), out.as_mut_ptr(), 3, 0),
        succeeds_with(3)
    );
    let lens: Vec<u32> = out.iter().map(|m| m.msg_len).collect();
    ensure_eq!(lens, vec![3, 5, 9]);
    let mut bufs = [[0u8; 32]; 4];
    let mut riovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    let mut inn: Vec<libc::mmsghdr> = riovs
        .iter_mut()
        .map(|iov| {
            let mut m: libc::mmsghdr = syscall_tests::zeroed();
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    check!(
        syscall!(
            libc::SYS_recvmmsg,
            b.raw(),
            inn.as_mut_ptr(),
            4,
            libc::MSG_DONTWAIT,
            0usize
        ),
        succeeds_with(3)
    );
    let got: Vec<u32> = inn.iter().take(3).map(|m| m.msg_len).collect();
    ensure_eq!(got, vec![3, 5, 9]);
    ensure_eq!(&bufs[2][..9], b"seventeen");
    check!(
        syscall!(
            libc::SYS_recvmmsg,
            b.raw(),
            inn.as_mut_ptr(),
            4,
            libc::MSG_DONTWAIT,
            0usize
        ),
        fails_with(Errno::EAGAIN)
    );
    // MSG_WAITFORONE: blocks for the first, returns what is there after it.
    check!(
        syscall!(libc::SYS_sendmmsg, a.raw(), out.as_mut_ptr(), 2, 0),
        succeeds_with(2)
    );
    check!(
        syscall!(
            libc::SYS_recvmmsg,
            b.raw(),
            inn.as_mut_ptr(),
            4,
            libc::MSG_WAITFORONE,
            0usize
        ),
        succeeds_with(2)
    );
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        sendmmsg_and_recvmmsg_move_batches_of_datagrams,
        socketpair_stream_round_trips_bytes,
        socketpair_stream_merges_writes,
        socketpair_sock_nonblock_sets_o_nonblock,
        socketpair_sock_cloexec_sets_fd_cloexec,
        socketpair_bad_pointer_fails_efault,
        socket_unix_sock_rdm_fails_esocktnosupport,
        socket_unix_bad_protocol_fails_eprotonosupport,
        socket_unknown_type_flag_fails_einval,
        socket_unknown_family_fails_eafnosupport,
        socket_af_inet_stream_succeeds,
        fstat_of_socket_is_s_ifsock,
        lseek_on_socket_fails_espipe,
        bind_on_pipe_fails_enotsock,
        fionread_reports_queued_bytes,
        stream_read_after_peer_close_returns_eof,
        stream_write_after_peer_close_fails_epipe_and_raises_sigpipe,
        stream_send_msg_nosignal_after_peer_close_fails_epipe_without_sigpipe,
        shutdown_wr_gives_peer_eof,
        shutdown_wr_then_send_fails_epipe,
        peer_shutdown_rd_makes_send_fail_epipe,
        shutdown_bad_how_fails_einval,
        shutdown_on_pipe_fails_enotsock,
        send_on_unconnected_stream_fails_enotconn,
        recv_on_unconnected_stream_fails_einval,
        dgram_send_after_peer_close_fails_econnrefused,
        dgram_preserves_message_boundaries,
        dgram_short_buffer_truncates_and_msg_trunc_returns_full_length,
        recvmsg_truncated_datagram_sets_msg_trunc,
        seqpacket_preserves_boundaries_and_truncates,
        seqpacket_eof_after_peer_close,
        msg_peek_leaves_data_queued,
        nonblocking_recv_of_empty_socket_fails_eagain,
        msg_dontwait_on_blocking_socket_fails_eagain,
        blocking_read_wakes_when_child_writes,
        msg_waitall_waits_for_the_whole_buffer,
        sendmsg_gathers_and_recvmsg_scatters_iovecs,
        send_bad_buffer_fails_efault,
        dgram_larger_than_sndbuf_fails_emsgsize,
        nonblocking_stream_fills_then_fails_eagain,
        abstract_listener_accepts_and_round_trips,
        seqpacket_listener_keeps_boundaries,
        path_bind_creates_socket_file_and_accepts,
        bind_existing_path_fails_eaddrinuse,
        bind_abstract_name_in_use_fails_eaddrinuse,
        bind_twice_fails_einval,
        bind_address_too_long_fails_einval,
        bind_bad_address_pointer_fails_efault,
        bind_family_only_autobinds_abstract_name,
        connect_to_unbound_abstract_name_fails_econnrefused,
        connect_to_missing_path_fails_enoent,
        connect_to_bound_but_not_listening_fails_econnrefused,
        connect_stream_to_dgram_abstract_name_fails_econnrefused,
        connect_stream_to_dgram_path_fails_eprototype,
        connect_twice_fails_eisconn,
        listen_on_unbound_socket_fails_einval,
        listen_on_dgram_fails_eopnotsupp,
        nonblocking_accept_without_pending_fails_eagain,
        accept_on_unlistened_socket_fails_einval,
        accept4_flags_set_cloexec_and_nonblock,
        accept4_unknown_flag_fails_einval,
        nonblocking_connect_to_full_backlog_fails_eagain,
        blocking_accept_wakes_when_child_connects,
        dgram_sendto_named_socket_and_recvfrom_reports_sender,
        dgram_connect_sets_default_destination,
        sendto_with_address_on_connected_stream_fails_eisconn,
        getsockname_of_unbound_socket_is_family_only,
        getsockname_reports_abstract_name_with_exact_length,
        getsockname_reports_path_with_nul,
        getsockname_short_buffer_reports_full_length,
        getpeername_of_client_is_listener_name,
        getpeername_of_unconnected_socket_fails_enotconn,
        so_type_reports_socket_type,
        so_domain_protocol_and_error,
        so_acceptconn_is_set_only_on_listeners,
        so_peercred_of_socketpair_is_the_creator,
        so_peercred_of_accepted_socket_is_the_connecting_process,
        so_sndbuf_and_rcvbuf_report_doubled_values,
        getsockopt_unknown_option_fails_enoprotoopt,
        setsockopt_short_optlen_fails_einval,
        poll_fresh_pair_is_writable_not_readable,
        poll_reports_pollin_after_peer_writes,
        poll_reports_pollhup_after_peer_close,
        poll_listener_is_readable_with_pending_connection,
        poll_blocks_until_child_writes,
        scm_rights_passes_pipe_fd_across_fork,
        scm_rights_msg_cmsg_cloexec_sets_fd_cloexec,
        scm_rights_short_control_buffer_sets_msg_ctrunc,
        scm_rights_without_control_buffer_sets_msg_ctrunc,
        scm_rights_bad_fd_fails_ebadf,
        so_passcred_delivers_scm_credentials,
        blocked_writer_fails_epipe_when_reader_closes,
        blocked_writer_resumes_when_reader_drains,
        blocking_connect_to_full_backlog_waits_for_accept,
        signal_interrupts_blocked_accept_with_eintr,
        closing_listener_gives_pending_client_eof,
        epoll_reports_socket_readable,
        scm_rights_messages_are_not_merged_on_a_stream,
        stream_read_glues_plain_bytes_with_a_following_scm_rights_message,
        closing_with_unread_data_resets_peer,
        so_error_reports_and_clears_a_reset,
        dgram_write_blocked_on_full_receiver_resumes_when_it_reads,
        so_peercred_of_unconnected_and_dgram_connected_socket_is_unset,
        open_of_socket_file_fails_enxio,
        unlinked_socket_path_can_be_bound_again,
        shutdown_rd_makes_empty_read_return_eof,
        msg_peek_on_dgram_returns_the_same_message_again,
        seqpacket_msg_trunc_returns_full_length,
        send_on_listening_socket_fails_enotconn,
        connect_from_listening_socket_fails_einval,
        accept_reports_unnamed_client_with_family_only_length,
        so_rcvtimeo_ends_blocking_recv_and_read_with_eagain,
        so_rcvtimeo_reads_back_as_set,
        so_rcvtimeo_ends_blocking_accept_with_eagain,
        so_sndtimeo_ends_blocked_write_with_eagain,
        so_rcvtimeo_usec_out_of_range_fails_edom,
        signal_interrupts_timed_recv_with_eintr_despite_sa_restart,
    ])
}
