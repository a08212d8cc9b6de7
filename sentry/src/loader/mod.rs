//! The ELF loader: turns an executable file into a fresh address space image (execve(2)).
//!
//! Key items: [`load`], [`ExecArgs`] (what execve passes), [`LoadedImage`] (where to start).
//! Neighbours: `elf` (checked header parsing, this module's child), `vdso` (the vDSO image and
//! its mappings), [`crate::mm`] (every
//! mapping goes through `MemoryManager::mmap`, every byte through its copy functions), the
//! kernel's execve (opens the files, creates the fresh `MemoryManager`, sets the registers).
//!
//! What it does, following fs/binfmt_elf.c `load_elf_binary`:
//! 1. Parse and validate the headers ([`elf::parse`]).
//! 2. Map an 8 MiB grows-down stack at the top of the user range.
//! 3. Map the sandbox's vDSO and its time page (`[vvar]` + `[vdso]`, [`vdso::Vdso::map_into`])
//!    at the top of the mmap area, when the kernel has one.
//! 4. Map each PT_LOAD as a private file mapping (+ anonymous memory for the bss, after
//!    zeroing the rest of the last file page). ET_EXEC loads at its addresses; ET_DYN (PIE,
//!    static-pie) at a base chosen like Linux's `ELF_ET_DYN_BASE` (two thirds of the address
//!    space).
//! 5. With PT_INTERP, load the interpreter (via the caller's `open_interp`) top-down at its own
//!    base; it becomes the entry point, and `AT_BASE` tells it where it is.
//! 6. Set the brk base after the main image's last segment.
//! 7. Build the initial stack: strings, `AT_RANDOM` bytes, platform string, then argc, argv,
//!    envp and the auxiliary vector (with `AT_SYSINFO_EHDR`, the vDSO's base, first, as
//!    Linux's `ARCH_DLINFO` puts it), 16-byte aligned (x86-64 psABI §3.4.1).
//!
//! Only x86-64 ELF64 images load ([`elf::check_ehdr`]), so the question of a vDSO for i386
//! processes does not arise yet. Shortcuts: no address randomization (stack top, vDSO, mmap
//! base and PIE base are fixed), PT_GNU_STACK is not
//! honoured (the stack is never executable), segments with `p_align` above a page are not
//! aligned beyond a page. On error the `MemoryManager` is left half-built: execve loads into
//! a fresh one and drops it on failure (the point of no return comes after `load`).

mod elf;
pub mod vdso;

use std::sync::Arc;

use abi::auxv::*;
use abi::elf::{PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};
use abi::mm::{PAGE_SIZE, Prot, page_align_down, page_align_up};
use abi::{Errno, SysResult};

use crate::mm::{Backing, MappedFile, MemoryManager, MmapOpts, Placement, Sharing};

/// Size of the initial stack mapping (RLIMIT_STACK default).
pub const STACK_SIZE: u64 = 8 << 20;
/// Longest single argument or environment string, NUL included (MAX_ARG_STRLEN: 32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;
/// Limit on the total size of argv + envp (strings and pointers): a quarter of the stack
/// rlimit, as fs/exec.c `get_arg_page` enforces.
pub const MAX_ARG_TOTAL: usize = (STACK_SIZE / 4) as usize;
/// `AT_CLKTCK`: USER_HZ.
const CLOCK_TICKS: u64 = 100;

/// What execve passes to the new image.
#[derive(Clone, Debug)]
pub struct ExecArgs {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// The path given to execve (`AT_EXECFN`).
    pub execfn: Vec<u8>,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// The 16 bytes `AT_RANDOM` points to (stack protector and pointer guard seeds).
    pub random: [u8; 16],
    /// `AT_PLATFORM` ("x86_64").
    pub platform_str: &'static [u8],
}

/// Opens the PT_INTERP path (as given in the file, without NUL) for [`load`].
pub type OpenInterp<'a> = dyn Fn(&[u8]) -> SysResult<Arc<dyn MappedFile>> + 'a;

/// Where the new image starts, and what /proc needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    /// Initial `rip`: the interpreter's entry if there is one, else the program's.
    pub entry: u64,
    /// Initial `rsp`: points at argc.
    pub stack_pointer: u64,
    /// Start of the brk heap.
    pub brk_base: u64,
    /// The program's own entry point (`AT_ENTRY`).
    pub program_entry: u64,
    /// Load address of the interpreter (`AT_BASE`), if any.
    pub interp_base: Option<u64>,
    /// Address of the program headers in memory (`AT_PHDR`).
    pub phdr: u64,
    /// Top (exclusive) of the stack mapping.
    pub stack_top: u64,
    /// `[argv_start, argv_end)`: the argument strings (/proc/[pid]/cmdline).
    pub argv_start: u64,
    pub argv_end: u64,
    /// `[envp_start, envp_end)`: the environment strings (/proc/[pid]/environ).
    pub envp_start: u64,
    pub envp_end: u64,
    /// The auxiliary vector as written, AT_NULL excluded (/proc/[pid]/auxv).
    pub auxv: Vec<(u64, u64)>,
    /// Where the vDSO image was mapped (`AT_SYSINFO_EHDR`), if it was.
    pub vdso_base: Option<u64>,
}

