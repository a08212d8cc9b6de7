//! Memory management of one application address space: VMAs, demand paging, user memory I/O.
//!
//! Key types: [`MemoryManager`] (one per address space), [`MmapOpts`] (what mmap(2) and the
//! loader ask for), [`MappedFile`] (where file mappings read their pages), [`FaultAccess`]
//! and [`FaultError`] (a fault's kind and outcome), [`FutexKey`] and [`AtomicOp`] (`futex.rs`:
//! what the futex implementation needs). `decode.rs` classifies faults by instruction.
//! Neighbours: `vfs::memfile::MemoryFile` holds every page; `platform::AddressSpace` maps
//! MemoryFile ranges into the application; the syscall handlers (`syscalls/mm`) decode
//! arguments into these calls; `loader` builds a new image with them.
//!
//! # Model
//!
//! Two range maps, both keyed by start address and never overlapping:
//!
//! - **VMAs** (`Inner::vmas`): what the application asked for — range, protection, private or
//!   shared, anonymous or file-backed (with the file offset of the VMA's start).
//! - **PMAs** (`Inner::pmas`, "platform mapping areas" in gVisor's vocabulary): which
//!   MemoryFile range currently backs an address range, what it is to this manager
//!   (`PmaKind`: private, copy-on-write, zero page, or part of a shared range) and with which
//!   permissions, if any, it is mapped in the platform right now. Every PMA lies inside one
//!   VMA.
//!
//! mmap(2) only records a VMA. A fault (`handle_fault`) or a sentry copy touching an address
//! without a PMA allocates MemoryFile pages and fills them: anonymous memory needs no work,
//! because a fresh MemoryFile range reads as zero; file pages are read through
//! [`MappedFile::read_at`], zero past EOF. Faults are resolved for an aligned chunk around the
//! address, clipped to the VMA ("fault-around": 64 KiB for files, 2 MiB for anonymous memory),
//! because each fault costs a platform round trip (ptrace: a stop plus an injected mmap,
//! ~20 µs). Sentry copies create PMAs but do not map them in the platform; the application's
//! first access faults and maps them, so only the task thread talks to the platform on the
//! copy paths' behalf (the exception, remapping a page a copy-out replaced, is below).
//!
//! Shared anonymous mappings get one MemoryFile range for their whole length at mmap time
//! (sparse, so free until touched), held by an `Arc<SharedRange>`: every PMA of the mapping
//! points into it, so the pages are shared by construction, and the range is freed when the
//! last VMA referring to it goes away.
//!
//! Files that keep their data in the MemoryFile (tmpfs, and 9P files through the p9fs page
//! cache: [`MappedFile::shared_page`] answers)
//! are mapped with their own pages, one reference per page held by the PMA
//! (`fill_file_pages`): `MAP_SHARED` gives `PmaKind::SharedFile` PMAs, written in place, so
//! every process mapping the file and read(2)/write(2) on it see the same bytes, and a futex
//! there is keyed by MemoryFile offset (shared across processes); `MAP_PRIVATE` gives `Cow`
//! PMAs over the file's pages, which read the file's current data until the first write
//! copies the page. Pages wholly past EOF are not backed: a fault there is SIGBUS. Other
//! files (9P without a page cache) are read through [`MappedFile::read_at`] into private
//! pages.
//!
//! # fork(2) and copy-on-write
//!
//! [`MemoryManager::fork`] gives the child the parent's VMAs and brk state and a copy of its
//! PMAs, none mapped (minus `MADV_DONTFORK` VMAs and the contents of `MADV_WIPEONFORK`
//! ones: `Vma::on_fork`). Private pages get one more MemoryFile reference
//! (`MemoryFile::share`; the counts live in the MemoryFile, whose module doc says why) and
//! become `PmaKind::Cow` on both sides; the parent's mapped writable ones are write-protected
//! through its own address space (fork runs on the parent's task thread). `Cow` PMAs are
//! mapped without write. A write to one — a write fault, or a sentry copy-out (`io.rs`) —
//! makes it private again (`privatize`): in place if the MemoryFile count says this manager
//! is the last holder (for a 64 KiB window, `WRITE_WINDOW`), otherwise by copying the one
//! written page. A copy-out that replaced a page the platform maps remaps it at once, from
//! the calling task's thread. Pages go back to the MemoryFile when their last holder unmaps
//! them or drops (`impl Drop for MemoryManager`). MAP_SHARED anonymous mappings share their
//! `SharedRange`.
//!
//! # The shared zero page and fault kinds
//!
//! Reading never-touched private anonymous memory must not cost host memory (the MemoryFile
//! is shmem: a read fault on a hole allocates a host page). Such reads get `PmaKind::Zero`
//! PMAs instead: runs of the MemoryFile's zero range, one 2 MiB range per sandbox that is
//! never written (the MemoryFile refuses writes to it), mapped without write, and shared by
//! every process, so fault-around maps a whole chunk of it at no cost. A write to a zero
//! page replaces the zero runs of its 64 KiB write window with fresh (sparse, so still free)
//! private pages, exactly like breaking COW. Sentry reads (copy-in, futex loads) take the
//! zero page too; sentry writes break it (`io.rs`).
//!
//! That needs to know whether a fault was a read. ptrace cannot say (the access set is
//! empty), so [`MemoryManager::handle_fault_with_regs`] decodes the faulting instruction
//! (`decode.rs`, iced-x86), reading its bytes through the MemoryFile: a written memory
//! operand covering the fault page is a write, the instruction's own page an instruction
//! fetch, a read operand a read, anything else `Unknown`. The same answer saves the second
//! fault of a COW write. The decoded kind is a hint: one the VMA does not allow is taken as
//! `Unknown` rather than raising a signal, and a fault repeated by the same instruction
//! (same `rip` and `rsp`) on the same page is not decoded again but taken as `Unknown`, so a
//! wrong decoding costs one fault, never a loop or a wrong signal. `Unknown` keeps the
//! old rules: a fault on a page that is present but mapped without write in a writable VMA
//! can only be a write; any other maps what the VMA allows, allocating holes (COW pages
//! read-only, so a write to one costs a second fault). [`FaultAccess`] carries what is known;
//! [`MemoryManager::handle_fault`] (no registers) is always `Unknown` on ptrace.
//!
//! # Shortcuts (written down, to be replaced)
//!
//! - `MAP_SHARED` of a file whose data is *not* in the MemoryFile (9P files without a page
//!   cache) behaves like `MAP_PRIVATE`: writes are not written back, and two mappings do not
//!   see each other's writes; across fork its pages are copy-on-write, and a futex in it gets
//!   a private key. The mmap handler refuses `PROT_WRITE` for such mappings (ENODEV) so no
//!   write is silently dropped. tmpfs files share for real (above), and so do 9P files with
//!   the p9fs page cache (`rvisor do` always has one): their writable shared mappings write
//!   the cached pages in place, and p9fs writes them back (at msync, fsync, read/write of the
//!   file and when the last such mapping goes: `vfs::p9fs`, `MapWriteBack`).
//! - truncate/ftruncate unmap the pages past the new end from every mapping of the file
//!   ([`MemoryManager::file_truncated`]), so the next access there is SIGBUS as on Linux. The
//!   caller's own address space at once; another process's from one of its own threads (on
//!   ptrace only they can change it): the truncating task queues the work there
//!   ([`MemoryManager::defer_truncation`]) and pulls a thread out of application code, which
//!   applies it before running application code again. Until then (microseconds) that
//!   process can still touch the old pages, which stay alive through the PMA's reference. `MADV_REMOVE` of a shared file mapping is EINVAL
//!   (Linux punches a hole in the file).
//! - The sentry writing into *another* process's memory (process_vm_writev(2),
//!   ptrace(PTRACE_POKEDATA), `/proc/[pid]/mem`) is not supported: breaking COW there may have
//!   to remap a page in that process's address space, which the platform only allows from a
//!   thread attached to it. The platform call would fail and end the sandbox.
//! - mprotect(PROT_WRITE) of a `MAP_SHARED` mapping of a 9P file without a page cache, open
//!   for writing, succeeds (as on Linux), but, as above, the writes never reach the file.
//! - Access past EOF of a 9P file mapping reads zeros (Linux: SIGBUS for whole pages past
//!   EOF; tmpfs mappings do SIGBUS).
//! - mremap: `MREMAP_DONTUNMAP` and `old_len == 0` (duplicate a shared mapping) give EINVAL.
//! - Partial munmap of a shared anonymous mapping does not release that part's memory until
//!   the whole mapping is gone.
//! - An `Unknown` fault (undecodable instruction, or a repeated fault) on a page that is
//!   already mapped with the VMA's permissions is reported as SEGV_ACCERR; with several
//!   threads faulting the same page at once, the second would see that wrongly. A decoded
//!   fault that the mapping already allows is taken as spurious and resumed instead.
//! - `MemoryManager::handle_fault` (no registers) never creates zero-page runs on ptrace,
//!   where the access is unknown (holes are allocated, as before), and maps the runs that the
//!   sentry's own reads created read-only, so a write there costs a second fault: the task
//!   loop should call `handle_fault_with_regs`.
//! - Shared anonymous memory (`MAP_SHARED|MAP_ANONYMOUS`) has no zero page: reading a hole of
//!   it allocates a host page, as Linux's shmem does.
//!
//! # Locking
//!
//! One mutex, `MemoryManager::inner`, guards both maps and the brk state. It is a leaf lock
//! for the rest of the sentry: take it after any task or kernel lock, never the reverse.
//! It **is held across platform calls** (`AddressSpace::map/unmap/protect`) and across
//! `MappedFile::read_at` and `MappedFile::shared_page` (which take filesystem locks: tmpfs
//! inode state, then the MemoryFile allocator). That is deliberate: releasing it between deciding and mapping
//! would let a concurrent munmap free (and another address space reuse) pages that a fault
//! is about to map, leaking memory between processes. It is safe because neither callee
//! takes this lock: the platform has no reference to the `MemoryManager` and waits on no
//! application progress (injecting into a stopped stub thread), and `MappedFile`
//! implementations must not touch the memory of the address space that maps them (document
//! this in any implementation that could). The MemoryFile allocator lock (which also guards
//! the page reference counts) nests inside.
//!
//! ```text
//! MemoryManager::inner (of the calling task's process)
//!   platform AddressSpace internals (map/unmap/protect: injected on ptrace)
//!   MappedFile::read_at, MappedFile::shared_page (file reads and file pages on fault)
//!     tmpfs inode state (then MemoryFile::alloc, for file pages)
//!   MemoryFile::alloc (allocation, share/release, zero range)
//! ```
//!
//! A manager never takes another manager's lock: [`MemoryManager::fork`] builds the child's
//! state under the parent's lock and hands it over unlocked; `Drop` needs no lock.
//!
//! Host failures of the platform (`PlatformError`) never become errnos the application could
//! act on: fault paths return them in [`FaultError::Platform`]; syscall paths return ENOMEM
//! and park the error for the task loop ([`MemoryManager::take_platform_error`]), which ends
//! the sandbox. When an unmap fails, the pages it covered are leaked rather than freed, so
//! they can never be handed to someone else while still mapped.

