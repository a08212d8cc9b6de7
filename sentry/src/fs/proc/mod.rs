//! procfs: the sandbox's /proc, generated from the sentry's own state — the task tree (sandbox
//! pids), each task's mm (its VMAs and the argv/envp the loader wrote), its fd table and its
//! filesystem context. Nothing here reads the host's /proc.
//!
//! Key types: [`new_filesystem`] (one instance, mounted on /proc by the CLI), `ProcInode` (one
//! node of the tree, named by a [`Node`] value: the tree is computed, never stored), and
//! `ProcFile` (an opened file: its text, generated at open). The text formats are pure
//! functions in `format.rs`.
//!
//! Neighbours: `vfs` walks the tree through the `Inode` trait and follows the magic links
//! (`exe`, `cwd`, `root`, `fd/N`) through `Inode::follow_magic`; the kernel exposes what /proc
//! reads through the accessors in `kernel/procinfo.rs`; `Task::start` and execve call
//! [`set_current`].
//!
//! # Who is asking: a thread-local current task (shortcut)
//!
//! `/proc/self`, `/proc/thread-self`, permission checks and path rendering (relative to the
//! caller's root) need the calling task, but the VFS calls inodes without one. Each task runs
//! on its own host thread (1:1), so the task's thread records itself in a thread-local when it
//! starts and after execve ([`set_current`]); procfs reads it back. The same call records the
//! task's thread-owned handles (mm, fd table, fs context, credentials) in a process-wide
//! registry keyed by its `TaskShared`, so /proc/[pid] of *another* task can reach them (the
//! tree only holds `TaskShared`). Consequences, all documented shortcuts:
//! - credentials shown (Uid/Gid, file owners, permission checks) are those at the task's last
//!   start or execve: a later setuid is not seen until the next exec;
//! - a task that replaces its fd table or fs context other than by execve (unshare) keeps
//!   showing the old ones;
//! - a thread without a current task (a host thread of the CLI) sees /proc/self as ENOENT.
//!
//! Other shortcuts: file text is generated when the file is opened (Linux generates it per
//! read(2) through seq_file; a reader that opens once and re-reads from offset 0 sees the old
//! text); RSS, CPU times and fault counters are 0; write-opens fail with EACCES (no writable
//! files: `comm`, `oom_score_adj`... are read-only); following `fd/N` of an anonymous file (a
//! pipe, a host fd, a pidfd) fails with ENXIO instead of reopening it; dentries of dead pids
//! stay cached by the VFS but read as ENOENT, and a reused pid shows the new process.
//!
//! # Lock order
//! Procfs holds no lock of its own across kernel calls except the registry, which is taken
//! alone. It takes `Kernel::tree` (copying out `Arc`s), drops it, then `ThreadGroup::sig` →
//! `TaskShared::sig`, then, with none of those held, `FdTable`, `FsContext` and the mm — the
//! kernel's order (kernel/mod.rs).

pub mod format;
mod gather;

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use abi::file::{self as f, StatFs};
use abi::{Errno, SysResult};
use vfs::{DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind, VfsPath};

use crate::kernel::procinfo::ProcHandles;
use crate::kernel::{Kernel, Task, TaskShared};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---- who is asking -------------------------------------------------------------------------

/// The task running on this host thread.
#[derive(Debug)]
struct Current {
    kernel: Weak<Kernel>,
    task: Weak<TaskShared>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Handles of every task that has started, by `TaskShared` address (see the module doc).
/// Entries whose task is gone are pruned at the next [`set_current`].
static REGISTRY: Mutex<BTreeMap<usize, (Weak<TaskShared>, ProcHandles)>> =
    Mutex::new(BTreeMap::new());

fn key(t: &Arc<TaskShared>) -> usize {
    Arc::as_ptr(t).addr()
}

/// Records `t` as the task of the calling host thread and refreshes its handles for /proc.
/// Called by the task's own thread when it starts and after execve replaced its mm, fd table
/// and fs context.
pub(crate) fn set_current(t: &Task) {
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Current {
            kernel: Arc::downgrade(t.kernel()),
            task: Arc::downgrade(t.shared()),
        });
    });
    let mut r = lock(&REGISTRY);
    r.retain(|_, (w, _)| w.strong_count() > 0);
    r.insert(
        key(t.shared()),
        (Arc::downgrade(t.shared()), t.proc_handles()),
    );
}

