//! [`OpenFile`]: an open file description (what an fd points to), with its offset and status
//! flags, over one of three implementations: O_PATH (no I/O), a directory (getdents64 over a
//! snapshot of the entries), or a [`FileOps`] (regular files, devices, host fds).
//!
//! Directory positions are indexes into a snapshot of the directory taken at the first
//! getdents64 from position 0 (open, rewinddir/lseek(0)): entries created after the snapshot
//! show up after a rewind, which is all POSIX readdir(3) promises.
//!
//! Lock order inside one OpenFile: `pos` before `dir`. A read or write on a seekable file
//! holds `pos` for the whole operation, so concurrent read(2)s on one description do not
//! return the same bytes (like Linux's f_pos_lock); non-seekable files take no lock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use abi::file::{self as f, DIRENT64_NAME_OFFSET, LinuxDirent64, Stat, StatFs};
use abi::{Errno, SysResult};
use zerocopy::IntoBytes;

use abi::inotify::{IN_ACCESS, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE, IN_MODIFY, IN_OPEN};

use crate::UserMemory;
use crate::inode::{FileOps, InodeKind};
use crate::lock::FileKey;
use crate::mount::{VfsPath, lock};

/// Status flags F_SETFL may change (fcntl(2), SETFL_MASK in fs/fcntl.c).
const SETFL_MASK: u32 = f::O_APPEND | f::O_NONBLOCK | f::O_ASYNC | f::O_DIRECT | f::O_NOATIME;

#[derive(Debug)]
enum Imp {
    PathOnly,
    Dir,
    Ops(Box<dyn FileOps>),
}

/// One entry of a directory snapshot.
#[derive(Debug)]
struct DirRecord {
    ino: u64,
    ty: u8,
    name: Vec<u8>,
}

/// An open file description. Closed (host fds closed, fids clunked) when the last `Arc` drops.
#[derive(Debug)]
pub struct OpenFile {
    path: Option<VfsPath>,
    imp: Imp,
    flags: AtomicU32,
    /// File offset, or index of the next entry for directories.
    pos: Mutex<u64>,
    dir: Mutex<Option<Vec<DirRecord>>>,
    /// The file's lock identity, set the first time this description locks (flock, OFD
    /// locks) or asks for it: its presence means `Drop` must release this description's
    /// locks (`lock.rs`).
    lock_key: OnceLock<FileKey>,
    /// F_SETOWN(_EX)/F_SETSIG: (owner type, pid or process group, signal); see [`FileOwner`].
    owner: Mutex<FileOwner>,
}

/// Who a file description's I/O signals are for (fcntl(2) F_SETOWN_EX, F_SETSIG). Only
/// recorded: the sentry does not send SIGIO (O_ASYNC is kept as a flag only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileOwner {
    /// F_OWNER_TID (0), F_OWNER_PID (1) or F_OWNER_PGRP (2).
    pub kind: i32,
    /// The thread, process or process group id (0: none).
    pub id: i32,
    /// The signal F_SETSIG chose (0: SIGIO).
    pub sig: i32,
}

