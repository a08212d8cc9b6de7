//! p9fs: a filesystem served by the gofer over 9P2000.L (the container rootfs and bind mounts).
//!
//! Every [`P9Inode`] holds one walked, never-opened fid (so lookups, getattr, readlink and
//! directory mutations need no extra walk) plus cached attributes. Lookups use
//! `walk_getattr` (walk + getattr pipelined, one round trip); the VFS dentry cache keeps the
//! resulting inodes, so each path component costs one round trip the first time only.
//! Symlinks are resolved by the VFS walk via Treadlink (targets cached: symlinks are
//! immutable).
//!
//! **File data.** Opening a regular file asks the gofer to open it and donate the host fd
//! (Tlopenfd, an rvisor extension, as gVisor's lisafs does); the sentry then reads and writes
//! with pread/pwrite — the syscall layer goes straight between that fd and the application's
//! MemoryFile pages (`FileOps::read_into_memfile`) — and closing costs nothing. The fd's access mode is
//! the open's and the host kernel enforces it; a read-only export donates read-only fds only.
//! Donated fds are kept per inode and access mode (at most [`MAX_CACHED_FDS`] in all) and
//! reused by later opens, so a second open of a file is free. Without donation (`rvisor do
//! --fd-donation=false`, or a server that answers EOPNOTSUPP) an open clones the fid and
//! Tlopens it (pipelined, one round trip) and data goes through Tread/Twrite. Directories are
//! listed with Treaddir into a snapshot (the VFS's getdents64 model).
//!
//! **Caching and revalidation** ([`Options::shared`], `--file-access`). Exclusive (the default:
//! the sandbox owns its root, as runsc assumes): attributes are cached at lookup, directory
//! listings at the first readdir, host fds at the first open; only this sandbox's own mutations
//! invalidate them (writes extend the cached size, setattr re-fetches, create/unlink/rename
//! drop the directory's listing). Changes made on the host behind the sandbox's back are not
//! seen. Shared: every open goes to the gofer and re-fetches the attributes (close-to-open
//! consistency), and no listing or fd is cached; names already looked up still resolve to the
//! inode found first (a name replaced on the host gives ESTALE at open).
//!
//! **Page cache** ([`Options::memfile`]): pages of mapped files are read once (256 KiB at a
//! time, straight from the donated fd) into MemoryFile pages kept per inode, and
//! `FileOps::memfile_page` hands them out, so mm maps them copy-on-write into private
//! mappings (an exec of the same binary maps the same pages) and as the same pages into
//! shared ones. read(2) does not go through it (it preads the donated fd). Rules: a write
//! through the sandbox re-reads the cached pages it touched, in place (so mappings see it,
//! as on Linux); a truncation drops cached pages past the new end and zeroes the tail of the
//! last; a change seen when an open revalidates (shared mode) drops them all (mappings keep
//! the pages they hold). Nothing is evicted otherwise; the pages go with the inode (which the
//! bounded dentry cache may drop once nothing uses it: a mapped or open file keeps it).
//!
//! **Writable shared mappings** write the cached pages in place and hold a `MapWriteBack`
//! token each. While one exists, the cached pages are the file's newest data, so every
//! read, write, fsync and truncation through the sandbox first writes them back, as do
//! msync (`FileOps::sync_mappings`) and the drop of the last token (munmap, exit). There
//! are no dirty bits on ptrace, so write-back compares each cached page with the file and
//! writes the ones that differ (an unchanged mapping never touches the file's mtime).
//! Writes made on the host behind the sandbox's back while a writable mapping exists may
//! be overwritten by its write-back.
//!
//! Read-only mode (`readonly`): every mutation fails with EROFS, write-opens too. Hard links
//! (Tlink), mknod (Tmknod: fifos and sockets; the gofer refuses device nodes with EPERM),
//! extended attributes (Txattrwalk+Tread to get and list, Txattrcreate+Twrite to set and,
//! with the rvisor flag `p9::XATTR_REMOVE`, to remove; not cached) and renameat2's
//! NOREPLACE/EXCHANGE (the rvisor extension Trenameat2; WHITEOUT is EINVAL, as on v9fs) go
//! to the gofer. New files are created with the gofer's uid and then chowned to the caller
//! (best effort: an unprivileged gofer keeps its own uid).
//!
//! Lock order: `P9Inode::fds` and `listing` are leaves (taken alone, never while calling the
//! client); `attr` likewise. `pages` is held while a miss reads the file (donated fd or the
//! client's connection) and allocates, so: `pages` → 9P connection / MemoryFile allocator.

