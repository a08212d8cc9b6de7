//! tmpfs: an in-memory filesystem with full directory operations, timestamps
//! (atime/mtime/ctime), link counts and inode numbers. Also the base of devfs.
//!
//! Regular file data is a `Vec<u8>` per file for now, capped at [`MAX_FILE_SIZE`] (EFBIG
//! beyond, so a write at a huge offset cannot make the sentry allocate without bound). The
//! plan (ARCHITECTURE.md "Memory") is a page cache in MemoryFile so that MAP_SHARED of a tmpfs
//! file maps the same pages everywhere; until then the sentry's mm copies file pages.
//!
//! Key types: [`Tmpfs`] (the `Filesystem`), [`TmpInode`] (every file type; the data lives in
//! its locked state, the immutable type outside it).
//!
//! Lock order: `Shared::rename_lock`, then inode `state` locks. Any operation that holds two
//! *directory* state locks at once (rename: both parents in address order, then a replaced
//! directory; rmdir: parent, then victim) holds `rename_lock` first, so those orders never
//! meet. Other operations hold at most one directory lock plus locks of non-directories
//! (leaves: nobody holding a file lock ever takes another), or of a new, still unreachable
//! inode.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::file::{self as f, StatFs};
use abi::time::Timespec;
use abi::{Errno, SysResult};

use crate::inode::{
    DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind, SetAttr, new_anon_dev, now,
};
use crate::mount::lock;
use crate::{Creds, device};

/// Largest regular file (EFBIG beyond): the Vec-backed store must not let a guest make the
/// sentry allocate without bound.
pub const MAX_FILE_SIZE: u64 = 1 << 30;

/// State shared by all inodes of one tmpfs instance.
#[derive(Debug)]
struct Shared {
    next_ino: AtomicU64,
    /// Serializes renames, so two renames never lock directories in opposite orders.
    rename_lock: Mutex<()>,
}

/// One tmpfs instance.
#[derive(Debug)]
pub struct Tmpfs {
    dev: u64,
    root: Arc<TmpInode>,
    magic: i64,
}

#[derive(Debug)]
enum Data {
    File(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Arc<TmpInode>>),
    Symlink(Vec<u8>),
    /// Device nodes, fifos, sockets: no data (devices carry `rdev`).
    Special,
}

#[derive(Debug)]
struct State {
    perm: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    rdev: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    data: Data,
}

