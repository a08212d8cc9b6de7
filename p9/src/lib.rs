//! 9P2000.L message types and wire format. No I/O: the gofer (server) and the sentry's 9P
//! client (`vfs::p9client`) do the talking.
//!
//! Key types: [`Tmessage`] (requests) and [`Rmessage`] (replies), each with
//! `encode(&self, tag, &mut Vec<u8>)` and `decode(frame, msize) -> (tag, msg)`; the payload
//! structs [`Qid`], [`Attr`], [`DirEntry`], [`StatFs`], [`SetAttr`]; [`P9Error`] for malformed
//! frames. [`frame_size`] validates a frame's `size[4]` prefix so a reader knows how much to read.
//!
//! Decoding never panics and never trusts a length from the wire: every count is checked
//! against the bytes present and against the negotiated `msize`.
#![forbid(unsafe_code)]

mod msg;
mod wire;

pub use msg::{
    HEADER_SIZE, Header, MAX_WALK_ELEMS, NOFID, NOTAG, RREAD_OVERHEAD, RREADDIR_OVERHEAD, Rmessage,
    SetAttr, TWRITE_OVERHEAD, Tmessage, VERSION_9P2000_L, XATTR_REMOVE, dirent_wire_size,
    frame_size,
};

/// A frame that cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P9Error {
    /// The frame or a field ends before its declared length.
    #[error("9p frame truncated")]
    Truncated,
    /// The frame's `size` exceeds the negotiated msize.
    #[error("9p frame of {size} bytes exceeds msize {msize}")]
    TooLarge { size: usize, msize: u32 },
    /// The `size[4]` field disagrees with the number of bytes handed to `decode`.
    #[error("9p frame size field {size} but {len} bytes given")]
    SizeMismatch { size: u32, len: usize },
    /// Bytes left over after the last field of the message.
    #[error("9p frame has {0} trailing bytes")]
    TrailingBytes(usize),
    /// Unknown (or unsupported) message type; `tag` lets a server answer with Rlerror.
    #[error("unknown 9p message type {ty} (tag {tag})")]
    UnknownType { ty: u8, tag: u16 },
    /// Twalk/Rwalk with more than `MAX_WALK_ELEMS` elements.
    #[error("too many walk elements")]
    TooManyWalkNames,
    /// A string longer than the 16-bit length prefix allows.
    #[error("9p string of {0} bytes is too long")]
    StringTooLong(usize),
}

/// Qid types (`Qid::ty`, intro(5) QTDIR etc.).
pub mod qid_type {
    /// A directory.
    pub const DIR: u8 = 0x80;
    /// A symbolic link (9P2000.u/.L extension).
    pub const SYMLINK: u8 = 0x02;
    /// A plain file (and anything else).
    pub const FILE: u8 = 0;
}

/// Tgetattr `request_mask` / Rgetattr `valid` bits (Linux include/net/9p/9p.h, P9_STATS_*).
pub mod getattr {
    pub const MODE: u64 = 0x0000_0001;
    pub const NLINK: u64 = 0x0000_0002;
    pub const UID: u64 = 0x0000_0004;
    pub const GID: u64 = 0x0000_0008;
    pub const RDEV: u64 = 0x0000_0010;
    pub const ATIME: u64 = 0x0000_0020;
    pub const MTIME: u64 = 0x0000_0040;
    pub const CTIME: u64 = 0x0000_0080;
    pub const INO: u64 = 0x0000_0100;
    pub const SIZE: u64 = 0x0000_0200;
    pub const BLOCKS: u64 = 0x0000_0400;
    pub const BTIME: u64 = 0x0000_0800;
    pub const GEN: u64 = 0x0000_1000;
    pub const DATA_VERSION: u64 = 0x0000_2000;
    /// Everything `stat(2)` reports (P9_STATS_BASIC).
    pub const BASIC: u64 = 0x0000_07ff;
    /// P9_STATS_ALL.
    pub const ALL: u64 = 0x0000_3fff;
}

/// Tsetattr `valid` bits (Linux include/net/9p/9p.h, P9_ATTR_*).
pub mod setattr {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const CTIME: u32 = 1 << 6;
    /// With ATIME: set to `atime_*` rather than "now".
    pub const ATIME_SET: u32 = 1 << 7;
    /// With MTIME: set to `mtime_*` rather than "now".
    pub const MTIME_SET: u32 = 1 << 8;
}

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
