//! AF_NETLINK sockets, NETLINK_ROUTE only (netlink(7), rtnetlink(7)): enough of the route
//! family for `ip addr`, `ip link`, `ip route` and glibc's `getifaddrs(3)` to read the
//! sandbox's interfaces. The sentry is the "kernel" side: a request the app sends is answered
//! at once into the socket's receive queue.
//!
//! Answered: RTM_GETLINK, RTM_GETADDR and RTM_GETROUTE dumps (and RTM_GETLINK of one index);
//! every other request gets an NLMSG_ERROR of EOPNOTSUPP (changes to links, addresses and
//! routes are not possible in the sandbox), and NLM_F_ACK an acknowledgement. The interfaces
//! are [`interfaces`]: today the loopback device only (127.0.0.1/8, ::1/128), until the
//! netstack gives the sandbox more.
//!
//! Neighbours: `syscalls/socket.rs` decodes the app's arguments and blocks on [`NetlinkSocket::queue`];
//! the messages are built here. Lock order: one socket's `state`, alone; `PORTS` alone.
//!
//! Shortcuts: no multicast groups (bind's `nl_groups` is recorded, no event is ever sent), no
//! messages between user sockets (only the kernel, port 0, can be addressed), other netlink
//! protocols are EPROTONOSUPPORT.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use abi::file::Stat;
use abi::{Errno, SysResult};
use vfs::waiter::{EventMask, WaitQueue};
use vfs::{FileOps, OpenFile};

/// NETLINK_ROUTE.
pub const NETLINK_ROUTE: i32 = 0;
/// SOL_NETLINK, for setsockopt.
pub const SOL_NETLINK: i32 = 270;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Default SO_RCVBUF (net.core.rmem_default) and the most a receive queue holds.
pub const DEFAULT_RCVBUF: usize = 212_992;

/// One interface of the sandbox, as rtnetlink and SIOCGIF* report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub index: i32,
    pub name: String,
    /// IFF_* flags.
    pub flags: u32,
    pub mtu: u32,
    /// ARPHRD_* type.
    pub kind: u16,
    pub mac: [u8; 6],
    /// (address, prefix length, scope).
    pub addrs: Vec<(std::net::IpAddr, u8, u8)>,
}

/// IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP, as `lo` shows them.
const LO_FLAGS: u32 = 0x1 | 0x8 | 0x40 | 0x1_0000;
/// RT_SCOPE_HOST.
const SCOPE_HOST: u8 = 254;
/// RT_SCOPE_LINK.
const SCOPE_LINK: u8 = 253;
/// ARPHRD_ETHER.
const ARPHRD_ETHER: u16 = 1;

/// The stack whose interfaces netlink, `SIOCGIF*` and /proc/net report: the sandbox's (one
/// per sentry process; set by `Kernel::net_stack` when it makes it). Until then only `lo`.
static STACK: Mutex<Weak<netstack::Stack>> = Mutex::new(Weak::new());

/// Makes `s` the stack whose interfaces are reported.
pub fn set_stack(s: &Arc<netstack::Stack>) {
    *lock(&STACK) = Arc::downgrade(s);
}

fn stack() -> Option<Arc<netstack::Stack>> {
    lock(&STACK).upgrade()
}

/// The sandbox's interfaces: `lo`, then the Ethernet interfaces its stack serves.
pub fn interfaces() -> Vec<Interface> {
    let mut v = vec![Interface {
        index: 1,
        name: "lo".to_string(),
        flags: LO_FLAGS,
        mtu: 65536,
        kind: 772, // ARPHRD_LOOPBACK
        mac: [0; 6],
        addrs: vec![
            (std::net::Ipv4Addr::LOCALHOST.into(), 8, SCOPE_HOST),
            (std::net::Ipv6Addr::LOCALHOST.into(), 128, SCOPE_HOST),
        ],
    }];
    if let Some(s) = stack() {
        for i in s.interfaces().into_iter().filter(|i| i.index != 1) {
            v.push(Interface {
                index: i32::try_from(i.index).unwrap_or(i32::MAX),
                name: i.name,
                flags: i.flags,
                mtu: i.mtu,
                kind: ARPHRD_ETHER,
                mac: i.mac,
                addrs: i.addrs.into_iter().map(|(a, p)| (a, p, 0)).collect(),
            });
        }
    }
    v
}

