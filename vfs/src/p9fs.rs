//! p9fs: a filesystem served by the gofer over 9P2000.L (the container rootfs and bind mounts).
//!
//! Every [`P9Inode`] holds one walked, never-opened fid (so lookups, getattr, readlink and
//! directory mutations need no extra walk) plus cached attributes. Lookups use
//! `walk_getattr` (walk + getattr pipelined, one round trip); the VFS dentry cache keeps the
//! resulting inodes, so each path component costs one round trip the first time only.
//! Opening clones the fid (an empty Twalk) and Tlopens the clone; reads/writes go through
//! it. Directories are listed with Treaddir into a snapshot (the VFS's getdents64 model).
//! Symlinks are resolved by the VFS walk via Treadlink (targets cached: symlinks are
//! immutable).
//!
//! Caching shortcut, written down: attributes are cached at lookup and refreshed only after
//! this sandbox's own mutations (writes extend the cached size, setattr/create/unlink
//! re-fetch). Changes made on the host behind the sandbox's back are not seen until the
//! dentry is looked up again. File data is not cached yet (every read is a Tread; the
//! MemoryFile-backed page cache of ARCHITECTURE.md is later work). Hence p9fs files do not
//! answer `FileOps::memfile_page`: the sentry's mm maps them `MAP_SHARED` as private copies
//! read through Tread, and refuses writable shared mappings of them with ENODEV (writes could
//! not reach the file).
//!
//! Read-only mode (`readonly`): every mutation fails with EROFS, write-opens too. Hard links
//! and mknod are not in the client yet (EPERM). New files are created with the gofer's uid
//! and then chowned to the caller (best effort: an unprivileged gofer keeps its own uid).

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};

use abi::file::{self as f, StatFs};
use abi::time::Timespec;
use abi::{Errno, SysResult};
use p9::Attr;

use crate::inode::{
    DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind, SetAttr, new_anon_dev,
};
use crate::mount::lock;
use crate::p9client::{Client, Fid};
use crate::{Creds, device};

/// Per-instance state shared by all inodes.
#[derive(Debug)]
struct Shared {
    client: Arc<Client>,
    is_readonly: bool,
}

/// A p9fs instance.
#[derive(Debug)]
pub struct P9Fs {
    dev: u64,
    root: Arc<P9Inode>,
    shared: Arc<Shared>,
}

/// One file on the server.
#[derive(Debug)]
pub struct P9Inode {
    shared: Arc<Shared>,
    /// Walked, never opened.
    fid: Fid,
    me: Weak<P9Inode>,
    attr: Mutex<Attr>,
    link: Mutex<Option<Vec<u8>>>,
}

fn ts(sec: u64, nsec: u64) -> Timespec {
    Timespec {
        sec: i64::try_from(sec).unwrap_or(i64::MAX),
        nsec: i64::try_from(nsec).unwrap_or(0),
    }
}

fn kind_from_dirent(ty: u8) -> InodeKind {
    match ty {
        f::DT_DIR => InodeKind::Dir,
        f::DT_LNK => InodeKind::Symlink,
        f::DT_CHR => InodeKind::CharDev,
        f::DT_BLK => InodeKind::BlockDev,
        f::DT_FIFO => InodeKind::Fifo,
        f::DT_SOCK => InodeKind::Socket,
        _ => InodeKind::Regular,
    }
}

impl P9Inode {
    fn new(shared: &Arc<Shared>, fid: Fid, attr: Attr) -> Arc<P9Inode> {
        Arc::new_cyclic(|me| P9Inode {
            shared: Arc::clone(shared),
            fid,
            me: me.clone(),
            attr: Mutex::new(attr),
            link: Mutex::new(None),
        })
    }

