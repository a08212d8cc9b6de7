//! Memory-management ABI: `PROT_*`, `MAP_*`, `MREMAP_*` and `MADV_*` values for mmap(2),
//! mprotect(2), mremap(2) and madvise(2).
//!
//! Numbers follow include/uapi/asm-generic/mman-common.h and include/uapi/linux/mman.h, plus
//! arch/x86/include/uapi/asm/mman.h (x86-64 uses the generic values, with `MAP_32BIT`).
//! Used by the sentry's `mm` (decisions) and syscall handlers (decoding).

/// The page size of x86-64 (`PAGE_SIZE`).
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// `mmap_min_addr` default (Documentation/admin-guide/sysctl/vm.rst): the lowest address an
/// unprivileged mmap may return.
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;

bitflags::bitflags! {
    /// `PROT_*` (mman-common.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Prot: u32 {
        const READ = 0x1;
        const WRITE = 0x2;
        const EXEC = 0x4;
        /// mprotect(2) only: extend the change down to the start of a grows-down mapping.
        const GROWSDOWN = 0x0100_0000;
        /// mprotect(2) only: extend the change up to the end of a grows-up mapping.
        const GROWSUP = 0x0200_0000;
    }
}

impl Prot {
    /// `PROT_NONE`.
    pub const NONE: Prot = Prot::empty();
    /// The access bits (READ|WRITE|EXEC), without the mprotect-only modifiers.
    pub const ACCESS: Prot = Prot::READ.union(Prot::WRITE).union(Prot::EXEC);
}

bitflags::bitflags! {
    /// `MAP_*` (mman-common.h, linux/mman.h, asm/mman.h for x86).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MapFlags: u32 {
        const SHARED = 0x01;
        const PRIVATE = 0x02;
        /// `MAP_SHARED_VALIDATE`: SHARED|PRIVATE, shared with unknown flags rejected.
        const SHARED_VALIDATE = 0x03;
        const FIXED = 0x10;
        const ANONYMOUS = 0x20;
        /// x86-64 only: map in the first 2 GiB.
        const _32BIT = 0x40;
        const GROWSDOWN = 0x0100;
        const DENYWRITE = 0x0800;
        const EXECUTABLE = 0x1000;
        const LOCKED = 0x2000;
        const NORESERVE = 0x4000;
        const POPULATE = 0x8000;
        const NONBLOCK = 0x1_0000;
        const STACK = 0x2_0000;
        const HUGETLB = 0x4_0000;
        const SYNC = 0x8_0000;
        const FIXED_NOREPLACE = 0x10_0000;
        const UNINITIALIZED = 0x400_0000;
    }
}

impl MapFlags {
    /// `MAP_TYPE`: the mask of the sharing type bits.
    pub const TYPE: MapFlags = MapFlags::SHARED_VALIDATE;
}

bitflags::bitflags! {
    /// `MREMAP_*` (include/uapi/linux/mman.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MremapFlags: u32 {
        const MAYMOVE = 1;
        const FIXED = 2;
        const DONTUNMAP = 4;
    }
}

bitflags::bitflags! {
    /// `MS_*` flags of msync(2) (include/uapi/asm-generic/mman-common.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MsyncFlags: u32 {
        const ASYNC = 1;
        const INVALIDATE = 2;
        const SYNC = 4;
    }
}

/// `MADV_*` advice values for madvise(2) (mman-common.h). Plain integers: the argument is an
/// enumeration, not a flag set.
pub mod madv {
    pub const MADV_NORMAL: i32 = 0;
    pub const MADV_RANDOM: i32 = 1;
    pub const MADV_SEQUENTIAL: i32 = 2;
    pub const MADV_WILLNEED: i32 = 3;
    pub const MADV_DONTNEED: i32 = 4;
    pub const MADV_FREE: i32 = 8;
    pub const MADV_REMOVE: i32 = 9;
    pub const MADV_DONTFORK: i32 = 10;
    pub const MADV_DOFORK: i32 = 11;
    pub const MADV_MERGEABLE: i32 = 12;
    pub const MADV_UNMERGEABLE: i32 = 13;
    pub const MADV_HUGEPAGE: i32 = 14;
    pub const MADV_NOHUGEPAGE: i32 = 15;
    pub const MADV_DONTDUMP: i32 = 16;
    pub const MADV_DODUMP: i32 = 17;
    pub const MADV_WIPEONFORK: i32 = 18;
    pub const MADV_KEEPONFORK: i32 = 19;
    pub const MADV_COLD: i32 = 20;
    pub const MADV_PAGEOUT: i32 = 21;
    pub const MADV_POPULATE_READ: i32 = 22;
    pub const MADV_POPULATE_WRITE: i32 = 23;
    pub const MADV_DONTNEED_LOCKED: i32 = 24;
    pub const MADV_COLLAPSE: i32 = 25;
    pub const MADV_HWPOISON: i32 = 100;
    pub const MADV_SOFT_OFFLINE: i32 = 101;
}

/// Rounds `x` down to a page boundary.
pub const fn page_align_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Rounds `x` up to a page boundary; `None` on overflow.
pub const fn page_align_up(x: u64) -> Option<u64> {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(v & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// Whether `x` is a multiple of the page size.
pub const fn is_page_aligned(x: u64) -> bool {
    x & (PAGE_SIZE - 1) == 0
}
