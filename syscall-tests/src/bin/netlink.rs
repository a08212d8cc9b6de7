//! AF_NETLINK NETLINK_ROUTE (netlink(7), rtnetlink(7)): sockets, addresses, and the dumps
//! `ip` and getifaddrs(3) read; the SIOCGIF* interface requests (netdevice(7)) on a socket of
//! another family, which if_nametoindex(3) and ifconfig use. Only facts true on any Linux host are asserted (the loopback
//! interface is index 1 with 127.0.0.1/8; other interfaces may exist natively).
#![deny(unsafe_code)]

use syscall_tests::libc;
use syscall_tests::{
    Errno, Fd, Outcome, check, ensure, ensure_eq, fails_with, poll_one, run_tests, succeeds,
    syscall, tests,
};

const NETLINK_ROUTE: i32 = 0;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFF_UP: u32 = 1;
const IFF_LOOPBACK: u32 = 8;

fn nl_socket(flags: i32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(
            libc::SYS_socket,
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | flags,
            NETLINK_ROUTE
        ),
        succeeds()
    ))
}

/// A `sockaddr_nl` for `port`.
fn sockaddr(port: u32) -> [u8; 12] {
    let mut a = [0u8; 12];
    a[..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
    a[4..8].copy_from_slice(&port.to_ne_bytes());
    a
}

fn bind(fd: &Fd, port: u32) -> i64 {
    let a = sockaddr(port);
    syscall!(libc::SYS_bind, fd.raw(), a.as_ptr(), 12)
}

/// Our port id, from getsockname.
fn port_of(fd: &Fd) -> Result<u32, String> {
    let mut a = [0u8; 12];
    let mut len: u32 = 12;
    check!(
        syscall!(
            libc::SYS_getsockname,
            fd.raw(),
            a.as_mut_ptr(),
            &mut len as *mut u32
        ),
        succeeds()
    );
    ensure_eq!(len, 12);
    ensure_eq!(u16::from_ne_bytes([a[0], a[1]]), libc::AF_NETLINK as u16);
    Ok(u32::from_ne_bytes([a[4], a[5], a[6], a[7]]))
}

/// A request: header, then `body`.
fn request(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = 16 + body.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    m
}

fn send(fd: &Fd, msg: &[u8]) -> Outcome {
    let to = sockaddr(0);
    check!(
        syscall!(
            libc::SYS_sendto,
            fd.raw(),
            msg.as_ptr(),
            msg.len(),
            0,
            to.as_ptr(),
            12
        ),
        succeeds()
    );
    Ok(())
}

/// One parsed message: (type, flags, seq, pid, body).
type NlMsg = (u16, u16, u32, u32, Vec<u8>);

fn parse(buf: &[u8]) -> Vec<NlMsg> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let fl = u16::from_ne_bytes([buf[off + 6], buf[off + 7]]);
        let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
        let pid = u32::from_ne_bytes(buf[off + 12..off + 16].try_into().unwrap());
        out.push((ty, fl, seq, pid, buf[off + 16..off + len].to_vec()));
        off += (len + 3) & !3;
    }
    out
}

/// Receives messages until NLMSG_DONE or an NLMSG_ERROR (at most 1000 datagrams).
fn collect(fd: &Fd) -> Result<Vec<NlMsg>, String> {
    let mut all = Vec::new();
    for _ in 0..1000 {
        let mut buf = vec![0u8; 32768];
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
        let msgs = parse(&buf[..n as usize]);
        let end = msgs.iter().any(|m| m.0 == NLMSG_DONE || m.0 == NLMSG_ERROR);
        all.extend(msgs);
        if end {
            return Ok(all);
        }
    }
    Err("no NLMSG_DONE after 1000 datagrams".into())
}

