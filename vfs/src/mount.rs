//! Dentries, mounts, the mount namespace and [`VfsPath`] (a (mount, dentry) location).
//!
//! A [`Dentry`] names one inode at one place of one filesystem tree. Parents hold their cached
//! children strongly (`children`), children point up weakly (`parent`); every dentry reached by
//! a walk stays cached until it is unlinked or renamed over, so the chain up to the filesystem
//! root is always alive while anyone holds a descendant that is still linked. There is no
//! eviction yet (memory grows with the number of distinct paths looked up; noted for later).
//!
//! A [`Mount`] holds a filesystem instance, its root dentry, and — for all but the namespace's
//! root mount — the parent mount (weak) and the mountpoint dentry it covers. Child mounts are
//! found from the parent mount's `children` map, keyed by the mountpoint dentry's address (the
//! child mount keeps that dentry alive, so the key cannot be reused while the entry exists).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use abi::file::{Stat, StatFs};
use abi::{Errno, SysResult};

use crate::inode::{Filesystem, Inode, InodeAttr, InodeKind};
use crate::{Creds, perm};

/// Locks `m`, ignoring poisoning: a panic elsewhere must not wedge the whole VFS (and with
/// panic=abort in release builds it cannot happen anyway).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A name in the dentry tree.
///
/// # Dentry cache
/// Children are cached by name in their parent. For filesystems whose inodes can be looked
/// up again (`Inode::is_evictable`: p9fs, where every cached inode holds a fid and the gofer
/// an fd) the number of such dentries is bounded by [`MAX_EVICTABLE`]: they sit in one
/// clock queue (`EVICTABLE`), and a lookup that adds one beyond the bound forgets a few that
/// nothing uses — no open file, cwd, mount or child holds them and they were not looked up
/// since the clock hand last passed (second chance). Forgetting removes the dentry from its
/// parent; the next lookup walks again. A lookup that fails with EMFILE/ENFILE (the gofer ran
/// out of fds before the bound was reached) forgets what it can and tries once more.
pub struct Dentry {
    pub(crate) inode: Arc<dyn Inode>,
    /// (parent, name in parent); `None` parent for a filesystem root. Changes on rename.
    pub(crate) link: Mutex<(Weak<Dentry>, Vec<u8>)>,
    /// Cached children by name. Lock order: parent's `children` before a child's.
    pub(crate) children: Mutex<HashMap<Vec<u8>, Arc<Dentry>>>,
    /// Looked up since the clock hand last passed (evictable dentries only).
    referenced: AtomicBool,
    /// Counted in `EVICTABLE`.
    is_evictable: bool,
}

/// Evictable dentries kept at most by default (see [`Dentry`]). Each costs a fid and a gofer
/// fd; [`set_dentry_cache_limit`] adjusts it to the fds the gofer may hold.
pub const MAX_EVICTABLE: usize = 4096;

/// The bound in force.
static LIMIT: AtomicUsize = AtomicUsize::new(MAX_EVICTABLE);

/// How many evictable dentries exist now (cached or in use).
pub fn evictable_dentries() -> usize {
    EVICTABLE.count.load(Ordering::Relaxed)
}

/// Sets how many evictable dentries are kept (at least 64).
pub fn set_dentry_cache_limit(n: usize) {
    LIMIT.store(n.max(64), Ordering::Relaxed);
}
/// Queue entries the clock hand looks at per lookup beyond the bound (bounded work).
const EVICT_SCAN: usize = 16;

/// The clock queue of evictable dentries and their number.
struct Evictable {
    queue: Mutex<VecDeque<Weak<Dentry>>>,
    count: AtomicUsize,
}

static EVICTABLE: Evictable = Evictable {
    queue: Mutex::new(VecDeque::new()),
    count: AtomicUsize::new(0),
};

