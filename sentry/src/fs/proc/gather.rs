//! Collecting what a /proc file shows from the kernel (the "decode" half; `format.rs` is the
//! pure "print" half). Lock order as in the module doc of `proc`: the tree is locked only to
//! copy `Arc`s out; signal, fd-table, fs-context and mm locks are taken after it is dropped.

use std::any::Any;
use std::sync::Arc;

use abi::file as f;
use abi::{Errno, SysResult};
use vfs::{OpenFile, VfsPath};

use super::format::{self, MapsLine, MemInfo, TaskInfo};
use super::{Caller, Global, PidFile, PidLink, Who, handles_of, lock, may_inspect};
use crate::kernel::TaskShared;
use crate::kernel::procinfo::{ProcHandles, ProcIds};
use crate::kernel::task::VfsMappedFile;
use crate::loader::vdso::SpecialPages;
use crate::mm::{ExeInfo, MappedFile, MemoryManager, VmaInfo};

/// Longest cmdline/environ read (the loader refuses bigger argument areas anyway).
const MAX_ARGS_BYTES: u64 = 2 << 20;

/// One process (or thread) as /proc sees it.
#[derive(Debug)]
pub(super) struct Target {
    pub ids: ProcIds,
    /// The thread asked for, or the first live thread of the process (`None` for a zombie).
    pub thread: Option<Arc<TaskShared>>,
    /// Its thread-owned handles, once its thread has started.
    pub handles: Option<ProcHandles>,
}

/// Finds `who` in the caller's pid namespace (ENOENT if gone).
pub(super) fn target(c: &Caller, who: Who) -> SysResult<Target> {
    let ids = c.kernel.tree().proc_ids(who.tgid).ok_or(Errno::ENOENT)?;
    let thread = match who.tid {
        Some(tid) => Some(
            ids.threads
                .iter()
                .find(|t| t.tid() == tid)
                .cloned()
                .ok_or(Errno::ENOENT)?,
        ),
        None => ids.threads.first().cloned(),
    };
    let handles = thread.as_ref().and_then(handles_of);
    Ok(Target {
        ids,
        thread,
        handles,
    })
}

/// EACCES unless the caller may inspect `t` (its own process always).
pub(super) fn check_inspect(c: &Caller, t: &Target) -> SysResult<()> {
    if c.task.tg.tgid == t.ids.tgid {
        return Ok(());
    }
    match (&c.handles, &t.handles) {
        (Some(me), Some(them)) if !may_inspect(&me.creds, &them.creds) => Err(Errno::EACCES),
        _ => Ok(()),
    }
}

/// Open fds of `t`, ascending (none for a zombie or a task not yet started).
pub(super) fn fd_numbers(t: &Target) -> Vec<i32> {
    t.handles
        .as_ref()
        .and_then(|h| h.fds.upgrade())
        .map(|fds| lock(&fds).fds().collect())
        .unwrap_or_default()
}

/// The description behind fd `fd` of `t`.
pub(super) fn fd_file(t: &Target, fd: i32) -> SysResult<Arc<OpenFile>> {
    let fds = t
        .handles
        .as_ref()
        .and_then(|h| h.fds.upgrade())
        .ok_or(Errno::ENOENT)?;
    lock(&fds).file(fd).map_err(|_| Errno::ENOENT)
}

fn mm_of(t: &Target) -> Option<Arc<MemoryManager>> {
    t.handles.as_ref().and_then(|h| h.mm.upgrade())
}

/// The open file behind a mapping or the exe, if it came from the VFS.
fn vfs_file(m: &Arc<dyn MappedFile>) -> Option<&Arc<OpenFile>> {
    let any: &dyn Any = m.as_ref();
    any.downcast_ref::<VfsMappedFile>().map(|v| &v.0)
}

