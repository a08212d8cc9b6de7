//! What the sentry's futex implementation needs from memory: the identity of a futex word
//! ([`FutexKey`], kernel/futex/core.c `get_futex_key`) and atomic operations on it.
//!
//! The atomics go through the MemoryFile (`vfs::memfile`'s `AtomicU32` accessors), under the
//! manager's lock so the page cannot be unmapped and reused mid-operation. They follow the
//! copy paths' rules (`io.rs`): the VMA's protection is checked as the application's access
//! would be, pages never touched get backing (reading untouched memory is not EFAULT), and
//! operations that write break copy-on-write first, so a futex word in a page shared with a
//! forked process is never changed under the other process's feet.

use std::sync::atomic::{AtomicU64, Ordering};

use abi::{Errno, SysResult};

use super::io::Need;
use super::{Holes, MemoryManager, PmaKind, Sharing, Source, lookup};

/// Identity of a futex word, comparable across every process of the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// A process-private futex (`FUTEX_PRIVATE_FLAG`, or any futex in a private mapping):
    /// the word's address in the address space of the manager `mm` ([`MemoryManager::id`]).
    Private { mm: u64, addr: u64 },
    /// A futex in a `MAP_SHARED` anonymous mapping: the MemoryFile offset of the word, the
    /// same in every process that maps it.
    Shared(u64),
}

/// The read-modify-write operations of FUTEX_WAKE_OP (include/uapi/linux/futex.h
/// `FUTEX_OP_*`); the caller decodes the shifted-argument encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicOp {
    /// `FUTEX_OP_SET`: `*addr = arg`.
    Set(u32),
    /// `FUTEX_OP_ADD`: `*addr += arg` (wrapping).
    Add(u32),
    /// `FUTEX_OP_OR`: `*addr |= arg`.
    Or(u32),
    /// `FUTEX_OP_ANDN`: `*addr &= !arg`.
    AndN(u32),
    /// `FUTEX_OP_XOR`: `*addr ^= arg`.
    Xor(u32),
}

impl AtomicOp {
    /// The new value for old value `v`.
    pub fn apply(self, v: u32) -> u32 {
        match self {
            AtomicOp::Set(a) => a,
            AtomicOp::Add(a) => v.wrapping_add(a),
            AtomicOp::Or(a) => v | a,
            AtomicOp::AndN(a) => v & !a,
            AtomicOp::Xor(a) => v ^ a,
        }
    }
}

/// Source of [`MemoryManager::id`]s: unique for the life of the sentry, never reused (unlike
/// an address).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh manager identity.
pub(super) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl MemoryManager {
    /// This manager's identity, for private futex keys (and anything else that must tell
    /// address spaces apart). Unique among all managers the sentry ever creates.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The key of the futex word at `addr` (get_futex_key). `private`: the operation had
    /// `FUTEX_PRIVATE_FLAG`, which makes every key private without looking at the mapping.
    ///
    /// EINVAL if `addr` is not 4-byte aligned; EFAULT if no VMA with read access (any access,
    /// on x86) contains it.
    pub fn futex_key(&self, addr: u64, private: bool) -> SysResult<FutexKey> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mut inner = self.lock();
        let (vstart, vma) = lookup(&inner.vmas, addr).ok_or(Errno::EFAULT)?;
        if !vma.prot.intersects(abi::mm::Prot::ACCESS) {
            return Err(Errno::EFAULT);
        }
        let private_key = FutexKey::Private { mm: self.id, addr };
        if private {
            return Ok(private_key);
        }
        match &vma.source {
            Source::Shared { range, offset } => {
                let rel = offset
                    .checked_add(addr - vstart)
                    .filter(|r| r.checked_add(4).is_some_and(|e| e <= range.len))
                    .ok_or(Errno::EFAULT)?;
                let off = range.off.checked_add(rel).ok_or(Errno::EFAULT)?;
                Ok(FutexKey::Shared(off))
            }
            // A shared mapping of a file that keeps its pages in the MemoryFile (tmpfs: a
            // POSIX semaphore in /dev/shm) is keyed by the page's MemoryFile offset, which
            // is the file's page in every process (Linux keys it by inode and page index).
            Source::File { .. } if vma.sharing == Sharing::Shared => {
                if lookup(&inner.pmas, addr).is_none() {
                    self.fill_chunk(&mut inner, addr, Holes::Allocate)
                        .map_err(|_| Errno::EFAULT)?;
                }
                match lookup(&inner.pmas, addr) {
                    Some((ps, p)) if p.kind == PmaKind::SharedFile => p
                        .mf_off
                        .checked_add(addr - ps)
                        .map(FutexKey::Shared)
                        .ok_or(Errno::EFAULT),
                    // Its pages are private copies (9P files: see the module doc).
                    _ => Ok(private_key),
                }
            }
            // Private mappings are keyed by address, as Linux keys private mappings by
            // (mm, address).
            Source::Anon | Source::File { .. } => Ok(private_key),
        }
    }

    /// Atomically reads the u32 at `addr` (4-byte aligned: else EINVAL). EFAULT if the
    /// application could not read it.
    pub fn load_u32(&self, addr: u64) -> SysResult<u32> {
        self.atomic(addr, Need::Read, |mf, off| mf.load_u32(off))
    }

    /// Atomically replaces the u32 at `addr` with `new` if it equals `old`: `Ok(Ok(old))` if
    /// it did, `Ok(Err(actual))` if not (FUTEX_CMP_REQUEUE's check, the PI and robust-list
    /// updates). EFAULT if the application could not write it; EINVAL if unaligned.
    pub fn compare_exchange_u32(
        &self,
        addr: u64,
        old: u32,
        new: u32,
    ) -> SysResult<Result<u32, u32>> {
        self.atomic(addr, Need::Write, |mf, off| {
            mf.compare_exchange_u32(off, old, new)
        })
    }

    /// Atomically applies `op` to the u32 at `addr` and returns the old value
    /// (FUTEX_WAKE_OP). EFAULT if the application could not write it; EINVAL if unaligned.
    pub fn atomic_op_u32(&self, addr: u64, op: AtomicOp) -> SysResult<u32> {
        self.fetch_update_u32(addr, |v| op.apply(v))
    }

    /// Atomically replaces the u32 at `addr` with `f(old)` and returns `old`. `f` may run more
    /// than once (a compare-exchange loop) and runs with the manager's lock held: it must not
    /// touch this manager.
    pub fn fetch_update_u32(&self, addr: u64, f: impl FnMut(u32) -> u32) -> SysResult<u32> {
        self.atomic(addr, Need::Write, |mf, off| mf.fetch_update_u32(off, f))
    }

    /// Runs `op` on the MemoryFile offset backing the aligned u32 at `addr`, after the checks
    /// and backing (and, for writes, COW breaking) that `need` asks for.
    fn atomic<T>(
        &self,
        addr: u64,
        need: Need,
        op: impl FnOnce(&vfs::memfile::MemoryFile, u64) -> Result<T, vfs::memfile::MemoryFileError>,
    ) -> SysResult<T> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mut inner = self.lock();
        // An aligned u32 never crosses a page, so one translation covers it.
        let (off, _) = self.translate(&mut inner, addr, need)?;
        op(&self.mf, off).map_err(|e| {
            tracing::error!(target: "sentry::mm", %e, addr, "atomic access to backed memory failed");
            Errno::EFAULT
        })
    }
}