    fn check_writable(&self) -> SysResult<()> {
        if self.shared.is_readonly {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Re-fetches the attributes after a mutation (errors leave the old cache).
    fn refresh(&self) {
        if let Ok(a) = self.fid.getattr() {
            *lock(&self.attr) = a;
        }
    }

    /// Walks to the new child `name` and returns it as an inode.
    fn child_after_create(&self, name: &[u8], creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        self.refresh();
        let (fid, mut attr) = self.fid.walk_getattr(name)?;
        if attr.uid != creds.uid {
            let req = p9::SetAttr {
                valid: p9::setattr::UID | p9::setattr::GID,
                uid: creds.uid,
                gid: creds.gid,
                ..Default::default()
            };
            if fid.setattr(&req).is_ok() {
                attr.uid = creds.uid;
                attr.gid = creds.gid;
            }
        }
        Ok(P9Inode::new(&self.shared, fid, attr))
    }
}

fn downcast(i: &Arc<dyn Inode>) -> SysResult<&P9Inode> {
    i.as_any().downcast_ref::<P9Inode>().ok_or(Errno::EXDEV)
}

impl Inode for P9Inode {
    fn attr(&self) -> SysResult<InodeAttr> {
        let a = *lock(&self.attr);
        let kind = InodeKind::from_mode(a.mode).ok_or(Errno::EIO)?;
        Ok(InodeAttr {
            kind,
            perm: a.mode & f::S_IALLUGO,
            ino: a.qid.path,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            size: a.size,
            blocks: a.blocks,
            blksize: u32::try_from(a.blksize).unwrap_or(4096),
            rdev: a.rdev,
            atime: ts(a.atime_sec, a.atime_nsec),
            mtime: ts(a.mtime_sec, a.mtime_nsec),
            ctime: ts(a.ctime_sec, a.ctime_nsec),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let (fid, attr) = self.fid.walk_getattr(name)?;
        Ok(P9Inode::new(&self.shared, fid, attr))
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let (dir, _) = self.fid.walk(&[])?;
        dir.lopen(f::O_RDONLY | f::O_DIRECTORY)?;
        let count = self.shared.client.msize();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let batch = dir.readdir(offset, count)?;
            let Some(last) = batch.last() else { break };
            if last.offset == offset {
                // A server that does not advance would loop forever.
                return Err(Errno::EIO);
            }
            offset = last.offset;
            out.extend(
                batch
                    .into_iter()
                    .filter(|e| e.name != b"." && e.name != b"..")
                    .map(|e| DirEntry {
                        ino: e.qid.path,
                        kind: kind_from_dirent(e.ty),
                        name: e.name,
                    }),
            );
        }
        Ok(out)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        let mut cached = lock(&self.link);
        if let Some(t) = cached.as_ref() {
            return Ok(t.clone());
        }
        let t = self.fid.readlink()?;
        *cached = Some(t.clone());
        Ok(t)
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        let a = self.attr()?;
        match a.kind {
            InodeKind::Regular => {}
            InodeKind::CharDev => return device::open(a.rdev, flags),
            InodeKind::Dir => return Err(Errno::EISDIR),
            _ => return Err(Errno::ENXIO),
        }
        let acc = flags & f::O_ACCMODE;
        if acc != f::O_RDONLY {
            self.check_writable()?;
        }
        let (fid, _) = self.fid.walk(&[])?;
        // Truncation and appending are done by the VFS (setattr, append), not by the server.
        fid.lopen(acc)?;
        Ok(Box::new(P9File {
            fid,
            inode: self.me.upgrade().ok_or(Errno::ENOENT)?,
        }))
    }

    fn create(&self, name: &[u8], perm: u32, creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        self.check_writable()?;
        let (tmp, _) = self.fid.walk(&[])?;
        tmp.lcreate(name, f::O_RDWR, perm, creds.gid)?;
        drop(tmp);
        self.child_after_create(name, creds)
    }

    fn mkdir(&self, name: &[u8], perm: u32, creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        self.check_writable()?;
        self.fid.mkdir(name, perm, creds.gid)?;
        self.child_after_create(name, creds)
    }

    fn symlink(&self, name: &[u8], target: &[u8], creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        self.check_writable()?;
        self.fid.symlink(name, target, creds.gid)?;
        self.child_after_create(name, creds)
    }

    fn mknod(
        &self,
        _name: &[u8],
        _kind: InodeKind,
        _perm: u32,
        _rdev: u64,
        _creds: &Creds,
    ) -> SysResult<Arc<dyn Inode>> {
        self.check_writable()?;
        Err(Errno::EPERM)
    }

    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<()> {
        self.check_writable()?;
        Err(Errno::EPERM)
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        self.check_writable()?;
        self.fid.unlinkat(name, 0)?;
        self.refresh();
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        self.check_writable()?;
        self.fid.unlinkat(name, f::AT_REMOVEDIR)?;
        self.refresh();
        Ok(())
    }

    fn rename(&self, old_name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8]) -> SysResult<()> {
        self.check_writable()?;
        let nd = downcast(new_dir)?;
        self.fid.renameat(old_name, &nd.fid, new_name)?;
        self.refresh();
        nd.refresh();
        Ok(())
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        self.check_writable()?;
        use p9::setattr as s;
        let mut req = p9::SetAttr::default();
        if let Some(p) = attr.perm {
            req.valid |= s::MODE;
            req.mode = p;
        }
        if let Some(u) = attr.uid {
            req.valid |= s::UID;
            req.uid = u;
        }
        if let Some(g) = attr.gid {
            req.valid |= s::GID;
            req.gid = g;
        }
        if let Some(sz) = attr.size {
            req.valid |= s::SIZE;
            req.size = sz;
        }
        if let Some(t) = attr.atime {
            req.valid |= s::ATIME | s::ATIME_SET;
            req.atime_sec = u64::try_from(t.sec).map_err(|_| Errno::EINVAL)?;
            req.atime_nsec = u64::try_from(t.nsec).map_err(|_| Errno::EINVAL)?;
        }
        if let Some(t) = attr.mtime {
            req.valid |= s::MTIME | s::MTIME_SET;
            req.mtime_sec = u64::try_from(t.sec).map_err(|_| Errno::EINVAL)?;
            req.mtime_nsec = u64::try_from(t.nsec).map_err(|_| Errno::EINVAL)?;
        }
        req.valid |= s::CTIME;
        self.fid.setattr(&req)?;
        self.refresh();
        Ok(())
    }
}

/// An open regular file on the server.
#[derive(Debug)]
struct P9File {
    fid: Fid,
    inode: Arc<P9Inode>,
}

impl FileOps for P9File {
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        self.fid.read(off, buf)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        self.inode.check_writable()?;
        let n = self.fid.write(off, buf)?;
        let end = off.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        let mut a = lock(&self.inode.attr);
        a.size = a.size.max(end);
        Ok(n)
    }

    fn size(&self) -> SysResult<u64> {
        Ok(lock(&self.inode.attr).size)
    }
}

impl Filesystem for P9Fs {
    fn root(&self) -> Arc<dyn Inode> {
        Arc::clone(&self.root) as Arc<dyn Inode>
    }