/// The credentials of task `tid` as last published (task start, exec, credential changes).
pub(crate) fn creds_of(kernel: &Kernel, tid: i32) -> Option<crate::kernel::Credentials> {
    let shared = kernel.tree().tasks.get(&tid).cloned()?;
    handles_of(&shared).map(|h| h.creds)
}

/// The memory manager of task `t` as last published (for the OOM killer's resident sets).
pub(crate) fn mm_of_task(t: &Arc<TaskShared>) -> Option<Arc<crate::mm::MemoryManager>> {
    handles_of(t).and_then(|h| h.mm.upgrade())
}

/// The handles recorded for `t`, if its thread has started.
fn handles_of(t: &Arc<TaskShared>) -> Option<ProcHandles> {
    let r = lock(&REGISTRY);
    let (w, h) = r.get(&key(t))?;
    // The address could have been reused by a newer task since the entry was written.
    w.upgrade()
        .is_some_and(|a| Arc::ptr_eq(&a, t))
        .then(|| h.clone())
}

/// The calling task.
#[derive(Debug, Clone)]
struct Caller {
    kernel: Arc<Kernel>,
    task: Arc<TaskShared>,
    handles: Option<ProcHandles>,
}

impl Caller {
    /// The caller's root directory, for rendering paths; the namespace root if unknown.
    fn root(&self) -> VfsPath {
        self.handles
            .as_ref()
            .and_then(|h| h.fs.upgrade())
            .map_or_else(|| self.kernel.mounts.root(), |fs| lock(&fs).root.clone())
    }
}

fn caller() -> SysResult<Caller> {
    let (kernel, task) = CURRENT
        .with(|c| {
            let c = c.borrow();
            let c = c.as_ref()?;
            Some((c.kernel.upgrade()?, c.task.upgrade()?))
        })
        .ok_or(Errno::ENOENT)?;
    let handles = handles_of(&task);
    Ok(Caller {
        kernel,
        task,
        handles,
    })
}

/// ptrace_may_access(PTRACE_MODE_READ_FSCREDS) without the dumpable check: CAP_SYS_PTRACE,
/// or the reader's fs uid/gid matching all of the target's uids/gids.
pub fn may_inspect(
    reader: &crate::kernel::Credentials,
    target: &crate::kernel::Credentials,
) -> bool {
    reader.has_cap(abi::cap::CAP_SYS_PTRACE)
        || (reader.fsuid == target.uid
            && reader.fsuid == target.euid
            && reader.fsuid == target.suid
            && reader.fsgid == target.gid
            && reader.fsgid == target.egid
            && reader.fsgid == target.sgid)
}

/// A pid or fd directory name: canonical decimal only ("+1" and "01" name nothing, as
/// fs/proc/util.c name_to_int has it).
fn parse_id(name: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(name).ok()?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

// ---- the tree ------------------------------------------------------------------------------

/// A process (`tid: None`) or one of its threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Who {
    tgid: i32,
    tid: Option<i32>,
}

/// Files of the /proc root and /proc/sys that do not depend on a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Global {
    Meminfo,
    Cpuinfo,
    Stat,
    Uptime,
    Loadavg,
    Filesystems,
    Locks,
    Version,
    Hostname,
    Ostype,
    Osrelease,
    PidMax,
    NgroupsMax,
    CapLastCap,
    Overcommit,
    InotifyMaxQueuedEvents,
    InotifyMaxUserInstances,
    InotifyMaxUserWatches,
    NetDev,
    NetIfInet6,
    NetRoute,
    NetTcp,
    NetTcp6,
    NetUdp,
    NetUdp6,
    Somaxconn,
    IpLocalPortRange,
    IpUnprivilegedPortStart,
    PingGroupRange,
}

/// Fixed directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum StaticDir {
    Sys,
    SysKernel,
    SysVm,
    SysFs,
    SysFsInotify,
    SysNet,
    SysNetCore,
    SysNetIpv4,
    Net,
}

/// Per-task files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PidFile {
    Stat,
    Status,
    Statm,
    Cmdline,
    Environ,
    Maps,
    Mounts,
    Limits,
    Comm,
}

