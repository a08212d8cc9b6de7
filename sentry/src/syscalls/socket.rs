//! Socket syscalls (socket(2), socketpair(2), bind, listen, accept4, connect, the send and
//! receive family, shutdown, getsockopt/setsockopt). AF_UNIX (`socket::unix`) and
//! AF_NETLINK NETLINK_ROUTE (`socket::netlink`, whose handlers are the `nl_*` functions each
//! entry point tries first); every other family is EAFNOSUPPORT. sendmmsg/recvmmsg are
//! AF_UNIX only.
//!
//! The handlers decode and check the app's arguments (lengths with checked arithmetic, bad
//! pointers EFAULT), resolve addresses (an abstract name in the registry, a path through the
//! VFS), and run the endpoint's non-blocking operation in [`wait_for`], which sleeps on the
//! socket's wait queue (and the peer's, whose reads make room) until it stops answering
//! EAGAIN. Files passed with SCM_RIGHTS are looked up at send time and installed as new fds
//! at receive time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::Errno;
use abi::file as f;
use abi::socket::{self as s, CmsgHdr, MsgHdr, Ucred};
use abi::time::{IOV_MAX, Iovec};
use vfs::OpenFile;
use vfs::waiter::{EventMask, WaitQueue};

use super::{SyscallArgs, SyscallResult, inet, ok_usize, ok_zero};
use crate::kernel::Task;
use crate::socket::netlink::{self, NetlinkFile, NetlinkSocket};
use crate::socket::unix::{
    self, Direction, Endpoint, NameKey, Received, SockType, UnixAddr, UnixSocketFile,
};

/// Largest single transfer (MAX_RW_COUNT).
const MAX_RW_COUNT: usize = 0x7fff_f000;
/// Stream data is gathered from the app and sent in pieces of at most this size, so a huge
/// send never needs a huge sentry buffer.
const SEND_CHUNK: usize = 64 * 1024;
/// The largest receive buffer the sentry allocates per step: more than any message can be
/// (messages are bounded by SO_SNDBUF, at most 2 × wmem_max).
const RECV_CHUNK: usize = 512 * 1024;
/// Control data larger than this is refused (ENOBUFS), as Linux refuses more than
/// net.core.optmem_max.
const MAX_CONTROL: usize = 64 * 1024;

/// The caller's credentials as a `struct ucred` (SO_PEERCRED, SCM_CREDENTIALS).
fn task_ucred(t: &Task) -> Ucred {
    Ucred {
        pid: t.tgid(),
        uid: t.creds.euid,
        gid: t.creds.egid,
    }
}

/// SOCK_RAW.
const SOCK_RAW: i32 = 3;

/// The netlink socket behind `fd`, if it is one.
fn netlink_of(t: &Task, fd: i32) -> Option<(Arc<OpenFile>, Arc<NetlinkSocket>)> {
    let file = t.fds().file(fd).ok()?;
    let sock = file
        .ops_any()
        .and_then(|a| a.downcast_ref::<NetlinkFile>())
        .map(|s| Arc::clone(&s.sock))?;
    Some((file, sock))
}

/// The socket behind `fd`: EBADF for a bad fd, ENOTSOCK for another kind of file.
fn socket_of(t: &Task, fd: i32) -> Result<(Arc<OpenFile>, Arc<Endpoint>), Errno> {
    let file = t.fds().file(fd)?;
    let ep = file
        .ops_any()
        .and_then(|a| a.downcast_ref::<UnixSocketFile>())
        .map(|s| Arc::clone(&s.ep))
        .ok_or(Errno::ENOTSOCK)?;
    Ok((file, ep))
}

/// How a socket operation may block: not at all, forever, or until a timeout (SO_RCVTIMEO,
/// SO_SNDTIMEO).
#[derive(Clone, Copy, Debug)]
pub(super) enum Blocking {
    No,
    Forever,
    For(Duration),
}

impl Blocking {
    fn of(nonblock: bool, ep: &Endpoint, dir: Direction) -> Blocking {
        match (nonblock, ep.timeout(dir)) {
            (true, _) => Blocking::No,
            (false, None) => Blocking::Forever,
            (false, Some(d)) => Blocking::For(d),
        }
    }
}

/// Runs `op` until it stops answering EAGAIN, sleeping on `queues` for `mask` in between as
/// `how` allows. A signal ends the wait with ERESTARTSYS, or EINTR under a timeout (socket(7):
/// sock_intr_errno); an expired timeout is EAGAIN.
pub(super) fn wait_for<R>(
    t: &Task,
    how: Blocking,
    queues: &[&WaitQueue],
    mask: EventMask,
    mut op: impl FnMut() -> Result<R, Errno>,
) -> Result<R, Errno> {
    match op() {
        Err(Errno::EAGAIN) if !matches!(how, Blocking::No) => {}
        r => return r,
    }
    let deadline = match how {
        Blocking::For(d) => Some(Instant::now().checked_add(d).ok_or(Errno::EINVAL)?),
        _ => None,
    };
    let _regs: Vec<_> = queues
        .iter()
        .map(|q| q.register(t.waiter(), mask))
        .collect();
    loop {
        t.prepare_wait();
        match op() {
            Err(Errno::EAGAIN) => {}
            r => return r,
        }
        match t.wait(deadline) {
            Ok(()) => {}
            Err(Errno::ETIMEDOUT) => return Err(Errno::EAGAIN),
            Err(Errno::ERESTARTSYS) if deadline.is_some() => return Err(Errno::EINTR),
            Err(e) => return Err(e),
        }
    }
}

/// Installs a new socket file in the caller's table.
fn install(t: &Task, ep: Arc<Endpoint>, flags: i32) -> Result<i32, Errno> {
    let file = unix::new_file(ep, flags & s::SOCK_NONBLOCK != 0);
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    t.fds()
        .insert_from(0, file, flags & s::SOCK_CLOEXEC != 0, limit)
}