/// The flags an open file description remembers (do_dentry_open drops the open-time-only
/// flags; 64-bit kernels force O_LARGEFILE, which F_GETFL shows).
fn stored_flags(flags: u32) -> u32 {
    (flags & !(f::O_CREAT | f::O_EXCL | f::O_NOCTTY | f::O_TRUNC | f::O_CLOEXEC)) | f::O_LARGEFILE
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Drop for OpenFile {
    /// The last reference to the description went: its flock/OFD locks go, and inotify hears
    /// IN_CLOSE_WRITE or IN_CLOSE_NOWRITE (fsnotify_close in __fput; O_PATH descriptions send
    /// nothing, FMODE_NONOTIFY).
    fn drop(&mut self) {
        if let Some(key) = self.lock_key.get() {
            crate::lock::release_ofd(*key, self.lock_owner_id());
        }
        if !crate::inotify::active() || self.is_path_only() {
            return;
        }
        if let Some(p) = &self.path {
            let mask = if self.is_writable() {
                IN_CLOSE_WRITE
            } else {
                IN_CLOSE_NOWRITE
            };
            crate::inotify::path_event(p, mask);
        }
    }
}

impl OpenFile {
    /// Reports `mask` (IN_ACCESS, IN_MODIFY, ...) on this description's file to inotify.
    #[inline]
    fn notify(&self, mask: u32) {
        if crate::inotify::active()
            && let Some(p) = &self.path
        {
            crate::inotify::path_event(p, mask);
        }
    }

    /// [`notify`](Self::notify) when a transfer moved bytes.
    #[inline]
    fn notify_if(&self, n: usize, mask: u32) {
        if n > 0 {
            self.notify(mask);
        }
    }

    /// IN_OPEN for a description just opened at a path (`Lookup::open*`).
    pub(crate) fn notify_open(&self) {
        if !self.is_path_only() {
            self.notify(IN_OPEN);
        }
    }

    fn new(path: Option<VfsPath>, imp: Imp, flags: u32) -> Arc<OpenFile> {
        Arc::new(OpenFile {
            path,
            imp,
            flags: AtomicU32::new(stored_flags(flags)),
            pos: Mutex::new(0),
            dir: Mutex::new(None),
            lock_key: OnceLock::new(),
            owner: Mutex::new(FileOwner::default()),
        })
    }

    pub(crate) fn new_path_only(path: VfsPath, flags: u32) -> Arc<OpenFile> {
        // O_PATH keeps only O_PATH, O_DIRECTORY, O_NOFOLLOW (open(2)); access mode is moot.
        Self::new(
            Some(path),
            Imp::PathOnly,
            flags & (f::O_PATH | f::O_DIRECTORY | f::O_NOFOLLOW),
        )
    }

    pub(crate) fn new_dir(path: VfsPath, flags: u32) -> Arc<OpenFile> {
        Self::new(Some(path), Imp::Dir, flags)
    }

    /// An open file over `ops`, with or without a VFS location (`None` for host fds and other
    /// anonymous files: pipes, sockets, eventfds can use this too).
    pub fn new_ops(path: Option<VfsPath>, ops: Box<dyn FileOps>, flags: u32) -> Arc<OpenFile> {
        Self::new(path, Imp::Ops(ops), flags)
    }

    fn ops(&self) -> SysResult<&dyn FileOps> {
        match &self.imp {
            Imp::Ops(o) => Ok(o.as_ref()),
            Imp::Dir => Err(Errno::EISDIR),
            Imp::PathOnly => Err(Errno::EBADF),
        }
    }

    fn readable_ops(&self) -> SysResult<&dyn FileOps> {
        if !self.is_readable() {
            return Err(Errno::EBADF);
        }
        self.ops()
    }

    fn writable_ops(&self) -> SysResult<&dyn FileOps> {
        if !self.is_writable() {
            return Err(Errno::EBADF);
        }
        self.ops()
    }

    /// Reads at the current offset and advances it (read(2)).
    fn read_raw(&self, buf: &mut [u8]) -> SysResult<usize> {
        if matches!(self.imp, Imp::Dir) && self.is_readable() {
            return Err(Errno::EISDIR);
        }
        let ops = self.readable_ops()?;
        if !ops.is_seekable() {
            return ops.read_at(buf, 0);
        }
        let mut pos = lock(&self.pos);
        let n = ops.read_at(buf, *pos)?;
        *pos = pos.saturating_add(to_u64(n));
        ops.sync_offset(*pos);
        Ok(n)
    }

    /// Reads at `off` without moving the offset (pread64(2)); ESPIPE if not seekable, EINVAL
    /// for offsets above i64::MAX (negative as the app passed them).
    fn pread_raw(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        if matches!(self.imp, Imp::Dir) && self.is_readable() {
            return Err(Errno::EISDIR);
        }
        let ops = self.readable_ops()?;
        if !ops.is_seekable() {
            return Err(Errno::ESPIPE);
        }
        if i64::try_from(off).is_err() {
            return Err(Errno::EINVAL);
        }
        ops.read_at(buf, off)
    }

    /// read(2) (`at` = None: from the description's offset, which advances) or pread(2) (`at`)
    /// straight from the file into application memory, for files with
    /// [`FileOps::has_direct_io`]: `io(ops, file_offset)` does the transfers (through
    /// `FileOps::read_into_memfile`) and returns the bytes done and the error that stopped
    /// it. `None` when the file has no direct path (the caller uses [`read`](Self::read) /
    /// [`pread`](Self::pread)); errors that read/pread would give come back the same.
    ///
    /// Lock order: `pos`, then the caller's address-space lock (taken inside `io`), then the
    /// file's own locks.
    fn read_direct_raw(
        &self,
        at: Option<u64>,
        io: impl FnOnce(&dyn FileOps, u64) -> (usize, Option<Errno>),
    ) -> Option<(usize, Option<Errno>)> {
        let ops = match self.readable_ops() {
            Ok(o) => o,
            Err(e) => return Some((0, Some(e))),
        };
        if !ops.has_direct_io() {
            return None;
        }
        Some(self.direct_at(ops, at, io))
    }

    /// Runs a direct transfer at `at`, or at the description's offset (which then advances by
    /// what moved).
    fn direct_at(
        &self,
        ops: &dyn FileOps,
        at: Option<u64>,
        io: impl FnOnce(&dyn FileOps, u64) -> (usize, Option<Errno>),
    ) -> (usize, Option<Errno>) {
        match at {
            Some(off) if i64::try_from(off).is_err() => (0, Some(Errno::EINVAL)),
            Some(off) => io(ops, off),
            None => {
                let mut pos = lock(&self.pos);
                let (n, err) = io(ops, *pos);
                *pos = pos.saturating_add(to_u64(n));
                (n, err)
            }
        }
    }

    /// write(2)/pwrite(2) counterpart of [`read_direct`](Self::read_direct) (through
    /// `FileOps::write_from_memfile`). `None` also for O_APPEND descriptions (the buffered
    /// path appends atomically).
    fn write_direct_raw(
        &self,
        at: Option<u64>,
        io: impl FnOnce(&dyn FileOps, u64) -> (usize, Option<Errno>),
    ) -> Option<(usize, Option<Errno>)> {
        let ops = match self.writable_ops() {
            Ok(o) => o,
            Err(e) => return Some((0, Some(e))),
        };
        if self.flags() & f::O_APPEND != 0 || !ops.has_direct_io() {
            return None;
        }
        Some(self.direct_at(ops, at, io))
    }

    /// Writes at the current offset (or at the end with O_APPEND) and advances it (write(2)).
    fn write_raw(&self, buf: &[u8]) -> SysResult<usize> {
        let ops = self.writable_ops()?;
        if !ops.is_seekable() {
            return ops.write_at(buf, 0);
        }
        let mut pos = lock(&self.pos);
        if self.flags() & f::O_APPEND != 0 {
            let (n, end) = ops.append(buf)?;
            *pos = end;
            ops.sync_offset(*pos);
            return Ok(n);
        }
        let n = ops.write_at(buf, *pos)?;
        *pos = pos.saturating_add(to_u64(n));
        ops.sync_offset(*pos);
        Ok(n)
    }

    /// Writes at `off` without moving the offset (pwrite64(2)). As on Linux, O_APPEND makes
    /// the data go to the end regardless of `off` (pwrite(2) BUGS).
    fn pwrite_raw(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        let ops = self.writable_ops()?;
        if !ops.is_seekable() {
            return Err(Errno::ESPIPE);
        }
        if i64::try_from(off).is_err() {
            return Err(Errno::EINVAL);
        }
        if self.flags() & f::O_APPEND != 0 {
            return ops.append(buf).map(|(n, _)| n);
        }
        ops.write_at(buf, off)
    }

    /// pwritev2(2) with RWF_APPEND (`append`: at the end, the offset `at` ignored) or
    /// RWF_NOAPPEND (at `at` even on an O_APPEND description); `at` = None writes at the
    /// description's offset, which then ends after the data.
    fn write_rwf_raw(&self, buf: &[u8], at: Option<u64>, append: bool) -> SysResult<usize> {
        let ops = self.writable_ops()?;
        if !ops.is_seekable() {
            return if at.is_some() {
                Err(Errno::ESPIPE)
            } else {
                ops.write_at(buf, 0)
            };
        }
        if at.is_some_and(|o| i64::try_from(o).is_err()) {
            return Err(Errno::EINVAL);
        }
        let mut pos = lock(&self.pos);
        let (n, end) = match (append, at) {
            (true, _) => ops.append(buf)?,
            (false, Some(o)) => {
                let n = ops.write_at(buf, o)?;
                (n, o.saturating_add(to_u64(n)))
            }
            (false, None) => {
                let n = ops.write_at(buf, *pos)?;
                (n, pos.saturating_add(to_u64(n)))
            }
        };
        if at.is_none() {
            *pos = end;
            ops.sync_offset(end);
        }
        Ok(n)
    }

    /// [`read_raw`](Self::read_raw), then IN_ACCESS to inotify if bytes moved.
    pub fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        let n = self.read_raw(buf)?;
        self.notify_if(n, IN_ACCESS);
        Ok(n)
    }

    /// [`pread_raw`](Self::pread_raw), then IN_ACCESS to inotify if bytes moved.
    pub fn pread(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let n = self.pread_raw(buf, off)?;
        self.notify_if(n, IN_ACCESS);
        Ok(n)
    }

    /// [`write_raw`](Self::write_raw), then IN_MODIFY to inotify if bytes moved.
    pub fn write(&self, buf: &[u8]) -> SysResult<usize> {
        let n = self.write_raw(buf)?;
        self.notify_if(n, IN_MODIFY);
        Ok(n)
    }

    /// [`pwrite_raw`](Self::pwrite_raw), then IN_MODIFY to inotify if bytes moved.
    pub fn pwrite(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        let n = self.pwrite_raw(buf, off)?;
        self.notify_if(n, IN_MODIFY);
        Ok(n)
    }

    /// [`write_rwf_raw`](Self::write_rwf_raw), then IN_MODIFY to inotify if bytes moved.
    pub fn write_rwf(&self, buf: &[u8], at: Option<u64>, append: bool) -> SysResult<usize> {
        let n = self.write_rwf_raw(buf, at, append)?;
        self.notify_if(n, IN_MODIFY);
        Ok(n)
    }

    /// [`read_direct_raw`](Self::read_direct_raw), then IN_ACCESS to inotify if bytes moved.
    pub fn read_direct(
        &self,
        at: Option<u64>,
        io: impl FnOnce(&dyn FileOps, u64) -> (usize, Option<Errno>),
    ) -> Option<(usize, Option<Errno>)> {
        let r = self.read_direct_raw(at, io);
        if let Some((n, _)) = r {
            self.notify_if(n, IN_ACCESS);
        }
        r
    }

    /// [`write_direct_raw`](Self::write_direct_raw), then IN_MODIFY to inotify if bytes moved.
    pub fn write_direct(
        &self,
        at: Option<u64>,
        io: impl FnOnce(&dyn FileOps, u64) -> (usize, Option<Errno>),
    ) -> Option<(usize, Option<Errno>)> {
        let r = self.write_direct_raw(at, io);
        if let Some((n, _)) = r {
            self.notify_if(n, IN_MODIFY);
        }
        r
    }

    /// lseek(2). Directories accept SEEK_SET/SEEK_CUR only (positions are entry indexes);
    /// SEEK_DATA/SEEK_HOLE ask the file for its holes ([`FileOps::seek_data_hole`]: tmpfs),
    /// else treat the whole file as data.
    pub fn seek(&self, off: i64, whence: u32) -> SysResult<u64> {
        let size = match &self.imp {
            Imp::PathOnly => return Err(Errno::EBADF),
            Imp::Dir => None,
            Imp::Ops(o) if !o.is_seekable() => return Err(Errno::ESPIPE),
            Imp::Ops(o) => Some(o.size()?),
        };
        if let (Imp::Ops(o), f::SEEK_DATA | f::SEEK_HOLE) = (&self.imp, whence) {
            // A negative offset is past no EOF: ENXIO, as for offsets at or past EOF.
            let start = u64::try_from(off).map_err(|_| Errno::ENXIO)?;
            if let Some(r) = o.seek_data_hole(start, whence == f::SEEK_HOLE) {
                let new = r?;
                let mut pos = lock(&self.pos);
                *pos = new;
                o.sync_offset(new);
                return Ok(new);
            }
        }
        let mut pos = lock(&self.pos);
        let cur = i64::try_from(*pos).unwrap_or(i64::MAX);
        let new = match (whence, size) {
            (f::SEEK_SET, _) => off,
            (f::SEEK_CUR, _) => cur.checked_add(off).ok_or(Errno::EOVERFLOW)?,
            (f::SEEK_END, Some(sz)) => i64::try_from(sz)
                .unwrap_or(i64::MAX)
                .checked_add(off)
                .ok_or(Errno::EOVERFLOW)?,
            (f::SEEK_DATA, Some(sz)) => {
                if u64::try_from(off).is_ok_and(|o| o >= sz) {
                    return Err(Errno::ENXIO);
                }
                off
            }
            (f::SEEK_HOLE, Some(sz)) => {
                if u64::try_from(off).is_ok_and(|o| o >= sz) {
                    return Err(Errno::ENXIO);
                }
                if off < 0 {
                    off
                } else {
                    i64::try_from(sz).unwrap_or(i64::MAX)
                }
            }
            _ => return Err(Errno::EINVAL),
        };
        let new = u64::try_from(new).map_err(|_| Errno::EINVAL)?;
        if size.is_none() && new == 0 {
            // rewinddir(3): take a fresh snapshot on the next getdents64.
            *lock(&self.dir) = None;
        }
        *pos = new;
        if let Imp::Ops(o) = &self.imp {
            o.sync_offset(new);
        }
        Ok(new)
    }

    /// getdents64(2): packed `linux_dirent64` records (d_reclen 8-aligned, NUL-terminated
    /// names) totalling at most `max_bytes`, "." and ".." first; advances the position;
    /// Ok(empty) at the end; EINVAL if the next record does not fit; ENOTDIR on a
    /// non-directory; EBADF for O_PATH.
    pub fn getdents64(&self, max_bytes: usize) -> SysResult<Vec<u8>> {
        let path = match (&self.imp, &self.path) {
            (Imp::Dir, Some(p)) => p,
            (Imp::PathOnly, _) => return Err(Errno::EBADF),
            _ => return Err(Errno::ENOTDIR),
        };
        let mut pos = lock(&self.pos);
        let mut dir = lock(&self.dir);
        if dir.is_none() || *pos == 0 {
            *dir = Some(snapshot(path)?);
        }
        let entries = dir.as_deref().unwrap_or_default();
        let mut out = Vec::new();
        let mut idx = *pos;
        while let Some(e) = entries.get(to_usize(idx)) {
            // Header, name, NUL, padded to 8 bytes (fs/readdir.c filldir64).
            let reclen = DIRENT64_NAME_OFFSET
                .saturating_add(e.name.len())
                .saturating_add(1)
                .next_multiple_of(8);
            if out.len().saturating_add(reclen) > max_bytes {
                if out.is_empty() {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            let next = idx.saturating_add(1);
            let hdr = LinuxDirent64 {
                ino: e.ino,
                off: i64::try_from(next).unwrap_or(i64::MAX),
                reclen: u16::try_from(reclen).map_err(|_| Errno::EINVAL)?,
                ty: e.ty,
            };
            let start = out.len();
            out.extend_from_slice(hdr.as_bytes());
            out.extend_from_slice(&e.name);
            out.resize(start.saturating_add(reclen), 0);
            idx = next;
        }
        *pos = idx;
        drop(dir);
        drop(pos);
        // iterate_dir: every successful getdents is an access of the directory.
        self.notify(IN_ACCESS);
        Ok(out)
    }

    /// The identity file locks use for this file (`(st_dev, st_ino)`, see `lock.rs`),
    /// remembered so that dropping the description releases its flock and OFD locks.
    pub fn lock_key(&self) -> SysResult<FileKey> {
        if let Some(k) = self.lock_key.get() {
            return Ok(*k);
        }
        let st = self.stat()?;
        Ok(*self.lock_key.get_or_init(|| (st.dev, st.ino)))
    }

    /// The address that names this description as a lock owner (flock, OFD locks).
    pub fn lock_owner_id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// fstat(2).
    pub fn stat(&self) -> SysResult<Stat> {
        match (&self.path, &self.imp) {
            (Some(p), _) => p.stat(),
            (None, Imp::Ops(o)) => o.stat(),
            (None, _) => Err(Errno::EBADF),
        }
    }

    /// fstatfs(2).
    pub fn statfs(&self) -> SysResult<StatFs> {
        match (&self.path, &self.imp) {
            (Some(p), _) => p.statfs(),
            (None, Imp::Ops(o)) => o.statfs(),
            (None, _) => Err(Errno::EBADF),
        }
    }

    /// ioctl(2). The generic requests of do_vfs_ioctl (FIONBIO, FIOASYNC, FIONREAD on regular
    /// files) are handled here; the rest goes to the file (ENOTTY if it has none). FIOCLEX and
    /// FIONCLEX are fd flags: the fd table's business.
    pub fn ioctl(&self, mem: &dyn UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        use abi::ioctl::{FIOASYNC, FIONBIO, FIONREAD};
        if matches!(self.imp, Imp::PathOnly) {
            return Err(Errno::EBADF);
        }
        match cmd {
            FIONBIO | FIOASYNC => {
                let mut v = [0u8; 4];
                mem.copy_in(arg, &mut v)?;
                let bit = if cmd == FIONBIO {
                    f::O_NONBLOCK
                } else {
                    f::O_ASYNC
                };
                if i32::from_ne_bytes(v) != 0 {
                    self.flags.fetch_or(bit, Ordering::Relaxed);
                } else {
                    self.flags.fetch_and(!bit, Ordering::Relaxed);
                }
                return Ok(0);
            }
            FIONREAD if self.path.as_ref().and_then(VfsPath::kind) == Some(InodeKind::Regular) => {
                let size = self.ops()?.size()?;
                let left = size.saturating_sub(*lock(&self.pos));
                let v = i32::try_from(left).unwrap_or(i32::MAX);
                mem.copy_out(arg, &v.to_ne_bytes())?;
                return Ok(0);
            }
            _ => {}
        }
        match &self.imp {
            Imp::Ops(o) => o.ioctl(mem, cmd, arg),
            _ => Err(Errno::ENOTTY),
        }
    }

    /// fsync(2)/fdatasync(2): EBADF for O_PATH descriptions, nothing to do for directories
    /// (their entries live on the server or in memory), else the file's own flush.
    pub fn fsync(&self, datasync: bool) -> SysResult<()> {
        match &self.imp {
            Imp::PathOnly => Err(Errno::EBADF),
            Imp::Dir => Ok(()),
            Imp::Ops(o) => o.fsync(datasync),
        }
    }

    /// ftruncate(2): EINVAL unless open for writing on a regular file.
    pub fn truncate(&self, len: u64) -> SysResult<()> {
        if i64::try_from(len).is_err() {
            return Err(Errno::EINVAL);
        }
        let Some(p) = &self.path else {
            return Err(Errno::EINVAL);
        };
        if !self.is_writable() || matches!(self.imp, Imp::PathOnly) {
            return Err(if matches!(self.imp, Imp::PathOnly) {
                Errno::EBADF
            } else {
                Errno::EINVAL
            });
        }
        if p.kind() != Some(InodeKind::Regular) {
            return Err(Errno::EINVAL);
        }
        p.inode().setattr(&crate::inode::SetAttr {
            size: Some(len),
            ..Default::default()
        })?;
        self.notify(IN_MODIFY);
        Ok(())
    }
    /// fallocate(2) after the syscall's mode and sign checks (`off` ≥ 0, `len` > 0): EBADF
    /// unless open for writing, ESPIPE for pipes and sockets, EISDIR for directories, ENODEV
    /// for other non-regular files, EROFS on a read-only mount, EFBIG if `off + len` passes
    /// the largest file offset, then the file's own answer (EOPNOTSUPP for files without one).
    pub fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        if !self.is_writable() {
            return Err(Errno::EBADF);
        }
        let ops = match &self.imp {
            Imp::PathOnly => return Err(Errno::EBADF),
            Imp::Dir => return Err(Errno::EISDIR),
            Imp::Ops(o) => o,
        };
        let kind = self.path.as_ref().and_then(VfsPath::kind);
        match kind {
            Some(InodeKind::Regular) => {}
            Some(InodeKind::Fifo | InodeKind::Socket) => return Err(Errno::ESPIPE),
            None if !ops.is_seekable() => return Err(Errno::ESPIPE),
            _ => return Err(Errno::ENODEV),
        }
        if self.path.as_ref().is_some_and(VfsPath::is_readonly) {
            return Err(Errno::EROFS);
        }
        if off
            .checked_add(len)
            .is_none_or(|end| i64::try_from(end).is_err())
        {
            return Err(Errno::EFBIG);
        }
        ops.fallocate(mode, off, len)?;
        self.notify(IN_MODIFY);
        Ok(())
    }

    /// [`FileOps::page_cached`].
    pub fn page_cached(&self, index: u64) -> bool {
        matches!(&self.imp, Imp::Ops(o) if o.page_cached(index))
    }

    /// [`FileOps::writable_map_token`], for a `MAP_SHARED` mapping that may become writable.
    pub fn writable_map_token(&self) -> Option<SysResult<crate::inode::MapToken>> {
        match &self.imp {
            Imp::Ops(o) => o.writable_map_token(),
            _ => None,
        }
    }

    /// F_GET_SEALS ([`FileOps::seals`]): EINVAL for files that cannot be sealed.
    /// The F_SETOWN(_EX)/F_SETSIG record.
    pub fn owner(&self) -> FileOwner {
        *self
            .owner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the F_SETOWN(_EX)/F_SETSIG record.
    pub fn update_owner(&self, f: impl FnOnce(&mut FileOwner)) {
        f(&mut self
            .owner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    pub fn seals(&self) -> SysResult<u32> {
        match &self.imp {
            Imp::Ops(o) => o.seals(),
            _ => Err(Errno::EINVAL),
        }
    }

    /// F_ADD_SEALS, in memfd_add_seals' order: EPERM if the description is not open for
    /// writing (any file), EINVAL for unknown bits or files that cannot be sealed, then the
    /// file's answer (EPERM once F_SEAL_SEAL is set).
    pub fn add_seals(&self, seals: u32) -> SysResult<()> {
        if !self.is_writable() {
            return Err(Errno::EPERM);
        }
        if seals & !f::F_SEAL_ALL != 0 {
            return Err(Errno::EINVAL);
        }
        let Imp::Ops(o) = &self.imp else {
            return Err(Errno::EINVAL);
        };
        o.add_seals(seals)
    }

    /// Which of `mask`'s events are true now (poll/select/epoll). O_PATH descriptions report
    /// POLLNVAL, as Linux does for a descriptor poll cannot use; directories are always ready.
    pub fn readiness(&self, mask: crate::waiter::EventMask) -> crate::waiter::EventMask {
        use crate::waiter::EventMask;
        match &self.imp {
            Imp::PathOnly => EventMask::NVAL,
            Imp::Dir => EventMask::DEFAULT_READY & mask,
            Imp::Ops(o) => o.readiness(mask),
        }
    }

    /// The queue notified when this description's readiness changes (`None`: never blocks).
    pub fn wait_queue(&self) -> Option<&crate::waiter::WaitQueue> {
        match &self.imp {
            Imp::Ops(o) => o.wait_queue(),
            _ => None,
        }
    }

    /// The MemoryFile page holding file page `index`, with a reference for the caller (see
    /// [`FileOps::memfile_page`]); `None` for files whose data is not in the MemoryFile,
    /// directories and O_PATH descriptions.
    pub fn memfile_page(&self, index: u64) -> Option<SysResult<u64>> {
        match &self.imp {
            Imp::Ops(o) => o.memfile_page(index),
            _ => None,
        }
    }

    /// [`FileOps::sync_mappings`] (msync of a shared mapping of this file).
    pub fn sync_mappings(&self) -> SysResult<()> {
        match &self.imp {
            Imp::Ops(o) => o.sync_mappings(),
            _ => Ok(()),
        }
    }

    /// A run of such pages ([`FileOps::memfile_pages`]): offset and page count.
    pub fn memfile_pages(&self, index: u64, max: u64) -> Option<SysResult<(u64, u64)>> {
        match &self.imp {
            Imp::Ops(o) => o.memfile_pages(index, max),
            _ => None,
        }
    }

    /// Whether [`memfile_page`](Self::memfile_page) answers for this description.
    pub fn has_memfile_pages(&self) -> bool {
        matches!(&self.imp, Imp::Ops(o) if o.has_memfile_pages())
    }

    /// The implementation object, for kind-specific calls (see `FileOps::as_any`).
    pub fn ops_any(&self) -> Option<&dyn std::any::Any> {
        match &self.imp {
            Imp::Ops(o) => o.as_any(),
            _ => None,
        }
    }

    /// Whether O_NONBLOCK is set.
    pub fn is_nonblocking(&self) -> bool {
        self.flags() & f::O_NONBLOCK != 0
    }

    /// Whether reads and writes have a file position (false for pipes, sockets, terminals).
    pub fn is_stream(&self) -> bool {
        matches!(&self.imp, Imp::Ops(o) if !o.is_seekable())
    }

    /// Access mode + status flags (F_GETFL).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// F_SETFL: only O_APPEND|O_NONBLOCK|O_ASYNC|O_DIRECT|O_NOATIME change.
    pub fn set_flags(&self, flags: u32) {
        let _ = self
            .flags
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some((old & !SETFL_MASK) | (flags & SETFL_MASK))
            });
    }

    /// The location this file was opened at; `None` for host-fd and other anonymous files.
    pub fn path(&self) -> Option<&VfsPath> {
        self.path.as_ref()
    }

    /// Opened with read access (O_RDONLY or O_RDWR, not O_PATH).
    pub fn is_readable(&self) -> bool {
        !self.is_path_only() && matches!(self.flags() & f::O_ACCMODE, f::O_RDONLY | f::O_RDWR)
    }

    /// Opened with write access (O_WRONLY or O_RDWR, not O_PATH).
    pub fn is_writable(&self) -> bool {
        !self.is_path_only() && matches!(self.flags() & f::O_ACCMODE, f::O_WRONLY | f::O_RDWR)
    }

    /// Opened with O_PATH: read/write/ioctl fail with EBADF.
    pub fn is_path_only(&self) -> bool {
        matches!(self.imp, Imp::PathOnly)
    }

    /// Sets the file offset (used to start a host-fd file where the host's offset was).
    pub(crate) fn set_pos(&self, pos: u64) {
        *lock(&self.pos) = pos;
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.imp, Imp::Dir)
    }
}

/// "." and ".." plus the filesystem's entries.
fn snapshot(path: &VfsPath) -> SysResult<Vec<DirRecord>> {
    let own = path.attr()?.ino;
    let parent = path.parent_within(None);
    let parent_ino = parent.attr().map_or(own, |a| a.ino);
    let mut out = vec![
        DirRecord {
            ino: own,
            ty: f::DT_DIR,
            name: b".".to_vec(),
        },
        DirRecord {
            ino: parent_ino,
            ty: f::DT_DIR,
            name: b"..".to_vec(),
        },
    ];
    out.extend(path.inode().readdir()?.into_iter().map(|e| DirRecord {
        ino: e.ino,
        ty: e.kind.dirent_type(),
        name: e.name,
    }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Creds, Lookup, MountNamespace, devfs, tmpfs};

    /// Parses getdents64 output into (ino, off, type, name).
    fn parse(buf: &[u8]) -> Vec<(u64, i64, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            let (hdr, _) = LinuxDirent64::read_from_prefix(rest).unwrap();
            let reclen = usize::from(hdr.reclen);
            assert_eq!(reclen % 8, 0, "d_reclen must be 8-aligned");
            let name_area = &rest[DIRENT64_NAME_OFFSET..reclen];
            let nul = name_area.iter().position(|b| *b == 0).unwrap();
            out.push((hdr.ino, hdr.off, hdr.ty, name_area[..nul].to_vec()));
            rest = &rest[reclen..];
        }
        out
    }
    use zerocopy::FromBytes;

    #[test]
    fn getdents64_records_and_resumption() {
        let (_ns, root) = crate::lookup::test_util::ns();
        let c = Creds::root();
        let l = crate::lookup::test_util::lk(&root, &c);
        l.mkdir(b"/d", 0o755).unwrap();
        l.mkdir(b"/d/sub", 0o755).unwrap();
        l.open(b"/d/a_file", f::O_CREAT | f::O_RDWR, 0o644).unwrap();
        l.symlink(b"x", b"/d/lnk").unwrap();
        let d = l.open(b"/d", f::O_RDONLY | f::O_DIRECTORY, 0).unwrap();
        let all = parse(&d.getdents64(4096).unwrap());
        let names: Vec<&[u8]> = all.iter().map(|e| e.3.as_slice()).collect();
        assert_eq!(names, [&b"."[..], b"..", b"a_file", b"lnk", b"sub"]);
        let types: Vec<u8> = all.iter().map(|e| e.2).collect();
        assert_eq!(
            types,
            [f::DT_DIR, f::DT_DIR, f::DT_REG, f::DT_LNK, f::DT_DIR]
        );
        assert_eq!(
            all[0].0,
            l.resolve(b"/d", true).unwrap().stat().unwrap().ino
        );
        assert_eq!(all[1].0, root.stat().unwrap().ino);
        assert_eq!(
            all[2].0,
            l.resolve(b"/d/a_file", true).unwrap().stat().unwrap().ino
        );
        assert!(d.getdents64(4096).unwrap().is_empty());
        // Small buffer: one record (24 or 32 bytes) at a time, resuming where it stopped.
        d.seek(0, f::SEEK_SET).unwrap();
        assert_eq!(d.getdents64(10).unwrap_err(), Errno::EINVAL);
        let mut names = Vec::new();
        loop {
            let b = d.getdents64(32).unwrap();
            if b.is_empty() {
                break;
            }
            let recs = parse(&b);
            assert_eq!(recs.len(), 1);
            names.push(recs[0].3.clone());
        }
        assert_eq!(names.len(), 5);
        // d_off of a record is a position lseek accepts to resume after it.
        d.seek(all[2].1, f::SEEK_SET).unwrap();
        let rest = parse(&d.getdents64(4096).unwrap());
        assert_eq!(rest[0].3, b"lnk");
        assert_eq!(d.seek(0, f::SEEK_END).unwrap_err(), Errno::EINVAL);
        // Not a directory.
        let fl = l.open(b"/d/a_file", f::O_RDONLY, 0).unwrap();
        assert_eq!(fl.getdents64(4096).unwrap_err(), Errno::ENOTDIR);
    }

    #[test]
    fn devfs_null_zero_full_random() {
        let ns = MountNamespace::new(devfs::new_filesystem(tmpfs::test_memfile()));
        let root = ns.root();
        let c = Creds {
            uid: 1000,
            gid: 1000,
            groups: vec![],
            caps: 0,
        };
        let l = Lookup {
            root: &root,
            start: &root,
            creds: &c,
        };
        let null = l.open(b"/null", f::O_RDWR, 0).unwrap();
        assert_eq!(null.read(&mut [1u8; 16]).unwrap(), 0);
        assert_eq!(null.write(b"discard").unwrap(), 7);
        let st = null.stat().unwrap();
        assert_eq!(st.mode, f::S_IFCHR | 0o666);
        assert_eq!((f::dev_major(st.rdev), f::dev_minor(st.rdev)), (1, 3));
        let zero = l.open(b"/zero", f::O_RDWR, 0).unwrap();
        let mut b = [7u8; 32];
        assert_eq!(zero.read(&mut b).unwrap(), 32);
        assert_eq!(b, [0u8; 32]);
        assert_eq!(zero.write(b"x").unwrap(), 1);
        let full = l.open(b"/full", f::O_RDWR, 0).unwrap();
        assert_eq!(full.write(b"x").unwrap_err(), Errno::ENOSPC);
        assert_eq!(full.read(&mut b).unwrap(), 32);
        let ur = l.open(b"/urandom", f::O_RDONLY, 0).unwrap();
        let mut r1 = [0u8; 32];
        assert_eq!(ur.read(&mut r1).unwrap(), 32);
        assert_ne!(r1, [0u8; 32]);
        assert_eq!(l.readlink(b"/stdout").unwrap(), b"/proc/self/fd/1");
        assert_eq!(
            l.resolve(b"/shm", true).unwrap().stat().unwrap().mode,
            f::S_IFDIR | 0o1777
        );
        assert_eq!(l.open(b"/tty", f::O_RDWR, 0).unwrap_err(), Errno::ENXIO);
        assert_eq!(root.statfs().unwrap().ty, f::TMPFS_MAGIC);
    }
}