impl Drop for Dentry {
    fn drop(&mut self) {
        if self.is_evictable {
            EVICTABLE.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Forgets unused evictable dentries while there are more than [`MAX_EVICTABLE`], looking
/// at no more than [`EVICT_SCAN`] queue entries. Called with no dentry lock held.
fn evict_some() {
    evict_down_to(LIMIT.load(Ordering::Relaxed), EVICT_SCAN);
}

/// Forgets unused evictable dentries until at most `target` are left, looking at no more than
/// `scan` queue entries.
fn evict_down_to(target: usize, scan: usize) {
    for _ in 0..scan {
        if EVICTABLE.count.load(Ordering::Relaxed) <= target {
            return;
        }
        let Some(weak) = lock(&EVICTABLE.queue).pop_front() else {
            return;
        };
        let Some(d) = weak.upgrade() else {
            continue; // already gone
        };
        if d.referenced.swap(false, Ordering::Relaxed) || !d.try_forget() {
            lock(&EVICTABLE.queue).push_back(weak);
        }
    }
}

impl Dentry {
    /// Removes this dentry from its parent if nothing but the parent's map (and the caller's
    /// `d`) holds it and it has no cached children. Parent's `children` before ours.
    fn try_forget(self: &Arc<Self>) -> bool {
        let (parent, name) = {
            let link = lock(&self.link);
            (link.0.upgrade(), link.1.clone())
        };
        let Some(parent) = parent else {
            return false;
        };
        let mut siblings = lock(&parent.children);
        let is_ours = siblings.get(&name).is_some_and(|c| Arc::ptr_eq(c, self));
        // The map's reference and ours: nobody else can take one while we hold the map.
        if !is_ours || Arc::strong_count(self) > 2 || !lock(&self.children).is_empty() {
            return false;
        }
        siblings.remove(&name);
        true
    }
}

impl fmt::Debug for Dentry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = lock(&self.link).1.clone();
        f.debug_struct("Dentry")
            .field("name", &String::from_utf8_lossy(&name))
            .finish()
    }
}

impl Dentry {
    pub(crate) fn new_root(inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Arc::new(Dentry {
            inode,
            link: Mutex::new((Weak::new(), Vec::new())),
            children: Mutex::new(HashMap::new()),
            referenced: AtomicBool::new(false),
            is_evictable: false,
        })
    }

    /// A dentry for an inode that has no name in `parent` (an O_TMPFILE file): it points up
    /// to `parent` under `name` but is not in its cache, so it counts as unlinked
    /// ([`VfsPath::is_unlinked`], " (deleted)" in /proc) until linkat(2) names the inode.
    pub(crate) fn new_unlinked(
        inode: Arc<dyn Inode>,
        parent: &Arc<Dentry>,
        name: Vec<u8>,
    ) -> Arc<Dentry> {
        Arc::new(Dentry {
            inode,
            link: Mutex::new((Arc::downgrade(parent), name)),
            children: Mutex::new(HashMap::new()),
            referenced: AtomicBool::new(false),
            is_evictable: false,
        })
    }

    /// The inode this dentry names.
    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    pub(crate) fn parent(&self) -> Option<Arc<Dentry>> {
        lock(&self.link).0.upgrade()
    }

    /// The cached or freshly looked-up child `name` (a single normal component).
    pub(crate) fn child(self: &Arc<Self>, name: &[u8]) -> SysResult<Arc<Dentry>> {
        let mut children = lock(&self.children);
        if let Some(c) = children.get(name) {
            if c.is_evictable {
                c.referenced.store(true, Ordering::Relaxed);
            }
            return Ok(Arc::clone(c));
        }
        let inode = match self.inode.lookup(name) {
            Err(Errno::EMFILE | Errno::ENFILE) if self.inode.is_evictable() => {
                // The server is out of fds: shrink the cache by a quarter and retry once.
                drop(children);
                let n = EVICTABLE.count.load(Ordering::Relaxed);
                evict_down_to(n - n / 4, n);
                LIMIT.store((n - n / 4).max(64), Ordering::Relaxed);
                children = lock(&self.children);
                if let Some(c) = children.get(name) {
                    return Ok(Arc::clone(c));
                }
                self.inode.lookup(name)?
            }
            r => r?,
        };
        let is_evictable = inode.is_evictable();
        let d = Arc::new(Dentry {
            inode,
            link: Mutex::new((Arc::downgrade(self), name.to_vec())),
            children: Mutex::new(HashMap::new()),
            referenced: AtomicBool::new(false),
            is_evictable,
        });
        children.insert(name.to_vec(), Arc::clone(&d));
        drop(children);
        if is_evictable {
            lock(&EVICTABLE.queue).push_back(Arc::downgrade(&d));
            if EVICTABLE.count.fetch_add(1, Ordering::Relaxed) >= LIMIT.load(Ordering::Relaxed) {
                evict_some();
            }
        }
        Ok(d)
    }

    /// Drops the cached child `name` (after unlink/rmdir/rename replaced it).
    pub(crate) fn forget_child(&self, name: &[u8]) {
        lock(&self.children).remove(name);
    }

    pub(crate) fn key(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self).cast::<()>() as usize
    }
}