/// Splits socket(2)'s `type` into the socket type and SOCK_NONBLOCK/SOCK_CLOEXEC (EINVAL for
/// other flag bits).
fn split_type(raw: i32) -> Result<(i32, i32), Errno> {
    let flags = raw & !s::SOCK_TYPE_MASK;
    if flags & !(s::SOCK_NONBLOCK | s::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok((raw & s::SOCK_TYPE_MASK, flags))
}

/// The AF_UNIX socket type, with unix_create's errors: ESOCKTNOSUPPORT for an unknown type,
/// EPROTONOSUPPORT for a protocol other than 0 (or PF_UNIX).
fn unix_type(ty: i32, protocol: i32) -> Result<SockType, Errno> {
    if protocol != 0 && protocol != s::AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    SockType::from_raw(ty).ok_or(Errno::ESOCKTNOSUPPORT)
}

/// socket(2).
pub fn sys_socket(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (domain, raw_type, protocol) = (args.int(0), args.int(1), args.int(2));
    let (ty, flags) = split_type(raw_type)?;
    if domain == s::AF_NETLINK {
        if ty != SOCK_RAW && ty != s::SOCK_DGRAM {
            return Err(Errno::ESOCKTNOSUPPORT);
        }
        let sock = NetlinkSocket::new(ty, protocol)?;
        let file = netlink::new_file(sock, flags & s::SOCK_NONBLOCK != 0);
        let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
        return ok_fd(
            t.fds()
                .insert_from(0, file, flags & s::SOCK_CLOEXEC != 0, limit)?,
        );
    }
    if domain == s::AF_INET || domain == s::AF_INET6 {
        return inet::socket(t, domain, ty, protocol, flags);
    }
    if domain != s::AF_UNIX {
        // Other families (AF_PACKET, AF_BLUETOOTH, ...) are refused with a clear errno rather
        // than ENOSYS, so programs fall back as they do on a kernel built without the family.
        return Err(Errno::EAFNOSUPPORT);
    }
    let kind = unix_type(ty, protocol)?;
    let ep = Endpoint::new(kind, task_ucred(t));
    ok_fd(install(t, ep, flags)?)
}

pub(super) fn ok_fd(fd: i32) -> SyscallResult {
    ok_usize(usize::try_from(fd).map_err(|_| Errno::EBADF)?)
}

/// socketpair(2).
pub fn sys_socketpair(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (domain, raw_type, protocol, sv) = (args.int(0), args.int(1), args.int(2), args.ptr(3));
    let (ty, flags) = split_type(raw_type)?;
    match domain {
        s::AF_UNIX => {}
        // inet_create exists but the protocols have no socketpair: EOPNOTSUPP on Linux.
        s::AF_INET | s::AF_INET6 => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EAFNOSUPPORT),
    }
    let kind = unix_type(ty, protocol)?;
    let (a, b) = Endpoint::pair(kind, task_ucred(t));
    let nonblock = flags & s::SOCK_NONBLOCK != 0;
    super::install_pair(
        t,
        unix::new_file(a, nonblock),
        unix::new_file(b, nonblock),
        flags & s::SOCK_CLOEXEC != 0,
        sv,
    )
}

/// Reads a `sockaddr_un` of `len` bytes (move_addr_to_kernel + unix_validate_addr): EINVAL
/// for a length below the family or above `sizeof(struct sockaddr_un)`, or another family.
fn read_addr(t: &Task, addr: u64, len: u32) -> Result<UnixAddr, Errno> {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if !(s::SUN_PATH_OFFSET..=s::SOCKADDR_UN_SIZE).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; len];
    t.mm.copy_in(addr, &mut buf)?;
    let family = u16::from_ne_bytes([
        buf.first().copied().unwrap_or(0),
        buf.get(1).copied().unwrap_or(0),
    ]);
    if i32::from(family) != s::AF_UNIX {
        return Err(Errno::EINVAL);
    }
    Ok(UnixAddr::from_sockaddr(&buf))
}

/// Writes `addr` to a `(sockaddr *, socklen_t *)` pair (move_addr_to_user): at most the
/// caller's length is copied, the full length is stored. EINVAL for a negative length.
fn write_addr(t: &Task, addr_ptr: u64, len_ptr: u64, addr: &UnixAddr) -> Result<(), Errno> {
    if len_ptr == 0 {
        return Ok(());
    }
    let have: i32 = t.copy_in_obj(len_ptr)?;
    let have = usize::try_from(have).map_err(|_| Errno::EINVAL)?;
    let bytes = addr.to_sockaddr();
    let n = bytes.len().min(have);
    if n > 0 {
        t.mm.copy_out(addr_ptr, bytes.get(..n).unwrap_or_default())?;
    }
    let full = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    t.copy_out_obj(len_ptr, &full)
}

/// The endpoint a connect or sendto names: an abstract name in the registry, or a path whose
/// socket inode is bound (ECONNREFUSED when nothing listens there; the walk's own errors,
/// ENOENT or EACCES, otherwise; write permission on the socket file is needed).
fn find_endpoint(t: &Task, addr: &UnixAddr, kind: SockType) -> Result<Arc<Endpoint>, Errno> {
    let key = match addr {
        UnixAddr::Unnamed => return Err(Errno::EINVAL),
        UnixAddr::Abstract(n) => NameKey::Abstract(n.clone()),
        UnixAddr::Path(p) => {
            let st = t.with_lookup(f::AT_FDCWD, p, |l| {
                let target = l.resolve(p, true)?;
                target.check_access(l.creds, f::W_OK)?;
                target.stat()
            })?;
            if st.mode & f::S_IFMT != f::S_IFSOCK {
                return Err(Errno::ECONNREFUSED);
            }
            NameKey::Inode {
                dev: st.dev,
                ino: st.ino,
            }
        }
    };
    let ep = unix::lookup(&key).ok_or(Errno::ECONNREFUSED)?;
    // Linux looks abstract names up per socket type (another type's name is not found), but
    // finds a socket file of any type and then refuses it with EPROTOTYPE.
    if matches!(addr, UnixAddr::Abstract(_)) && ep.kind() != kind {
        return Err(Errno::ECONNREFUSED);
    }
    Ok(ep)
}

/// bind(2): an abstract name, a new socket file at a path (EADDRINUSE if the path exists,
/// EROFS on a read-only filesystem), or autobind when only the family is given.
pub fn sys_bind(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return inet::bind(t, &f, args.ptr(1), args.uint(2));
    }
    if let Some((_, nl)) = netlink_of(t, args.fd(0)) {
        return nl_bind(t, &nl, args.ptr(1), args.uint(2));
    }
    let (_file, ep) = socket_of(t, args.fd(0))?;
    let addr = read_addr(t, args.ptr(1), args.uint(2))?;
    if ep.is_bound() {
        return Err(Errno::EINVAL);
    }
    match &addr {
        UnixAddr::Unnamed => ep.autobind()?,
        UnixAddr::Abstract(n) => ep.bind(addr.clone(), NameKey::Abstract(n.clone()))?,
        UnixAddr::Path(p) => {
            let mode = f::S_IFSOCK | (0o777 & !t.fs().umask);
            let st = t.with_lookup(f::AT_FDCWD, p, |l| {
                l.mknod(p, mode, 0).map_err(|e| {
                    if e == Errno::EEXIST {
                        Errno::EADDRINUSE
                    } else {
                        e
                    }
                })?;
                l.resolve(p, false)?.stat()
            })?;
            let key = NameKey::Inode {
                dev: st.dev,
                ino: st.ino,
            };
            ep.bind(addr.clone(), key)?;
        }
    }
    ok_zero()
}

/// listen(2).
pub fn sys_listen(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return inet::listen(&f, args.int(1));
    }
    if netlink_of(t, args.fd(0)).is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    let (_file, ep) = socket_of(t, args.fd(0))?;
    ep.listen(args.int(1), task_ucred(t))?;
    ok_zero()
}

/// accept(2).
pub fn sys_accept(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_accept(t, args.fd(0), args.ptr(1), args.ptr(2), 0)
}

