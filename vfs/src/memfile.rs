//! `MemoryFile`: the one host file that holds all application memory of a sandbox.
//!
//! It is a memfd (memfd_create(2), `MFD_CLOEXEC`) truncated to a large size and left sparse: a
//! memfd is shmem, which is `VM_NORESERVE`, so nothing is charged until a page is touched. The
//! whole file is mapped once into the sentry (`MAP_SHARED | MAP_NORESERVE`), so the sentry
//! reads and writes application memory with plain memory copies, and platforms map ranges of
//! the same fd into application address spaces ([`MemoryFile::fd`]).
//!
//! Key types: [`MemoryFile`] (allocator + accessors) and [`MemoryFileError`] (setup and range
//! errors; the sentry's `mm` turns range errors into `EFAULT`/`ENOMEM`).
//! Neighbours: `sentry::mm` allocates pages here and hands `(offset, len)` to
//! `platform::AddressSpace::map`; tmpfs keeps its regular files' pages here (one reference
//! per page held by the file, more by the mappings of it: see `tmpfs.rs`).
//!
//! Allocation: a page-granular best-fit free list over `[0, size)` (indexed by start, to
//! coalesce, and by size, so an allocation is O(log n) however fragmented) plus a bump
//! pointer. Freed
//! ranges are hole-punched (fallocate(2) `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`), which
//! gives the memory back to the host *and* makes the range read as zeros again. The allocator
//! therefore keeps the invariant **every free range reads as zero**, which lets `mm` use a
//! fresh allocation as zero-filled anonymous memory without writing it.
//!
//! Page references (copy-on-write): an allocated page starts with one reference. `mm` adds
//! references when fork(2) makes two memory managers share private pages ([`share`]) and drops
//! them when a manager unmaps, copies or exits ([`release`]); the page is freed when its last
//! reference goes. Only pages with two or more references are recorded, as a range map
//! (`Alloc::refs`: start → (end, count)), so a sandbox that never forks pays nothing and one
//! that does pays one entry per shared range, not per page. We chose counts in the MemoryFile
//! over `Arc`'d allocations because PMAs are split, moved and partially unmapped at page
//! granularity: an `Arc` per allocation would need every piece to know its allocation and a
//! per-manager count on top, while a page count is exactly what "am I the last owner?" asks.
//! The counts are manual reference counting, kept behind two calls whose only callers are
//! `mm`'s PMA bookkeeping (create, split, drop) and tmpfs's page maps (a file's own
//! reference, and the one it adds for each page mm maps).
//!
//! The zero range ([`zero_range`], [`ZERO_RANGE_LEN`] bytes): one range allocated on first use
//! and never freed or written, which `mm` maps read-only for reads of untouched anonymous
//! memory (Linux's shared zero page). Every writing accessor refuses it, so a bookkeeping bug
//! in `mm` becomes an error instead of data leaking into every process's zero pages. It is not
//! counted in [`allocated_bytes`].
//!
//! Memory limit ([`set_limit`]): the sandbox's memory limit is a cap on
//! [`allocated_bytes`]: an allocation past it fails with [`MemoryFileError::OverLimit`], which
//! tmpfs turns into ENOSPC, mmap of shared anonymous memory into ENOMEM, and a page fault into
//! the sentry's in-sandbox OOM kill (`sentry/src/kernel/oom.rs`). Charging happens here, at the
//! one allocator every page comes from, so nothing can allocate around it.
//!
//! [`set_limit`]: MemoryFile::set_limit
//! [`share`]: MemoryFile::share
//! [`release`]: MemoryFile::release
//! [`zero_range`]: MemoryFile::zero_range
//! [`allocated_bytes`]: MemoryFile::allocated_bytes
//!
//! # Safety
//!
//! This module is the only `unsafe` in the vfs crate. The sentry mapping is created once in
//! [`MemoryFile::new`] and unmapped only in `Drop`, so `[base, base + size)` stays valid for
//! the whole life of the value; every accessor checks `off + len <= size` with checked
//! arithmetic before forming a pointer.
//!
//! The same pages are mapped, writable, into application address spaces, and application
//! threads run concurrently with the sentry. A Rust reference (`&[u8]` / `&mut [u8]`) asserts
//! that nobody else writes the memory for its lifetime, which the application can violate at
//! any moment, so this module **never forms a reference to MemoryFile memory**. It only copies
//! between raw pointers into it and ordinary sentry buffers with `ptr::copy_nonoverlapping` /
//! `ptr::write_bytes`. A concurrent application write during such a copy can make the sentry
//! see a mix of old and new bytes ("torn" data), exactly as a Linux kernel's copy_from_user can;
//! that is the guest's own data race and the sentry treats the copied bytes as untrusted input
//! anyway. It cannot corrupt sentry memory: the destination of a read is a sentry-owned buffer,
//! and the source of a write is one. (Strictly, the Rust memory model has no notion of memory
//! shared with another process; raw-pointer copies that never create references are the same
//! compromise gVisor's safemem, crosvm's `VolatileSlice` and vm-memory make. We do not use
//! volatile copies: they are byte-at-a-time and buy nothing here, since no Rust value ever
//! lives in this memory.)
//!
//! The one exception to "no reference" is the futex word: [`load_u32`], [`compare_exchange_u32`]
//! and [`fetch_update_u32`] form a `&AtomicU32` over four aligned bytes for the duration of one
//! atomic instruction. `AtomicU32` is an `UnsafeCell`, so the reference asserts nothing about
//! other writers; the application's own futex accesses are atomic instructions too (`lock
//! cmpxchg`), which is the case the memory model covers. An application mixing plain stores
//! with them races only on its own data, as above.
//!
//! [`load_u32`]: MemoryFile::load_u32
//! [`compare_exchange_u32`]: MemoryFile::compare_exchange_u32
//! [`fetch_update_u32`]: MemoryFile::fetch_update_u32
#![allow(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// Page size the allocator works in (x86-64 `PAGE_SIZE`).
pub const PAGE_SIZE: u64 = 4096;

