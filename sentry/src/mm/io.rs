//! User memory I/O: the sentry reading and writing application memory (copy_from_user /
//! copy_to_user), through the sentry's own mapping of the MemoryFile.
//!
//! Every copy walks the address range VMA by VMA, checks the VMA's permissions as the
//! application would be checked, backs missing pages (without mapping them in the platform:
//! see the `mm` module doc), and copies between MemoryFile offsets and sentry buffers.
//! Partial variants report how much was copied before the first bad byte, so read/write-style
//! syscalls can return a short count (one place decides what the app sees).

use abi::mm::{PAGE_SIZE, Prot};
use abi::{Errno, SysResult};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::{BackErr, Holes, Inner, MemoryManager, PmaKind, Sharing, lookup};

/// What a copy needs from the VMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Need {
    Read,
    Write,
    /// FOLL_FORCE writes: any private mapping whatever its protection (the loader zeroing a
    /// read-only segment's tail, ptrace/`/proc/pid/mem` later), but a shared one only if it is
    /// writable (mm/gup.c `check_vma_flags`): a forced write must never change pages other
    /// processes see through a read-only mapping (the vDSO's time page, a file opened
    /// read-only).
    Force,
}

impl MemoryManager {
    /// For `addr`: the MemoryFile offset backing it and how many bytes after it are backed
    /// contiguously within its VMA (and, for writes, private to this manager).
    pub(super) fn translate(
        &self,
        inner: &mut Inner,
        addr: u64,
        need: Need,
    ) -> SysResult<(u64, u64)> {
        let (_, vma) = lookup(&inner.vmas, addr).ok_or(Errno::EFAULT)?;
        let ok = match need {
            // x86: every accessible mapping is readable.
            Need::Read => vma.prot.intersects(Prot::ACCESS),
            Need::Write => vma.prot.contains(Prot::WRITE),
            Need::Force => vma.sharing == Sharing::Private || vma.prot.contains(Prot::WRITE),
        };
        if !ok {
            return Err(Errno::EFAULT);
        }
        let vend = vma.end;
        if lookup(&inner.pmas, addr).is_none() {
            // Reads of untouched private anonymous memory take the zero page, not an
            // allocation.
            let holes = match need {
                Need::Read => Holes::ZeroPage,
                Need::Write | Need::Force => Holes::Allocate,
            };
            self.fill_chunk(inner, addr, holes)
                .map_err(|_| Errno::EFAULT)?;
        }
        if need != Need::Read {
            self.make_writable(inner, addr)?;
        }
        let (ps, p) = lookup(&inner.pmas, addr).ok_or(Errno::EFAULT)?;
        let off = p.mf_off.checked_add(addr - ps).ok_or(Errno::EFAULT)?;
        Ok((off, p.end.min(vend) - addr))
    }

    /// Breaks copy-on-write at `addr` before the sentry writes there: writing a page another
    /// process shares would leak into that process (and the zero page is everyone's). A replaced page that the platform still
    /// maps is remapped to the new page now, so the application sees what the sentry wrote;
    /// that platform call comes from the calling task's thread, which is attached to this
    /// address space for every copy the sentry makes on its own task's behalf (copies into
    /// another process's memory are a shortcut: see the `mm` module doc).
    fn make_writable(&self, inner: &mut Inner, addr: u64) -> SysResult<()> {
        let is_shared_page = lookup(&inner.pmas, addr)
            .is_some_and(|(_, p)| matches!(p.kind, PmaKind::Cow | PmaKind::Zero));
        if !is_shared_page {
            return Ok(());
        }
        let res = self.privatize(inner, addr).and_then(|stale| {
            stale
                .into_iter()
                .try_for_each(|(s, e)| self.map_range(inner, s, e))
        });
        match res {
            Ok(()) => Ok(()),
            // The app sees EFAULT; the parked platform error ends the sandbox.
            Err(BackErr::Platform(e)) => {
                Self::platform_failed(inner, e);
                Err(Errno::EFAULT)
            }
            Err(BackErr::NoMem | BackErr::Io) => Err(Errno::EFAULT),
        }
    }