/// accept4(2): SOCK_NONBLOCK and SOCK_CLOEXEC (EINVAL for other flags).
pub fn sys_accept4(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.int(3);
    if flags & !(s::SOCK_NONBLOCK | s::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    do_accept(t, args.fd(0), args.ptr(1), args.ptr(2), flags)
}

fn do_accept(t: &mut Task, fd: i32, addr: u64, len: u64, flags: i32) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, fd) {
        return inet::accept(t, &f, addr, len, flags);
    }
    if netlink_of(t, fd).is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    let (file, ep) = socket_of(t, fd)?;
    if !ep.is_listening() {
        return Err(Errno::EINVAL);
    }
    let conn = wait_for(
        t,
        Blocking::of(file.is_nonblocking(), &ep, Direction::Receive),
        &[ep.queue()],
        EventMask::IN,
        || ep.accept(),
    )?;
    if addr != 0 {
        let peer = conn.peer_name().unwrap_or(UnixAddr::Unnamed);
        write_addr(t, addr, len, &peer)?;
    }
    ok_fd(install(t, conn, flags)?)
}

/// connect(2): a stream/seqpacket connection (waits while the listener's backlog is full,
/// EAGAIN if non-blocking), or a datagram socket's default destination (AF_UNSPEC clears
/// it).
pub fn sys_connect(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return inet::connect(t, &f, args.ptr(1), args.uint(2));
    }
    if let Some((_, nl)) = netlink_of(t, args.fd(0)) {
        // Only the kernel (port 0) can be a peer here; connecting to it auto-binds.
        let (port, _) = nl_addr(t, args.ptr(1), args.uint(2))?;
        if port != 0 {
            return Err(Errno::ECONNREFUSED);
        }
        nl.bind(0, nl.name().1, t.tgid())?;
        return ok_zero();
    }
    let (file, ep) = socket_of(t, args.fd(0))?;
    let (ptr, len) = (args.ptr(1), args.uint(2));
    if ep.kind() == SockType::Dgram && len >= 2 {
        let family: u16 = t.copy_in_obj(ptr)?;
        if family == 0 {
            ep.disconnect();
            return ok_zero();
        }
    }
    let addr = read_addr(t, ptr, len)?;
    let target = find_endpoint(t, &addr, ep.kind())?;
    let cred = task_ucred(t);
    wait_for(
        t,
        Blocking::of(file.is_nonblocking(), &ep, Direction::Send),
        &[target.queue()],
        EventMask::OUT,
        || ep.connect(&target, cred),
    )?;
    ok_zero()
}

/// getsockname(2).
pub fn sys_getsockname(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return inet::getsockname(t, &f, args.ptr(1), args.ptr(2));
    }
    if let Some((_, nl)) = netlink_of(t, args.fd(0)) {
        let (port, groups) = nl.name();
        return nl_write_addr(t, args.ptr(1), args.ptr(2), port, groups);
    }
    let (_file, ep) = socket_of(t, args.fd(0))?;
    write_addr(t, args.ptr(1), args.ptr(2), &ep.name())?;
    ok_zero()
}

/// getpeername(2): ENOTCONN without a peer.
pub fn sys_getpeername(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return inet::getpeername(t, &f, args.ptr(1), args.ptr(2));
    }
    if netlink_of(t, args.fd(0)).is_some() {
        // The kernel is every netlink socket's default peer.
        return nl_write_addr(t, args.ptr(1), args.ptr(2), 0, 0);
    }
    let (_file, ep) = socket_of(t, args.fd(0))?;
    let peer = ep.peer_name()?;
    write_addr(t, args.ptr(1), args.ptr(2), &peer)?;
    ok_zero()
}

/// shutdown(2).
pub fn sys_shutdown(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return inet::shutdown(&f, args.int(1));
    }
    if netlink_of(t, args.fd(0)).is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    let (_file, ep) = socket_of(t, args.fd(0))?;
    let (rd, wr) = match args.int(1) {
        s::SHUT_RD => (true, false),
        s::SHUT_WR => (false, true),
        s::SHUT_RDWR => (true, true),
        _ => return Err(Errno::EINVAL),
    };
    ep.shutdown(rd, wr);
    ok_zero()
}

// ---------------------------------------------------------------- data transfer

/// The app's buffers of one send or receive.
pub(super) struct IoVecs {
    iovs: Vec<Iovec>,
    pub(super) total: usize,
}

impl IoVecs {
    pub(super) fn single(base: u64, len: u64) -> IoVecs {
        let total = usize::try_from(len).unwrap_or(usize::MAX).min(MAX_RW_COUNT);
        IoVecs {
            iovs: vec![Iovec { base, len }],
            total,
        }
    }

    /// Reads and validates an iovec array (EMSGSIZE above UIO_MAXIOV, EINVAL if the lengths
    /// overflow ssize_t, as import_iovec does for sendmsg/recvmsg).
    pub(super) fn read(t: &Task, addr: u64, count: u64) -> Result<IoVecs, Errno> {
        let n = usize::try_from(count).map_err(|_| Errno::EMSGSIZE)?;
        if n > IOV_MAX {
            return Err(Errno::EMSGSIZE);
        }
        let mut iovs = Vec::with_capacity(n);
        let mut total: u64 = 0;
        for i in 0..n {
            let off = u64::try_from(i).map_err(|_| Errno::EINVAL)?.checked_mul(16);
            let at = off.and_then(|o| addr.checked_add(o)).ok_or(Errno::EFAULT)?;
            let iov: Iovec = t.copy_in_obj(at)?;
            total = total.checked_add(iov.len).ok_or(Errno::EINVAL)?;
            if total > i64::MAX as u64 {
                return Err(Errno::EINVAL);
            }
            iovs.push(iov);
        }
        let total = usize::try_from(total)
            .unwrap_or(usize::MAX)
            .min(MAX_RW_COUNT);
        Ok(IoVecs { iovs, total })
    }

    /// The app's bytes `[start, start + len)` of the concatenated buffers; a fault stops the
    /// copy (what was copied is returned with the error).
    pub(super) fn gather(&self, t: &Task, start: usize, len: usize) -> (Vec<u8>, Option<Errno>) {
        let mut out = Vec::with_capacity(len);
        let mut pos = 0usize;
        for iov in &self.iovs {
            if out.len() >= len {
                break;
            }
            let ilen = usize::try_from(iov.len).unwrap_or(usize::MAX);
            let end = pos.saturating_add(ilen);
            if end > start {
                let skip = start.saturating_sub(pos);
                let take = (ilen - skip).min(len - out.len());
                let Some(base) = iov.base.checked_add(skip as u64) else {
                    return (out, Some(Errno::EFAULT));
                };
                let at = out.len();
                out.resize(at + take, 0);
                let (c, err) =
                    t.mm.copy_in_partial(base, out.get_mut(at..).unwrap_or_default());
                out.truncate(at + c);
                if err.is_some() {
                    return (out, err);
                }
            }
            pos = end;
        }
        (out, None)
    }

    /// Copies the app's bytes from byte `start` of the concatenated buffers into `dst` (as
    /// much as fits); a fault stops the copy (the count so far comes with the error).
    pub(super) fn gather_into(
        &self,
        t: &Task,
        start: usize,
        dst: &mut [u8],
    ) -> (usize, Option<Errno>) {
        let mut done = 0usize;
        let mut pos = 0usize;
        for iov in &self.iovs {
            if done >= dst.len() || start + done >= self.total {
                break;
            }
            let ilen = usize::try_from(iov.len).unwrap_or(usize::MAX);
            let end = pos.saturating_add(ilen);
            if end > start + done {
                let skip = (start + done).saturating_sub(pos);
                let take = (ilen - skip)
                    .min(dst.len() - done)
                    .min(self.total - (start + done));
                let Some(base) = iov.base.checked_add(skip as u64) else {
                    return (done, Some(Errno::EFAULT));
                };
                let (c, err) =
                    t.mm.copy_in_partial(base, dst.get_mut(done..done + take).unwrap_or_default());
                done += c;
                if err.is_some() {
                    return (done, err);
                }
            }
            pos = end;
        }
        (done, None)
    }