/// Default size of the sparse file: 64 GiB of address space, nothing committed.
pub const DEFAULT_SIZE: u64 = 64 << 30;

/// Length of the zero range ([`MemoryFile::zero_range`]): 2 MiB, one anonymous fault-around
/// chunk of `mm`.
pub const ZERO_RANGE_LEN: u64 = 2 << 20;

/// Errors of [`MemoryFile`].
#[derive(Debug, thiserror::Error)]
pub enum MemoryFileError {
    /// memfd_create(2) failed.
    #[error("memfd_create failed: {0}")]
    Create(std::io::Error),
    /// ftruncate(2) to the requested size failed.
    #[error("ftruncate of the memory file to {size:#x} bytes failed: {source}")]
    Truncate { size: u64, source: std::io::Error },
    /// mmap(2) of the whole file into the sentry failed.
    #[error("mapping the memory file into the sentry failed: {0}")]
    Map(std::io::Error),
    /// The requested size is zero, unaligned or does not fit the host's types.
    #[error("invalid memory file size {0:#x}")]
    BadSize(u64),
    /// An access or free outside `[0, size)` or not page-aligned where it must be.
    #[error("memory file range {off:#x}+{len:#x} is out of bounds or unaligned")]
    Range { off: u64, len: u64 },
    /// No free range of the requested length is left.
    #[error("memory file exhausted allocating {0:#x} bytes")]
    Exhausted(u64),
    /// The allocation would pass the sandbox's memory limit ([`MemoryFile::set_limit`]).
    #[error("memory limit of {limit} bytes reached allocating {len:#x} bytes")]
    OverLimit { len: u64, limit: u64 },
}

/// Allocator state, behind the [`MemoryFile`] mutex.
#[derive(Debug, Default)]
struct Alloc {
    /// Free ranges below `bump`: start → length. Never adjacent (coalesced on insert).
    free: BTreeMap<u64, u64>,
    /// The same ranges by (length, start), for best-fit allocation in O(log n).
    by_size: BTreeSet<(u64, u64)>,
    /// Everything at or above this offset has never been allocated.
    bump: u64,
    /// Bytes currently allocated (for accounting / `events --stats`).
    allocated: u64,
    /// Pages with more than one reference: start → (end, count ≥ 2). Page-aligned, never
    /// overlapping. Absent pages of an allocated range have exactly one reference.
    refs: BTreeMap<u64, (u64, u32)>,
}

impl MemoryFile {
    #[cfg(test)]
    fn lock_alloc_for_tests(&self) -> MutexGuard<'_, Alloc> {
        lock(&self.alloc)
    }
}

impl Alloc {
    fn free_insert(&mut self, start: u64, len: u64) {
        self.free.insert(start, len);
        self.by_size.insert((len, start));
    }

    fn free_remove(&mut self, start: u64) -> Option<u64> {
        let len = self.free.remove(&start)?;
        self.by_size.remove(&(len, start));
        Some(len)
    }
}

/// Runs a raw read/write-style call until it is not interrupted: the count, or the errno.
fn retry_eintr(mut call: impl FnMut() -> isize) -> Result<usize, nix::errno::Errno> {
    loop {
        match usize::try_from(call()) {
            Ok(n) => return Ok(n),
            Err(_) if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            Err(_) => return Err(nix::errno::Errno::last()),
        }
    }
}

/// Splits the `refs` entry straddling `at`, if any, so that `at` is an entry boundary.
fn split_refs(refs: &mut BTreeMap<u64, (u64, u32)>, at: u64) {
    if let Some((&s, &(e, c))) = refs.range(..at).next_back()
        && e > at
    {
        refs.insert(s, (at, c));
        refs.insert(at, (e, c));
    }
}

/// The sandbox's memory file. See the module documentation.
pub struct MemoryFile {
    fd: OwnedFd,
    /// Start of the sentry's mapping of the whole file.
    base: NonNull<u8>,
    size: u64,
    alloc: Mutex<Alloc>,
    /// Offset of the zero range once allocated (set once, under the allocator lock).
    zero: OnceLock<u64>,
    /// The sandbox's memory limit in bytes (`u64::MAX`: none), see [`MemoryFile::set_limit`].
    limit: AtomicU64,
}

// SAFETY: `base` points to a MAP_SHARED mapping owned by this value; all accesses through it
// are raw-pointer copies guarded by bounds checks (see the module `# Safety`), which are sound
// from any thread. The allocator state is behind a Mutex.
unsafe impl Send for MemoryFile {}
// SAFETY: as for Send: no method hands out references into the mapping, so shared use from
// several threads only performs raw copies, whose races are tolerated by design.
unsafe impl Sync for MemoryFile {}

