//! The 9P2000.L messages: one `Tmessage` enum (requests), one `Rmessage` enum (replies), their
//! encoders and their checked decoders.
//!
//! Frame layout (intro(5), and Linux `include/net/9p/9p.h` for the .L type numbers):
//! `size[4] type[1] tag[2] body`, where `size` counts the whole frame including itself.
//! Field order for each message follows the 9P2000.L protocol description
//! (github.com/chaos/diod `protocol.md`), which is what Linux `net/9p/client.c` speaks.
//!
//! rvisor extensions (type numbers outside every 9P dialect): Tlopenfd/Rlopenfd (200/201,
//! open and donate the host fd) and Trenameat2/Rrenameat2 (202/203, renameat2 flags); and the
//! Txattrcreate flag [`XATTR_REMOVE`].
//!
//! Decoding takes an explicit `msize`: a frame larger than the negotiated maximum, a frame whose
//! `size` disagrees with the bytes given, a count that runs past the end, more than
//! [`MAX_WALK_ELEMS`] walk names, or trailing bytes after the last field are all errors.

use crate::wire::{Reader, Writer};
use crate::{Attr, DirEntry, P9Error, Qid, StatFs};

/// `size[4] type[1] tag[2]`.
pub const HEADER_SIZE: usize = 7;
/// The tag of Tversion/Rversion (intro(5): "NOTAG").
pub const NOTAG: u16 = 0xffff;
/// "No fid" for Tattach's afid.
pub const NOFID: u32 = 0xffff_ffff;
/// Twalk carries at most 16 names (walk(5): MAXWELEM).
pub const MAX_WALK_ELEMS: usize = 16;
/// Bytes of an Rread frame that are not data: header + `count[4]`. A read of `msize - this`
/// bytes is the largest that fits. (Linux `P9_IOHDRSZ` is 24, the Twrite overhead.)
pub const RREAD_OVERHEAD: u32 = 11;
/// Twrite overhead: header + fid[4] offset[8] count[4] (Linux `P9_IOHDRSZ`).
pub const TWRITE_OVERHEAD: u32 = 23;
/// Bytes of an Rreaddir frame that are not entries: header + `count[4]`.
pub const RREADDIR_OVERHEAD: u32 = 11;
/// The protocol version string this crate speaks.
pub const VERSION_9P2000_L: &[u8] = b"9P2000.L";

// Message type numbers (include/net/9p/9p.h, enum p9_msg_t).
const RLERROR: u8 = 7;
const TSTATFS: u8 = 8;
const RSTATFS: u8 = 9;
const TLOPEN: u8 = 12;
const RLOPEN: u8 = 13;
const TLCREATE: u8 = 14;
const RLCREATE: u8 = 15;
const TSYMLINK: u8 = 16;
const RSYMLINK: u8 = 17;
const TMKNOD: u8 = 18;
const RMKNOD: u8 = 19;
const TRENAME: u8 = 20;
const RRENAME: u8 = 21;
const TREADLINK: u8 = 22;
const RREADLINK: u8 = 23;
const TGETATTR: u8 = 24;
const RGETATTR: u8 = 25;
const TSETATTR: u8 = 26;
const RSETATTR: u8 = 27;
const TXATTRWALK: u8 = 30;
const RXATTRWALK: u8 = 31;
const TXATTRCREATE: u8 = 32;
const RXATTRCREATE: u8 = 33;
const TREADDIR: u8 = 40;
const RREADDIR: u8 = 41;
const TFSYNC: u8 = 50;
const RFSYNC: u8 = 51;
const TLINK: u8 = 70;
const RLINK: u8 = 71;
const TMKDIR: u8 = 72;
const RMKDIR: u8 = 73;
const TRENAMEAT: u8 = 74;
const RRENAMEAT: u8 = 75;
const TUNLINKAT: u8 = 76;
const RUNLINKAT: u8 = 77;
const TVERSION: u8 = 100;
const RVERSION: u8 = 101;
const TAUTH: u8 = 102;
const RAUTH: u8 = 103;
const TATTACH: u8 = 104;
const RATTACH: u8 = 105;
const TFLUSH: u8 = 108;
const RFLUSH: u8 = 109;
const TWALK: u8 = 110;
const RWALK: u8 = 111;
const TREAD: u8 = 116;
const RREAD: u8 = 117;
const TWRITE: u8 = 118;
const RWRITE: u8 = 119;
const TCLUNK: u8 = 120;
const RCLUNK: u8 = 121;
const TREMOVE: u8 = 122;
const RREMOVE: u8 = 123;
// rvisor extension (outside every 9P dialect's numbers): open and donate the host fd.
const TLOPENFD: u8 = 200;
const RLOPENFD: u8 = 201;
// rvisor extension: renameat2(2) with flags (RENAME_NOREPLACE, RENAME_EXCHANGE).
const TRENAMEAT2: u8 = 202;
const RRENAMEAT2: u8 = 203;

/// Txattrcreate flag (rvisor extension, outside Linux's XATTR_CREATE/XATTR_REPLACE bits):
/// remove the attribute instead of setting it (`attr_size` must be 0). Plain 9P2000.L
/// removes on a zero-size create, which cannot tell removal from an empty value.
pub const XATTR_REMOVE: u32 = 0x8000_0000;

/// Tsetattr's payload (`valid` selects fields; `P9_SETATTR_*` bits in [`crate::setattr`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub valid: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_sec: u64,
    pub atime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
}