    /// Copies `data` into the buffers starting at byte `start` of their concatenation.
    pub(super) fn scatter(&self, t: &Task, start: usize, data: &[u8]) -> (usize, Option<Errno>) {
        let mut done = 0usize;
        let mut pos = 0usize;
        for iov in &self.iovs {
            if done >= data.len() {
                break;
            }
            let ilen = usize::try_from(iov.len).unwrap_or(usize::MAX);
            let end = pos.saturating_add(ilen);
            if end > start + done {
                let skip = (start + done).saturating_sub(pos);
                let take = (ilen - skip).min(data.len() - done);
                let Some(base) = iov.base.checked_add(skip as u64) else {
                    return (done, Some(Errno::EFAULT));
                };
                let (c, err) =
                    t.mm.copy_out_partial(base, data.get(done..done + take).unwrap_or_default());
                done += c;
                if err.is_some() {
                    return (done, err);
                }
            }
            pos = end;
        }
        (done, None)
    }
}

/// Raises SIGPIPE in the caller for an EPIPE, unless MSG_NOSIGNAL (as unix_stream_sendmsg).
pub(super) fn sigpipe_unless(t: &Task, err: Errno, flags: u32) -> Errno {
    if err == Errno::EPIPE && flags & s::MSG_NOSIGNAL == 0 {
        let info =
            abi::signal::SigInfo::new(abi::signal::Signal::SIGPIPE, abi::signal::si_code::SI_USER);
        let _ = crate::kernel::signal::send(
            &t.kernel,
            &crate::kernel::signal::Target::Thread(Arc::clone(&t.shared)),
            info,
        );
    }
    err
}

/// What one send carries besides the data.
struct SendExtras {
    rights: Vec<Arc<OpenFile>>,
    cred: Ucred,
    to: Option<Arc<Endpoint>>,
}

/// The send half of sendto/sendmsg: stream data goes in pieces (blocking between them unless
/// non-blocking; partial progress wins over a later error), a message goes whole.
fn do_send(
    t: &Task,
    file: &OpenFile,
    ep: &Arc<Endpoint>,
    iov: &IoVecs,
    extras: &SendExtras,
    flags: u32,
) -> SyscallResult {
    if flags & s::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = file.is_nonblocking() || flags & s::MSG_DONTWAIT != 0;
    let how = Blocking::of(nonblock, ep, Direction::Send);
    let peer = extras.to.clone().or_else(|| ep.peer_endpoint());
    let mut queues = vec![ep.queue()];
    if let Some(p) = &peer {
        queues.push(p.queue());
    }
    let send_piece = |data: &[u8], rights: &[Arc<OpenFile>]| {
        wait_for(t, how, &queues, EventMask::OUT, || {
            ep.send(data, rights, extras.cred, extras.to.clone())
        })
    };
    if ep.kind() != SockType::Stream {
        if iov.total > ep.sndbuf() {
            return Err(Errno::EMSGSIZE);
        }
        let (data, fault) = iov.gather(t, 0, iov.total);
        if let Some(e) = fault {
            return Err(e);
        }
        return match send_piece(&data, &extras.rights) {
            Ok(n) => ok_usize(n),
            Err(e) => Err(sigpipe_unless(t, e, flags)),
        };
    }
    if iov.total == 0 {
        return send_piece(&[], &extras.rights)
            .map_err(|e| sigpipe_unless(t, e, flags))
            .and_then(ok_usize);
    }
    let mut done = 0usize;
    while done < iov.total {
        let want = (iov.total - done).min(SEND_CHUNK);
        let (data, fault) = iov.gather(t, done, want);
        let mut off = 0usize;
        while off < data.len() {
            let rights: &[Arc<OpenFile>] = if done + off == 0 { &extras.rights } else { &[] };
            match send_piece(data.get(off..).unwrap_or_default(), rights) {
                Ok(n) => off += n,
                Err(e) if done + off == 0 => return Err(sigpipe_unless(t, e, flags)),
                Err(_) => return ok_usize(done + off),
            }
            if nonblock && off < data.len() {
                return ok_usize(done + off);
            }
        }
        done += off;
        if let Some(e) = fault {
            return super::io_result(done, Some(e));
        }
        if data.is_empty() {
            break;
        }
    }
    ok_usize(done)
}

/// sendto(2).
pub fn sys_sendto(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        let iov = IoVecs::single(args.ptr(1), args.size(2));
        return inet::send(t, &f, &iov, Some((args.ptr(4), args.uint(5))), args.uint(3));
    }
    if let Some((_, nl)) = netlink_of(t, args.fd(0)) {
        if args.ptr(4) != 0 && args.uint(5) != 0 {
            let (port, _) = nl_addr(t, args.ptr(4), args.uint(5))?;
            if port != 0 {
                return Err(Errno::ECONNREFUSED);
            }
        }
        return nl_send(t, &nl, &IoVecs::single(args.ptr(1), args.size(2)));
    }
    let (file, ep) = socket_of(t, args.fd(0))?;
    let iov = IoVecs::single(args.ptr(1), args.size(2));
    let flags = args.uint(3);
    let to = match (args.ptr(4), args.uint(5)) {
        (0, _) | (_, 0) => None,
        (p, l) => Some(read_addr(t, p, l)?),
    };
    let to = destination(t, &ep, to.as_ref())?;
    let extras = SendExtras {
        rights: Vec::new(),
        cred: task_ucred(t),
        to,
    };
    do_send(t, &file, &ep, &iov, &extras, flags)
}

/// The endpoint an explicit destination names (unix_stream_sendmsg: EISCONN on a connected
/// connection-oriented socket, EOPNOTSUPP on an unconnected one).
fn destination(
    t: &Task,
    ep: &Endpoint,
    to: Option<&UnixAddr>,
) -> Result<Option<Arc<Endpoint>>, Errno> {
    let Some(addr) = to else { return Ok(None) };
    if ep.kind().is_connection_oriented() {
        return Err(if ep.peer_endpoint().is_some() {
            Errno::EISCONN
        } else {
            Errno::EOPNOTSUPP
        });
    }
    find_endpoint(t, addr, ep.kind()).map(Some)
}

