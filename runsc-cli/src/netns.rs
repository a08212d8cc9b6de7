//! The container's network namespace as the host kernel configured it: what the sandbox takes
//! over in `--network=sandbox` (the networking issue). [`scan`] asks the host kernel, through a
//! NETLINK_ROUTE socket in the calling thread's network namespace, for the interfaces (name,
//! index, flags, MTU, MAC, addresses) and the routes (destination, prefix, gateway,
//! interface, table) — Docker's libnetwork has put a veth with the container's address there
//! by the time the create hooks return.
//!
//! [`take_over`] then hands each Ethernet interface to the sandbox's netstack (an AF_PACKET
//! socket, its addresses and routes) and removes the addresses from the host kernel's copy.
//!
//! Neighbours: `cmd_oci.rs` enters the namespace and, once the create hooks have wired it,
//! calls [`take_over`] with the sandbox kernel's stack. No locks; short-lived netlink sockets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd as _;

use anyhow::{Context as _, bail};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

/// One interface of the namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInterface {
    pub index: i32,
    pub name: String,
    /// IFF_* flags.
    pub flags: u32,
    pub mtu: u32,
    /// The hardware address (empty if none).
    pub mac: Vec<u8>,
    /// Addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
}

/// One route of the namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRoute {
    /// The destination (0.0.0.0 or :: with prefix 0 for a default route).
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    /// The output interface's index (0 if none).
    pub oif: i32,
    /// The routing table (254: main, 255: local).
    pub table: u32,
}

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_ACK: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 1;
const IFF_LOOPBACK: u32 = 8;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;

/// A NETLINK_ROUTE socket in the calling thread's network namespace.
fn route_socket() -> anyhow::Result<std::os::fd::OwnedFd> {
    socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .context("opening a netlink route socket")
}

/// The interfaces and routes of the calling thread's network namespace.
pub fn scan() -> anyhow::Result<(Vec<HostInterface>, Vec<HostRoute>)> {
    let sock = route_socket()?;
    let mut ifaces: Vec<HostInterface> = Vec::new();
    for (ty, m) in dump(&sock, RTM_GETLINK, 16, 1)? {
        if ty == RTM_NEWLINK
            && let Some(i) = parse_link(&m)
        {
            ifaces.push(i);
        }
    }
    for (ty, m) in dump(&sock, RTM_GETADDR, 8, 2)? {
        if ty != RTM_NEWADDR {
            continue;
        }
        if let Some((index, addr, prefix)) = parse_addr(&m)
            && let Some(i) = ifaces.iter_mut().find(|i| i.index == index)
        {
            i.addrs.push((addr, prefix));
        }
    }
    let mut routes = Vec::new();
    for (ty, m) in dump(&sock, RTM_GETROUTE, 12, 3)? {
        if ty == RTM_NEWROUTE
            && let Some(r) = parse_route(&m)
        {
            routes.push(r);
        }
    }
    Ok((ifaces, routes))
}

/// What [`take_over`] did with one interface (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenOver {
    pub name: String,
    pub addrs: Vec<(IpAddr, u8)>,
}

/// Gives the sandbox's stack every Ethernet interface of the calling thread's network
/// namespace that is up and has an IPv4 address: an AF_PACKET socket on it, its IPv4
/// addresses, MTU, MAC and main-table routes. Then removes every address from the host
/// kernel's copy of the interface (and turns IPv6 off on it) so the host stack in this
/// namespace neither answers for the container's addresses nor sees its connections: from
/// then on the host kernel moves frames only. Loopback stays the host's (the sandbox has its
/// own). Returns what it took over.
pub fn take_over(stack: &std::sync::Arc<netstack::Stack>) -> anyhow::Result<Vec<TakenOver>> {
    let (ifaces, routes) = scan()?;
    let sock = route_socket()?;
    let mut taken = Vec::new();
    for (n, i) in ifaces.iter().enumerate() {
        let v4: Vec<(IpAddr, u8)> = i
            .addrs
            .iter()
            .filter(|(a, _)| a.is_ipv4())
            .copied()
            .collect();
        if i.flags & IFF_LOOPBACK != 0 || i.flags & IFF_UP == 0 || i.mac.len() != 6 || v4.is_empty()
        {
            continue;
        }
        let index = u32::try_from(i.index).context("interface index")?;
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&i.mac);
        let own: Vec<netstack::RouteInfo> = routes
            .iter()
            .filter(|r| r.table == 254 && r.oif == i.index && r.dst.is_ipv4())
            .map(|r| netstack::RouteInfo {
                dst: r.dst,
                prefix: r.prefix,
                gateway: r.gateway,
                ifindex: index,
            })
            .collect();
        let socket = netstack::PacketSocket::open(index)
            .map_err(|e| anyhow::anyhow!("opening a packet socket on {}: {e}", i.name))?;
        stack
            .attach_ethernet(netstack::EthernetConfig {
                name: i.name.clone(),
                index,
                mac,
                mtu: i.mtu,
                addrs: v4.clone(),
                routes: own,
                socket,
            })
            .map_err(|e| anyhow::anyhow!("attaching {} to the sandbox: {e}", i.name))?;
        for (k, (addr, prefix)) in i.addrs.iter().enumerate() {
            let seq = 100 + u32::try_from(n * 64 + k).unwrap_or(0);
            delete_address(&sock, i.index, *addr, *prefix, seq)
                .with_context(|| format!("removing {addr}/{prefix} from the host's {}", i.name))?;
        }
        // The kernel would otherwise keep a link-local IPv6 address and answer neighbour
        // discovery; best effort (IPv6 may be off in this namespace already).
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", i.name),
            "1",
        );
        taken.push(TakenOver {
            name: i.name.clone(),
            addrs: v4,
        });
    }
    Ok(taken)
}