impl fmt::Debug for MemoryFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryFile")
            .field("fd", &self.fd.as_raw_fd())
            .field("size", &format_args!("{:#x}", self.size))
            .field("allocated", &self.allocated_bytes())
            .finish()
    }
}

fn lock(m: &Mutex<Alloc>) -> MutexGuard<'_, Alloc> {
    // A panic while holding the allocator lock leaves it consistent (every mutation is a
    // single map operation), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryFile {
    /// Creates a memory file of [`DEFAULT_SIZE`] bytes, sparse, and maps it.
    pub fn new() -> Result<MemoryFile, MemoryFileError> {
        MemoryFile::with_size(DEFAULT_SIZE)
    }

    /// Creates a memory file of `size` bytes (page-aligned, non-zero), sparse, and maps it.
    pub fn with_size(size: u64) -> Result<MemoryFile, MemoryFileError> {
        if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
            return Err(MemoryFileError::BadSize(size));
        }
        let size_off = libc::off_t::try_from(size).map_err(|_| MemoryFileError::BadSize(size))?;
        let size_usize = usize::try_from(size).map_err(|_| MemoryFileError::BadSize(size))?;
        // SAFETY: memfd_create(2) takes a NUL-terminated name (the C literal) and flags; it
        // has no memory-safety preconditions beyond a valid string pointer.
        let raw = unsafe { libc::memfd_create(c"rvisor-memory".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(MemoryFileError::Create(std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh fd returned by memfd_create and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate(2) on an fd we own; no memory is passed.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size_off) } != 0 {
            return Err(MemoryFileError::Truncate {
                size,
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: mmap(2) with a null hint cannot overlap existing Rust objects (the kernel
        // picks a free range); the fd is valid and the length equals the file size.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size_usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(MemoryFileError::Map(std::io::Error::last_os_error()));
        }
        let base = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| MemoryFileError::Map(std::io::Error::other("mmap returned null")))?;
        Ok(MemoryFile {
            fd,
            base,
            size,
            alloc: Mutex::new(Alloc::default()),
            zero: OnceLock::new(),
            limit: AtomicU64::new(u64::MAX),
        })
    }

    /// The memfd, for platforms to map ranges of it into application address spaces.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Size of the file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes currently handed out by [`allocate`](Self::allocate).
    pub fn allocated_bytes(&self) -> u64 {
        lock(&self.alloc).allocated
    }

    /// Sets the sandbox's memory limit: allocations that would bring
    /// [`allocated_bytes`](Self::allocated_bytes) past `limit` bytes fail with
    /// [`MemoryFileError::OverLimit`] (`None`: no limit). Every page counts once however many
    /// references it has: application memory, tmpfs and memfd data, the 9P page cache, page
    /// tables are not in here. Lowering it below what is allocated frees nothing; only new
    /// allocations fail.
    pub fn set_limit(&self, limit: Option<u64>) {
        self.limit
            .store(limit.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The memory limit set with [`set_limit`](Self::set_limit).
    pub fn limit(&self) -> Option<u64> {
        let l = self.limit.load(Ordering::Relaxed);
        (l != u64::MAX).then_some(l)
    }

    /// Allocates `len` bytes (rounded up to pages) and returns their file offset. The range
    /// reads as zeros. Fails past the memory limit or when the file is full.
    pub fn allocate(&self, len: u64) -> Result<u64, MemoryFileError> {
        let mut a = lock(&self.alloc);
        self.allocate_locked(&mut a, len, true)
    }

    /// `charged`: counts against the memory limit (everything but the zero range).
    fn allocate_locked(
        &self,
        a: &mut Alloc,
        len: u64,
        charged: bool,
    ) -> Result<u64, MemoryFileError> {
        let len = round_up(len)
            .filter(|l| *l != 0)
            .ok_or(MemoryFileError::Exhausted(len))?;
        let limit = self.limit.load(Ordering::Relaxed);
        if charged && a.allocated.checked_add(len).is_none_or(|t| t > limit) {
            return Err(MemoryFileError::OverLimit { len, limit });
        }
        // Best fit (the smallest free range that is large enough; lowest offset among equals).
        let hit = a.by_size.range((len, 0)..).next().map(|&(l, s)| (s, l));
        let off = if let Some((start, flen)) = hit {
            a.free_remove(start);
            if flen > len {
                // start + len < start + flen, which is in bounds: no overflow.
                a.free_insert(start + len, flen - len);
            }
            start
        } else {
            let start = a.bump;
            let end = start.checked_add(len).filter(|e| *e <= self.size);
            let Some(end) = end else {
                return Err(MemoryFileError::Exhausted(len));
            };
            a.bump = end;
            start
        };
        a.allocated = a.allocated.saturating_add(len);
        Ok(off)
    }

    /// The zero range: `ZERO_RANGE_LEN` bytes that read as zero forever, allocated on the first
    /// call (not counted in [`allocated_bytes`](Self::allocated_bytes)) and never freed.
    /// Writing accessors refuse it.
    pub fn zero_range(&self) -> Result<u64, MemoryFileError> {
        if let Some(off) = self.zero.get() {
            return Ok(*off);
        }
        let mut a = lock(&self.alloc);
        // Re-check under the lock: another thread may have won the race.
        if let Some(off) = self.zero.get() {
            return Ok(*off);
        }
        let off = self.allocate_locked(&mut a, ZERO_RANGE_LEN, false)?;
        a.allocated = a.allocated.saturating_sub(ZERO_RANGE_LEN);
        // Cannot fail: we hold the allocator lock and saw it unset.
        let _ = self.zero.set(off);
        Ok(off)
    }

    /// Whether `[off, off+len)` intersects the zero range.
    fn hits_zero(&self, off: u64, len: u64) -> bool {
        self.zero
            .get()
            .is_some_and(|z| off < z.saturating_add(ZERO_RANGE_LEN) && *z < off.saturating_add(len))
    }

    /// Adds one reference to every page of `[off, off+len)` (page-aligned, allocated): the
    /// pages now have one more owner, and [`release`](Self::release) must be called once more
    /// before they are freed.
    pub fn share(&self, off: u64, len: u64) -> Result<(), MemoryFileError> {
        self.check_pages(off, len)?;
        if len == 0 {
            return Ok(());
        }
        if self.hits_zero(off, len) {
            return Err(MemoryFileError::Range { off, len });
        }
        let end = off + len; // check_pages proved it does not overflow.
        let mut a = lock(&self.alloc);
        split_refs(&mut a.refs, off);
        split_refs(&mut a.refs, end);
        // Count up the recorded pieces and record the gaps between them with count 2.
        let mut gaps = Vec::new();
        let mut cur = off;
        for (&s, (e, c)) in a.refs.range_mut(off..end) {
            if s > cur {
                gaps.push((cur, s));
            }
            *c = c.saturating_add(1);
            cur = *e;
        }
        if cur < end {
            gaps.push((cur, end));
        }
        for (s, e) in gaps {
            a.refs.insert(s, (e, 2));
        }
        Ok(())
    }

    /// Drops one reference from every page of `[off, off+len)` (page-aligned, allocated);
    /// pages whose last reference this was are freed as by [`free`](Self::free).
    pub fn release(&self, off: u64, len: u64) -> Result<(), MemoryFileError> {
        self.check_pages(off, len)?;
        if len == 0 {
            return Ok(());
        }
        let end = off + len;
        let mut last = Vec::new();
        {
            let mut a = lock(&self.alloc);
            split_refs(&mut a.refs, off);
            split_refs(&mut a.refs, end);
            let pieces: Vec<(u64, u64, u32)> = a
                .refs
                .range(off..end)
                .map(|(&s, &(e, c))| (s, e, c))
                .collect();
            let mut cur = off;
            for (s, e, c) in pieces {
                if s > cur {
                    last.push((cur, s));
                }
                if c > 2 {
                    a.refs.insert(s, (e, c - 1));
                } else {
                    // Back to one reference: no longer recorded.
                    a.refs.remove(&s);
                }
                cur = e;
            }
            if cur < end {
                last.push((cur, end));
            }
        }
        // Pages with one reference belong to the caller alone, so nobody can share them
        // between the unlock above and the frees below.
        for (s, e) in last {
            self.free(s, e - s)?;
        }
        Ok(())
    }

    /// Whether every page of `[off, off+len)` has exactly one reference (the caller's): then
    /// the caller may write it in place instead of copying it.
    pub fn is_exclusive(&self, off: u64, len: u64) -> bool {
        let end = off.saturating_add(len);
        let a = lock(&self.alloc);
        a.refs
            .range(..end)
            .next_back()
            .is_none_or(|(_, (e, _))| *e <= off)
    }

    /// The number of references of the allocated page containing `off` (for tests and
    /// statistics).
    pub fn ref_count(&self, off: u64) -> u32 {
        let a = lock(&self.alloc);
        a.refs
            .range(..=off)
            .next_back()
            .filter(|(_, (e, _))| *e > off)
            .map_or(1, |(_, (_, c))| *c)
    }

    /// Returns `[off, off+len)` (page-aligned) to the allocator, releasing its memory and
    /// zeroing it. Any sub-range of earlier allocations may be freed, once. Pages with more
    /// than one reference must go through [`release`](Self::release) instead.
    pub fn free(&self, off: u64, len: u64) -> Result<(), MemoryFileError> {
        self.check_pages(off, len)?;
        if self.hits_zero(off, len) {
            return Err(MemoryFileError::Range { off, len });
        }
        if len == 0 {
            return Ok(());
        }
        self.decommit(off, len)?;
        let mut a = lock(&self.alloc);
        let mut start = off;
        let mut flen = len;
        // Coalesce with the previous free range if it ends at `off`.
        if let Some((&ps, &pl)) = a.free.range(..off).next_back()
            && ps + pl == off
        {
            a.free_remove(ps);
            start = ps;
            flen += pl;
        }
        // ... and with the next one if it starts at our end.
        let end = off + len;
        if let Some(nl) = a.free_remove(end) {
            flen += nl;
        }
        // If the merged range reaches the bump pointer, give it back to the bump region.
        if start + flen == a.bump {
            a.bump = start;
        } else {
            a.free_insert(start, flen);
        }
        a.allocated = a.allocated.saturating_sub(len);
        Ok(())
    }

    /// Releases the memory of `[off, off+len)` (page-aligned) without freeing the range: it
    /// stays allocated and reads as zeros afterwards (MADV_DONTNEED of shared memory).
    pub fn decommit(&self, off: u64, len: u64) -> Result<(), MemoryFileError> {
        self.check_pages(off, len)?;
        if len == 0 {
            return Ok(());
        }
        let (o, l) = match (libc::off_t::try_from(off), libc::off_t::try_from(len)) {
            (Ok(o), Ok(l)) => (o, l),
            _ => return Err(MemoryFileError::Range { off, len }),
        };
        // SAFETY: fallocate(2) on our own fd; no memory is passed. Punching a hole while the
        // range is mapped (here and in app address spaces) is allowed: mappings see zeros.
        let r = unsafe {
            libc::fallocate(
                self.fd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                o,
                l,
            )
        };
        if r != 0 {
            // Keep the "free ranges read as zero" invariant even if the host refuses.
            tracing::warn!(target: "vfs::memfile", err = %std::io::Error::last_os_error(),
                "punch hole failed, zeroing instead");
            self.zero(off, len)?;
        }
        Ok(())
    }

    fn check(&self, off: u64, len: u64) -> Result<usize, MemoryFileError> {
        match off.checked_add(len) {
            Some(end) if end <= self.size => {
                usize::try_from(off).map_err(|_| MemoryFileError::Range { off, len })
            }
            _ => Err(MemoryFileError::Range { off, len }),
        }
    }

    /// Like `check`, and refuses the zero range.
    fn check_writable(&self, off: u64, len: u64) -> Result<usize, MemoryFileError> {
        if self.hits_zero(off, len) {
            return Err(MemoryFileError::Range { off, len });
        }
        self.check(off, len)
    }

    fn check_pages(&self, off: u64, len: u64) -> Result<(), MemoryFileError> {
        if !off.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(MemoryFileError::Range { off, len });
        }
        self.check(off, len).map(|_| ())
    }

    /// Which pages of `[off, off+len)` (page-aligned) hold memory on the host (mincore(2) of
    /// the sentry's mapping): one byte per page, bit 0 set if resident. A page allocated but
    /// never written, or decommitted, is a hole of the memfd and reads 0.
    pub fn resident(&self, off: u64, len: u64) -> Result<Vec<u8>, MemoryFileError> {
        self.check_pages(off, len)?;
        let start = self.check(off, len)?;
        let n = usize::try_from(len.div_ceil(PAGE_SIZE))
            .map_err(|_| MemoryFileError::Range { off, len })?;
        let mut vec = vec![0u8; n];
        if n == 0 {
            return Ok(vec);
        }
        // SAFETY: mincore(2) only reads the page tables of `[base + start, + len)`, which
        // `check` proved lies inside our live mapping (page-aligned: `check_pages`); it writes
        // one byte per page into `vec`, which has exactly that many bytes.
        let r = unsafe {
            libc::mincore(
                self.base.as_ptr().add(start).cast(),
                usize::try_from(len).map_err(|_| MemoryFileError::Range { off, len })?,
                vec.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(MemoryFileError::Range { off, len });
        }
        Ok(vec)
    }

    /// Copies `dst.len()` bytes at file offset `off` into `dst`.
    pub fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), MemoryFileError> {
        let start = self.check(off, dst.len() as u64)?;
        // SAFETY: `check` proved `[off, off + dst.len())` lies inside the live mapping of
        // `size` bytes starting at `base`, so the source pointer is valid for that many byte
        // reads; `dst` is a distinct sentry buffer (it cannot alias the mapping, because no
        // reference into the mapping is ever created), valid for writes and u8 needs no
        // alignment. Concurrent app writes only tear the copied data (module `# Safety`).
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(start),
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
        Ok(())
    }

    /// Copies `src` to file offset `off`.
    pub fn write(&self, off: u64, src: &[u8]) -> Result<(), MemoryFileError> {
        let start = self.check_writable(off, src.len() as u64)?;
        // SAFETY: as in `read`, with the roles swapped: the destination range is inside the
        // mapping (checked), the source is a sentry buffer that cannot overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(start), src.len());
        }
        Ok(())
    }

    /// pread(2) from the host file `fd` at `file_off` straight into `[off, off + len)` of this
    /// file (no sentry buffer): the host kernel writes the mapping. Returns the bytes read
    /// (short at EOF) or the host errno.
    pub fn read_from_fd(
        &self,
        fd: BorrowedFd<'_>,
        off: u64,
        len: usize,
        file_off: u64,
    ) -> Result<usize, nix::errno::Errno> {
        let start = self
            .check_writable(off, len as u64)
            .map_err(|_| nix::errno::Errno::EFAULT)?;
        let pos = libc::off_t::try_from(file_off).map_err(|_| nix::errno::Errno::EINVAL)?;
        // SAFETY: `[off, off + len)` lies inside the live mapping (checked), so the kernel may
        // write `len` bytes there; no Rust reference covers that memory.
        retry_eintr(|| unsafe {
            libc::pread(
                fd.as_raw_fd(),
                self.base.as_ptr().add(start).cast(),
                len,
                pos,
            )
        })
    }

    /// pwrite(2) of `[off, off + len)` of this file to the host file `fd` at `file_off`.
    pub fn write_to_fd(
        &self,
        fd: BorrowedFd<'_>,
        off: u64,
        len: usize,
        file_off: u64,
    ) -> Result<usize, nix::errno::Errno> {
        let start = self
            .check(off, len as u64)
            .map_err(|_| nix::errno::Errno::EFAULT)?;
        let pos = libc::off_t::try_from(file_off).map_err(|_| nix::errno::Errno::EINVAL)?;
        // SAFETY: `[off, off + len)` lies inside the live mapping (checked), readable for `len`
        // bytes; the kernel only reads it.
        retry_eintr(|| unsafe {
            libc::pwrite(
                fd.as_raw_fd(),
                self.base.as_ptr().add(start).cast(),
                len,
                pos,
            )
        })
    }

    /// Writes `len` zero bytes at file offset `off`.
    pub fn zero(&self, off: u64, len: u64) -> Result<(), MemoryFileError> {
        let start = self.check_writable(off, len)?;
        let n = usize::try_from(len).map_err(|_| MemoryFileError::Range { off, len })?;
        // SAFETY: `[off, off + len)` is inside the live mapping (checked above), so the
        // pointer is valid for `n` byte writes.
        unsafe {
            std::ptr::write_bytes(self.base.as_ptr().add(start), 0, n);
        }
        Ok(())
    }

    /// The atomic u32 at file offset `off` (4-byte aligned, in bounds), for `f`'s duration.
    /// With `AtomicUse::Store`, the zero range is refused.
    fn with_atomic_u32<T>(
        &self,
        off: u64,
        usage: AtomicUse,
        f: impl FnOnce(&AtomicU32) -> T,
    ) -> Result<T, MemoryFileError> {
        let range_err = MemoryFileError::Range { off, len: 4 };
        if !off.is_multiple_of(4) {
            return Err(range_err);
        }
        let start = match usage {
            AtomicUse::Store => self.check_writable(off, 4)?,
            AtomicUse::Load => self.check(off, 4)?,
        };
        // The mapping starts page-aligned (mmap), so `off % 4 == 0` makes the pointer
        // 4-byte aligned.
        let ptr = self.base.as_ptr().wrapping_add(start).cast::<u32>();
        if !ptr.is_aligned() {
            return Err(range_err);
        }
        // SAFETY: (`AtomicU32::from_ptr`'s list)
        // 1. Alignment: `ptr` is aligned to `align_of::<AtomicU32>()` (4), checked just above.
        // 2. Validity for reads and writes for the reference's lifetime: `check` proved
        //    `[off, off + 4)` lies inside the live mapping (READ|WRITE, MAP_SHARED), which
        //    stays mapped until `Drop`, and the reference does not outlive this call (it is
        //    only passed to `f`, which cannot keep it: its lifetime is this call's borrow).
        // 3. The memory model: accesses through it are atomic; concurrent accesses by the
        //    application are atomic instructions in a well-formed program, and a program that
        //    mixes plain accesses races only on its own data (module `# Safety`).
        let atomic = unsafe { AtomicU32::from_ptr(ptr) };
        Ok(f(atomic))
    }

    /// Atomically loads the u32 at file offset `off` (4-byte aligned).
    pub fn load_u32(&self, off: u64) -> Result<u32, MemoryFileError> {
        self.with_atomic_u32(off, AtomicUse::Load, |a| a.load(Ordering::SeqCst))
    }

    /// Atomically replaces the u32 at `off` (4-byte aligned) with `new` if it is `old`:
    /// `Ok(old)` if it was replaced, `Err(actual)` if not.
    pub fn compare_exchange_u32(
        &self,
        off: u64,
        old: u32,
        new: u32,
    ) -> Result<Result<u32, u32>, MemoryFileError> {
        self.with_atomic_u32(off, AtomicUse::Store, |a| {
            a.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
        })
    }

    /// Atomically replaces the u32 at `off` (4-byte aligned) with `f(old)`; returns `old`
    /// (FUTEX_WAKE_OP's read-modify-write).
    pub fn fetch_update_u32(
        &self,
        off: u64,
        mut f: impl FnMut(u32) -> u32,
    ) -> Result<u32, MemoryFileError> {
        self.with_atomic_u32(off, AtomicUse::Store, |a| {
            match a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(f(v))) {
                Ok(v) | Err(v) => v,
            }
        })
    }

    /// Copies `len` bytes from file offset `src` to file offset `dst` (copy-on-write and
    /// mremap helpers). The ranges must not overlap.
    pub fn copy_within(&self, src: u64, dst: u64, len: u64) -> Result<(), MemoryFileError> {
        let s = self.check(src, len)?;
        let d = self.check_writable(dst, len)?;
        let n = usize::try_from(len).map_err(|_| MemoryFileError::Range { off: src, len })?;
        let overlap = src < dst.saturating_add(len) && dst < src.saturating_add(len);
        if overlap {
            return Err(MemoryFileError::Range { off: dst, len });
        }
        // SAFETY: both ranges are inside the mapping (checked) and disjoint (checked), so
        // the pointers are valid for `n` bytes and do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(s), self.base.as_ptr().add(d), n);
        }
        Ok(())
    }
}