/// Parses sendmsg control data: SCM_RIGHTS (at most SCM_MAX_FD descriptors in all, EBADF for
/// a bad one) and SCM_CREDENTIALS (EPERM unless they are the caller's own); EINVAL for a
/// malformed header or another message type.
fn parse_control(t: &Task, ptr: u64, len: u64) -> Result<(Vec<Arc<OpenFile>>, Ucred), Errno> {
    let mut cred = task_ucred(t);
    let mut rights = Vec::new();
    if len == 0 {
        return Ok((rights, cred));
    }
    let len = usize::try_from(len).map_err(|_| Errno::ENOBUFS)?;
    if len > MAX_CONTROL {
        return Err(Errno::ENOBUFS);
    }
    let mut buf = vec![0u8; len];
    t.mm.copy_in(ptr, &mut buf)?;
    let mut off = 0usize;
    while off.checked_add(s::CMSG_HDR_SIZE).is_some_and(|e| e <= len) {
        let hdr_bytes = buf.get(off..off + s::CMSG_HDR_SIZE).unwrap_or_default();
        let hdr: CmsgHdr =
            zerocopy::FromBytes::read_from_bytes(hdr_bytes).map_err(|_| Errno::EINVAL)?;
        let clen = usize::try_from(hdr.len).map_err(|_| Errno::EINVAL)?;
        let end = off.checked_add(clen).ok_or(Errno::EINVAL)?;
        if clen < s::CMSG_HDR_SIZE || end > len {
            return Err(Errno::EINVAL);
        }
        let data = buf.get(off + s::CMSG_HDR_SIZE..end).unwrap_or_default();
        match (hdr.level, hdr.kind) {
            (s::SOL_SOCKET, s::SCM_RIGHTS) => {
                let n = data.len() / 4;
                if n == 0 || rights.len() + n > s::SCM_MAX_FD {
                    return Err(Errno::EINVAL);
                }
                let fds = t.fds();
                for c in data.chunks_exact(4) {
                    let fd = i32::from_ne_bytes(c.try_into().map_err(|_| Errno::EINVAL)?);
                    rights.push(fds.file(fd)?);
                }
            }
            (s::SOL_SOCKET, s::SCM_CREDENTIALS) => {
                let c: Ucred =
                    zerocopy::FromBytes::read_from_bytes(data).map_err(|_| Errno::EINVAL)?;
                // scm_check_creds: one's own pid unless CAP_SYS_ADMIN, one of one's own uids
                // unless CAP_SETUID, gids unless CAP_SETGID.
                let cr = &t.creds;
                let pid_ok = c.pid == t.tgid() || cr.has_cap(abi::cap::CAP_SYS_ADMIN);
                let uid_ok =
                    [cr.uid, cr.euid, cr.suid].contains(&c.uid) || cr.has_cap(abi::cap::CAP_SETUID);
                let gid_ok =
                    [cr.gid, cr.egid, cr.sgid].contains(&c.gid) || cr.has_cap(abi::cap::CAP_SETGID);
                if !(pid_ok && uid_ok && gid_ok) {
                    return Err(Errno::EPERM);
                }
                cred = c;
            }
            _ => return Err(Errno::EINVAL),
        }
        off = off.checked_add(s::cmsg_align(clen)).ok_or(Errno::EINVAL)?;
    }
    Ok((rights, cred))
}

/// sendmsg(2).
pub fn sys_sendmsg(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    sendmsg_at(t, args.fd(0), args.ptr(1), args.uint(2))
}

/// sendmsg(2) of the `msghdr` at `hdr_ptr` (also one entry of sendmmsg).
fn sendmsg_at(t: &Task, fd: i32, hdr_ptr: u64, flags: u32) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, fd) {
        return inet::sendmsg(t, &f, hdr_ptr, flags);
    }
    if let Some((_, nl)) = netlink_of(t, fd) {
        let hdr: MsgHdr = t.copy_in_obj(hdr_ptr)?;
        if hdr.name != 0 && hdr.namelen != 0 {
            let (port, _) = nl_addr(t, hdr.name, hdr.namelen)?;
            if port != 0 {
                return Err(Errno::ECONNREFUSED);
            }
        }
        let _ = flags;
        return nl_send(t, &nl, &IoVecs::read(t, hdr.iov, hdr.iovlen)?);
    }
    let (file, ep) = socket_of(t, fd)?;
    let hdr: MsgHdr = t.copy_in_obj(hdr_ptr)?;
    let iov = IoVecs::read(t, hdr.iov, hdr.iovlen)?;
    let to = if hdr.name != 0 && hdr.namelen != 0 {
        Some(read_addr(t, hdr.name, hdr.namelen)?)
    } else {
        None
    };
    let to = destination(t, &ep, to.as_ref())?;
    let (rights, cred) = parse_control(t, hdr.control, hdr.controllen)?;
    let extras = SendExtras { rights, cred, to };
    do_send(t, &file, &ep, &iov, &extras, flags)
}

/// The receive half of recvfrom/recvmsg: waits for data (unless non-blocking), then with
/// MSG_WAITALL on a stream keeps reading until the buffers are full, the stream ends, or a
/// signal or error comes (partial progress is returned).
fn do_recv(
    t: &Task,
    file: &OpenFile,
    ep: &Arc<Endpoint>,
    iov: &IoVecs,
    flags: u32,
) -> Result<Received, Errno> {
    // unix(7) sockets here have no out-of-band data (unix_dgram_recvmsg: EOPNOTSUPP).
    if flags & s::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = file.is_nonblocking() || flags & s::MSG_DONTWAIT != 0;
    let peek = flags & s::MSG_PEEK != 0;
    let waitall = flags & s::MSG_WAITALL != 0 && ep.kind() == SockType::Stream && !peek;
    let how = Blocking::of(nonblock, ep, Direction::Receive);
    let mut kbuf = vec![0u8; iov.total.min(RECV_CHUNK)];
    let mut first = wait_for(t, how, &[ep.queue()], EventMask::IN, || {
        ep.recv(&mut kbuf, peek)
    })?;
    let (c, err) = iov.scatter(t, 0, kbuf.get(..first.len).unwrap_or_default());
    if let Some(e) = err {
        if c == 0 {
            return Err(e);
        }
        first.len = c;
        return Ok(first);
    }
    let mut done = first.len;
    let more = |done: usize| done < iov.total && (waitall || done == kbuf.len());
    while ep.kind() == SockType::Stream && first.len > 0 && more(done) && !peek {
        let want = (iov.total - done).min(RECV_CHUNK);
        let mut chunk = vec![0u8; want];
        let r = if waitall {
            wait_for(t, how, &[ep.queue()], EventMask::IN, || {
                ep.recv(&mut chunk, false)
            })
        } else {
            ep.recv(&mut chunk, false)
        };
        let Ok(r) = r else { break };
        if r.len == 0 {
            break;
        }
        first.rights.extend(r.rights);
        let (c, err) = iov.scatter(t, done, chunk.get(..r.len).unwrap_or_default());
        done += c;
        if err.is_some() {
            break;
        }
    }
    first.len = done;
    first.msg_len = first.msg_len.max(done);
    Ok(first)
}