/// Result of mapping one ELF image.
#[derive(Clone, Copy, Debug)]
struct Mapped {
    /// What was added to every `p_vaddr`.
    bias: u64,
    /// `e_entry + bias`.
    entry: u64,
    /// Address of the program header table in memory (0 if not mapped).
    phdr: u64,
    /// End of the highest segment (page-aligned up): the brk base for the main program.
    end: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Program,
    Interpreter,
}

/// Loads an ELF64 x86-64 executable into `mm` (which should be fresh), with the sandbox's
/// vDSO if `vdso` is given, and builds its stack.
pub fn load(
    mm: &MemoryManager,
    file: Arc<dyn MappedFile>,
    args: &ExecArgs,
    open_interp: &OpenInterp<'_>,
    vdso: Option<&vdso::Vdso>,
) -> SysResult<LoadedImage> {
    let info = elf::parse(file.as_ref())?;
    // Fail E2BIG before touching the address space (fs/exec.c checks while copying the
    // strings, before the point of no return).
    check_arg_sizes(args)?;
    let interp = match &info.interp {
        Some(path) => {
            let f = open_interp(path)?;
            let i = elf::parse(f.as_ref())?;
            Some((f, i))
        }
        None => None,
    };

    let stack_top = page_align_down(mm.max_addr());
    let stack_bottom = stack_top.checked_sub(STACK_SIZE).ok_or(Errno::ENOMEM)?;
    mm.mmap(MmapOpts {
        addr: stack_bottom,
        placement: Placement::Fixed,
        grows_down: true,
        ..MmapOpts::anonymous(STACK_SIZE, Prot::READ | Prot::WRITE)
    })?;
    // Before the images, so it takes the top of the mmap area whatever they are.
    let vdso_base = vdso.map(|v| v.map_into(mm)).transpose()?;

    let prog = map_image(mm, &file, &info, Role::Program)?;
    mm.set_brk_base(prog.end);
    let (entry, interp_base) = match &interp {
        Some((f, i)) => {
            let m = map_image(mm, f, i, Role::Interpreter)?;
            (m.entry, Some(m.bias))
        }
        None => (prog.entry, None),
    };

    let secure = u64::from(args.uid != args.euid || args.gid != args.egid);
    let mut aux: Vec<(u64, u64)> = vdso_base
        .map(|b| (AT_SYSINFO_EHDR, b))
        .into_iter()
        .collect();
    aux.extend([
        (AT_HWCAP, hwcap()),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, CLOCK_TICKS),
        (AT_PHDR, prog.phdr),
        (AT_PHENT, u64::from(info.ehdr.e_phentsize)),
        (AT_PHNUM, u64::from(info.ehdr.e_phnum)),
        (AT_BASE, interp_base.unwrap_or(0)),
        (AT_FLAGS, 0),
        (AT_ENTRY, prog.entry),
        (AT_UID, u64::from(args.uid)),
        (AT_EUID, u64::from(args.euid)),
        (AT_GID, u64::from(args.gid)),
        (AT_EGID, u64::from(args.egid)),
        (AT_SECURE, secure),
    ]);
    let st = build_stack(stack_top, args, aux)?;
    mm.copy_out(st.sp, &st.image)?;
    mm.set_exe_info(crate::mm::ExeInfo {
        exe: Some(Arc::clone(&file)),
        argv: (st.argv_start, st.argv_end),
        envp: (st.envp_start, st.envp_end),
    });
    Ok(LoadedImage {
        entry,
        stack_pointer: st.sp,
        brk_base: prog.end,
        program_entry: prog.entry,
        interp_base,
        phdr: prog.phdr,
        stack_top,
        argv_start: st.argv_start,
        argv_end: st.argv_end,
        envp_start: st.envp_start,
        envp_end: st.envp_end,
        auxv: st.auxv,
        vdso_base,
    })
}

/// `AT_HWCAP` on x86: CPUID leaf 1 EDX (arch/x86/include/asm/elf.h `ELF_HWCAP`).
fn hwcap() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        u64::from(std::arch::x86_64::__cpuid(1).edx)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