/// Per-task magic links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PidLink {
    Exe,
    Cwd,
    Root,
}

/// `fd/` or `fdinfo/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum FdKind {
    Fd,
    Info,
}

/// One node of /proc. See the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Node {
    Root,
    SelfLink,
    ThreadSelf,
    /// /proc/mounts -> self/mounts.
    MountsLink,
    Global(Global),
    Dir(StaticDir),
    /// /proc/[pid] or /proc/[pid]/task/[tid].
    Pid(Who),
    /// /proc/[pid]/task.
    TaskDir(i32),
    File(Who, PidFile),
    Link(Who, PidLink),
    FdDir(Who, FdKind),
    Fd(Who, FdKind, i32),
}

const ROOT_ENTRIES: [(&str, Node); 13] = [
    ("self", Node::SelfLink),
    ("thread-self", Node::ThreadSelf),
    ("mounts", Node::MountsLink),
    ("meminfo", Node::Global(Global::Meminfo)),
    ("cpuinfo", Node::Global(Global::Cpuinfo)),
    ("stat", Node::Global(Global::Stat)),
    ("uptime", Node::Global(Global::Uptime)),
    ("loadavg", Node::Global(Global::Loadavg)),
    ("filesystems", Node::Global(Global::Filesystems)),
    ("locks", Node::Global(Global::Locks)),
    ("version", Node::Global(Global::Version)),
    ("sys", Node::Dir(StaticDir::Sys)),
    ("net", Node::Dir(StaticDir::Net)),
];

const PID_FILES: [(&str, PidFile); 9] = [
    ("cmdline", PidFile::Cmdline),
    ("comm", PidFile::Comm),
    ("environ", PidFile::Environ),
    ("limits", PidFile::Limits),
    ("maps", PidFile::Maps),
    ("mounts", PidFile::Mounts),
    ("stat", PidFile::Stat),
    ("statm", PidFile::Statm),
    ("status", PidFile::Status),
];

const PID_LINKS: [(&str, PidLink); 3] = [
    ("cwd", PidLink::Cwd),
    ("exe", PidLink::Exe),
    ("root", PidLink::Root),
];

impl Node {
    fn kind(self) -> InodeKind {
        match self {
            Node::Root | Node::Dir(_) | Node::Pid(_) | Node::TaskDir(_) | Node::FdDir(..) => {
                InodeKind::Dir
            }
            Node::SelfLink | Node::ThreadSelf | Node::MountsLink | Node::Link(..) => {
                InodeKind::Symlink
            }
            Node::Fd(_, FdKind::Fd, _) => InodeKind::Symlink,
            Node::Global(_) | Node::File(..) | Node::Fd(_, FdKind::Info, _) => InodeKind::Regular,
        }
    }

    /// Permission bits, as Linux gives them (fs/proc/base.c tgid_base_stuff).
    fn perm(self) -> u32 {
        match self {
            Node::File(_, PidFile::Environ) => 0o400,
            Node::FdDir(_, FdKind::Fd) => 0o500,
            Node::Fd(_, FdKind::Fd, _) => 0o700,
            Node::Fd(_, FdKind::Info, _) => 0o400,
            Node::File(_, PidFile::Comm) => 0o644,
            n if n.kind() == InodeKind::Symlink => 0o777,
            n if n.kind() == InodeKind::Dir => 0o555,
            _ => 0o444,
        }
    }

    fn ino(self) -> u64 {
        if self == Node::Root {
            return 1;
        }
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        h.finish() | 2
    }

    /// The task this node belongs to, if any.
    fn who(self) -> Option<Who> {
        match self {
            Node::Pid(w) | Node::File(w, _) | Node::Link(w, _) | Node::FdDir(w, _) => Some(w),
            Node::Fd(w, ..) => Some(w),
            Node::TaskDir(tgid) => Some(Who { tgid, tid: None }),
            _ => None,
        }
    }
}

/// A new /proc instance.
pub fn new_filesystem() -> Arc<dyn Filesystem> {
    Arc::new(ProcFs {
        dev: vfs::new_anon_dev(),
        root: Arc::new(ProcInode { node: Node::Root }),
    })
}