/// recvfrom(2).
pub fn sys_recvfrom(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return inet::recvfrom(t, &f, args);
    }
    if let Some((file, nl)) = netlink_of(t, args.fd(0)) {
        let flags = args.uint(3);
        let (n, full) = nl_recv(
            t,
            &file,
            &nl,
            &IoVecs::single(args.ptr(1), args.size(2)),
            flags,
        )?;
        if args.ptr(4) != 0 {
            nl_write_addr(t, args.ptr(4), args.ptr(5), 0, 0)?;
        }
        return ok_usize(if flags & s::MSG_TRUNC != 0 { full } else { n });
    }
    let (file, ep) = socket_of(t, args.fd(0))?;
    let iov = IoVecs::single(args.ptr(1), args.size(2));
    let flags = args.uint(3);
    let r = do_recv(t, &file, &ep, &iov, flags)?;
    if args.ptr(4) != 0 {
        match &r.from {
            Some(a) if *a != UnixAddr::Unnamed => write_addr(t, args.ptr(4), args.ptr(5), a)?,
            _ => {
                if args.ptr(5) != 0 {
                    t.copy_out_obj(args.ptr(5), &0i32)?;
                }
            }
        }
    }
    ok_usize(received_len(&ep, &r, flags))
}

/// The return value of a receive: the bytes copied, or with MSG_TRUNC on a message socket the
/// message's real length.
fn received_len(ep: &Endpoint, r: &Received, flags: u32) -> usize {
    if flags & s::MSG_TRUNC != 0 && ep.kind() != SockType::Stream {
        r.msg_len
    } else {
        r.len
    }
}

/// Builds recvmsg's control data within `room` bytes: SCM_CREDENTIALS (with SO_PASSCRED)
/// then SCM_RIGHTS, installing new fds for as many passed files as fit. Returns the bytes and
/// whether something was cut (MSG_CTRUNC).
fn build_control(
    t: &Task,
    ep: &Endpoint,
    r: Received,
    room: usize,
    cloexec: bool,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut ctrunc = false;
    let push = |out: &mut Vec<u8>, kind: i32, data: &[u8]| -> bool {
        let clen = s::CMSG_HDR_SIZE + data.len();
        if out.len() + clen > room {
            return false;
        }
        let hdr = CmsgHdr {
            len: clen as u64,
            level: s::SOL_SOCKET,
            kind,
        };
        out.extend_from_slice(zerocopy::IntoBytes::as_bytes(&hdr));
        out.extend_from_slice(data);
        let padded = s::cmsg_align(out.len()).min(room);
        out.resize(padded.max(out.len()), 0);
        true
    };
    if ep.passcred() {
        let cred = r.cred.unwrap_or_default();
        if !push(
            &mut out,
            s::SCM_CREDENTIALS,
            zerocopy::IntoBytes::as_bytes(&cred),
        ) {
            ctrunc = true;
        }
    }
    if !r.rights.is_empty() {
        let space = room.saturating_sub(out.len());
        let fit = space.saturating_sub(s::CMSG_HDR_SIZE) / 4;
        let mut fds = Vec::new();
        let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
        let total = r.rights.len();
        for file in r.rights.into_iter().take(fit) {
            match t.fds().insert_from(0, file, cloexec, limit) {
                Ok(fd) => fds.push(fd),
                Err(_) => break,
            }
        }
        if fds.len() < total {
            ctrunc = true;
        }
        if !fds.is_empty() {
            let bytes: Vec<u8> = fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
            push(&mut out, s::SCM_RIGHTS, &bytes);
        }
    }
    (out, ctrunc)
}

/// recvmsg(2): MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC, MSG_CMSG_CLOEXEC; reports
/// MSG_TRUNC and MSG_CTRUNC in `msg_flags`.
pub fn sys_recvmsg(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    recvmsg_at(t, args.fd(0), args.ptr(1), args.uint(2))
}

/// recvmsg(2) into the `msghdr` at `hdr_ptr` (also one entry of recvmmsg).
fn recvmsg_at(t: &Task, fd: i32, hdr_ptr: u64, flags: u32) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, fd) {
        return inet::recvmsg(t, &f, hdr_ptr, flags);
    }
    if let Some((file, nl)) = netlink_of(t, fd) {
        let mut hdr: MsgHdr = t.copy_in_obj(hdr_ptr)?;
        let iov = IoVecs::read(t, hdr.iov, hdr.iovlen)?;
        let (n, full) = nl_recv(t, &file, &nl, &iov, flags)?;
        if hdr.name != 0 {
            let have = usize::try_from(hdr.namelen).unwrap_or(0);
            let bytes = nl_sockaddr(0, 0);
            let k = bytes.len().min(have);
            t.mm.copy_out(hdr.name, bytes.get(..k).unwrap_or_default())?;
            hdr.namelen = 12;
        }
        hdr.controllen = 0;
        hdr.flags = if full > n { s::MSG_TRUNC } else { 0 };
        t.copy_out_obj(hdr_ptr, &hdr)?;
        return ok_usize(if flags & s::MSG_TRUNC != 0 { full } else { n });
    }
    let (file, ep) = socket_of(t, fd)?;
    let mut hdr: MsgHdr = t.copy_in_obj(hdr_ptr)?;
    let iov = IoVecs::read(t, hdr.iov, hdr.iovlen)?;
    let r = do_recv(t, &file, &ep, &iov, flags)?;
    let ret = received_len(&ep, &r, flags);
    let mut out_flags = 0u32;
    if ep.kind() != SockType::Stream && r.msg_len > r.len {
        out_flags |= s::MSG_TRUNC;
    }
    // The sender's address (none for an unnamed sender: length 0). Without a name buffer
    // msg_namelen is left alone, as ____sys_recvmsg does.
    let from = r.from.clone().unwrap_or(UnixAddr::Unnamed);
    if hdr.name != 0 && from != UnixAddr::Unnamed {
        let bytes = from.to_sockaddr();
        let have = usize::try_from(hdr.namelen).unwrap_or(0);
        let n = bytes.len().min(have);
        t.mm.copy_out(hdr.name, bytes.get(..n).unwrap_or_default())?;
        hdr.namelen = u32::try_from(bytes.len()).unwrap_or(0);
    } else if hdr.name != 0 {
        hdr.namelen = 0;
    }
    let room = usize::try_from(hdr.controllen)
        .unwrap_or(usize::MAX)
        .min(MAX_CONTROL);
    let cloexec = flags & s::MSG_CMSG_CLOEXEC != 0;
    let (control, ctrunc) = if hdr.control == 0 {
        let lost = !r.rights.is_empty();
        (Vec::new(), lost)
    } else {
        build_control(t, &ep, r, room, cloexec)
    };
    if ctrunc {
        out_flags |= s::MSG_CTRUNC;
    }
    if !control.is_empty() {
        t.mm.copy_out(hdr.control, &control)?;
    }
    hdr.controllen = control.len() as u64;
    hdr.flags = out_flags;
    t.copy_out_obj(hdr_ptr, &hdr)?;
    ok_usize(ret)
}

// ---------------------------------------------------------------- netlink

/// Reads a `sockaddr_nl` (EINVAL if short or of another family): (port, groups).
fn nl_addr(t: &Task, ptr: u64, len: u32) -> Result<(u32, u32), Errno> {
    if len < 12 {
        return Err(Errno::EINVAL);
    }
    let raw: [u8; 12] = t.copy_in_obj(ptr)?;
    let family = u16::from_ne_bytes([raw[0], raw[1]]);
    if i32::from(family) != s::AF_NETLINK {
        return Err(Errno::EINVAL);
    }
    let port = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
    let groups = u32::from_ne_bytes([raw[8], raw[9], raw[10], raw[11]]);
    Ok((port, groups))
}

