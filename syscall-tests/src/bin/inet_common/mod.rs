//! Helpers shared by the `inet_*` conformance binaries (included with `#[path]`): raw inet
//! sockets, socket addresses as bytes, option get/set, and connected loopback pairs.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use syscall_tests::{Errno, Fd, check, fails_with, libc, succeeds, syscall};

/// A raw socket(2) (close-on-exec), failing the test if it cannot be made.
pub fn sock(domain: i32, ty: i32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_socket, domain, ty | libc::SOCK_CLOEXEC, 0),
        succeeds()
    ))
}

/// A TCP socket of AF_INET (`!v6`) or AF_INET6.
pub fn tcp(v6: bool) -> Result<Fd, String> {
    sock(domain(v6), libc::SOCK_STREAM)
}

/// A UDP socket of AF_INET (`!v6`) or AF_INET6.
pub fn udp(v6: bool) -> Result<Fd, String> {
    sock(domain(v6), libc::SOCK_DGRAM)
}

pub fn domain(v6: bool) -> i32 {
    if v6 { libc::AF_INET6 } else { libc::AF_INET }
}

/// The loopback address of a family with `port`.
pub fn lo(v6: bool, port: u16) -> SocketAddr {
    if v6 {
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0))
    } else {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
    }
}

/// `a` as a `sockaddr_in` / `sockaddr_in6`.
pub fn sa_bytes(a: SocketAddr) -> Vec<u8> {
    match a {
        SocketAddr::V4(v) => {
            let mut b = vec![0u8; 16];
            b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            b[2..4].copy_from_slice(&v.port().to_be_bytes());
            b[4..8].copy_from_slice(&v.ip().octets());
            b
        }
        SocketAddr::V6(v) => {
            let mut b = vec![0u8; 28];
            b[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            b[2..4].copy_from_slice(&v.port().to_be_bytes());
            b[8..24].copy_from_slice(&v.ip().octets());
            b
        }
    }
}

/// Decodes a `sockaddr_in` / `sockaddr_in6`.
pub fn sa_parse(b: &[u8]) -> Result<SocketAddr, String> {
    if b.len() < 2 {
        return Err(format!("short sockaddr {b:?}"));
    }
    let fam = i32::from(u16::from_ne_bytes([b[0], b[1]]));
    let port = u16::from_be_bytes([b[2], b[3]]);
    match fam {
        libc::AF_INET if b.len() >= 16 => Ok(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            port,
        ))),
        libc::AF_INET6 if b.len() >= 24 => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[8..24]);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                0,
                0,
            )))
        }
        _ => Err(format!("sockaddr of family {fam}, {} bytes", b.len())),
    }
}

/// bind(2), returning the raw result (-1 and errno on failure).
pub fn bind_raw(fd: &Fd, a: SocketAddr) -> i64 {
    let b = sa_bytes(a);
    syscall!(libc::SYS_bind, fd.raw(), b.as_ptr(), b.len())
}

/// bind(2) that must succeed.
pub fn bind(fd: &Fd, a: SocketAddr) -> Result<(), String> {
    check!(bind_raw(fd, a), succeeds());
    Ok(())
}

/// connect(2), returning the raw result.
pub fn connect_raw(fd: &Fd, a: SocketAddr) -> i64 {
    let b = sa_bytes(a);
    syscall!(libc::SYS_connect, fd.raw(), b.as_ptr(), b.len())
}

/// connect(2) that must succeed.
pub fn connect(fd: &Fd, a: SocketAddr) -> Result<(), String> {
    check!(connect_raw(fd, a), succeeds());
    Ok(())
}

/// getsockname(2) / getpeername(2) (`peer`) as an address.
pub fn name_of(fd: &Fd, peer: bool) -> Result<SocketAddr, String> {
    let mut b = [0u8; 128];
    let mut len: u32 = 128;
    let nr = if peer {
        libc::SYS_getpeername
    } else {
        libc::SYS_getsockname
    };
    check!(
        syscall!(nr, fd.raw(), b.as_mut_ptr(), &mut len as *mut u32),
        succeeds()
    );
    sa_parse(&b[..(len as usize).min(128)])
}

