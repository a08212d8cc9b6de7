//! The traits filesystems implement: [`Filesystem`] (one per mounted instance), [`Inode`]
//! (path-level operations on one file), and [`FileOps`] (I/O on an opened non-directory file).
//!
//! The VFS core (`lookup.rs`, `file.rs`) does everything that is the same for every filesystem —
//! path walking, symlink following, mount crossing, permission checks, `O_*` flag handling,
//! offsets, getdents64 packing — and calls these traits only for what differs. Default method
//! bodies return the errno Linux gives when a filesystem lacks an operation (never a panic).
//!
//! Neighbours: tmpfs/devfs (`tmpfs.rs`), 9P (`p9fs.rs`), host fds (`hostfd.rs`, `FileOps` only),
//! character devices (`device.rs`, `FileOps` only).

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use abi::file::{self as f, Stat, StatFs};
use abi::time::Timespec;
use abi::{Errno, SysResult};

use crate::xattr::XattrMode;
use crate::{Creds, UserMemory};

/// The closed set of file types (the `S_IFMT` part of a mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InodeKind {
    Regular,
    Dir,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
}

impl InodeKind {
    /// The `S_IF*` bits of this type.
    pub fn mode_bits(self) -> u32 {
        match self {
            InodeKind::Regular => f::S_IFREG,
            InodeKind::Dir => f::S_IFDIR,
            InodeKind::Symlink => f::S_IFLNK,
            InodeKind::CharDev => f::S_IFCHR,
            InodeKind::BlockDev => f::S_IFBLK,
            InodeKind::Fifo => f::S_IFIFO,
            InodeKind::Socket => f::S_IFSOCK,
        }
    }

    /// The type named by the `S_IFMT` bits of `mode`, if any.
    pub fn from_mode(mode: u32) -> Option<InodeKind> {
        Some(match mode & f::S_IFMT {
            f::S_IFREG => InodeKind::Regular,
            f::S_IFDIR => InodeKind::Dir,
            f::S_IFLNK => InodeKind::Symlink,
            f::S_IFCHR => InodeKind::CharDev,
            f::S_IFBLK => InodeKind::BlockDev,
            f::S_IFIFO => InodeKind::Fifo,
            f::S_IFSOCK => InodeKind::Socket,
            _ => return None,
        })
    }

    /// The getdents64 `d_type` of this type.
    pub fn dirent_type(self) -> u8 {
        match self {
            InodeKind::Regular => f::DT_REG,
            InodeKind::Dir => f::DT_DIR,
            InodeKind::Symlink => f::DT_LNK,
            InodeKind::CharDev => f::DT_CHR,
            InodeKind::BlockDev => f::DT_BLK,
            InodeKind::Fifo => f::DT_FIFO,
            InodeKind::Socket => f::DT_SOCK,
        }
    }
}

/// Attributes of an inode, filesystem-independent (the device number is added by the VFS from
/// the filesystem).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InodeAttr {
    pub kind: InodeKind,
    /// Permission, set-id and sticky bits only (`S_IALLUGO`); the type is `kind`.
    pub perm: u32,
    pub ino: u64,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    pub blksize: u32,
    /// Device number for device nodes (`makedev(major, minor)`), 0 otherwise.
    pub rdev: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl InodeAttr {
    /// IS_DEADDIR (include/linux/fs.h): a directory that rmdir(2) removed or rename(2)
    /// replaced. It keeps working through "." and ".." (stat, fchdir, an empty getdents64),
    /// but no name can be looked up or created in it: ENOENT (fs/namei.c `__lookup_hash`,
    /// `lookup_open`). Filesystems report such a directory with a link count of 0, as Linux's
    /// do (`shmem_rmdir`, `ext4_rmdir`: `clear_nlink`); a live directory always has at least 1.
    pub fn is_dead_dir(&self) -> bool {
        self.kind == InodeKind::Dir && self.nlink == 0
    }

    /// The full `st_mode`.
    pub fn mode(&self) -> u32 {
        self.kind.mode_bits() | (self.perm & f::S_IALLUGO)
    }

    /// `struct stat` for these attributes on device `dev`.
    pub fn to_stat(&self, dev: u64) -> Stat {
        Stat {
            dev,
            ino: self.ino,
            nlink: self.nlink,
            mode: self.mode(),
            uid: self.uid,
            gid: self.gid,
            rdev: self.rdev,
            size: i64::try_from(self.size).unwrap_or(i64::MAX),
            blksize: i64::from(self.blksize),
            blocks: i64::try_from(self.blocks).unwrap_or(i64::MAX),
            atime: self.atime.sec,
            atime_nsec: self.atime.nsec,
            mtime: self.mtime.sec,
            mtime_nsec: self.mtime.nsec,
            ctime: self.ctime.sec,
            ctime_nsec: self.ctime.nsec,
            ..Stat::default()
        }
    }
}