    /// Walks `[addr, addr+len)` in runs that are contiguous in the MemoryFile, calling
    /// `copy(file_offset, buffer_range)` for each; returns bytes done and the error that
    /// stopped it (a translation failure, or EFAULT when `copy` fails).
    fn for_each_run(
        &self,
        inner: &mut Inner,
        addr: u64,
        len: usize,
        need: Need,
        mut copy: impl FnMut(u64, std::ops::Range<usize>) -> bool,
    ) -> (usize, Option<Errno>) {
        let mut done = 0usize;
        while done < len {
            let Some(a) = addr.checked_add(done as u64) else {
                return (done, Some(Errno::EFAULT));
            };
            let (off, avail) = match self.translate(inner, a, need) {
                Ok(t) => t,
                Err(e) => return (done, Some(e)),
            };
            let n = usize::try_from(avail).unwrap_or(usize::MAX).min(len - done);
            if !copy(off, done..done + n) {
                return (done, Some(Errno::EFAULT));
            }
            done += n;
        }
        (done, None)
    }

    /// Reads into `dst` from `addr`; returns bytes copied and the error that stopped it.
    fn read_locked(
        &self,
        inner: &mut Inner,
        addr: u64,
        dst: &mut [u8],
        need: Need,
    ) -> (usize, Option<Errno>) {
        let len = dst.len();
        self.for_each_run(inner, addr, len, need, |off, r| {
            dst.get_mut(r)
                .is_some_and(|chunk| self.mf.read(off, chunk).is_ok())
        })
    }

    /// Writes `src` to `addr`; returns bytes copied and the error that stopped it.
    fn write_locked(
        &self,
        inner: &mut Inner,
        addr: u64,
        src: &[u8],
        need: Need,
    ) -> (usize, Option<Errno>) {
        self.for_each_run(inner, addr, src.len(), need, |off, r| {
            src.get(r)
                .is_some_and(|chunk| self.mf.write(off, chunk).is_ok())
        })
    }