impl State {
    fn dir(&self) -> SysResult<&BTreeMap<Vec<u8>, Arc<TmpInode>>> {
        match &self.data {
            Data::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self) -> SysResult<&mut BTreeMap<Vec<u8>, Arc<TmpInode>>> {
        match &mut self.data {
            Data::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn touch_mc(&mut self) {
        let t = now();
        self.mtime = t;
        self.ctime = t;
    }
}

/// A tmpfs inode (any type).
#[derive(Debug)]
pub struct TmpInode {
    ino: u64,
    kind: InodeKind,
    shared: Arc<Shared>,
    me: Weak<TmpInode>,
    state: Mutex<State>,
}

fn size_of_data(d: &Data) -> u64 {
    match d {
        Data::File(v) | Data::Symlink(v) => u64::try_from(v.len()).unwrap_or(u64::MAX),
        Data::Dir(_) => 4096,
        Data::Special => 0,
    }
}

fn to_usize(n: u64) -> SysResult<usize> {
    usize::try_from(n).map_err(|_| Errno::EFBIG)
}

/// Resizes file data to `len` bytes, zero-filling, within [`MAX_FILE_SIZE`].
fn resize(v: &mut Vec<u8>, len: u64) -> SysResult<()> {
    if len > MAX_FILE_SIZE {
        return Err(Errno::EFBIG);
    }
    let len = to_usize(len)?;
    if len > v.len() {
        v.try_reserve(len.saturating_sub(v.len()))
            .map_err(|_| Errno::ENOSPC)?;
    }
    v.resize(len, 0);
    Ok(())
}

impl TmpInode {
    fn new(
        shared: &Arc<Shared>,
        kind: InodeKind,
        perm: u32,
        creds: &Creds,
        data: Data,
    ) -> Arc<TmpInode> {
        let t = now();
        let nlink = if kind == InodeKind::Dir { 2 } else { 1 };
        Arc::new_cyclic(|me| TmpInode {
            ino: shared.next_ino.fetch_add(1, Ordering::Relaxed),
            kind,
            shared: Arc::clone(shared),
            me: me.clone(),
            state: Mutex::new(State {
                perm: perm & f::S_IALLUGO,
                uid: creds.uid,
                gid: creds.gid,
                nlink,
                rdev: 0,
                atime: t,
                mtime: t,
                ctime: t,
                data,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The file type, immutable, so reading it takes no lock (see the lock order).
    fn kind(&self) -> InodeKind {
        self.kind
    }

    /// Adds a new child inode named `name` to this directory, applying the set-group-ID
    /// directory rule (a new file takes the directory's group; a new directory also inherits
    /// S_ISGID, see mkdir(2)).
    fn add_child(&self, name: &[u8], child: Arc<TmpInode>) -> SysResult<Arc<dyn Inode>> {
        let mut st = self.state();
        let (dir_perm, dir_gid) = (st.perm, st.gid);
        let entries = st.dir_mut()?;
        if entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        if dir_perm & f::S_ISGID != 0 {
            let mut c = child.state();
            c.gid = dir_gid;
            if child.kind == InodeKind::Dir {
                c.perm |= f::S_ISGID;
            }
        }
        let is_dir = child.kind() == InodeKind::Dir;
        entries.insert(name.to_vec(), Arc::clone(&child));
        if is_dir {
            st.nlink = st.nlink.saturating_add(1);
        }
        st.touch_mc();
        Ok(child)
    }

    fn arc(&self) -> SysResult<Arc<TmpInode>> {
        self.me.upgrade().ok_or(Errno::ENOENT)
    }
}

fn downcast(i: &Arc<dyn Inode>) -> SysResult<&TmpInode> {
    i.as_any().downcast_ref::<TmpInode>().ok_or(Errno::EXDEV)
}

impl Inode for TmpInode {
    fn attr(&self) -> SysResult<InodeAttr> {
        let st = self.state();
        let size = size_of_data(&st.data);
        Ok(InodeAttr {
            kind: self.kind,
            perm: st.perm,
            ino: self.ino,
            nlink: st.nlink,
            uid: st.uid,
            gid: st.gid,
            size,
            blocks: size.div_ceil(4096).saturating_mul(8),
            blksize: 4096,
            rdev: st.rdev,
            atime: st.atime,
            mtime: st.mtime,
            ctime: st.ctime,
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let st = self.state();
        match st.dir()?.get(name) {
            Some(c) => Ok(Arc::clone(c) as Arc<dyn Inode>),
            None => Err(Errno::ENOENT),
        }
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let st = self.state();
        Ok(st
            .dir()?
            .iter()
            .map(|(name, c)| DirEntry {
                name: name.clone(),
                ino: c.ino,
                kind: c.kind(),
            })
            .collect())
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        match &self.state().data {
            Data::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        let kind = self.kind;
        let rdev = self.state().rdev;
        match kind {
            InodeKind::Regular => Ok(Box::new(TmpFile { inode: self.arc()? })),
            InodeKind::CharDev => device::open(rdev, flags),
            InodeKind::Dir => Err(Errno::EISDIR),
            // Block devices, fifos and sockets have no implementation behind them yet.
            _ => Err(Errno::ENXIO),
        }
    }

    fn create(&self, name: &[u8], perm: u32, creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        let c = TmpInode::new(
            &self.shared,
            InodeKind::Regular,
            perm,
            creds,
            Data::File(Vec::new()),
        );
        self.add_child(name, c)
    }

    fn mkdir(&self, name: &[u8], perm: u32, creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        let c = TmpInode::new(
            &self.shared,
            InodeKind::Dir,
            perm,
            creds,
            Data::Dir(BTreeMap::new()),
        );
        self.add_child(name, c)
    }

    fn mknod(
        &self,
        name: &[u8],
        kind: InodeKind,
        perm: u32,
        rdev: u64,
        creds: &Creds,
    ) -> SysResult<Arc<dyn Inode>> {
        let data = match kind {
            InodeKind::Regular => Data::File(Vec::new()),
            InodeKind::Dir | InodeKind::Symlink => return Err(Errno::EINVAL),
            _ => Data::Special,
        };
        let c = TmpInode::new(&self.shared, kind, perm, creds, data);
        if matches!(kind, InodeKind::CharDev | InodeKind::BlockDev) {
            c.state().rdev = rdev;
        }
        self.add_child(name, c)
    }

    fn symlink(&self, name: &[u8], target: &[u8], creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        let c = TmpInode::new(
            &self.shared,
            InodeKind::Symlink,
            0o777,
            creds,
            Data::Symlink(target.to_vec()),
        );
        self.add_child(name, c)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<()> {
        let t = downcast(target)?.arc()?;
        if t.kind() == InodeKind::Dir {
            return Err(Errno::EPERM);
        }
        let mut st = self.state();
        let entries = st.dir_mut()?;
        if entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        {
            let mut ts = t.state();
            if ts.nlink == 0 {
                // linkat(2) of an unlinked file (not O_TMPFILE) fails with ENOENT.
                return Err(Errno::ENOENT);
            }
            ts.nlink = ts.nlink.saturating_add(1);
            ts.ctime = now();
        }
        entries.insert(name.to_vec(), t);
        st.touch_mc();
        Ok(())
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        let mut st = self.state();
        let entries = st.dir_mut()?;
        let c = entries.get(name).cloned().ok_or(Errno::ENOENT)?;
        if c.kind() == InodeKind::Dir {
            return Err(Errno::EISDIR);
        }
        entries.remove(name);
        {
            let mut cs = c.state();
            cs.nlink = cs.nlink.saturating_sub(1);
            cs.ctime = now();
        }
        st.touch_mc();
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        // Locks two directories (parent, then victim): only under the rename lock.
        let _serial = lock(&self.shared.rename_lock);
        let mut st = self.state();
        let entries = st.dir_mut()?;
        let c = entries.get(name).cloned().ok_or(Errno::ENOENT)?;
        {
            let mut cs = c.state();
            if !cs.dir()?.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            cs.nlink = 0;
            cs.ctime = now();
        }
        entries.remove(name);
        st.nlink = st.nlink.saturating_sub(1);
        st.touch_mc();
        Ok(())
    }

    fn rename(&self, old_name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8]) -> SysResult<()> {
        let new_dir = downcast(new_dir)?;
        let _serial = lock(&self.shared.rename_lock);
        let same = std::ptr::eq(self, new_dir);
        // Two directories: lock in address order (see the module lock order).
        let (mut a, mut b) = if same {
            (self.state(), None)
        } else if (self as *const TmpInode) < (new_dir as *const TmpInode) {
            let a = self.state();
            (a, Some(new_dir.state()))
        } else {
            let b = new_dir.state();
            (self.state(), Some(b))
        };
        let src = a.dir()?.get(old_name).cloned().ok_or(Errno::ENOENT)?;
        let src_is_dir = src.kind() == InodeKind::Dir;
        let dst = match &b {
            Some(b) => b.dir()?.get(new_name).cloned(),
            None => a.dir()?.get(new_name).cloned(),
        };
        if let Some(d) = &dst {
            if Arc::ptr_eq(d, &src) {
                return Ok(());
            }
            let mut ds = d.state();
            match (src_is_dir, d.kind == InodeKind::Dir) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !ds.dir()?.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
            ds.nlink = if d.kind == InodeKind::Dir {
                0
            } else {
                ds.nlink.saturating_sub(1)
            };
            ds.ctime = now();
        }
        a.dir_mut()?.remove(old_name);
        a.touch_mc();
        if src_is_dir && b.is_some() {
            a.nlink = a.nlink.saturating_sub(1);
        }
        let t: &mut State = match b.as_mut() {
            Some(g) => g,
            None => &mut a,
        };
        t.dir_mut()?.insert(new_name.to_vec(), Arc::clone(&src));
        if src_is_dir && !same {
            t.nlink = t.nlink.saturating_add(1);
        }
        if dst.as_ref().is_some_and(|d| d.kind() == InodeKind::Dir) {
            // The replaced directory's ".." no longer counts towards the target parent.
            t.nlink = t.nlink.saturating_sub(1);
        }
        t.touch_mc();
        drop(b);
        drop(a);
        src.state().ctime = now();
        Ok(())
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        let mut st = self.state();
        if let Some(size) = attr.size {
            match &mut st.data {
                Data::File(v) => resize(v, size)?,
                Data::Dir(_) => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
            st.mtime = now();
        }
        if let Some(p) = attr.perm {
            st.perm = p & f::S_IALLUGO;
        }
        if let Some(u) = attr.uid {
            st.uid = u;
        }
        if let Some(g) = attr.gid {
            st.gid = g;
        }
        if let Some(t) = attr.atime {
            st.atime = t;
        }
        if let Some(t) = attr.mtime {
            st.mtime = t;
        }
        st.ctime = now();
        Ok(())
    }
}

/// An open regular tmpfs file.
#[derive(Debug)]
struct TmpFile {
    inode: Arc<TmpInode>,
}

impl FileOps for TmpFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let mut st = self.inode.state();
        let Data::File(data) = &st.data else {
            return Err(Errno::EINVAL);
        };
        let n = match usize::try_from(off).ok().and_then(|o| data.get(o..)) {
            Some(src) => {
                let n = src.len().min(buf.len());
                if let (Some(d), Some(s)) = (buf.get_mut(..n), src.get(..n)) {
                    d.copy_from_slice(s);
                }
                n
            }
            None => 0,
        };
        st.atime = now();
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        let mut st = self.inode.state();
        let Data::File(data) = &mut st.data else {
            return Err(Errno::EINVAL);
        };
        write_into(data, buf, off)?;
        st.touch_mc();
        Ok(buf.len())
    }

    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        let mut st = self.inode.state();
        let Data::File(data) = &mut st.data else {
            return Err(Errno::EINVAL);
        };
        let off = u64::try_from(data.len()).map_err(|_| Errno::EFBIG)?;
        let end = write_into(data, buf, off)?;
        st.touch_mc();
        Ok((buf.len(), end))
    }

    fn size(&self) -> SysResult<u64> {
        Ok(size_of_data(&self.inode.state().data))
    }
}

/// Writes `buf` at `off` into `data`, growing it; returns the end offset.
fn write_into(data: &mut Vec<u8>, buf: &[u8], off: u64) -> SysResult<u64> {
    let len = u64::try_from(buf.len()).map_err(|_| Errno::EFBIG)?;
    let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
    if buf.is_empty() {
        return Ok(off);
    }
    let cur = u64::try_from(data.len()).map_err(|_| Errno::EFBIG)?;
    if end > cur {
        resize(data, end)?;
    }
    let (start, stop) = (to_usize(off)?, to_usize(end)?);
    data.get_mut(start..stop)
        .ok_or(Errno::EFBIG)?
        .copy_from_slice(buf);
    Ok(end)
}

impl Tmpfs {
    /// A new instance whose root directory has permission bits `mode` and belongs to `creds`.
    pub fn new(mode: u32, creds: &Creds) -> Arc<Tmpfs> {
        Self::with_magic(mode, creds, f::TMPFS_MAGIC)
    }

    /// Like [`Tmpfs::new`] with another statfs `f_type` (for filesystems built on tmpfs).
    pub fn with_magic(mode: u32, creds: &Creds, magic: i64) -> Arc<Tmpfs> {
        let shared = Arc::new(Shared {
            next_ino: AtomicU64::new(1),
            rename_lock: Mutex::new(()),
        });
        let root = TmpInode::new(
            &shared,
            InodeKind::Dir,
            mode,
            creds,
            Data::Dir(BTreeMap::new()),
        );
        Arc::new(Tmpfs {
            dev: new_anon_dev(),
            root,
            magic,
        })
    }

    /// The root inode (for populating a fresh instance).
    pub fn root_inode(&self) -> Arc<dyn Inode> {
        Arc::clone(&self.root) as Arc<dyn Inode>
    }
}

impl Filesystem for Tmpfs {
    fn root(&self) -> Arc<dyn Inode> {
        self.root_inode()
    }

    fn statfs(&self) -> SysResult<StatFs> {
        // Unlimited size, as a tmpfs mounted with size=0 reports (all-zero block counts).
        Ok(StatFs {
            ty: self.magic,
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

/// A new tmpfs whose root directory has permission bits `mode` and belongs to `creds`.
pub fn new_filesystem(mode: u32, creds: &Creds) -> Arc<dyn Filesystem> {
    Tmpfs::new(mode, creds)
}
