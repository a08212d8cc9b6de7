//! Memory syscalls: decode flags into `mm::MmapOpts` and call the memory manager.

use std::sync::Arc;

use abi::Errno;
use abi::mm::{MremapFlags, Prot};

use super::{SyscallArgs, SyscallResult, SyscallReturn, ok_zero};
use crate::kernel::{Task, VfsMappedFile};
use crate::mm::{Backing, MappedFile, MmapOpts, Placement, Sharing};

const PAGE: u64 = 4096;
const MAP_TYPE: u32 = 0x0f;
const MAP_SHARED: u32 = 0x01;
const MAP_PRIVATE: u32 = 0x02;
const MAP_SHARED_VALIDATE: u32 = 0x03;
const MAP_FIXED: u32 = 0x10;
const MAP_ANONYMOUS: u32 = 0x20;
const MAP_GROWSDOWN: u32 = 0x100;
const MAP_POPULATE: u32 = 0x8000;
const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;
/// Flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK plus the validated ones we know).
const MAP_KNOWN: u32 = 0x01
    | 0x02
    | 0x10
    | 0x20
    | 0x100
    | 0x800
    | 0x1000
    | 0x2000
    | 0x4000
    | 0x8000
    | 0x10000
    | 0x20000
    | 0x40000
    | 0x10_0000
    | 0xfc00_0000;

/// The protection bits mmap accepts (PROT_READ|WRITE|EXEC; the rest is ignored by mmap).
fn prot_arg(v: u32) -> Prot {
    Prot::from_bits_truncate(v & 7)
}

/// mmap(2).
pub fn sys_mmap(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let addr = args.ulong(0);
    let len = args.ulong(1);
    let prot = prot_arg(args.uint(2));
    let flags = args.uint(3);
    let fd = args.fd(4);
    let offset = args.ulong(5);

    // arch/x86/kernel/sys_x86_64.c: an unaligned offset is EINVAL, before anything else.
    if !offset.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    let sharing = match flags & MAP_TYPE {
        MAP_SHARED => Sharing::Shared,
        MAP_PRIVATE => Sharing::Private,
        MAP_SHARED_VALIDATE => {
            if flags & !MAP_KNOWN != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            Sharing::Shared
        }
        _ => return Err(Errno::EINVAL),
    };
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let placement = if flags & MAP_FIXED_NOREPLACE != 0 {
        Placement::FixedNoReplace
    } else if flags & MAP_FIXED != 0 {
        Placement::Fixed
    } else {
        Placement::Hint
    };
    let backing = if flags & MAP_ANONYMOUS != 0 {
        Backing::Anonymous
    } else {
        let file = t.fds.file(fd)?;
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
            // Writes through a shared mapping would have to reach the file; until files keep
            // their pages in the MemoryFile we refuse rather than silently drop them.
            return Err(Errno::ENODEV);
        }
        if file.path().is_none() {
            // Host-fd files (stdio) are not mappable.
            return Err(Errno::ENODEV);
        }
        let mf: Arc<dyn MappedFile> = Arc::new(VfsMappedFile(file));
        Backing::File { file: mf, offset }
    };
    let opts = MmapOpts {
        addr,
        len,
        prot,
        placement,
        sharing,
        backing,
        grows_down: flags & MAP_GROWSDOWN != 0,
        populate: flags & MAP_POPULATE != 0,
    };
    Ok(SyscallReturn::Value(t.mm.mmap(opts)?))
}

/// munmap(2).
pub fn sys_munmap(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.mm.munmap(args.ulong(0), args.ulong(1))?;
    ok_zero()
}

/// mprotect(2). PROT_GROWSDOWN/PROT_GROWSUP are not supported: EINVAL.
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

/// madvise(2).
pub fn sys_madvise(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.mm.madvise(args.ulong(0), args.ulong(1), args.int(2))?;
    ok_zero()
}
