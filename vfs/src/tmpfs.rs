//! tmpfs: an in-memory filesystem with full directory operations, timestamps
//! (atime/mtime/ctime), link counts and inode numbers. Also the base of devfs.
//!
//! Regular file data lives in MemoryFile pages (the sandbox's one memfd, `memfile.rs`): each
//! file keeps a page map, file page index → MemoryFile offset (`FileData`). A page is
//! allocated on the first write that touches it; holes (never written, or past a truncation
//! and re-extension) read as zeros without allocating. Because the pages are the MemoryFile's,
//! the sentry's mm maps them directly for `MAP_SHARED` file mappings ([`FileOps::memfile_page`]),
//! so every process mapping the file, and read(2)/write(2) through any fd, see the same bytes;
//! `MAP_PRIVATE` mappings map them copy-on-write.
//!
//! Page references: the file holds one MemoryFile reference on each page of its map.
//! [`FileOps::memfile_page`] adds one more for the caller (mm, which releases it when it
//! unmaps). Truncation and the inode's drop release the file's reference only, so a page
//! still mapped somewhere is never freed under the mapping. Files are capped at
//! [`MAX_FILE_SIZE`] (EFBIG beyond).
//!
//! fallocate(2) allocates pages into the map (mode 0, KEEP_SIZE) or punches them out
//! (PUNCH_HOLE|KEEP_SIZE); SEEK_DATA/SEEK_HOLE read the map (a page in it is data). memfds
//! ([`MemfdFs`]) are ordinary files of an unmounted instance, unlinked at birth, whose
//! `FileData` carries seals, enforced by the write, truncate and fallocate paths here; the
//! mmap handler takes a [`FileOps::writable_map_token`] for each shared mapping that may
//! become writable (refused under a write seal), and F_SEAL_WRITE is EBUSY while one lives.
//!
//! Extended attributes live in each inode's state (`XattrMap`, `xattr.rs`; the VFS has done
//! the namespace and permission checks). rename2 implements RENAME_NOREPLACE, RENAME_EXCHANGE
//! (the parents' link counts follow a directory that changes parent) and RENAME_WHITEOUT (a
//! 0/0 character device left at the old name), as shmem_rename2.
//!
//! Key types: [`Tmpfs`] (the `Filesystem`), [`TmpInode`] (every file type; the data lives in
//! its locked state, the immutable type outside it), [`MemfdFs`].
//!
//! Lock order: `Shared::rename_lock`, then inode `state` locks, then the MemoryFile's
//! allocator lock (allocate/share/release of file pages, taken under a file's `state` lock so
//! that a truncation cannot free a page between its lookup and the new reference). Any
//! operation that holds two *directory* state locks at once (rename: both parents in address
//! order, then a replaced directory; rmdir: parent, then victim) holds `rename_lock` first, so
//! those orders never meet. Other operations hold at most one directory lock plus locks of
//! non-directories (leaves: nobody holding a file lock ever takes another), or of a new, still
//! unreachable inode. The sentry's mm calls [`FileOps::memfile_page`] with its own
//! `MemoryManager::inner` lock held, so mm's lock comes before file `state` locks; nothing in
//! tmpfs ever calls into mm (reads and writes copy to and from sentry buffers).
//!
//! # Shortcuts
//!
//! - Truncation does not unmap: a process that mapped a page the truncation removed keeps
//!   the old page (no longer the file's) until it unmaps it, where Linux unmaps it and
//!   SIGBUS-es later accesses. Accesses past EOF that fault *after* the truncation do get
//!   SIGBUS (mm asks for a page past EOF and is refused).
//! - Writes through a mapping do not update mtime/ctime.
//! - A hole punch cannot take a page away from a mapping (tmpfs never calls into mm), so a
//!   punched page that is still mapped somewhere is zeroed in place and stays in the file:
//!   mappings and reads see zeros as on Linux, but the memory is not freed and SEEK_HOLE
//!   sees data there until the mapping goes and the range is punched again.
//! - No size limit per instance (statfs reports zero blocks, like `size=0`); a write that the
//!   MemoryFile cannot back (the sandbox's memory limit, `MemoryFile::set_limit`) fails with
//!   ENOSPC.
//!
//! O_TMPFILE (`Inode::tmpfile`): a regular inode with link count 0 and no entry; `linkable`
//! (Linux's I_LINKABLE, no O_EXCL) lets one `link` give it a name, after which it is an
//! ordinary file.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::file::{self as f, StatFs};
use abi::time::Timespec;
use abi::{Errno, SysResult};

use crate::inode::{
    DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind, RenameFlags, SetAttr, new_anon_dev,
    now,
};
use crate::memfile::{MemoryFile, PAGE_SIZE};
use crate::mount::lock;
use crate::xattr::{XattrMap, XattrMode};
use crate::{Creds, device};

/// Largest regular file (EFBIG beyond). Holes cost nothing, but the page map costs sentry
/// heap per written page, so a guest must not make it grow without bound.
pub const MAX_FILE_SIZE: u64 = 1 << 30;

/// State shared by all inodes of one tmpfs instance.
#[derive(Debug)]
struct Shared {
    next_ino: AtomicU64,
    /// Serializes renames, so two renames never lock directories in opposite orders.
    rename_lock: Mutex<()>,
    /// Where regular files keep their pages.
    mf: Arc<MemoryFile>,
    /// The instance's size limit (`size=`), charged per file page.
    quota: Arc<Quota>,
}

/// A tmpfs instance's `size=` (shmem's max_blocks): pages held by its files, at most
/// `limit` (u64::MAX: no limit). Charged when a file takes a page into its map, uncharged when
/// it lets go (a page still mapped elsewhere no longer counts against the file system, as in
/// shmem). Beyond it: ENOSPC.
#[derive(Debug)]
struct Quota {
    limit: u64,
    used: AtomicU64,
}