/// One mounted filesystem.
pub struct Mount {
    id: u64,
    pub(crate) fs: Arc<dyn Filesystem>,
    pub(crate) root: Arc<Dentry>,
    /// (parent mount, mountpoint dentry in it); `None` for the namespace root.
    pub(crate) parent: Option<(Weak<Mount>, Arc<Dentry>)>,
    /// Mounts on dentries of this mount, keyed by [`Dentry::key`].
    pub(crate) children: Mutex<HashMap<usize, Arc<Mount>>>,
    /// MS_RDONLY on this mount (the filesystem itself may be writable: a read-only container
    /// root is an overlay whose upper layer holds the mount points the runtime made).
    readonly: AtomicBool,
}

impl fmt::Debug for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mount")
            .field("id", &self.id)
            .field("fs", &self.fs)
            .finish()
    }
}

impl Mount {
    fn new(fs: Arc<dyn Filesystem>, parent: Option<(Weak<Mount>, Arc<Dentry>)>) -> Arc<Mount> {
        let root = fs.root();
        Mount::with_root(fs, root, parent)
    }

    /// A mount of `fs` whose root is `root`, an inode of `fs` (its root, or the file or
    /// directory a bind mount shows).
    fn with_root(
        fs: Arc<dyn Filesystem>,
        root: Arc<dyn Inode>,
        parent: Option<(Weak<Mount>, Arc<Dentry>)>,
    ) -> Arc<Mount> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let root = Dentry::new_root(root);
        Arc::new(Mount {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            fs,
            root,
            parent,
            children: Mutex::new(HashMap::new()),
            readonly: AtomicBool::new(false),
        })
    }

    /// Makes the mount read-only (or writable again); the filesystem's own read-only state
    /// still applies.
    pub fn set_readonly(&self, on: bool) {
        self.readonly.store(on, Ordering::Relaxed);
    }

    /// The mount id (as in /proc/self/mountinfo).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The filesystem instance.
    pub fn filesystem(&self) -> &Arc<dyn Filesystem> {
        &self.fs
    }

    /// The mount covering `dentry` of this mount, if any.
    pub(crate) fn child_at(&self, dentry: &Arc<Dentry>) -> Option<Arc<Mount>> {
        lock(&self.children).get(&dentry.key()).cloned()
    }
}

/// The tree of mounts processes see. Created once per sandbox (no CLONE_NEWNS support yet).
#[derive(Debug)]
pub struct MountNamespace {
    root: Arc<Mount>,
}

impl MountNamespace {
    /// A namespace whose root is the root of `root_fs`.
    pub fn new(root_fs: Arc<dyn Filesystem>) -> Arc<MountNamespace> {
        Arc::new(MountNamespace {
            root: Mount::new(root_fs, None),
        })
    }

    /// The root directory of the namespace.
    pub fn root(&self) -> VfsPath {
        VfsPath {
            mount: Arc::clone(&self.root),
            dentry: Arc::clone(&self.root.root),
        }
    }

    /// Every mount of the namespace, each as the location of its root, parents before their
    /// children and siblings in mount order (the order of /proc/[pid]/mounts).
    pub fn mounts(&self) -> Vec<VfsPath> {
        let mut out = Vec::new();
        let mut stack = vec![Arc::clone(&self.root)];
        // Depth-first; each mount is visited once (the mount graph is a tree).
        while let Some(m) = stack.pop() {
            let mut kids: Vec<Arc<Mount>> = lock(&m.children).values().cloned().collect();
            kids.sort_by_key(|k| std::cmp::Reverse(k.id));
            out.push(VfsPath {
                dentry: Arc::clone(&m.root),
                mount: m,
            });
            stack.extend(kids);
        }
        out
    }

    /// Mounts `fs` on the directory `target`, shadowing its contents. A second mount on the
    /// same place stacks on top of the first (the walk always ends at the topmost one), as
    /// Linux does. ENOTDIR if `target` is not a directory.
    pub fn mount(&self, target: &VfsPath, fs: Arc<dyn Filesystem>) -> SysResult<()> {
        if !target.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // Mount on top of whatever is visible at `target` already.
        let top = target.clone().cross_mounts();
        let m = Mount::new(
            fs,
            Some((Arc::downgrade(&top.mount), Arc::clone(&top.dentry))),
        );
        lock(&top.mount.children).insert(top.dentry.key(), m);
        Ok(())
    }