impl MemoryFile {
    /// Copies `len` bytes from `src` to `dst` within the file; the ranges may overlap
    /// (memmove), as when an application reads a tmpfs file into a shared mapping of the same
    /// page. Refuses a destination in the zero range.
    pub fn move_within(&self, src: u64, dst: u64, len: u64) -> Result<(), MemoryFileError> {
        let s = self.check(src, len)?;
        let d = self.check_writable(dst, len)?;
        let n = usize::try_from(len).map_err(|_| MemoryFileError::Range { off: src, len })?;
        // SAFETY: both ranges are inside the mapping (checked); `ptr::copy` allows overlap.
        unsafe {
            std::ptr::copy(self.base.as_ptr().add(s), self.base.as_ptr().add(d), n);
        }
        Ok(())
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        if let Ok(len) = usize::try_from(self.size) {
            // SAFETY: `base`/`size` describe the mapping made in `new`, which nothing else
            // unmaps; no reference into it exists (none is ever created), and `&mut self`
            // proves no other accessor is running.
            unsafe {
                libc::munmap(self.base.as_ptr().cast(), len);
            }
        }
    }
}

/// Whether an atomic accessor may store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AtomicUse {
    Load,
    Store,
}

fn round_up(len: u64) -> Option<u64> {
    len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mf() -> MemoryFile {
        MemoryFile::with_size(1 << 30).expect("memfd")
    }

    #[test]
    fn allocate_returns_distinct_zeroed_pages() {
        let m = mf();
        let a = m.allocate(1).unwrap();
        let b = m.allocate(PAGE_SIZE * 2).unwrap();
        assert_eq!(a % PAGE_SIZE, 0);
        assert_ne!(a, b);
        assert!(b >= a + PAGE_SIZE || a >= b + 2 * PAGE_SIZE);
        let mut buf = [1u8; 16];
        m.read(b, &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        assert_eq!(m.allocated_bytes(), 3 * PAGE_SIZE);
    }

    #[test]
    fn write_read_roundtrip_and_free_zeroes() {
        let m = mf();
        let off = m.allocate(PAGE_SIZE).unwrap();
        m.write(off + 10, b"hello").unwrap();
        let mut buf = [0u8; 5];
        m.read(off + 10, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        m.free(off, PAGE_SIZE).unwrap();
        let again = m.allocate(PAGE_SIZE).unwrap();
        assert_eq!(again, off, "freed range is reused");
        m.read(off + 10, &mut buf).unwrap();
        assert_eq!(buf, [0; 5], "freed range reads as zero");
    }

    #[test]
    fn allocations_past_the_limit_fail_until_pages_are_freed() {
        let mf = MemoryFile::with_size(1 << 24).unwrap();
        mf.set_limit(Some(3 * PAGE_SIZE));
        assert_eq!(mf.limit(), Some(3 * PAGE_SIZE));
        // The zero range is not charged.
        mf.zero_range().unwrap();
        let a = mf.allocate(2 * PAGE_SIZE).unwrap();
        assert!(matches!(
            mf.allocate(2 * PAGE_SIZE),
            Err(MemoryFileError::OverLimit { .. })
        ));
        let b = mf.allocate(PAGE_SIZE).unwrap();
        mf.allocate(PAGE_SIZE).unwrap_err();
        mf.free(a, 2 * PAGE_SIZE).unwrap();
        mf.allocate(2 * PAGE_SIZE).unwrap();
        mf.free(b, PAGE_SIZE).unwrap();
        mf.set_limit(None);
        assert_eq!(mf.limit(), None);
        mf.allocate(8 * PAGE_SIZE).unwrap();
    }

    #[test]
    fn free_coalesces_and_reuses() {
        let m = mf();
        let a = m.allocate(PAGE_SIZE).unwrap();
        let b = m.allocate(PAGE_SIZE).unwrap();
        let _c = m.allocate(PAGE_SIZE).unwrap();
        m.free(a, PAGE_SIZE).unwrap();
        m.free(b, PAGE_SIZE).unwrap();
        // Two adjacent freed pages satisfy a two-page request at `a`.
        assert_eq!(m.allocate(2 * PAGE_SIZE).unwrap(), a);
    }

    #[test]
    fn allocation_is_best_fit_over_a_fragmented_free_list() {
        let mf = MemoryFile::with_size(64 * PAGE_SIZE).unwrap();
        // Pages 0..16, then free every other one (8 one-page holes) and a 3-page hole.
        let base = mf.allocate(16 * PAGE_SIZE).unwrap();
        for k in (0..8).step_by(2) {
            mf.free(base + k * PAGE_SIZE, PAGE_SIZE).unwrap();
        }
        mf.free(base + 10 * PAGE_SIZE, 3 * PAGE_SIZE).unwrap();
        // Two pages fit only the 3-page hole; one page takes the lowest one-page hole.
        assert_eq!(mf.allocate(2 * PAGE_SIZE).unwrap(), base + 10 * PAGE_SIZE);
        assert_eq!(mf.allocate(PAGE_SIZE).unwrap(), base);
        // The rest of the 3-page hole (one page) is a one-page hole like the others now.
        let a = mf.lock_alloc_for_tests();
        assert_eq!(a.free.len(), a.by_size.len());
        assert!(a.free.iter().all(|(s, l)| a.by_size.contains(&(*l, *s))));
        drop(a);
        // Bigger than any hole: from the bump region.
        assert_eq!(mf.allocate(4 * PAGE_SIZE).unwrap(), base + 16 * PAGE_SIZE);
    }

    #[test]
    fn out_of_bounds_is_an_error_not_a_panic() {
        let m = MemoryFile::with_size(PAGE_SIZE * 4).unwrap();
        let mut buf = [0u8; 8];
        assert!(matches!(
            m.read(PAGE_SIZE * 4 - 4, &mut buf),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.write(u64::MAX - 2, &buf),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.zero(0, u64::MAX),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.free(1, PAGE_SIZE),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.allocate(PAGE_SIZE * 5),
            Err(MemoryFileError::Exhausted(_))
        ));
        assert!(matches!(
            m.allocate(u64::MAX),
            Err(MemoryFileError::Exhausted(_))
        ));
        assert!(matches!(
            MemoryFile::with_size(123),
            Err(MemoryFileError::BadSize(123))
        ));
    }

    #[test]
    fn default_size_is_sparse_and_usable() {
        let m = MemoryFile::new().unwrap();
        assert_eq!(m.size(), DEFAULT_SIZE);
        let off = m.allocate(PAGE_SIZE).unwrap();
        m.write(off, b"x").unwrap();
    }

    #[test]
    fn decommit_zeroes_but_keeps_allocation() {
        let m = mf();
        let off = m.allocate(PAGE_SIZE).unwrap();
        m.write(off, &[7u8; 64]).unwrap();
        m.decommit(off, PAGE_SIZE).unwrap();
        let mut buf = [9u8; 64];
        m.read(off, &mut buf).unwrap();
        assert_eq!(buf, [0u8; 64]);
        assert_eq!(m.allocated_bytes(), PAGE_SIZE);
    }

    #[test]
    fn shared_pages_are_freed_by_their_last_release() {
        let m = mf();
        let a = m.allocate(4 * PAGE_SIZE).unwrap();
        m.share(a + PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
        m.share(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
        assert_eq!(
            [0, 1, 2, 3].map(|i| m.ref_count(a + i * PAGE_SIZE)),
            [1, 2, 3, 2]
        );
        assert!(m.is_exclusive(a, PAGE_SIZE));
        assert!(!m.is_exclusive(a, 2 * PAGE_SIZE));
        m.write(a + PAGE_SIZE, b"still here").unwrap();
        // One release each: page 0 (one ref) is freed, the others only lose a reference.
        m.release(a, 4 * PAGE_SIZE).unwrap();
        assert_eq!(m.allocated_bytes(), 3 * PAGE_SIZE);
        let mut buf = [0u8; 10];
        m.read(a + PAGE_SIZE, &mut buf).unwrap();
        assert_eq!(&buf, b"still here");
        assert_eq!([1, 2, 3].map(|i| m.ref_count(a + i * PAGE_SIZE)), [1, 2, 1]);
        m.release(a + PAGE_SIZE, 3 * PAGE_SIZE).unwrap();
        assert_eq!(m.allocated_bytes(), PAGE_SIZE);
        assert!(m.is_exclusive(a, 4 * PAGE_SIZE));
        m.release(a + 2 * PAGE_SIZE, PAGE_SIZE).unwrap();
        assert_eq!(m.allocated_bytes(), 0);
    }

    #[test]
    fn zero_range_is_stable_unaccounted_and_unwritable() {
        let m = mf();
        let z = m.zero_range().unwrap();
        assert_eq!(m.zero_range().unwrap(), z);
        assert_eq!(m.allocated_bytes(), 0);
        assert!(matches!(
            m.write(z + ZERO_RANGE_LEN - 1, b"x"),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.zero(z, PAGE_SIZE),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.free(z, PAGE_SIZE),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.share(z, PAGE_SIZE),
            Err(MemoryFileError::Range { .. })
        ));
        assert!(matches!(
            m.compare_exchange_u32(z, 0, 1),
            Err(MemoryFileError::Range { .. })
        ));
        assert_eq!(m.load_u32(z + 8).unwrap(), 0);
        let a = m.allocate(PAGE_SIZE).unwrap();
        assert!(a >= z + ZERO_RANGE_LEN || a + PAGE_SIZE <= z);
        assert!(matches!(
            m.copy_within(a, z, PAGE_SIZE),
            Err(MemoryFileError::Range { .. })
        ));
    }

    #[test]
    fn atomics_check_alignment_and_update() {
        let m = mf();
        let a = m.allocate(PAGE_SIZE).unwrap();
        m.write(a + 4, &7u32.to_ne_bytes()).unwrap();
        assert_eq!(m.load_u32(a + 4).unwrap(), 7);
        assert_eq!(m.compare_exchange_u32(a + 4, 7, 9).unwrap(), Ok(7));
        assert_eq!(m.compare_exchange_u32(a + 4, 7, 1).unwrap(), Err(9));
        assert_eq!(m.fetch_update_u32(a + 4, |v| v | 0x10).unwrap(), 9);
        assert_eq!(m.load_u32(a + 4).unwrap(), 0x19);
        assert!(
            matches!(m.load_u32(a + 2), Err(MemoryFileError::Range { .. })),
            "unaligned"
        );
        assert!(
            matches!(m.load_u32(m.size() - 2), Err(MemoryFileError::Range { .. })),
            "out of bounds"
        );
        assert!(
            matches!(m.load_u32(u64::MAX - 3), Err(MemoryFileError::Range { .. })),
            "wrapping"
        );
    }

    #[test]
    fn copy_within_copies() {
        let m = mf();
        let a = m.allocate(2 * PAGE_SIZE).unwrap();
        m.write(a, b"abc").unwrap();
        m.copy_within(a, a + PAGE_SIZE, 3).unwrap();
        let mut buf = [0u8; 3];
        m.read(a + PAGE_SIZE, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
        assert!(matches!(
            m.copy_within(a, a + 1, 3),
            Err(MemoryFileError::Range { .. })
        ));
    }
}