/// Where `exe`, `cwd` or `root` of `t` points.
pub(super) fn link_target(t: &Target, l: PidLink) -> SysResult<VfsPath> {
    match l {
        PidLink::Exe => {
            let mm = mm_of(t).ok_or(Errno::ENOENT)?;
            let exe = mm.exe_info().exe.ok_or(Errno::ENOENT)?;
            vfs_file(&exe)
                .and_then(|f| f.path().cloned())
                .ok_or(Errno::ENOENT)
        }
        PidLink::Cwd | PidLink::Root => {
            let fs = t
                .handles
                .as_ref()
                .and_then(|h| h.fs.upgrade())
                .ok_or(Errno::ENOENT)?;
            let g = lock(&fs);
            Ok(if l == PidLink::Cwd {
                g.cwd.clone()
            } else {
                g.root.clone()
            })
        }
    }
}

/// What readlink of /proc/[pid]/fd/N gives: the path of a VFS file, else the anonymous
/// names of fs/d_path.c and fs/pipe.c (`pipe:[ino]`, `socket:[ino]`, `anon_inode:[...]`).
/// Host fds handed in as stdio are named after the host device when it is a terminal or
/// /dev/null-like, else `host:[ino]` (the host path is not known to the sentry).
pub(super) fn describe_file(file: &OpenFile, root: &VfsPath) -> Vec<u8> {
    if let Some(p) = file.path() {
        return p.path_from(root);
    }
    let Ok(st) = file.stat() else {
        return b"anon_inode:[unknown]".to_vec();
    };
    let (maj, min) = (f::dev_major(st.rdev), f::dev_minor(st.rdev));
    match st.mode & f::S_IFMT {
        f::S_IFIFO => format!("pipe:[{}]", st.ino).into_bytes(),
        f::S_IFSOCK => format!("socket:[{}]", st.ino).into_bytes(),
        f::S_IFCHR => match (maj, min) {
            (136..=143, m) => format!("/dev/pts/{}", (maj - 136) * 256 + m).into_bytes(),
            (5, 0) => b"/dev/tty".to_vec(),
            (1, 3) => b"/dev/null".to_vec(),
            (4, m) => format!("/dev/tty{m}").into_bytes(),
            _ => format!("host:[{}]", st.ino).into_bytes(),
        },
        0 => b"anon_inode:[unknown]".to_vec(),
        _ => format!("host:[{}]", st.ino).into_bytes(),
    }
}

/// /proc/[pid]/fdinfo/N.
pub(super) fn fdinfo(t: &Target, fd: i32) -> SysResult<Vec<u8>> {
    let fds = t
        .handles
        .as_ref()
        .and_then(|h| h.fds.upgrade())
        .ok_or(Errno::ENOENT)?;
    let (file, cloexec) = {
        let g = lock(&fds);
        let e = g.get(fd).map_err(|_| Errno::ENOENT)?;
        (Arc::clone(&e.file), e.cloexec)
    };
    // lseek(fd, 0, SEEK_CUR) reads the offset without moving it; streams have none.
    let pos = file.seek(0, f::SEEK_CUR).unwrap_or(0);
    let flags = file.flags() | if cloexec { f::O_CLOEXEC } else { 0 };
    let mnt = file.path().map_or(0, |p| p.mount().id());
    let ino = file.stat().map_or(0, |s| s.ino);
    Ok(format::fdinfo(pos, flags, mnt, ino).into_bytes())
}

