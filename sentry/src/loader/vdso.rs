//! The vDSO: the sandbox's own `linux-vdso.so.1`, and the time page next to it, mapped into
//! every new address space so that clock_gettime(2), gettimeofday(2) and time(2) do not trap.
//!
//! Key items: [`IMAGE`] (the shared object `build.rs` compiles from sentry/vdso/vdso.c and
//! vdso.lds), [`SpecialPages`] (sentry-owned MemoryFile pages that mappings share, Linux's
//! "special mappings": `[vvar]` and `[vdso]`), [`Vdso`] (one per sandbox: the time page and the
//! image's pages) and [`Vdso::map_into`] (what the loader calls for each execve).
//! Neighbours: `crate::time` writes the time page (`time::vvar`) and defines the arithmetic
//! the vDSO repeats; `mm` maps the pages like a tmpfs file's (`MappedFile::shared_page`);
//! /proc/[pid]/maps names them through [`SpecialPages::name`].
//!
//! Layout of one address space (Linux 6.x puts its vDSO in the mmap area too; we take the top
//! of it, at a fixed address until the loader randomizes):
//!
//! ```text
//!   [vvar]  VVAR_PAGES page(s), r--, MAP_SHARED of the time page (max protection read: mprotect
//!           to write is EACCES, forced writes are refused), so the sentry's writes reach every
//!           process at once and fork shares it
//!   [vdso]  the image, r-x, MAP_PRIVATE of its pages: shared until written, and a write (after
//!           mprotect, as a debugger does to set a breakpoint) copies the page for that process
//! ```
//!
//! The image's code reaches the time page RIP-relative at `base - VVAR_PAGES * PAGE_SIZE`
//! (vdso.lds `__vvar_page`), so nothing in it is relocated and AT_SYSINFO_EHDR is simply the
//! image's base. munmap and mprotect of either mapping behave as for any mapping (allowed, as
//! on Linux); a process that unmaps `[vvar]` and still calls the vDSO faults, as on Linux.
//!
//! Shortcuts (written down, to be replaced):
//! - The address is fixed (the top of the mmap area) until the loader randomizes.
//! - Linux refuses to split its special mappings (mprotect or munmap of part of one is
//!   EINVAL); ours are ordinary VMAs and split. Both are one page today, so nothing can split.
//! - `getcpu` always makes the syscall (Linux answers from RDPID/LSL without trapping).
//! - The ptrace platform runs the application on the host's own TSC. A platform whose guest
//!   TSC differs from the sentry's (KVM with a TSC offset) must either make them equal or not
//!   map the vDSO (`Kernel::vdso` = None) — not decided yet, as the KVM platform is a stub.
//! - No vDSO for 32-bit processes: the loader only loads ELF64 x86-64 images.

use std::any::Any;
use std::sync::Arc;

use abi::mm::{PAGE_SIZE, Prot};
use abi::{Errno, SysResult};
use vfs::memfile::{MemoryFile, MemoryFileError};

use crate::mm::{Backing, MappedFile, MemoryManager, MmapOpts, Placement, Sharing};

/// The vDSO image (an ELF shared object with one PT_LOAD at address 0), built by build.rs.
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// Pages of time data before the image (vdso.lds puts `__vvar_page` this many pages back).
pub const VVAR_PAGES: u64 = 1;

/// Sentry-owned MemoryFile pages that application mappings share: the time page and the
/// vDSO image. Mapped through [`MappedFile::shared_page`] (each PMA takes its own reference),
/// so the pages outlive this value as long as some address space still maps them.
#[derive(Debug)]
pub struct SpecialPages {
    mf: Arc<MemoryFile>,
    off: u64,
    len: u64,
    /// What /proc/[pid]/maps calls the mapping (`[vdso]`, `[vvar]`).
    name: &'static str,
}

impl SpecialPages {
    /// Allocates pages for `contents` (rounded up to whole pages, the rest zero).
    pub fn new(
        mf: &Arc<MemoryFile>,
        contents: &[u8],
        name: &'static str,
    ) -> Result<SpecialPages, MemoryFileError> {
        let len = (contents.len() as u64)
            .max(1)
            .div_ceil(PAGE_SIZE)
            .saturating_mul(PAGE_SIZE);
        let off = mf.allocate(len)?;
        let pages = SpecialPages {
            mf: Arc::clone(mf),
            off,
            len,
            name,
        };
        // On failure `pages` drops and frees the range.
        mf.write(off, contents)?;
        Ok(pages)
    }

    /// The name /proc/[pid]/maps shows.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Length in bytes (whole pages, at least one).
    pub fn len_bytes(&self) -> u64 {
        self.len
    }