/// A 9P2000.L request. Names and strings are bytes (Linux names need not be UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tmessage {
    Version {
        msize: u32,
        version: Vec<u8>,
    },
    Auth {
        afid: u32,
        uname: Vec<u8>,
        aname: Vec<u8>,
        n_uname: u32,
    },
    Attach {
        fid: u32,
        afid: u32,
        uname: Vec<u8>,
        aname: Vec<u8>,
        n_uname: u32,
    },
    Flush {
        oldtag: u16,
    },
    Walk {
        fid: u32,
        newfid: u32,
        names: Vec<Vec<u8>>,
    },
    Read {
        fid: u32,
        offset: u64,
        count: u32,
    },
    Write {
        fid: u32,
        offset: u64,
        data: Vec<u8>,
    },
    Clunk {
        fid: u32,
    },
    Remove {
        fid: u32,
    },
    Statfs {
        fid: u32,
    },
    /// `flags` are Linux open(2) flags (9P2000.L "dotl" flags use the asm-generic values).
    Lopen {
        fid: u32,
        flags: u32,
    },
    /// rvisor extension: open the regular file `fid` names with Linux open(2) `flags` and
    /// pass the host fd back with the reply (SCM_RIGHTS on the connection, as gVisor's lisafs
    /// does). `fid` itself is left as it was (walked, not opened). A server without the
    /// extension answers Rlerror(EOPNOTSUPP).
    Lopenfd {
        fid: u32,
        flags: u32,
    },
    /// Creates `name` in directory `fid` and opens it; `fid` then refers to the new file.
    Lcreate {
        fid: u32,
        name: Vec<u8>,
        flags: u32,
        mode: u32,
        gid: u32,
    },
    Symlink {
        dfid: u32,
        name: Vec<u8>,
        target: Vec<u8>,
        gid: u32,
    },
    Mknod {
        dfid: u32,
        name: Vec<u8>,
        mode: u32,
        major: u32,
        minor: u32,
        gid: u32,
    },
    Rename {
        fid: u32,
        dfid: u32,
        name: Vec<u8>,
    },
    Readlink {
        fid: u32,
    },
    /// `request_mask`: `P9_GETATTR_*` bits ([`crate::getattr`]).
    Getattr {
        fid: u32,
        request_mask: u64,
    },
    Setattr {
        fid: u32,
        attr: SetAttr,
    },
    /// `newfid` reads the value of attribute `name` of `fid` (Tread from 0), or, for an empty
    /// `name`, the NUL-separated list of names. Rxattrwalk gives the size.
    Xattrwalk {
        fid: u32,
        newfid: u32,
        name: Vec<u8>,
    },
    /// `fid` becomes a write-only attribute fid: the next Twrites carry the `attr_size`-byte
    /// value of `name`, set with setxattr(2) `flags` (XATTR_CREATE/XATTR_REPLACE, or
    /// [`XATTR_REMOVE`]).
    Xattrcreate {
        fid: u32,
        name: Vec<u8>,
        attr_size: u64,
        flags: u32,
    },
    Readdir {
        fid: u32,
        offset: u64,
        count: u32,
    },
    Fsync {
        fid: u32,
        datasync: u32,
    },
    Link {
        dfid: u32,
        fid: u32,
        name: Vec<u8>,
    },
    Mkdir {
        dfid: u32,
        name: Vec<u8>,
        mode: u32,
        gid: u32,
    },
    Renameat {
        olddfid: u32,
        oldname: Vec<u8>,
        newdfid: u32,
        newname: Vec<u8>,
    },
    /// `flags`: 0 or AT_REMOVEDIR (0x200).
    Unlinkat {
        dfid: u32,
        name: Vec<u8>,
        flags: u32,
    },
    /// rvisor extension: Trenameat with renameat2(2) `flags` (RENAME_NOREPLACE 1,
    /// RENAME_EXCHANGE 2). A server without it answers Rlerror(EOPNOTSUPP).
    Renameat2 {
        olddfid: u32,
        oldname: Vec<u8>,
        newdfid: u32,
        newname: Vec<u8>,
        flags: u32,
    },
}

/// A 9P2000.L reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rmessage {
    /// Any request failed with this Linux errno.
    Lerror {
        ecode: u32,
    },
    Version {
        msize: u32,
        version: Vec<u8>,
    },
    Auth {
        aqid: Qid,
    },
    Attach {
        qid: Qid,
    },
    Flush,
    Walk {
        qids: Vec<Qid>,
    },
    Read {
        data: Vec<u8>,
    },
    Write {
        count: u32,
    },
    Clunk,
    Remove,
    Statfs(StatFs),
    Lopen {
        qid: Qid,
        iounit: u32,
    },
    /// The reply to Tlopenfd: the opened file's attributes (fstat of the donated fd, so an
    /// open also revalidates them); the fd travels beside the frame.
    Lopenfd(Attr),
    Lcreate {
        qid: Qid,
        iounit: u32,
    },
    Symlink {
        qid: Qid,
    },
    Mknod {
        qid: Qid,
    },
    Rename,
    Readlink {
        target: Vec<u8>,
    },
    Getattr(Attr),
    Setattr,
    Xattrwalk {
        size: u64,
    },
    Readdir {
        entries: Vec<DirEntry>,
    },
    Fsync,
    Link,
    Mkdir {
        qid: Qid,
    },
    Renameat,
    Unlinkat,
    Xattrcreate,
    Renameat2,
}

/// The fixed header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Whole-frame size, header included.
    pub size: u32,
    pub ty: u8,
    pub tag: u16,
}

impl Header {
    /// Parses the header of a complete frame `bytes`, checking `size` against `bytes.len()` and
    /// `msize`. A server uses this to answer an undecodable body with an Rlerror on its tag.
    pub fn parse(bytes: &[u8], msize: u32) -> Result<Header, P9Error> {
        let mut r = Reader::new(bytes);
        let size = r.u32()?;
        let ty = r.u8()?;
        let tag = r.u16()?;
        check_frame_size(size, msize)?;
        if usize::try_from(size).ok() != Some(bytes.len()) {
            return Err(P9Error::SizeMismatch {
                size,
                len: bytes.len(),
            });
        }
        Ok(Header { size, ty, tag })
    }
}

/// Validates the `size[4]` prefix of a frame being read from a stream and returns the whole
/// frame length, so the reader knows how many more bytes to read before decoding.
pub fn frame_size(prefix: [u8; 4], msize: u32) -> Result<usize, P9Error> {
    let size = u32::from_le_bytes(prefix);
    check_frame_size(size, msize)?;
    usize::try_from(size).map_err(|_| P9Error::TooLarge {
        size: usize::MAX,
        msize,
    })
}

fn check_frame_size(size: u32, msize: u32) -> Result<(), P9Error> {
    if (size as usize) < HEADER_SIZE {
        return Err(P9Error::Truncated);
    }
    if size > msize {
        return Err(P9Error::TooLarge {
            size: size as usize,
            msize,
        });
    }
    Ok(())
}

/// Starts a frame: reserves `size[4]`, writes type and tag; returns the frame's start offset.
fn begin(buf: &mut Vec<u8>, ty: u8, tag: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; 4]);
    buf.push(ty);
    buf.extend_from_slice(&tag.to_le_bytes());
    start
}

/// Fills in the size of the frame started at `start`.
fn finish(buf: &mut [u8], start: usize) -> Result<(), P9Error> {
    let len = buf.len().saturating_sub(start);
    let size = u32::try_from(len).map_err(|_| P9Error::TooLarge {
        size: len,
        msize: u32::MAX,
    })?;
    if let Some(slot) = buf.get_mut(start..start.saturating_add(4)) {
        slot.copy_from_slice(&size.to_le_bytes());
    }
    Ok(())
}

/// Splits a complete frame into (header, body reader) after the size checks.
fn open_frame(bytes: &[u8], msize: u32) -> Result<(Header, Reader<'_>), P9Error> {
    let h = Header::parse(bytes, msize)?;
    let body = bytes.get(HEADER_SIZE..).ok_or(P9Error::Truncated)?;
    Ok((h, Reader::new(body)))
}