mod decode;
mod futex;
mod io;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use abi::Errno;
use abi::SysResult;
use abi::mm::{
    MMAP_MIN_ADDR, MremapFlags, PAGE_SIZE, Prot, is_page_aligned, madv, page_align_down,
    page_align_up,
};
use abi::signal::si_code;
use platform::{Access, AddressSpace, Perms, PlatformError, Regs};
use vfs::memfile::MemoryFile;

pub use futex::{AtomicOp, FutexKey};

/// Fault-around chunk for file mappings (each chunk is read from the file, or mapped from the
/// file's cached pages). Measured on a busybox exec loop: 64 KiB took 27 text faults per
/// exec, 256 KiB far fewer for the same work.
const FILE_FAULT_CHUNK: u64 = 256 << 10;
/// Fault-around chunk for anonymous memory (free until touched: the file is sparse).
const ANON_FAULT_CHUNK: u64 = 2 << 20;
/// How much around a written page is made private in place at once (COW pages this manager
/// alone owns). A power of two no larger than either fault-around chunk, so the window of a
/// fault lies inside its chunk.
const WRITE_WINDOW: u64 = 64 << 10;
const _: () = assert!(WRITE_WINDOW <= FILE_FAULT_CHUNK && WRITE_WINDOW <= ANON_FAULT_CHUNK);
// Zero-page PMAs are carved from the zero range by their offset within an anonymous chunk.
const _: () = assert!(ANON_FAULT_CHUNK <= vfs::memfile::ZERO_RANGE_LEN);
/// Gap kept between the top of the mmap area and the end of the address space, for the
/// stack (mm/util.c `mmap_base`: the stack rlimit, at least 128 MiB).
const MMAP_BASE_GAP: u64 = 128 << 20;
/// How far a grows-down mapping may grow by faults (RLIMIT_STACK default, 8 MiB).
const STACK_GROW_LIMIT: u64 = 8 << 20;
/// Distance kept between a growing stack and the mapping below it (mm/mmap.c
/// `stack_guard_gap`: 256 pages).
const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// Where a new mapping goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `addr` is a hint (0: anywhere); the manager picks a free range, top-down.
    Hint,
    /// `MAP_FIXED`: exactly at `addr`, replacing what is there.
    Fixed,
    /// `MAP_FIXED_NOREPLACE`: exactly at `addr`, EEXIST if anything is mapped there.
    FixedNoReplace,
}

/// `MAP_PRIVATE` or `MAP_SHARED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    Private,
    Shared,
}

/// What a mapping's pages come from.
#[derive(Clone, Debug)]
pub enum Backing {
    /// Zero-filled memory.
    Anonymous,
    /// A file, from byte `offset` (page-aligned) at the mapping's start.
    File {
        file: Arc<dyn MappedFile>,
        offset: u64,
    },
}

/// Arguments of [`MemoryManager::mmap`], already decoded from mmap(2)'s flags.
#[derive(Clone, Debug)]
pub struct MmapOpts {
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    pub placement: Placement,
    pub sharing: Sharing,
    pub backing: Backing,
    /// `MAP_GROWSDOWN`: faults just below the mapping extend it.
    pub grows_down: bool,
    /// `MAP_POPULATE`: back and map every page now.
    pub populate: bool,
    /// The most mprotect(2) may ever grant this mapping (Linux's `VM_MAYREAD/MAYWRITE/
    /// MAYEXEC`): the mmap handler clears `WRITE` for a `MAP_SHARED` mapping of a file not
    /// open for writing. `prot` must lie within it (EACCES otherwise).
    pub max_prot: Prot,
}

impl MmapOpts {
    /// A private anonymous mapping of `len` bytes anywhere.
    pub fn anonymous(len: u64, prot: Prot) -> MmapOpts {
        MmapOpts {
            addr: 0,
            len,
            prot,
            placement: Placement::Hint,
            sharing: Sharing::Private,
            backing: Backing::Anonymous,
            grows_down: false,
            populate: false,
            max_prot: Prot::ACCESS,
        }
    }
}

/// What a file mapping reads its pages from (implemented by the sentry for vfs open files).
///
/// Called with the memory manager's lock held: an implementation must not access the
/// memory of an address space that maps it.
///
/// `Any` is a supertrait so that /proc can recover the VFS file behind a mapping (its path,
/// device and inode for `/proc/[pid]/maps`) by upcasting to `dyn Any` and downcasting.
pub trait MappedFile: std::any::Any + Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `off`; returns the count (0 at EOF).
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize>;

    /// For files whose data lives in the MemoryFile (tmpfs): the MemoryFile offset of file
    /// page `file_page` (byte offset `file_page * PAGE_SIZE`), allocated if it is a hole, with
    /// **one MemoryFile reference added for the caller** (mm releases it when the PMA goes).
    /// `Some(Err(_))`: no such page (EFAULT past EOF: SIGBUS) or no memory. `None`: the file
    /// cannot share its pages, and its mappings are private copies read through
    /// [`read_at`](Self::read_at). A capability query, so the default (`None`) is a real
    /// answer, not a stub.
    fn shared_page(&self, _file_page: u64) -> Option<SysResult<u64>> {
        None
    }

    /// [`shared_page`](Self::shared_page) for a run: the offset of `file_page` and how many
    /// pages from it (1..=`max`) are contiguous in the MemoryFile, each with one reference
    /// for the caller. The default asks for one page.
    fn shared_pages(&self, file_page: u64, _max: u64) -> Option<SysResult<(u64, u64)>> {
        self.shared_page(file_page).map(|r| r.map(|off| (off, 1)))
    }

    /// Whether `file_page` is in memory in the file itself (mincore(2) of a page this
    /// address space has not backed yet). A query; `false` is a real answer.
    fn page_cached(&self, _file_page: u64) -> bool {
        false
    }

    /// msync(2) of a shared mapping: bring what the mapping changed in place to the file
    /// (9P files, whose cached pages the mapping writes). Files whose pages are the file
    /// (tmpfs) have nothing to do: the default.
    fn sync(&self) -> SysResult<()> {
        Ok(())
    }

    /// Which file this is, for [`MemoryManager::file_truncated`] (the address of its inode);
    /// `None` for files that cannot be truncated under a mapping.
    fn inode_key(&self) -> Option<usize> {
        None
    }
}

/// Why [`MemoryManager::handle_fault`] could not resolve a fault.
#[derive(Debug)]
pub enum FaultError {
    /// Deliver SIGSEGV with this `si_code` (`SEGV_MAPERR`: nothing mapped there;
    /// `SEGV_ACCERR`: the mapping does not allow the access).
    Segv { code: i32 },
    /// Deliver SIGBUS (`BUS_ADRERR`): the mapping exists but its backing could not be read.
    Bus,
    /// The MemoryFile is exhausted: the sentry treats this as an out-of-memory kill.
    OutOfMemory,
    /// A host failure of the platform: ends the sandbox.
    Platform(PlatformError),
}

/// A read-only description of one VMA, for /proc/[pid]/maps and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmaInfo {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub sharing: Sharing,
    /// File offset of `start` for file mappings.
    pub file_offset: Option<u64>,
    pub grows_down: bool,
    /// Inside the brk heap.
    pub is_heap: bool,
}

/// A MemoryFile range backing a shared anonymous mapping; freed when the last user drops.
#[derive(Debug)]
struct SharedRange {
    mf: Arc<MemoryFile>,
    off: u64,
    len: u64,
}

impl Drop for SharedRange {
    fn drop(&mut self) {
        if let Err(e) = self.mf.free(self.off, self.len) {
            tracing::error!(target: "sentry::mm", %e, "freeing a shared anonymous range failed");
        }
    }
}

/// Where a VMA's pages come from.
#[derive(Clone, Debug)]
enum Source {
    Anon,
    /// `offset`: file offset of the VMA's start.
    File {
        file: Arc<dyn MappedFile>,
        offset: u64,
    },
    /// `offset`: offset within `range` of the VMA's start.
    Shared {
        range: Arc<SharedRange>,
        offset: u64,
    },
}

#[derive(Clone, Debug)]
struct Vma {
    end: u64,
    prot: Prot,
    /// Upper bound for `prot` ([`MmapOpts::max_prot`]).
    max_prot: Prot,
    sharing: Sharing,
    source: Source,
    grows_down: bool,
    /// What fork(2) does with this VMA (madvise `MADV_DONTFORK`/`MADV_WIPEONFORK`).
    on_fork: OnFork,
}

/// What fork(2) gives the child for a VMA (Linux `VM_DONTCOPY`, `VM_WIPEONFORK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnFork {
    /// The same mapping and contents (copy-on-write or shared).
    Copy,
    /// Nothing: the child has a hole there (`MADV_DONTFORK`).
    Skip,
    /// The same mapping, zero-filled (`MADV_WIPEONFORK`; private anonymous memory only).
    Wipe,
}

/// What a PMA's MemoryFile pages are to this manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PmaKind {
    /// Private pages this manager holds one MemoryFile reference on, and nobody else does:
    /// mapped with the VMA's permissions.
    Private,
    /// Private pages this manager holds one reference on that another manager may share
    /// (after fork): mapped without write. A write copies them, or, if the reference count
    /// says this manager is the last holder, turns them back into `Private` in place.
    Cow,
    /// Pages of the VMA's `SharedRange` (MAP_SHARED): no reference held by the PMA.
    Shared,
    /// Pages of a file that keeps its data in the MemoryFile (`MappedFile::shared_page`), in
    /// a `MAP_SHARED` mapping: the PMA holds one reference per page (so a truncation cannot
    /// free a page still mapped), mapped with the VMA's permissions and written in place:
    /// writes through the mapping are the file's writes. fork(2) gives the child the same
    /// pages with a reference of its own, never copy-on-write.
    SharedFile,
    /// A run of the MemoryFile's zero range (Linux's shared zero page), for private anonymous
    /// memory that has only been read: no reference held, never written, mapped without
    /// write. A write replaces it with fresh private pages (`privatize`).
    Zero,
}