/// The routes of the sandbox's Ethernet interfaces (main table).
pub fn routes() -> Vec<netstack::RouteInfo> {
    stack().map(|s| s.routes()).unwrap_or_default()
}

/// Port ids in use by bound netlink sockets.
static PORTS: LazyLock<Mutex<HashSet<u32>>> = LazyLock::new(Mutex::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A netlink socket's mutable state.
#[derive(Debug, Default)]
struct NlState {
    /// Our port id (0 until bound or auto-bound by the first send).
    port: u32,
    groups: u32,
    /// Datagrams waiting to be received (each one or more netlink messages).
    rx: VecDeque<Vec<u8>>,
    rx_bytes: usize,
    rcvbuf: usize,
}

/// One AF_NETLINK socket.
#[derive(Debug)]
pub struct NetlinkSocket {
    pub protocol: i32,
    /// SOCK_RAW or SOCK_DGRAM (they behave the same).
    pub sock_type: i32,
    state: Mutex<NlState>,
    /// Readers wait here.
    pub queue: WaitQueue,
    ino: u64,
}

impl NetlinkSocket {
    /// A new socket (EPROTONOSUPPORT for protocols other than NETLINK_ROUTE).
    pub fn new(sock_type: i32, protocol: i32) -> Result<Arc<NetlinkSocket>, Errno> {
        if protocol != NETLINK_ROUTE {
            return Err(Errno::EPROTONOSUPPORT);
        }
        static NEXT_INO: AtomicU64 = AtomicU64::new(0x4e4c_0000);
        Ok(Arc::new(NetlinkSocket {
            protocol,
            sock_type,
            state: Mutex::new(NlState {
                rcvbuf: DEFAULT_RCVBUF,
                ..NlState::default()
            }),
            queue: WaitQueue::default(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        }))
    }

    /// bind(2): `port` 0 picks one (`tgid` if free, as netlink_autobind prefers); EADDRINUSE
    /// for a taken one; EINVAL if already bound to another.
    pub fn bind(&self, port: u32, groups: u32, tgid: i32) -> Result<(), Errno> {
        let mut st = lock(&self.state);
        if st.port != 0 {
            if port != 0 && port != st.port {
                return Err(Errno::EINVAL);
            }
            st.groups = groups;
            return Ok(());
        }
        st.port = Self::claim(port, tgid)?;
        st.groups = groups;
        Ok(())
    }

    fn claim(port: u32, tgid: i32) -> Result<u32, Errno> {
        let mut ports = lock(&PORTS);
        if port != 0 {
            if !ports.insert(port) {
                return Err(Errno::EADDRINUSE);
            }
            return Ok(port);
        }
        let mut p = u32::try_from(tgid).unwrap_or(0);
        // Linux falls back to negative ids counting down from -4096.
        let mut next = 0xffff_f000u32;
        while p == 0 || ports.contains(&p) {
            p = next;
            next = next.wrapping_sub(1);
        }
        ports.insert(p);
        Ok(p)
    }

    /// (port, groups) for getsockname(2).
    pub fn name(&self) -> (u32, u32) {
        let st = lock(&self.state);
        (st.port, st.groups)
    }

    /// A message from the app to the kernel: answers go to the receive queue. Auto-binds.
    /// ENOBUFS when the queue is full, as netlink reports an overrun.
    pub fn send(&self, data: &[u8], tgid: i32) -> Result<usize, Errno> {
        let mut st = lock(&self.state);
        if st.port == 0 {
            st.port = Self::claim(0, tgid)?;
        }
        let port = st.port;
        let replies = answer(data, port);
        for r in replies {
            if st.rx_bytes.saturating_add(r.len()) > st.rcvbuf.max(4096) {
                drop(st);
                self.queue.notify(EventMask::IN);
                return Err(Errno::ENOBUFS);
            }
            st.rx_bytes += r.len();
            st.rx.push_back(r);
        }
        drop(st);
        self.queue.notify(EventMask::IN);
        Ok(data.len())
    }

    /// Takes (or with `peek` copies) the next datagram into `buf`; returns (copied, full
    /// length). EAGAIN when nothing is queued.
    pub fn recv(&self, buf: &mut [u8], peek: bool) -> Result<(usize, usize), Errno> {
        let mut st = lock(&self.state);
        let Some(d) = st.rx.front() else {
            return Err(Errno::EAGAIN);
        };
        let full = d.len();
        let n = full.min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(d.get(..n).unwrap_or_default());
        if !peek {
            st.rx.pop_front();
            st.rx_bytes = st.rx_bytes.saturating_sub(full);
        }
        Ok((n, full))
    }

    /// SO_RCVBUF.
    pub fn set_rcvbuf(&self, n: usize) {
        lock(&self.state).rcvbuf = n.clamp(2048, 4 << 20);
    }

    pub fn rcvbuf(&self) -> usize {
        lock(&self.state).rcvbuf
    }

    fn events(&self) -> EventMask {
        let st = lock(&self.state);
        let mut ev = EventMask::OUT;
        if !st.rx.is_empty() {
            ev |= EventMask::IN;
        }
        ev
    }
}

impl Drop for NetlinkSocket {
    fn drop(&mut self) {
        let port = lock(&self.state).port;
        if port != 0 {
            lock(&PORTS).remove(&port);
        }
    }
}

/// The file description of a netlink socket.
#[derive(Debug)]
pub struct NetlinkFile {
    pub sock: Arc<NetlinkSocket>,
}

/// A new file description for `sock`.
pub fn new_file(sock: Arc<NetlinkSocket>, nonblock: bool) -> Arc<OpenFile> {
    let flags = abi::file::O_RDWR | if nonblock { abi::file::O_NONBLOCK } else { 0 };
    OpenFile::new_ops(None, Box::new(NetlinkFile { sock }), flags)
}

impl FileOps for NetlinkFile {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.sock.recv(buf, false).map(|(n, _)| n)
    }

    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        // write(2) has no task at hand; the port is auto-bound without a tgid preference.
        self.sock.send(buf, 0)
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(super::socket_stat(self.sock.ino))
    }

    fn readiness(&self, mask: EventMask) -> EventMask {
        self.sock.events() & (mask | EventMask::ALWAYS)
    }

    fn ioctl(&self, mem: &dyn vfs::UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        if cmd == abi::ioctl::FIONREAD {
            let n = lock(&self.sock.state).rx.front().map_or(0, Vec::len);
            mem.copy_out(arg, &i32::try_from(n).unwrap_or(i32::MAX).to_ne_bytes())?;
            return Ok(0);
        }
        netdev_ioctl(mem, cmd, arg, false).unwrap_or(Err(Errno::ENOTTY))
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.sock.queue)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

// ---------------------------------------------------------------- interface ioctls

const SIOCGIFNAME: u32 = 0x8910;
const SIOCGIFCONF: u32 = 0x8912;
const SIOCGIFFLAGS: u32 = 0x8913;
const SIOCGIFADDR: u32 = 0x8915;
const SIOCGIFBRDADDR: u32 = 0x8919;
const SIOCGIFNETMASK: u32 = 0x891b;
const SIOCGIFMTU: u32 = 0x8921;
const SIOCGIFHWADDR: u32 = 0x8927;
const SIOCGIFINDEX: u32 = 0x8933;
/// `struct ifreq`: a 16-byte name and a 24-byte union.
const IFREQ_SIZE: usize = 40;

/// A `sockaddr_in` with `addr` (in the 16 bytes of an ifreq's address member).
fn sockaddr_in(addr: [u8; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..2].copy_from_slice(&u16::from(AF_INET).to_ne_bytes());
    b[4..8].copy_from_slice(&addr);
    b
}

fn ipv4_of(i: &Interface) -> Option<(std::net::Ipv4Addr, u8)> {
    i.addrs.iter().find_map(|(a, p, _)| match a {
        std::net::IpAddr::V4(v) => Some((*v, *p)),
        std::net::IpAddr::V6(_) => None,
    })
}

/// The SIOCGIF* requests (netdevice(7)): `None` for another request. Linux's dev_ioctl serves
/// SIOCGIFCONF, SIOCGIFNAME, SIOCGIFINDEX, SIOCGIFFLAGS, SIOCGIFMTU and SIOCGIFHWADDR on a
/// socket of any family; the IPv4 address requests (SIOCGIFADDR, SIOCGIFNETMASK,
/// SIOCGIFBRDADDR) only on AF_INET sockets (`inet`; elsewhere ENOTTY). ENODEV for an unknown
/// name or index, EADDRNOTAVAIL for an address an interface does not have. The setters
/// (SIOCSIF*) are not served: a sandbox's interfaces are not the app's to change.
pub fn netdev_ioctl(
    mem: &dyn vfs::UserMemory,
    cmd: u32,
    arg: u64,
    inet: bool,
) -> Option<SysResult<u64>> {
    let any_family = matches!(
        cmd,
        SIOCGIFNAME | SIOCGIFCONF | SIOCGIFFLAGS | SIOCGIFMTU | SIOCGIFHWADDR | SIOCGIFINDEX
    );
    let inet_only = matches!(cmd, SIOCGIFADDR | SIOCGIFBRDADDR | SIOCGIFNETMASK);
    (any_family || (inet && inet_only)).then(|| netdev_ioctl_inner(mem, cmd, arg))
}

fn netdev_ioctl_inner(mem: &dyn vfs::UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
    let ifaces = interfaces();
    if cmd == SIOCGIFCONF {
        // struct ifconf { int ifc_len; (pad) union { char *buf; struct ifreq *req; } }.
        let mut hdr = [0u8; 16];
        mem.copy_in(arg, &mut hdr)?;
        let len = i32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let buf = u64::from_ne_bytes(hdr[8..16].try_into().map_err(|_| Errno::EFAULT)?);
        let mut out = Vec::new();
        for i in &ifaces {
            if let Some((a, _)) = ipv4_of(i) {
                let mut r = [0u8; IFREQ_SIZE];
                let n = i.name.len().min(15);
                r[..n].copy_from_slice(i.name.as_bytes().get(..n).unwrap_or_default());
                r[16..32].copy_from_slice(&sockaddr_in(a.octets()));
                out.extend_from_slice(&r);
            }
        }
        // A null buffer asks for the size needed.
        let used = if buf == 0 {
            out.len()
        } else {
            let room = usize::try_from(len.max(0)).unwrap_or(0) / IFREQ_SIZE * IFREQ_SIZE;
            let n = out.len().min(room);
            mem.copy_out(buf, out.get(..n).unwrap_or_default())?;
            n
        };
        hdr[..4].copy_from_slice(&i32::try_from(used).unwrap_or(i32::MAX).to_ne_bytes());
        mem.copy_out(arg, &hdr[..4])?;
        return Ok(0);
    }
    let mut req = [0u8; IFREQ_SIZE];
    mem.copy_in(arg, &mut req)?;
    let iface = if cmd == SIOCGIFNAME {
        let index = i32::from_ne_bytes([req[16], req[17], req[18], req[19]]);
        ifaces.iter().find(|i| i.index == index)
    } else {
        let end = req[..16].iter().position(|&b| b == 0).unwrap_or(16);
        let name = req.get(..end).unwrap_or_default();
        ifaces.iter().find(|i| i.name.as_bytes() == name)
    }
    .ok_or(Errno::ENODEV)?;
    let mut u = [0u8; 24];
    match cmd {
        SIOCGIFNAME => {
            let mut name = [0u8; 16];
            let n = iface.name.len().min(15);
            name[..n].copy_from_slice(iface.name.as_bytes().get(..n).unwrap_or_default());
            mem.copy_out(arg, &name)?;
            return Ok(0);
        }
        SIOCGIFINDEX => u[..4].copy_from_slice(&iface.index.to_ne_bytes()),
        // ifr_flags is a short: the low 16 bits (IFF_LOWER_UP and above are not visible here).
        SIOCGIFFLAGS => {
            u[..2].copy_from_slice(
                &u16::try_from(iface.flags & 0xffff)
                    .unwrap_or(0)
                    .to_ne_bytes(),
            );
        }
        SIOCGIFMTU => u[..4].copy_from_slice(&iface.mtu.to_ne_bytes()),
        SIOCGIFHWADDR => {
            u[..2].copy_from_slice(&iface.kind.to_ne_bytes());
            u[2..8].copy_from_slice(&iface.mac);
        }
        SIOCGIFADDR | SIOCGIFNETMASK | SIOCGIFBRDADDR => {
            let (a, plen) = ipv4_of(iface).ok_or(Errno::EADDRNOTAVAIL)?;
            let v = match cmd {
                SIOCGIFADDR => a.octets(),
                _ => {
                    let mask = u32::MAX
                        .checked_shl(32 - u32::from(plen.min(32)))
                        .unwrap_or(0);
                    if cmd == SIOCGIFNETMASK {
                        mask.to_be_bytes()
                    } else {
                        (u32::from(a) | !mask).to_be_bytes()
                    }
                }
            };
            u[..16].copy_from_slice(&sockaddr_in(v));
        }
        _ => return Err(Errno::ENOTTY),
    }
    mem.copy_out(arg.checked_add(16).ok_or(Errno::EFAULT)?, &u)?;
    Ok(0)
}

// ---------------------------------------------------------------- messages

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// A message under construction: header, then the family header, then attributes.
struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u16, flags: u16, seq: u32, port: u32) -> Msg {
        let mut v = Vec::with_capacity(256);
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&port.to_ne_bytes());
        Msg(v)
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Msg {
        self.0.extend_from_slice(b);
        let pad = align4(self.0.len()) - self.0.len();
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Msg {
        let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.bytes(data)
    }

    fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Msg {
        self.attr(ty, &v.to_ne_bytes())
    }

    fn attr_str(&mut self, ty: u16, s: &str) -> &mut Msg {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.attr(ty, &b)
    }

    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.0.len()).unwrap_or(u32::MAX);
        if let Some(h) = self.0.get_mut(..4) {
            h.copy_from_slice(&len.to_ne_bytes());
        }
        self.0
    }
}