impl Tmessage {
    /// Appends the encoded frame for this request with `tag` to `buf`.
    /// Fails only if a string exceeds 65535 bytes or the frame exceeds 4 GiB.
    pub fn encode(&self, tag: u16, buf: &mut Vec<u8>) -> Result<(), P9Error> {
        let ty = self.type_number();
        let start = begin(buf, ty, tag);
        let mut w = Writer { buf };
        match self {
            Tmessage::Version { msize, version } => {
                w.u32(*msize);
                w.string(version)?;
            }
            Tmessage::Auth {
                afid,
                uname,
                aname,
                n_uname,
            } => {
                w.u32(*afid);
                w.string(uname)?;
                w.string(aname)?;
                w.u32(*n_uname);
            }
            Tmessage::Attach {
                fid,
                afid,
                uname,
                aname,
                n_uname,
            } => {
                w.u32(*fid);
                w.u32(*afid);
                w.string(uname)?;
                w.string(aname)?;
                w.u32(*n_uname);
            }
            Tmessage::Flush { oldtag } => w.u16(*oldtag),
            Tmessage::Walk { fid, newfid, names } => {
                w.u32(*fid);
                w.u32(*newfid);
                let n = u16::try_from(names.len()).map_err(|_| P9Error::TooManyWalkNames)?;
                w.u16(n);
                for name in names {
                    w.string(name)?;
                }
            }
            Tmessage::Read { fid, offset, count } | Tmessage::Readdir { fid, offset, count } => {
                w.u32(*fid);
                w.u64(*offset);
                w.u32(*count);
            }
            Tmessage::Write { fid, offset, data } => {
                w.u32(*fid);
                w.u64(*offset);
                w.data(data)?;
            }
            Tmessage::Clunk { fid }
            | Tmessage::Remove { fid }
            | Tmessage::Statfs { fid }
            | Tmessage::Readlink { fid } => w.u32(*fid),
            Tmessage::Lopen { fid, flags } | Tmessage::Lopenfd { fid, flags } => {
                w.u32(*fid);
                w.u32(*flags);
            }
            Tmessage::Lcreate {
                fid,
                name,
                flags,
                mode,
                gid,
            } => {
                w.u32(*fid);
                w.string(name)?;
                w.u32(*flags);
                w.u32(*mode);
                w.u32(*gid);
            }
            Tmessage::Symlink {
                dfid,
                name,
                target,
                gid,
            } => {
                w.u32(*dfid);
                w.string(name)?;
                w.string(target)?;
                w.u32(*gid);
            }
            Tmessage::Mknod {
                dfid,
                name,
                mode,
                major,
                minor,
                gid,
            } => {
                w.u32(*dfid);
                w.string(name)?;
                w.u32(*mode);
                w.u32(*major);
                w.u32(*minor);
                w.u32(*gid);
            }
            Tmessage::Rename { fid, dfid, name } => {
                w.u32(*fid);
                w.u32(*dfid);
                w.string(name)?;
            }
            Tmessage::Getattr { fid, request_mask } => {
                w.u32(*fid);
                w.u64(*request_mask);
            }
            Tmessage::Setattr { fid, attr } => {
                w.u32(*fid);
                w.u32(attr.valid);
                w.u32(attr.mode);
                w.u32(attr.uid);
                w.u32(attr.gid);
                w.u64(attr.size);
                w.u64(attr.atime_sec);
                w.u64(attr.atime_nsec);
                w.u64(attr.mtime_sec);
                w.u64(attr.mtime_nsec);
            }
            Tmessage::Xattrwalk { fid, newfid, name } => {
                w.u32(*fid);
                w.u32(*newfid);
                w.string(name)?;
            }
            Tmessage::Xattrcreate {
                fid,
                name,
                attr_size,
                flags,
            } => {
                w.u32(*fid);
                w.string(name)?;
                w.u64(*attr_size);
                w.u32(*flags);
            }
            Tmessage::Fsync { fid, datasync } => {
                w.u32(*fid);
                w.u32(*datasync);
            }
            Tmessage::Link { dfid, fid, name } => {
                w.u32(*dfid);
                w.u32(*fid);
                w.string(name)?;
            }
            Tmessage::Mkdir {
                dfid,
                name,
                mode,
                gid,
            } => {
                w.u32(*dfid);
                w.string(name)?;
                w.u32(*mode);
                w.u32(*gid);
            }
            Tmessage::Renameat {
                olddfid,
                oldname,
                newdfid,
                newname,
            } => {
                w.u32(*olddfid);
                w.string(oldname)?;
                w.u32(*newdfid);
                w.string(newname)?;
            }
            Tmessage::Unlinkat { dfid, name, flags } => {
                w.u32(*dfid);
                w.string(name)?;
                w.u32(*flags);
            }
            Tmessage::Renameat2 {
                olddfid,
                oldname,
                newdfid,
                newname,
                flags,
            } => {
                w.u32(*olddfid);
                w.string(oldname)?;
                w.u32(*newdfid);
                w.string(newname)?;
                w.u32(*flags);
            }
        }
        finish(buf, start)
    }

    fn type_number(&self) -> u8 {
        match self {
            Tmessage::Version { .. } => TVERSION,
            Tmessage::Auth { .. } => TAUTH,
            Tmessage::Attach { .. } => TATTACH,
            Tmessage::Flush { .. } => TFLUSH,
            Tmessage::Walk { .. } => TWALK,
            Tmessage::Read { .. } => TREAD,
            Tmessage::Write { .. } => TWRITE,
            Tmessage::Clunk { .. } => TCLUNK,
            Tmessage::Remove { .. } => TREMOVE,
            Tmessage::Statfs { .. } => TSTATFS,
            Tmessage::Lopen { .. } => TLOPEN,
            Tmessage::Lopenfd { .. } => TLOPENFD,
            Tmessage::Lcreate { .. } => TLCREATE,
            Tmessage::Symlink { .. } => TSYMLINK,
            Tmessage::Mknod { .. } => TMKNOD,
            Tmessage::Rename { .. } => TRENAME,
            Tmessage::Readlink { .. } => TREADLINK,
            Tmessage::Getattr { .. } => TGETATTR,
            Tmessage::Setattr { .. } => TSETATTR,
            Tmessage::Xattrwalk { .. } => TXATTRWALK,
            Tmessage::Readdir { .. } => TREADDIR,
            Tmessage::Fsync { .. } => TFSYNC,
            Tmessage::Link { .. } => TLINK,
            Tmessage::Mkdir { .. } => TMKDIR,
            Tmessage::Renameat { .. } => TRENAMEAT,
            Tmessage::Unlinkat { .. } => TUNLINKAT,
            Tmessage::Xattrcreate { .. } => TXATTRCREATE,
            Tmessage::Renameat2 { .. } => TRENAMEAT2,
        }
    }