    /// Mounts the inode `root` of `fs` on `target`, as a bind mount of part of a filesystem:
    /// the runtime uses it for OCI bind mounts of single files (Docker's /etc/resolv.conf,
    /// /etc/hosts, /etc/hostname), served by a gofer of their parent directory of which only
    /// the one file is visible. A directory goes on a directory, anything else on a
    /// non-directory (ENOTDIR / EISDIR otherwise, as mount(2) with MS_BIND).
    pub fn mount_inode(
        &self,
        target: &VfsPath,
        fs: Arc<dyn Filesystem>,
        root: Arc<dyn Inode>,
    ) -> SysResult<Arc<Mount>> {
        let top = target.clone().cross_mounts();
        let root_is_dir = root.attr()?.kind == InodeKind::Dir;
        match (top.is_dir(), root_is_dir) {
            (false, true) => return Err(Errno::ENOTDIR),
            (true, false) => return Err(Errno::EISDIR),
            _ => {}
        }
        let m = Mount::with_root(
            fs,
            root,
            Some((Arc::downgrade(&top.mount), Arc::clone(&top.dentry))),
        );
        lock(&top.mount.children).insert(top.dentry.key(), Arc::clone(&m));
        Ok(m)
    }

    /// umount2(2) of the mount whose root `target` is: EINVAL if `target` is not a mount's
    /// root, EBUSY for the namespace root and, unless `detach` (MNT_DETACH), for a mount with
    /// mounts on it. Open files and working directories inside keep their mount alive (a lazy
    /// unmount, as MNT_DETACH gives on Linux; without it Linux would say EBUSY for them).
    pub fn unmount(&self, target: &VfsPath, detach: bool) -> SysResult<()> {
        if !Arc::ptr_eq(&target.dentry, &target.mount.root) {
            return Err(Errno::EINVAL);
        }
        let Some((parent, point)) = &target.mount.parent else {
            return Err(Errno::EBUSY);
        };
        let parent = parent.upgrade().ok_or(Errno::EINVAL)?;
        if !detach && !lock(&target.mount.children).is_empty() {
            return Err(Errno::EBUSY);
        }
        let mut kids = lock(&parent.children);
        match kids.get(&point.key()) {
            Some(m) if Arc::ptr_eq(m, &target.mount) => {
                kids.remove(&point.key());
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

/// A location: (mount, dentry). Cheap to clone.
#[derive(Clone)]
pub struct VfsPath {
    pub(crate) mount: Arc<Mount>,
    pub(crate) dentry: Arc<Dentry>,
}

impl fmt::Debug for VfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VfsPath")
            .field("mount", &self.mount.id)
            .field(
                "path",
                &String::from_utf8_lossy(&self.path_from_mount_root()),
            )
            .finish()
    }
}

impl VfsPath {
    /// The inode at this location.
    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.dentry.inode
    }

    /// The mount this location is on.
    pub fn mount(&self) -> &Arc<Mount> {
        &self.mount
    }

    /// Whether this is the root of its mount (a mount point, for mount(2)'s checks).
    pub fn is_mount_root(&self) -> bool {
        Arc::ptr_eq(&self.dentry, &self.mount.root)
    }

    /// Attributes of the inode (without the device number).
    pub fn attr(&self) -> SysResult<InodeAttr> {
        self.dentry.inode.attr()
    }

    /// stat(2) of this location.
    pub fn stat(&self) -> SysResult<Stat> {
        Ok(self.attr()?.to_stat(self.mount.fs.dev()))
    }

    /// statfs(2) of the filesystem this location is on.
    pub fn statfs(&self) -> SysResult<StatFs> {
        let mut s = self.mount.fs.statfs()?;
        if self.is_readonly() {
            s.flags |= abi::file::ST_RDONLY;
        }
        Ok(s)
    }

    /// True if this is a directory (false if its attributes cannot be read).
    pub fn is_dir(&self) -> bool {
        self.kind() == Some(InodeKind::Dir)
    }

    pub(crate) fn kind(&self) -> Option<InodeKind> {
        self.dentry.inode.attr().ok().map(|a| a.kind)
    }

    /// True if both name the same (mount, dentry).
    pub fn same_as(&self, other: &VfsPath) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }

    /// True if the mount or its filesystem is read-only.
    pub fn is_readonly(&self) -> bool {
        self.mount.readonly.load(Ordering::Relaxed) || self.mount.fs.is_readonly()
    }

    /// access(2)-style check of R_OK/W_OK/X_OK bits (4/2/1) for `creds`. W_OK on a read-only
    /// filesystem fails with EROFS for files, directories and symlinks (access(2)).
    pub fn check_access(&self, creds: &Creds, mode: u32) -> SysResult<()> {
        let attr = self.attr()?;
        if mode & abi::file::W_OK != 0
            && self.is_readonly()
            && matches!(
                attr.kind,
                InodeKind::Regular | InodeKind::Dir | InodeKind::Symlink
            )
        {
            return Err(Errno::EROFS);
        }
        perm::check(&attr, creds, mode)
    }