pub fn local(fd: &Fd) -> Result<SocketAddr, String> {
    name_of(fd, false)
}

pub fn peer(fd: &Fd) -> Result<SocketAddr, String> {
    name_of(fd, true)
}

/// A listening TCP socket on loopback (port picked by the kernel) and its address.
pub fn listener(v6: bool, backlog: i32) -> Result<(Fd, SocketAddr), String> {
    let l = tcp(v6)?;
    bind(&l, lo(v6, 0))?;
    check!(syscall!(libc::SYS_listen, l.raw(), backlog), succeeds());
    let a = local(&l)?;
    Ok((l, a))
}

/// accept4(2) that must succeed.
pub fn accept(l: &Fd, flags: i32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_accept4, l.raw(), 0usize, 0usize, flags),
        succeeds()
    ))
}

/// A connected TCP pair over loopback: (client, server side).
pub fn tcp_pair(v6: bool) -> Result<(Fd, Fd), String> {
    let (l, a) = listener(v6, 8)?;
    let c = tcp(v6)?;
    connect(&c, a)?;
    let s = accept(&l, libc::SOCK_CLOEXEC)?;
    Ok((c, s))
}

/// Two UDP sockets bound on loopback, each connected to the other.
pub fn udp_pair(v6: bool) -> Result<(Fd, Fd), String> {
    let a = udp(v6)?;
    let b = udp(v6)?;
    bind(&a, lo(v6, 0))?;
    bind(&b, lo(v6, 0))?;
    connect(&a, local(&b)?)?;
    connect(&b, local(&a)?)?;
    Ok((a, b))
}

/// setsockopt(2) with raw bytes, returning the raw result.
pub fn setsockopt_raw(fd: &Fd, level: i32, name: i32, v: &[u8]) -> i64 {
    syscall!(
        libc::SYS_setsockopt,
        fd.raw(),
        level,
        name,
        v.as_ptr(),
        v.len()
    )
}

/// setsockopt(2) of an int, returning the raw result.
pub fn setsockopt_int_raw(fd: &Fd, level: i32, name: i32, v: i32) -> i64 {
    setsockopt_raw(fd, level, name, &v.to_ne_bytes())
}

/// setsockopt(2) of an int that must succeed.
pub fn set_int(fd: &Fd, level: i32, name: i32, v: i32) -> Result<(), String> {
    check!(setsockopt_int_raw(fd, level, name, v), succeeds());
    Ok(())
}

/// setsockopt(2) of an int that must fail with `e`.
pub fn set_int_fails(fd: &Fd, level: i32, name: i32, v: i32, e: Errno) -> Result<(), String> {
    check!(setsockopt_int_raw(fd, level, name, v), fails_with(e));
    Ok(())
}

/// getsockopt(2) into a `cap`-byte buffer: the bytes the kernel reported.
pub fn get_bytes(fd: &Fd, level: i32, name: i32, cap: usize) -> Result<Vec<u8>, String> {
    let mut b = vec![0u8; cap];
    let mut len = cap as u32;
    check!(
        syscall!(
            libc::SYS_getsockopt,
            fd.raw(),
            level,
            name,
            b.as_mut_ptr(),
            &mut len as *mut u32
        ),
        succeeds()
    );
    b.truncate(len as usize);
    Ok(b)
}