/// `RTM_DELADDR` of `addr`/`prefix` on interface `index`, waiting for the kernel's ack.
fn delete_address(
    sock: &std::os::fd::OwnedFd,
    index: i32,
    addr: IpAddr,
    prefix: u8,
    seq: u32,
) -> anyhow::Result<()> {
    let (family, bytes): (u8, Vec<u8>) = match addr {
        IpAddr::V4(a) => (2, a.octets().to_vec()),
        IpAddr::V6(a) => (10, a.octets().to_vec()),
    };
    let mut body = vec![family, prefix, 0, 0];
    body.extend_from_slice(&index.to_ne_bytes());
    for ty in [IFA_LOCAL, IFA_ADDRESS] {
        let len = u16::try_from(4 + bytes.len()).unwrap_or(0);
        body.extend_from_slice(&len.to_ne_bytes());
        body.extend_from_slice(&ty.to_ne_bytes());
        body.extend_from_slice(&bytes);
    }
    let len = 16 + body.len();
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&u32::try_from(len).unwrap_or(0).to_ne_bytes());
    req.extend_from_slice(&RTM_DELADDR.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&body);
    sendto(
        sock.as_raw_fd(),
        &req,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .context("sending RTM_DELADDR")?;
    let mut buf = vec![0u8; 8192];
    for _ in 0..100 {
        let n = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()).context("reading the ack")?;
        let mut off = 0usize;
        while off + 20 <= n {
            let mlen = u32_at(&buf, off) as usize;
            if mlen < 16 || off + mlen > n {
                bail!("malformed netlink answer");
            }
            if u16_at(&buf, off + 4) == NLMSG_ERROR && u32_at(&buf, off + 8) == seq {
                let e = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap_or([0; 4]));
                // EADDRNOTAVAIL: already gone (removing an IPv4 primary drops secondaries).
                if e != 0 && e != -libc::EADDRNOTAVAIL {
                    bail!("{}", std::io::Error::from_raw_os_error(-e));
                }
                return Ok(());
            }
            off += (mlen + 3) & !3;
        }
    }
    bail!("no ack for RTM_DELADDR")
}

/// Sends a dump request of `ty` (with a zeroed family header of `hdr_len` bytes) and returns
/// the answers' (type, body) until NLMSG_DONE.
fn dump(
    sock: &std::os::fd::OwnedFd,
    ty: u16,
    hdr_len: usize,
    seq: u32,
) -> anyhow::Result<Vec<(u16, Vec<u8>)>> {
    let len = 16 + hdr_len;
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&u32::try_from(len).unwrap_or(0).to_ne_bytes());
    req.extend_from_slice(&ty.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.resize(len, 0);
    sendto(
        sock.as_raw_fd(),
        &req,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .context("sending a netlink dump request")?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // A dump of a namespace is small; bound the loop all the same.
    for _ in 0..10_000 {
        let n = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty())
            .context("reading a netlink dump")?;
        let mut off = 0usize;
        while let Some(h) = buf.get(off..off + 16).filter(|_| off + 16 <= n) {
            let mlen = u32_at(h, 0) as usize;
            let mty = u16_at(h, 4);
            if mlen < 16 || off + mlen > n {
                bail!("malformed netlink answer");
            }
            if u32_at(h, 8) == seq {
                match mty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let e = buf
                            .get(off + 16..off + 20)
                            .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap_or([0; 4])));
                        if e != 0 {
                            bail!("netlink dump: {}", std::io::Error::from_raw_os_error(-e));
                        }
                    }
                    _ => out.push((
                        mty,
                        buf.get(off + 16..off + mlen).unwrap_or_default().to_vec(),
                    )),
                }
            }
            off += (mlen + 3) & !3;
        }
    }
    bail!("netlink dump did not end")
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    b.get(i..i + 2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map_or(0, u16::from_ne_bytes)
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    b.get(i..i + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_ne_bytes)
}