fn nl_sockaddr(port: u32, groups: u32) -> Vec<u8> {
    let mut b = u16::try_from(s::AF_NETLINK)
        .unwrap_or(16)
        .to_ne_bytes()
        .to_vec();
    b.extend_from_slice(&0u16.to_ne_bytes());
    b.extend_from_slice(&port.to_ne_bytes());
    b.extend_from_slice(&groups.to_ne_bytes());
    b
}

/// Stores a `sockaddr_nl` at `ptr` (truncated to `*len_ptr`), its real length at `len_ptr`.
fn nl_write_addr(t: &Task, ptr: u64, len_ptr: u64, port: u32, groups: u32) -> SyscallResult {
    let have: i32 = t.copy_in_obj(len_ptr)?;
    let have = usize::try_from(have).map_err(|_| Errno::EINVAL)?;
    let bytes = nl_sockaddr(port, groups);
    let n = bytes.len().min(have);
    if n > 0 {
        t.mm.copy_out(ptr, bytes.get(..n).unwrap_or_default())?;
    }
    t.copy_out_obj(len_ptr, &12i32)?;
    ok_zero()
}

fn nl_bind(t: &Task, nl: &NetlinkSocket, ptr: u64, len: u32) -> SyscallResult {
    let (port, groups) = nl_addr(t, ptr, len)?;
    nl.bind(port, groups, t.tgid())?;
    ok_zero()
}

/// A request to the kernel side: the whole message is gathered (netlink messages are
/// datagrams, at most the socket's send buffer; EMSGSIZE beyond).
fn nl_send(t: &Task, nl: &NetlinkSocket, iov: &IoVecs) -> SyscallResult {
    if iov.total > netlink::DEFAULT_RCVBUF {
        return Err(Errno::EMSGSIZE);
    }
    let (data, err) = iov.gather(t, 0, iov.total);
    if let Some(e) = err {
        return Err(e);
    }
    ok_usize(nl.send(&data, t.tgid())?)
}

/// Receives one datagram into `iov`: (copied, full length).
fn nl_recv(
    t: &Task,
    file: &OpenFile,
    nl: &NetlinkSocket,
    iov: &IoVecs,
    flags: u32,
) -> Result<(usize, usize), Errno> {
    let nonblock = file.is_nonblocking() || flags & s::MSG_DONTWAIT != 0;
    let how = if nonblock {
        Blocking::No
    } else {
        Blocking::Forever
    };
    let peek = flags & s::MSG_PEEK != 0;
    let mut buf = vec![0u8; iov.total.min(RECV_CHUNK)];
    let (n, full) = wait_for(t, how, &[&nl.queue], EventMask::IN, || {
        nl.recv(&mut buf, peek)
    })?;
    let (done, err) = iov.scatter(t, 0, buf.get(..n).unwrap_or_default());
    if let Some(e) = err
        && done == 0
    {
        return Err(e);
    }
    Ok((done, full))
}

fn nl_getsockopt(t: &Task, nl: &NetlinkSocket, args: &SyscallArgs) -> SyscallResult {
    let (level, name, val_ptr, len_ptr) = (args.int(1), args.int(2), args.ptr(3), args.ptr(4));
    let value: i32 = match (level, name) {
        (s::SOL_SOCKET, s::SO_TYPE) => nl.sock_type,
        (s::SOL_SOCKET, s::SO_DOMAIN) => s::AF_NETLINK,
        (s::SOL_SOCKET, s::SO_PROTOCOL) => nl.protocol,
        (s::SOL_SOCKET, s::SO_RCVBUF | s::SO_SNDBUF) => {
            i32::try_from(nl.rcvbuf()).unwrap_or(i32::MAX)
        }
        (s::SOL_SOCKET, s::SO_ERROR) => 0,
        (s::SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        (netlink::SOL_NETLINK, _) => 0,
        _ => return Err(Errno::EOPNOTSUPP),
    };
    let have: i32 = t.copy_in_obj(len_ptr)?;
    let have = usize::try_from(have).map_err(|_| Errno::EINVAL)?;
    let bytes = value.to_ne_bytes();
    let n = bytes.len().min(have);
    if n > 0 {
        t.mm.copy_out(val_ptr, bytes.get(..n).unwrap_or_default())?;
    }
    t.copy_out_obj(len_ptr, &i32::try_from(n).unwrap_or(0))?;
    ok_zero()
}

/// SO_RCVBUF/SO_SNDBUF (the queue bound), SO_*TIMEO and the SOL_NETLINK flags programs set
/// (NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, ...: accepted; the answers are the same).
fn nl_setsockopt(t: &Task, nl: &NetlinkSocket, args: &SyscallArgs) -> SyscallResult {
    let (level, name, val_ptr, len) = (args.int(1), args.int(2), args.ptr(3), args.int(4));
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    let v: i32 = t.copy_in_obj(val_ptr)?;
    match (level, name) {
        (s::SOL_SOCKET, s::SO_RCVBUF | s::SO_SNDBUF) => {
            nl.set_rcvbuf(usize::try_from(v).unwrap_or(0).saturating_mul(2));
        }
        (s::SOL_SOCKET, s::SO_RCVTIMEO | s::SO_SNDTIMEO | s::SO_PASSCRED) => {}
        (s::SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        (netlink::SOL_NETLINK, _) => {}
        _ => return Err(Errno::EOPNOTSUPP),
    }
    ok_zero()
}

// ---------------------------------------------------------------- options

/// A timeout as getsockopt reports it: `struct timeval`, zero for "forever".
pub(super) fn timeval_bytes(t: Option<Duration>) -> Vec<u8> {
    let (sec, usec) = t.map_or((0i64, 0i64), |d| {
        (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            i64::from(d.subsec_micros()),
        )
    });
    let mut v = sec.to_ne_bytes().to_vec();
    v.extend_from_slice(&usec.to_ne_bytes());
    v
}

/// SO_RCVTIMEO/SO_SNDTIMEO's `struct timeval` (net/core/sock.c sock_set_timeout): EINVAL if
/// shorter, EDOM for microseconds outside [0, 1e6); zero means forever, a negative time
/// means "do not wait" (a zero timeout).
pub(super) fn read_timeval_opt(t: &Task, ptr: u64, len: i32) -> Result<Option<Duration>, Errno> {
    if len < 16 {
        return Err(Errno::EINVAL);
    }
    let raw: [i64; 2] = t.copy_in_obj(ptr)?;
    let [sec, usec] = raw;
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM);
    }
    if sec < 0 {
        return Ok(Some(Duration::ZERO));
    }
    if sec == 0 && usec == 0 {
        return Ok(None);
    }
    let secs = u64::try_from(sec).unwrap_or(0);
    let micros = u32::try_from(usec).unwrap_or(0);
    Ok(Some(Duration::new(secs, micros * 1000)))
}