/// The attributes of a message body after a `skip`-byte family header: (type, data).
fn attrs(body: &[u8], skip: usize) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = skip;
    while off + 4 <= body.len() {
        let len = u16::from_ne_bytes([body[off], body[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([body[off + 2], body[off + 3]]);
        if len < 4 || off + len > body.len() {
            break;
        }
        out.push((ty, body[off + 4..off + len].to_vec()));
        off += (len + 3) & !3;
    }
    out
}

fn socket_raw_and_dgram_work() -> Outcome {
    for ty in [libc::SOCK_RAW, libc::SOCK_DGRAM] {
        let fd = Fd::from_ret(check!(
            syscall!(libc::SYS_socket, libc::AF_NETLINK, ty, NETLINK_ROUTE),
            succeeds()
        ))?;
        let mut v: i32 = 0;
        let mut len: u32 = 4;
        check!(
            syscall!(
                libc::SYS_getsockopt,
                fd.raw(),
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                &mut v as *mut i32,
                &mut len as *mut u32
            ),
            succeeds()
        );
        ensure_eq!(v, ty);
    }
    Ok(())
}

fn stream_sockets_are_esocktnosupport() -> Outcome {
    check!(
        syscall!(
            libc::SYS_socket,
            libc::AF_NETLINK,
            libc::SOCK_STREAM,
            NETLINK_ROUTE
        ),
        fails_with(Errno::ESOCKTNOSUPPORT)
    );
    Ok(())
}

fn unknown_protocol_is_eprotonosupport() -> Outcome {
    check!(
        syscall!(libc::SYS_socket, libc::AF_NETLINK, libc::SOCK_RAW, 25),
        fails_with(Errno::EPROTONOSUPPORT)
    );
    Ok(())
}

fn unbound_socket_has_port_zero() -> Outcome {
    let fd = nl_socket(0)?;
    ensure_eq!(port_of(&fd)?, 0);
    Ok(())
}

fn bind_zero_picks_a_port() -> Outcome {
    let fd = nl_socket(0)?;
    check!(bind(&fd, 0), succeeds());
    ensure!(port_of(&fd)? != 0, "port 0 after bind");
    Ok(())
}

fn binding_a_taken_port_is_eaddrinuse() -> Outcome {
    let a = nl_socket(0)?;
    check!(bind(&a, 0), succeeds());
    let p = port_of(&a)?;
    let b = nl_socket(0)?;
    check!(bind(&b, p), fails_with(Errno::EADDRINUSE));
    Ok(())
}

fn bind_with_a_short_address_is_einval() -> Outcome {
    let fd = nl_socket(0)?;
    let a = sockaddr(0);
    check!(
        syscall!(libc::SYS_bind, fd.raw(), a.as_ptr(), 4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn send_autobinds() -> Outcome {
    let fd = nl_socket(0)?;
    send(
        &fd,
        &request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, &[0u8; 16]),
    )?;
    ensure!(port_of(&fd)? != 0, "no port after a send");
    let _ = collect(&fd)?;
    Ok(())
}

fn link_dump_has_lo_as_index_1_and_ends_with_done() -> Outcome {
    let fd = nl_socket(0)?;
    check!(bind(&fd, 0), succeeds());
    let port = port_of(&fd)?;
    send(
        &fd,
        &request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 77, &[0u8; 16]),
    )?;
    let msgs = collect(&fd)?;
    ensure_eq!(msgs.last().map(|m| m.0), Some(NLMSG_DONE));
    let mut found = false;
    for (ty, _, seq, pid, body) in &msgs {
        ensure_eq!(*seq, 77);
        ensure_eq!(*pid, port);
        if *ty != RTM_NEWLINK {
            continue;
        }
        let index = i32::from_ne_bytes(body[4..8].try_into().unwrap());
        let flags = u32::from_ne_bytes(body[8..12].try_into().unwrap());
        let name = attrs(body, 16).into_iter().find(|a| a.0 == 3).map(|a| a.1);
        if name.as_deref() == Some(b"lo\0") {
            ensure_eq!(index, 1);
            ensure!(
                flags & (IFF_UP | IFF_LOOPBACK) == IFF_UP | IFF_LOOPBACK,
                "lo flags {flags:#x}"
            );
            found = true;
        }
    }
    ensure!(found, "no lo in the link dump");
    Ok(())
}

fn addr_dump_has_127_0_0_1_slash_8() -> Outcome {
    let fd = nl_socket(0)?;
    send(
        &fd,
        &request(
            RTM_GETADDR,
            NLM_F_REQUEST | NLM_F_DUMP,
            5,
            &[libc::AF_INET as u8, 0, 0, 0, 0, 0, 0, 0],
        ),
    )?;
    let msgs = collect(&fd)?;
    let mut found = false;
    for (ty, _, _, _, body) in &msgs {
        if *ty != RTM_NEWADDR {
            continue;
        }
        ensure_eq!(
            body[0],
            libc::AF_INET as u8,
            "an AF_INET dump returned another family"
        );
        let addr = attrs(body, 8).into_iter().find(|a| a.0 == 2).map(|a| a.1);
        if addr.as_deref() == Some(&[127, 0, 0, 1][..]) {
            ensure_eq!(body[1], 8);
            ensure_eq!(u32::from_ne_bytes(body[4..8].try_into().unwrap()), 1);
            found = true;
        }
    }
    ensure!(found, "no 127.0.0.1 in the address dump");
    Ok(())
}

fn ipv6_addr_dump_has_loopback() -> Outcome {
    let fd = nl_socket(0)?;
    send(
        &fd,
        &request(
            RTM_GETADDR,
            NLM_F_REQUEST | NLM_F_DUMP,
            6,
            &[libc::AF_INET6 as u8, 0, 0, 0, 0, 0, 0, 0],
        ),
    )?;
    let msgs = collect(&fd)?;
    let lo6: [u8; 16] = std::net::Ipv6Addr::LOCALHOST.octets();
    let found = msgs.iter().any(|(ty, _, _, _, body)| {
        *ty == RTM_NEWADDR
            && body[1] == 128
            && attrs(body, 8).iter().any(|a| a.0 == 1 && a.1 == lo6)
    });
    ensure!(found, "no ::1/128 in the IPv6 address dump");
    Ok(())
}

fn getlink_of_index_1_without_dump() -> Outcome {
    let fd = nl_socket(0)?;
    let mut body = [0u8; 16];
    body[4..8].copy_from_slice(&1i32.to_ne_bytes());
    send(&fd, &request(RTM_GETLINK, NLM_F_REQUEST, 9, &body))?;
    let mut buf = vec![0u8; 8192];
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
    let msgs = parse(&buf[..n as usize]);
    ensure_eq!(msgs.first().map(|m| m.0), Some(RTM_NEWLINK));
    Ok(())
}

fn unknown_message_type_gets_eopnotsupp() -> Outcome {
    let fd = nl_socket(0)?;
    send(
        &fd,
        &request(0x3000, NLM_F_REQUEST | NLM_F_ACK, 11, &[0u8; 16]),
    )?;
    let msgs = collect(&fd)?;
    let (ty, _, seq, _, body) = msgs.last().cloned().ok_or("no answer")?;
    ensure_eq!(ty, NLMSG_ERROR);
    ensure_eq!(seq, 11);
    ensure_eq!(
        i32::from_ne_bytes(body[..4].try_into().unwrap()),
        -libc::EOPNOTSUPP
    );
    Ok(())
}

fn peek_with_trunc_reports_the_full_length() -> Outcome {
    let fd = nl_socket(0)?;
    send(
        &fd,
        &request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 2, &[0u8; 16]),
    )?;
    let full = check!(
        syscall!(
            libc::SYS_recvfrom,
            fd.raw(),
            std::ptr::null_mut::<u8>(),
            0,
            libc::MSG_PEEK | libc::MSG_TRUNC,
            0,
            0
        ),
        succeeds()
    );
    ensure!(full >= 16, "MSG_PEEK|MSG_TRUNC gave {full}");
    let mut buf = vec![0u8; full as usize];
    let got = check!(
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
    ensure_eq!(got, full);
    ensure_eq!(
        u32::from_ne_bytes(buf[..4].try_into().unwrap()) as i64 <= full,
        true
    );
    let _ = collect(&fd)?;
    Ok(())
}

fn empty_nonblocking_receive_is_eagain() -> Outcome {
    let fd = nl_socket(libc::SOCK_NONBLOCK)?;
    let mut buf = [0u8; 64];
    check!(
        syscall!(
            libc::SYS_recvfrom,
            fd.raw(),
            buf.as_mut_ptr(),
            buf.len(),
            0,
            0,
            0
        ),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn poll_reports_readable_after_a_request() -> Outcome {
    let fd = nl_socket(libc::SOCK_NONBLOCK)?;
    ensure_eq!(poll_one(fd.raw(), libc::POLLIN, 0)?.0, 0);
    send(
        &fd,
        &request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 3, &[0u8; 16]),
    )?;
    let (n, revents) = poll_one(fd.raw(), libc::POLLIN, 1000)?;
    ensure_eq!(n, 1);
    ensure!(revents & libc::POLLIN != 0, "revents {:#x}", revents);
    Ok(())
}

fn listen_is_eopnotsupp() -> Outcome {
    let fd = nl_socket(0)?;
    check!(
        syscall!(libc::SYS_listen, fd.raw(), 1),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

// ---- SIOCGIF* on a socket of another family (netdevice(7)) ----

const SIOCGIFNAME: u64 = 0x8910;
const SIOCGIFCONF: u64 = 0x8912;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCGIFMTU: u64 = 0x8921;
const SIOCGIFINDEX: u64 = 0x8933;

fn unix_dgram() -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(
            libc::SYS_socket,
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0
        ),
        succeeds()
    ))
}

fn ifreq(name: &[u8]) -> [u8; 40] {
    let mut r = [0u8; 40];
    r[..name.len()].copy_from_slice(name);
    r
}

fn ifindex_of_lo_is_1() -> Outcome {
    let s = unix_dgram()?;
    let mut r = ifreq(b"lo");
    check!(
        syscall!(libc::SYS_ioctl, s.raw(), SIOCGIFINDEX, r.as_mut_ptr()),
        succeeds()
    );
    ensure_eq!(i32::from_ne_bytes(r[16..20].try_into().unwrap()), 1);
    Ok(())
}

fn ifname_of_index_1_is_lo() -> Outcome {
    let s = unix_dgram()?;
    let mut r = [0u8; 40];
    r[16..20].copy_from_slice(&1i32.to_ne_bytes());
    check!(
        syscall!(libc::SYS_ioctl, s.raw(), SIOCGIFNAME, r.as_mut_ptr()),
        succeeds()
    );
    ensure_eq!(&r[..3], b"lo\0");
    Ok(())
}

fn unknown_interface_is_enodev() -> Outcome {
    let s = unix_dgram()?;
    let mut r = ifreq(b"no-such-if0");
    check!(
        syscall!(libc::SYS_ioctl, s.raw(), SIOCGIFINDEX, r.as_mut_ptr()),
        fails_with(Errno::ENODEV)
    );
    Ok(())
}

fn lo_flags_and_mtu() -> Outcome {
    let s = unix_dgram()?;
    let mut r = ifreq(b"lo");
    check!(
        syscall!(libc::SYS_ioctl, s.raw(), SIOCGIFFLAGS, r.as_mut_ptr()),
        succeeds()
    );
    let flags = u16::from_ne_bytes([r[16], r[17]]) as u32;
    ensure!(
        flags & (IFF_UP | IFF_LOOPBACK) == IFF_UP | IFF_LOOPBACK,
        "flags {flags:#x}"
    );
    let mut r = ifreq(b"lo");
    check!(
        syscall!(libc::SYS_ioctl, s.raw(), SIOCGIFMTU, r.as_mut_ptr()),
        succeeds()
    );
    ensure!(
        i32::from_ne_bytes(r[16..20].try_into().unwrap()) >= 1280,
        "lo mtu too small"
    );
    Ok(())
}

fn ipv4_address_requests_need_an_inet_socket() -> Outcome {
    let s = unix_dgram()?;
    let mut r = ifreq(b"lo");
    check!(
        syscall!(libc::SYS_ioctl, s.raw(), SIOCGIFADDR, r.as_mut_ptr()),
        fails_with(Errno::ENOTTY)
    );
    Ok(())
}

fn ifconf_lists_lo_with_127_0_0_1() -> Outcome {
    let s = unix_dgram()?;
    let mut buf = vec![0u8; 40 * 64];
    let mut conf = [0u8; 16];
    conf[..4].copy_from_slice(&i32::try_from(buf.len()).unwrap().to_ne_bytes());
    conf[8..16].copy_from_slice(&(buf.as_mut_ptr() as u64).to_ne_bytes());
    check!(
        syscall!(libc::SYS_ioctl, s.raw(), SIOCGIFCONF, conf.as_mut_ptr()),
        succeeds()
    );
    let len = i32::from_ne_bytes(conf[..4].try_into().unwrap()) as usize;
    ensure_eq!(len % 40, 0);
    let found = buf[..len]
        .chunks(40)
        .any(|r| &r[..3] == b"lo\0" && r[20..24] == [127, 0, 0, 1]);
    ensure!(found, "lo 127.0.0.1 not in SIOCGIFCONF");
    Ok(())
}

fn main() -> std::process::ExitCode {
    run_tests(tests![
        socket_raw_and_dgram_work,
        stream_sockets_are_esocktnosupport,
        unknown_protocol_is_eprotonosupport,
        unbound_socket_has_port_zero,
        bind_zero_picks_a_port,
        binding_a_taken_port_is_eaddrinuse,
        bind_with_a_short_address_is_einval,
        send_autobinds,
        link_dump_has_lo_as_index_1_and_ends_with_done,
        addr_dump_has_127_0_0_1_slash_8,
        ipv6_addr_dump_has_loopback,
        getlink_of_index_1_without_dump,
        unknown_message_type_gets_eopnotsupp,
        peek_with_trunc_reports_the_full_length,
        empty_nonblocking_receive_is_eagain,
        poll_reports_readable_after_a_request,
        listen_is_eopnotsupp,
        ifindex_of_lo_is_1,
        ifname_of_index_1_is_lo,
        unknown_interface_is_enodev,
        lo_flags_and_mtu,
        ipv4_address_requests_need_an_inet_socket,
        ifconf_lists_lo_with_127_0_0_1,
    ])
}
