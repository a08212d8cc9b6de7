//! 9P2000.L message types and wire format. No I/O: the gofer (server) and the sentry's 9P
//! client filesystem (`vfs::p9fs`) do the talking.
#![forbid(unsafe_code)]

/// A server-unique file identity (`qid`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Qid {
    /// QTDIR (0x80), QTSYMLINK (0x02), QTFILE (0).
    pub ty: u8,
    pub version: u32,
    pub path: u64,
}

/// Attributes returned by Rgetattr (fields as in the 9P2000.L spec).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub valid: u64,
    pub qid: Qid,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime_sec: u64,
    pub atime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
    pub ctime_sec: u64,
    pub ctime_nsec: u64,
    pub btime_sec: u64,
    pub btime_nsec: u64,
    pub generation: u64,
    pub data_version: u64,
}

/// One entry of Rreaddir.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirEntry {
    pub qid: Qid,
    /// Offset to pass to the next Treaddir to continue after this entry.
    pub offset: u64,
    /// DT_* type.
    pub ty: u8,
    pub name: Vec<u8>,
}

/// Rstatfs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub ty: u32,
    pub bsize: u32,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: u64,
    pub namelen: u32,
}