/// Memory numbers of an address space.
fn mem_info(vmas: &[VmaInfo], files: &[(u64, Arc<dyn MappedFile>)], exe: &ExeInfo) -> MemInfo {
    let mut m = MemInfo {
        arg: exe.argv,
        env: exe.envp,
        start_stack: exe.argv.0,
        ..MemInfo::default()
    };
    let is_exe = |start: u64| {
        files.iter().any(|(s, file)| {
            *s == start
                && exe
                    .exe
                    .as_ref()
                    .is_some_and(|e| std::ptr::addr_eq(Arc::as_ptr(e), Arc::as_ptr(file)))
        })
    };
    let is_file = |start: u64| files.iter().any(|(s, _)| *s == start);
    for v in vmas {
        let len = v.end.saturating_sub(v.start);
        m.size = m.size.saturating_add(len);
        let exec = v.prot.contains(abi::mm::Prot::EXEC);
        if v.grows_down {
            m.stack = m.stack.saturating_add(len);
        } else if v.prot.contains(abi::mm::Prot::WRITE)
            && v.sharing == crate::mm::Sharing::Private
            && !is_file(v.start)
        {
            m.data = m.data.saturating_add(len);
        }
        if exec && is_exe(v.start) {
            m.exe = m.exe.saturating_add(len);
            if m.start_code == 0 || v.start < m.start_code {
                m.start_code = v.start;
            }
            m.end_code = m.end_code.max(v.end);
        } else if exec && is_file(v.start) {
            m.lib = m.lib.saturating_add(len);
        }
        if v.is_heap && (m.start_brk == 0 || v.start < m.start_brk) {
            m.start_brk = v.start;
        }
    }
    m
}

/// The data of /proc/[pid]/stat and status.
fn task_info(c: &Caller, t: &Target, w: Who) -> TaskInfo {
    let thread = t.thread.as_ref();
    let state = match (t.ids.zombie, thread) {
        (Some(_), _) | (None, None) => 'Z',
        (None, Some(th)) => th.state_letter(),
    };
    let comm = thread.map(|th| th.comm_name()).unwrap_or_default();
    let gsig = t.ids.tg.signal_info();
    let (blocked, pending) = thread.map(|th| th.signal_masks()).unwrap_or_default();
    let creds = t.handles.as_ref().map(|h| h.creds.clone());
    let umask = t
        .handles
        .as_ref()
        .and_then(|h| h.fs.upgrade())
        .map_or(0o022, |fs| lock(&fs).umask);
    let nfds = fd_numbers(t)
        .last()
        .map_or(0, |&l| usize::try_from(l).unwrap_or(0).saturating_add(1));
    let mem = mm_of(t)
        .map(|mm| mem_info(&mm.vmas(), &mm.vma_files(), &mm.exe_info()))
        .unwrap_or_default();
    let (tty_nr, tpgid) = crate::tty::proc_stat_tty(&c.kernel, t.ids.sid);
    TaskInfo {
        pid: w.tid.unwrap_or(t.ids.tgid),
        tty_nr,
        tpgid,
        tgid: t.ids.tgid,
        comm,
        state,
        ppid: t.ids.ppid,
        pgid: t.ids.pgid,
        sid: t.ids.sid,
        threads: t.ids.threads.len(),
        umask,
        uids: creds
            .as_ref()
            .map_or([0; 4], |c| [c.uid, c.euid, c.suid, c.fsuid]),
        gids: creds
            .as_ref()
            .map_or([0; 4], |c| [c.gid, c.egid, c.sgid, c.fsgid]),
        caps: creds
            .as_ref()
            .map_or([0, 0, 0, abi::cap::CAP_FULL_SET, 0], |c| {
                [
                    c.cap_inheritable,
                    c.cap_permitted,
                    c.cap_effective,
                    c.cap_bounding,
                    c.cap_ambient,
                ]
            }),
        groups: creds.map(|c| c.groups).unwrap_or_default(),
        // Linux's fd arrays grow in BITS_PER_LONG steps.
        fd_size: nfds.div_ceil(64).max(1).saturating_mul(64),
        sig_pending: pending.0,
        shared_pending: gsig.shared_pending.0,
        sig_blocked: blocked.0,
        sig_ignored: gsig.ignored.0,
        sig_caught: gsig.caught.0,
        sigq_limit: t.ids.tg.rlimit_cur(abi::time::RLIMIT_SIGPENDING),
        exit_signal: t.ids.exit_signal,
        mem,
        no_new_privs: t.handles.as_ref().is_some_and(|h| h.no_new_privs),
        ncpus: c.kernel.ncpus,
        nice: thread.map_or(0, |th| th.nice()),
    }
}