fn ip_bytes(a: &std::net::IpAddr) -> (u8, Vec<u8>) {
    match a {
        std::net::IpAddr::V4(v) => (AF_INET, v.octets().to_vec()),
        std::net::IpAddr::V6(v) => (AF_INET6, v.octets().to_vec()),
    }
}

fn link_msg(i: &Interface, flags: u16, seq: u32, port: u32) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWLINK, flags, seq, port);
    // struct ifinfomsg
    let mut h = vec![AF_UNSPEC, 0];
    h.extend_from_slice(&i.kind.to_ne_bytes());
    h.extend_from_slice(&i.index.to_ne_bytes());
    h.extend_from_slice(&i.flags.to_ne_bytes());
    h.extend_from_slice(&0u32.to_ne_bytes());
    m.bytes(&h)
        .attr_str(3, &i.name) // IFLA_IFNAME
        .attr_u32(13, 1000) // IFLA_TXQLEN
        .attr(16, &[0]) // IFLA_OPERSTATE: IF_OPER_UNKNOWN, as lo
        .attr(17, &[0]) // IFLA_LINKMODE
        .attr_u32(4, i.mtu) // IFLA_MTU
        .attr_str(6, "noqueue") // IFLA_QDISC
        .attr(1, &i.mac) // IFLA_ADDRESS
        .attr(2, &i.mac); // IFLA_BROADCAST
    m.finish()
}