/// getsockopt(2) at SOL_SOCKET: SO_TYPE, SO_ERROR, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN,
/// SO_PEERCRED, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_REUSEADDR, SO_RCVTIMEO, SO_SNDTIMEO.
/// Other options ENOPROTOOPT,
/// other levels EOPNOTSUPP (AF_UNIX has no protocol-level options).
pub fn sys_getsockopt(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return super::inet_opts::getsockopt(t, &f, args);
    }
    if let Some((_, nl)) = netlink_of(t, args.fd(0)) {
        return nl_getsockopt(t, &nl, args);
    }
    let (_file, ep) = socket_of(t, args.fd(0))?;
    let (level, name, val_ptr, len_ptr) = (args.int(1), args.int(2), args.ptr(3), args.ptr(4));
    if level != s::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let have: i32 = t.copy_in_obj(len_ptr)?;
    let have = usize::try_from(have).map_err(|_| Errno::EINVAL)?;
    let int = |v: usize| i32::try_from(v).unwrap_or(i32::MAX).to_ne_bytes().to_vec();
    let value: Vec<u8> = match name {
        s::SO_TYPE => ep.kind().raw().to_ne_bytes().to_vec(),
        s::SO_ERROR => ep.take_error().map_or(0, Errno::raw).to_ne_bytes().to_vec(),
        s::SO_DOMAIN => s::AF_UNIX.to_ne_bytes().to_vec(),
        s::SO_PROTOCOL => 0i32.to_ne_bytes().to_vec(),
        s::SO_ACCEPTCONN => int(usize::from(ep.is_listening())),
        s::SO_PASSCRED => int(usize::from(ep.passcred())),
        s::SO_REUSEADDR => int(usize::from(ep.reuseaddr())),
        s::SO_SNDBUF => int(ep.sndbuf()),
        s::SO_RCVBUF => int(ep.rcvbuf()),
        s::SO_PEERCRED => zerocopy::IntoBytes::as_bytes(&ep.peer_cred()).to_vec(),
        s::SO_RCVTIMEO => timeval_bytes(ep.timeout(Direction::Receive)),
        s::SO_SNDTIMEO => timeval_bytes(ep.timeout(Direction::Send)),
        _ => return Err(Errno::ENOPROTOOPT),
    };
    let n = value.len().min(have);
    if n > 0 {
        t.mm.copy_out(val_ptr, value.get(..n).unwrap_or_default())?;
    }
    t.copy_out_obj(len_ptr, &i32::try_from(n).unwrap_or(0))?;
    ok_zero()
}

/// setsockopt(2) at SOL_SOCKET: SO_SNDBUF/SO_RCVBUF (doubled, capped as Linux), SO_PASSCRED,
/// SO_REUSEADDR (stored, no effect on unix sockets, as on Linux), SO_RCVTIMEO/SO_SNDTIMEO. EINVAL for an optlen below
/// an int; other options ENOPROTOOPT, other levels EOPNOTSUPP.
pub fn sys_setsockopt(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if let Some(f) = inet::inet_of(t, args.fd(0)) {
        return super::inet_opts::setsockopt(t, &f, args);
    }
    if let Some((_, nl)) = netlink_of(t, args.fd(0)) {
        return nl_setsockopt(t, &nl, args);
    }
    let (_file, ep) = socket_of(t, args.fd(0))?;
    let (level, name, val_ptr, len) = (args.int(1), args.int(2), args.ptr(3), args.int(4));
    if level != s::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    if name == s::SO_RCVTIMEO || name == s::SO_SNDTIMEO {
        let dir = if name == s::SO_RCVTIMEO {
            Direction::Receive
        } else {
            Direction::Send
        };
        ep.set_timeout(dir, read_timeval_opt(t, val_ptr, len)?);
        return ok_zero();
    }
    if !matches!(
        name,
        s::SO_SNDBUF | s::SO_RCVBUF | s::SO_PASSCRED | s::SO_REUSEADDR
    ) {
        return Err(Errno::ENOPROTOOPT);
    }
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    let v: i32 = t.copy_in_obj(val_ptr)?;
    match name {
        s::SO_SNDBUF => ep.set_sndbuf(v),
        s::SO_RCVBUF => ep.set_rcvbuf(v),
        s::SO_PASSCRED => ep.set_passcred(v != 0),
        _ => ep.set_reuseaddr(v != 0),
    }
    ok_zero()
}

/// `struct mmsghdr`: a `msghdr` and the count the call stores for it.
const MMSGHDR_SIZE: u64 = 64;
/// Offset of `msg_len` in `struct mmsghdr`.
const MMSG_LEN_OFFSET: u64 = 56;
/// sendmmsg/recvmmsg handle at most this many entries per call (UIO_MAXIOV).
const MMSG_MAX: u32 = 1024;
/// MSG_WAITFORONE (recvmmsg): after the first message, do not wait for more.
const MSG_WAITFORONE: u32 = 0x10000;

/// Runs `one(hdr_ptr, first)` over `vlen` mmsghdr entries at `vec`, storing each count in
/// its `msg_len`; an error after some entries ends the batch with their count (the error is
/// dropped, as Linux reports it only when nothing was done).
fn each_mmsg(
    t: &Task,
    vec: u64,
    vlen: u32,
    mut one: impl FnMut(u64, bool) -> SyscallResult,
    mut keep_going: impl FnMut() -> bool,
) -> SyscallResult {
    let mut done = 0u32;
    for i in 0..vlen.min(MMSG_MAX) {
        let entry = vec
            .checked_add(u64::from(i) * MMSGHDR_SIZE)
            .ok_or(Errno::EFAULT)?;
        match one(entry, i == 0) {
            Ok(super::SyscallReturn::Value(n)) => {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                t.copy_out_obj(entry + MMSG_LEN_OFFSET, &n)?;
                done += 1;
            }
            Ok(other) => return Ok(other),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if !keep_going() {
            break;
        }
    }
    ok_usize(done as usize)
}

/// sendmmsg(2): sendmsg for each entry, stopping at the first failure.
pub fn sys_sendmmsg(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (fd, flags) = (args.fd(0), args.uint(3));
    each_mmsg(
        t,
        args.ptr(1),
        args.uint(2),
        |hdr, _| sendmsg_at(t, fd, hdr, flags),
        || true,
    )
}

/// recvmmsg(2): recvmsg for each entry; MSG_WAITFORONE makes every entry after the first
/// non-blocking; the timeout (if given) is checked after each message, as Linux does (it does
/// not interrupt a wait).
pub fn sys_recvmmsg(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (fd, flags) = (args.fd(0), args.uint(3));
    let deadline = if args.ptr(4) == 0 {
        None
    } else {
        let ts: abi::time::Timespec = t.copy_in_obj(args.ptr(4))?;
        if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
            return Err(Errno::EINVAL);
        }
        let d = Duration::new(
            u64::try_from(ts.sec).unwrap_or(0),
            u32::try_from(ts.nsec).unwrap_or(0),
        );
        Some(Instant::now() + d)
    };
    each_mmsg(
        t,
        args.ptr(1),
        args.uint(2),
        |hdr, first| {
            let f = if !first && flags & MSG_WAITFORONE != 0 {
                (flags & !MSG_WAITFORONE) | s::MSG_DONTWAIT
            } else {
                flags & !MSG_WAITFORONE
            };
            recvmsg_at(t, fd, hdr, f)
        },
        || deadline.is_none_or(|d| Instant::now() < d),
    )
}