impl PmaKind {
    /// Whether the PMA holds a MemoryFile reference on its pages (released when it goes).
    fn holds_ref(self) -> bool {
        matches!(self, PmaKind::Private | PmaKind::Cow | PmaKind::SharedFile)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pma {
    end: u64,
    /// MemoryFile offset of the PMA's start.
    mf_off: u64,
    kind: PmaKind,
    /// Permissions it is mapped with in the platform, if it is mapped. Always a subset of
    /// [`pma_perms`] for its VMA (less after a COW page was claimed in place: the next write
    /// fault upgrades it).
    mapped: Option<Perms>,
}

/// A value stored in a range map: it knows its end and how to become its own tail.
trait Span: Clone {
    fn end(&self) -> u64;
    fn set_end(&mut self, end: u64);
    /// Turns `self` into the part starting `by` bytes later.
    fn advance(&mut self, by: u64);
}

impl Span for Vma {
    fn end(&self) -> u64 {
        self.end
    }
    fn set_end(&mut self, end: u64) {
        self.end = end;
    }
    fn advance(&mut self, by: u64) {
        match &mut self.source {
            Source::Anon => {}
            Source::File { offset, .. } | Source::Shared { offset, .. } => {
                *offset = offset.saturating_add(by);
            }
        }
    }
}

impl Span for Pma {
    fn end(&self) -> u64 {
        self.end
    }
    fn set_end(&mut self, end: u64) {
        self.end = end;
    }
    fn advance(&mut self, by: u64) {
        self.mf_off = self.mf_off.saturating_add(by);
    }
}

/// Splits the entry containing `at` (if any) into `[start, at)` and `[at, end)`.
fn split_at<T: Span>(m: &mut BTreeMap<u64, T>, at: u64) {
    let Some((&start, v)) = m.range(..at).next_back() else {
        return;
    };
    if v.end() <= at {
        return;
    }
    let mut upper = v.clone();
    upper.advance(at - start);
    if let Some(lower) = m.get_mut(&start) {
        lower.set_end(at);
    }
    m.insert(at, upper);
}

/// Removes and returns every entry inside `[start, end)`, splitting the ones straddling
/// the edges.
fn take_range<T: Span>(m: &mut BTreeMap<u64, T>, start: u64, end: u64) -> Vec<(u64, T)> {
    split_at(m, start);
    split_at(m, end);
    let keys: Vec<u64> = m.range(start..end).map(|(k, _)| *k).collect();
    keys.into_iter()
        .filter_map(|k| m.remove(&k).map(|v| (k, v)))
        .collect()
}

/// The entry containing `addr`.
fn lookup<T: Span>(m: &BTreeMap<u64, T>, addr: u64) -> Option<(u64, &T)> {
    m.range(..=addr)
        .next_back()
        .filter(|(_, v)| v.end() > addr)
        .map(|(k, v)| (*k, v))
}

/// Whether nothing in `m` intersects `[start, end)`.
fn is_free<T: Span>(m: &BTreeMap<u64, T>, start: u64, end: u64) -> bool {
    m.range(..end)
        .next_back()
        .is_none_or(|(_, v)| v.end() <= start)
}

/// Platform permissions for a VMA protection (PROT_* and Perms share bit values, but the
/// conversion is spelled out so neither side's numbering leaks into the other).
fn perms_of(prot: Prot) -> Perms {
    let mut p = Perms::empty();
    if prot.contains(Prot::READ) {
        p |= Perms::READ;
    }
    if prot.contains(Prot::WRITE) {
        p |= Perms::WRITE;
    }
    if prot.contains(Prot::EXEC) {
        p |= Perms::EXEC;
    }
    p
}

/// Platform permissions for a PMA of `kind` in a VMA with permissions `vma`: copy-on-write
/// pages never get write permission, so the application's first write faults.
fn pma_perms(vma: Perms, kind: PmaKind) -> Perms {
    match kind {
        PmaKind::Cow | PmaKind::Zero => without_write(vma),
        PmaKind::Private | PmaKind::Shared | PmaKind::SharedFile => vma,
    }
}

/// `perms` minus write; a write-only mapping keeps read access (x86 has no write-only pages).
fn without_write(perms: Perms) -> Perms {
    if perms.contains(Perms::WRITE) {
        (perms - Perms::WRITE) | Perms::READ
    } else {
        perms
    }
}

/// What kind of access caused a fault, as far as the sentry knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAccess {
    Read,
    Write,
    /// Instruction fetch.
    Exec,
    /// The platform could not say and the instruction could not be decoded.
    Unknown,
}

impl FaultAccess {
    /// The kind a platform-reported access set means (ptrace reports an empty set).
    pub fn from_access(access: Access) -> FaultAccess {
        if access.contains(Perms::WRITE) {
            FaultAccess::Write
        } else if access.contains(Perms::EXEC) {
            FaultAccess::Exec
        } else if access.contains(Perms::READ) {
            FaultAccess::Read
        } else {
            FaultAccess::Unknown
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    vmas: BTreeMap<u64, Vma>,
    pmas: BTreeMap<u64, Pma>,
    brk_base: u64,
    brk_cur: u64,
    platform_error: Option<PlatformError>,
    /// `(rip, rsp, page)` of the last fault whose access was decoded from the instruction: a
    /// second fault of the same instruction (a retry has the same `rsp`; another thread has
    /// its own stack) on the same page is not decoded again but handled as `Unknown`, so a
    /// wrong decoding costs one fault, never a loop.
    last_decoded: Option<(u64, u64, u64)>,
    /// What the loader recorded about the image (Linux's `mm->exe_file`, `arg_start`...).
    exe_info: ExeInfo,
}

/// What the loader records about the program image of an address space, for /proc:
/// the executable (Linux's `mm->exe_file`) and where the argument and environment strings
/// were written (`mm->arg_start..arg_end`, `env_start..env_end`). Inherited by fork.
#[derive(Clone, Debug, Default)]
pub struct ExeInfo {
    /// The file the program was loaded from (the interpreter's for a `#!` script, as Linux).
    pub exe: Option<Arc<dyn MappedFile>>,
    /// `[start, end)` of the NUL-terminated argv strings.
    pub argv: (u64, u64),
    /// `[start, end)` of the NUL-terminated envp strings.
    pub envp: (u64, u64),
}

/// The memory of one application address space. See the module documentation.
pub struct MemoryManager {
    /// Unique identity ([`MemoryManager::id`]).
    id: u64,
    mf: Arc<MemoryFile>,
    asp: Arc<dyn AddressSpace>,
    /// Exclusive upper bound of user addresses (page-aligned).
    max_addr: u64,
    /// Top of the region top-down mmap placement searches first.
    mmap_base: u64,
    inner: Mutex<Inner>,
    /// Truncations of mapped files done by other processes, to apply on one of our own
    /// threads ([`MemoryManager::defer_truncation`]); `has_deferred` says whether any wait.
    deferred: Mutex<Vec<(usize, u64)>>,
    has_deferred: AtomicBool,
}

impl fmt::Debug for MemoryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryManager")
            .field("max_addr", &format_args!("{:#x}", self.max_addr))
            .field("vmas", &self.lock().vmas.len())
            .finish_non_exhaustive()
    }
}

/// The fork-related madvise(2) advices: `MADV_{DONT,DO}FORK`, `MADV_{WIPE,KEEP}ONFORK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ForkAdvice {
    Dont,
    Do,
    WipeOn,
    KeepOn,
}

/// Where a fault's [`FaultAccess`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KindFrom {
    /// The platform reported it (or the caller of `handle_fault_access` vouches for it).
    Reported,
    /// Decoded from the instruction (`decode.rs`): a hint.
    Decoded,
}

/// How [`MemoryManager::fill_chunk`] backs holes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holes {
    /// Allocate (or read from the file, or point into the shared range).
    Allocate,
    /// The access only reads: holes in private anonymous memory become zero-page PMAs; other
    /// holes are allocated.
    ZeroPage,
}

/// Why an internal backing operation failed, before it is turned into an errno or a fault.
#[derive(Debug)]
enum BackErr {
    NoMem,
    Io,
    Platform(PlatformError),
}

impl Drop for MemoryManager {
    /// Releases this manager's references on its private pages (freeing those nobody else
    /// shares). No platform call: the owner drops a manager only when no thread will run in
    /// its address space again (exit, execve), and the address space goes with it.
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (&s, p) in &inner.pmas {
            if p.kind.holds_ref()
                && let Err(e) = self.mf.release(p.mf_off, p.end - s)
            {
                tracing::error!(target: "sentry::mm", %e, "releasing pages of a dropped manager failed");
            }
        }
        inner.pmas.clear();
    }
}

impl MemoryManager {
    /// A manager for an empty address space `asp` whose pages come from `mf`; user addresses
    /// stay below `max_addr` (the platform's `max_user_address`).
    pub fn new(mf: Arc<MemoryFile>, asp: Arc<dyn AddressSpace>, max_addr: u64) -> Self {
        let max_addr = page_align_down(max_addr);
        let mmap_base = match max_addr.checked_sub(MMAP_BASE_GAP) {
            Some(b) if b > MMAP_MIN_ADDR => b,
            _ => max_addr,
        };
        MemoryManager {
            id: futex::next_id(),
            mf,
            asp,
            max_addr,
            mmap_base,
            inner: Mutex::new(Inner::default()),
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
        }
    }

    /// The platform address space this manager maps into.
    pub fn address_space(&self) -> &Arc<dyn AddressSpace> {
        &self.asp
    }