/// One directory entry as a filesystem reports it ("." and ".." excluded: the VFS adds them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: InodeKind,
}

/// Attribute changes for [`Inode::setattr`] (chmod, chown, utimensat, truncate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits (`S_IALLUGO` part).
    pub perm: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

/// One mounted filesystem instance.
pub trait Filesystem: Send + Sync + Debug {
    /// The root directory.
    fn root(&self) -> Arc<dyn Inode>;
    /// statfs(2) numbers (the VFS fills nothing in).
    fn statfs(&self) -> SysResult<StatFs>;
    /// The `st_dev` of every file of this instance.
    fn dev(&self) -> u64;
    /// True if every mutation must fail with EROFS.
    fn is_readonly(&self) -> bool {
        false
    }
}

/// Path-level operations on one file. Names passed in are single components, never empty,
/// never "." or "..", at most `NAME_MAX` bytes, without '/' (the VFS guarantees it). Permission
/// checks are done by the VFS before calling.
pub trait Inode: Send + Sync + Debug {
    /// Current attributes. A removed directory reports `nlink` 0, which is how the VFS knows
    /// it is dead ([`InodeAttr::is_dead_dir`]); the filesystem itself must refuse to create
    /// entries in it (ENOENT), under the same lock its rmdir holds, so that a creation racing
    /// with the removal either makes the rmdir fail (ENOTEMPTY) or fails itself.
    fn attr(&self) -> SysResult<InodeAttr>;
    /// For downcasting to the filesystem's own inode type (rename and link between two inodes
    /// of the same filesystem).
    fn as_any(&self) -> &dyn Any;