fn addr_msgs(i: &Interface, family: u8, seq: u32, port: u32, out: &mut Vec<Vec<u8>>) {
    for (a, plen, scope) in &i.addrs {
        let (fam, bytes) = ip_bytes(a);
        if family != AF_UNSPEC && family != fam {
            continue;
        }
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_MULTI, seq, port);
        // struct ifaddrmsg; IFA_F_PERMANENT
        let mut h = vec![fam, *plen, 0x80, *scope];
        h.extend_from_slice(&i.index.to_ne_bytes());
        m.bytes(&h).attr(1, &bytes); // IFA_ADDRESS
        if fam == AF_INET {
            m.attr(2, &bytes).attr_str(3, &i.name); // IFA_LOCAL, IFA_LABEL
        }
        // IFA_CACHEINFO: preferred and valid forever.
        let mut ci = Vec::new();
        for v in [u32::MAX, u32::MAX, 0, 0] {
            ci.extend_from_slice(&v.to_ne_bytes());
        }
        m.attr(6, &ci).attr_u32(8, 0x80); // IFA_FLAGS
        out.push(m.finish());
    }
}

/// The main-table routes of the Ethernet interfaces (`ip route`): connected subnets
/// (scope link, protocol kernel, with the interface's address as the preferred source) and
/// gateway routes (protocol boot).
fn main_route_msgs(ifaces: &[Interface], family: u8, seq: u32, port: u32, out: &mut Vec<Vec<u8>>) {
    if family != AF_UNSPEC && family != AF_INET {
        return;
    }
    for r in routes() {
        let std::net::IpAddr::V4(dst) = r.dst else {
            continue;
        };
        let (scope, proto) = if r.gateway.is_some() {
            (0u8, 3u8)
        } else {
            (SCOPE_LINK, 2u8)
        };
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_MULTI, seq, port);
        let mut h = vec![AF_INET, r.prefix, 0, 0, 254, proto, scope, 1];
        h.extend_from_slice(&0u32.to_ne_bytes());
        m.bytes(&h).attr_u32(15, 254); // RTA_TABLE
        if r.prefix > 0 {
            m.attr(1, &dst.octets()); // RTA_DST
        }
        if let Some(std::net::IpAddr::V4(gw)) = r.gateway {
            m.attr(5, &gw.octets()); // RTA_GATEWAY
        } else if let Some((std::net::IpAddr::V4(src), _, _)) = ifaces
            .iter()
            .find(|i| i.index == i32::try_from(r.ifindex).unwrap_or(-1))
            .and_then(|i| i.addrs.iter().find(|(a, _, _)| a.is_ipv4()))
        {
            m.attr(7, &src.octets()); // RTA_PREFSRC
        }
        m.attr_u32(4, r.ifindex); // RTA_OIF
        out.push(m.finish());
    }
}