/// getsockopt(2) of an int.
pub fn get_int(fd: &Fd, level: i32, name: i32) -> Result<i32, String> {
    let b = get_bytes(fd, level, name, 4)?;
    if b.len() != 4 {
        return Err(format!("option {level}/{name} is {} bytes", b.len()));
    }
    Ok(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// getsockopt(2) that must fail with `e`.
pub fn get_fails(fd: &Fd, level: i32, name: i32, e: Errno) -> Result<(), String> {
    let mut v = 0i32;
    let mut len: u32 = 4;
    check!(
        syscall!(
            libc::SYS_getsockopt,
            fd.raw(),
            level,
            name,
            &mut v as *mut i32,
            &mut len as *mut u32
        ),
        fails_with(e)
    );
    Ok(())
}

/// A `struct timeval` option value.
pub fn timeval(d: Duration) -> Vec<u8> {
    let mut v = i64::try_from(d.as_secs())
        .unwrap_or(i64::MAX)
        .to_ne_bytes()
        .to_vec();
    v.extend_from_slice(&i64::from(d.subsec_micros()).to_ne_bytes());
    v
}

/// Sets SO_RCVTIMEO or SO_SNDTIMEO.
pub fn set_timeout(fd: &Fd, name: i32, d: Duration) -> Result<(), String> {
    check!(
        setsockopt_raw(fd, libc::SOL_SOCKET, name, &timeval(d)),
        succeeds()
    );
    Ok(())
}

/// send(2) (sendto without an address), returning the raw result.
pub fn send(fd: &Fd, data: &[u8], flags: i32) -> i64 {
    syscall!(
        libc::SYS_sendto,
        fd.raw(),
        data.as_ptr(),
        data.len(),
        flags,
        0usize,
        0usize
    )
}

/// sendto(2) to `to`, returning the raw result.
pub fn send_to(fd: &Fd, data: &[u8], to: SocketAddr, flags: i32) -> i64 {
    let b = sa_bytes(to);
    syscall!(
        libc::SYS_sendto,
        fd.raw(),
        data.as_ptr(),
        data.len(),
        flags,
        b.as_ptr(),
        b.len()
    )
}

/// recv(2) into `buf`, returning the raw result.
pub fn recv(fd: &Fd, buf: &mut [u8], flags: i32) -> i64 {
    syscall!(
        libc::SYS_recvfrom,
        fd.raw(),
        buf.as_mut_ptr(),
        buf.len(),
        flags,
        0usize,
        0usize
    )
}

/// Sends all of `data` on a stream (blocking), failing the test on an error.
pub fn send_all(fd: &Fd, data: &[u8]) -> Result<(), String> {
    let mut off = 0;
    while off < data.len() {
        let n = check!(send(fd, &data[off..], libc::MSG_NOSIGNAL), succeeds());
        off += n as usize;
    }
    Ok(())
}

/// Receives exactly `n` bytes from a stream (blocking).
pub fn recv_exact(fd: &Fd, n: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; n];
    let mut off = 0;
    while off < n {
        let r = check!(recv(fd, &mut out[off..], 0), succeeds());
        if r == 0 {
            return Err(format!("EOF after {off} of {n} bytes"));
        }
        off += r as usize;
    }
    Ok(out)
}

/// Fills a stream's send path (non-blocking sends until EAGAIN); returns the bytes queued.
pub fn fill(fd: &Fd) -> Result<usize, String> {
    let chunk = vec![0x5au8; 65536];
    let mut total = 0usize;
    loop {
        let r = send(fd, &chunk, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
        if r < 0 {
            let e = syscall_tests::last_errno();
            if e == libc::EAGAIN {
                return Ok(total);
            }
            return Err(format!("send while filling: errno {e}"));
        }
        total += r as usize;
        if total > (256 << 20) {
            return Err("the send path never filled".into());
        }
    }
}

/// Waits until `cond` holds (polling every 5 ms), for at most 5 s.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// The file status flags (F_GETFL) of `fd`.
pub fn fl(fd: &Fd) -> Result<i64, String> {
    Ok(check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFL),
        succeeds()
    ))
}

/// The descriptor flags (F_GETFD) of `fd`.
pub fn fdflags(fd: &Fd) -> Result<i64, String> {
    Ok(check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD),
        succeeds()
    ))
}

/// An int from an ioctl (FIONREAD, SIOCOUTQ, ...).
pub fn ioctl_int(fd: &Fd, req: u64) -> Result<i32, String> {
    let mut n: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, fd.raw(), req, &mut n as *mut i32),
        succeeds()
    );
    Ok(n)
}
