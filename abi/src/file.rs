//! File-related ABI: open(2) flags, *at(2) flags, file types and mode bits, lseek(2) whence,
//! getdents64(2) entry types, fcntl(2) commands, and the `stat`, `statx`, `statfs` and
//! `linux_dirent64` structures, all in their x86-64 layout.
//!
//! Sources: include/uapi/asm-generic/fcntl.h (O_*, F_*), include/uapi/linux/fcntl.h (AT_*,
//! F_DUPFD_CLOEXEC...), include/uapi/linux/stat.h (S_IF*, statx), arch/x86/include/uapi/asm/stat.h
//! (`struct stat` for x86-64), include/uapi/asm-generic/statfs.h (`struct statfs`, 64-bit),
//! include/linux/dirent.h (`struct linux_dirent64`), include/uapi/linux/magic.h (f_type values).
//! `tests/layout.rs` checks sizes, offsets and constants against the host's `libc`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// ---- open(2) flags (include/uapi/asm-generic/fcntl.h; x86-64 uses the generic values) ----

/// Access mode mask.
pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0o0;
pub const O_WRONLY: u32 = 0o1;
pub const O_RDWR: u32 = 0o2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DSYNC: u32 = 0o10000;
/// `FASYNC` in the kernel headers.
pub const O_ASYNC: u32 = 0o20000;
pub const O_DIRECT: u32 = 0o40000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_CLOEXEC: u32 = 0o2000000;
/// `__O_SYNC | O_DSYNC`.
pub const O_SYNC: u32 = 0o4010000;
pub const O_PATH: u32 = 0o10000000;
/// `__O_TMPFILE | O_DIRECTORY`.
pub const O_TMPFILE: u32 = 0o20200000;

// ---- *at(2) flags (include/uapi/linux/fcntl.h) ----

/// "Use the current working directory" for the dirfd argument of the *at(2) calls.
pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// faccessat(2): check with the effective ids (shares its value with AT_REMOVEDIR).
pub const AT_EACCESS: u32 = 0x200;
/// unlinkat(2): remove a directory.
pub const AT_REMOVEDIR: u32 = 0x200;
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
pub const AT_EMPTY_PATH: u32 = 0x1000;
pub const AT_STATX_SYNC_TYPE: u32 = 0x6000;
pub const AT_STATX_SYNC_AS_STAT: u32 = 0x0000;
pub const AT_STATX_FORCE_SYNC: u32 = 0x2000;
pub const AT_STATX_DONT_SYNC: u32 = 0x4000;

/// renameat2(2) flags.
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;
pub const RENAME_WHITEOUT: u32 = 4;

/// access(2) mode bits.
pub const F_OK: u32 = 0;
pub const X_OK: u32 = 1;
pub const W_OK: u32 = 2;
pub const R_OK: u32 = 4;

// ---- file types and mode bits (include/uapi/linux/stat.h) ----

pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_ISUID: u32 = 0o4000;
pub const S_ISGID: u32 = 0o2000;
pub const S_ISVTX: u32 = 0o1000;
/// The permission bits plus set-id and sticky bits (what chmod(2) may change).
pub const S_IALLUGO: u32 = 0o7777;

// ---- lseek(2) whence ----

pub const SEEK_SET: u32 = 0;
pub const SEEK_CUR: u32 = 1;
pub const SEEK_END: u32 = 2;
pub const SEEK_DATA: u32 = 3;
pub const SEEK_HOLE: u32 = 4;

// ---- getdents64(2) d_type (include/linux/fs_types.h: FT_* shifted into DT_*) ----

pub const DT_UNKNOWN: u8 = 0;
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_BLK: u8 = 6;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;
pub const DT_SOCK: u8 = 12;

// ---- fcntl(2) commands (include/uapi/asm-generic/fcntl.h, include/uapi/linux/fcntl.h) ----