/// Reads `[start, end)` of `mm` (cmdline, environ): what is readable, up to MAX_ARGS_BYTES.
fn read_range(mm: &MemoryManager, (start, end): (u64, u64)) -> Vec<u8> {
    let len = end.saturating_sub(start).min(MAX_ARGS_BYTES);
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let (n, _) = mm.copy_in_partial(start, &mut buf);
    buf.truncate(n);
    buf
}

/// /proc/[pid]/maps.
fn maps(c: &Caller, mm: &MemoryManager) -> Vec<u8> {
    let root = c.root();
    let files = mm.vma_files();
    let exe = mm.exe_info();
    let mut out = Vec::new();
    for v in mm.vmas() {
        let file = files.iter().find(|(s, _)| *s == v.start).map(|(_, f)| f);
        let mut line = MapsLine {
            start: v.start,
            end: v.end,
            read: v.prot.contains(abi::mm::Prot::READ),
            write: v.prot.contains(abi::mm::Prot::WRITE),
            exec: v.prot.contains(abi::mm::Prot::EXEC),
            shared: v.sharing == crate::mm::Sharing::Shared,
            offset: v.file_offset.unwrap_or(0),
            ..MapsLine::default()
        };
        if let Some(special) = file.and_then(SpecialPages::of_mapped_file) {
            // Linux's special mappings (install_special_mapping) are never VM_SHARED, so
            // they read "p" even where ours is a shared mapping of the time page.
            line.shared = false;
            line.name = special.name().as_bytes().to_vec();
        } else if let Some(of) = file.and_then(vfs_file) {
            if let Ok(st) = of.stat() {
                line.dev_major = f::dev_major(st.dev);
                line.dev_minor = f::dev_minor(st.dev);
                line.ino = st.ino;
            }
            line.name = of
                .path()
                .map_or_else(|| describe_file(of, &root), |p| p.path_from(&root));
        } else if v.is_heap {
            line.name = b"[heap]".to_vec();
        } else if v.grows_down || (v.start <= exe.argv.0 && exe.argv.0 < v.end) {
            line.name = b"[stack]".to_vec();
        }
        out.extend_from_slice(&format::maps_line(&line));
    }
    out
}

/// The filesystem type and source name /proc/mounts shows for a statfs magic.
fn fs_names(magic: i64) -> (&'static str, &'static str) {
    match magic {
        f::TMPFS_MAGIC => ("tmpfs", "tmpfs"),
        f::V9FS_MAGIC => ("none", "9p"),
        f::PROC_SUPER_MAGIC => ("proc", "proc"),
        f::SYSFS_MAGIC => ("sysfs", "sysfs"),
        f::DEVPTS_SUPER_MAGIC => ("devpts", "devpts"),
        f::OVERLAYFS_SUPER_MAGIC => ("overlay", "overlay"),
        _ => ("none", "unknown"),
    }
}

/// /proc/[pid]/mounts: the namespace's mounts visible under `t`'s root, paths from it.
fn mounts(c: &Caller, t: &Target) -> Vec<u8> {
    let root = t
        .handles
        .as_ref()
        .and_then(|h| h.fs.upgrade())
        .map_or_else(|| c.kernel.mounts.root(), |fs| lock(&fs).root.clone());
    let mut out = Vec::new();
    for m in c.kernel.mounts.mounts() {
        let magic = m.statfs().map_or(0, |s| s.ty);
        let (source, ty) = fs_names(magic);
        let path = m.path_from(&root);
        out.extend_from_slice(&format::mounts_line(source, &path, ty, m.is_readonly()));
    }
    out
}