use std::any::Any;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use abi::file::{self as f, StatFs};
use abi::time::Timespec;
use abi::{Errno, SysResult};
use p9::Attr;

use crate::inode::{
    DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind, RenameFlags, SetAttr, new_anon_dev,
};
use crate::memfile::{MemoryFile, PAGE_SIZE as PAGE};
use crate::mount::lock;
use crate::p9client::{Client, Fid};
use crate::xattr::{XATTR_LIST_MAX, XATTR_SIZE_MAX, XattrMode};
use crate::{Creds, device};

/// How a p9fs instance may cache (`rvisor do --file-access`, as runsc's flag).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Every mutation fails with EROFS.
    pub readonly: bool,
    /// The files may change behind the sandbox's back (a root shared with the host or other
    /// containers): every open goes to the server and re-fetches the attributes, and neither
    /// host fds nor directory listings are cached. Without it (the default, "exclusive"), the
    /// sandbox owns the tree and only its own mutations invalidate what it cached.
    pub shared: bool,
    /// Where mapped file pages are cached (the page cache): with it, mmap of a file maps
    /// the same MemoryFile pages in every address space and across execs; without it, each
    /// fault reads the file into private pages.
    pub memfile: Option<Arc<MemoryFile>>,
}

/// Pages read into the page cache per miss (one mm file fault-around chunk, 256 KiB).
const CACHE_FILL_PAGES: u64 = 64;

/// Donated fds kept open in inode caches at most (each is a host fd of the sentry); opens
/// beyond it still work, their fds are just closed with the file.
const MAX_CACHED_FDS: usize = 1024;

/// Per-instance state shared by all inodes.
#[derive(Debug)]
struct Shared {
    client: Arc<Client>,
    is_readonly: bool,
    is_shared: bool,
    /// Fds currently held in inode caches.
    cached_fds: AtomicUsize,
    memfile: Option<Arc<MemoryFile>>,
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
    /// Donated fds by access mode (O_RDONLY, O_WRONLY, O_RDWR), reused by later opens
    /// (exclusive mode only).
    fds: Mutex<[Option<Arc<OwnedFd>>; 3]>,
    /// The directory's entries as last listed (exclusive mode only); dropped by every
    /// mutation of this directory.
    listing: Mutex<Option<Vec<DirEntry>>>,
    /// The page cache: file page index → MemoryFile offset of a page holding its data (one
    /// reference each, the cache's; mappings add their own).
    pages: Mutex<BTreeMap<u64, u64>>,
    /// Writable shared mappings alive ([`MapWriteBack`] tokens), and a writable handle one of
    /// them lent for writing cached pages back (kept while any exists).
    writable_maps: Mutex<(usize, Option<Arc<Data>>)>,
}