    /// The MemoryFile holding the pages, and their offset in it (the time page's writer).
    pub(crate) fn memory_file(&self) -> &MemoryFile {
        &self.mf
    }

    pub(crate) fn offset(&self) -> u64 {
        self.off
    }

    /// The special mapping behind a VMA's file, if it is one (for /proc/[pid]/maps).
    pub fn of_mapped_file(f: &Arc<dyn MappedFile>) -> Option<&SpecialPages> {
        let any: &dyn Any = f.as_ref();
        any.downcast_ref::<SpecialPages>()
    }
}

impl MappedFile for SpecialPages {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let Some(left) = self.len.checked_sub(off).filter(|l| *l > 0) else {
            return Ok(0);
        };
        let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        let dst = buf.get_mut(..n).ok_or(Errno::EFAULT)?;
        self.mf.read(self.off + off, dst).map_err(|_| Errno::EIO)?;
        Ok(n)
    }

    fn shared_page(&self, file_page: u64) -> Option<SysResult<u64>> {
        let page_off = file_page.checked_mul(PAGE_SIZE).filter(|o| *o < self.len);
        Some(match page_off {
            // Past the end: like a file's pages past EOF (SIGBUS on access).
            None => Err(Errno::EFAULT),
            Some(o) => {
                let at = self.off + o;
                self.mf
                    .share(at, PAGE_SIZE)
                    .map(|()| at)
                    .map_err(|_| Errno::ENOMEM)
            }
        })
    }
}

impl Drop for SpecialPages {
    fn drop(&mut self) {
        // Our own reference; pages still mapped somewhere keep theirs.
        if let Err(e) = self.mf.release(self.off, self.len) {
            tracing::error!(target: "sentry::loader", %e, "releasing vDSO pages failed");
        }
    }
}

/// The sandbox's vDSO: the time page and the image, allocated once per kernel.
#[derive(Debug)]
pub struct Vdso {
    vvar: Arc<SpecialPages>,
    text: Arc<SpecialPages>,
}

impl Vdso {
    /// Allocates the time page (all zero: "not enabled", so the vDSO makes syscalls until the
    /// clocks are calibrated) and a copy of [`IMAGE`].
    pub fn new(mf: &Arc<MemoryFile>) -> Result<Vdso, MemoryFileError> {
        let vvar_len = usize::try_from(VVAR_PAGES * PAGE_SIZE).unwrap_or(0);
        Ok(Vdso {
            vvar: Arc::new(SpecialPages::new(mf, &vec![0; vvar_len], "[vvar]")?),
            text: Arc::new(SpecialPages::new(mf, IMAGE, "[vdso]")?),
        })
    }

    /// The time page, for `time::Clocks` to write.
    pub fn vvar(&self) -> &Arc<SpecialPages> {
        &self.vvar
    }

    /// Maps `[vvar]` and `[vdso]` next to each other into `mm` (a fresh address space, at the
    /// top of its mmap area); returns the image's base, the value of AT_SYSINFO_EHDR.
    pub fn map_into(&self, mm: &MemoryManager) -> SysResult<u64> {
        let vvar_len = self.vvar.len_bytes();
        let total = vvar_len
            .checked_add(self.text.len_bytes())
            .ok_or(Errno::ENOMEM)?;
        // Find room for both, then place them with MAP_FIXED (single-threaded: the address
        // space is not running yet, nothing can take the range in between).
        let start = mm.mmap(MmapOpts::anonymous(total, Prot::NONE))?;
        mm.munmap(start, total)?;
        mm.mmap(MmapOpts {
            addr: start,
            len: vvar_len,
            prot: Prot::READ,
            placement: Placement::Fixed,
            sharing: Sharing::Shared,
            backing: Backing::File {
                file: Arc::clone(&self.vvar) as Arc<dyn MappedFile>,
                offset: 0,
            },
            grows_down: false,
            populate: false,
            // Linux's [vvar] has no VM_MAYWRITE: mprotect(PROT_WRITE) is EACCES.
            max_prot: Prot::READ,
        })?;
        let base = start + vvar_len;
        mm.mmap(MmapOpts {
            addr: base,
            len: self.text.len_bytes(),
            prot: Prot::READ | Prot::EXEC,
            placement: Placement::Fixed,
            sharing: Sharing::Private,
            backing: Backing::File {
                file: Arc::clone(&self.text) as Arc<dyn MappedFile>,
                offset: 0,
            },
            grows_down: false,
            populate: false,
            max_prot: Prot::ACCESS,
        })?;
        Ok(base)
    }
}

#[cfg(test)]
mod tests;