/// The text of a per-task file.
pub(super) fn pid_file(c: &Caller, t: &Target, w: Who, p: PidFile) -> SysResult<Vec<u8>> {
    Ok(match p {
        PidFile::Stat => format::stat(&task_info(c, t, w)).into_bytes(),
        PidFile::Status => format::status(&task_info(c, t, w)).into_bytes(),
        PidFile::Statm => format::statm(&task_info(c, t, w).mem).into_bytes(),
        PidFile::Comm => {
            let mut v = t
                .thread
                .as_ref()
                .map(|th| th.comm_name())
                .unwrap_or_default();
            v.push(b'\n');
            v
        }
        PidFile::Cmdline => mm_of(t).map_or_else(Vec::new, |mm| {
            let r = mm.exe_info().argv;
            read_range(&mm, r)
        }),
        PidFile::Environ => mm_of(t).map_or_else(Vec::new, |mm| {
            let r = mm.exe_info().envp;
            read_range(&mm, r)
        }),
        PidFile::Maps => mm_of(t).map_or_else(Vec::new, |mm| maps(c, &mm)),
        PidFile::Mounts => mounts(c, t),
        PidFile::Limits => format::limits(&t.ids.tg.limits()).into_bytes(),
    })
}

/// A NUL-padded utsname field as text.
fn uts_str(b: &[u8]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..n).unwrap_or_default()).into_owned()
}

/// The text of a task-independent file.
pub(super) fn global(c: &Caller, g: Global) -> SysResult<Vec<u8>> {
    let k = &c.kernel;
    let s = match g {
        Global::Meminfo => {
            // The host's numbers, or the sandbox's memory limit (kernel/oom.rs).
            let v = crate::kernel::oom::mem_view(k);
            format::meminfo(&format::HostMem {
                total: v.total,
                free: v.free,
                swap_total: v.swap_total,
                swap_free: v.swap_free,
            })
        }
        Global::Cpuinfo => format::cpuinfo(&cpuid(), k.ncpus),
        Global::Stat => {
            let up = k.boot.elapsed().as_secs();
            let now = vfs::now().sec;
            let btime = u64::try_from(now).unwrap_or(0).saturating_sub(up);
            let tree = k.tree();
            let running = tree
                .tasks
                .values()
                .filter(|t| t.state_letter() == 'R')
                .count();
            format::kernel_stat(k.ncpus, btime, tree.procs.len(), running)
        }
        Global::Uptime => {
            let centis = k.boot.elapsed().as_millis() / 10;
            format::uptime(u64::try_from(centis).unwrap_or(u64::MAX), k.ncpus)
        }
        Global::Loadavg => {
            let tree = k.tree();
            let running = tree
                .tasks
                .values()
                .filter(|t| t.state_letter() == 'R')
                .count();
            format::loadavg(running, tree.nr_threads(), tree.last_id())
        }
        Global::Filesystems => format::filesystems().to_string(),
        Global::Locks => format::locks(&vfs::lock::snapshot()),
        Global::Version => format!(
            "{} version {} (rvisor@rvisor) {}\n",
            uts_str(&k.uts.sysname),
            uts_str(&k.uts.release),
            uts_str(&k.uts.version)
        ),
        Global::Hostname => format!("{}\n", uts_str(&k.uts.nodename)),
        Global::Ostype => format!("{}\n", uts_str(&k.uts.sysname)),
        Global::Osrelease => format!("{}\n", uts_str(&k.uts.release)),
        Global::PidMax => format!("{}\n", crate::kernel::tree::PID_MAX),
        // include/uapi/linux/limits.h NGROUPS_MAX.
        Global::NgroupsMax => "65536\n".to_string(),
        Global::CapLastCap => format!("{}\n", abi::cap::CAP_LAST_CAP),
        // The sentry's MemoryFile overcommits like the heuristic mode.
        Global::Overcommit => "0\n".to_string(),
        // The limits vfs::inotify enforces (read-only here).
        Global::InotifyMaxQueuedEvents => format!("{}\n", abi::inotify::MAX_QUEUED_EVENTS),
        Global::InotifyMaxUserInstances => format!("{}\n", abi::inotify::MAX_USER_INSTANCES),
        Global::InotifyMaxUserWatches => format!("{}\n", abi::inotify::MAX_USER_WATCHES),
        Global::NetDev => format::net_dev(
            &crate::socket::netlink::interfaces(),
            &k.net_stack_if_made()
                .map(|s| s.wire_stats())
                .unwrap_or_default(),
        ),
        Global::NetIfInet6 => format::net_if_inet6(&crate::socket::netlink::interfaces()),
        // IPv4 routes of the main table (the Ethernet interfaces').
        Global::NetRoute => format::net_route(
            &crate::socket::netlink::interfaces(),
            &crate::socket::netlink::routes(),
        ),
        Global::NetTcp => net_table(k, true, netstack::Family::V4),
        Global::NetTcp6 => net_table(k, true, netstack::Family::V6),
        Global::NetUdp => net_table(k, false, netstack::Family::V4),
        Global::NetUdp6 => net_table(k, false, netstack::Family::V6),
        // Linux's defaults (net.core.somaxconn since 5.4; the ephemeral port range).
        Global::Somaxconn => "4096\n".to_string(),
        Global::IpLocalPortRange => "32768\t60999\n".to_string(),
        Global::IpUnprivilegedPortStart => format!(
            "{}\n",
            k.unprivileged_port_start
                .load(std::sync::atomic::Ordering::Relaxed)
        ),
        // Every group may open ping sockets (socket::inet), as Docker configures containers.
        Global::PingGroupRange => "0\t2147483647\n".to_string(),
    };
    Ok(s.into_bytes())
}