    /// Runs `io` over the MemoryFile ranges backing `[addr, addr + len)` in order, so file data
    /// moves between a host fd and application memory with no sentry buffer (read(2) of a
    /// donated gofer fd is one host pread into the app's pages). `to_user`: the app's memory
    /// is written (checked writable, copy-on-write broken first, holes allocated); else it is
    /// read. `io(mf, mf_off, n, done)` transfers `n` bytes at MemoryFile offset `mf_off`,
    /// `done` bytes into the request, and returns how many it moved; a short count ends the
    /// walk. Returns the bytes moved and the error that stopped it (EFAULT at the first
    /// inaccessible byte, or `io`'s).
    ///
    /// Holds this manager's lock throughout (the pages cannot be unmapped and reused under
    /// the transfer), so `io` must not block on other tasks or touch application memory
    /// itself: a host pread/pwrite of a regular file is what it is for.
    pub fn io_in_place(
        &self,
        addr: u64,
        len: usize,
        to_user: bool,
        mut io: impl FnMut(&vfs::memfile::MemoryFile, u64, usize, usize) -> SysResult<usize>,
    ) -> (usize, Option<Errno>) {
        let need = if to_user { Need::Write } else { Need::Read };
        let mut inner = self.lock();
        let mut done = 0usize;
        while done < len {
            let Some(a) = addr.checked_add(done as u64) else {
                return (done, Some(Errno::EFAULT));
            };
            let (off, avail) = match self.translate(&mut inner, a, need) {
                Ok(t) => t,
                Err(e) => return (done, Some(e)),
            };
            let n = usize::try_from(avail).unwrap_or(usize::MAX).min(len - done);
            match io(&self.mf, off, n, done) {
                Ok(k) => {
                    done += k.min(n);
                    if k < n {
                        break;
                    }
                }
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }

    /// Copies application memory at `addr` into `dst`; EFAULT if any byte is not readable.
    pub fn copy_in(&self, addr: u64, dst: &mut [u8]) -> SysResult<()> {
        match self.copy_in_partial(addr, dst) {
            (_, Some(e)) => Err(e),
            (_, None) => Ok(()),
        }
    }

    /// Copies `src` to application memory at `addr`; EFAULT if any byte is not writable
    /// (by the VMA's protection).
    pub fn copy_out(&self, addr: u64, src: &[u8]) -> SysResult<()> {
        match self.copy_out_partial(addr, src) {
            (_, Some(e)) => Err(e),
            (_, None) => Ok(()),
        }
    }

    /// Like [`copy_in`](Self::copy_in), but returns the bytes copied before the first fault
    /// and the error, for read/write-style syscalls.
    pub fn copy_in_partial(&self, addr: u64, dst: &mut [u8]) -> (usize, Option<Errno>) {
        let mut inner = self.lock();
        self.read_locked(&mut inner, addr, dst, Need::Read)
    }

    /// Like [`copy_out`](Self::copy_out), partial.
    pub fn copy_out_partial(&self, addr: u64, src: &[u8]) -> (usize, Option<Errno>) {
        let mut inner = self.lock();
        self.write_locked(&mut inner, addr, src, Need::Write)
    }

    /// Writes `src` at `addr` ignoring the VMA's protection (but not holes), like the
    /// kernel's FOLL_FORCE: the ELF loader zeroing the tail of a read-only segment, and later
    /// ptrace(PTRACE_POKEDATA) and writes to /proc/[pid]/mem. A `MAP_SHARED` mapping without
    /// write permission is EFAULT, as on Linux.
    pub fn copy_out_force(&self, addr: u64, src: &[u8]) -> SysResult<()> {
        let mut inner = self.lock();
        match self.write_locked(&mut inner, addr, src, Need::Force) {
            (_, Some(e)) => Err(e),
            (_, None) => Ok(()),
        }
    }

    /// Reads a NUL-terminated string at `addr`; the NUL must be within the first `max_len`
    /// bytes (so `max_len = PATH_MAX` allows 4095 characters, as strncpy_from_user does).
    /// Returns the bytes without the NUL. EFAULT if unreadable before the NUL; ENAMETOOLONG
    /// if there is no NUL within `max_len` bytes.
    pub fn copy_in_cstring(&self, addr: u64, max_len: usize) -> SysResult<Vec<u8>> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        let mut buf = [0u8; PAGE_SIZE as usize];
        // Read page by page so a string ending just before an unmapped page is fine.
        while out.len() < max_len {
            let a = addr.checked_add(out.len() as u64).ok_or(Errno::EFAULT)?;
            let to_page_end = PAGE_SIZE - (a % PAGE_SIZE);
            let want = usize::try_from(to_page_end)
                .unwrap_or(buf.len())
                .min(max_len - out.len())
                .min(buf.len());
            let Some(chunk) = buf.get_mut(..want) else {
                return Err(Errno::EFAULT);
            };
            let (n, err) = self.read_locked(&mut inner, a, chunk, Need::Read);
            let got = chunk.get(..n).unwrap_or(&[]);
            if let Some(nul) = got.iter().position(|b| *b == 0) {
                out.extend_from_slice(got.get(..nul).unwrap_or(&[]));
                return Ok(out);
            }
            out.extend_from_slice(got);
            if let Some(e) = err {
                return Err(e);
            }
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// Reads a `T` at `addr`.
    pub fn copy_in_obj<T: FromBytes>(&self, addr: u64) -> SysResult<T> {
        let mut buf = vec![0u8; size_of::<T>()];
        self.copy_in(addr, &mut buf)?;
        T::read_from_bytes(&buf).map_err(|_| Errno::EFAULT)
    }

    /// Writes `v` at `addr`.
    pub fn copy_out_obj<T: IntoBytes + Immutable>(&self, addr: u64, v: &T) -> SysResult<()> {
        self.copy_out(addr, v.as_bytes())
    }
}
