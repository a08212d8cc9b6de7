//! devfs: the sandbox's /dev, a tmpfs populated with the nodes containers expect, with the
//! modes and device numbers of a Linux devtmpfs as runc sets it up: null, zero, full, random,
//! urandom, tty (character devices, 0666, root-owned), the fd/stdin/stdout/stderr symlinks
//! into /proc/self/fd, and the pts/ and shm/ (1777) directories.
//!
//! The nodes open through `device.rs` by device number; /dev/tty and the ptmx that the
//! `ptmx -> pts/ptmx` symlink reaches (devpts, mounted on pts/) are drivers the sentry
//! registers (`sentry/src/tty`); without them /dev/tty opens with ENXIO.

use std::sync::Arc;

use crate::device::{
    FULL_MINOR, MEM_MAJOR, NULL_MINOR, RANDOM_MINOR, TTYAUX_MAJOR, URANDOM_MINOR, ZERO_MINOR,
};
use crate::inode::{Filesystem, InodeKind};
use crate::memfile::MemoryFile;
use crate::tmpfs::Tmpfs;
use crate::{Creds, SysResult};

/// A new /dev; regular files created in it keep their pages in `mf`.
pub fn new_filesystem(mf: Arc<MemoryFile>) -> Arc<dyn Filesystem> {
    let fs = Tmpfs::new(0o755, &Creds::root(), mf);
    if let Err(e) = populate(&fs) {
        // Only EEXIST/ENOMEM-like failures are possible on a fresh tmpfs; say so and go on
        // with what was created.
        tracing::error!(target: "vfs::devfs", ?e, "populating /dev failed");
    }
    fs
}

fn populate(fs: &Tmpfs) -> SysResult<()> {
    let root = fs.root_inode();
    let creds = Creds::root();
    let devs: [(&[u8], u32, u32); 6] = [
        (b"null", MEM_MAJOR, NULL_MINOR),
        (b"zero", MEM_MAJOR, ZERO_MINOR),
        (b"full", MEM_MAJOR, FULL_MINOR),
        (b"random", MEM_MAJOR, RANDOM_MINOR),
        (b"urandom", MEM_MAJOR, URANDOM_MINOR),
        (b"tty", TTYAUX_MAJOR, 0),
    ];
    for (name, major, minor) in devs {
        root.mknod(
            name,
            InodeKind::CharDev,
            0o666,
            abi::file::makedev(major, minor),
            &creds,
        )?;
    }
    let links: [(&[u8], &[u8]); 5] = [
        (b"fd", b"/proc/self/fd"),
        (b"stdin", b"/proc/self/fd/0"),
        (b"stdout", b"/proc/self/fd/1"),
        (b"stderr", b"/proc/self/fd/2"),
        (b"ptmx", b"pts/ptmx"),
    ];
    for (name, target) in links {
        root.symlink(name, target, &creds)?;
    }
    root.mkdir(b"pts", 0o755, &creds)?;
    root.mkdir(b"shm", 0o1777, &creds)?;
    Ok(())
}