#[derive(Debug)]
struct ProcFs {
    dev: u64,
    root: Arc<ProcInode>,
}

impl Filesystem for ProcFs {
    fn root(&self) -> Arc<dyn Inode> {
        Arc::clone(&self.root) as Arc<dyn Inode>
    }
    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs {
            ty: f::PROC_SUPER_MAGIC,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            ..StatFs::default()
        })
    }
    fn dev(&self) -> u64 {
        self.dev
    }
}

#[derive(Debug)]
struct ProcInode {
    node: Node,
}

impl ProcInode {
    /// The entries of a directory node.
    fn children(&self, c: &Caller) -> SysResult<Vec<(Vec<u8>, Node)>> {
        let named = |s: &str, n: Node| (s.as_bytes().to_vec(), n);
        Ok(match self.node {
            Node::Root => {
                let mut v: Vec<_> = ROOT_ENTRIES.iter().map(|&(s, n)| named(s, n)).collect();
                let tgids = c.kernel.tree().tgids();
                v.extend(tgids.into_iter().map(|tgid| {
                    (
                        tgid.to_string().into_bytes(),
                        Node::Pid(Who { tgid, tid: None }),
                    )
                }));
                v
            }
            Node::Dir(StaticDir::Sys) => vec![
                named("fs", Node::Dir(StaticDir::SysFs)),
                named("kernel", Node::Dir(StaticDir::SysKernel)),
                named("net", Node::Dir(StaticDir::SysNet)),
                named("vm", Node::Dir(StaticDir::SysVm)),
            ],
            Node::Dir(StaticDir::SysNet) => vec![
                named("core", Node::Dir(StaticDir::SysNetCore)),
                named("ipv4", Node::Dir(StaticDir::SysNetIpv4)),
            ],
            Node::Dir(StaticDir::SysNetCore) => {
                vec![named("somaxconn", Node::Global(Global::Somaxconn))]
            }
            Node::Dir(StaticDir::SysNetIpv4) => vec![
                named(
                    "ip_local_port_range",
                    Node::Global(Global::IpLocalPortRange),
                ),
                named("ping_group_range", Node::Global(Global::PingGroupRange)),
                named(
                    "ip_unprivileged_port_start",
                    Node::Global(Global::IpUnprivilegedPortStart),
                ),
            ],
            Node::Dir(StaticDir::Net) => vec![
                named("dev", Node::Global(Global::NetDev)),
                named("if_inet6", Node::Global(Global::NetIfInet6)),
                named("route", Node::Global(Global::NetRoute)),
                named("tcp", Node::Global(Global::NetTcp)),
                named("tcp6", Node::Global(Global::NetTcp6)),
                named("udp", Node::Global(Global::NetUdp)),
                named("udp6", Node::Global(Global::NetUdp6)),
            ],
            Node::Dir(StaticDir::SysKernel) => vec![
                named("cap_last_cap", Node::Global(Global::CapLastCap)),
                named("hostname", Node::Global(Global::Hostname)),
                named("ngroups_max", Node::Global(Global::NgroupsMax)),
                named("osrelease", Node::Global(Global::Osrelease)),
                named("ostype", Node::Global(Global::Ostype)),
                named("pid_max", Node::Global(Global::PidMax)),
            ],
            Node::Dir(StaticDir::SysFs) => {
                vec![named("inotify", Node::Dir(StaticDir::SysFsInotify))]
            }
            Node::Dir(StaticDir::SysFsInotify) => vec![
                named(
                    "max_queued_events",
                    Node::Global(Global::InotifyMaxQueuedEvents),
                ),
                named(
                    "max_user_instances",
                    Node::Global(Global::InotifyMaxUserInstances),
                ),
                named(
                    "max_user_watches",
                    Node::Global(Global::InotifyMaxUserWatches),
                ),
            ],
            Node::Dir(StaticDir::SysVm) => {
                vec![named("overcommit_memory", Node::Global(Global::Overcommit))]
            }
            Node::Pid(w) => {
                let mut v: Vec<_> = PID_FILES
                    .iter()
                    .map(|&(s, p)| named(s, Node::File(w, p)))
                    .collect();
                v.extend(PID_LINKS.iter().map(|&(s, l)| named(s, Node::Link(w, l))));
                v.push(named("fd", Node::FdDir(w, FdKind::Fd)));
                v.push(named("fdinfo", Node::FdDir(w, FdKind::Info)));
                if w.tid.is_none() {
                    v.push(named("task", Node::TaskDir(w.tgid)));
                }
                v
            }
            Node::TaskDir(tgid) => {
                let t = gather::target(c, Who { tgid, tid: None })?;
                t.ids
                    .threads
                    .iter()
                    .map(|th| {
                        let tid = th.tid();
                        (
                            tid.to_string().into_bytes(),
                            Node::Pid(Who {
                                tgid,
                                tid: Some(tid),
                            }),
                        )
                    })
                    .collect()
            }
            Node::FdDir(w, k) => {
                let t = gather::target(c, w)?;
                gather::check_inspect(c, &t)?;
                gather::fd_numbers(&t)
                    .into_iter()
                    .map(|fd| (fd.to_string().into_bytes(), Node::Fd(w, k, fd)))
                    .collect()
            }
            _ => return Err(Errno::ENOTDIR),
        })
    }