    /// Follows mounts stacked on this location to the topmost mount root.
    pub(crate) fn cross_mounts(mut self) -> VfsPath {
        // Bounded by the number of mounts: each step moves to a strictly newer mount.
        while let Some(m) = self.mount.child_at(&self.dentry) {
            let root = Arc::clone(&m.root);
            self = VfsPath {
                mount: m,
                dentry: root,
            };
        }
        self
    }

    /// The parent directory, crossing to the parent mount at a mount root; `self` at the
    /// namespace root or at `root` (".." semantics, path_resolution(7)).
    pub(crate) fn parent_within(&self, root: Option<&VfsPath>) -> VfsPath {
        let mut cur = self.clone();
        loop {
            if root.is_some_and(|r| cur.same_as(r)) {
                return cur;
            }
            if Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
                // At a mount root: continue from the mountpoint in the parent mount.
                match cur.mountpoint() {
                    Some(mp) => {
                        cur = mp;
                        continue;
                    }
                    None => return cur,
                }
            }
            return match cur.dentry.parent() {
                Some(p) => VfsPath {
                    mount: cur.mount,
                    dentry: p,
                },
                // A deleted directory whose parent is gone: ".." stays put.
                None => cur,
            };
        }
    }

    /// Where this location's mount is mounted (the mountpoint in the parent mount), if it has a
    /// live parent mount.
    fn mountpoint(&self) -> Option<VfsPath> {
        let (pm, mp) = self.mount.parent.as_ref()?;
        Some(VfsPath {
            mount: pm.upgrade()?,
            dentry: Arc::clone(mp),
        })
    }

    /// Absolute path of this location as seen from `root` (getcwd(2)). If the location is not
    /// under `root` (a cwd outside a chroot), the path up to the namespace root is returned,
    /// which is what Linux's d_path gives; Linux's getcwd would prefix "(unreachable)", which
    /// callers may add by comparing. A location whose dentry was unlinked gets " (deleted)"
    /// appended, as Linux does.
    pub fn path_from(&self, root: &VfsPath) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = self.clone();
        let mut deleted = false;
        // Each iteration moves one level up; depth is bounded by the tree, but guard anyway.
        for _ in 0..65536 {
            if cur.same_as(root) {
                break;
            }
            if Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
                match cur.mountpoint() {
                    Some(mp) => {
                        cur = mp;
                        continue;
                    }
                    None => break,
                }
            }
            let (parent, name) = {
                let l = lock(&cur.dentry.link);
                (l.0.upgrade(), l.1.clone())
            };
            match parent {
                Some(p) => {
                    if !lock(&p.children)
                        .get(&name)
                        .is_some_and(|c| Arc::ptr_eq(c, &cur.dentry))
                    {
                        deleted = true;
                    }
                    parts.push(name);
                    cur = VfsPath {
                        mount: cur.mount,
                        dentry: p,
                    };
                }
                None => {
                    deleted = true;
                    break;
                }
            }
        }
        let mut out = Vec::new();
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        if deleted {
            out.extend_from_slice(b" (deleted)");
        }
        out
    }

    /// d_unlinked(): true if this location's name was removed from its directory (unlink,
    /// rmdir, or a rename over it). getcwd(2) fails with ENOENT for such a working directory
    /// (fs/d_path.c), where the /proc links append " (deleted)" to [`path_from`](Self::path_from).
    pub fn is_unlinked(&self) -> bool {
        if Arc::ptr_eq(&self.dentry, &self.mount.root) {
            return false;
        }
        let (parent, name) = {
            let l = lock(&self.dentry.link);
            (l.0.upgrade(), l.1.clone())
        };
        parent.is_none_or(|p| {
            !lock(&p.children)
                .get(&name)
                .is_some_and(|c| Arc::ptr_eq(c, &self.dentry))
        })
    }

    fn path_from_mount_root(&self) -> Vec<u8> {
        let root = VfsPath {
            mount: Arc::clone(&self.mount),
            dentry: Arc::clone(&self.mount.root),
        };
        self.path_from(&root)
    }

    /// True if another mount is mounted on this location.
    pub(crate) fn is_mountpoint(&self) -> bool {
        self.mount.child_at(&self.dentry).is_some()
    }
}