pub const F_DUPFD: u32 = 0;
pub const F_GETFD: u32 = 1;
pub const F_SETFD: u32 = 2;
pub const F_GETFL: u32 = 3;
pub const F_SETFL: u32 = 4;
pub const F_GETLK: u32 = 5;
pub const F_SETLK: u32 = 6;
pub const F_SETLKW: u32 = 7;
pub const F_SETOWN: u32 = 8;
pub const F_GETOWN: u32 = 9;
pub const F_SETSIG: u32 = 10;
pub const F_GETSIG: u32 = 11;
pub const F_SETOWN_EX: u32 = 15;
pub const F_GETOWN_EX: u32 = 16;
pub const F_OFD_GETLK: u32 = 36;
pub const F_OFD_SETLK: u32 = 37;
pub const F_OFD_SETLKW: u32 = 38;
pub const F_SETLEASE: u32 = 1024;
pub const F_GETLEASE: u32 = 1025;
pub const F_DUPFD_CLOEXEC: u32 = 1030;
pub const F_SETPIPE_SZ: u32 = 1031;
pub const F_GETPIPE_SZ: u32 = 1032;
pub const F_ADD_SEALS: u32 = 1033;
pub const F_GET_SEALS: u32 = 1034;
/// File seals (F_ADD_SEALS/F_GET_SEALS; include/uapi/linux/fcntl.h).
pub const F_SEAL_SEAL: u32 = 0x1;
pub const F_SEAL_SHRINK: u32 = 0x2;
pub const F_SEAL_GROW: u32 = 0x4;
pub const F_SEAL_WRITE: u32 = 0x8;
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
pub const F_SEAL_EXEC: u32 = 0x20;
/// Every seal F_ADD_SEALS knows.
pub const F_SEAL_ALL: u32 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/// memfd_create(2) flags (include/uapi/linux/memfd.h).
pub const MFD_CLOEXEC: u32 = 0x1;
pub const MFD_ALLOW_SEALING: u32 = 0x2;
pub const MFD_HUGETLB: u32 = 0x4;
pub const MFD_NOEXEC_SEAL: u32 = 0x8;
pub const MFD_EXEC: u32 = 0x10;
/// Longest memfd name, without the "memfd:" prefix (mm/memfd.c MFD_NAME_MAX_LEN).
pub const MFD_NAME_MAX_LEN: usize = 249;

/// fallocate(2) modes (include/uapi/linux/falloc.h).
pub const FALLOC_FL_KEEP_SIZE: u32 = 0x1;
pub const FALLOC_FL_PUNCH_HOLE: u32 = 0x2;
pub const FALLOC_FL_NO_HIDE_STALE: u32 = 0x4;
pub const FALLOC_FL_COLLAPSE_RANGE: u32 = 0x8;
pub const FALLOC_FL_ZERO_RANGE: u32 = 0x10;
pub const FALLOC_FL_INSERT_RANGE: u32 = 0x20;
pub const FALLOC_FL_UNSHARE_RANGE: u32 = 0x40;

/// posix_fadvise(2) advice (include/uapi/linux/fadvise.h, the 64-bit values).
pub const POSIX_FADV_NORMAL: i32 = 0;
pub const POSIX_FADV_RANDOM: i32 = 1;
pub const POSIX_FADV_SEQUENTIAL: i32 = 2;
pub const POSIX_FADV_WILLNEED: i32 = 3;
pub const POSIX_FADV_DONTNEED: i32 = 4;
pub const POSIX_FADV_NOREUSE: i32 = 5;

/// preadv2(2)/pwritev2(2) flags (include/uapi/linux/fs.h).
pub const RWF_HIPRI: u32 = 0x1;
pub const RWF_DSYNC: u32 = 0x2;
pub const RWF_SYNC: u32 = 0x4;
pub const RWF_NOWAIT: u32 = 0x8;
pub const RWF_APPEND: u32 = 0x10;
pub const RWF_NOAPPEND: u32 = 0x20;

/// The one fd flag (F_GETFD/F_SETFD).
pub const FD_CLOEXEC: u32 = 1;

/// utimensat(2) special nanosecond values.
pub const UTIME_NOW: i64 = (1 << 30) - 1;
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Longest path the kernel accepts, including the NUL (include/uapi/linux/limits.h).
pub const PATH_MAX: usize = 4096;
/// Longest file name component (include/uapi/linux/limits.h).
pub const NAME_MAX: usize = 255;
/// Symlinks followed in one path walk before ELOOP (include/linux/namei.h MAXSYMLINKS).
pub const MAXSYMLINKS: u32 = 40;

// ---- statfs f_type magic numbers (include/uapi/linux/magic.h) ----

pub const TMPFS_MAGIC: i64 = 0x0102_1994;
pub const V9FS_MAGIC: i64 = 0x0102_1997;
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
pub const SYSFS_MAGIC: i64 = 0x6265_6572;
pub const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;
pub const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// `struct stat` for x86-64 (arch/x86/include/uapi/asm/stat.h), 144 bytes. Field names drop the
/// `st_` prefix.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub pad0: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: i64,
    pub atime_nsec: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub unused: [i64; 3],
}

/// `struct statx_timestamp` (include/uapi/linux/stat.h).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct StatxTimestamp {
    pub sec: i64,
    pub nsec: u32,
    pub reserved: i32,
}

/// `struct statx` (include/uapi/linux/stat.h), 256 bytes. Field names drop the `stx_` prefix.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Statx {
    /// Which of the fields below are filled in (STATX_*).
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub spare0: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: StatxTimestamp,
    pub btime: StatxTimestamp,
    pub ctime: StatxTimestamp,
    pub mtime: StatxTimestamp,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub mnt_id: u64,
    pub dio_mem_align: u32,
    pub dio_offset_align: u32,
    pub spare: [u64; 12],
}