    /// Decodes one complete frame (`size[4]` included) of at most `msize` bytes.
    pub fn decode(bytes: &[u8], msize: u32) -> Result<(u16, Tmessage), P9Error> {
        let (h, mut r) = open_frame(bytes, msize)?;
        let msg = match h.ty {
            TVERSION => Tmessage::Version {
                msize: r.u32()?,
                version: r.string()?,
            },
            TAUTH => Tmessage::Auth {
                afid: r.u32()?,
                uname: r.string()?,
                aname: r.string()?,
                n_uname: r.u32()?,
            },
            TATTACH => Tmessage::Attach {
                fid: r.u32()?,
                afid: r.u32()?,
                uname: r.string()?,
                aname: r.string()?,
                n_uname: r.u32()?,
            },
            TFLUSH => Tmessage::Flush { oldtag: r.u16()? },
            TWALK => {
                let fid = r.u32()?;
                let newfid = r.u32()?;
                let n = usize::from(r.u16()?);
                if n > MAX_WALK_ELEMS {
                    return Err(P9Error::TooManyWalkNames);
                }
                let mut names = Vec::with_capacity(n);
                for _ in 0..n {
                    names.push(r.string()?);
                }
                Tmessage::Walk { fid, newfid, names }
            }
            TREAD => Tmessage::Read {
                fid: r.u32()?,
                offset: r.u64()?,
                count: r.u32()?,
            },
            TWRITE => {
                let fid = r.u32()?;
                let offset = r.u64()?;
                let data = read_data(&mut r)?;
                Tmessage::Write { fid, offset, data }
            }
            TCLUNK => Tmessage::Clunk { fid: r.u32()? },
            TREMOVE => Tmessage::Remove { fid: r.u32()? },
            TSTATFS => Tmessage::Statfs { fid: r.u32()? },
            TLOPEN => Tmessage::Lopen {
                fid: r.u32()?,
                flags: r.u32()?,
            },
            TLOPENFD => Tmessage::Lopenfd {
                fid: r.u32()?,
                flags: r.u32()?,
            },
            TLCREATE => Tmessage::Lcreate {
                fid: r.u32()?,
                name: r.string()?,
                flags: r.u32()?,
                mode: r.u32()?,
                gid: r.u32()?,
            },
            TSYMLINK => Tmessage::Symlink {
                dfid: r.u32()?,
                name: r.string()?,
                target: r.string()?,
                gid: r.u32()?,
            },
            TMKNOD => Tmessage::Mknod {
                dfid: r.u32()?,
                name: r.string()?,
                mode: r.u32()?,
                major: r.u32()?,
                minor: r.u32()?,
                gid: r.u32()?,
            },
            TRENAME => Tmessage::Rename {
                fid: r.u32()?,
                dfid: r.u32()?,
                name: r.string()?,
            },
            TREADLINK => Tmessage::Readlink { fid: r.u32()? },
            TGETATTR => Tmessage::Getattr {
                fid: r.u32()?,
                request_mask: r.u64()?,
            },
            TSETATTR => Tmessage::Setattr {
                fid: r.u32()?,
                attr: SetAttr {
                    valid: r.u32()?,
                    mode: r.u32()?,
                    uid: r.u32()?,
                    gid: r.u32()?,
                    size: r.u64()?,
                    atime_sec: r.u64()?,
                    atime_nsec: r.u64()?,
                    mtime_sec: r.u64()?,
                    mtime_nsec: r.u64()?,
                },
            },
            TXATTRWALK => Tmessage::Xattrwalk {
                fid: r.u32()?,
                newfid: r.u32()?,
                name: r.string()?,
            },
            TREADDIR => Tmessage::Readdir {
                fid: r.u32()?,
                offset: r.u64()?,
                count: r.u32()?,
            },
            TFSYNC => Tmessage::Fsync {
                fid: r.u32()?,
                datasync: r.u32()?,
            },
            TLINK => Tmessage::Link {
                dfid: r.u32()?,
                fid: r.u32()?,
                name: r.string()?,
            },
            TMKDIR => Tmessage::Mkdir {
                dfid: r.u32()?,
                name: r.string()?,
                mode: r.u32()?,
                gid: r.u32()?,
            },
            TRENAMEAT => Tmessage::Renameat {
                olddfid: r.u32()?,
                oldname: r.string()?,
                newdfid: r.u32()?,
                newname: r.string()?,
            },
            TUNLINKAT => Tmessage::Unlinkat {
                dfid: r.u32()?,
                name: r.string()?,
                flags: r.u32()?,
            },
            TXATTRCREATE => Tmessage::Xattrcreate {
                fid: r.u32()?,
                name: r.string()?,
                attr_size: r.u64()?,
                flags: r.u32()?,
            },
            TRENAMEAT2 => Tmessage::Renameat2 {
                olddfid: r.u32()?,
                oldname: r.string()?,
                newdfid: r.u32()?,
                newname: r.string()?,
                flags: r.u32()?,
            },
            ty => return Err(P9Error::UnknownType { ty, tag: h.tag }),
        };
        r.finish()?;
        Ok((h.tag, msg))
    }
}

/// `count[4] data[count]`, with `count` checked against the bytes present.
fn read_data(r: &mut Reader<'_>) -> Result<Vec<u8>, P9Error> {
    let count = r.u32()?;
    let n = usize::try_from(count).map_err(|_| P9Error::Truncated)?;
    Ok(r.bytes(n)?.to_vec())
}

/// Encoded size of one Rreaddir entry: qid[13] offset[8] type[1] name[s].
pub fn dirent_wire_size(name_len: usize) -> usize {
    24usize.saturating_add(name_len)
}