fn prot_of(flags: u32) -> Prot {
    let mut p = Prot::NONE;
    if flags & PF_R != 0 {
        p |= Prot::READ;
    }
    if flags & PF_W != 0 {
        p |= Prot::WRITE;
    }
    if flags & PF_X != 0 {
        p |= Prot::EXEC;
    }
    p
}

/// Maps the PT_LOAD segments of one image.
fn map_image(
    mm: &MemoryManager,
    file: &Arc<dyn MappedFile>,
    info: &elf::ElfInfo,
    role: Role,
) -> SysResult<Mapped> {
    let (lo, hi) = info.span()?;
    let span = hi - lo; // span() guarantees hi >= lo (sorted, non-overlapping segments).
    let bias = if info.is_dyn() {
        // Reserve a free range of the whole span, then release it and map the segments
        // there with MAP_FIXED (binfmt_elf maps the first segment with the total size, then
        // trims). Single-threaded here: nothing can take the range in between.
        let hint = match role {
            // ELF_ET_DYN_BASE (arch/x86/include/asm/elf.h): 2/3 of the address space.
            Role::Program => page_align_down(mm.max_addr() / 3 * 2),
            Role::Interpreter => 0,
        };
        let start = mm.mmap(MmapOpts {
            addr: hint,
            ..MmapOpts::anonymous(span, Prot::NONE)
        })?;
        mm.munmap(start, span)?;
        start.checked_sub(lo).ok_or(Errno::ENOEXEC)?
    } else {
        0
    };
    if hi.checked_add(bias).is_none_or(|e| e > mm.max_addr()) {
        return Err(Errno::ENOMEM);
    }
    for ph in &info.loads {
        map_segment(mm, file, ph, bias)?;
    }
    // AT_PHDR: from PT_PHDR, else the segment that contains the table in the file.
    let phoff = info.ehdr.e_phoff;
    let phdr = info
        .phdrs
        .iter()
        .find(|p| p.p_type == PT_PHDR)
        .map(|p| p.p_vaddr)
        .or_else(|| {
            info.phdrs
                .iter()
                .filter(|p| p.p_type == PT_LOAD)
                .find(|p| phoff >= p.p_offset && phoff - p.p_offset < p.p_filesz)
                .map(|p| p.p_vaddr + (phoff - p.p_offset))
        })
        .map_or(0, |v| v.wrapping_add(bias));
    Ok(Mapped {
        bias,
        entry: info.ehdr.e_entry.wrapping_add(bias),
        phdr,
        end: hi + bias,
    })
}

/// Maps one PT_LOAD segment (already validated by `elf::parse`) at `p_vaddr + bias`.
fn map_segment(
    mm: &MemoryManager,
    file: &Arc<dyn MappedFile>,
    ph: &abi::elf::Elf64Phdr,
    bias: u64,
) -> SysResult<()> {
    let prot = prot_of(ph.p_flags);
    let vaddr = ph.p_vaddr.checked_add(bias).ok_or(Errno::ENOMEM)?;
    let start = page_align_down(vaddr);
    let file_end = vaddr.checked_add(ph.p_filesz).ok_or(Errno::ENOMEM)?;
    let mem_end = vaddr.checked_add(ph.p_memsz).ok_or(Errno::ENOMEM)?;
    let file_map_end = page_align_up(file_end).ok_or(Errno::ENOMEM)?;
    let mem_map_end = page_align_up(mem_end).ok_or(Errno::ENOMEM)?;
    if ph.p_filesz > 0 {
        mm.mmap(MmapOpts {
            addr: start,
            len: file_map_end - start,
            prot,
            placement: Placement::Fixed,
            sharing: Sharing::Private,
            backing: Backing::File {
                file: Arc::clone(file),
                offset: page_align_down(ph.p_offset),
            },
            grows_down: false,
            populate: false,
            max_prot: Prot::ACCESS,
        })?;
        // The rest of the last file page belongs to the bss and must read as zero, not as
        // whatever follows in the file (binfmt_elf `padzero`).
        if ph.p_memsz > ph.p_filesz && file_end < file_map_end {
            let zeros = vec![0u8; usize::try_from(file_map_end - file_end).unwrap_or(0)];
            mm.copy_out_force(file_end, &zeros)?;
        }
    }
    let anon_start = if ph.p_filesz > 0 { file_map_end } else { start };
    if mem_map_end > anon_start {
        mm.mmap(MmapOpts {
            addr: anon_start,
            placement: Placement::Fixed,
            ..MmapOpts::anonymous(mem_map_end - anon_start, prot)
        })?;
    }
    Ok(())
}