/// /proc/net/{tcp,tcp6,udp,udp6}: the netstack's sockets of `family` (headers only while no
/// inet socket has made the stack).
fn net_table(k: &crate::kernel::Kernel, tcp: bool, family: netstack::Family) -> String {
    let entries: Vec<netstack::SocketEntry> = k
        .net_stack_if_made()
        .map(|s| s.socket_table(tcp))
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.family == family)
        .collect();
    format::net_sockets(&entries, tcp, family == netstack::Family::V6)
}

/// The host CPU's identification (CPUID), for /proc/cpuinfo.
fn cpuid() -> format::CpuId {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        let l0 = __cpuid(0);
        let mut vendor = Vec::with_capacity(12);
        for r in [l0.ebx, l0.edx, l0.ecx] {
            vendor.extend_from_slice(&r.to_le_bytes());
        }
        let l1 = __cpuid(1);
        let base_family = (l1.eax >> 8) & 0xf;
        let base_model = (l1.eax >> 4) & 0xf;
        let family = if base_family == 0xf {
            base_family + ((l1.eax >> 20) & 0xff)
        } else {
            base_family
        };
        let model = if base_family == 0x6 || base_family == 0xf {
            base_model | (((l1.eax >> 16) & 0xf) << 4)
        } else {
            base_model
        };
        let mut name = Vec::with_capacity(48);
        if __cpuid(0x8000_0000).eax >= 0x8000_0004 {
            for leaf in 0x8000_0002u32..=0x8000_0004 {
                let r = __cpuid(leaf);
                for x in [r.eax, r.ebx, r.ecx, r.edx] {
                    name.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        let name_end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let l7 = if l0.eax >= 7 { __cpuid(7) } else { __cpuid(0) };
        let mut flags = Vec::new();
        let bit = |r: u32, b: u32| (r >> b) & 1 == 1;
        for (b, n) in CPUID1_EDX {
            if bit(l1.edx, *b) {
                flags.push(*n);
            }
        }
        for (b, n) in CPUID1_ECX {
            if bit(l1.ecx, *b) {
                flags.push(*n);
            }
        }
        if l0.eax >= 7 {
            for (b, n) in CPUID7_EBX {
                if bit(l7.ebx, *b) {
                    flags.push(*n);
                }
            }
        }
        format::CpuId {
            vendor: String::from_utf8_lossy(&vendor).into_owned(),
            family,
            model,
            stepping: l1.eax & 0xf,
            model_name: String::from_utf8_lossy(name.get(..name_end).unwrap_or_default())
                .trim()
                .to_string(),
            flags,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    format::CpuId::default()
}

/// CPUID leaf 1 EDX feature names (arch/x86/include/asm/cpufeatures.h word 0).
const CPUID1_EDX: &[(u32, &str)] = &[
    (0, "fpu"),
    (1, "vme"),
    (2, "de"),
    (3, "pse"),
    (4, "tsc"),
    (5, "msr"),
    (6, "pae"),
    (7, "mce"),
    (8, "cx8"),
    (9, "apic"),
    (11, "sep"),
    (12, "mtrr"),
    (13, "pge"),
    (14, "mca"),
    (15, "cmov"),
    (16, "pat"),
    (17, "pse36"),
    (19, "clflush"),
    (23, "mmx"),
    (24, "fxsr"),
    (25, "sse"),
    (26, "sse2"),
    (27, "ss"),
    (28, "ht"),
];

/// CPUID leaf 1 ECX feature names (word 4).
const CPUID1_ECX: &[(u32, &str)] = &[
    (0, "pni"),
    (1, "pclmulqdq"),
    (9, "ssse3"),
    (12, "fma"),
    (13, "cx16"),
    (19, "sse4_1"),
    (20, "sse4_2"),
    (22, "movbe"),
    (23, "popcnt"),
    (25, "aes"),
    (26, "xsave"),
    (28, "avx"),
    (29, "f16c"),
    (30, "rdrand"),
    (31, "hypervisor"),
];

/// CPUID leaf 7 EBX feature names (word 9).
const CPUID7_EBX: &[(u32, &str)] = &[
    (0, "fsgsbase"),
    (3, "bmi1"),
    (5, "avx2"),
    (8, "bmi2"),
    (9, "erms"),
    (16, "avx512f"),
    (18, "rdseed"),
    (19, "adx"),
    (29, "sha_ni"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::Sharing;
    use abi::mm::Prot;

    fn vma(start: u64, end: u64, prot: Prot) -> VmaInfo {
        VmaInfo {
            start,
            end,
            prot,
            sharing: Sharing::Private,
            file_offset: None,
            grows_down: false,
            is_heap: false,
        }
    }

    #[test]
    fn mem_info_sums_by_kind() {
        let vmas = vec![
            vma(0x1000, 0x3000, Prot::READ | Prot::WRITE),
            VmaInfo {
                grows_down: true,
                ..vma(0x10_0000, 0x12_0000, Prot::READ | Prot::WRITE)
            },
            VmaInfo {
                is_heap: true,
                ..vma(0x5000, 0x6000, Prot::READ | Prot::WRITE)
            },
        ];
        let exe = ExeInfo {
            argv: (0x11_f000, 0x11_f010),
            ..ExeInfo::default()
        };
        let m = mem_info(&vmas, &[], &exe);
        assert_eq!(m.size, 0x2000 + 0x2_0000 + 0x1000);
        assert_eq!(m.stack, 0x2_0000);
        assert_eq!(m.data, 0x3000);
        assert_eq!(m.start_brk, 0x5000);
        assert_eq!(m.arg, (0x11_f000, 0x11_f010));
    }

    #[test]
    fn fs_names_by_magic() {
        assert_eq!(fs_names(f::V9FS_MAGIC), ("none", "9p"));
        assert_eq!(fs_names(f::PROC_SUPER_MAGIC), ("proc", "proc"));
        assert_eq!(fs_names(f::TMPFS_MAGIC), ("tmpfs", "tmpfs"));
    }

    #[test]
    fn uts_str_stops_at_nul() {
        assert_eq!(uts_str(b"6.1.0\0\0junk"), "6.1.0");
    }
}
