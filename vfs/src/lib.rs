//! The sentry's virtual filesystem: dentries and mounts, path resolution, open file
//! descriptions, and the filesystems behind them.
//!
//! Key types:
//! - [`MountNamespace`], [`VfsPath`] (a (mount, dentry) location), [`Lookup`] (a path walk
//!   from a root and a start directory by some [`Creds`]) — in `mount.rs` and `lookup.rs`;
//! - [`OpenFile`] (an open file description; closed by `Drop`) — in `file.rs`;
//! - the traits filesystems implement: [`Filesystem`], [`Inode`], [`FileOps`] — in `inode.rs`;
//! - filesystems: [`tmpfs`] (in-memory; also the base of [`devfs`]), [`p9fs`] (the rootfs and
//!   bind mounts served by the gofer over 9P2000.L), and [`hostfd`] (stdio fds handed in by the
//!   runtime). Character devices (`/dev/null`...) live in `device.rs` and are opened by device
//!   number from whichever filesystem holds the node, as on Linux.
//!
//! Neighbours: the sentry's syscall handlers call [`Lookup`] and [`OpenFile`]; its `mm` reads
//! file pages through [`OpenFile::pread`], and maps tmpfs files' own MemoryFile pages through
//! [`OpenFile::memfile_page`] (`MAP_SHARED` of a 9P file stays a private copy: p9fs files do
//! not answer it); [`memfile`] is the MemoryFile (owned by the mm work), which tmpfs keeps
//! file data in; [`p9client`] is the 9P client (owned by the p9 work) that [`p9fs`] is built
//! on.
//!
//! inotify(7) ([`inotify`]) is hooked here in the core too: `lookup.rs` reports name
//! operations, `file.rs` I/O and closes, after the filesystem call succeeded.
//!
//! Permission checks (mode bits, uid/gid/groups, uid 0 as CAP_DAC_OVERRIDE) are done here in
//! the core (`perm.rs`), not in the filesystems.
//!
//! # Lock order
//! 1. `Mount::children` (the mount table of one mount) — taken alone;
//! 2. `Dentry::children` — never two at once (rename updates the cache one directory at a
//!    time); `Dentry::link` may be taken while holding a `children` lock, not the reverse.
//!    A lookup calls the filesystem's `Inode::lookup` while holding the parent's `children`
//!    lock (so one name is looked up once), hence:
//! 3. filesystem-internal locks (tmpfs: see `tmpfs.rs`; p9fs: attribute caches, then the
//!    9P client's connection lock);
//! 4. `OpenFile::pos`, then `OpenFile::dir`; `FileOps` and `Inode` methods run under `pos`
//!    and may take filesystem locks, never VFS ones.
//! 5. the file-lock table ([`lock`]), a leaf: taken with none of the above held (a file's
//!    lock key is computed from its stat before), then a file's lock wait queue.
//!
//! Blocking under a lock: p9fs round trips happen under the parent dentry's `children` lock
//! (lookups in one directory are serialized) and under `OpenFile::pos` for reads and writes of
//! one description. Host-fd reads hold no lock for non-seekable files (a blocking terminal
//! read must not stall other users of the description). Direct transfers
//! (`OpenFile::read_direct`/`write_direct`: tmpfs, donated gofer fds) take `pos`, then the
//! caller's address-space lock (sentry `mm`), then the file's own locks, for the copy or host
//! pread/pwrite into the app's pages.
#![deny(unsafe_code)]

pub mod devfs;
pub mod device;
mod file;
pub mod hostfd;
mod inode;
pub mod inotify;
pub mod lock;
mod lookup;
pub mod memfile;
mod mount;
pub mod overlay;
pub mod p9client;
pub mod p9fs;
pub mod perm;
pub mod tmpfs;
pub mod waiter;
pub mod xattr;

pub use abi::{Errno, SysResult};
pub use file::{FileOwner, OpenFile};
pub use inode::{
    DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind, MapToken, RenameFlags, SetAttr,
    anon_inode_stat, new_anon_dev, now,
};
pub use lookup::{Lookup, Resolve, TimeChange};
pub use mount::{
    Dentry, MAX_EVICTABLE, Mount, MountNamespace, VfsPath, evictable_dentries,
    set_dentry_cache_limit,
};

/// Filesystem credentials of the caller: the filesystem uid/gid, supplementary groups, and
/// the effective capabilities (`abi::cap` bits) that override file permissions
/// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN, CAP_FSETID, CAP_MKNOD), as
/// Linux checks them. The default is uid 0 *without* capabilities; [`Creds::root`] has all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    /// Filesystem (effective) user id.
    pub uid: u32,
    /// Filesystem (effective) group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Effective capabilities (bit `n` = capability `n`).
    pub caps: u64,
}

impl Creds {
    /// uid 0, gid 0, no supplementary groups, every capability.
    pub fn root() -> Creds {
        Creds {
            caps: abi::cap::CAP_FULL_SET,
            ..Creds::default()
        }
    }

    /// Whether capability `cap` is in the effective set.
    pub fn has_cap(&self, cap: u32) -> bool {
        self.caps & abi::cap::bit(cap) != 0
    }

    /// Whether the caller is in group `gid` (filesystem gid or a supplementary group).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Guest memory, implemented by the sentry's mm (used by ioctl).
pub trait UserMemory {
    /// Copies `dst.len()` bytes from guest address `addr` (EFAULT if unmapped).
    fn copy_in(&self, addr: u64, dst: &mut [u8]) -> SysResult<()>;
    /// Copies `src` to guest address `addr` (EFAULT if unmapped).
    fn copy_out(&self, addr: u64, src: &[u8]) -> SysResult<()>;
}