impl Rmessage {
    /// Appends the encoded frame for this reply with `tag` to `buf`.
    pub fn encode(&self, tag: u16, buf: &mut Vec<u8>) -> Result<(), P9Error> {
        let start = begin(buf, self.type_number(), tag);
        let mut w = Writer { buf };
        match self {
            Rmessage::Lerror { ecode } => w.u32(*ecode),
            Rmessage::Version { msize, version } => {
                w.u32(*msize);
                w.string(version)?;
            }
            Rmessage::Auth { aqid: qid }
            | Rmessage::Attach { qid }
            | Rmessage::Symlink { qid }
            | Rmessage::Mknod { qid }
            | Rmessage::Mkdir { qid } => w.qid(qid),
            Rmessage::Flush
            | Rmessage::Clunk
            | Rmessage::Remove
            | Rmessage::Rename
            | Rmessage::Setattr
            | Rmessage::Fsync
            | Rmessage::Link
            | Rmessage::Renameat
            | Rmessage::Unlinkat
            | Rmessage::Xattrcreate
            | Rmessage::Renameat2 => {}
            Rmessage::Walk { qids } => {
                let n = u16::try_from(qids.len()).map_err(|_| P9Error::TooManyWalkNames)?;
                w.u16(n);
                for q in qids {
                    w.qid(q);
                }
            }
            Rmessage::Read { data } => w.data(data)?,
            Rmessage::Write { count } => w.u32(*count),
            Rmessage::Statfs(s) => {
                w.u32(s.ty);
                w.u32(s.bsize);
                w.u64(s.blocks);
                w.u64(s.bfree);
                w.u64(s.bavail);
                w.u64(s.files);
                w.u64(s.ffree);
                w.u64(s.fsid);
                w.u32(s.namelen);
            }
            Rmessage::Lopen { qid, iounit } | Rmessage::Lcreate { qid, iounit } => {
                w.qid(qid);
                w.u32(*iounit);
            }
            Rmessage::Readlink { target } => w.string(target)?,
            Rmessage::Getattr(a) | Rmessage::Lopenfd(a) => {
                w.u64(a.valid);
                w.qid(&a.qid);
                w.u32(a.mode);
                w.u32(a.uid);
                w.u32(a.gid);
                for v in [
                    a.nlink,
                    a.rdev,
                    a.size,
                    a.blksize,
                    a.blocks,
                    a.atime_sec,
                    a.atime_nsec,
                    a.mtime_sec,
                    a.mtime_nsec,
                    a.ctime_sec,
                    a.ctime_nsec,
                    a.btime_sec,
                    a.btime_nsec,
                    a.generation,
                    a.data_version,
                ] {
                    w.u64(v);
                }
            }
            Rmessage::Xattrwalk { size } => w.u64(*size),
            Rmessage::Readdir { entries } => {
                // count[4] is the byte length of the entries that follow.
                let count_at = w.buf.len();
                w.u32(0);
                for e in entries {
                    w.qid(&e.qid);
                    w.u64(e.offset);
                    w.u8(e.ty);
                    w.string(&e.name)?;
                }
                let len = w.buf.len().saturating_sub(count_at.saturating_add(4));
                let count = u32::try_from(len).map_err(|_| P9Error::TooLarge {
                    size: len,
                    msize: u32::MAX,
                })?;
                if let Some(slot) = w.buf.get_mut(count_at..count_at.saturating_add(4)) {
                    slot.copy_from_slice(&count.to_le_bytes());
                }
            }
        }
        finish(buf, start)
    }

    fn type_number(&self) -> u8 {
        match self {
            Rmessage::Lerror { .. } => RLERROR,
            Rmessage::Version { .. } => RVERSION,
            Rmessage::Auth { .. } => RAUTH,
            Rmessage::Attach { .. } => RATTACH,
            Rmessage::Flush => RFLUSH,
            Rmessage::Walk { .. } => RWALK,
            Rmessage::Read { .. } => RREAD,
            Rmessage::Write { .. } => RWRITE,
            Rmessage::Clunk => RCLUNK,
            Rmessage::Remove => RREMOVE,
            Rmessage::Statfs(_) => RSTATFS,
            Rmessage::Lopen { .. } => RLOPEN,
            Rmessage::Lopenfd(_) => RLOPENFD,
            Rmessage::Lcreate { .. } => RLCREATE,
            Rmessage::Symlink { .. } => RSYMLINK,
            Rmessage::Mknod { .. } => RMKNOD,
            Rmessage::Rename => RRENAME,
            Rmessage::Readlink { .. } => RREADLINK,
            Rmessage::Getattr(_) => RGETATTR,
            Rmessage::Setattr => RSETATTR,
            Rmessage::Xattrwalk { .. } => RXATTRWALK,
            Rmessage::Readdir { .. } => RREADDIR,
            Rmessage::Fsync => RFSYNC,
            Rmessage::Link => RLINK,
            Rmessage::Mkdir { .. } => RMKDIR,
            Rmessage::Renameat => RRENAMEAT,
            Rmessage::Unlinkat => RUNLINKAT,
            Rmessage::Xattrcreate => RXATTRCREATE,
            Rmessage::Renameat2 => RRENAMEAT2,
        }
    }

    /// Decodes one complete reply frame (`size[4]` included) of at most `msize` bytes.
    pub fn decode(bytes: &[u8], msize: u32) -> Result<(u16, Rmessage), P9Error> {
        let (h, mut r) = open_frame(bytes, msize)?;
        let msg = match h.ty {
            RLERROR => Rmessage::Lerror { ecode: r.u32()? },
            RVERSION => Rmessage::Version {
                msize: r.u32()?,
                version: r.string()?,
            },
            RAUTH => Rmessage::Auth { aqid: r.qid()? },
            RATTACH => Rmessage::Attach { qid: r.qid()? },
            RFLUSH => Rmessage::Flush,
            RWALK => {
                let n = usize::from(r.u16()?);
                if n > MAX_WALK_ELEMS {
                    return Err(P9Error::TooManyWalkNames);
                }
                let mut qids = Vec::with_capacity(n);
                for _ in 0..n {
                    qids.push(r.qid()?);
                }
                Rmessage::Walk { qids }
            }
            RREAD => Rmessage::Read {
                data: read_data(&mut r)?,
            },
            RWRITE => Rmessage::Write { count: r.u32()? },
            RCLUNK => Rmessage::Clunk,
            RREMOVE => Rmessage::Remove,
            RSTATFS => Rmessage::Statfs(StatFs {
                ty: r.u32()?,
                bsize: r.u32()?,
                blocks: r.u64()?,
                bfree: r.u64()?,
                bavail: r.u64()?,
                files: r.u64()?,
                ffree: r.u64()?,
                fsid: r.u64()?,
                namelen: r.u32()?,
            }),
            RLOPEN => Rmessage::Lopen {
                qid: r.qid()?,
                iounit: r.u32()?,
            },
            RLCREATE => Rmessage::Lcreate {
                qid: r.qid()?,
                iounit: r.u32()?,
            },
            RSYMLINK => Rmessage::Symlink { qid: r.qid()? },
            RMKNOD => Rmessage::Mknod { qid: r.qid()? },
            RRENAME => Rmessage::Rename,
            RREADLINK => Rmessage::Readlink {
                target: r.string()?,
            },
            RGETATTR => Rmessage::Getattr(read_attr(&mut r)?),
            RLOPENFD => Rmessage::Lopenfd(read_attr(&mut r)?),
            RSETATTR => Rmessage::Setattr,
            RXATTRWALK => Rmessage::Xattrwalk { size: r.u64()? },
            RREADDIR => {
                let data = read_data(&mut r)?;
                let mut er = Reader::new(&data);
                let mut entries = Vec::new();
                while er.remaining() > 0 {
                    entries.push(DirEntry {
                        qid: er.qid()?,
                        offset: er.u64()?,
                        ty: er.u8()?,
                        name: er.string()?,
                    });
                }
                Rmessage::Readdir { entries }
            }
            RFSYNC => Rmessage::Fsync,
            RLINK => Rmessage::Link,
            RMKDIR => Rmessage::Mkdir { qid: r.qid()? },
            RRENAMEAT => Rmessage::Renameat,
            RUNLINKAT => Rmessage::Unlinkat,
            RXATTRCREATE => Rmessage::Xattrcreate,
            RRENAMEAT2 => Rmessage::Renameat2,
            // Tlerror (6) exists in the type table but is never sent; treat it as unknown.
            ty => return Err(P9Error::UnknownType { ty, tag: h.tag }),
        };
        r.finish()?;
        Ok((h.tag, msg))
    }
}