/// The local-table routes of an interface's addresses: IPv4 local routes in the local table
/// (255) as Linux keeps them (`ip route show table local`), and an IPv6 loopback route in
/// the main table (254).
fn route_msgs(i: &Interface, family: u8, seq: u32, port: u32, out: &mut Vec<Vec<u8>>) {
    for (a, plen, _) in &i.addrs {
        let (fam, bytes) = ip_bytes(a);
        if family != AF_UNSPEC && family != fam {
            continue;
        }
        // (dst, dst_len, table, type): RTN_LOCAL = 2; RTPROT_KERNEL = 2.
        let (table, dst, dst_len, scope) = if fam == AF_INET {
            (255u8, bytes.clone(), 32u8, SCOPE_HOST)
        } else {
            (254u8, bytes.clone(), *plen, 0u8)
        };
        let rtype = if fam == AF_INET { 2u8 } else { 1u8 }; // RTN_LOCAL / RTN_UNICAST
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_MULTI, seq, port);
        let mut h = vec![fam, dst_len, 0, 0, table, 2, scope, rtype];
        h.extend_from_slice(&0u32.to_ne_bytes());
        m.bytes(&h)
            .attr_u32(15, u32::from(table)) // RTA_TABLE
            .attr(1, &dst) // RTA_DST
            .attr_u32(4, u32::try_from(i.index).unwrap_or(0)); // RTA_OIF
        if fam == AF_INET {
            m.attr(7, &bytes); // RTA_PREFSRC
        } else {
            m.attr_u32(6, 256); // RTA_PRIORITY
        }
        out.push(m.finish());
    }
}