impl Drop for P9Inode {
    fn drop(&mut self) {
        let held = lock(&self.fds).iter().filter(|f| f.is_some()).count();
        self.shared.cached_fds.fetch_sub(held, Ordering::Relaxed);
        self.drop_pages();
    }
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
            fds: Mutex::new([None, None, None]),
            listing: Mutex::new(None),
            pages: Mutex::new(BTreeMap::new()),
            writable_maps: Mutex::new((0, None)),
        })
    }

    /// The handle to write mapped pages back through, if writable shared mappings exist.
    fn write_back_handle(&self) -> Option<Arc<Data>> {
        let w = lock(&self.writable_maps);
        if w.0 == 0 { None } else { w.1.clone() }
    }

    /// Writes cached pages that differ from the file back to it (writable shared mappings
    /// change them in place; the sentry has no dirty bits on ptrace, so it compares), up to
    /// the cached size. A no-op without writable shared mappings.
    fn write_back(&self) -> SysResult<()> {
        let (Some(mf), Some(data)) = (self.shared.memfile.as_ref(), self.write_back_handle())
        else {
            return Ok(());
        };
        let size = lock(&self.attr).size;
        let pages = lock(&self.pages);
        let page = usize::try_from(PAGE).map_err(|_| Errno::EINVAL)?;
        let (mut ours, mut theirs) = (vec![0u8; page], vec![0u8; page]);
        for (&index, &off) in pages.iter() {
            let Some(start) = index.checked_mul(PAGE).filter(|s| *s < size) else {
                break;
            };
            let len = usize::try_from((size - start).min(PAGE)).map_err(|_| Errno::EINVAL)?;
            let (ours, theirs) = (&mut ours[..len], &mut theirs[..len]);
            mf.read(off, ours).map_err(|_| Errno::EIO)?;
            let n = data.read_at(theirs, start)?;
            if n < len || ours != theirs {
                data.write_all_at(ours, start)?;
            }
        }
        Ok(())
    }

    /// After a write through the sandbox to `[off, end)`: the cached size grows, and cached
    /// pages of the range are read again from the file, in place, so every mapping of them
    /// sees the new bytes (read(2)/write(2) and MAP_SHARED stay coherent).
    fn wrote(&self, off: u64, end: u64, data: &Data) {
        {
            let mut a = lock(&self.attr);
            a.size = a.size.max(end);
        }
        let Some(mf) = self.shared.memfile.as_ref() else {
            return;
        };
        if end <= off {
            return;
        }
        let pages = lock(&self.pages);
        let (first, last) = (off / PAGE, (end - 1) / PAGE);
        for (&index, &moff) in pages.range(first..=last) {
            if fill_pages(mf, moff, PAGE, index * PAGE, data).is_err() {
                // Unreadable now: forget the cache rather than keep stale bytes.
                drop(pages);
                self.drop_pages();
                return;
            }
        }
    }

    /// After a truncation to `size`: cached pages wholly past it go, the tail of the last
    /// one reads as zeros (pages mapped elsewhere keep their identity below the new EOF).
    fn truncated(&self, size: u64) {
        let Some(mf) = self.shared.memfile.as_ref() else {
            return;
        };
        let mut pages = lock(&self.pages);
        let keep = size.div_ceil(PAGE);
        let gone = pages.split_off(&keep);
        for off in gone.into_values() {
            let _ = mf.release(off, PAGE);
        }
        let tail = size % PAGE;
        if tail != 0
            && let Some(&off) = pages.get(&(size / PAGE))
            && let Ok(n) = usize::try_from(PAGE - tail)
        {
            let _ = mf.write(off + tail, &vec![0u8; n]);
        }
    }

    /// Empties the page cache (after a write or truncation through the sandbox, or a change
    /// seen on revalidation). Mappings keep the pages they hold: like a private copy, they
    /// no longer follow the file.
    fn drop_pages(&self) {
        let Some(mf) = self.shared.memfile.as_ref() else {
            return;
        };
        let pages = std::mem::take(&mut *lock(&self.pages));
        // Release contiguous runs with one call each.
        let mut run: Option<(u64, u64)> = None;
        for off in pages.into_values() {
            run = match run {
                Some((s, l)) if s.checked_add(l) == Some(off) => Some((s, l + PAGE)),
                Some((s, l)) => {
                    let _ = mf.release(s, l);
                    Some((off, PAGE))
                }
                None => Some((off, PAGE)),
            };
        }
        if let Some((s, l)) = run {
            let _ = mf.release(s, l);
        }
    }

    /// The MemoryFile offset of cached file page `index` and how many pages from it (at most
    /// `max`) are contiguous in the MemoryFile, each with one reference added for the caller.
    /// A miss reads the uncached pages from `index` up to the next [`CACHE_FILL_PAGES`]
    /// boundary from `data` first. EFAULT for a page wholly past EOF.
    fn cached_pages(
        &self,
        mf: &MemoryFile,
        index: u64,
        max: u64,
        data: &Data,
    ) -> SysResult<(u64, u64)> {
        let npages = lock(&self.attr).size.div_ceil(PAGE);
        if index >= npages {
            return Err(Errno::EFAULT);
        }
        let max = max.max(1).min(npages - index);
        let mut pages = lock(&self.pages);
        if !pages.contains_key(&index) {
            let limit = (index / CACHE_FILL_PAGES + 1)
                .saturating_mul(CACHE_FILL_PAGES)
                .min(npages);
            let mut end = index + 1;
            while end < limit && !pages.contains_key(&end) {
                end += 1;
            }
            let len = (end - index) * PAGE;
            let off = mf.allocate(len).map_err(|_| Errno::ENOMEM)?;
            // A fresh allocation reads as zeros, so a short read (EOF) leaves the tail zeroed.
            if let Err(e) = fill_pages(mf, off, len, index * PAGE, data) {
                let _ = mf.free(off, len);
                return Err(e);
            }
            for k in 0..(end - index) {
                pages.insert(index + k, off + k * PAGE);
            }
        }
        let Some(&off) = pages.get(&index) else {
            return Err(Errno::EIO);
        };
        let mut n = 1;
        while n < max && pages.get(&(index + n)) == Some(&(off + n * PAGE)) {
            n += 1;
        }
        mf.share(off, n * PAGE).map_err(|_| Errno::EIO)?;
        Ok((off, n))
    }

    /// A cached donated fd good for access mode `acc`.
    fn cached_fd(&self, acc: u32) -> Option<Arc<OwnedFd>> {
        let fds = lock(&self.fds);
        let slot = |a: u32| fds.get(a as usize).and_then(Clone::clone);
        match acc {
            f::O_RDONLY => slot(f::O_RDONLY).or_else(|| slot(f::O_RDWR)),
            f::O_WRONLY => slot(f::O_WRONLY).or_else(|| slot(f::O_RDWR)),
            _ => slot(f::O_RDWR),
        }
    }

    /// Keeps `fd` (opened with `acc`) for later opens, within [`MAX_CACHED_FDS`].
    fn cache_fd(&self, acc: u32, fd: &Arc<OwnedFd>) {
        let sh = &self.shared;
        if sh.is_shared {
            return;
        }
        let mut fds = lock(&self.fds);
        let Some(slot) = fds.get_mut(acc as usize) else {
            return;
        };
        if slot.is_none()
            && sh
                .cached_fds
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < MAX_CACHED_FDS).then_some(n + 1)
                })
                .is_ok()
        {
            *slot = Some(Arc::clone(fd));
        }
    }

    /// Lists the directory on the server (an opened clone, Treaddir until empty).
    fn read_entries(&self) -> SysResult<Vec<DirEntry>> {
        let dir = self.fid.walk_lopen(f::O_RDONLY | f::O_DIRECTORY)?;
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

    /// Forgets the cached listing after a change to this directory's entries.
    fn entries_changed(&self) {
        *lock(&self.listing) = None;
        self.refresh();
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
        self.entries_changed();
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

    /// A forgotten dentry is looked up again with one walk; meanwhile its fid (and the
    /// gofer's fd for it) are released.
    fn is_evictable(&self) -> bool {
        true
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let (fid, attr) = self.fid.walk_getattr(name)?;
        Ok(P9Inode::new(&self.shared, fid, attr))
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        if let Some(l) = lock(&self.listing).as_ref() {
            return Ok(l.clone());
        }
        let out = self.read_entries()?;
        if !self.shared.is_shared {
            *lock(&self.listing) = Some(out.clone());
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
        let inode = self.me.upgrade().ok_or(Errno::ENOENT)?;
        // Truncation and appending are done by the VFS (setattr, append), not by the server.
        // Preferred: the server opens the file and donates the host fd (one round trip now,
        // none per read, write or close). Fallback: a cloned fid opened with Tlopen.
        if let Some(fd) = self.cached_fd(acc) {
            return Ok(Box::new(P9File {
                data: Arc::new(Data::Fd(fd)),
                inode,
            }));
        }
        let data = match self.fid.lopenfd(acc) {
            Ok((attr, fd)) => {
                // An open that reaches the server revalidates the cached attributes (in
                // shared mode every open does: close-to-open consistency), and a file that
                // changed loses its cached pages.
                let old = std::mem::replace(&mut *lock(&self.attr), attr);
                if (
                    old.size,
                    old.mtime_sec,
                    old.mtime_nsec,
                    old.ctime_sec,
                    old.ctime_nsec,
                ) != (
                    attr.size,
                    attr.mtime_sec,
                    attr.mtime_nsec,
                    attr.ctime_sec,
                    attr.ctime_nsec,
                ) {
                    self.drop_pages();
                }
                let fd = Arc::new(fd);
                self.cache_fd(acc, &fd);
                Data::Fd(fd)
            }
            Err(Errno::EOPNOTSUPP) => Data::Fid(self.fid.walk_lopen(acc)?),
            Err(e) => return Err(e),
        };
        Ok(Box::new(P9File {
            data: Arc::new(data),
            inode,
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
        name: &[u8],
        kind: InodeKind,
        perm: u32,
        rdev: u64,
        creds: &Creds,
    ) -> SysResult<Arc<dyn Inode>> {
        self.check_writable()?;
        let mode = kind.mode_bits() | (perm & f::S_IALLUGO);
        self.fid
            .mknod(name, mode, (f::major(rdev), f::minor(rdev)), creds.gid)?;
        self.child_after_create(name, creds)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<()> {
        self.check_writable()?;
        let t = downcast(target)?;
        self.fid.link(&t.fid, name)?;
        self.entries_changed();
        t.refresh();
        Ok(())
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        self.check_writable()?;
        self.fid.unlinkat(name, 0)?;
        self.entries_changed();
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        self.check_writable()?;
        self.fid.unlinkat(name, f::AT_REMOVEDIR)?;
        self.entries_changed();
        Ok(())
    }

    fn rename(&self, old_name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8]) -> SysResult<()> {
        self.check_writable()?;
        let nd = downcast(new_dir)?;
        self.fid.renameat(old_name, &nd.fid, new_name)?;
        self.entries_changed();
        nd.entries_changed();
        Ok(())
    }

    /// NOREPLACE and EXCHANGE through the Trenameat2 extension (the gofer calls
    /// renameat2(2)); WHITEOUT, or a server without the extension, is EINVAL (as v9fs).
    fn rename2(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
        flags: RenameFlags,
        _creds: &Creds,
    ) -> SysResult<()> {
        if flags == RenameFlags::default() {
            return self.rename(old_name, new_dir, new_name);
        }
        self.check_writable()?;
        if flags.whiteout {
            return Err(Errno::EINVAL);
        }
        let nd = downcast(new_dir)?;
        match self.fid.renameat2(old_name, &nd.fid, new_name, flags.raw()) {
            Err(Errno::EOPNOTSUPP) => return Err(Errno::EINVAL),
            r => r?,
        }
        self.entries_changed();
        nd.entries_changed();
        Ok(())
    }

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        self.fid.xattr_read(name, XATTR_SIZE_MAX)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], mode: XattrMode) -> SysResult<()> {
        self.check_writable()?;
        self.fid.xattr_write(name, value, mode.flags())?;
        self.refresh();
        Ok(())
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        let list = self.fid.xattr_read(b"", XATTR_LIST_MAX)?;
        Ok(list
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        self.check_writable()?;
        self.fid.xattr_write(name, &[], p9::XATTR_REMOVE)?;
        self.refresh();
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
            // Mapped changes below the new size must reach the file first.
            self.write_back()?;
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
        if let Some(sz) = attr.size {
            self.truncated(sz);
        }
        self.refresh();
        Ok(())
    }
}

/// An open regular file on the server.
#[derive(Debug)]
struct P9File {
    /// Shared with the write-back tokens of its writable shared mappings.
    data: Arc<Data>,
    inode: Arc<P9Inode>,
}

/// Where an open file's data is read and written.
#[derive(Debug)]
enum Data {
    /// A host fd the gofer donated (Tlopenfd): pread/pwrite, no round trip. Its access mode
    /// covers the open's (enforced by the host kernel); it may be shared with other opens of
    /// the same inode through the inode's cache (all I/O is positioned, so no offset is
    /// shared).
    Fd(Arc<OwnedFd>),
    /// An opened fid: Tread/Twrite.
    Fid(Fid),
}

/// Reads `len` bytes of the file at `file_off` into MemoryFile `[off, off + len)`, stopping
/// at EOF.
fn fill_pages(mf: &MemoryFile, off: u64, len: u64, file_off: u64, data: &Data) -> SysResult<()> {
    let total = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let mut done = 0usize;
    while done < total {
        let at = file_off.checked_add(done as u64).ok_or(Errno::EINVAL)?;
        let dst = off + done as u64;
        let n = match data {
            Data::Fd(fd) => mf
                .read_from_fd(fd.as_fd(), dst, total - done, at)
                .map_err(host_errno)?,
            Data::Fid(fid) => {
                let mut buf = vec![0u8; total - done];
                let n = fid.read(at, &mut buf)?;
                mf.write(dst, buf.get(..n).unwrap_or_default())
                    .map_err(|_| Errno::EIO)?;
                n
            }
        };
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(())
}

fn host_errno(e: nix::errno::Errno) -> Errno {
    u16::try_from(e as i32).map_or(Errno::EIO, Errno::from_raw)
}

fn host_off(off: u64) -> SysResult<i64> {
    i64::try_from(off).map_err(|_| Errno::EINVAL)
}

impl Data {
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        match self {
            Data::Fd(fd) => loop {
                match nix::sys::uio::pread(fd, buf, host_off(off)?) {
                    Err(nix::errno::Errno::EINTR) => {}
                    r => return r.map_err(host_errno),
                }
            },
            Data::Fid(fid) => fid.read(off, buf),
        }
    }

    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        match self {
            Data::Fd(fd) => loop {
                match nix::sys::uio::pwrite(fd, buf, host_off(off)?) {
                    Err(nix::errno::Errno::EINTR) => {}
                    r => return r.map_err(host_errno),
                }
            },
            Data::Fid(fid) => fid.write(off, buf),
        }
    }

    fn write_all_at(&self, buf: &[u8], off: u64) -> SysResult<()> {
        let mut done = 0;
        while done < buf.len() {
            let at = off.checked_add(done as u64).ok_or(Errno::EFBIG)?;
            let n = self.write_at(buf.get(done..).unwrap_or_default(), at)?;
            if n == 0 {
                return Err(Errno::EIO);
            }
            done += n;
        }
        Ok(())
    }
}

/// What a writable `MAP_SHARED` mapping of a 9P file holds (`FileOps::writable_map_token`):
/// while one lives, the inode's cached pages are the file's current data (mappings write
/// them in place), so reads, writes, fsync and truncation first write them back; the last
/// one to go writes them back too.
#[derive(Debug)]
struct MapWriteBack {
    inode: Arc<P9Inode>,
}

impl Drop for MapWriteBack {
    fn drop(&mut self) {
        if let Err(e) = self.inode.write_back() {
            tracing::warn!(errno = ?e, "writing a shared mapping back to its 9P file failed");
        }
        let mut w = lock(&self.inode.writable_maps);
        w.0 = w.0.saturating_sub(1);
        if w.0 == 0 {
            w.1 = None;
        }
    }
}

impl FileOps for P9File {
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        self.inode.write_back()?;
        self.data.read_at(buf, off)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        self.inode.check_writable()?;
        self.inode.write_back()?;
        let n = self.data.write_at(buf, off)?;
        let end = off.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        self.inode.wrote(off, end, &self.data);
        Ok(n)
    }

    fn size(&self) -> SysResult<u64> {
        Ok(lock(&self.inode.attr).size)
    }

    fn fsync(&self, datasync: bool) -> SysResult<()> {
        self.inode.write_back()?;
        match &*self.data {
            Data::Fd(fd) if datasync => nix::unistd::fdatasync(fd).map_err(host_errno),
            Data::Fd(fd) => nix::unistd::fsync(fd).map_err(host_errno),
            Data::Fid(fid) if datasync => fid.fdatasync(),
            Data::Fid(fid) => fid.fsync(),
        }
    }

    fn has_direct_io(&self) -> bool {
        matches!(*self.data, Data::Fd(_))
    }

    fn read_into_memfile(
        &self,
        mf: &MemoryFile,
        dst: u64,
        len: usize,
        off: u64,
    ) -> SysResult<usize> {
        self.inode.write_back()?;
        match &*self.data {
            Data::Fd(fd) => mf
                .read_from_fd(fd.as_fd(), dst, len, off)
                .map_err(host_errno),
            Data::Fid(_) => Err(Errno::EINVAL),
        }
    }

    fn write_from_memfile(
        &self,
        mf: &MemoryFile,
        src: u64,
        len: usize,
        off: u64,
    ) -> SysResult<usize> {
        self.inode.check_writable()?;
        let Data::Fd(fd) = &*self.data else {
            return Err(Errno::EINVAL);
        };
        self.inode.write_back()?;
        let n = mf
            .write_to_fd(fd.as_fd(), src, len, off)
            .map_err(host_errno)?;
        self.inode
            .wrote(off, off.saturating_add(n as u64), &self.data);
        Ok(n)
    }

    /// The page cache ([`Options::memfile`]): MAP_SHARED and MAP_PRIVATE mappings of the
    /// file map cached pages; writable shared mappings write them in place and hold a
    /// [`MapWriteBack`] token that brings the changes to the file.
    fn memfile_page(&self, index: u64) -> Option<SysResult<u64>> {
        self.memfile_pages(index, 1).map(|r| r.map(|(off, _)| off))
    }

    fn memfile_pages(&self, index: u64, max: u64) -> Option<SysResult<(u64, u64)>> {
        let mf = self.inode.shared.memfile.as_ref()?;
        Some(self.inode.cached_pages(mf, index, max, &self.data))
    }

    fn has_memfile_pages(&self) -> bool {
        self.inode.shared.memfile.is_some()
    }

    fn writable_map_token(&self) -> Option<SysResult<crate::inode::MapToken>> {
        self.inode.shared.memfile.as_ref()?;
        {
            let mut w = lock(&self.inode.writable_maps);
            w.0 += 1;
            if w.1.is_none() {
                w.1 = Some(Arc::clone(&self.data));
            }
        }
        Some(Ok(Arc::new(MapWriteBack {
            inode: Arc::clone(&self.inode),
        })))
    }

    fn sync_mappings(&self) -> SysResult<()> {
        self.inode.write_back()
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

/// Attaches to the server behind `client` and returns the filesystem.
pub fn new_filesystem(client: Arc<Client>, opts: Options) -> SysResult<Arc<dyn Filesystem>> {
    let (fid, _qid) = client.attach(b"")?;
    let attr = fid.getattr()?;
    let shared = Arc::new(Shared {
        client,
        is_readonly: opts.readonly,
        is_shared: opts.shared,
        cached_fds: AtomicUsize::new(0),
        memfile: opts.memfile,
    });
    let root = P9Inode::new(&shared, fid, attr);
    Ok(Arc::new(P9Fs {
        dev: new_anon_dev(),
        root,
        shared,
    }))
}