    /// Whether the node still names something (a live or zombie process, an open fd).
    fn exists(&self, c: &Caller) -> bool {
        match self.node {
            Node::Fd(w, _, fd) => gather::target(c, w)
                .map(|t| gather::fd_numbers(&t).contains(&fd))
                .unwrap_or(false),
            n => n.who().is_none_or(|w| gather::target(c, w).is_ok()),
        }
    }
}

impl Inode for ProcInode {
    fn attr(&self) -> SysResult<InodeAttr> {
        let c = caller()?;
        if !self.exists(&c) {
            return Err(Errno::ENOENT);
        }
        // Per-task files belong to the task's effective ids (fs/proc/base.c task_dump_owner).
        let (uid, gid) = self
            .node
            .who()
            .and_then(|w| gather::target(&c, w).ok())
            .and_then(|t| t.handles)
            .map_or((0, 0), |h| (h.creds.euid, h.creds.egid));
        let now = vfs::now();
        Ok(InodeAttr {
            kind: self.node.kind(),
            perm: self.node.perm(),
            ino: self.node.ino(),
            nlink: if self.node.kind() == InodeKind::Dir {
                2
            } else {
                1
            },
            uid,
            gid,
            size: 0,
            blocks: 0,
            blksize: 1024,
            rdev: 0,
            atime: now,
            mtime: now,
            ctime: now,
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let c = caller()?;
        if self.node.kind() != InodeKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        let number = parse_id(name);
        let found = match (self.node, number) {
            // Any thread id works at the root too (hidden from the listing, as on Linux).
            (Node::Root, Some(id)) => {
                let tree = c.kernel.tree();
                if tree.proc_ids(id).is_some() {
                    Some(Node::Pid(Who {
                        tgid: id,
                        tid: None,
                    }))
                } else {
                    tree.task(id).map(|t| {
                        Node::Pid(Who {
                            tgid: t.tg.tgid,
                            tid: Some(id),
                        })
                    })
                }
            }
            (Node::FdDir(w, k), Some(fd)) => Some(Node::Fd(w, k, fd)),
            _ => self
                .children(&c)?
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, n)| n),
        };
        let node = found.ok_or(Errno::ENOENT)?;
        let ino = ProcInode { node };
        if !ino.exists(&c) {
            return Err(Errno::ENOENT);
        }
        if let Node::FdDir(w, _) = node {
            gather::check_inspect(&c, &gather::target(&c, w)?)?;
        }
        Ok(Arc::new(ino))
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let c = caller()?;
        Ok(self
            .children(&c)?
            .into_iter()
            .map(|(name, n)| DirEntry {
                name,
                ino: n.ino(),
                kind: n.kind(),
            })
            .collect())
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        let c = caller()?;
        match self.node {
            Node::SelfLink => Ok(c.task.tg.tgid.to_string().into_bytes()),
            Node::ThreadSelf => {
                Ok(format!("{}/task/{}", c.task.tg.tgid, c.task.tid()).into_bytes())
            }
            Node::MountsLink => Ok(b"self/mounts".to_vec()),
            Node::Link(w, l) => {
                let t = gather::target(&c, w)?;
                gather::check_inspect(&c, &t)?;
                let p = gather::link_target(&t, l)?;
                Ok(p.path_from(&c.root()))
            }
            Node::Fd(w, FdKind::Fd, fd) => {
                let t = gather::target(&c, w)?;
                gather::check_inspect(&c, &t)?;
                let file = gather::fd_file(&t, fd)?;
                Ok(gather::describe_file(&file, &c.root()))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn follow_magic(&self) -> Option<SysResult<VfsPath>> {
        let (w, what) = match self.node {
            Node::Link(w, l) => (w, Ok(l)),
            Node::Fd(w, FdKind::Fd, fd) => (w, Err(fd)),
            _ => return None,
        };
        let res = (|| {
            let c = caller()?;
            let t = gather::target(&c, w)?;
            gather::check_inspect(&c, &t)?;
            match what {
                Ok(l) => gather::link_target(&t, l),
                Err(fd) => gather::fd_file(&t, fd)?.path().cloned().ok_or(Errno::ENXIO),
            }
        })();
        Some(res)
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        if flags & f::O_ACCMODE != f::O_RDONLY {
            return Err(Errno::EACCES);
        }
        let c = caller()?;
        let data = match self.node {
            Node::Global(g) => gather::global(&c, g)?,
            Node::File(w, p) => {
                let t = gather::target(&c, w)?;
                if matches!(p, PidFile::Environ | PidFile::Maps) {
                    gather::check_inspect(&c, &t)?;
                }
                gather::pid_file(&c, &t, w, p)?
            }
            Node::Fd(w, FdKind::Info, fd) => {
                let t = gather::target(&c, w)?;
                gather::check_inspect(&c, &t)?;
                gather::fdinfo(&t, fd)?
            }
            _ => return Err(Errno::ENXIO),
        };
        Ok(Box::new(ProcFile { data }))
    }
}

/// An opened /proc file: its text, generated at open (module doc).
#[derive(Debug)]
pub(crate) struct ProcFile {
    pub(crate) data: Vec<u8>,
}

impl FileOps for ProcFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let start = usize::try_from(off).unwrap_or(usize::MAX);
        let rest = self.data.get(start..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(d), Some(s)) = (buf.get_mut(..n), rest.get(..n)) {
            d.copy_from_slice(s);
        }
        Ok(n)
    }
    fn write_at(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn size(&self) -> SysResult<u64> {
        Ok(u64::try_from(self.data.len()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Credentials;

    #[test]
    fn pid_names_are_canonical_decimal() {
        assert_eq!(parse_id(b"42"), Some(42));
        assert_eq!(parse_id(b"0"), Some(0));
        assert_eq!(parse_id(b"042"), None);
        assert_eq!(parse_id(b"+4"), None);
        assert_eq!(parse_id(b"self"), None);
        assert_eq!(parse_id(b"99999999999"), None);
    }

    #[test]
    fn inspection_needs_root_or_matching_ids() {
        let user = |id: u32| Credentials::user(id, id);
        assert!(may_inspect(&Credentials::root(), &user(1000)));
        assert!(may_inspect(&user(1000), &user(1000)));
        assert!(!may_inspect(&user(1000), &user(1001)));
        // A setuid target (saved uid differs) is not inspectable by its real user.
        let setuid = Credentials {
            euid: 0,
            suid: 0,
            ..user(1000)
        };
        assert!(!may_inspect(&user(1000), &setuid));
    }

    #[test]
    fn node_kinds_and_modes_follow_linux() {
        let w = Who { tgid: 1, tid: None };
        assert_eq!(Node::File(w, PidFile::Environ).perm(), 0o400);
        assert_eq!(Node::FdDir(w, FdKind::Fd).perm(), 0o500);
        assert_eq!(Node::Link(w, PidLink::Exe).kind(), InodeKind::Symlink);
        assert_eq!(Node::Fd(w, FdKind::Fd, 3).kind(), InodeKind::Symlink);
        assert_eq!(Node::Fd(w, FdKind::Info, 3).kind(), InodeKind::Regular);
        assert_eq!(Node::Root.ino(), 1);
        assert_ne!(Node::Pid(w).ino(), Node::TaskDir(1).ino());
    }
}