fn done_msg(seq: u32, port: u32) -> Vec<u8> {
    let mut m = Msg::new(NLMSG_DONE, NLM_F_MULTI, seq, port);
    m.bytes(&0i32.to_ne_bytes());
    m.finish()
}

/// NLMSG_ERROR with `errno` (0: an acknowledgement) quoting the request's header.
fn error_msg(errno: i32, req_hdr: &[u8], seq: u32, port: u32) -> Vec<u8> {
    let mut m = Msg::new(NLMSG_ERROR, 0, seq, port);
    let mut body = (-errno).to_ne_bytes().to_vec();
    body.extend_from_slice(req_hdr.get(..16).unwrap_or_default());
    m.bytes(&body);
    m.finish()
}

/// The answers (datagrams) to the messages in `data`.
fn answer(data: &[u8], port: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while let Some(hdr) = data.get(off..off.saturating_add(16)) {
        let rd32 = |i: usize| {
            hdr.get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_ne_bytes)
        };
        let rd16 = |i: usize| {
            hdr.get(i..i + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map_or(0, u16::from_ne_bytes)
        };
        let len = usize::try_from(rd32(0)).unwrap_or(0);
        if len < 16 || off.saturating_add(len) > data.len() {
            break;
        }
        let (ty, flags, seq) = (rd16(4), rd16(6), rd32(8));
        let body = data.get(off + 16..off + len).unwrap_or_default();
        let family = body.first().copied().unwrap_or(AF_UNSPEC);
        let mut msgs = Vec::new();
        let mut err = 0i32;
        if flags & NLM_F_REQUEST == 0 {
            // Not a request: the kernel ignores it.
        } else {
            match ty {
                RTM_GETLINK if flags & NLM_F_DUMP == NLM_F_DUMP => {
                    for i in interfaces() {
                        msgs.push(link_msg(&i, NLM_F_MULTI, seq, port));
                    }
                    msgs.push(done_msg(seq, port));
                }
                RTM_GETLINK => {
                    // ifinfomsg.ifi_index at offset 4 of the body.
                    let index = body
                        .get(4..8)
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map_or(0, i32::from_ne_bytes);
                    match interfaces().into_iter().find(|i| i.index == index) {
                        Some(i) => msgs.push(link_msg(&i, 0, seq, port)),
                        None => err = Errno::ENODEV.raw(),
                    }
                }
                RTM_GETADDR if flags & NLM_F_DUMP == NLM_F_DUMP => {
                    for i in interfaces() {
                        addr_msgs(&i, family, seq, port, &mut msgs);
                    }
                    msgs.push(done_msg(seq, port));
                }
                RTM_GETROUTE if flags & NLM_F_DUMP == NLM_F_DUMP => {
                    let ifaces = interfaces();
                    main_route_msgs(&ifaces, family, seq, port, &mut msgs);
                    for i in &ifaces {
                        route_msgs(i, family, seq, port, &mut msgs);
                    }
                    msgs.push(done_msg(seq, port));
                }
                _ => err = Errno::EOPNOTSUPP.raw(),
            }
        }
        if err != 0 || (flags & NLM_F_ACK != 0 && flags & NLM_F_REQUEST != 0) {
            msgs.push(error_msg(err, hdr, seq, port));
        }
        // A dump is one datagram per message, as Linux fills skbs (each fits well within any
        // receive buffer a program uses); other answers likewise.
        out.extend(msgs);
        off = off.saturating_add(align4(len));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Msg::new(ty, flags, seq, 0);
        m.bytes(body);
        m.finish()
    }

    fn types(replies: &[Vec<u8>]) -> Vec<u16> {
        replies
            .iter()
            .map(|r| u16::from_ne_bytes([r[4], r[5]]))
            .collect()
    }

    #[test]
    fn link_dump_lists_lo_then_done() {
        let r = answer(
            &req(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 7, &[0; 16]),
            42,
        );
        assert_eq!(types(&r), vec![RTM_NEWLINK, NLMSG_DONE]);
        let lo = &r[0];
        assert_eq!(
            u32::from_ne_bytes([lo[0], lo[1], lo[2], lo[3]]) as usize,
            lo.len()
        );
        assert_eq!(u32::from_ne_bytes([lo[8], lo[9], lo[10], lo[11]]), 7);
        assert_eq!(u32::from_ne_bytes([lo[12], lo[13], lo[14], lo[15]]), 42);
        assert!(lo.windows(3).any(|w| w == b"lo\0"));
    }

    #[test]
    fn addr_dump_filters_by_family() {
        let all = answer(&req(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, &[0; 8]), 1);
        assert_eq!(types(&all), vec![RTM_NEWADDR, RTM_NEWADDR, NLMSG_DONE]);
        let v6 = answer(
            &req(
                RTM_GETADDR,
                NLM_F_REQUEST | NLM_F_DUMP,
                1,
                &[AF_INET6, 0, 0, 0, 0, 0, 0, 0],
            ),
            1,
        );
        assert_eq!(types(&v6), vec![RTM_NEWADDR, NLMSG_DONE]);
        assert_eq!(v6[0][16], AF_INET6);
        assert_eq!(v6[0][17], 128);
    }

    #[test]
    fn unknown_requests_get_eopnotsupp_and_acks_are_sent() {
        let r = answer(&req(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 3, &[0; 16]), 1);
        assert_eq!(types(&r), vec![NLMSG_ERROR]);
        let e = i32::from_ne_bytes([r[0][16], r[0][17], r[0][18], r[0][19]]);
        assert_eq!(e, -Errno::EOPNOTSUPP.raw());
        let ok = answer(
            &req(
                RTM_GETLINK,
                NLM_F_REQUEST | NLM_F_ACK,
                4,
                &[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            1,
        );
        assert_eq!(types(&ok), vec![RTM_NEWLINK, NLMSG_ERROR]);
    }

    #[test]
    fn truncated_or_garbage_input_is_ignored() {
        assert!(answer(&[1, 2, 3], 1).is_empty());
        let mut bad = req(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, &[0; 16]);
        bad[0] = 255; // length beyond the buffer
        assert!(answer(&bad, 1).is_empty());
    }

    #[test]
    fn random_input_never_panics_and_answers_are_well_formed() {
        // A small xorshift generator: fixed seed, 20,000 buffers of 0..300 bytes, some with
        // a plausible header so the parser goes deep.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 300).unwrap();
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= 16 && next() % 2 == 0 {
                let l = u32::try_from(16 + next() % u64::try_from(len - 15).unwrap()).unwrap();
                buf[..4].copy_from_slice(&l.to_ne_bytes());
                let ty = [RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, 0x3000]
                    [usize::try_from(next() % 4).unwrap()];
                buf[4..6].copy_from_slice(&ty.to_ne_bytes());
                buf[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
            }
            for r in answer(&buf, 7) {
                assert!(r.len() >= 16);
                assert_eq!(
                    u32::from_ne_bytes([r[0], r[1], r[2], r[3]]) as usize,
                    r.len()
                );
            }
        }
    }

    #[test]
    fn autobind_and_explicit_ports() {
        let a = NetlinkSocket::new(3, NETLINK_ROUTE).unwrap();
        a.bind(0, 0, 999_001).unwrap();
        assert_eq!(a.name().0, 999_001);
        let b = NetlinkSocket::new(3, NETLINK_ROUTE).unwrap();
        assert_eq!(b.bind(999_001, 0, 1), Err(Errno::EADDRINUSE));
        b.bind(0, 0, 999_001).unwrap();
        assert_ne!(b.name().0, 999_001);
        assert_eq!(
            NetlinkSocket::new(3, 9).unwrap_err(),
            Errno::EPROTONOSUPPORT
        );
    }
}
