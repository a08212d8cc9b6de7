//! Memory syscalls: decode flags into `mm::MmapOpts` and call the memory manager.

use std::sync::Arc;

use abi::Errno;
use abi::mm::{MapFlags, MremapFlags, MsyncFlags, PAGE_SIZE, Prot};

use super::{SyscallArgs, SyscallResult, SyscallReturn, ok_zero};
use crate::kernel::{Task, VfsMappedFile};
use crate::mm::{Backing, MappedFile, MmapOpts, Placement, Sharing};

/// Flag bits the kernel validates under MAP_SHARED_VALIDATE (LEGACY_MAP_MASK plus the flags it
/// knows; mm/mmap.c). Anything else is EOPNOTSUPP.
const MAP_KNOWN: MapFlags = MapFlags::SHARED
    .union(MapFlags::PRIVATE)
    .union(MapFlags::FIXED)
    .union(MapFlags::ANONYMOUS)
    .union(MapFlags::_32BIT)
    .union(MapFlags::GROWSDOWN)
    .union(MapFlags::DENYWRITE)
    .union(MapFlags::EXECUTABLE)
    .union(MapFlags::LOCKED)
    .union(MapFlags::NORESERVE)
    .union(MapFlags::POPULATE)
    .union(MapFlags::NONBLOCK)
    .union(MapFlags::STACK)
    .union(MapFlags::HUGETLB)
    .union(MapFlags::SYNC)
    .union(MapFlags::FIXED_NOREPLACE);

/// The protection bits mmap accepts (PROT_READ|WRITE|EXEC; the rest is ignored by mmap).
fn prot_arg(v: u32) -> Prot {
    Prot::from_bits_truncate(v & 7)
}

/// mmap(2).
pub fn sys_mmap(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let addr = args.ulong(0);
    let len = args.ulong(1);
    let prot = prot_arg(args.uint(2));
    let raw_flags = args.uint(3);
    // Unknown bits are ignored by plain mmap (only MAP_SHARED_VALIDATE checks them).
    let flags = MapFlags::from_bits_retain(raw_flags);
    let fd = args.fd(4);
    let offset = args.ulong(5);

    // arch/x86/kernel/sys_x86_64.c: an unaligned offset is EINVAL, before anything else.
    if !offset.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let map_type = flags & MapFlags::TYPE;
    let sharing = match map_type {
        t if t == MapFlags::SHARED => Sharing::Shared,
        t if t == MapFlags::PRIVATE => Sharing::Private,
        t if t == MapFlags::SHARED_VALIDATE => {
            if !MAP_KNOWN.contains(flags) {
                return Err(Errno::EOPNOTSUPP);
            }
            Sharing::Shared
        }
        _ => return Err(Errno::EINVAL),
    };
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let placement = if flags.contains(MapFlags::FIXED_NOREPLACE) {
        Placement::FixedNoReplace
    } else if flags.contains(MapFlags::FIXED) {
        Placement::Fixed
    } else {
        Placement::Hint
    };
    // What mprotect may grant later (Linux VM_MAY*): everything, except write on a shared
    // mapping of a file not open for writing (mm/mmap.c do_mmap clears VM_MAYWRITE).
    let mut max_prot = Prot::READ | Prot::WRITE | Prot::EXEC;
    let backing = if flags.contains(MapFlags::ANONYMOUS) {
        Backing::Anonymous
    } else {
        let file = t.fds().file(fd)?;
        if file.is_path_only() {
            return Err(Errno::EBADF);
        }
        // mmap(2): EACCES if the file is not open for reading, or for a shared writable
        // mapping if it is not open for writing.
        if !file.is_readable() {
            return Err(Errno::EACCES);
        }
        if sharing == Sharing::Shared && prot.contains(Prot::WRITE) {
            if !file.is_writable() {
                return Err(Errno::EACCES);
            }
            // Writes through a shared mapping must reach the file. Files that keep their
            // pages in the MemoryFile (tmpfs, 9P with its page cache, which writes them back)
            // are mapped page for page; the others (whose MAP_SHARED mappings are private
            // copies) are refused rather than have their writes silently dropped.
            if !file.has_memfile_pages() {
                return Err(Errno::ENODEV);
            }
        }
        if sharing == Sharing::Shared && !file.is_writable() {
            max_prot.remove(Prot::WRITE);
        }
        // A shared mapping that may become writable is counted by its file (memfd seals):
        // a write-sealed memfd refuses PROT_WRITE (EPERM, memfd_create(2)) and its read-only
        // shared mappings may not become writable.
        let mut token = None;
        if sharing == Sharing::Shared && max_prot.contains(Prot::WRITE) {
            match file.writable_map_token() {
                Some(Ok(t)) => token = Some(t),
                Some(Err(e)) if prot.contains(Prot::WRITE) => return Err(e),
                Some(Err(_)) => max_prot.remove(Prot::WRITE),
                None => {}
            }
        }
        if file.path().is_none() {
            // Host-fd files (stdio) are not mappable.
            return Err(Errno::ENODEV);
        }
        let mf: Arc<dyn MappedFile> = Arc::new(VfsMappedFile(file, token));
        Backing::File { file: mf, offset }
    };
    let opts = MmapOpts {
        addr,
        len,
        prot,
        placement,
        sharing,
        backing,
        grows_down: flags.contains(MapFlags::GROWSDOWN),
        populate: flags.contains(MapFlags::POPULATE),
        max_prot,
    };
    Ok(SyscallReturn::Value(t.mm.mmap(opts)?))
}