    /// Whether the VFS may forget this inode's dentry while nothing uses it (`mount.rs`,
    /// "Dentry cache"): true for filesystems whose inodes can be looked up again from a
    /// server (p9fs), false where the dentry tree is the only record (tmpfs, devfs, procfs).
    fn is_evictable(&self) -> bool {
        false
    }
    /// The child named `name` (ENOENT if absent). Only called on directories.
    fn lookup(&self, _name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }
    /// All entries of a directory, in a stable order (the VFS snapshots them on open and on
    /// rewind, which is how getdents64 positions stay meaningful).
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOTDIR)
    }
    /// The target of a symlink.
    fn readlink(&self) -> SysResult<Vec<u8>> {
        Err(Errno::EINVAL)
    }
    /// For the "magic links" of /proc (`exe`, `cwd`, `root`, `fd/N`): the location that
    /// following this symlink jumps to, instead of walking the text `readlink` returns (which
    /// may not name a reachable path: `pipe:[12]`, a file outside the caller's root). `None`
    /// for ordinary symlinks; `Some(Err)` when the target cannot be reached (an anonymous
    /// file: ENXIO here, where Linux would reopen the inode; noted in the procfs module doc).
    fn follow_magic(&self) -> Option<SysResult<crate::VfsPath>> {
        None
    }
    /// Opens a non-directory for I/O with the raw open(2) `flags` (already checked by the VFS).
    fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
        Err(Errno::ENXIO)
    }
    /// Creates a regular file `name` with permission bits `perm` owned by `creds`.
    fn create(&self, _name: &[u8], _perm: u32, _creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::EPERM)
    }
    /// open(2) O_TMPFILE: an unnamed regular file with permission bits `perm` owned by
    /// `creds`, in this directory's filesystem, with a link count of 0. `linkable` (no
    /// O_EXCL) lets one later [`link`](Self::link) give it a name; otherwise linking it fails
    /// with ENOENT like any unlinked file. EOPNOTSUPP for filesystems that cannot (as Linux
    /// answers for a filesystem without `i_op->tmpfile`).
    fn tmpfile(&self, _perm: u32, _creds: &Creds, _linkable: bool) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Creates a directory.
    fn mkdir(&self, _name: &[u8], _perm: u32, _creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::EPERM)
    }
    /// Creates a device node, fifo or socket (mknod(2)); `rdev` for devices.
    fn mknod(
        &self,
        _name: &[u8],
        _kind: InodeKind,
        _perm: u32,
        _rdev: u64,
        _creds: &Creds,
    ) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::EPERM)
    }
    /// Creates a symlink `name` pointing at `target`.
    fn symlink(&self, _name: &[u8], _target: &[u8], _creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::EPERM)
    }
    /// Adds a hard link `name` to `target` (same filesystem, not a directory: checked by the VFS).
    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<()> {
        Err(Errno::EPERM)
    }
    /// Removes the non-directory `name`.
    fn unlink(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::EPERM)
    }
    /// Removes the empty directory `name` (ENOTEMPTY otherwise).
    fn rmdir(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::EPERM)
    }
    /// Moves `old_name` of this directory to `new_name` of `new_dir` (same filesystem),
    /// replacing a compatible target as rename(2) does (EISDIR, ENOTDIR, ENOTEMPTY).
    fn rename(
        &self,
        _old_name: &[u8],
        _new_dir: &Arc<dyn Inode>,
        _new_name: &[u8],
    ) -> SysResult<()> {
        Err(Errno::EPERM)
    }
    /// renameat2(2) with `flags` (the VFS has checked them and the permissions): EXCHANGE
    /// swaps two existing names (of any types), NOREPLACE fails with EEXIST if `new_name`
    /// exists (the VFS checks that too; a filesystem that can also check it atomically does),
    /// WHITEOUT leaves a whiteout (a 0/0 character device owned by `creds`) at `old_name`.
    /// The default handles no flags (plain [`rename`](Self::rename)) and is EINVAL for any,
    /// as Linux answers for a filesystem without them.
    fn rename2(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
        flags: RenameFlags,
        _creds: &Creds,
    ) -> SysResult<()> {
        if flags != RenameFlags::default() {
            return Err(Errno::EINVAL);
        }
        self.rename(old_name, new_dir, new_name)
    }
    /// Changes attributes (truncate with `size`).
    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        Err(Errno::EPERM)
    }
    /// The value of extended attribute `name` (ENODATA if absent). The VFS (`xattr.rs`) has
    /// checked the name's namespace and the caller's permission. EOPNOTSUPP unless
    /// implemented (a filesystem without xattr handlers).
    fn getxattr(&self, _name: &[u8]) -> SysResult<Vec<u8>> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Sets extended attribute `name` as `mode` allows (EEXIST / ENODATA).
    fn setxattr(&self, _name: &[u8], _value: &[u8], _mode: XattrMode) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Every extended attribute name (the VFS filters out what the caller may not see).
    /// Empty unless implemented: Linux's listxattr of a filesystem without a listxattr
    /// operation succeeds with nothing.
    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
    /// Removes extended attribute `name` (ENODATA if absent).
    fn removexattr(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
}

/// renameat2(2) flags, decoded ([`Inode::rename2`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenameFlags {
    /// RENAME_NOREPLACE.
    pub noreplace: bool,
    /// RENAME_EXCHANGE.
    pub exchange: bool,
    /// RENAME_WHITEOUT.
    pub whiteout: bool,
}

impl RenameFlags {
    /// RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT (include/uapi/linux/fs.h).
    pub const NOREPLACE: u32 = 1;
    pub const EXCHANGE: u32 = 2;
    pub const WHITEOUT: u32 = 4;

    /// Decodes renameat2 flags as do_renameat2 does: EINVAL for unknown bits and for
    /// EXCHANGE combined with NOREPLACE or WHITEOUT.
    pub fn from_raw(flags: u32) -> SysResult<RenameFlags> {
        if flags & !(Self::NOREPLACE | Self::EXCHANGE | Self::WHITEOUT) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & Self::EXCHANGE != 0 && flags & (Self::NOREPLACE | Self::WHITEOUT) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(RenameFlags {
            noreplace: flags & Self::NOREPLACE != 0,
            exchange: flags & Self::EXCHANGE != 0,
            whiteout: flags & Self::WHITEOUT != 0,
        })
    }

    /// The raw bits.
    pub fn raw(self) -> u32 {
        (if self.noreplace { Self::NOREPLACE } else { 0 })
            | (if self.exchange { Self::EXCHANGE } else { 0 })
            | (if self.whiteout { Self::WHITEOUT } else { 0 })
    }
}