/// The attributes after a `skip`-byte family header: (type, data).
fn attrs(body: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = skip;
    while off + 4 <= body.len() {
        let len = usize::from(u16_at(body, off));
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER live in the top bits of the type.
        let ty = u16_at(body, off + 2) & 0x3fff;
        if len < 4 || off + len > body.len() {
            break;
        }
        out.push((ty, body.get(off + 4..off + len).unwrap_or_default()));
        off += (len + 3) & !3;
    }
    out
}

fn ip_from(family: u8, b: &[u8]) -> Option<IpAddr> {
    match family {
        2 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        10 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

fn parse_link(m: &[u8]) -> Option<HostInterface> {
    if m.len() < 16 {
        return None;
    }
    let index = i32::from_ne_bytes(m.get(4..8)?.try_into().ok()?);
    let flags = u32_at(m, 8);
    let mut i = HostInterface {
        index,
        name: String::new(),
        flags,
        mtu: 0,
        mac: Vec::new(),
        addrs: Vec::new(),
    };
    for (ty, v) in attrs(m, 16) {
        match ty {
            1 => i.mac = v.to_vec(),
            3 => i.name = String::from_utf8_lossy(v.split(|&b| b == 0).next().unwrap_or(v)).into(),
            4 => i.mtu = u32_at(v, 0),
            _ => {}
        }
    }
    Some(i)
}

fn parse_addr(m: &[u8]) -> Option<(i32, IpAddr, u8)> {
    let family = *m.first()?;
    let prefix = *m.get(1)?;
    let index = i32::from_ne_bytes(m.get(4..8)?.try_into().ok()?);
    let a = attrs(m, 8);
    // IFA_LOCAL is the interface's own address on point-to-point links; else IFA_ADDRESS.
    let pick = |t| {
        a.iter()
            .find(|(ty, _)| *ty == t)
            .and_then(|(_, v)| ip_from(family, v))
    };
    let addr = pick(2).or_else(|| pick(1))?;
    Some((index, addr, prefix))
}

fn parse_route(m: &[u8]) -> Option<HostRoute> {
    let family = *m.first()?;
    let prefix = *m.get(1)?;
    let mut table = u32::from(*m.get(4)?);
    let mut r = HostRoute {
        dst: match family {
            2 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            10 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        },
        prefix,
        gateway: None,
        oif: 0,
        table: 0,
    };
    for (ty, v) in attrs(m, 12) {
        match ty {
            1 => r.dst = ip_from(family, v)?,
            4 => r.oif = i32::from_ne_bytes(v.try_into().ok()?),
            5 => r.gateway = ip_from(family, v),
            15 => table = u32_at(v, 0),
            _ => {}
        }
    }
    r.table = table;
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(args: &[&str]) -> bool {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// In a new network namespace (on a thread of its own: namespaces are per thread), a veth
    /// with an address and a default route is found as configured.
    #[test]
    fn scan_finds_a_configured_veth_and_default_route() {
        if !nix::unistd::geteuid().is_root() || !ip(&["-V"]) {
            crate::hostcall::skip_or_fail("needs root and iproute2");
            return;
        }
        let r = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
            assert!(ip(&[
                "link", "add", "rv0", "type", "veth", "peer", "name", "rv1"
            ]));
            assert!(ip(&["addr", "add", "10.9.8.7/24", "dev", "rv0"]));
            assert!(ip(&["link", "set", "rv0", "up"]));
            assert!(ip(&["link", "set", "rv1", "up"]));
            assert!(ip(&["route", "add", "default", "via", "10.9.8.1"]));
            scan().expect("scan")
        })
        .join()
        .expect("scan thread");
        let (ifaces, routes) = r;
        let lo = ifaces.iter().find(|i| i.name == "lo").expect("lo");
        assert_eq!(lo.index, 1);
        let v = ifaces.iter().find(|i| i.name == "rv0").expect("rv0");
        assert_eq!(v.mac.len(), 6);
        assert_eq!(v.mtu, 1500);
        assert!(v.addrs.contains(&("10.9.8.7".parse().unwrap(), 24)));
        let def = routes
            .iter()
            .find(|r| r.prefix == 0 && r.dst == IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            .expect("default route");
        assert_eq!(def.gateway, Some("10.9.8.1".parse().unwrap()));
        assert_eq!(def.oif, v.index);
        assert_eq!(def.table, 254);
    }

    #[test]
    fn malformed_attributes_are_skipped() {
        assert!(parse_link(&[0; 8]).is_none());
        assert!(attrs(&[255, 255, 1, 0], 0).is_empty());
        assert!(parse_addr(&[2, 24, 0, 0, 1, 0, 0, 0, 8, 0, 1, 0, 1, 2]).is_none());
    }
}
