//! The 9P2000.L request handlers: a fid table and one method per message.
//!
//! # Fids and held fds
//! Every fid points at a [`Node`]: an `O_PATH|O_NOFOLLOW` fd for the file, plus the node of its
//! parent directory and its name in that directory. Nodes form a tree of `Arc`s rooted at the
//! export root, so `..` is "my parent node" (the root's parent is the root itself: a walk can
//! never climb above the export), and no host path string is ever resolved from the root.
//!
//! # Reopening an O_PATH fd (Tlopen, Tsetattr)
//! An `O_PATH` fd cannot be read, and Linux offers no `openat(fd, "", flags)` to upgrade it
//! (`/proc/self/fd/N` would work but needs procfs in the gofer's chroot, which we refuse).
//! So:
//! - a directory is reopened with `openat(dir_fd, ".", O_DIRECTORY|...)`: "." in a directory
//!   is always the directory itself;
//! - anything else is reopened with `openat(parent_fd, name, flags|O_NOFOLLOW)` and the result
//!   is checked to be the same inode (st_dev, st_ino) as the held fd; a mismatch (the name was
//!   replaced on the host since the walk) is `ESTALE`. `O_TRUNC` is applied with ftruncate(2)
//!   only after that check, so a swapped name can never truncate the wrong file.
//!
//! Only regular files and directories can be opened: opening a FIFO or device node on the
//! host from the gofer could block the server or reach host devices (`EPERM`).
//!
//! # Extended attributes
//! Txattrwalk fetches the value (or, for an empty name, the name list) at once with
//! fgetxattr/flistxattr and keeps it in the new fid for Tread. Txattrcreate turns a fid into
//! a writer; the value is applied with fsetxattr when its last byte arrives by Twrite (at
//! once for an empty value), so errors come back on a request the client waits for (it does
//! not wait for Rclunk). Removal is Txattrcreate with [`p9::XATTR_REMOVE`] (an rvisor
//! extension: plain 9P2000.L removes on a zero-size create, which cannot set an empty value).
//! The f*xattr calls need a real fd, so they work on the verified reopen of a regular file or
//! directory. Symlinks and special files are never reopened (see above): their attributes go
//! through Linux 6.13's getxattrat & co. on (parent fd, name) with AT_SYMLINK_NOFOLLOW, after
//! checking that the name is still the node's inode (ESTALE otherwise; a host change between
//! that check and the call could only reach another entry of the same directory, never
//! follow a link). Before 6.13 (ENOSYS) they list no attributes, have none to get (ENODATA)
//! and cannot get any (EOPNOTSUPP). Every namespace is passed through; the host decides.
//!
//! # Errors
//! Every handler returns `Result<Rmessage, Errno>`; an error becomes Rlerror and the server
//! carries on (rust-p9's rule: errors while handling a request are never fatal).
//!
//! # Deviations from the protocol, on purpose
//! - Twalk fails as a whole (Rlerror) if any element fails, rather than returning a partial
//!   Rwalk; Linux's v9fs client treats both the same way (net/9p/client.c `p9_client_walk`).
//! - Qid.path is the host inode number and Qid.version is 0.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use abi::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat, mkdirat};
use nix::sys::time::TimeSpec;
use nix::sys::uio::{pread, pwrite};
use nix::unistd::{Gid, Uid, UnlinkatFlags, Whence, lseek, symlinkat, unlinkat};
use p9::{Attr, DirEntry, Qid, Rmessage, SetAttr, StatFs, Tmessage};

use crate::hostfs;

/// The largest msize the server agrees to (the client asks for 512 KiB).
pub(crate) const MAX_MSIZE: u32 = 1 << 20;
/// Smallest msize accepted: a Rgetattr plus headers must always fit.
const MIN_MSIZE: u32 = 4096;
/// AT_REMOVEDIR for Tunlinkat (include/uapi/linux/fcntl.h).
const AT_REMOVEDIR: u32 = 0x200;
/// DT_* values (include/linux/fs_types.h) as carried in Rreaddir.
const DT_DIR: u8 = 4;
const DT_LNK: u8 = 10;

/// Converts a host errno (from nix) into the guest's `Errno`.
pub(crate) fn nix_to_errno(e: nix::errno::Errno) -> Errno {
    // Host and guest are both Linux x86-64, so the numbers agree.
    u16::try_from(e as i32).map_or(Errno::EIO, Errno::from_raw)
}

/// Shorthand for `?` on nix results inside handlers.
trait HostResult<T> {
    fn host(self) -> Result<T, Errno>;
}
impl<T> HostResult<T> for nix::Result<T> {
    fn host(self) -> Result<T, Errno> {
        self.map_err(nix_to_errno)
    }
}

/// What a node is, from its `st_mode` at walk time (the held fd pins the inode, whose type
/// cannot change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    Regular,
    Symlink,
    Other,
}

impl Kind {
    fn of(st: &FileStat) -> Kind {
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFDIR => Kind::Dir,
            SFlag::S_IFREG => Kind::Regular,
            SFlag::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        }
    }
}

/// A host file held by an O_PATH fd, with the way back to its parent.
#[derive(Debug)]
struct Node {
    /// `O_PATH|O_NOFOLLOW|O_CLOEXEC`.
    fd: OwnedFd,
    /// `None` only for the export root.
    parent: Option<Arc<Node>>,
    /// Name in `parent` at walk time (empty for the root).
    name: Vec<u8>,
    kind: Kind,
    dev: u64,
    ino: u64,
}