/// statx(2) mask bits.
pub const STATX_TYPE: u32 = 0x1;
pub const STATX_MODE: u32 = 0x2;
pub const STATX_NLINK: u32 = 0x4;
pub const STATX_UID: u32 = 0x8;
pub const STATX_GID: u32 = 0x10;
pub const STATX_ATIME: u32 = 0x20;
pub const STATX_MTIME: u32 = 0x40;
pub const STATX_CTIME: u32 = 0x80;
pub const STATX_INO: u32 = 0x100;
pub const STATX_SIZE: u32 = 0x200;
pub const STATX_BLOCKS: u32 = 0x400;
/// Everything `struct stat` has.
pub const STATX_BASIC_STATS: u32 = 0x7ff;
pub const STATX_BTIME: u32 = 0x800;
pub const STATX_MNT_ID: u32 = 0x1000;

/// `struct statfs` for 64-bit (include/uapi/asm-generic/statfs.h), 120 bytes. Field names drop
/// the `f_` prefix.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct StatFs {
    /// Filesystem magic (TMPFS_MAGIC...).
    pub ty: i64,
    pub bsize: i64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: [i32; 2],
    pub namelen: i64,
    pub frsize: i64,
    /// ST_* mount flags (ST_RDONLY = 1, ST_NOSUID = 2...).
    pub flags: i64,
    pub spare: [i64; 4],
}

/// statfs f_flags: read-only mount.
pub const ST_RDONLY: i64 = 1;
/// statfs f_flags: nosuid mount.
pub const ST_NOSUID: i64 = 2;

/// The fixed header of `struct linux_dirent64` (include/linux/dirent.h): 19 bytes, followed by
/// the NUL-terminated name and padding up to `reclen`, a multiple of 8.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LinuxDirent64 {
    pub ino: u64,
    /// Opaque position of the *next* entry (what lseek(2) on the directory accepts).
    pub off: i64,
    pub reclen: u16,
    /// DT_*.
    pub ty: u8,
}

/// Size of [`LinuxDirent64`]: where the name starts in a record.
pub const DIRENT64_NAME_OFFSET: usize = 19;

/// Splits a `dev_t` into (major, minor) as the kernel's new_encode_dev/huge encoding does
/// (include/linux/kdev_t.h, glibc's gnu_dev_major/minor).
pub const fn dev_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

/// See [`dev_major`].
pub const fn dev_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

/// Builds a `dev_t` from (major, minor), the inverse of [`dev_major`]/[`dev_minor`]
/// (glibc's gnu_dev_makedev).
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

/// The major number of a `dev_t` (glibc's `gnu_dev_major`).
#[allow(clippy::cast_possible_truncation)] // the masks keep 32 bits
pub const fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

/// The minor number of a `dev_t` (glibc's `gnu_dev_minor`).
#[allow(clippy::cast_possible_truncation)] // the masks keep 32 bits
pub const fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

// ---- file locks (include/uapi/asm-generic/fcntl.h, include/uapi/linux/fs.h) ----

/// `l_type` of a record lock: read (shared) lock.
pub const F_RDLCK: i16 = 0;
/// `l_type`: write (exclusive) lock.
pub const F_WRLCK: i16 = 1;
/// `l_type`: unlock / "no conflicting lock" in an F_GETLK reply.
pub const F_UNLCK: i16 = 2;

/// flock(2) operations.
pub const LOCK_SH: u32 = 1;
pub const LOCK_EX: u32 = 2;
pub const LOCK_NB: u32 = 4;
pub const LOCK_UN: u32 = 8;
/// Obsolete mandatory-lock bit (ignored by Linux since 5.15, EINVAL-free).
pub const LOCK_MAND: u32 = 32;

/// `struct flock` for x86-64 (32 bytes: the two shorts, 4 bytes of padding, the offsets, the
/// pid and 4 bytes of tail padding).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Flock {
    pub l_type: i16,
    pub l_whence: i16,
    pub pad0: u32,
    pub l_start: i64,
    pub l_len: i64,
    pub l_pid: i32,
    pub pad1: u32,
}

// ---- splice(2), tee(2), vmsplice(2) (include/linux/splice.h) ----

pub const SPLICE_F_MOVE: u32 = 1;
pub const SPLICE_F_NONBLOCK: u32 = 2;
pub const SPLICE_F_MORE: u32 = 4;
pub const SPLICE_F_GIFT: u32 = 8;
/// Every flag splice(2) knows; others are EINVAL.
pub const SPLICE_F_ALL: u32 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

// ---- openat2(2) (include/uapi/linux/openat2.h) ----

/// `struct open_how`, version 0 (24 bytes). Later versions append fields.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct OpenHow {
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
}

/// Size of the first published `struct open_how`.
pub const OPEN_HOW_SIZE_VER0: usize = 24;

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const RESOLVE_CACHED: u64 = 0x20;
/// Every RESOLVE_* bit Linux knows.
pub const RESOLVE_ALL: u64 = 0x3f;