    /// The MemoryFile backing this address space.
    pub fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.mf
    }

    /// Exclusive upper bound of user addresses.
    pub fn max_addr(&self) -> u64 {
        self.max_addr
    }

    /// A platform failure recorded by a syscall path (which returned ENOMEM to the app). The
    /// task loop checks this and ends the sandbox.
    pub fn take_platform_error(&self) -> Option<PlatformError> {
        self.lock().platform_error.take()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation of `Inner` leaves both maps consistent between statements that can
        // panic (none should), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a platform failure on a syscall path; returns the errno the app sees.
    fn platform_failed(inner: &mut Inner, e: PlatformError) -> Errno {
        tracing::error!(target: "sentry::mm", %e, "platform call failed");
        inner.platform_error.get_or_insert(e);
        Errno::ENOMEM
    }

    /// Bytes currently mapped into the application (its resident set as the platform holds
    /// it; the zero page counts, as on Linux).
    pub fn resident_bytes(&self) -> u64 {
        let inner = self.lock();
        inner
            .pmas
            .iter()
            .filter(|(_, p)| p.mapped.is_some())
            .map(|(&start, p)| p.end.saturating_sub(start))
            .sum()
    }

    /// The VMAs, in address order.
    pub fn vmas(&self) -> Vec<VmaInfo> {
        let inner = self.lock();
        inner
            .vmas
            .iter()
            .map(|(&start, v)| VmaInfo {
                start,
                end: v.end,
                prot: v.prot,
                sharing: v.sharing,
                file_offset: match &v.source {
                    Source::File { offset, .. } => Some(*offset),
                    _ => None,
                },
                grows_down: v.grows_down,
                is_heap: inner.brk_base != 0
                    && start >= inner.brk_base
                    && v.end <= page_align_up(inner.brk_cur).unwrap_or(u64::MAX),
            })
            .collect()
    }

    /// The files behind file-backed VMAs, by VMA start (for /proc/[pid]/maps).
    pub fn vma_files(&self) -> Vec<(u64, Arc<dyn MappedFile>)> {
        self.lock()
            .vmas
            .iter()
            .filter_map(|(&start, v)| match &v.source {
                Source::File { file, .. } => Some((start, Arc::clone(file))),
                _ => None,
            })
            .collect()
    }

    /// Records what the loader knows about the image (see [`ExeInfo`]).
    pub fn set_exe_info(&self, info: ExeInfo) {
        self.lock().exe_info = info;
    }

    /// What the loader recorded about the image.
    pub fn exe_info(&self) -> ExeInfo {
        self.lock().exe_info.clone()
    }

    // ---------------------------------------------------------------------------------------
    // fork(2)

    /// fork(2) (clone without `CLONE_VM`): a copy of this address space for the child, whose
    /// platform address space `child_asp` must be fresh (nothing mapped).
    ///
    /// The child gets the same VMAs and brk state, except `MADV_DONTFORK` VMAs (a hole in the
    /// child) and `MADV_WIPEONFORK` ones (zero-filled in the child; the parent keeps its pages
    /// private). Private pages are shared copy-on-write:
    /// every backed private page gets one more MemoryFile reference, becomes `PmaKind::Cow`
    /// on both sides, and the parent's currently mapped writable private pages are
    /// write-protected through the parent's address space, so **this must be called on the
    /// parent task's thread** (the platform threading contract). `MAP_SHARED` anonymous
    /// mappings share their `SharedRange`. The child starts with nothing mapped and faults
    /// its pages in.
    ///
    /// `clone(CLONE_VM)` needs nothing from here: the threads share the `Arc<MemoryManager>`.
    /// execve(2) builds a fresh manager with [`MemoryManager::new`].
    ///
    /// Errors: ENOMEM if the MemoryFile refuses (nothing changed), or ENOMEM with a parked
    /// platform error if write-protecting failed (the sandbox ends).
    pub fn fork(&self, child_asp: Arc<dyn AddressSpace>) -> SysResult<MemoryManager> {
        let mut inner = self.lock();
        // The PMAs the child inherits: those of VMAs it gets with their contents.
        let inherited = |inner: &Inner, s: u64| {
            lookup(&inner.vmas, s).is_some_and(|(_, v)| v.on_fork == OnFork::Copy)
        };
        // One more reference on every inherited page a PMA holds one on (private and file
        // pages); undone if the MemoryFile refuses.
        let held: Vec<(u64, u64)> = inner
            .pmas
            .iter()
            .filter(|(s, p)| p.kind.holds_ref() && inherited(&inner, **s))
            .map(|(&s, p)| (p.mf_off, p.end - s))
            .collect();
        for (i, &(off, len)) in held.iter().enumerate() {
            if let Err(e) = self.mf.share(off, len) {
                tracing::error!(target: "sentry::mm", %e, "sharing pages for fork failed");
                for &(o, l) in held.iter().take(i) {
                    let _ = self.mf.release(o, l);
                }
                return Err(Errno::ENOMEM);
            }
        }
        let child_pmas: BTreeMap<u64, Pma> = inner
            .pmas
            .iter()
            .filter(|(s, _)| inherited(&inner, **s))
            .map(|(&s, p)| {
                // Private pages become copy-on-write; shared ones (the SharedRange's, a
                // file's) stay shared, the child holding its own reference on file pages.
                let kind = match p.kind {
                    PmaKind::Private | PmaKind::Cow => PmaKind::Cow,
                    other => other,
                };
                let pma = Pma {
                    kind,
                    mapped: None,
                    ..*p
                };
                (s, pma)
            })
            .collect();
        let child = MemoryManager {
            id: futex::next_id(),
            mf: Arc::clone(&self.mf),
            asp: child_asp,
            max_addr: self.max_addr,
            mmap_base: self.mmap_base,
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                vmas: inner
                    .vmas
                    .iter()
                    .filter(|(_, v)| v.on_fork != OnFork::Skip)
                    .map(|(&s, v)| (s, v.clone()))
                    .collect(),
                pmas: child_pmas,
                brk_base: inner.brk_base,
                brk_cur: inner.brk_cur,
                platform_error: None,
                last_decoded: None,
                exe_info: inner.exe_info.clone(),
            }),
        };
        // The parent's private pages become COW; write-protect the mapped writable ones, one
        // call per contiguous run of equal permissions.
        let mut runs: Vec<(u64, u64, Perms)> = Vec::new();
        let keep: Vec<u64> = inner
            .pmas
            .iter()
            .filter(|(s, p)| p.kind == PmaKind::Private && !inherited(&inner, **s))
            .map(|(s, _)| *s)
            .collect();
        for (&s, p) in inner.pmas.iter_mut() {
            if p.kind != PmaKind::Private || keep.binary_search(&s).is_ok() {
                continue;
            }
            p.kind = PmaKind::Cow;
            if let Some(m) = p.mapped
                && m.contains(Perms::WRITE)
            {
                let want = without_write(m);
                p.mapped = Some(want);
                match runs.last_mut() {
                    Some(r) if r.1 == s && r.2 == want => r.1 = p.end,
                    _ => runs.push((s, p.end, want)),
                }
            }
        }
        for (s, e, want) in runs {
            if let Err(err) = self.asp.protect(s, e - s, want) {
                // `child` drops here and releases its references.
                return Err(Self::platform_failed(&mut inner, err));
            }
        }
        Ok(child)
    }

    // ---------------------------------------------------------------------------------------
    // mmap(2)

    /// mmap(2) after flag decoding. Returns the mapping's address.
    pub fn mmap(&self, o: MmapOpts) -> SysResult<u64> {
        if o.len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(o.len).ok_or(Errno::ENOMEM)?;
        if len > self.max_addr {
            return Err(Errno::ENOMEM);
        }
        // mmap(2) ignores protection bits it does not know; PROT_GROWSDOWN is mprotect-only.
        let prot = o.prot & Prot::ACCESS;
        // Overcommit heuristic under a memory limit (mm/util.c __vm_enough_memory, mode 0:
        // one private writable mapping larger than all memory fails with ENOMEM); smaller
        // ones succeed and meet the limit when touched (the OOM kill, `kernel/oom.rs`).
        if o.sharing == Sharing::Private
            && prot.contains(Prot::WRITE)
            && self.mf.limit().is_some_and(|l| len > l)
        {
            return Err(Errno::ENOMEM);
        }
        let max_prot = o.max_prot & Prot::ACCESS;
        // mmap(2): EACCES for a protection the file's open mode does not allow (the handler
        // checks this too; here it is the invariant prot ⊆ max_prot).
        if !max_prot.contains(prot) {
            return Err(Errno::EACCES);
        }
        if let Backing::File { offset, .. } = &o.backing {
            // mmap(2): "offset must be a multiple of the page size".
            if !is_page_aligned(*offset) {
                return Err(Errno::EINVAL);
            }
            // mm/mmap.c do_mmap: the page offset must not wrap.
            if offset.checked_add(len).is_none() {
                return Err(Errno::EOVERFLOW);
            }
        }
        let mut inner = self.lock();
        let start = match o.placement {
            Placement::Hint => self.pick(&inner, o.addr, len)?,
            Placement::Fixed | Placement::FixedNoReplace => {
                if !is_page_aligned(o.addr) {
                    return Err(Errno::EINVAL);
                }
                let end = o.addr.checked_add(len).filter(|e| *e <= self.max_addr);
                if end.is_none() {
                    return Err(Errno::ENOMEM);
                }
                // security/min_addr.c: mapping below mmap_min_addr needs CAP_SYS_RAWIO.
                if o.addr < MMAP_MIN_ADDR {
                    return Err(Errno::EPERM);
                }
                o.addr
            }
        };
        let end = start + len; // pick() and the checks above bound it by max_addr.
        if o.placement == Placement::FixedNoReplace && !is_free(&inner.vmas, start, end) {
            return Err(Errno::EEXIST);
        }
        let source = match (o.backing, o.sharing) {
            (Backing::Anonymous, Sharing::Private) => Source::Anon,
            (Backing::Anonymous, Sharing::Shared) => {
                let off = self.mf.allocate(len).map_err(|_| Errno::ENOMEM)?;
                let range = Arc::new(SharedRange {
                    mf: Arc::clone(&self.mf),
                    off,
                    len,
                });
                Source::Shared { range, offset: 0 }
            }
            (Backing::File { file, offset }, _) => Source::File { file, offset },
        };
        if o.placement == Placement::Fixed {
            self.unmap_locked(&mut inner, start, end)?;
        }
        let vma = Vma {
            end,
            prot,
            max_prot,
            sharing: o.sharing,
            source,
            grows_down: o.grows_down,
            on_fork: OnFork::Copy,
        };
        inner.vmas.insert(start, vma);
        Self::merge_around(&mut inner, start);
        if o.populate {
            // MAP_POPULATE failures are not reported (mm/gup.c: mm_populate ignores them),
            // except a platform failure, which ends the sandbox.
            if let Err(BackErr::Platform(e)) = self.populate_locked(&mut inner, start, end) {
                return Err(Self::platform_failed(&mut inner, e));
            }
        }
        tracing::trace!(target: "sentry::mm", start, end, ?prot, "mmap");
        Ok(start)
    }

    /// Chooses an address for a `len`-byte mapping with hint `hint` (mm/mmap.c
    /// `arch_get_unmapped_area_topdown`): the hint if free, else the highest free range
    /// below `mmap_base`, else anywhere.
    fn pick(&self, inner: &Inner, hint: u64, len: u64) -> SysResult<u64> {
        if hint != 0 {
            let h = page_align_up(hint.max(MMAP_MIN_ADDR));
            if let Some(h) = h
                && let Some(end) = h.checked_add(len)
                && end <= self.max_addr
                && is_free(&inner.vmas, h, end)
            {
                return Ok(h);
            }
        }
        self.find_gap(inner, self.mmap_base, len)
            .or_else(|| self.find_gap(inner, self.max_addr, len))
            .ok_or(Errno::ENOMEM)
    }

    /// The highest `len`-byte free range ending at or below `top`, at or above MMAP_MIN_ADDR.
    fn find_gap(&self, inner: &Inner, top: u64, len: u64) -> Option<u64> {
        let mut hi = top;
        for (&start, v) in inner.vmas.range(..top).rev() {
            if v.end <= hi && hi - v.end >= len {
                return Some(hi - len);
            }
            hi = hi.min(start);
        }
        hi.checked_sub(len).filter(|s| *s >= MMAP_MIN_ADDR)
    }

    /// Merges the VMA at `start` with its neighbours when they are indistinguishable.
    fn merge_around(inner: &mut Inner, start: u64) {
        let Some(cur) = inner.vmas.get(&start).cloned() else {
            return;
        };
        // With the next one.
        if let Some(next) = inner.vmas.get(&cur.end).cloned()
            && Self::mergeable(&cur, start, &next)
        {
            inner.vmas.remove(&cur.end);
            if let Some(c) = inner.vmas.get_mut(&start) {
                c.end = next.end;
            }
        }
        // With the previous one.
        if let Some((&ps, prev)) = inner.vmas.range(..start).next_back()
            && prev.end == start
            && Self::mergeable(prev, ps, &cur)
        {
            let end = inner.vmas.get(&start).map_or(cur.end, |c| c.end);
            inner.vmas.remove(&start);
            if let Some(p) = inner.vmas.get_mut(&ps) {
                p.end = end;
            }
        }
    }

    /// Whether `b` (starting at `a.end`) continues `a` (starting at `a_start`).
    fn mergeable(a: &Vma, a_start: u64, b: &Vma) -> bool {
        if a.prot != b.prot
            || a.max_prot != b.max_prot
            || a.sharing != b.sharing
            || a.grows_down != b.grows_down
            || a.on_fork != b.on_fork
        {
            return false;
        }
        let a_len = a.end - a_start;
        match (&a.source, &b.source) {
            (Source::Anon, Source::Anon) => true,
            (
                Source::File {
                    file: fa,
                    offset: oa,
                },
                Source::File {
                    file: fb,
                    offset: ob,
                },
            ) => {
                Arc::as_ptr(fa).cast::<()>() == Arc::as_ptr(fb).cast::<()>()
                    && oa.checked_add(a_len) == Some(*ob)
            }
            (
                Source::Shared {
                    range: ra,
                    offset: oa,
                },
                Source::Shared {
                    range: rb,
                    offset: ob,
                },
            ) => Arc::ptr_eq(ra, rb) && oa.checked_add(a_len) == Some(*ob),
            _ => false,
        }
    }

    // ---------------------------------------------------------------------------------------
    // munmap(2), mprotect(2), brk(2)

    /// munmap(2).
    pub fn munmap(&self, addr: u64, len: u64) -> SysResult<()> {
        // mm/mmap.c do_vmi_munmap: unaligned start, zero or wrapping length, or a range
        // beyond TASK_SIZE is EINVAL.
        if !is_page_aligned(addr) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len).ok_or(Errno::EINVAL)?;
        let end = addr
            .checked_add(len)
            .filter(|e| *e <= self.max_addr)
            .ok_or(Errno::EINVAL)?;
        let mut inner = self.lock();
        self.unmap_locked(&mut inner, addr, end)
    }

    /// Removes VMAs and backing in `[start, end)`.
    fn unmap_locked(&self, inner: &mut Inner, start: u64, end: u64) -> SysResult<()> {
        take_range(&mut inner.vmas, start, end);
        self.drop_pmas(inner, start, end)
            .map_err(|e| Self::platform_failed(inner, e))
    }

    /// Removes the PMAs in `[start, end)`: unmaps them in the platform and drops their page references.
    fn drop_pmas(&self, inner: &mut Inner, start: u64, end: u64) -> Result<(), PlatformError> {
        let gone = take_range(&mut inner.pmas, start, end);
        if gone.is_empty() {
            return Ok(());
        }
        if gone.iter().any(|(_, p)| p.mapped.is_some()) {
            // One call for the whole range: unmapping holes is allowed.
            // If it fails, the pages are leaked, never freed while still mapped.
            self.asp.unmap(start, end - start)?;
        }
        for (s, p) in gone {
            if p.kind.holds_ref()
                && let Err(e) = self.mf.release(p.mf_off, p.end - s)
            {
                tracing::error!(target: "sentry::mm", %e, "releasing private pages failed");
            }
        }
        Ok(())
    }

    /// The file `key` ([`MappedFile::inode_key`]) was truncated to `size`: this address
    /// space stops backing its pages wholly past the new end, so the next access faults and,
    /// past EOF, gets SIGBUS as on Linux. Called by the truncating task for its own address
    /// space; other processes' get it through [`defer_truncation`](Self::defer_truncation)
    /// (on ptrace an address space can only be changed from its own threads).
    pub fn file_truncated(&self, key: usize, size: u64) -> SysResult<()> {
        let Some(cut) = page_align_up(size) else {
            return Ok(());
        };
        let mut inner = self.lock();
        let ranges: Vec<(u64, u64)> = inner
            .vmas
            .iter()
            .filter_map(|(&start, v)| match &v.source {
                Source::File { file, offset } if file.inode_key() == Some(key) => {
                    let len = v.end - start;
                    let file_end = offset.checked_add(len)?;
                    if cut >= file_end {
                        return None;
                    }
                    let from = start.checked_add(cut.saturating_sub(*offset))?;
                    Some((from, v.end))
                }
                _ => None,
            })
            .collect();
        for (from, end) in ranges {
            self.drop_pmas(&mut inner, from, end)
                .map_err(|e| Self::platform_failed(&mut inner, e))?;
        }
        Ok(())
    }

    /// Whether some VMA maps the file `key` ([`MappedFile::inode_key`]).
    pub fn maps_file(&self, key: usize) -> bool {
        self.lock().vmas.values().any(
            |v| matches!(&v.source, Source::File { file, .. } if file.inode_key() == Some(key)),
        )
    }

    /// Another process truncated the file `key` to `size`: remembered until one of this
    /// address space's own threads calls [`apply_deferred`](Self::apply_deferred) (on ptrace
    /// only they can change it). The caller then makes such a thread leave application code.
    pub fn defer_truncation(&self, key: usize, size: u64) {
        let mut d = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
        match d.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = e.1.min(size),
            None => d.push((key, size)),
        }
        self.has_deferred.store(true, Ordering::SeqCst);
    }

    /// Applies truncations other processes made ([`file_truncated`](Self::file_truncated)
    /// for each); called by the task loop before it runs application code. Cheap when none.
    pub fn apply_deferred(&self) -> SysResult<()> {
        // A plain load first: this runs before every return to application code.
        if !self.has_deferred.load(Ordering::Relaxed)
            || !self.has_deferred.swap(false, Ordering::SeqCst)
        {
            return Ok(());
        }
        let list =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(PoisonError::into_inner));
        for (key, size) in list {
            self.file_truncated(key, size)?;
        }
        Ok(())
    }

    /// mprotect(2).
    pub fn mprotect(&self, addr: u64, len: u64, prot: Prot) -> SysResult<()> {
        let known = Prot::ACCESS | Prot::GROWSDOWN | Prot::GROWSUP;
        if !is_page_aligned(addr) || !known.contains(prot) {
            return Err(Errno::EINVAL);
        }
        // x86 has no grows-up mappings; both at once is EINVAL (mm/mprotect.c).
        if prot.contains(Prot::GROWSUP) {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let mut start = addr;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        let new = prot & Prot::ACCESS;
        let mut inner = self.lock();
        if prot.contains(Prot::GROWSDOWN) {
            // Extend the change down to the start of the grows-down VMA containing `addr`.
            match lookup(&inner.vmas, addr) {
                Some((s, v)) if v.grows_down => start = s,
                _ => return Err(Errno::EINVAL),
            }
        }
        // mprotect(2): ENOMEM if part of the range is not mapped.
        if !Self::fully_mapped(&inner, start, end) {
            return Err(Errno::ENOMEM);
        }
        // mprotect(2): EACCES if a mapping may not get the protection, e.g. PROT_WRITE on a
        // MAP_SHARED mapping of a file opened read-only. Checked for the whole range before
        // changing anything (Linux may have changed the VMAs before the refused one).
        let refused = inner
            .vmas
            .range(..end)
            .rev()
            .take_while(|(_, v)| v.end > start)
            .any(|(_, v)| !v.max_prot.contains(new));
        if refused {
            return Err(Errno::EACCES);
        }
        split_at(&mut inner.vmas, start);
        split_at(&mut inner.vmas, end);
        for (_, v) in inner.vmas.range_mut(start..end) {
            v.prot = new;
        }
        // Re-protect what the platform has mapped, one call per contiguous run of equal
        // permissions (COW pages stay without write).
        split_at(&mut inner.pmas, start);
        split_at(&mut inner.pmas, end);
        let perms = perms_of(new);
        let mut runs: Vec<(u64, u64, Perms)> = Vec::new();
        for (&s, p) in inner.pmas.range_mut(start..end) {
            let want = pma_perms(perms, p.kind);
            if p.mapped.is_some_and(|m| m != want) {
                p.mapped = Some(want);
                match runs.last_mut() {
                    Some(r) if r.1 == s && r.2 == want => r.1 = p.end,
                    _ => runs.push((s, p.end, want)),
                }
            }
        }
        for (s, e, want) in runs {
            if let Err(err) = self.asp.protect(s, e - s, want) {
                return Err(Self::platform_failed(&mut inner, err));
            }
        }
        // Re-merge the edges (the interior pieces all got the same protection).
        let keys: Vec<u64> = inner.vmas.range(start..end).map(|(k, _)| *k).collect();
        for k in keys.into_iter().rev() {
            Self::merge_around(&mut inner, k);
        }
        Ok(())
    }

    /// msync(2) after flag checks: each shared file mapping in the range writes what it
    /// changed back to its file ([`MappedFile::sync`]: 9P files; a tmpfs mapping is the
    /// file's own pages). EINVAL for an unaligned `addr`, ENOMEM if part of the range is not
    /// mapped (mm/msync.c). The files are synced after the address-space lock is dropped.
    pub fn msync(&self, addr: u64, len: u64) -> SysResult<()> {
        if !is_page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let files: Vec<Arc<dyn MappedFile>> = {
            let inner = self.lock();
            if !Self::fully_mapped(&inner, addr, end) {
                return Err(Errno::ENOMEM);
            }
            inner
                .vmas
                .range(..end)
                .filter(|(start, v)| v.end > addr && **start < end)
                .filter(|(_, v)| v.sharing == Sharing::Shared)
                .filter_map(|(_, v)| match &v.source {
                    Source::File { file, .. } => Some(Arc::clone(file)),
                    _ => None,
                })
                .collect()
        };
        for f in files {
            f.sync()?;
        }
        Ok(())
    }

    /// mincore(2) for `[addr, addr + pages * PAGE_SIZE)` (`addr` page-aligned, checked by the
    /// caller): one byte per page, 1 where the sentry has backed the page with MemoryFile
    /// memory the host holds (a PMA whose page is resident in the memfd: faults may back
    /// more pages than were touched, but untouched ones are still holes there), else 0.
    /// A file page this address space has not backed is resident if the file holds it in
    /// memory ([`MappedFile::page_cached`]: tmpfs pages, as Linux asks the page cache).
    /// ENOMEM if VMAs do not cover the range.
    pub fn mincore(&self, addr: u64, pages: u64) -> SysResult<Vec<u8>> {
        let len = pages.checked_mul(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end > self.max_addr {
            return Err(Errno::ENOMEM);
        }
        let inner = self.lock();
        if !Self::fully_mapped(&inner, addr, end) {
            return Err(Errno::ENOMEM);
        }
        let mut out = Vec::with_capacity(usize::try_from(pages).unwrap_or(0));
        let mut a = addr;
        while a < end {
            let Some((ps, p)) = lookup(&inner.pmas, a) else {
                // Not backed here: a file page may still be in memory in the file.
                let cached = lookup(&inner.vmas, a).is_some_and(|(vs, v)| match &v.source {
                    Source::File { file, offset } => {
                        file.page_cached((offset + (a - vs)) / PAGE_SIZE)
                    }
                    _ => false,
                });
                out.push(u8::from(cached));
                a += PAGE_SIZE;
                continue;
            };
            let run_end = p.end.min(end);
            let mf_off = p.mf_off + (a - ps);
            let n = (run_end - a) / PAGE_SIZE;
            if p.kind == PmaKind::Zero {
                // Read-only touched anonymous memory: Linux maps its zero page there, and a
                // present page table entry counts as resident.
                out.extend(std::iter::repeat_n(1, usize::try_from(n).unwrap_or(0)));
                a = run_end;
                continue;
            }
            match self.mf.resident(mf_off, run_end - a) {
                Ok(bits) => out.extend(bits.iter().map(|b| b & 1)),
                // The host refused (never for a range we own): count the backing as resident.
                Err(_) => out.extend(std::iter::repeat_n(1, usize::try_from(n).unwrap_or(0))),
            }
            a = run_end;
        }
        Ok(out)
    }

    /// Whether VMAs cover `[start, end)` without holes.
    fn fully_mapped(inner: &Inner, start: u64, end: u64) -> bool {
        let mut cur = start;
        while cur < end {
            match lookup(&inner.vmas, cur) {
                Some((_, v)) => cur = v.end,
                None => return false,
            }
        }
        true
    }

    /// Sets the start of the brk heap (the loader, after the last segment). Page-aligned up.
    pub fn set_brk_base(&self, addr: u64) {
        let base = page_align_up(addr).unwrap_or(page_align_down(addr));
        let mut inner = self.lock();
        inner.brk_base = base;
        inner.brk_cur = base;
    }

    /// brk(2): moves the program break to `addr` if possible; returns the (new) break. Failure
    /// is reported by returning the old break, as the raw syscall does.
    pub fn brk(&self, addr: u64) -> u64 {
        let mut inner = self.lock();
        let old = inner.brk_cur;
        if addr < inner.brk_base || inner.brk_base == 0 {
            return old;
        }
        let (Some(old_end), Some(new_end)) = (page_align_up(old), page_align_up(addr)) else {
            return old;
        };
        if new_end > self.max_addr {
            return old;
        }
        // A heap larger than the sandbox's memory limit is refused, as mmap refuses one such
        // mapping (see `mmap`).
        if new_end > old_end
            && self
                .mf
                .limit()
                .is_some_and(|l| new_end.saturating_sub(inner.brk_base) > l)
        {
            return old;
        }
        if new_end < old_end {
            if self.unmap_locked(&mut inner, new_end, old_end).is_err() {
                return old;
            }
        } else if new_end > old_end {
            if !is_free(&inner.vmas, old_end, new_end) {
                return old;
            }
            let vma = Vma {
                end: new_end,
                prot: Prot::READ | Prot::WRITE,
                max_prot: Prot::ACCESS,
                sharing: Sharing::Private,
                source: Source::Anon,
                grows_down: false,
                on_fork: OnFork::Copy,
            };
            inner.vmas.insert(old_end, vma);
            Self::merge_around(&mut inner, old_end);
        }
        inner.brk_cur = addr;
        addr
    }

    // ---------------------------------------------------------------------------------------
    // mremap(2), madvise(2)

    /// mremap(2).
    pub fn mremap(
        &self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
        new_addr: u64,
    ) -> SysResult<u64> {
        // mm/mremap.c: unknown flags, FIXED or DONTUNMAP without MAYMOVE, unaligned old
        // address: EINVAL.
        if flags.bits() & !MremapFlags::all().bits() != 0 || !is_page_aligned(old) {
            return Err(Errno::EINVAL);
        }
        let may_move = flags.contains(MremapFlags::MAYMOVE);
        if (flags.contains(MremapFlags::FIXED) && !may_move)
            || flags.contains(MremapFlags::DONTUNMAP)
        {
            return Err(Errno::EINVAL);
        }
        let old_len = page_align_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_align_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 || old_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_end = old.checked_add(old_len).ok_or(Errno::EFAULT)?;
        let mut inner = self.lock();
        // The old range must lie inside one VMA (mm/mremap.c vma_to_resize: EFAULT).
        let (vstart, vma) = lookup(&inner.vmas, old).ok_or(Errno::EFAULT)?;
        if old_end > vma.end {
            return Err(Errno::EFAULT);
        }
        let vma_end = vma.end;
        let _ = vstart;
        if flags.contains(MremapFlags::FIXED) {
            if !is_page_aligned(new_addr) {
                return Err(Errno::EINVAL);
            }
            let new_end = new_addr
                .checked_add(new_len)
                .filter(|e| *e <= self.max_addr)
                .ok_or(Errno::EINVAL)?;
            if new_addr < old_end && old < new_end {
                return Err(Errno::EINVAL);
            }
            if new_addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            self.unmap_locked(&mut inner, new_addr, new_end)?;
            let mut moved_len = old_len;
            if new_len < old_len {
                self.unmap_locked(&mut inner, old + new_len, old_end)?;
                moved_len = new_len;
            }
            self.move_locked(&mut inner, old, moved_len, new_addr, new_len)?;
            return Ok(new_addr);
        }
        if new_len <= old_len {
            // Shrink in place (mremap(2): "the mapping is shrunk").
            self.unmap_locked(&mut inner, old + new_len, old_end)?;
            return Ok(old);
        }
        // Grow in place if the VMA ends here and the space after it is free.
        let grown_end = old.checked_add(new_len).filter(|e| *e <= self.max_addr);
        if let Some(grown_end) = grown_end
            && old_end == vma_end
            && is_free(&inner.vmas, old_end, grown_end)
        {
            if let Some((_, v)) = inner.vmas.range_mut(..=old).next_back() {
                v.end = grown_end;
            }
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let dest = self.pick(&inner, 0, new_len)?;
        self.move_locked(&mut inner, old, old_len, dest, new_len)?;
        Ok(dest)
    }

    /// Moves `[old, old+old_len)` (inside one VMA) to `new` (free), resized to `new_len`.
    /// The backing moves with it: same MemoryFile pages, no copy.
    fn move_locked(
        &self,
        inner: &mut Inner,
        old: u64,
        old_len: u64,
        new: u64,
        new_len: u64,
    ) -> SysResult<()> {
        let old_end = old + old_len;
        let mut vmas = take_range(&mut inner.vmas, old, old_end);
        let Some((_, mut vma)) = vmas.pop() else {
            return Err(Errno::EFAULT);
        };
        vma.end = new + new_len;
        let pmas = take_range(&mut inner.pmas, old, old_end);
        if pmas.iter().any(|(_, p)| p.mapped.is_some())
            && let Err(e) = self.asp.unmap(old, old_len)
        {
            return Err(Self::platform_failed(inner, e));
        }
        for (s, mut p) in pmas {
            // Pieces past new_len were unmapped by the caller (shrinking moves only
            // new_len bytes), so every piece fits.
            let ns = new + (s - old);
            p.end = new + (p.end - old);
            p.mapped = None;
            inner.pmas.insert(ns, p);
        }
        inner.vmas.insert(new, vma);
        Self::merge_around(inner, new);
        Ok(())
    }

    /// madvise(2).
    pub fn madvise(&self, addr: u64, len: u64, advice: i32) -> SysResult<()> {
        use madv::*;
        enum Act {
            Nothing,
            /// `MADV_DONTFORK`/`DOFORK`/`WIPEONFORK`/`KEEPONFORK`.
            Fork(ForkAdvice),
            Drop,
            Free,
            Remove,
            Populate,
        }
        let act = match advice {
            MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_MERGEABLE | MADV_UNMERGEABLE
            | MADV_HUGEPAGE | MADV_NOHUGEPAGE | MADV_DONTDUMP | MADV_DODUMP | MADV_COLD
            | MADV_PAGEOUT | MADV_COLLAPSE => Act::Nothing,
            MADV_DONTFORK => Act::Fork(ForkAdvice::Dont),
            MADV_DOFORK => Act::Fork(ForkAdvice::Do),
            MADV_WIPEONFORK => Act::Fork(ForkAdvice::WipeOn),
            MADV_KEEPONFORK => Act::Fork(ForkAdvice::KeepOn),
            MADV_DONTNEED | MADV_DONTNEED_LOCKED => Act::Drop,
            MADV_FREE => Act::Free,
            MADV_REMOVE => Act::Remove,
            MADV_WILLNEED | MADV_POPULATE_READ | MADV_POPULATE_WRITE => Act::Populate,
            // Needs CAP_SYS_ADMIN.
            MADV_HWPOISON | MADV_SOFT_OFFLINE => return Err(Errno::EPERM),
            _ => return Err(Errno::EINVAL),
        };
        // mm/madvise.c do_madvise: alignment and wrap checks, then len 0 succeeds.
        if !is_page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let alen = page_align_up(len).ok_or(Errno::EINVAL)?;
        if len != 0 && alen == 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(alen).ok_or(Errno::EINVAL)?;
        if alen == 0 {
            return Ok(());
        }
        let mut inner = self.lock();
        if !Self::fully_mapped(&inner, addr, end) {
            return Err(Errno::ENOMEM);
        }
        // The VMA pieces inside [addr, end): sharing, and (offset, range) if shared anonymous.
        struct Piece {
            start: u64,
            end: u64,
            sharing: Sharing,
            is_file: bool,
            shared: Option<(u64, Arc<SharedRange>)>,
        }
        let pieces: Vec<Piece> = inner
            .vmas
            .range(..end)
            .rev()
            .take_while(|(_, v)| v.end > addr)
            .map(|(&s, v)| {
                let from = s.max(addr);
                let shared = match &v.source {
                    Source::Shared { range, offset } => {
                        Some((offset.saturating_add(from - s), Arc::clone(range)))
                    }
                    _ => None,
                };
                Piece {
                    start: from,
                    end: v.end.min(end),
                    sharing: v.sharing,
                    is_file: matches!(v.source, Source::File { .. }),
                    shared,
                }
            })
            .collect();
        match act {
            Act::Nothing => Ok(()),
            Act::Fork(advice) => {
                // mm/madvise.c: MADV_WIPEONFORK only applies to private anonymous memory.
                if advice == ForkAdvice::WipeOn
                    && pieces
                        .iter()
                        .any(|p| p.sharing == Sharing::Shared || p.is_file)
                {
                    return Err(Errno::EINVAL);
                }
                Self::set_on_fork(&mut inner, addr, end, advice);
                Ok(())
            }
            Act::Populate => match self.populate_locked(&mut inner, addr, end) {
                Err(BackErr::Platform(e)) => Err(Self::platform_failed(&mut inner, e)),
                Err(BackErr::NoMem) => Err(Errno::ENOMEM),
                Err(BackErr::Io) => Err(Errno::EFAULT),
                Ok(()) => Ok(()),
            },
            Act::Free if pieces.iter().any(|p| p.sharing == Sharing::Shared) => Err(Errno::EINVAL),
            // madvise(2) MADV_DONTNEED: private mappings refault as zero-fill (anonymous) or
            // the file's contents; shared mappings keep their data. Dropping the PMAs gives
            // exactly that: private pages are freed, shared ones just unmapped.
            Act::Drop | Act::Free => self
                .drop_pmas(&mut inner, addr, end)
                .map_err(|e| Self::platform_failed(&mut inner, e)),
            // MADV_REMOVE: frees the backing of shared mappings (reads as zero afterwards);
            // EINVAL on private ones.
            Act::Remove => {
                if pieces
                    .iter()
                    .any(|p| p.sharing == Sharing::Private || p.shared.is_none())
                {
                    return Err(Errno::EINVAL);
                }
                for p in &pieces {
                    if let Some((off, range)) = &p.shared {
                        let len = (p.end - p.start).min(range.len.saturating_sub(*off));
                        let _ = range
                            .off
                            .checked_add(*off)
                            .map(|o| self.mf.decommit(o, len));
                    }
                }
                Ok(())
            }
        }
    }

    /// Applies a fork advice to the VMAs in `[start, end)` (all mapped), splitting at the
    /// edges and merging back what became indistinguishable.
    fn set_on_fork(inner: &mut Inner, start: u64, end: u64, advice: ForkAdvice) {
        split_at(&mut inner.vmas, start);
        split_at(&mut inner.vmas, end);
        // Every PMA lies inside one VMA.
        split_at(&mut inner.pmas, start);
        split_at(&mut inner.pmas, end);
        for (_, v) in inner.vmas.range_mut(start..end) {
            v.on_fork = match (advice, v.on_fork) {
                (ForkAdvice::Dont, _) => OnFork::Skip,
                // VM_DONTCOPY and VM_WIPEONFORK are separate flags in Linux; we keep one
                // state, so DOFORK of a wiped VMA keeps wiping only if it was not skipped.
                (ForkAdvice::Do, OnFork::Skip) => OnFork::Copy,
                (ForkAdvice::Do, other) => other,
                (ForkAdvice::WipeOn, OnFork::Skip) => OnFork::Skip,
                (ForkAdvice::WipeOn, _) => OnFork::Wipe,
                (ForkAdvice::KeepOn, OnFork::Wipe) => OnFork::Copy,
                (ForkAdvice::KeepOn, other) => other,
            };
        }
        let keys: Vec<u64> = inner.vmas.range(start..end).map(|(k, _)| *k).collect();
        for k in keys.into_iter().rev() {
            Self::merge_around(inner, k);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Faults and backing

    /// A fault reported by the platform, without the faulting thread's registers: the access
    /// kind is what the platform says ([`FaultAccess::from_access`]; ptrace's empty set is
    /// `Unknown`). `Ok` → resume the app (pages now mapped). `Err` → the sentry delivers what
    /// [`FaultError`] says.
    pub fn handle_fault(&self, addr: u64, access: Access) -> Result<(), FaultError> {
        self.handle_fault_access(addr, FaultAccess::from_access(access))
    }

    /// A fault at `addr` taken by the thread whose registers (at the faulting instruction)
    /// are `regs`. When the platform cannot report the access (`access` empty: ptrace), it is
    /// decoded from the instruction at `regs.rip` (see `decode.rs`), which lets a read of
    /// untouched memory map the shared zero page and a write to a COW page copy it in one
    /// fault. Otherwise as [`handle_fault_access`](Self::handle_fault_access).
    pub fn handle_fault_with_regs(
        &self,
        addr: u64,
        access: Access,
        regs: &Regs,
    ) -> Result<(), FaultError> {
        if !access.is_empty() {
            return self.handle_fault_access(addr, FaultAccess::from_access(access));
        }
        let mut inner = self.lock();
        let here = (regs.rip, regs.rsp, page_align_down(addr));
        let kind = if inner.last_decoded == Some(here) {
            inner.last_decoded = None;
            FaultAccess::Unknown
        } else {
            let mut code = [0u8; decode::MAX_INSN_LEN];
            let n = Self::peek_locked(&inner, &self.mf, regs.rip, &mut code);
            inner.last_decoded = Some(here);
            decode::classify(code.get(..n).unwrap_or(&[]), regs, addr)
        };
        tracing::trace!(target: "sentry::mm", addr, rip = regs.rip, ?kind, "fault");
        self.fault_locked(&mut inner, addr, kind, KindFrom::Decoded)
    }

    /// Reads what is backed at `addr` into `buf`, up to the first unbacked byte, without
    /// backing anything or checking protection (the instruction bytes of a fault). Returns
    /// the count.
    fn peek_locked(inner: &Inner, mf: &MemoryFile, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0usize;
        while done < buf.len() {
            let Some(a) = addr.checked_add(done as u64) else {
                break;
            };
            let Some((ps, p)) = lookup(&inner.pmas, a) else {
                break;
            };
            let avail = usize::try_from(p.end - a).unwrap_or(usize::MAX);
            let n = avail.min(buf.len() - done);
            let (Some(off), Some(dst)) =
                (p.mf_off.checked_add(a - ps), buf.get_mut(done..done + n))
            else {
                break;
            };
            if mf.read(off, dst).is_err() {
                break;
            }
            done += n;
        }
        done
    }

    /// A fault at `addr` caused by an access of kind `kind`.
    ///
    /// - `Write` (or `Unknown` on a page mapped without write in a writable VMA, which on
    ///   ptrace can only be a write): the page is made private first (a COW page is copied,
    ///   or claimed in place when this manager is its last owner) and mapped writable.
    /// - `Read`/`Exec`: COW pages are mapped read-only, shared by parent and child; untouched
    ///   private anonymous memory maps the shared zero page (read-only) instead of allocating.
    /// - `Unknown` elsewhere: like today's ptrace behaviour, holes are allocated and mapped
    ///   with the VMA's permissions (COW pages read-only; a write then faults once more).
    /// - A known access that the current mapping already allows is spurious (another thread
    ///   resolved the same page first): `Ok` without work.
    pub fn handle_fault_access(&self, addr: u64, kind: FaultAccess) -> Result<(), FaultError> {
        let mut inner = self.lock();
        self.fault_locked(&mut inner, addr, kind, KindFrom::Reported)
    }

    fn fault_locked(
        &self,
        inner: &mut Inner,
        addr: u64,
        mut kind: FaultAccess,
        from: KindFrom,
    ) -> Result<(), FaultError> {
        const MAPERR: FaultError = FaultError::Segv {
            code: si_code::SEGV_MAPERR,
        };
        const ACCERR: FaultError = FaultError::Segv {
            code: si_code::SEGV_ACCERR,
        };
        if lookup(&inner.vmas, addr).is_none() && !self.grow_stack(inner, addr) {
            return Err(MAPERR);
        }
        let Some((_, vma)) = lookup(&inner.vmas, addr) else {
            return Err(MAPERR);
        };
        let perms = perms_of(vma.prot);
        // x86: any accessible mapping is readable (PROT_WRITE and PROT_EXEC imply read).
        let allows = |kind| {
            !perms.is_empty()
                && match kind {
                    FaultAccess::Write => perms.contains(Perms::WRITE),
                    FaultAccess::Exec => perms.contains(Perms::EXEC),
                    FaultAccess::Read | FaultAccess::Unknown => true,
                }
        };
        if !allows(kind) && from == KindFrom::Decoded {
            // A decoded kind is a hint: never deliver a signal on its word alone. As
            // `Unknown`, a real violation still ends in SEGV_ACCERR one fault later.
            kind = FaultAccess::Unknown;
        }
        if !allows(kind) {
            return Err(ACCERR);
        }
        let page = page_align_down(addr);
        let mapped = lookup(&inner.pmas, page).and_then(|(_, p)| p.mapped);
        let write = match (kind, mapped) {
            (FaultAccess::Write, _) => true,
            (FaultAccess::Unknown, Some(m)) => {
                if perms.contains(Perms::WRITE) && !m.contains(Perms::WRITE) {
                    // Present but read-only in a writable VMA: only a write faults there.
                    true
                } else if m == perms {
                    // Already mapped with everything the VMA allows: the access exceeded it
                    // (this is how a write to a read-only page shows up on ptrace).
                    return Err(ACCERR);
                } else {
                    false
                }
            }
            _ => false,
        };
        if let Some(m) = mapped {
            let satisfied = match kind {
                // x86: any accessible page is readable.
                FaultAccess::Read => !m.is_empty(),
                FaultAccess::Write => m.contains(Perms::WRITE),
                FaultAccess::Exec => m.contains(Perms::EXEC),
                FaultAccess::Unknown => false,
            };
            if satisfied {
                return Ok(());
            }
        }
        let holes = match kind {
            FaultAccess::Read | FaultAccess::Exec => Holes::ZeroPage,
            FaultAccess::Write | FaultAccess::Unknown => Holes::Allocate,
        };
        let res = self.fill_chunk(inner, addr, holes).and_then(|(cs, ce)| {
            if write {
                // Stale platform mappings of replaced pages are remapped by map_range below
                // (the write window lies inside the chunk).
                self.privatize(inner, addr)?;
            }
            self.map_range(inner, cs, ce)
        });
        match res {
            Ok(()) => Ok(()),
            Err(BackErr::NoMem) => Err(FaultError::OutOfMemory),
            Err(BackErr::Io) => Err(FaultError::Bus),
            Err(BackErr::Platform(e)) => Err(FaultError::Platform(e)),
        }
    }

    /// Extends a grows-down VMA down to `addr` if `addr` is just below it (mm/mmap.c
    /// expand_downwards), keeping the guard gap to the VMA below.
    fn grow_stack(&self, inner: &mut Inner, addr: u64) -> bool {
        let page = page_align_down(addr);
        let Some((&start, v)) = inner.vmas.range(page..).next() else {
            return false;
        };
        if !v.grows_down || !matches!(v.source, Source::Anon) || v.end - page > STACK_GROW_LIMIT {
            return false;
        }
        if let Some((_, prev)) = inner.vmas.range(..start).next_back()
            && prev.end.saturating_add(STACK_GUARD_GAP) > page
        {
            return false;
        }
        if page < MMAP_MIN_ADDR {
            return false;
        }
        if let Some(v) = inner.vmas.remove(&start) {
            inner.vmas.insert(page, v);
        }
        true
    }

    /// Backs and maps every page of `[start, end)`.
    fn populate_locked(&self, inner: &mut Inner, start: u64, end: u64) -> Result<(), BackErr> {
        let mut cur = start;
        while cur < end {
            // Skip holes and PROT_NONE mappings (nothing to populate).
            let Some((_, v)) = lookup(&inner.vmas, cur) else {
                match inner.vmas.range(cur..end).next() {
                    Some((&s, _)) => {
                        cur = s;
                        continue;
                    }
                    None => break,
                }
            };
            let vend = v.end;
            if v.prot & Prot::ACCESS != Prot::NONE {
                self.back_locked(inner, cur, true)?;
            }
            // Advance to the end of the PMA now covering `cur` (at least one page).
            cur = lookup(&inner.pmas, cur).map_or(vend, |(_, p)| p.end.min(vend));
        }
        Ok(())
    }

    /// Ensures the fault-around chunk containing `addr` is backed and, if `map`, mapped in
    /// the platform. `addr` must be inside a VMA.
    fn back_locked(&self, inner: &mut Inner, addr: u64, map: bool) -> Result<(), BackErr> {
        let (cs, ce) = self.fill_chunk(inner, addr, Holes::Allocate)?;
        if map {
            self.map_range(inner, cs, ce)?;
        }
        Ok(())
    }

    /// Backs every hole of the fault-around chunk containing `addr` (clipped to its VMA);
    /// returns the chunk. `addr` must be inside a VMA.
    fn fill_chunk(&self, inner: &mut Inner, addr: u64, how: Holes) -> Result<(u64, u64), BackErr> {
        let Some((vstart, vma)) = lookup(&inner.vmas, addr).map(|(s, v)| (s, v.clone())) else {
            return Err(BackErr::Io);
        };
        let chunk = match vma.source {
            Source::File { .. } => FILE_FAULT_CHUNK,
            Source::Anon | Source::Shared { .. } => ANON_FAULT_CHUNK,
        };
        let base = addr & !(chunk - 1);
        let cs = base.max(vstart);
        let ce = base.saturating_add(chunk).min(vma.end);
        // Find the holes in [cs, ce) and fill them.
        let mut holes = Vec::new();
        let mut cur = cs;
        let first = inner
            .pmas
            .range(..cs)
            .next_back()
            .filter(|(_, p)| p.end > cs);
        for (&s, p) in first.into_iter().chain(inner.pmas.range(cs..ce)) {
            if s > cur {
                holes.push((cur, s));
            }
            cur = cur.max(p.end);
        }
        if cur < ce {
            holes.push((cur, ce));
        }
        let zero = how == Holes::ZeroPage && matches!(vma.source, Source::Anon);
        for (s, e) in holes {
            if let Some(pieces) = self.fill_file_pages(&vma, vstart, s, e)? {
                inner.pmas.extend(pieces);
                continue;
            }
            let pma = if zero {
                // The zero range is one chunk long; a hole's offset within its chunk picks
                // the part of it that the hole maps (s - base + len <= chunk).
                let z = self.mf.zero_range().map_err(|_| BackErr::NoMem)?;
                Pma {
                    end: e,
                    mf_off: z + (s - base),
                    kind: PmaKind::Zero,
                    mapped: None,
                }
            } else {
                self.fill(&vma, vstart, s, e)?
            };
            inner.pmas.insert(s, pma);
        }
        // A file's pages stop at its EOF: a fault past it is SIGBUS (a copy EFAULT).
        if lookup(&inner.pmas, addr).is_none() {
            return Err(BackErr::Io);
        }
        Ok((cs, ce))
    }

    /// Backs `[s, e)` of a file VMA (starting at `vstart`) with the file's own MemoryFile
    /// pages, if the file keeps its data there (`MappedFile::shared_page`; `Ok(None)`
    /// otherwise): `SharedFile` PMAs in a `MAP_SHARED` mapping, `Cow` ones in a private mapping
    /// (which reads the file's current data until its first write copies the page). Each
    /// page comes with a reference this manager now holds. Pages from the file's EOF on are
    /// left as a hole, which the caller turns into SIGBUS if the access falls there.
    fn fill_file_pages(
        &self,
        vma: &Vma,
        vstart: u64,
        s: u64,
        e: u64,
    ) -> Result<Option<Vec<(u64, Pma)>>, BackErr> {
        let Source::File { file, offset } = &vma.source else {
            return Ok(None);
        };
        let kind = match vma.sharing {
            Sharing::Shared => PmaKind::SharedFile,
            Sharing::Private => PmaKind::Cow,
        };
        // Page-aligned: the VMA's offset is (mmap checks it) and `s - vstart` is.
        let foff = offset.checked_add(s - vstart).ok_or(BackErr::Io)?;
        let mut out: Vec<(u64, Pma)> = Vec::new();
        let mut a = s;
        let mut failed = None;
        while a < e {
            let Some(index) = foff.checked_add(a - s).map(|o| o / PAGE_SIZE) else {
                failed = Some(BackErr::Io);
                break;
            };
            let run = match file.shared_pages(index, (e - a) / PAGE_SIZE) {
                None if a == s => return Ok(None),
                // A file cannot stop sharing halfway; treat it as a read error.
                None => Err(Errno::EIO),
                Some(r) => r,
            };
            match run {
                Ok((off, n)) => {
                    // A file answering more pages than asked for breaks its contract: give
                    // the extra references back rather than keep pages nothing maps.
                    let want = (e - a) / PAGE_SIZE;
                    if n > want
                        && let Err(e) = self
                            .mf
                            .release(off + want * PAGE_SIZE, (n - want) * PAGE_SIZE)
                    {
                        tracing::error!(target: "sentry::mm", %e, "releasing extra file pages failed");
                    }
                    let len = n.clamp(1, want) * PAGE_SIZE;
                    match out.last_mut() {
                        Some((ps, p))
                            if p.end == a && p.mf_off.checked_add(a - *ps) == Some(off) =>
                        {
                            p.end = a + len;
                        }
                        _ => out.push((
                            a,
                            Pma {
                                end: a + len,
                                mf_off: off,
                                kind,
                                mapped: None,
                            },
                        )),
                    }
                    a += len;
                }
                // Past EOF: the rest of the range stays a hole.
                Err(Errno::EFAULT) => break,
                Err(Errno::ENOSPC | Errno::ENOMEM) => {
                    failed = Some(BackErr::NoMem);
                    break;
                }
                Err(_) => {
                    failed = Some(BackErr::Io);
                    break;
                }
            }
        }
        if let Some(err) = failed {
            for (ps, p) in out {
                if let Err(e) = self.mf.release(p.mf_off, p.end - ps) {
                    tracing::error!(target: "sentry::mm", %e, "releasing file pages failed");
                }
            }
            return Err(err);
        }
        Ok(Some(out))
    }

    /// Maps every PMA in `[start, end)` (inside one VMA) that is not mapped with its
    /// permissions yet, one platform call per run contiguous in both address and MemoryFile
    /// offset.
    fn map_range(&self, inner: &mut Inner, start: u64, end: u64) -> Result<(), BackErr> {
        let Some(perms) = lookup(&inner.vmas, start).map(|(_, v)| perms_of(v.prot)) else {
            return Err(BackErr::Io);
        };
        split_at(&mut inner.pmas, start);
        split_at(&mut inner.pmas, end);
        // (addr, end, MemoryFile offset, perms)
        let mut runs: Vec<(u64, u64, u64, Perms)> = Vec::new();
        for (&s, p) in inner.pmas.range_mut(start..end) {
            let want = pma_perms(perms, p.kind);
            if p.mapped == Some(want) {
                continue;
            }
            p.mapped = Some(want);
            match runs.last_mut() {
                Some(r)
                    if r.1 == s && r.2.checked_add(s - r.0) == Some(p.mf_off) && r.3 == want =>
                {
                    r.1 = p.end;
                }
                _ => runs.push((s, p.end, p.mf_off, want)),
            }
        }
        for (s, e, off, want) in runs {
            self.asp
                .map(s, e - s, off, want)
                .map_err(BackErr::Platform)?;
        }
        Ok(())
    }

    /// Makes the page at `addr` writable in place: zero-page runs in the write window get
    /// fresh private pages, COW pages become private. Pages this
    /// manager is the last owner of are claimed without copying, for the whole write window
    /// ([`WRITE_WINDOW`] around `addr`, clipped to the VMA); a page still shared with another
    /// manager is copied, the faulting page only (as Linux does: copying more would spend
    /// memory on pages that may never be written). Returns the address ranges whose platform
    /// mapping now shows a stale page (their `mapped` is cleared: the caller remaps them).
    fn privatize(&self, inner: &mut Inner, addr: u64) -> Result<Vec<(u64, u64)>, BackErr> {
        let Some((vstart, vend)) = lookup(&inner.vmas, addr).map(|(s, v)| (s, v.end)) else {
            return Err(BackErr::Io);
        };
        let page = page_align_down(addr);
        let wbase = addr & !(WRITE_WINDOW - 1);
        let ws = wbase.max(vstart);
        let we = wbase.saturating_add(WRITE_WINDOW).min(vend);
        split_at(&mut inner.pmas, ws);
        split_at(&mut inner.pmas, we);
        let keys: Vec<u64> = inner
            .pmas
            .range(ws..we)
            .filter(|(_, p)| matches!(p.kind, PmaKind::Cow | PmaKind::Zero))
            .map(|(k, _)| *k)
            .collect();
        let mut stale = Vec::new();
        for k in keys {
            let Some(p) = inner.pmas.get_mut(&k) else {
                continue;
            };
            if p.kind == PmaKind::Zero {
                // Fresh pages read as zero, like the zero range; being sparse, they cost
                // nothing until touched, so the whole window is replaced at once.
                let len = p.end - k;
                p.mf_off = self.mf.allocate(len).map_err(|_| BackErr::NoMem)?;
                p.kind = PmaKind::Private;
                if p.mapped.take().is_some() {
                    stale.push((k, p.end));
                }
                continue;
            }
            // Same pages, only ours now: a platform mapping of them stays valid (read-only
            // until the next write fault upgrades it).
            if self.mf.is_exclusive(p.mf_off, p.end - k) {
                p.kind = PmaKind::Private;
                continue;
            }
            if !(k..p.end).contains(&page) {
                continue;
            }
            // Copy the faulting page only.
            split_at(&mut inner.pmas, page);
            split_at(&mut inner.pmas, page + PAGE_SIZE);
            let Some(p) = inner.pmas.get_mut(&page) else {
                return Err(BackErr::Io);
            };
            if !self.mf.is_exclusive(p.mf_off, PAGE_SIZE) {
                let new = self.mf.allocate(PAGE_SIZE).map_err(|_| BackErr::NoMem)?;
                if let Err(e) = self.mf.copy_within(p.mf_off, new, PAGE_SIZE) {
                    tracing::error!(target: "sentry::mm", %e, "copying a COW page failed");
                    let _ = self.mf.free(new, PAGE_SIZE);
                    return Err(BackErr::NoMem);
                }
                if let Err(e) = self.mf.release(p.mf_off, PAGE_SIZE) {
                    tracing::error!(target: "sentry::mm", %e, "releasing a COW page failed");
                }
                p.mf_off = new;
                if p.mapped.take().is_some() {
                    stale.push((page, page + PAGE_SIZE));
                }
            }
            p.kind = PmaKind::Private;
        }
        Ok(stale)
    }

    /// Creates the backing for `[s, e)` of `vma` (which starts at `vstart`).
    fn fill(&self, vma: &Vma, vstart: u64, s: u64, e: u64) -> Result<Pma, BackErr> {
        let len = e - s;
        match &vma.source {
            Source::Anon => {
                // Fresh MemoryFile ranges read as zero: nothing to write.
                let off = self.mf.allocate(len).map_err(|_| BackErr::NoMem)?;
                Ok(Pma {
                    end: e,
                    mf_off: off,
                    kind: PmaKind::Private,
                    mapped: None,
                })
            }
            Source::Shared { range, offset } => {
                let rel = offset.checked_add(s - vstart).ok_or(BackErr::Io)?;
                // Past the end of the shared object (after mremap grew the mapping): Linux
                // raises SIGBUS there too.
                if rel.checked_add(len).is_none_or(|r| r > range.len) {
                    return Err(BackErr::Io);
                }
                Ok(Pma {
                    end: e,
                    mf_off: range.off + rel,
                    kind: PmaKind::Shared,
                    mapped: None,
                })
            }
            Source::File { file, offset } => {
                let foff = offset.checked_add(s - vstart).ok_or(BackErr::Io)?;
                let n = usize::try_from(len).map_err(|_| BackErr::NoMem)?;
                let mut buf = vec![0u8; n];
                let mut done = 0usize;
                while done < n {
                    let Some(rest) = buf.get_mut(done..) else {
                        break;
                    };
                    let at = foff.checked_add(done as u64).ok_or(BackErr::Io)?;
                    match file.read_at(at, rest) {
                        Ok(0) => break, // EOF: the rest stays zero.
                        Ok(k) => done = done.saturating_add(k),
                        Err(Errno::EINTR) => {}
                        Err(_) => return Err(BackErr::Io),
                    }
                }
                let off = self.mf.allocate(len).map_err(|_| BackErr::NoMem)?;
                let valid = buf.get(..done.min(n)).unwrap_or(&[]);
                if let Err(e) = self.mf.write(off, valid) {
                    tracing::error!(target: "sentry::mm", %e, "filling file pages failed");
                    let _ = self.mf.free(off, len);
                    return Err(BackErr::NoMem);
                }
                Ok(Pma {
                    end: e,
                    mf_off: off,
                    kind: PmaKind::Private,
                    mapped: None,
                })
            }
        }
    }
}