/// munmap(2).
pub fn sys_munmap(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.mm.munmap(args.ulong(0), args.ulong(1))?;
    ok_zero()
}

/// mprotect(2). Unknown bits are EINVAL; `mm` handles PROT_GROWSDOWN (PROT_GROWSUP is EINVAL
/// on x86-64, which has no upward-growing stacks).
pub fn sys_mprotect(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let raw = args.uint(2);
    let prot = Prot::from_bits(raw).ok_or(Errno::EINVAL)?;
    t.mm.mprotect(args.ulong(0), args.ulong(1), prot)?;
    ok_zero()
}

/// brk(2): never fails; returns the current break when the request is refused.
pub fn sys_brk(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    Ok(SyscallReturn::Value(t.mm.brk(args.ulong(0))))
}

/// mremap(2).
pub fn sys_mremap(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = MremapFlags::from_bits(args.uint(3)).ok_or(Errno::EINVAL)?;
    let addr = t.mm.mremap(
        args.ulong(0),
        args.ulong(1),
        args.ulong(2),
        flags,
        args.ulong(4),
    )?;
    Ok(SyscallReturn::Value(addr))
}

/// msync(2). Shared mappings of tmpfs files are the file's pages, so there is nothing to
/// write back; the flags and the range are checked as Linux does (mm/msync.c).
pub fn sys_msync(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    // msync(2): EINVAL for unknown flags, or MS_SYNC together with MS_ASYNC.
    let flags = MsyncFlags::from_bits(args.uint(2)).ok_or(Errno::EINVAL)?;
    if flags.contains(MsyncFlags::SYNC | MsyncFlags::ASYNC) {
        return Err(Errno::EINVAL);
    }
    t.mm.msync(args.ulong(0), args.size(1))?;
    ok_zero()
}

/// madvise(2).
pub fn sys_madvise(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.mm.madvise(args.ulong(0), args.ulong(1), args.int(2))?;
    ok_zero()
}

/// mincore(2): EINVAL for an unaligned `addr`, ENOMEM for a range VMAs do not cover, EFAULT
/// for an unwritable vector. Filled in steps so a huge reservation does not need one huge
/// sentry buffer.
pub fn sys_mincore(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    const STEP_PAGES: u64 = 1 << 16;
    let addr = args.ulong(0);
    let len = args.ulong(1);
    let vec = args.ptr(2);
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let pages = len.div_ceil(PAGE_SIZE);
    let mut done = 0u64;
    while done < pages {
        let n = (pages - done).min(STEP_PAGES);
        let at = addr
            .checked_add(done.checked_mul(PAGE_SIZE).ok_or(Errno::ENOMEM)?)
            .ok_or(Errno::ENOMEM)?;
        let bits = t.mm.mincore(at, n)?;
        t.mm.copy_out(vec.checked_add(done).ok_or(Errno::EFAULT)?, &bits)?;
        done += n;
    }
    ok_zero()
}
