//! Checked parsing of an ELF64 x86-64 executable's headers (no mapping here).
//!
//! Everything read from the file is untrusted: sizes and offsets use checked arithmetic, the
//! program header table is bounded (fs/binfmt_elf.c `load_elf_phdrs`: at most 64 KiB), and
//! PT_LOAD segments must be sorted, non-overlapping, `p_filesz <= p_memsz`, with `p_offset`
//! and `p_vaddr` congruent modulo the page size (otherwise they cannot be mmapped).

use abi::elf::*;
use abi::mm::PAGE_SIZE;
use abi::{Errno, SysResult};
use zerocopy::FromBytes;

use crate::mm::MappedFile;

/// Largest program header table we read (binfmt_elf.c: 64 KiB).
const MAX_PHDR_TABLE: u64 = 64 << 10;
/// Longest PT_INTERP path, NUL included (PATH_MAX).
const MAX_INTERP_LEN: u64 = 4096;

/// The headers of an ELF file, validated.
#[derive(Clone, Debug)]
pub(crate) struct ElfInfo {
    pub ehdr: Elf64Ehdr,
    pub phdrs: Vec<Elf64Phdr>,
    /// PT_LOAD headers in file order (ascending `p_vaddr`, checked).
    pub loads: Vec<Elf64Phdr>,
    /// The PT_INTERP path without its NUL.
    pub interp: Option<Vec<u8>>,
}

impl ElfInfo {
    /// Page-aligned `[start, end)` spanned by the PT_LOAD segments, before relocation.
    pub fn span(&self) -> SysResult<(u64, u64)> {
        let first = self.loads.first().ok_or(Errno::ENOEXEC)?;
        let last = self.loads.last().ok_or(Errno::ENOEXEC)?;
        let start = abi::mm::page_align_down(first.p_vaddr);
        let end = last
            .p_vaddr
            .checked_add(last.p_memsz)
            .and_then(abi::mm::page_align_up)
            .ok_or(Errno::EINVAL)?;
        Ok((start, end))
    }

    /// Whether this is a position-independent image (ET_DYN: PIE, static-pie or ld.so).
    pub fn is_dyn(&self) -> bool {
        self.ehdr.e_type == ET_DYN
    }
}

/// Reads exactly `buf.len()` bytes at `off`; a short file is ENOEXEC.
pub(crate) fn read_exact(file: &dyn MappedFile, off: u64, buf: &mut [u8]) -> SysResult<()> {
    let mut done = 0usize;
    while done < buf.len() {
        let Some(rest) = buf.get_mut(done..) else {
            break;
        };
        let at = off.checked_add(done as u64).ok_or(Errno::ENOEXEC)?;
        match file.read_at(at, rest) {
            Ok(0) => return Err(Errno::ENOEXEC),
            Ok(n) => done = done.saturating_add(n),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Validates the file header (everything that makes it "not for us" is ENOEXEC).
pub(crate) fn check_ehdr(h: &Elf64Ehdr) -> SysResult<()> {
    let id = &h.e_ident;
    if id.get(..4) != Some(&ELFMAG[..])
        || id.get(EI_CLASS) != Some(&ELFCLASS64)
        || id.get(EI_DATA) != Some(&ELFDATA2LSB)
        || id.get(EI_VERSION) != Some(&EV_CURRENT)
        || h.e_machine != EM_X86_64
        || (h.e_type != ET_EXEC && h.e_type != ET_DYN)
    {
        return Err(Errno::ENOEXEC);
    }
    if usize::from(h.e_phentsize) != size_of::<Elf64Phdr>() || h.e_phnum == 0 {
        return Err(Errno::ENOEXEC);
    }
    Ok(())
}

/// Parses and validates the headers of `file`.
pub(crate) fn parse(file: &dyn MappedFile) -> SysResult<ElfInfo> {
    let mut hb = [0u8; size_of::<Elf64Ehdr>()];
    read_exact(file, 0, &mut hb)?;
    let ehdr = Elf64Ehdr::read_from_bytes(&hb).map_err(|_| Errno::ENOEXEC)?;
    check_ehdr(&ehdr)?;
    let table = u64::from(ehdr.e_phnum) * size_of::<Elf64Phdr>() as u64;
    if table > MAX_PHDR_TABLE {
        return Err(Errno::ENOEXEC);
    }
    let n = usize::try_from(table).map_err(|_| Errno::ENOEXEC)?;
    let mut tb = vec![0u8; n];
    read_exact(file, ehdr.e_phoff, &mut tb)?;
    let phdrs: Vec<Elf64Phdr> = tb
        .chunks_exact(size_of::<Elf64Phdr>())
        .filter_map(|c| Elf64Phdr::read_from_bytes(c).ok())
        .collect();

    let mut loads = Vec::new();
    let mut interp = None;
    let mut prev_end = 0u64;
    for ph in &phdrs {
        match ph.p_type {
            PT_LOAD => {
                if ph.p_filesz > ph.p_memsz {
                    return Err(Errno::EINVAL);
                }
                if ph.p_memsz == 0 {
                    continue; // Nothing to map (binfmt_elf skips these too).
                }
                if ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE
                    || ph.p_offset.checked_add(ph.p_filesz).is_none()
                {
                    return Err(Errno::EINVAL);
                }
                let end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or(Errno::EINVAL)?;
                // gABI: "loadable segment entries ... appear in ascending order, sorted on
                // the p_vaddr member"; overlapping bytes would make the image ambiguous.
                if ph.p_vaddr < prev_end {
                    return Err(Errno::EINVAL);
                }
                prev_end = end;
                loads.push(*ph);
            }
            PT_INTERP => {
                if interp.is_some() || ph.p_filesz < 2 || ph.p_filesz > MAX_INTERP_LEN {
                    return Err(Errno::ENOEXEC);
                }
                let n = usize::try_from(ph.p_filesz).map_err(|_| Errno::ENOEXEC)?;
                let mut path = vec![0u8; n];
                read_exact(file, ph.p_offset, &mut path)?;
                // The path must be NUL-terminated, with no NUL before the end.
                if path.pop() != Some(0) || path.contains(&0) {
                    return Err(Errno::ENOEXEC);
                }
                interp = Some(path);
            }
            _ => {}
        }
    }
    if loads.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    Ok(ElfInfo {
        ehdr,
        phdrs,
        loads,
        interp,
    })
}