/// What a writable shared mapping holds to be counted by its file
/// ([`FileOps::writable_map_token`]).
pub type MapToken = Arc<dyn Any + Send + Sync>;

/// I/O on an opened non-directory file (a file description's implementation).
pub trait FileOps: Send + Sync + Debug {
    /// Reads at `off` (ignored by non-seekable files).
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize>;
    /// Writes at `off` (ignored by non-seekable files).
    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize>;
    /// Appends atomically (O_APPEND); returns the bytes written and the new end of file.
    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        let end = self.size()?;
        let n = self.write_at(buf, end)?;
        Ok((n, end.saturating_add(u64::try_from(n).unwrap_or(u64::MAX))))
    }
    /// Current size, for SEEK_END and O_APPEND.
    fn size(&self) -> SysResult<u64> {
        Ok(0)
    }
    /// False for streams (pipes, terminals, sockets): pread/pwrite/lseek fail with ESPIPE.
    fn is_seekable(&self) -> bool {
        true
    }
    /// Called after read, write or lseek moved the description's offset to `pos`. Files whose
    /// offset lives elsewhere too mirror it there: a host fd handed in as stdio shares its
    /// offset with the process outside the sandbox (a shell's `> file`), which must continue
    /// where the sandbox stopped.
    fn sync_offset(&self, _pos: u64) {}
    /// ioctl(2); ENOTTY unless implemented.
    fn ioctl(&self, _mem: &dyn UserMemory, _cmd: u32, _arg: u64) -> SysResult<u64> {
        Err(Errno::ENOTTY)
    }
    /// fstat(2) for files that have no VFS path (host fds); path-backed files never call it.
    fn stat(&self) -> SysResult<Stat> {
        Err(Errno::EBADF)
    }
    /// fstatfs(2) for files that have no VFS path.
    fn statfs(&self) -> SysResult<StatFs> {
        Err(Errno::ENOSYS)
    }
    /// Which of `mask`'s events (plus the always-reported ones) are true now. Files that never
    /// block are always readable and writable (fs/select.c DEFAULT_POLLMASK).
    fn readiness(&self, mask: crate::waiter::EventMask) -> crate::waiter::EventMask {
        crate::waiter::EventMask::DEFAULT_READY & mask
    }
    /// The queue notified when readiness changes; `None` for files that never block.
    fn wait_queue(&self) -> Option<&crate::waiter::WaitQueue> {
        None
    }
    /// For files whose data lives in MemoryFile pages (tmpfs): the MemoryFile offset of file
    /// page `index` (byte offset `index * PAGE_SIZE`), allocating a hole, with **one MemoryFile
    /// reference added for the caller**, who drops it with `MemoryFile::release` when done
    /// (the file keeps its own; a truncation releasing the file's cannot free a page the caller
    /// still holds). `Some(Err(EFAULT))` for a page wholly past EOF (mm: SIGBUS), ENOSPC if
    /// the MemoryFile is full. `None`: this file's data is not in the MemoryFile (9P and host
    /// files, devices), and MAP_SHARED mappings of it cannot share pages.
    ///
    /// Called with the caller's memory-manager lock held: must not touch application memory.
    fn memfile_page(&self, _index: u64) -> Option<SysResult<u64>> {
        None
    }
    /// [`memfile_page`](Self::memfile_page) for a run: the MemoryFile offset of file page
    /// `index` and how many pages from there (at least 1, at most `max`) are contiguous in the
    /// MemoryFile too, **each with one reference added for the caller**. The default asks for
    /// one page.
    fn memfile_pages(&self, index: u64, _max: u64) -> Option<SysResult<(u64, u64)>> {
        self.memfile_page(index).map(|r| r.map(|off| (off, 1)))
    }
    /// Whether [`memfile_page`](Self::memfile_page) answers (`Some`) for this file: a capability
    /// query the mmap handler asks before allowing a writable `MAP_SHARED` mapping.
    fn has_memfile_pages(&self) -> bool {
        false
    }
    /// fsync(2) / fdatasync(2) (`datasync`): push written data to stable storage. EINVAL
    /// unless implemented, as Linux answers for files without an fsync operation (pipes,
    /// sockets, eventfds, most devices and procfs files).
    fn fsync(&self, _datasync: bool) -> SysResult<()> {
        Err(Errno::EINVAL)
    }
    /// Whether reads and writes may bypass `read_at`/`write_at` (and the sentry's bounce
    /// buffer) and move data straight between the file and application memory, i.e.
    /// MemoryFile ranges, with [`read_into_memfile`](Self::read_into_memfile) and
    /// [`write_from_memfile`](Self::write_from_memfile): tmpfs files (their data is MemoryFile
    /// pages) and p9 files with a donated host fd (pread/pwrite). Only seekable files answer.
    ///
    /// Both methods run under the caller's address-space lock (see
    /// `OpenFile::read_direct`): they must not block on other tasks or touch application
    /// memory any other way.
    fn has_direct_io(&self) -> bool {
        false
    }
    /// Copies file bytes at `off` into MemoryFile `[dst, dst + len)`; returns the count (short
    /// at EOF).
    fn read_into_memfile(
        &self,
        _mf: &crate::memfile::MemoryFile,
        _dst: u64,
        _len: usize,
        _off: u64,
    ) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    /// Writes MemoryFile `[src, src + len)` to the file at `off`; returns the count.
    fn write_from_memfile(
        &self,
        _mf: &crate::memfile::MemoryFile,
        _src: u64,
        _len: usize,
        _off: u64,
    ) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    /// fallocate(2) with an already validated `mode`, `off` and `len` (> 0, no overflow).
    /// EOPNOTSUPP unless implemented (Linux's answer for files without a fallocate operation).
    fn fallocate(&self, _mode: u32, _off: u64, _len: u64) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    /// lseek SEEK_DATA (`hole` false) or SEEK_HOLE from `off`: the file's own answer from its
    /// holes, ENXIO at or past EOF. `None`: the file does not track holes, and all of it is
    /// data (the VFS default, generic_file_llseek).
    fn seek_data_hole(&self, _off: u64, _hole: bool) -> Option<SysResult<u64>> {
        None
    }
    /// For `MAP_SHARED` mappings that may become writable (Linux: VM_SHARED|VM_MAYWRITE): a
    /// token the mapping holds for as long as it exists, so the file knows whether any such
    /// mapping does (F_SEAL_WRITE is then EBUSY). `Some(Err(EPERM))` if the file is
    /// write-sealed and may not be mapped writable at all; `None` if the file does not track
    /// its mappings (it cannot be sealed).
    fn writable_map_token(&self) -> Option<SysResult<MapToken>> {
        None
    }
    /// Whether file page `index` holds data in memory now (mincore(2) of a mapping that has
    /// not touched it: Linux asks the page cache). False for files without such pages.
    fn page_cached(&self, _index: u64) -> bool {
        false
    }
    /// msync(2) of a shared mapping of this file: bring what mappings changed in place to
    /// the file. Nothing to do for files whose pages *are* the file (tmpfs: the default).
    fn sync_mappings(&self) -> SysResult<()> {
        Ok(())
    }
    /// F_GET_SEALS: the file's seals; EINVAL for files that cannot be sealed (only memfds can).
    fn seals(&self) -> SysResult<u32> {
        Err(Errno::EINVAL)
    }
    /// F_ADD_SEALS of known seal bits: EINVAL for files that cannot be sealed, EPERM once
    /// F_SEAL_SEAL is set.
    fn add_seals(&self, _seals: u32) -> SysResult<()> {
        Err(Errno::EINVAL)
    }
    /// The concrete object, for the few callers that need a specific kind of file (fcntl
    /// F_SETPIPE_SZ on a pipe, pidfd calls). A query, not a mocking hook.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}

/// The current wall-clock time, for timestamps. (Host realtime; the sentry has no separate
/// guest clock yet.)
pub fn now() -> Timespec {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timespec {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsec: i64::from(d.subsec_nanos()),
        },
        Err(_) => Timespec::default(),
    }
}

/// What fstat(2) shows for an anonymous-inode file (eventfd, epoll, signalfd, timerfd,
/// pidfd): mode 0600 with no file-type bits, one link, a page as block size (fs/anon_inodes.c).
pub fn anon_inode_stat() -> Stat {
    Stat {
        mode: 0o600,
        nlink: 1,
        blksize: 4096,
        ..Stat::default()
    }
}

/// A fresh anonymous device number (major 0, like the kernel's get_anon_bdev) for a new
/// filesystem instance.
pub fn new_anon_dev() -> u64 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT_MINOR: AtomicU32 = AtomicU32::new(16);
    f::makedev(0, NEXT_MINOR.fetch_add(1, Ordering::Relaxed))
}