/// E2BIG checks of fs/exec.c: each string at most MAX_ARG_STRLEN, the whole at most a
/// quarter of the stack.
fn check_arg_sizes(args: &ExecArgs) -> SysResult<()> {
    let mut total = 0usize;
    for s in args.argv.iter().chain(&args.envp) {
        let n = s.len().checked_add(1).ok_or(Errno::E2BIG)?;
        if n > MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        total = total
            .checked_add(n + size_of::<u64>())
            .ok_or(Errno::E2BIG)?;
    }
    if total > MAX_ARG_TOTAL || args.execfn.len() >= MAX_ARG_STRLEN || args.platform_str.len() > 64
    {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

/// The initial stack, laid out below `top`.
#[derive(Debug)]
struct StackImage {
    sp: u64,
    /// Bytes of `[sp, top)`.
    image: Vec<u8>,
    argv_start: u64,
    argv_end: u64,
    envp_start: u64,
    envp_end: u64,
    auxv: Vec<(u64, u64)>,
}

/// Lays out the initial stack (fs/binfmt_elf.c `create_elf_tables`): from the top, a null
/// word, the execfn string, envp strings, argv strings, the platform string and the 16
/// random bytes; below them (16-byte aligned) argc, argv[] NULL, envp[] NULL, auxv pairs
/// ending with AT_NULL. `aux` gets AT_RANDOM, AT_EXECFN and AT_PLATFORM appended.
/// Pure: it only computes bytes; `check_arg_sizes` has bounded the inputs.
fn build_stack(top: u64, args: &ExecArgs, mut aux: Vec<(u64, u64)>) -> SysResult<StackImage> {
    // Collect (address, bytes) writes, then render them into one buffer.
    let mut writes: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut p = top.checked_sub(8).ok_or(Errno::E2BIG)?;
    // Pushes `s` and a NUL below `p`; returns its address.
    fn push_str(p: &mut u64, s: &[u8], writes: &mut Vec<(u64, Vec<u8>)>) -> SysResult<u64> {
        let mut v = s.to_vec();
        v.push(0);
        *p = p.checked_sub(v.len() as u64).ok_or(Errno::E2BIG)?;
        writes.push((*p, v));
        Ok(*p)
    }
    let execfn = push_str(&mut p, &args.execfn, &mut writes)?;
    let envp_end = p;
    let mut envs = Vec::with_capacity(args.envp.len());
    for e in args.envp.iter().rev() {
        envs.push(push_str(&mut p, e, &mut writes)?);
    }
    envs.reverse();
    let envp_start = p;
    let argv_end = p;
    let mut argvs = Vec::with_capacity(args.argv.len());
    for a in args.argv.iter().rev() {
        argvs.push(push_str(&mut p, a, &mut writes)?);
    }
    argvs.reverse();
    let argv_start = p;
    p &= !15;
    let platform = push_str(&mut p, args.platform_str, &mut writes)?;
    p = p.checked_sub(16).ok_or(Errno::E2BIG)?;
    writes.push((p, args.random.to_vec()));
    let random = p;
    p &= !15;

    aux.push((AT_RANDOM, random));
    aux.push((AT_EXECFN, execfn));
    aux.push((AT_PLATFORM, platform));
    let mut words: Vec<u64> = Vec::new();
    words.push(args.argv.len() as u64);
    words.extend(&argvs);
    words.push(0);
    words.extend(&envs);
    words.push(0);
    for (k, v) in &aux {
        words.push(*k);
        words.push(*v);
    }
    words.push(AT_NULL);
    words.push(0);
    let table = (words.len() as u64).checked_mul(8).ok_or(Errno::E2BIG)?;
    // x86-64 psABI: rsp is 16-byte aligned at process entry, pointing at argc.
    let sp = p.checked_sub(table).ok_or(Errno::E2BIG)? & !15;
    let mut bytes = Vec::with_capacity(words.len() * 8);
    for w in &words {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    writes.push((sp, bytes));

    let size = usize::try_from(top - sp).map_err(|_| Errno::E2BIG)?;
    if (size as u64) > STACK_SIZE {
        return Err(Errno::E2BIG);
    }
    let mut image = vec![0u8; size];
    for (addr, data) in writes {
        let at = usize::try_from(addr - sp).map_err(|_| Errno::E2BIG)?;
        let end = at.checked_add(data.len()).ok_or(Errno::E2BIG)?;
        let dst = image.get_mut(at..end).ok_or(Errno::E2BIG)?;
        dst.copy_from_slice(&data);
    }
    Ok(StackImage {
        sp,
        image,
        argv_start,
        argv_end,
        envp_start,
        envp_end,
        auxv: aux,
    })
}

#[cfg(test)]
mod tests;
