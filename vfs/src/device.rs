//! Character devices, opened by device number from a device node on any filesystem (as
//! Linux's chrdev_open does): the memory devices of drivers/char/mem.c built in
//! (null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9), others registered at run time by
//! the sentry ([`register`]: /dev/tty 5:0, ptmx 5:2 and each pty slave 136:N, from
//! `sentry/src/tty`). Unknown numbers open with ENXIO.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use abi::file::{dev_major, dev_minor, makedev};
use abi::{Errno, SysResult};

use crate::inode::FileOps;

/// Major number of the memory devices (include/uapi/linux/major.h MEM_MAJOR).
pub const MEM_MAJOR: u32 = 1;
pub const NULL_MINOR: u32 = 3;
pub const ZERO_MINOR: u32 = 5;
pub const FULL_MINOR: u32 = 7;
pub const RANDOM_MINOR: u32 = 8;
pub const URANDOM_MINOR: u32 = 9;
/// /dev/tty (include/uapi/linux/major.h TTYAUX_MAJOR).
pub const TTYAUX_MAJOR: u32 = 5;

/// Opens a registered device; gets the open(2) flags.
pub type DeviceOpener = Arc<dyn Fn(u32) -> SysResult<Box<dyn FileOps>> + Send + Sync>;

fn registry() -> &'static RwLock<HashMap<u64, DeviceOpener>> {
    static R: OnceLock<RwLock<HashMap<u64, DeviceOpener>>> = OnceLock::new();
    R.get_or_init(|| RwLock::new(HashMap::new()))
}

/// Registers (or replaces) the driver for character device `major:minor`.
pub fn register(major: u32, minor: u32, opener: DeviceOpener) {
    let mut r = registry()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    r.insert(makedev(major, minor), opener);
}

/// Opens character device `rdev` with open(2) `flags`.
pub fn open(rdev: u64, flags: u32) -> SysResult<Box<dyn FileOps>> {
    if dev_major(rdev) == MEM_MAJOR {
        let kind = match dev_minor(rdev) {
            NULL_MINOR => MemDev::Null,
            ZERO_MINOR => MemDev::Zero,
            FULL_MINOR => MemDev::Full,
            RANDOM_MINOR | URANDOM_MINOR => MemDev::Random,
            _ => return Err(Errno::ENXIO),
        };
        return Ok(Box::new(kind));
    }
    let opener = {
        let r = registry()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        r.get(&rdev).cloned()
    };
    match opener {
        Some(o) => o(flags),
        None => Err(Errno::ENXIO),
    }
}

/// The memory devices of drivers/char/mem.c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemDev {
    /// Reads EOF, swallows writes.
    Null,
    /// Reads zeros, swallows writes.
    Zero,
    /// Reads zeros, writes fail with ENOSPC.
    Full,
    /// random and urandom: the host's getrandom(2). (Since Linux 5.6 /dev/random no longer
    /// blocks once the pool is initialised, so both behave alike.)
    Random,
}

impl FileOps for MemDev {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        match self {
            MemDev::Null => Ok(0),
            MemDev::Zero | MemDev::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            MemDev::Random => {
                getrandom::fill(buf).map_err(|e| {
                    tracing::warn!(target: "vfs::device", %e, "host getrandom failed");
                    Errno::EIO
                })?;
                Ok(buf.len())
            }
        }
    }

    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        match self {
            MemDev::Full => Err(Errno::ENOSPC),
            // Writing to random devices mixes into the pool on Linux; nothing to do here.
            _ => Ok(buf.len()),
        }
    }

    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        self.write_at(buf, 0).map(|n| (n, 0))
    }
}