impl Node {
    fn from_fd(fd: OwnedFd, parent: Option<Arc<Node>>, name: Vec<u8>) -> Result<Node, Errno> {
        let st = fstat(&fd).host()?;
        Ok(Node {
            fd,
            parent,
            name,
            kind: Kind::of(&st),
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    fn qid(&self) -> Qid {
        Qid {
            ty: match self.kind {
                Kind::Dir => p9::qid_type::DIR,
                Kind::Symlink => p9::qid_type::SYMLINK,
                Kind::Regular | Kind::Other => p9::qid_type::FILE,
            },
            version: 0,
            path: self.ino,
        }
    }

    fn stat(&self) -> Result<FileStat, Errno> {
        fstatat(
            &self.fd,
            "",
            AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .host()
    }

    fn require_dir(&self) -> Result<(), Errno> {
        if self.kind == Kind::Dir {
            Ok(())
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    /// Opens the node for I/O (see the module doc for why this goes through the parent).
    /// `flags` must not contain O_CREAT/O_TRUNC; the caller applies truncation after this
    /// returns the verified fd.
    fn reopen(&self, flags: OFlag) -> Result<OwnedFd, Errno> {
        let base = OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY;
        let fd = match self.kind {
            Kind::Dir => openat(
                &self.fd,
                ".",
                flags | base | OFlag::O_DIRECTORY,
                Mode::empty(),
            ),
            Kind::Regular => {
                let parent = self.parent.as_ref().ok_or(Errno::ESTALE)?;
                openat(
                    &parent.fd,
                    self.name.as_slice(),
                    flags | base,
                    Mode::empty(),
                )
            }
            Kind::Symlink => return Err(Errno::ELOOP),
            Kind::Other => return Err(Errno::EPERM),
        }
        .host()?;
        let st = fstat(&fd).host()?;
        if st.st_dev != self.dev || st.st_ino != self.ino {
            return Err(Errno::ESTALE);
        }
        Ok(fd)
    }
}

/// A fid: a node, and once Tlopen/Tlcreate succeeded, an fd open for I/O; or, after
/// Txattrwalk/Txattrcreate, an extended attribute being read or written.
#[derive(Debug)]
struct FidState {
    node: Arc<Node>,
    open: Option<OwnedFd>,
    xattr: Option<XattrFid>,
}

/// The attribute side of a fid (see "Extended attributes" in the module doc).
#[derive(Debug)]
enum XattrFid {
    /// Txattrwalk: the value (or name list) fetched at walk time, read with Tread.
    Read(Vec<u8>),
    /// Txattrcreate: the value arrives with Twrite and is applied with the last byte.
    Write {
        name: Vec<u8>,
        size: usize,
        flags: u32,
        buf: Vec<u8>,
    },
}

/// Where the xattr calls of one request go: the verified reopen of a file or directory
/// (f*xattr), or a symlink's or special file's (parent, name) (*xattrat, not following).
enum XattrTarget {
    Fd(OwnedFd),
    At(Arc<Node>, std::ffi::CString),
}

impl XattrTarget {
    fn at(&self) -> Option<hostfs::AtName<'_>> {
        match self {
            XattrTarget::Fd(_) => None,
            XattrTarget::At(dir, name) => Some(hostfs::AtName {
                dir: dir.fd.as_fd(),
                name,
            }),
        }
    }

    /// The value of `name`, or for an empty `name` the name list. A host without the
    /// *xattrat calls (before Linux 6.13) reports no attributes on symlinks and special files.
    fn get(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        let res = match (self, self.at()) {
            (XattrTarget::Fd(fd), _) if name.is_empty() => hostfs::flistxattr(fd.as_fd()),
            (XattrTarget::Fd(fd), _) => hostfs::fgetxattr(fd.as_fd(), name),
            (_, Some(at)) if name.is_empty() => hostfs::listxattrat(at),
            (_, Some(at)) => hostfs::getxattrat(at, name),
            (_, None) => Err(Errno::EIO),
        };
        match res {
            Err(Errno::ENOSYS) if name.is_empty() => Ok(Vec::new()),
            Err(Errno::ENOSYS) => Err(Errno::ENODATA),
            r => r,
        }
    }

    fn set(&self, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        let res = match (self, self.at()) {
            (XattrTarget::Fd(fd), _) => hostfs::fsetxattr(fd.as_fd(), name, value, flags),
            (_, Some(at)) => hostfs::setxattrat(at, name, value, flags),
            (_, None) => Err(Errno::EIO),
        };
        res.map_err(|e| {
            if e == Errno::ENOSYS {
                Errno::EOPNOTSUPP
            } else {
                e
            }
        })
    }

    fn remove(&self, name: &[u8]) -> Result<(), Errno> {
        let res = match (self, self.at()) {
            (XattrTarget::Fd(fd), _) => hostfs::fremovexattr(fd.as_fd(), name),
            (_, Some(at)) => hostfs::removexattrat(at, name),
            (_, None) => Err(Errno::EIO),
        };
        res.map_err(|e| {
            if e == Errno::ENOSYS {
                Errno::EOPNOTSUPP
            } else {
                e
            }
        })
    }
}

/// Largest attribute value (XATTR_SIZE_MAX).
const XATTR_SIZE_MAX: u64 = 65536;
/// setxattr(2) flags a Txattrcreate may carry.
const XATTR_CREATE: u32 = 1;
const XATTR_REPLACE: u32 = 2;
/// renameat2(2) flags a Trenameat2 may carry.
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;

/// Per-connection server state.
#[derive(Debug)]
pub(crate) struct Server {
    root: Arc<Node>,
    fids: HashMap<u32, FidState>,
    msize: u32,
    is_readonly: bool,
    /// Whether Tlopenfd is served (else EOPNOTSUPP, and the client falls back to Tlopen).
    donates_fds: bool,
    /// The fd a Tlopenfd handler opened, sent beside its reply by the connection loop.
    donated: Option<OwnedFd>,
}

/// Rejects names that are not a single path component: empty, ".", or containing '/' or NUL.
/// ".." is handled by the walk itself.
fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn attr_from_stat(st: &FileStat, qid: Qid) -> Attr {
    // FileStat fields are i64/u64 on x86-64; times before 1970 wrap into u64 as the 9P
    // protocol carries them (Linux v9fs casts them back to signed).
    let as_u64 = |v: i64| u64::from_ne_bytes(v.to_ne_bytes());
    Attr {
        valid: p9::getattr::BASIC,
        qid,
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        nlink: st.st_nlink,
        rdev: st.st_rdev,
        size: as_u64(st.st_size),
        blksize: as_u64(st.st_blksize),
        blocks: as_u64(st.st_blocks),
        atime_sec: as_u64(st.st_atime),
        atime_nsec: as_u64(st.st_atime_nsec),
        mtime_sec: as_u64(st.st_mtime),
        mtime_nsec: as_u64(st.st_mtime_nsec),
        ctime_sec: as_u64(st.st_ctime),
        ctime_nsec: as_u64(st.st_ctime_nsec),
        ..Attr::default()
    }
}

fn qid_of_stat(st: &FileStat) -> Qid {
    Qid {
        ty: match Kind::of(st) {
            Kind::Dir => p9::qid_type::DIR,
            Kind::Symlink => p9::qid_type::SYMLINK,
            Kind::Regular | Kind::Other => p9::qid_type::FILE,
        },
        version: 0,
        path: st.st_ino,
    }
}

/// A 9P offset (u64) as an off_t; offsets past i64::MAX are invalid for files.
fn to_off(offset: u64) -> Result<i64, Errno> {
    i64::try_from(offset).map_err(|_| Errno::EINVAL)
}

impl Server {
    pub(crate) fn new(
        root: OwnedFd,
        is_readonly: bool,
        donates_fds: bool,
    ) -> Result<Server, Errno> {
        let root = Node::from_fd(root, None, Vec::new())?;
        if root.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(Server {
            root: Arc::new(root),
            fids: HashMap::new(),
            msize: MAX_MSIZE,
            is_readonly,
            donates_fds,
            donated: None,
        })
    }

    /// The msize currently in force (for decoding the next request).
    pub(crate) fn msize(&self) -> u32 {
        self.msize
    }

    /// Handles one request. Never fails: errors are Rlerror. The fd, if any, must travel with
    /// the reply (Rlopenfd).
    pub(crate) fn handle(&mut self, msg: Tmessage) -> (Rmessage, Option<OwnedFd>) {
        let res = if self.is_readonly && is_mutation(&msg) {
            Err(Errno::EROFS)
        } else {
            self.dispatch(msg)
        };
        let fd = self.donated.take();
        match res {
            Ok(r) => (r, fd),
            Err(e) => (
                Rmessage::Lerror {
                    ecode: u32::try_from(e.raw()).unwrap_or(5),
                },
                None,
            ),
        }
    }

    fn dispatch(&mut self, msg: Tmessage) -> Result<Rmessage, Errno> {
        match msg {
            Tmessage::Version { msize, version } => self.version(msize, &version),
            Tmessage::Auth { .. } => Err(Errno::EOPNOTSUPP),
            Tmessage::Attach { fid, .. } => self.attach(fid),
            // Requests are handled one at a time, so nothing is ever in flight to cancel.
            Tmessage::Flush { .. } => Ok(Rmessage::Flush),
            Tmessage::Walk { fid, newfid, names } => self.walk(fid, newfid, &names),
            Tmessage::Read { fid, offset, count } => self.read(fid, offset, count),
            Tmessage::Write { fid, offset, data } => self.write(fid, offset, &data),
            Tmessage::Clunk { fid } => self
                .fids
                .remove(&fid)
                .map(|_| Rmessage::Clunk)
                .ok_or(Errno::EBADF),
            Tmessage::Statfs { fid } => Ok(Rmessage::Statfs(self.statfs(fid)?)),
            Tmessage::Lopen { fid, flags } => self.lopen(fid, flags),
            Tmessage::Lopenfd { fid, flags } => self.lopenfd(fid, flags),
            Tmessage::Lcreate {
                fid,
                name,
                flags,
                mode,
                ..
            } => self.lcreate(fid, &name, flags, mode),
            Tmessage::Symlink {
                dfid, name, target, ..
            } => self.symlink(dfid, &name, &target),
            Tmessage::Readlink { fid } => self.readlink(fid),
            Tmessage::Getattr { fid, .. } => {
                let node = self.node(fid)?;
                Ok(Rmessage::Getattr(attr_from_stat(&node.stat()?, node.qid())))
            }
            Tmessage::Setattr { fid, attr } => self.setattr(fid, &attr),
            Tmessage::Readdir { fid, offset, count } => self.readdir(fid, offset, count),
            Tmessage::Fsync { fid, datasync } => self.fsync(fid, datasync),
            Tmessage::Mkdir {
                dfid, name, mode, ..
            } => self.mkdir(dfid, &name, mode),
            Tmessage::Renameat {
                olddfid,
                oldname,
                newdfid,
                newname,
            } => self.renameat(olddfid, &oldname, newdfid, &newname),
            Tmessage::Unlinkat { dfid, name, flags } => self.unlinkat(dfid, &name, flags),
            Tmessage::Renameat2 {
                olddfid,
                oldname,
                newdfid,
                newname,
                flags,
            } => self.renameat2(olddfid, &oldname, newdfid, &newname, flags),
            Tmessage::Mknod {
                dfid, name, mode, ..
            } => self.mknod(dfid, &name, mode),
            Tmessage::Link { dfid, fid, name } => self.link(dfid, fid, &name),
            Tmessage::Xattrwalk { fid, newfid, name } => self.xattrwalk(fid, newfid, &name),
            Tmessage::Xattrcreate {
                fid,
                name,
                attr_size,
                flags,
            } => self.xattrcreate(fid, &name, attr_size, flags),
            // Not implemented: the old path-less rename/remove. The sentry does not send them.
            Tmessage::Rename { .. } | Tmessage::Remove { .. } => Err(Errno::EOPNOTSUPP),
        }
    }

    fn fid(&self, fid: u32) -> Result<&FidState, Errno> {
        self.fids.get(&fid).ok_or(Errno::EBADF)
    }

    fn node(&self, fid: u32) -> Result<Arc<Node>, Errno> {
        Ok(Arc::clone(&self.fid(fid)?.node))
    }

    fn open_fd(&self, fid: u32) -> Result<BorrowedFd<'_>, Errno> {
        self.fid(fid)?
            .open
            .as_ref()
            .map(AsFd::as_fd)
            .ok_or(Errno::EBADF)
    }

    /// Tversion: negotiate msize, reset the session (version(5): all fids are clunked).
    fn version(&mut self, msize: u32, version: &[u8]) -> Result<Rmessage, Errno> {
        self.fids.clear();
        if version != p9::VERSION_9P2000_L {
            return Ok(Rmessage::Version {
                msize: self.msize,
                version: b"unknown".to_vec(),
            });
        }
        if msize < MIN_MSIZE {
            return Err(Errno::EINVAL);
        }
        self.msize = msize.min(MAX_MSIZE);
        Ok(Rmessage::Version {
            msize: self.msize,
            version: p9::VERSION_9P2000_L.to_vec(),
        })
    }

    fn attach(&mut self, fid: u32) -> Result<Rmessage, Errno> {
        if self.fids.contains_key(&fid) {
            return Err(Errno::EBADF);
        }
        let qid = self.root.qid();
        self.fids.insert(
            fid,
            FidState {
                node: Arc::clone(&self.root),
                open: None,
                xattr: None,
            },
        );
        Ok(Rmessage::Attach { qid })
    }

    /// Twalk: each element is opened O_PATH|O_NOFOLLOW relative to the previous one. A symlink
    /// can be the last element (so the client can readlink it) but never an intermediate one:
    /// the client resolves symlinks itself.
    fn walk(&mut self, fid: u32, newfid: u32, names: &[Vec<u8>]) -> Result<Rmessage, Errno> {
        let mut cur = self.node(fid)?;
        if newfid != fid && self.fids.contains_key(&newfid) {
            return Err(Errno::EBADF);
        }
        let mut qids = Vec::with_capacity(names.len());
        for name in names {
            cur = self.walk_one(&cur, name)?;
            qids.push(cur.qid());
        }
        // A fid that is open for I/O cannot be walked to a new file in place; the client
        // always walks to a fresh fid or clones, so refuse the odd case.
        if newfid == fid && self.fid(fid)?.open.is_some() {
            return Err(Errno::EBUSY);
        }
        self.fids.insert(
            newfid,
            FidState {
                node: cur,
                open: None,
                xattr: None,
            },
        );
        Ok(Rmessage::Walk { qids })
    }

    fn walk_one(&self, cur: &Arc<Node>, name: &[u8]) -> Result<Arc<Node>, Errno> {
        match cur.kind {
            Kind::Dir => {}
            Kind::Symlink => return Err(Errno::ELOOP),
            Kind::Regular | Kind::Other => return Err(Errno::ENOTDIR),
        }
        if name == b".." {
            // The root's parent is the root: never above the export.
            return Ok(Arc::clone(cur.parent.as_ref().unwrap_or(&self.root)));
        }
        check_name(name)?;
        let fd = openat(
            &cur.fd,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .host()?;
        Ok(Arc::new(Node::from_fd(
            fd,
            Some(Arc::clone(cur)),
            name.to_vec(),
        )?))
    }

    fn iounit(&self) -> u32 {
        self.msize.saturating_sub(p9::TWRITE_OVERHEAD)
    }

    /// Tlopen: `flags` are Linux open(2) flags; only the access mode, O_TRUNC, O_APPEND,
    /// O_DIRECTORY, O_NONBLOCK, O_DSYNC/O_SYNC and O_NOATIME are honoured (O_CREAT belongs to
    /// Tlcreate; O_PATH and friends make no sense here).
    fn lopen(&mut self, fid: u32, flags: u32) -> Result<Rmessage, Errno> {
        let state = self.fid(fid)?;
        if state.open.is_some() {
            return Err(Errno::EBUSY);
        }
        let node = Arc::clone(&state.node);
        let (oflags, is_trunc) = open_flags(flags)?;
        if self.is_readonly && (is_trunc || (oflags & OFlag::O_ACCMODE) != OFlag::O_RDONLY) {
            return Err(Errno::EROFS);
        }
        if node.kind == Kind::Dir && (oflags & OFlag::O_ACCMODE) != OFlag::O_RDONLY {
            return Err(Errno::EISDIR);
        }
        if flags & (OFlag::O_DIRECTORY.bits() as u32) != 0 && node.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        let fd = node.reopen(oflags)?;
        if is_trunc && node.kind == Kind::Regular {
            nix::unistd::ftruncate(&fd, 0).host()?;
        }
        let qid = node.qid();
        if let Some(st) = self.fids.get_mut(&fid) {
            st.open = Some(fd);
        }
        Ok(Rmessage::Lopen {
            qid,
            iounit: self.iounit(),
        })
    }

    /// Tlopenfd (rvisor extension): open the regular file `fid` names, exactly as Tlopen
    /// would (same flag, read-only and same-inode rules), but hand the fd to the client
    /// instead of keeping it, so the sentry reads and writes the data with pread/pwrite and
    /// no round trip. The fid stays unopened. The fd never has O_APPEND (the client positions
    /// every write itself), and its access mode is what the client asked for: a read-only
    /// export only ever donates read-only fds, which the host kernel enforces.
    fn lopenfd(&mut self, fid: u32, flags: u32) -> Result<Rmessage, Errno> {
        if !self.donates_fds {
            return Err(Errno::EOPNOTSUPP);
        }
        let node = self.node(fid)?;
        if node.kind != Kind::Regular {
            return Err(Errno::EINVAL);
        }
        let (oflags, is_trunc) = open_flags(flags)?;
        let oflags = oflags & !(OFlag::O_APPEND | OFlag::O_DIRECTORY | OFlag::O_NONBLOCK);
        if self.is_readonly && (is_trunc || (oflags & OFlag::O_ACCMODE) != OFlag::O_RDONLY) {
            return Err(Errno::EROFS);
        }
        let fd = node.reopen(oflags)?;
        if is_trunc {
            nix::unistd::ftruncate(&fd, 0).host()?;
        }
        let attr = attr_from_stat(&fstat(&fd).host()?, node.qid());
        self.donated = Some(fd);
        Ok(Rmessage::Lopenfd(attr))
    }

    fn read(&self, fid: u32, offset: u64, count: u32) -> Result<Rmessage, Errno> {
        if let Some(x) = &self.fid(fid)?.xattr {
            let XattrFid::Read(data) = x else {
                return Err(Errno::EBADF);
            };
            let start = usize::try_from(offset).map_err(|_| Errno::EINVAL)?;
            let max = self.msize.saturating_sub(p9::RREAD_OVERHEAD).min(count);
            let end = start.saturating_add(usize::try_from(max).map_err(|_| Errno::EINVAL)?);
            let data = data
                .get(start.min(data.len())..end.min(data.len()))
                .unwrap_or_default()
                .to_vec();
            return Ok(Rmessage::Read { data });
        }
        let fd = self.open_fd(fid)?;
        let max = self.msize.saturating_sub(p9::RREAD_OVERHEAD).min(count);
        let mut data = vec![0u8; usize::try_from(max).map_err(|_| Errno::EINVAL)?];
        let n = pread(fd, &mut data, to_off(offset)?).host()?;
        data.truncate(n);
        Ok(Rmessage::Read { data })
    }

    fn write(&mut self, fid: u32, offset: u64, data: &[u8]) -> Result<Rmessage, Errno> {
        if self.fid(fid)?.xattr.is_some() {
            return self.xattr_write(fid, offset, data);
        }
        let fd = self.open_fd(fid)?;
        let n = pwrite(fd, data, to_off(offset)?).host()?;
        Ok(Rmessage::Write {
            count: u32::try_from(n).map_err(|_| Errno::EIO)?,
        })
    }

    /// Treaddir: seek the open directory to `offset` (0 or a previous entry's `offset`, which
    /// is the host's d_off: the position after that entry), then convert getdents64 records
    /// until the reply budget is full. Entries that do not fit are read again next time.
    fn readdir(&self, fid: u32, offset: u64, count: u32) -> Result<Rmessage, Errno> {
        let fd = self.open_fd(fid)?;
        let budget = usize::try_from(self.msize.saturating_sub(p9::RREADDIR_OVERHEAD).min(count))
            .map_err(|_| Errno::EINVAL)?;
        // d_off is an opaque signed 64-bit cookie (ext4 uses hashes); pass its bits back as is.
        lseek(
            fd,
            i64::from_ne_bytes(offset.to_ne_bytes()),
            Whence::SeekSet,
        )
        .host()?;
        let mut entries = Vec::new();
        let mut used = 0usize;
        let mut buf = vec![0u8; 32 * 1024];
        'fill: loop {
            let n = hostfs::getdents64(fd, &mut buf)?;
            if n == 0 {
                break;
            }
            for d in hostfs::parse_dirents(buf.get(..n).unwrap_or_default()) {
                let size = p9::dirent_wire_size(d.name.len());
                if used.saturating_add(size) > budget {
                    // getdents64(2): "EINVAL Result buffer is too small" when not even one
                    // entry fits; otherwise the rest is left for the next request.
                    if entries.is_empty() {
                        return Err(Errno::EINVAL);
                    }
                    break 'fill;
                }
                used = used.saturating_add(size);
                let qty = match d.ty {
                    DT_DIR => p9::qid_type::DIR,
                    DT_LNK => p9::qid_type::SYMLINK,
                    _ => p9::qid_type::FILE,
                };
                entries.push(DirEntry {
                    qid: Qid {
                        ty: qty,
                        version: 0,
                        path: d.ino,
                    },
                    offset: d.off,
                    ty: d.ty,
                    name: d.name,
                });
            }
        }
        Ok(Rmessage::Readdir { entries })
    }

    fn readlink(&self, fid: u32) -> Result<Rmessage, Errno> {
        let node = self.node(fid)?;
        if node.kind != Kind::Symlink {
            return Err(Errno::EINVAL);
        }
        // readlinkat(2) with an empty path reads the link the fd refers to (Linux >= 2.6.39).
        let target = readlinkat(&node.fd, "").host()?;
        Ok(Rmessage::Readlink {
            target: std::os::unix::ffi::OsStringExt::into_vec(target),
        })
    }

    fn statfs(&self, fid: u32) -> Result<StatFs, Errno> {
        hostfs::fstatfs(self.node(fid)?.fd.as_fd())
    }

    fn fsync(&self, fid: u32, datasync: u32) -> Result<Rmessage, Errno> {
        let fd = self.open_fd(fid)?;
        if datasync != 0 {
            nix::unistd::fdatasync(fd).host()?;
        } else {
            nix::unistd::fsync(fd).host()?;
        }
        Ok(Rmessage::Fsync)
    }

    /// Tlcreate: create and open `name` in directory `fid`; `fid` then names the new file.
    fn lcreate(&mut self, fid: u32, name: &[u8], flags: u32, mode: u32) -> Result<Rmessage, Errno> {
        let dir = self.node(fid)?;
        dir.require_dir()?;
        if self.fid(fid)?.open.is_some() {
            return Err(Errno::EBUSY);
        }
        check_name(name)?;
        let (oflags, _) = open_flags(flags)?;
        let fd = openat(
            &dir.fd,
            name,
            oflags | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode & 0o7777),
        )
        .host()?;
        let path_fd = openat(
            &dir.fd,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .host()?;
        let node = Node::from_fd(path_fd, Some(dir), name.to_vec())?;
        let st = fstat(&fd).host()?;
        if st.st_dev != node.dev || st.st_ino != node.ino {
            return Err(Errno::ESTALE);
        }
        let qid = node.qid();
        self.fids.insert(
            fid,
            FidState {
                node: Arc::new(node),
                open: Some(fd),
                xattr: None,
            },
        );
        Ok(Rmessage::Lcreate {
            qid,
            iounit: self.iounit(),
        })
    }

    fn mkdir(&self, dfid: u32, name: &[u8], mode: u32) -> Result<Rmessage, Errno> {
        let dir = self.node(dfid)?;
        dir.require_dir()?;
        check_name(name)?;
        mkdirat(&dir.fd, name, Mode::from_bits_truncate(mode & 0o7777)).host()?;
        let st = fstatat(&dir.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).host()?;
        Ok(Rmessage::Mkdir {
            qid: qid_of_stat(&st),
        })
    }

    fn symlink(&self, dfid: u32, name: &[u8], target: &[u8]) -> Result<Rmessage, Errno> {
        let dir = self.node(dfid)?;
        dir.require_dir()?;
        check_name(name)?;
        if target.contains(&0) {
            return Err(Errno::EINVAL);
        }
        symlinkat(target, &dir.fd, name).host()?;
        let st = fstatat(&dir.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).host()?;
        Ok(Rmessage::Symlink {
            qid: qid_of_stat(&st),
        })
    }

    fn unlinkat(&self, dfid: u32, name: &[u8], flags: u32) -> Result<Rmessage, Errno> {
        let dir = self.node(dfid)?;
        dir.require_dir()?;
        check_name(name)?;
        let how = match flags {
            0 => UnlinkatFlags::NoRemoveDir,
            AT_REMOVEDIR => UnlinkatFlags::RemoveDir,
            _ => return Err(Errno::EINVAL),
        };
        unlinkat(&dir.fd, name, how).host()?;
        Ok(Rmessage::Unlinkat)
    }

    fn renameat(
        &self,
        olddfid: u32,
        oldname: &[u8],
        newdfid: u32,
        newname: &[u8],
    ) -> Result<Rmessage, Errno> {
        let old = self.node(olddfid)?;
        let new = self.node(newdfid)?;
        old.require_dir()?;
        new.require_dir()?;
        check_name(oldname)?;
        check_name(newname)?;
        // Fids already walked to the renamed file keep their old (parent, name); their held
        // fd stays valid, and a later reopen fails with ESTALE instead of opening the wrong
        // file. The sentry re-walks after a rename.
        renameat(&old.fd, oldname, &new.fd, newname).host()?;
        Ok(Rmessage::Renameat)
    }

    /// Trenameat2 (rvisor extension): renameat2(2) with RENAME_NOREPLACE or RENAME_EXCHANGE.
    fn renameat2(
        &self,
        olddfid: u32,
        oldname: &[u8],
        newdfid: u32,
        newname: &[u8],
        flags: u32,
    ) -> Result<Rmessage, Errno> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
            || flags == RENAME_NOREPLACE | RENAME_EXCHANGE
        {
            return Err(Errno::EINVAL);
        }
        let old = self.node(olddfid)?;
        let new = self.node(newdfid)?;
        old.require_dir()?;
        new.require_dir()?;
        check_name(oldname)?;
        check_name(newname)?;
        let how = nix::fcntl::RenameFlags::from_bits(flags).ok_or(Errno::EINVAL)?;
        nix::fcntl::renameat2(&old.fd, oldname, &new.fd, newname, how).host()?;
        Ok(Rmessage::Renameat2)
    }

    /// Tmknod: fifos, sockets and regular files. Device nodes are refused (EPERM) whatever
    /// the gofer's capabilities, as gVisor's gofer does: a node made here would stay on the
    /// host, where host processes could open it.
    fn mknod(&self, dfid: u32, name: &[u8], mode: u32) -> Result<Rmessage, Errno> {
        let dir = self.node(dfid)?;
        dir.require_dir()?;
        check_name(name)?;
        let kind = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
        let kind = match kind {
            SFlag::S_IFIFO | SFlag::S_IFSOCK | SFlag::S_IFREG => kind,
            SFlag::S_IFCHR | SFlag::S_IFBLK => return Err(Errno::EPERM),
            _ => return Err(Errno::EINVAL),
        };
        nix::sys::stat::mknodat(
            &dir.fd,
            name,
            kind,
            Mode::from_bits_truncate(mode & 0o7777),
            0,
        )
        .host()?;
        let st = fstatat(&dir.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).host()?;
        Ok(Rmessage::Mknod {
            qid: qid_of_stat(&st),
        })
    }

    /// Tlink: a new name `name` in directory `dfid` for the file `fid`. Linked through the
    /// held fd (AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH); without that capability,
    /// through the file's (parent, name), checked to still be the same inode afterwards
    /// (ESTALE, and the new name removed, if the name was replaced since the walk).
    fn link(&self, dfid: u32, fid: u32, name: &[u8]) -> Result<Rmessage, Errno> {
        let dir = self.node(dfid)?;
        dir.require_dir()?;
        check_name(name)?;
        let target = self.node(fid)?;
        if target.kind == Kind::Dir {
            return Err(Errno::EPERM);
        }
        let by_fd = nix::unistd::linkat(&target.fd, "", &dir.fd, name, AtFlags::AT_EMPTY_PATH);
        match by_fd {
            Ok(()) => return Ok(Rmessage::Link),
            Err(nix::errno::Errno::ENOENT) if target.parent.is_some() => {}
            Err(e) => return Err(nix_to_errno(e)),
        }
        let parent = target.parent.as_ref().ok_or(Errno::ESTALE)?;
        nix::unistd::linkat(
            &parent.fd,
            target.name.as_slice(),
            &dir.fd,
            name,
            AtFlags::empty(),
        )
        .host()?;
        let st = fstatat(&dir.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).host()?;
        if st.st_dev != target.dev || st.st_ino != target.ino {
            let _ = unlinkat(&dir.fd, name, UnlinkatFlags::NoRemoveDir);
            return Err(Errno::ESTALE);
        }
        Ok(Rmessage::Link)
    }

    /// What xattr calls on `node` go through (see "Extended attributes" in the module doc).
    fn xattr_target(node: &Node) -> Result<XattrTarget, Errno> {
        match node.kind {
            Kind::Dir | Kind::Regular => Ok(XattrTarget::Fd(node.reopen(OFlag::O_RDONLY)?)),
            Kind::Symlink | Kind::Other => {
                let parent = node.parent.as_ref().ok_or(Errno::ESTALE)?;
                let st = fstatat(
                    &parent.fd,
                    node.name.as_slice(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .host()?;
                if st.st_dev != node.dev || st.st_ino != node.ino {
                    return Err(Errno::ESTALE);
                }
                let name =
                    std::ffi::CString::new(node.name.as_slice()).map_err(|_| Errno::EINVAL)?;
                Ok(XattrTarget::At(Arc::clone(parent), name))
            }
        }
    }

    /// Txattrwalk: `newfid` gets the value of `name` (or the name list for an empty name),
    /// fetched now and read back with Tread.
    fn xattrwalk(&mut self, fid: u32, newfid: u32, name: &[u8]) -> Result<Rmessage, Errno> {
        let node = self.node(fid)?;
        if newfid != fid && self.fids.contains_key(&newfid) {
            return Err(Errno::EBADF);
        }
        let data = Self::xattr_target(&node)?.get(name)?;
        let size = u64::try_from(data.len()).map_err(|_| Errno::EIO)?;
        self.fids.insert(
            newfid,
            FidState {
                node,
                open: None,
                xattr: Some(XattrFid::Read(data)),
            },
        );
        Ok(Rmessage::Xattrwalk { size })
    }

    /// Txattrcreate: `fid` becomes the writer of attribute `name`. An empty value is set at
    /// once, [`p9::XATTR_REMOVE`] removes at once; otherwise the value is set when its last
    /// byte arrives (errors come back on that Twrite, not on the clunk).
    fn xattrcreate(
        &mut self,
        fid: u32,
        name: &[u8],
        attr_size: u64,
        flags: u32,
    ) -> Result<Rmessage, Errno> {
        let state = self.fid(fid)?;
        if state.open.is_some() || state.xattr.is_some() {
            return Err(Errno::EBUSY);
        }
        if name.is_empty() {
            return Err(Errno::EINVAL);
        }
        if attr_size > XATTR_SIZE_MAX {
            return Err(Errno::E2BIG);
        }
        let node = Arc::clone(&state.node);
        let is_remove = flags & p9::XATTR_REMOVE != 0;
        if flags & !(XATTR_CREATE | XATTR_REPLACE | p9::XATTR_REMOVE) != 0
            || (is_remove && attr_size != 0)
        {
            return Err(Errno::EINVAL);
        }
        let size = usize::try_from(attr_size).map_err(|_| Errno::EINVAL)?;
        if is_remove {
            Self::xattr_target(&node)?.remove(name)?;
        } else if size == 0 {
            Self::xattr_target(&node)?.set(name, &[], flags)?;
        }
        if let Some(st) = self.fids.get_mut(&fid) {
            st.xattr = Some(XattrFid::Write {
                name: name.to_vec(),
                size,
                flags: flags & (XATTR_CREATE | XATTR_REPLACE),
                buf: Vec::with_capacity(size),
            });
        }
        Ok(Rmessage::Xattrcreate)
    }

    /// Twrite on a Txattrcreate fid: appends (in order, no gaps) and applies the value with
    /// the last byte.
    fn xattr_write(&mut self, fid: u32, offset: u64, data: &[u8]) -> Result<Rmessage, Errno> {
        let state = self.fids.get_mut(&fid).ok_or(Errno::EBADF)?;
        let node = Arc::clone(&state.node);
        let Some(XattrFid::Write {
            name,
            size,
            flags,
            buf,
        }) = state.xattr.as_mut()
        else {
            return Err(Errno::EBADF);
        };
        if usize::try_from(offset).ok() != Some(buf.len())
            || buf.len().saturating_add(data.len()) > *size
        {
            return Err(Errno::EINVAL);
        }
        buf.extend_from_slice(data);
        if buf.len() == *size {
            Self::xattr_target(&node)?.set(name, buf, *flags)?;
        }
        Ok(Rmessage::Write {
            count: u32::try_from(data.len()).map_err(|_| Errno::EIO)?,
        })
    }

    /// Tsetattr. Ownership changes work on the O_PATH fd (fchownat with AT_EMPTY_PATH);
    /// mode, size and times need a real open fd, obtained with the verified reopen.
    fn setattr(&self, fid: u32, a: &SetAttr) -> Result<Rmessage, Errno> {
        use p9::setattr as s;
        let node = self.node(fid)?;
        if a.valid & (s::UID | s::GID) != 0 {
            let uid = (a.valid & s::UID != 0).then(|| Uid::from_raw(a.uid));
            let gid = (a.valid & s::GID != 0).then(|| Gid::from_raw(a.gid));
            nix::unistd::fchownat(
                &node.fd,
                "",
                uid,
                gid,
                AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .host()?;
        }
        let needs_fd = s::MODE | s::SIZE | s::ATIME | s::MTIME;
        if a.valid & needs_fd == 0 {
            return Ok(Rmessage::Setattr);
        }
        let access = if a.valid & s::SIZE != 0 {
            OFlag::O_WRONLY
        } else {
            OFlag::O_RDONLY
        };
        let fd = node.reopen(access)?;
        if a.valid & s::MODE != 0 {
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(a.mode & 0o7777)).host()?;
        }
        if a.valid & s::SIZE != 0 {
            nix::unistd::ftruncate(&fd, to_off(a.size)?).host()?;
        }
        if a.valid & (s::ATIME | s::MTIME) != 0 {
            let pick = |set: u32, explicit: u32, sec: u64, nsec: u64| -> Result<TimeSpec, Errno> {
                if a.valid & set == 0 {
                    Ok(TimeSpec::UTIME_OMIT)
                } else if a.valid & explicit == 0 {
                    Ok(TimeSpec::UTIME_NOW)
                } else {
                    let nsec = i64::try_from(nsec).map_err(|_| Errno::EINVAL)?;
                    Ok(TimeSpec::new(to_off(sec)?, nsec))
                }
            };
            let atime = pick(s::ATIME, s::ATIME_SET, a.atime_sec, a.atime_nsec)?;
            let mtime = pick(s::MTIME, s::MTIME_SET, a.mtime_sec, a.mtime_nsec)?;
            nix::sys::stat::futimens(&fd, &atime, &mtime).host()?;
        }
        Ok(Rmessage::Setattr)
    }
}

/// Requests that change the host filesystem (refused with EROFS in readonly mode). Tlopen
/// for writing is checked in `lopen`, since its flags decide.
fn is_mutation(msg: &Tmessage) -> bool {
    matches!(
        msg,
        Tmessage::Write { .. }
            | Tmessage::Lcreate { .. }
            | Tmessage::Symlink { .. }
            | Tmessage::Mknod { .. }
            | Tmessage::Rename { .. }
            | Tmessage::Setattr { .. }
            | Tmessage::Link { .. }
            | Tmessage::Mkdir { .. }
            | Tmessage::Renameat { .. }
            | Tmessage::Unlinkat { .. }
            | Tmessage::Remove { .. }
            | Tmessage::Xattrcreate { .. }
            | Tmessage::Renameat2 { .. }
    )
}

/// Splits Linux open flags from the wire into the host flags we pass on (without O_TRUNC) and
/// whether O_TRUNC was asked for. Unknown bits are ignored, as open(2) does.
fn open_flags(flags: u32) -> Result<(OFlag, bool), Errno> {
    let raw = i32::from_ne_bytes(flags.to_ne_bytes());
    let wire = OFlag::from_bits_truncate(raw);
    let acc = wire & OFlag::O_ACCMODE;
    if acc == OFlag::O_ACCMODE {
        return Err(Errno::EINVAL);
    }
    let keep = OFlag::O_APPEND
        | OFlag::O_NONBLOCK
        | OFlag::O_DSYNC
        | OFlag::O_SYNC
        | OFlag::O_NOATIME
        | OFlag::O_DIRECTORY;
    Ok((acc | (wire & keep), wire.contains(OFlag::O_TRUNC)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_one_component_are_rejected() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b"] {
            assert_eq!(check_name(bad), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(check_name(b"..."), Ok(()));
        assert_eq!(check_name(b"file.txt"), Ok(()));
    }

    #[test]
    fn open_flags_keep_access_mode_and_split_trunc() {
        let (f, is_trunc) = open_flags(0o1 | 0o1000 | 0o100).unwrap(); // O_WRONLY|O_TRUNC|O_CREAT
        assert_eq!(f, OFlag::O_WRONLY);
        assert!(is_trunc);
        let (f, is_trunc) = open_flags(0o2000).unwrap(); // O_APPEND
        assert_eq!(f, OFlag::O_RDONLY | OFlag::O_APPEND);
        assert!(!is_trunc);
        assert_eq!(open_flags(3), Err(Errno::EINVAL));
    }

    #[test]
    fn mutations_are_classified() {
        assert!(is_mutation(&Tmessage::Mkdir {
            dfid: 0,
            name: b"x".to_vec(),
            mode: 0,
            gid: 0
        }));
        assert!(!is_mutation(&Tmessage::Read {
            fid: 0,
            offset: 0,
            count: 1
        }));
        assert!(!is_mutation(&Tmessage::Lopen { fid: 0, flags: 1 }));
    }
}