impl Quota {
    fn charge(&self) -> SysResult<()> {
        let prev = self.used.fetch_add(1, Ordering::Relaxed);
        if prev >= self.limit {
            self.used.fetch_sub(1, Ordering::Relaxed);
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    fn uncharge(&self) {
        self.used.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One tmpfs instance.
#[derive(Debug)]
pub struct Tmpfs {
    dev: u64,
    root: Arc<TmpInode>,
    magic: i64,
    shared: Arc<Shared>,
}

/// The data of a regular file: its size and the MemoryFile pages that hold it.
#[derive(Debug)]
struct FileData {
    mf: Arc<MemoryFile>,
    quota: Arc<Quota>,
    size: u64,
    /// File page index → MemoryFile offset of that page, holding one reference (the file's).
    /// Absent pages below `size` are holes and read as zero.
    pages: BTreeMap<u64, u64>,
    /// F_SEAL_* bits of a memfd; `None` for files that cannot be sealed (every other file).
    seals: Option<u32>,
    /// Cloned by every writable shared mapping (`FileOps::writable_map_token`): more than
    /// one strong reference means such a mapping exists.
    writable_maps: Arc<()>,
}

/// The MemoryFile refused an access to a page the file holds (a bookkeeping bug, never the
/// guest's doing): logged, and the guest sees EIO.
fn mf_err(e: crate::memfile::MemoryFileError) -> Errno {
    tracing::error!(target: "vfs::tmpfs", %e, "memory file access for a tmpfs page failed");
    Errno::EIO
}

impl FileData {
    fn new(mf: Arc<MemoryFile>, quota: Arc<Quota>) -> FileData {
        FileData {
            mf,
            quota,
            size: 0,
            pages: BTreeMap::new(),
            seals: None,
            writable_maps: Arc::new(()),
        }
    }

    /// A fresh zero page for the file's map, charged to the instance's size limit; ENOSPC
    /// past it or when the MemoryFile is full (shmem_get_folio: a full memory is a full
    /// filesystem).
    fn alloc_page(&self) -> SysResult<u64> {
        self.quota.charge()?;
        self.mf.allocate(PAGE_SIZE).map_err(|_| {
            self.quota.uncharge();
            Errno::ENOSPC
        })
    }

    /// Lets go of the file's reference on `page` (taken out of the map).
    fn release_page(&self, page: u64) {
        self.quota.uncharge();
        if let Err(e) = self.mf.release(page, PAGE_SIZE) {
            mf_err(e);
        }
    }

    fn sealed(&self, seals: u32) -> bool {
        self.seals.is_some_and(|s| s & seals != 0)
    }

    /// The seal checks of a write of `len` bytes at `off` (memfd_create(2)): EPERM under
    /// F_SEAL_WRITE / F_SEAL_FUTURE_WRITE, and under F_SEAL_GROW if it would extend the file.
    fn check_write_seals(&self, off: u64, len: u64) -> SysResult<()> {
        if self.sealed(f::F_SEAL_WRITE | f::F_SEAL_FUTURE_WRITE) {
            return Err(Errno::EPERM);
        }
        if self.sealed(f::F_SEAL_GROW) && off.saturating_add(len) > self.size {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// fallocate(2): mode 0 and FALLOC_FL_KEEP_SIZE allocate every page of `[off, off+len)`
    /// (all or nothing: on ENOSPC the pages this call added are given back), mode 0 also
    /// extends the size; FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE makes the range read as
    /// zeros: whole pages nobody else holds are released (holes again), pages still mapped
    /// somewhere are zeroed in place (so the mapping sees the zeros, as shmem's unmap-and-
    /// refault gives on Linux, and stays the file's page), partial pages are zeroed.
    fn fallocate(&mut self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
        match mode {
            0 | f::FALLOC_FL_KEEP_SIZE => {
                if end > MAX_FILE_SIZE {
                    return Err(Errno::EFBIG);
                }
                if mode == 0 && self.sealed(f::F_SEAL_GROW) && end > self.size {
                    return Err(Errno::EPERM);
                }
                let mut added = Vec::new();
                for index in off / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
                    if self.pages.contains_key(&index) {
                        continue;
                    }
                    match self.alloc_page() {
                        Ok(page) => {
                            self.pages.insert(index, page);
                            added.push(index);
                        }
                        Err(e) => {
                            for i in added {
                                if let Some(page) = self.pages.remove(&i) {
                                    self.release_page(page);
                                }
                            }
                            return Err(e);
                        }
                    }
                }
                if mode == 0 {
                    self.size = self.size.max(end);
                }
                Ok(())
            }
            m if m == f::FALLOC_FL_PUNCH_HOLE | f::FALLOC_FL_KEEP_SIZE => {
                if self.sealed(f::F_SEAL_WRITE | f::F_SEAL_FUTURE_WRITE) {
                    return Err(Errno::EPERM);
                }
                let touched: Vec<(u64, u64)> = self
                    .pages
                    .range(off / PAGE_SIZE..end.div_ceil(PAGE_SIZE))
                    .map(|(&i, &p)| (i, p))
                    .collect();
                for (index, page) in touched {
                    let start = index * PAGE_SIZE; // index < MAX_FILE_SIZE / PAGE_SIZE + 1.
                    let a = off.max(start) - start;
                    let b = end.min(start + PAGE_SIZE) - start;
                    if a == 0 && b == PAGE_SIZE && self.mf.is_exclusive(page, PAGE_SIZE) {
                        self.pages.remove(&index);
                        self.release_page(page);
                    } else {
                        self.mf.zero(page + a, b - a).map_err(mf_err)?;
                    }
                }
                Ok(())
            }
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// SEEK_DATA (`hole` false) / SEEK_HOLE from `off`: pages in the map are data (written or
    /// fallocated), the rest are holes, and EOF is a hole. ENXIO at or past EOF, or if no
    /// data follows `off`.
    fn seek_data_hole(&self, off: u64, hole: bool) -> SysResult<u64> {
        if off >= self.size {
            return Err(Errno::ENXIO);
        }
        let first = off / PAGE_SIZE;
        if hole {
            let mut next = first;
            for (&i, _) in self.pages.range(first..) {
                if i != next {
                    break;
                }
                next += 1;
            }
            Ok(off.max(next.saturating_mul(PAGE_SIZE)).min(self.size))
        } else {
            match self.pages.range(first..).next() {
                Some((&i, _)) if i.saturating_mul(PAGE_SIZE) < self.size => {
                    Ok(off.max(i * PAGE_SIZE))
                }
                _ => Err(Errno::ENXIO),
            }
        }
    }

    /// Copies up to `buf.len()` bytes at `off` (short at EOF); holes read as zeros.
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let avail = self.size.saturating_sub(off);
        let n = usize::try_from(avail).map_or(buf.len(), |a| a.min(buf.len()));
        let mut done = 0usize;
        while done < n {
            let pos = off + done as u64; // < size: no overflow.
            let in_page = pos % PAGE_SIZE;
            let k = usize::try_from(PAGE_SIZE - in_page).map_or(n - done, |k| k.min(n - done));
            let Some(dst) = buf.get_mut(done..done + k) else {
                break;
            };
            match self.pages.get(&(pos / PAGE_SIZE)) {
                Some(&page) => self.mf.read(page + in_page, dst).map_err(mf_err)?,
                None => dst.fill(0),
            }
            done += k;
        }
        Ok(done)
    }

    /// [`read`](Self::read) into MemoryFile `[dst, dst + len)` (application memory) instead of
    /// a sentry buffer.
    fn read_into(&self, dst: u64, len: usize, off: u64) -> SysResult<usize> {
        let avail = self.size.saturating_sub(off);
        let n = usize::try_from(avail).map_or(len, |a| a.min(len));
        let mut done = 0usize;
        while done < n {
            let pos = off + done as u64; // < size: no overflow.
            let in_page = pos % PAGE_SIZE;
            let k = usize::try_from(PAGE_SIZE - in_page).map_or(n - done, |k| k.min(n - done));
            let to = dst + done as u64;
            match self.pages.get(&(pos / PAGE_SIZE)) {
                Some(&page) => self.mf.move_within(page + in_page, to, k as u64),
                None => self.mf.zero(to, k as u64),
            }
            .map_err(mf_err)?;
            done += k;
        }
        Ok(done)
    }

    /// [`write`](Self::write) from MemoryFile `[src, src + len)` (application memory).
    fn write_from(&mut self, src: u64, len: usize, off: u64) -> SysResult<usize> {
        let end = off.checked_add(len as u64).ok_or(Errno::EFBIG)?;
        if len == 0 {
            return Ok(0);
        }
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        self.check_write_seals(off, len as u64)?;
        let mut done = 0usize;
        while done < len {
            let pos = off + done as u64; // < end: no overflow.
            let in_page = pos % PAGE_SIZE;
            let k = usize::try_from(PAGE_SIZE - in_page).map_or(len - done, |k| k.min(len - done));
            let page = match self.page_or_alloc(pos / PAGE_SIZE) {
                Ok(p) => p,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            self.mf
                .move_within(src + done as u64, page + in_page, k as u64)
                .map_err(mf_err)?;
            done += k;
        }
        self.size = self.size.max(off + done as u64);
        Ok(done)
    }

    /// The MemoryFile page holding file page `index`, allocated (zero-filled) if it is a hole.
    fn page_or_alloc(&mut self, index: u64) -> SysResult<u64> {
        if let Some(&page) = self.pages.get(&index) {
            return Ok(page);
        }
        let page = self.alloc_page()?;
        self.pages.insert(index, page);
        Ok(page)
    }

    /// Writes `buf` at `off`, growing the file; returns the bytes written (short only if the
    /// MemoryFile ran out after some progress).
    fn write(&mut self, buf: &[u8], off: u64) -> SysResult<usize> {
        let len = u64::try_from(buf.len()).map_err(|_| Errno::EFBIG)?;
        let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
        if buf.is_empty() {
            return Ok(0);
        }
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        self.check_write_seals(off, len)?;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = off + done as u64; // < end: no overflow.
            let in_page = pos % PAGE_SIZE;
            let k = usize::try_from(PAGE_SIZE - in_page)
                .map_or(buf.len() - done, |k| k.min(buf.len() - done));
            let page = match self.page_or_alloc(pos / PAGE_SIZE) {
                Ok(p) => p,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            let src = buf.get(done..done + k).ok_or(Errno::EFAULT)?;
            self.mf.write(page + in_page, src).map_err(mf_err)?;
            done += k;
        }
        self.size = self.size.max(off + done as u64);
        Ok(done)
    }

    /// Sets the size to `len`: pages wholly past it are released (the file's reference; a
    /// mapping's keeps the page alive), the tail of a partial last page is zeroed, so that a
    /// later extension reads zeros there as it must.
    fn truncate(&mut self, len: u64) -> SysResult<()> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if (len < self.size && self.sealed(f::F_SEAL_SHRINK))
            || (len > self.size && self.sealed(f::F_SEAL_GROW))
        {
            return Err(Errno::EPERM);
        }
        if len < self.size {
            let keep = len.div_ceil(PAGE_SIZE);
            let gone = self.pages.split_off(&keep);
            for page in gone.into_values() {
                self.release_page(page);
            }
            let in_page = len % PAGE_SIZE;
            if in_page != 0
                && let Some(&page) = self.pages.get(&(len / PAGE_SIZE))
            {
                self.mf
                    .zero(page + in_page, PAGE_SIZE - in_page)
                    .map_err(mf_err)?;
            }
        }
        self.size = len;
        Ok(())
    }

    /// [`FileOps::memfile_page`]: page `index` (allocated if a hole) with one more reference
    /// for the caller. EFAULT past the last page of the file.
    fn share_page(&mut self, index: u64) -> SysResult<u64> {
        if index >= self.size.div_ceil(PAGE_SIZE) {
            return Err(Errno::EFAULT);
        }
        let page = self.page_or_alloc(index)?;
        self.mf.share(page, PAGE_SIZE).map_err(mf_err)?;
        Ok(page)
    }
}

impl Drop for FileData {
    /// Releases the file's reference on every page (mappings may still hold theirs).
    fn drop(&mut self) {
        for &page in self.pages.values() {
            self.release_page(page);
        }
    }
}

#[derive(Debug)]
enum Data {
    File(FileData),
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
    /// Extended attributes (user.* only on regular files and directories: the VFS checks).
    xattrs: XattrMap,
    /// An O_TMPFILE file without O_EXCL that has not been linked yet (Linux's I_LINKABLE):
    /// linkat(2) may give it a name although its link count is 0.
    linkable: bool,
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
        Data::File(fd) => fd.size,
        Data::Symlink(v) => u64::try_from(v.len()).unwrap_or(u64::MAX),
        Data::Dir(_) => 4096,
        Data::Special => 0,
    }
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
                xattrs: XattrMap::default(),
                linkable: false,
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
        if st.nlink == 0 {
            // Removed (IS_DEADDIR): checked under the lock rmdir holds while it checks
            // emptiness, so a racing creation cannot leave an entry in a dead directory.
            return Err(Errno::ENOENT);
        }
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
            // Allocated 512-byte blocks: a sparse file counts only its written pages.
            blocks: match &st.data {
                Data::File(fd) => (fd.pages.len() as u64).saturating_mul(PAGE_SIZE / 512),
                _ => size.div_ceil(4096).saturating_mul(8),
            },
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
            Data::File(FileData::new(
                Arc::clone(&self.shared.mf),
                Arc::clone(&self.shared.quota),
            )),
        );
        self.add_child(name, c)
    }

    fn tmpfile(&self, perm: u32, creds: &Creds, linkable: bool) -> SysResult<Arc<dyn Inode>> {
        if self.kind != InodeKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        let (dir_perm, dir_gid) = {
            let st = self.state();
            (st.perm, st.gid)
        };
        let c = TmpInode::new(
            &self.shared,
            InodeKind::Regular,
            perm,
            creds,
            Data::File(FileData::new(
                Arc::clone(&self.shared.mf),
                Arc::clone(&self.shared.quota),
            )),
        );
        {
            let mut cs = c.state();
            cs.nlink = 0;
            cs.linkable = linkable;
            if dir_perm & f::S_ISGID != 0 {
                cs.gid = dir_gid;
            }
        }
        Ok(c)
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
            InodeKind::Regular => Data::File(FileData::new(
                Arc::clone(&self.shared.mf),
                Arc::clone(&self.shared.quota),
            )),
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
        if st.nlink == 0 {
            // A removed directory (IS_DEADDIR), see `add_child`.
            return Err(Errno::ENOENT);
        }
        let entries = st.dir_mut()?;
        if entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        {
            let mut ts = t.state();
            if ts.nlink == 0 {
                // linkat(2) of an unlinked file fails with ENOENT, unless it is an O_TMPFILE
                // file opened without O_EXCL that was never linked (vfs_link, I_LINKABLE).
                if !ts.linkable {
                    return Err(Errno::ENOENT);
                }
                ts.linkable = false;
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
        self.rename2(
            old_name,
            new_dir,
            new_name,
            RenameFlags::default(),
            &Creds::root(),
        )
    }

    /// shmem_rename2: all three flags. EXCHANGE swaps the entries (simple_rename_exchange,
    /// fixing the parents' link counts when a directory changes parent); WHITEOUT leaves a
    /// 0/0 character device at the old name (shmem_whiteout).
    fn rename2(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
        flags: RenameFlags,
        creds: &Creds,
    ) -> SysResult<()> {
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
        let new_dir_nlink = b.as_ref().map_or(a.nlink, |b| b.nlink);
        if new_dir_nlink == 0 {
            // Into a removed directory (IS_DEADDIR), see `add_child`.
            return Err(Errno::ENOENT);
        }
        let src_is_dir = src.kind() == InodeKind::Dir;
        let dst = match &b {
            Some(b) => b.dir()?.get(new_name).cloned(),
            None => a.dir()?.get(new_name).cloned(),
        };
        if flags.noreplace && dst.is_some() {
            return Err(Errno::EEXIST);
        }
        if flags.exchange {
            let dst = dst.ok_or(Errno::ENOENT)?;
            if Arc::ptr_eq(&dst, &src) {
                return Ok(());
            }
            let dst_is_dir = dst.kind() == InodeKind::Dir;
            a.dir_mut()?.insert(old_name.to_vec(), Arc::clone(&dst));
            a.touch_mc();
            if let Some(bs) = b.as_mut() {
                bs.dir_mut()?.insert(new_name.to_vec(), Arc::clone(&src));
                bs.touch_mc();
                // A directory's ".." counts toward its parent: moving one across changes
                // both parents' counts.
                match (src_is_dir, dst_is_dir) {
                    (true, false) => {
                        a.nlink = a.nlink.saturating_sub(1);
                        bs.nlink = bs.nlink.saturating_add(1);
                    }
                    (false, true) => {
                        a.nlink = a.nlink.saturating_add(1);
                        bs.nlink = bs.nlink.saturating_sub(1);
                    }
                    _ => {}
                }
            } else {
                a.dir_mut()?.insert(new_name.to_vec(), Arc::clone(&src));
            }
            drop(b);
            drop(a);
            let t = now();
            src.state().ctime = t;
            dst.state().ctime = t;
            return Ok(());
        }
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
        if flags.whiteout {
            // A new, unreachable inode: locking it under `a` is allowed (module lock order).
            let w = TmpInode::new(&self.shared, InodeKind::CharDev, 0, creds, Data::Special);
            a.dir_mut()?.insert(old_name.to_vec(), w);
        }
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

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        self.state().xattrs.get(name)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], mode: XattrMode) -> SysResult<()> {
        let mut st = self.state();
        st.xattrs.set(name, value, mode)?;
        st.ctime = now();
        Ok(())
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(self.state().xattrs.names())
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        let mut st = self.state();
        st.xattrs.remove(name)?;
        st.ctime = now();
        Ok(())
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        let mut st = self.state();
        if let Some(size) = attr.size {
            match &mut st.data {
                Data::File(fd) => fd.truncate(size)?,
                Data::Dir(_) => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
            st.mtime = now();
        }
        if let Some(p) = attr.perm {
            // F_SEAL_EXEC: the exec bits of a memfd may no longer change.
            if let Data::File(fd) = &st.data
                && fd.sealed(f::F_SEAL_EXEC)
                && (p ^ st.perm) & 0o111 != 0
            {
                return Err(Errno::EPERM);
            }
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
    /// The data lives only in memory: nothing to flush (shmem's noop_fsync).
    fn fsync(&self, _datasync: bool) -> SysResult<()> {
        Ok(())
    }

    /// The data is MemoryFile pages, as is application memory: read(2) and write(2) copy
    /// between them directly.
    fn has_direct_io(&self) -> bool {
        true
    }

    fn read_into_memfile(
        &self,
        mf: &MemoryFile,
        dst: u64,
        len: usize,
        off: u64,
    ) -> SysResult<usize> {
        let mut st = self.inode.state();
        let Data::File(data) = &st.data else {
            return Err(Errno::EINVAL);
        };
        if !std::ptr::eq(mf, Arc::as_ptr(&data.mf)) {
            return Err(Errno::EXDEV);
        }
        let n = data.read_into(dst, len, off)?;
        st.atime = now();
        Ok(n)
    }

    fn write_from_memfile(
        &self,
        mf: &MemoryFile,
        src: u64,
        len: usize,
        off: u64,
    ) -> SysResult<usize> {
        let mut st = self.inode.state();
        let Data::File(data) = &mut st.data else {
            return Err(Errno::EINVAL);
        };
        if !std::ptr::eq(mf, Arc::as_ptr(&data.mf)) {
            return Err(Errno::EXDEV);
        }
        let n = data.write_from(src, len, off)?;
        st.touch_mc();
        Ok(n)
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let mut st = self.inode.state();
        let Data::File(data) = &st.data else {
            return Err(Errno::EINVAL);
        };
        let n = data.read(buf, off)?;
        st.atime = now();
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        let mut st = self.inode.state();
        let Data::File(data) = &mut st.data else {
            return Err(Errno::EINVAL);
        };
        let n = data.write(buf, off)?;
        st.touch_mc();
        Ok(n)
    }

    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        let mut st = self.inode.state();
        let Data::File(data) = &mut st.data else {
            return Err(Errno::EINVAL);
        };
        let off = data.size;
        let n = data.write(buf, off)?;
        st.touch_mc();
        Ok((n, off + n as u64))
    }

    fn size(&self) -> SysResult<u64> {
        Ok(size_of_data(&self.inode.state().data))
    }

    fn memfile_page(&self, index: u64) -> Option<SysResult<u64>> {
        let mut st = self.inode.state();
        match &mut st.data {
            Data::File(data) => Some(data.share_page(index)),
            _ => Some(Err(Errno::EINVAL)),
        }
    }

    fn has_memfile_pages(&self) -> bool {
        true
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        let mut st = self.inode.state();
        let Data::File(data) = &mut st.data else {
            return Err(Errno::EINVAL);
        };
        data.fallocate(mode, off, len)?;
        st.touch_mc();
        Ok(())
    }

    fn seek_data_hole(&self, off: u64, hole: bool) -> Option<SysResult<u64>> {
        match &self.inode.state().data {
            Data::File(data) => Some(data.seek_data_hole(off, hole)),
            _ => None,
        }
    }

    fn page_cached(&self, index: u64) -> bool {
        matches!(&self.inode.state().data, Data::File(d) if d.pages.contains_key(&index))
    }

    /// Taken under the state lock, so a seal cannot slip in between the check and the token.
    fn writable_map_token(&self) -> Option<SysResult<crate::inode::MapToken>> {
        match &self.inode.state().data {
            Data::File(d) if d.sealed(f::F_SEAL_WRITE | f::F_SEAL_FUTURE_WRITE) => {
                Some(Err(Errno::EPERM))
            }
            Data::File(d) => Some(Ok(Arc::clone(&d.writable_maps) as crate::inode::MapToken)),
            _ => None,
        }
    }

    fn seals(&self) -> SysResult<u32> {
        match &self.inode.state().data {
            Data::File(FileData { seals: Some(s), .. }) => Ok(*s),
            _ => Err(Errno::EINVAL),
        }
    }

    /// F_ADD_SEALS: EBUSY for F_SEAL_WRITE while a writable shared mapping exists. F_SEAL_EXEC
    /// on a file with exec bits also seals writes and resizes (memfd_create(2): W^X).
    fn add_seals(&self, mut seals: u32) -> SysResult<()> {
        let mut st = self.inode.state();
        if seals & f::F_SEAL_EXEC != 0 && st.perm & 0o111 != 0 {
            seals |= f::F_SEAL_SHRINK | f::F_SEAL_GROW | f::F_SEAL_WRITE | f::F_SEAL_FUTURE_WRITE;
        }
        match &mut st.data {
            Data::File(FileData {
                seals: Some(cur),
                writable_maps,
                ..
            }) => {
                if *cur & f::F_SEAL_SEAL != 0 {
                    return Err(Errno::EPERM);
                }
                if seals & f::F_SEAL_WRITE != 0 && Arc::strong_count(writable_maps) > 1 {
                    return Err(Errno::EBUSY);
                }
                *cur |= seals;
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Tmpfs {
    /// A new instance whose root directory has permission bits `mode` and belongs to `creds`;
    /// file pages come from `mf` (the sandbox's MemoryFile, so that mm can map them).
    pub fn new(mode: u32, creds: &Creds, mf: Arc<MemoryFile>) -> Arc<Tmpfs> {
        Self::with_magic(mode, creds, f::TMPFS_MAGIC, mf)
    }

    /// Like [`Tmpfs::new`] with another statfs `f_type` (for filesystems built on tmpfs).
    pub fn with_magic(mode: u32, creds: &Creds, magic: i64, mf: Arc<MemoryFile>) -> Arc<Tmpfs> {
        Self::build(mode, creds, magic, mf, None)
    }

    /// Like [`Tmpfs::new`], with a size limit in bytes (`size=`, rounded up to pages): writes
    /// and fallocate past it fail with ENOSPC, and statfs reports it as the block count.
    pub fn with_size(mode: u32, creds: &Creds, mf: Arc<MemoryFile>, size: u64) -> Arc<Tmpfs> {
        Self::build(mode, creds, f::TMPFS_MAGIC, mf, Some(size))
    }

    fn build(
        mode: u32,
        creds: &Creds,
        magic: i64,
        mf: Arc<MemoryFile>,
        size: Option<u64>,
    ) -> Arc<Tmpfs> {
        let shared = Arc::new(Shared {
            next_ino: AtomicU64::new(1),
            rename_lock: Mutex::new(()),
            mf,
            quota: Arc::new(Quota {
                limit: size.map_or(u64::MAX, |s| s.div_ceil(PAGE_SIZE)),
                used: AtomicU64::new(0),
            }),
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
            shared,
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
        // Without `size=`: unlimited, as a tmpfs mounted with size=0 reports (all-zero block
        // counts); with it, the limit and what the files hold.
        let q = &self.shared.quota;
        let (blocks, free) = if q.limit == u64::MAX {
            (0, 0)
        } else {
            let used = q.used.load(Ordering::Relaxed).min(q.limit);
            (q.limit, q.limit - used)
        };
        Ok(StatFs {
            ty: self.magic,
            bsize: 4096,
            blocks,
            bfree: free,
            bavail: free,
            namelen: 255,
            frsize: 4096,
            ..StatFs::default()
        })
    }

    fn dev(&self) -> u64 {
        self.dev
    }
}

/// A new tmpfs whose root directory has permission bits `mode` and belongs to `creds`, keeping
/// file pages in `mf`.
pub fn new_filesystem(mode: u32, creds: &Creds, mf: Arc<MemoryFile>) -> Arc<dyn Filesystem> {
    Tmpfs::new(mode, creds, mf)
}

/// Where memfd_create(2) files live: one tmpfs instance, mounted nowhere, in which each memfd
/// is created as `memfd:NAME` and unlinked at once. The file keeps that dentry, so /proc shows
/// `/memfd:NAME (deleted)` as Linux does, and every path-based operation (fstat, ftruncate,
/// fchmod, mmap) works as on any tmpfs file.
///
/// Shortcut: a `/` in the name (Linux allows it) is shown as `_` (a dentry name cannot hold it).
#[derive(Debug)]
pub struct MemfdFs {
    ns: Arc<crate::MountNamespace>,
    /// Serializes create-then-unlink, so two memfds of one name never meet in the directory.
    create_lock: Mutex<()>,
}

/// What memfd_create(2) asks for, decoded from its flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemfdOpts {
    /// MFD_ALLOW_SEALING: start with no seals (else F_SEAL_SEAL).
    pub allow_sealing: bool,
    /// MFD_NOEXEC_SEAL: mode 0666 and F_SEAL_EXEC, sealing allowed.
    pub noexec_seal: bool,
}

impl MemfdFs {
    /// The memfd filesystem, its pages from `mf`.
    pub fn new(mf: Arc<MemoryFile>) -> MemfdFs {
        MemfdFs {
            ns: crate::MountNamespace::new(new_filesystem(0o1777, &Creds::root(), mf)),
            create_lock: Mutex::new(()),
        }
    }

    /// A new memfd named `name` (≤ MFD_NAME_MAX_LEN bytes, checked by the caller), owned by
    /// `creds`, open O_RDWR.
    pub fn create(
        &self,
        name: &[u8],
        opts: MemfdOpts,
        creds: &Creds,
    ) -> SysResult<Arc<crate::OpenFile>> {
        let mut path = b"/memfd:".to_vec();
        path.extend(name.iter().map(|&b| if b == b'/' { b'_' } else { b }));
        let root = self.ns.root();
        let l = crate::Lookup {
            root: &root,
            start: &root,
            creds,
        };
        let mode = if opts.noexec_seal { 0o666 } else { 0o777 };
        let file = {
            let _serial = lock(&self.create_lock);
            let file = l.open(&path, f::O_CREAT | f::O_EXCL | f::O_RDWR, mode)?;
            l.unlink(&path)?;
            file
        };
        let seals = if opts.noexec_seal {
            f::F_SEAL_EXEC
        } else if opts.allow_sealing {
            0
        } else {
            f::F_SEAL_SEAL
        };
        let tf = file
            .ops_any()
            .and_then(|a| a.downcast_ref::<TmpFile>())
            .ok_or(Errno::EINVAL)?;
        if let Data::File(d) = &mut tf.inode.state().data {
            d.seals = Some(seals);
        }
        Ok(file)
    }
}

/// A small MemoryFile for unit tests of filesystems built on tmpfs (sparse: nothing is
/// committed until written).
#[cfg(test)]
pub(crate) fn test_memfile() -> Arc<MemoryFile> {
    Arc::new(MemoryFile::with_size(64 << 20).expect("memfd for tests"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tmpfs with one empty regular file `f`, opened; and the MemoryFile behind it.
    type Fixture = (
        Arc<Tmpfs>,
        Arc<dyn Inode>,
        Box<dyn FileOps>,
        Arc<MemoryFile>,
    );

    fn file() -> Fixture {
        let mf = test_memfile();
        let fs = Tmpfs::new(0o755, &Creds::root(), Arc::clone(&mf));
        let ino = fs.root_inode().create(b"f", 0o644, &Creds::root()).unwrap();
        let ops = ino.open(f::O_RDWR).unwrap();
        (fs, ino, ops, mf)
    }

    fn read(ops: &dyn FileOps, off: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0xaa; len];
        let n = ops.read_at(&mut buf, off).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn write_read_across_pages_allocates_only_written_pages() {
        let (_fs, ino, ops, mf) = file();
        let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(ops.write_at(&data, 4000).unwrap(), data.len());
        assert_eq!(ops.size().unwrap(), 10_000);
        // Pages 0, 1 and 2 hold bytes 4000..10000.
        assert_eq!(mf.allocated_bytes(), 3 * PAGE_SIZE);
        assert_eq!(read(ops.as_ref(), 4000, 6000), data);
        assert_eq!(read(ops.as_ref(), 0, 4000), vec![0; 4000]);
        // Short read at EOF, empty past it.
        assert_eq!(read(ops.as_ref(), 9990, 100).len(), 10);
        assert!(read(ops.as_ref(), 20_000, 10).is_empty());
        assert_eq!(ino.attr().unwrap().blocks, 3 * 8);
    }

    #[test]
    fn holes_read_as_zero_without_allocating() {
        let (_fs, ino, ops, mf) = file();
        ops.write_at(b"end", 5 * PAGE_SIZE).unwrap();
        assert_eq!(mf.allocated_bytes(), PAGE_SIZE, "only the written page");
        assert_eq!(read(ops.as_ref(), PAGE_SIZE, 8), [0; 8]);
        ino.setattr(&SetAttr {
            size: Some(100 * PAGE_SIZE),
            ..SetAttr::default()
        })
        .unwrap();
        assert_eq!(
            mf.allocated_bytes(),
            PAGE_SIZE,
            "extending allocates nothing"
        );
        assert_eq!(read(ops.as_ref(), 99 * PAGE_SIZE, 8), [0; 8]);
        assert_eq!(ino.attr().unwrap().size, 100 * PAGE_SIZE);
    }

    #[test]
    fn truncate_releases_pages_and_zeroes_the_partial_tail() {
        let (_fs, ino, ops, mf) = file();
        ops.write_at(&[7u8; 3 * PAGE_SIZE as usize], 0).unwrap();
        let trunc = |len| {
            ino.setattr(&SetAttr {
                size: Some(len),
                ..SetAttr::default()
            })
        };
        trunc(PAGE_SIZE + 10).unwrap();
        assert_eq!(mf.allocated_bytes(), 2 * PAGE_SIZE);
        // Extending again: the cut bytes read as zeros, not the old sevens.
        trunc(3 * PAGE_SIZE).unwrap();
        assert_eq!(read(ops.as_ref(), PAGE_SIZE, 10), [7; 10]);
        assert_eq!(read(ops.as_ref(), PAGE_SIZE + 10, 20), [0; 20]);
        assert_eq!(read(ops.as_ref(), 2 * PAGE_SIZE, 20), [0; 20]);
        trunc(0).unwrap();
        assert_eq!(mf.allocated_bytes(), 0);
        assert_eq!(trunc(MAX_FILE_SIZE + 1).unwrap_err(), Errno::EFBIG);
    }

    #[test]
    fn append_and_huge_offsets() {
        let (_fs, _ino, ops, _mf) = file();
        ops.write_at(b"ab", 0).unwrap();
        assert_eq!(ops.append(b"cd").unwrap(), (2, 4));
        assert_eq!(read(ops.as_ref(), 0, 10), b"abcd");
        assert_eq!(ops.write_at(b"x", MAX_FILE_SIZE).unwrap_err(), Errno::EFBIG);
        assert_eq!(ops.write_at(b"x", u64::MAX).unwrap_err(), Errno::EFBIG);
        assert_eq!(ops.write_at(b"", u64::MAX - 1).unwrap(), 0);
    }

    #[test]
    fn memfile_page_is_the_file_and_holds_a_reference() {
        let (fs, ino, ops, mf) = file();
        assert!(ops.has_memfile_pages());
        ops.write_at(b"hello", 0).unwrap();
        ino.setattr(&SetAttr {
            size: Some(2 * PAGE_SIZE),
            ..SetAttr::default()
        })
        .unwrap();
        let p0 = ops.memfile_page(0).unwrap().unwrap();
        assert_eq!(mf.ref_count(p0), 2, "the file's and the caller's");
        // A write through the page (a mapping) is a write to the file, and vice versa.
        mf.write(p0 + 5, b" world").unwrap();
        assert_eq!(read(ops.as_ref(), 0, 11), b"hello world");
        // A hole gets a page; past EOF is refused.
        let p1 = ops.memfile_page(1).unwrap().unwrap();
        assert_ne!(p0, p1);
        assert_eq!(ops.memfile_page(2).unwrap().unwrap_err(), Errno::EFAULT);
        ops.write_at(b"x", PAGE_SIZE).unwrap();
        let mut b = [0u8; 1];
        mf.read(p1, &mut b).unwrap();
        assert_eq!(&b, b"x");
        // Truncation drops the file's reference only: the caller's page survives.
        ino.setattr(&SetAttr {
            size: Some(0),
            ..SetAttr::default()
        })
        .unwrap();
        assert_eq!(mf.allocated_bytes(), 2 * PAGE_SIZE);
        mf.read(p1, &mut b).unwrap();
        assert_eq!(&b, b"x");
        mf.release(p0, PAGE_SIZE).unwrap();
        mf.release(p1, PAGE_SIZE).unwrap();
        assert_eq!(mf.allocated_bytes(), 0);
        drop(fs);
    }

    #[test]
    fn pages_are_released_when_the_inode_goes() {
        let (fs, ino, ops, mf) = file();
        ops.write_at(&[1u8; 3 * PAGE_SIZE as usize], 0).unwrap();
        let held = ops.memfile_page(1).unwrap().unwrap();
        fs.root_inode().unlink(b"f").unwrap();
        assert_eq!(mf.allocated_bytes(), 3 * PAGE_SIZE, "still open");
        drop(ops);
        drop(ino);
        assert_eq!(
            mf.allocated_bytes(),
            PAGE_SIZE,
            "only the caller's page is left"
        );
        mf.release(held, PAGE_SIZE).unwrap();
        assert_eq!(mf.allocated_bytes(), 0);
    }

    #[test]
    fn symlinks_and_dirs_have_no_memfile_pages() {
        let (fs, _ino, _ops, _mf) = file();
        let root = fs.root_inode();
        root.mknod(
            b"null",
            InodeKind::CharDev,
            0o666,
            f::makedev(1, 3),
            &Creds::root(),
        )
        .unwrap();
        let dev = root.lookup(b"null").unwrap().open(f::O_RDWR).unwrap();
        assert!(!dev.has_memfile_pages());
        assert!(dev.memfile_page(0).is_none());
    }

    /// The filesystem refuses entries in a removed directory itself (not only the VFS's
    /// IS_DEADDIR check), so a creation racing with rmdir cannot leave one behind.
    #[test]
    fn removed_directory_refuses_new_entries() {
        let (fs, ino, _ops, _mf) = file();
        let root = fs.root_inode();
        let c = Creds::root();
        let d = root.mkdir(b"d", 0o755, &c).unwrap();
        root.rmdir(b"d").unwrap();
        assert_eq!(d.attr().unwrap().nlink, 0);
        let enoent = Err(Errno::ENOENT);
        assert_eq!(d.create(b"x", 0o644, &c).map(drop), enoent);
        assert_eq!(d.mkdir(b"x", 0o755, &c).map(drop), enoent);
        assert_eq!(d.symlink(b"x", b"t", &c).map(drop), enoent);
        assert_eq!(
            d.mknod(b"x", InodeKind::Fifo, 0o644, 0, &c).map(drop),
            enoent
        );
        assert_eq!(d.link(b"x", &ino), enoent);
        assert_eq!(root.rename(b"f", &d, b"x"), enoent);
        assert_eq!(ino.attr().unwrap().nlink, 1);
        assert!(d.readdir().unwrap().is_empty());
        root.lookup(b"f").unwrap();
    }

    #[test]
    fn fallocate_allocates_and_punches_pages() {
        let (_fs, _ino, ops, mf) = file();
        ops.fallocate(f::FALLOC_FL_KEEP_SIZE, 10, 2 * PAGE_SIZE)
            .unwrap();
        assert_eq!(ops.size().unwrap(), 0, "KEEP_SIZE");
        assert_eq!(mf.allocated_bytes(), 3 * PAGE_SIZE, "pages 0..=2");
        ops.fallocate(0, 0, PAGE_SIZE + 1).unwrap();
        assert_eq!(ops.size().unwrap(), PAGE_SIZE + 1);
        assert_eq!(mf.allocated_bytes(), 3 * PAGE_SIZE, "already there");
        ops.write_at(&[9u8; 3 * PAGE_SIZE as usize], 0).unwrap();
        let punch = f::FALLOC_FL_PUNCH_HOLE | f::FALLOC_FL_KEEP_SIZE;
        // Page 1 whole (released), the last 10 bytes of page 0 zeroed.
        ops.fallocate(punch, PAGE_SIZE - 10, PAGE_SIZE + 10)
            .unwrap();
        assert_eq!(mf.allocated_bytes(), 2 * PAGE_SIZE);
        let data = read(ops.as_ref(), 0, 3 * PAGE_SIZE as usize);
        let hole = (PAGE_SIZE - 10) as usize..(2 * PAGE_SIZE) as usize;
        assert!(data[hole.clone()].iter().all(|b| *b == 0));
        assert!(data[..hole.start].iter().all(|b| *b == 9));
        assert!(data[hole.end..].iter().all(|b| *b == 9));
        assert_eq!(ops.seek_data_hole(0, true).unwrap().unwrap(), PAGE_SIZE);
        assert_eq!(
            ops.seek_data_hole(PAGE_SIZE, false).unwrap().unwrap(),
            2 * PAGE_SIZE
        );
        assert_eq!(
            ops.fallocate(f::FALLOC_FL_ZERO_RANGE, 0, 1),
            Err(Errno::EOPNOTSUPP)
        );
    }

    #[test]
    fn fallocate_past_the_memory_file_is_enospc_and_gives_pages_back() {
        let (_fs, _ino, ops, mf) = file();
        ops.write_at(b"x", 0).unwrap();
        let before = mf.allocated_bytes();
        // The test MemoryFile has 64 MiB.
        assert_eq!(ops.fallocate(0, 0, 128 << 20), Err(Errno::ENOSPC));
        assert_eq!(mf.allocated_bytes(), before);
        assert_eq!(ops.size().unwrap(), 1);
    }

    #[test]
    fn punching_a_mapped_page_zeroes_it_in_place() {
        let (_fs, _ino, ops, mf) = file();
        ops.write_at(&[5u8; PAGE_SIZE as usize], 0).unwrap();
        // A mapping's reference, as mm takes it.
        let page = ops.memfile_page(0).unwrap().unwrap();
        let punch = f::FALLOC_FL_PUNCH_HOLE | f::FALLOC_FL_KEEP_SIZE;
        ops.fallocate(punch, 0, PAGE_SIZE).unwrap();
        let mut b = [1u8; 4];
        mf.read(page, &mut b).unwrap();
        assert_eq!(b, [0; 4], "the mapping sees zeros");
        assert_eq!(
            ops.memfile_page(0).unwrap().unwrap(),
            page,
            "still the file's page"
        );
        mf.release(page, PAGE_SIZE).unwrap();
        mf.release(page, PAGE_SIZE).unwrap();
    }

    #[test]
    fn memfd_seals_refuse_writes_and_resizes() {
        let fs = MemfdFs::new(test_memfile());
        let opts = MemfdOpts {
            allow_sealing: true,
            noexec_seal: false,
        };
        let file = fs.create(b"t", opts, &Creds::root()).unwrap();
        assert_eq!(file.seals(), Ok(0));
        assert_eq!(file.write(b"abcd"), Ok(4));
        assert_eq!(
            file.path().unwrap().path_from(&fs.ns.root()),
            b"/memfd:t (deleted)"
        );
        file.add_seals(f::F_SEAL_SHRINK | f::F_SEAL_GROW).unwrap();
        assert_eq!(file.truncate(2), Err(Errno::EPERM));
        assert_eq!(file.truncate(8), Err(Errno::EPERM));
        assert_eq!(file.pwrite(b"x", 4), Err(Errno::EPERM));
        assert_eq!(file.pwrite(b"x", 1), Ok(1));
        let token = file.writable_map_token().unwrap().unwrap();
        assert_eq!(file.add_seals(f::F_SEAL_WRITE), Err(Errno::EBUSY));
        drop(token);
        file.add_seals(f::F_SEAL_WRITE | f::F_SEAL_SEAL).unwrap();
        assert_eq!(file.pwrite(b"x", 1), Err(Errno::EPERM));
        assert_eq!(file.writable_map_token().unwrap().err(), Some(Errno::EPERM));
        assert_eq!(file.add_seals(f::F_SEAL_EXEC), Err(Errno::EPERM));
        let unsealable = fs
            .create(b"u", MemfdOpts::default(), &Creds::root())
            .unwrap();
        assert_eq!(unsealable.seals(), Ok(f::F_SEAL_SEAL));
    }
}