/// Rgetattr's body (also Rlopenfd's).
fn read_attr(r: &mut Reader<'_>) -> Result<Attr, P9Error> {
    Ok(Attr {
        valid: r.u64()?,
        qid: r.qid()?,
        mode: r.u32()?,
        uid: r.u32()?,
        gid: r.u32()?,
        nlink: r.u64()?,
        rdev: r.u64()?,
        size: r.u64()?,
        blksize: r.u64()?,
        blocks: r.u64()?,
        atime_sec: r.u64()?,
        atime_nsec: r.u64()?,
        mtime_sec: r.u64()?,
        mtime_nsec: r.u64()?,
        ctime_sec: r.u64()?,
        ctime_nsec: r.u64()?,
        btime_sec: r.u64()?,
        btime_nsec: r.u64()?,
        generation: r.u64()?,
        data_version: r.u64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSIZE: u32 = 8192;

    /// Encodes `msg`, checks the bytes equal `fixture`, decodes `fixture` back.
    fn check_t(msg: Tmessage, tag: u16, fixture: &[u8]) {
        let mut buf = Vec::new();
        msg.encode(tag, &mut buf).unwrap();
        assert_eq!(buf, fixture, "encode {msg:?}");
        assert_eq!(Tmessage::decode(fixture, MSIZE).unwrap(), (tag, msg));
        // Every strict prefix is rejected, never a panic.
        for cut in 0..fixture.len() {
            Tmessage::decode(&fixture[..cut], MSIZE).unwrap_err();
        }
    }

    fn check_r(msg: Rmessage, tag: u16, fixture: &[u8]) {
        let mut buf = Vec::new();
        msg.encode(tag, &mut buf).unwrap();
        assert_eq!(buf, fixture, "encode {msg:?}");
        assert_eq!(Rmessage::decode(fixture, MSIZE).unwrap(), (tag, msg));
        for cut in 0..fixture.len() {
            Rmessage::decode(&fixture[..cut], MSIZE).unwrap_err();
        }
    }

    const QID_BYTES: [u8; 13] = [0x80, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
    const QID: Qid = Qid {
        ty: 0x80,
        version: 1,
        path: 2,
    };

    #[test]
    fn txattrcreate_fixture() {
        check_t(
            Tmessage::Xattrcreate {
                fid: 3,
                name: b"user.a".to_vec(),
                attr_size: 5,
                flags: 1,
            },
            7,
            &[
                31, 0, 0, 0, 32, 7, 0, 3, 0, 0, 0, 6, 0, b'u', b's', b'e', b'r', b'.', b'a', 5, 0,
                0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
            ],
        );
        check_r(Rmessage::Xattrcreate, 7, &[7, 0, 0, 0, 33, 7, 0]);
    }

    #[test]
    fn trenameat2_fixture() {
        check_t(
            Tmessage::Renameat2 {
                olddfid: 1,
                oldname: b"a".to_vec(),
                newdfid: 2,
                newname: b"b".to_vec(),
                flags: 2,
            },
            9,
            &[
                25, 0, 0, 0, 202, 9, 0, 1, 0, 0, 0, 1, 0, b'a', 2, 0, 0, 0, 1, 0, b'b', 2, 0, 0, 0,
            ],
        );
        check_r(Rmessage::Renameat2, 9, &[7, 0, 0, 0, 203, 9, 0]);
    }

    #[test]
    fn tversion_fixture() {
        check_t(
            Tmessage::Version {
                msize: 8192,
                version: b"9P2000.L".to_vec(),
            },
            NOTAG,
            &[
                21, 0, 0, 0, 100, 0xff, 0xff, 0x00, 0x20, 0, 0, 8, 0, b'9', b'P', b'2', b'0', b'0',
                b'0', b'.', b'L',
            ],
        );
    }

    #[test]
    fn rversion_fixture() {
        check_r(
            Rmessage::Version {
                msize: 4096,
                version: b"9P2000.L".to_vec(),
            },
            NOTAG,
            &[
                21, 0, 0, 0, 101, 0xff, 0xff, 0x00, 0x10, 0, 0, 8, 0, b'9', b'P', b'2', b'0', b'0',
                b'0', b'.', b'L',
            ],
        );
    }

    #[test]
    fn tattach_fixture() {
        check_t(
            Tmessage::Attach {
                fid: 1,
                afid: NOFID,
                uname: b"u".to_vec(),
                aname: b"/".to_vec(),
                n_uname: 0,
            },
            3,
            &[
                25, 0, 0, 0, 104, 3, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, b'u', 1, 0, b'/',
                0, 0, 0, 0,
            ],
        );
    }

    #[test]
    fn rattach_fixture() {
        let mut f = vec![20, 0, 0, 0, 105, 3, 0];
        f.extend_from_slice(&QID_BYTES);
        check_r(Rmessage::Attach { qid: QID }, 3, &f);
    }

    #[test]
    fn twalk_fixture() {
        check_t(
            Tmessage::Walk {
                fid: 1,
                newfid: 2,
                names: vec![b"a".to_vec(), b"bc".to_vec()],
            },
            7,
            &[
                24, 0, 0, 0, 110, 7, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0, b'a', 2, 0, b'b', b'c',
            ],
        );
    }

    #[test]
    fn rwalk_fixture() {
        let mut f = vec![35, 0, 0, 0, 111, 7, 0, 2, 0];
        f.extend_from_slice(&QID_BYTES);
        f.extend_from_slice(&QID_BYTES);
        check_r(
            Rmessage::Walk {
                qids: vec![QID, QID],
            },
            7,
            &f,
        );
    }

    #[test]
    fn twalk_with_17_names_is_rejected() {
        let msg = Tmessage::Walk {
            fid: 1,
            newfid: 2,
            names: vec![b"x".to_vec(); 17],
        };
        let mut buf = Vec::new();
        msg.encode(1, &mut buf).unwrap();
        assert_eq!(
            Tmessage::decode(&buf, MSIZE),
            Err(P9Error::TooManyWalkNames)
        );
    }

    #[test]
    fn tgetattr_fixture() {
        check_t(
            Tmessage::Getattr {
                fid: 5,
                request_mask: crate::getattr::BASIC,
            },
            1,
            &[
                19, 0, 0, 0, 24, 1, 0, 5, 0, 0, 0, 0xff, 0x07, 0, 0, 0, 0, 0, 0,
            ],
        );
    }

    #[test]
    fn rgetattr_roundtrip_layout() {
        let attr = Attr {
            valid: 0x7ff,
            qid: QID,
            mode: 0o100644,
            uid: 1,
            gid: 2,
            nlink: 3,
            size: 4,
            ..Attr::default()
        };
        let mut buf = Vec::new();
        Rmessage::Getattr(attr).encode(9, &mut buf).unwrap();
        // header 7 + valid 8 + qid 13 + mode/uid/gid 12 + 15 * 8.
        assert_eq!(buf.len(), 7 + 8 + 13 + 12 + 120);
        assert_eq!(&buf[..7], &[160, 0, 0, 0, 25, 9, 0]);
        assert_eq!(&buf[15..28], &QID_BYTES);
        assert_eq!(&buf[28..32], &0o100644u32.to_le_bytes());
        check_r(Rmessage::Getattr(attr), 9, &buf);
    }

    #[test]
    fn tlopen_rlopen_fixtures() {
        check_t(
            Tmessage::Lopen { fid: 2, flags: 0o2 },
            4,
            &[15, 0, 0, 0, 12, 4, 0, 2, 0, 0, 0, 2, 0, 0, 0],
        );
        let mut f = vec![24, 0, 0, 0, 13, 4, 0];
        f.extend_from_slice(&QID_BYTES);
        f.extend_from_slice(&[0, 0x10, 0, 0]);
        check_r(
            Rmessage::Lopen {
                qid: QID,
                iounit: 4096,
            },
            4,
            &f,
        );
    }

    #[test]
    fn tlopenfd_rlopenfd_round_trip() {
        check_t(
            Tmessage::Lopenfd { fid: 2, flags: 0 },
            4,
            &[15, 0, 0, 0, 200, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0],
        );
        let attr = Attr {
            qid: QID,
            mode: 0o100644,
            size: 77,
            ..Attr::default()
        };
        let mut buf = Vec::new();
        Rmessage::Lopenfd(attr).encode(4, &mut buf).unwrap();
        assert_eq!(buf[4], 201);
        check_r(Rmessage::Lopenfd(attr), 4, &buf);
    }

    #[test]
    fn tread_rread_fixtures() {
        check_t(
            Tmessage::Read {
                fid: 2,
                offset: 0x10,
                count: 100,
            },
            5,
            &[
                23, 0, 0, 0, 116, 5, 0, 2, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0,
            ],
        );
        check_r(
            Rmessage::Read {
                data: b"hey".to_vec(),
            },
            5,
            &[14, 0, 0, 0, 117, 5, 0, 3, 0, 0, 0, b'h', b'e', b'y'],
        );
    }

    #[test]
    fn rread_count_past_end_is_truncated() {
        // count says 4 but only 3 bytes follow (and size agrees with the 3).
        let f = [14, 0, 0, 0, 117, 5, 0, 4, 0, 0, 0, b'h', b'e', b'y'];
        assert_eq!(Rmessage::decode(&f, MSIZE), Err(P9Error::Truncated));
    }

    #[test]
    fn treaddir_rreaddir_fixtures() {
        check_t(
            Tmessage::Readdir {
                fid: 3,
                offset: 0,
                count: 4096,
            },
            6,
            &[
                23, 0, 0, 0, 40, 6, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0,
            ],
        );
        let mut f = vec![36, 0, 0, 0, 41, 6, 0, 25, 0, 0, 0];
        f.extend_from_slice(&QID_BYTES);
        f.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, b'd']);
        check_r(
            Rmessage::Readdir {
                entries: vec![DirEntry {
                    qid: QID,
                    offset: 9,
                    ty: 4,
                    name: b"d".to_vec(),
                }],
            },
            6,
            &f,
        );
        assert_eq!(dirent_wire_size(1), 25);
    }

    #[test]
    fn rreaddir_with_partial_entry_is_rejected() {
        // count = 5: not a whole entry.
        let f = [16, 0, 0, 0, 41, 6, 0, 5, 0, 0, 0, 0x80, 1, 0, 0, 0];
        assert_eq!(Rmessage::decode(&f, MSIZE), Err(P9Error::Truncated));
    }

    #[test]
    fn treadlink_rreadlink_fixtures() {
        check_t(
            Tmessage::Readlink { fid: 9 },
            2,
            &[11, 0, 0, 0, 22, 2, 0, 9, 0, 0, 0],
        );
        check_r(
            Rmessage::Readlink {
                target: b"/x".to_vec(),
            },
            2,
            &[11, 0, 0, 0, 23, 2, 0, 2, 0, b'/', b'x'],
        );
    }

    #[test]
    fn tstatfs_rstatfs_fixtures() {
        check_t(
            Tmessage::Statfs { fid: 1 },
            2,
            &[11, 0, 0, 0, 8, 2, 0, 1, 0, 0, 0],
        );
        let s = StatFs {
            ty: 0x01021994,
            bsize: 4096,
            blocks: 1,
            bfree: 2,
            bavail: 3,
            files: 4,
            ffree: 5,
            fsid: 6,
            namelen: 255,
        };
        let mut f = vec![67, 0, 0, 0, 9, 2, 0, 0x94, 0x19, 0x02, 0x01, 0, 0x10, 0, 0];
        for v in 1u64..=6 {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&[255, 0, 0, 0]);
        check_r(Rmessage::Statfs(s), 2, &f);
    }

    #[test]
    fn tclunk_rclunk_tflush_rflush_rlerror_fixtures() {
        check_t(
            Tmessage::Clunk { fid: 4 },
            1,
            &[11, 0, 0, 0, 120, 1, 0, 4, 0, 0, 0],
        );
        check_r(Rmessage::Clunk, 1, &[7, 0, 0, 0, 121, 1, 0]);
        check_t(
            Tmessage::Flush { oldtag: 3 },
            1,
            &[9, 0, 0, 0, 108, 1, 0, 3, 0],
        );
        check_r(Rmessage::Flush, 1, &[7, 0, 0, 0, 109, 1, 0]);
        check_r(
            Rmessage::Lerror { ecode: 2 },
            1,
            &[11, 0, 0, 0, 7, 1, 0, 2, 0, 0, 0],
        );
    }

    #[test]
    fn write_path_fixtures() {
        check_t(
            Tmessage::Lcreate {
                fid: 1,
                name: b"f".to_vec(),
                flags: 0o1,
                mode: 0o644,
                gid: 0,
            },
            1,
            &[
                26, 0, 0, 0, 14, 1, 0, 1, 0, 0, 0, 1, 0, b'f', 1, 0, 0, 0, 0xa4, 1, 0, 0, 0, 0, 0,
                0,
            ],
        );
        check_t(
            Tmessage::Write {
                fid: 1,
                offset: 2,
                data: b"ab".to_vec(),
            },
            1,
            &[
                25, 0, 0, 0, 118, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'a', b'b',
            ],
        );
        check_r(
            Rmessage::Write { count: 2 },
            1,
            &[11, 0, 0, 0, 119, 1, 0, 2, 0, 0, 0],
        );
        check_t(
            Tmessage::Mkdir {
                dfid: 1,
                name: b"d".to_vec(),
                mode: 0o755,
                gid: 0,
            },
            1,
            &[
                22, 0, 0, 0, 72, 1, 0, 1, 0, 0, 0, 1, 0, b'd', 0xed, 1, 0, 0, 0, 0, 0, 0,
            ],
        );
        check_t(
            Tmessage::Unlinkat {
                dfid: 1,
                name: b"d".to_vec(),
                flags: 0x200,
            },
            1,
            &[18, 0, 0, 0, 76, 1, 0, 1, 0, 0, 0, 1, 0, b'd', 0, 2, 0, 0],
        );
        check_t(
            Tmessage::Symlink {
                dfid: 1,
                name: b"l".to_vec(),
                target: b"t".to_vec(),
                gid: 0,
            },
            1,
            &[
                21, 0, 0, 0, 16, 1, 0, 1, 0, 0, 0, 1, 0, b'l', 1, 0, b't', 0, 0, 0, 0,
            ],
        );
        check_t(
            Tmessage::Renameat {
                olddfid: 1,
                oldname: b"a".to_vec(),
                newdfid: 2,
                newname: b"b".to_vec(),
            },
            1,
            &[
                21, 0, 0, 0, 74, 1, 0, 1, 0, 0, 0, 1, 0, b'a', 2, 0, 0, 0, 1, 0, b'b',
            ],
        );
        check_t(
            Tmessage::Fsync {
                fid: 1,
                datasync: 1,
            },
            1,
            &[15, 0, 0, 0, 50, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0],
        );
        check_t(
            Tmessage::Xattrwalk {
                fid: 1,
                newfid: 2,
                name: b"".to_vec(),
            },
            1,
            &[17, 0, 0, 0, 30, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0],
        );
        let setattr = Tmessage::Setattr {
            fid: 1,
            attr: SetAttr {
                valid: crate::setattr::SIZE,
                size: 7,
                ..SetAttr::default()
            },
        };
        let mut buf = Vec::new();
        setattr.encode(1, &mut buf).unwrap();
        assert_eq!(buf.len(), 7 + 4 + 16 + 40);
        check_t(setattr, 1, &buf);
        for r in [
            Rmessage::Setattr,
            Rmessage::Unlinkat,
            Rmessage::Renameat,
            Rmessage::Fsync,
        ] {
            let mut buf = Vec::new();
            r.encode(1, &mut buf).unwrap();
            assert_eq!(buf.len(), 7);
            check_r(r, 1, &buf);
        }
    }

    #[test]
    fn frame_larger_than_msize_is_rejected() {
        let f = [11, 0, 0, 0, 120, 1, 0, 4, 0, 0, 0];
        assert_eq!(
            Tmessage::decode(&f, 10),
            Err(P9Error::TooLarge {
                size: 11,
                msize: 10
            })
        );
        assert_eq!(
            frame_size([0xff, 0xff, 0xff, 0xff], 8192),
            Err(P9Error::TooLarge {
                size: 0xffff_ffff,
                msize: 8192
            })
        );
        assert_eq!(frame_size([3, 0, 0, 0], 8192), Err(P9Error::Truncated));
        assert_eq!(frame_size([11, 0, 0, 0], 8192), Ok(11));
    }

    #[test]
    fn size_field_disagreeing_with_buffer_is_rejected() {
        let f = [12, 0, 0, 0, 120, 1, 0, 4, 0, 0, 0];
        assert_eq!(
            Tmessage::decode(&f, MSIZE),
            Err(P9Error::SizeMismatch { size: 12, len: 11 })
        );
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let f = [12, 0, 0, 0, 120, 1, 0, 4, 0, 0, 0, 0xaa];
        assert_eq!(Tmessage::decode(&f, MSIZE), Err(P9Error::TrailingBytes(1)));
    }

    #[test]
    fn unknown_type_reports_its_tag() {
        let f = [7, 0, 0, 0, 250, 0x34, 0x12];
        assert_eq!(
            Tmessage::decode(&f, MSIZE),
            Err(P9Error::UnknownType {
                ty: 250,
                tag: 0x1234
            })
        );
        assert_eq!(
            Rmessage::decode(&f, MSIZE),
            Err(P9Error::UnknownType {
                ty: 250,
                tag: 0x1234
            })
        );
    }

    #[test]
    fn string_length_past_end_is_truncated() {
        // Twalk with one name claiming 200 bytes.
        let f = [18, 0, 0, 0, 110, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 200, 0];
        assert_eq!(Tmessage::decode(&f[..18], MSIZE), Err(P9Error::Truncated));
        let mut g = f.to_vec();
        g[0] = 19;
        assert_eq!(Tmessage::decode(&g, MSIZE), Err(P9Error::Truncated));
    }

    #[test]
    fn overlong_string_fails_to_encode() {
        let msg = Tmessage::Readlink { fid: 1 };
        let mut buf = Vec::new();
        msg.encode(1, &mut buf).unwrap();
        let long = Rmessage::Readlink {
            target: vec![b'a'; 70_000],
        };
        assert_eq!(
            long.encode(1, &mut Vec::new()),
            Err(P9Error::StringTooLong(70_000))
        );
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic xorshift stream of frames with a valid size prefix and every type.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for ty in 0..=255u8 {
            for len in 0..64usize {
                let mut f = Vec::with_capacity(len + 7);
                f.extend_from_slice(&u32::try_from(len + 7).unwrap().to_le_bytes());
                f.push(ty);
                f.extend_from_slice(&[1, 0]);
                for _ in 0..len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    f.push(x as u8);
                }
                let _ = Tmessage::decode(&f, MSIZE);
                let _ = Rmessage::decode(&f, MSIZE);
            }
        }
    }
}