    fn statfs(&self) -> SysResult<StatFs> {
        let s = self.root.fid.statfs()?;
        Ok(StatFs {
            ty: f::V9FS_MAGIC,
            bsize: i64::from(s.bsize),
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            fsid: [
                i32::from_ne_bytes(
                    u32::try_from(s.fsid & 0xffff_ffff)
                        .unwrap_or(0)
                        .to_ne_bytes(),
                ),
                i32::from_ne_bytes(u32::try_from(s.fsid >> 32).unwrap_or(0).to_ne_bytes()),
            ],
            namelen: i64::from(s.namelen),
            frsize: i64::from(s.bsize),
            ..StatFs::default()
        })
    }

    fn dev(&self) -> u64 {
        self.dev
    }

    fn is_readonly(&self) -> bool {
        self.shared.is_readonly
    }
}

/// Attaches to the server behind `client` and returns the filesystem. With `readonly`, every
/// mutation fails with EROFS.
pub fn new_filesystem(client: Arc<Client>, readonly: bool) -> SysResult<Arc<dyn Filesystem>> {
    let (fid, _qid) = client.attach(b"")?;
    let attr = fid.getattr()?;
    let shared = Arc::new(Shared {
        client,
        is_readonly: readonly,
    });
    let root = P9Inode::new(&shared, fid, attr);
    Ok(Arc::new(P9Fs {
        dev: new_anon_dev(),
        root,
        shared,
    }))
}
