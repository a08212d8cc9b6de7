//! The time page ("vvar"): its layout, shared with the vDSO (`struct vvar` in
//! sentry/vdso/vdso.c, which asserts the same offsets), and the sentry's seqlock writer.
//!
//! The page is one MemoryFile page ([`SpecialPages`]) mapped read-only into every address
//! space of the sandbox, right before the vDSO text; the sentry writes it through its own
//! MemoryFile mapping, so every process sees a write at once (it is never copied: the mapping
//! is `MAP_SHARED` without write permission, and forced writes into such mappings are refused,
//! as on Linux). The sentry never reads its clocks back from the page: the page is an output,
//! the keeper's copy in `Clocks` is the truth.
//!
//! Seqlock protocol: the writer makes `seq` odd (an atomic read-modify-write, a full barrier on
//! x86), writes the rest, then makes `seq` even again. Readers (the vDSO) read `seq`, give up
//! and make the syscall if it is odd, read the fields and then the TSC (RDTSCP, which waits
//! for those loads), and retry if `seq` changed.

use std::sync::Arc;

use zerocopy::{Immutable, IntoBytes};

use super::params::ClockParams;
use crate::loader::vdso::SpecialPages;

/// `flags` bit: the parameters are valid and the TSC may be used (else the vDSO makes the
/// syscall).
pub const VVAR_TSC_ENABLED: u32 = 1;

/// `struct vvar` of the vDSO: the whole layout of the page's used part.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, Immutable)]
pub struct Vvar {
    /// Odd while the sentry writes (only ever changed atomically; [`VvarPage::publish`]).
    pub seq: u32,
    /// [`VVAR_TSC_ENABLED`].
    pub flags: u32,
    pub base_tsc: u64,
    /// `ClockParams::base_sns`, low and high 64 bits.
    pub base_sns_lo: u64,
    pub base_sns_hi: u64,
    pub mult: u64,
    pub shift: u32,
    pub pad: u32,
    pub realtime_offset: u64,
    pub boottime_offset: u64,
}

// The vDSO's `_Static_assert`s check the same numbers on the C side.
const _: () = assert!(size_of::<Vvar>() == 64);
const _: () = assert!(std::mem::offset_of!(Vvar, flags) == 4);
const _: () = assert!(std::mem::offset_of!(Vvar, base_tsc) == 8);
const _: () = assert!(std::mem::offset_of!(Vvar, mult) == 32);
const _: () = assert!(std::mem::offset_of!(Vvar, shift) == 40);
const _: () = assert!(std::mem::offset_of!(Vvar, realtime_offset) == 48);
const _: () = assert!(std::mem::offset_of!(Vvar, boottime_offset) == 56);

/// Where the sequence word, the flags and the other fields start in the page.
const SEQ_OFFSET: usize = 0;
const FLAGS_OFFSET: usize = 4;
const FIELDS_OFFSET: usize = 8;

impl Vvar {
    /// The page describing `params` (`seq` left 0: the writer owns it), or a disabled page.
    pub fn of(params: Option<&ClockParams>) -> Vvar {
        match params {
            None => Vvar::default(),
            Some(p) => {
                #[allow(clippy::cast_possible_truncation)] // deliberate: the two halves
                let (lo, hi) = (p.base_sns as u64, (p.base_sns >> 64) as u64);
                Vvar {
                    seq: 0,
                    flags: VVAR_TSC_ENABLED,
                    base_tsc: p.base_tsc,
                    base_sns_lo: lo,
                    base_sns_hi: hi,
                    mult: p.mult,
                    shift: p.shift,
                    pad: 0,
                    realtime_offset: p.realtime_offset,
                    boottime_offset: p.boottime_offset,
                }
            }
        }
    }
}

/// The sentry's writer of the time page.
#[derive(Debug)]
pub struct VvarPage {
    pages: Arc<SpecialPages>,
}

impl VvarPage {
    pub fn new(pages: Arc<SpecialPages>) -> VvarPage {
        VvarPage { pages }
    }

    /// Publishes `page` under the seqlock.
    pub fn publish(&self, page: &Vvar) {
        self.publish_with(|| Some(*page));
    }

    /// Marks the page as being written, then writes what `compute` returns (nothing if
    /// `None`), then marks it complete. `compute` runs inside the write, so anything it reads
    /// (the switch point's TSC) comes after every vDSO reader that will use the old contents
    /// has read its TSC. Called with the `Clocks` parameters write-locked: one writer at a time.
    pub fn publish_with(&self, compute: impl FnOnce() -> Option<Vvar>) {
        let mf = self.pages.memory_file();
        let seq = self.pages.offset() + SEQ_OFFSET as u64;
        // Odd: readers that started before this see a change and retry, new ones make the
        // syscall (and wait for us on the parameters' lock).
        if let Err(e) = mf.fetch_update_u32(seq, |s| s.wrapping_add(1)) {
            // The page is ours and in bounds; this cannot happen short of a MemoryFile bug.
            tracing::error!(target: "sentry::time", %e, "writing the time page failed");
            return;
        }
        if let Some(page) = compute()
            && let Err(e) = self.write_fields(&page)
        {
            tracing::error!(target: "sentry::time", %e, "writing the time page failed");
        }
        // Even again: the contents are complete. (SeqCst read-modify-writes keep the plain
        // copies between them, for the compiler and for the CPU.)
        if let Err(e) = mf.fetch_update_u32(seq, |s| s.wrapping_add(1)) {
            tracing::error!(target: "sentry::time", %e, "writing the time page failed");
        }
    }

    /// Writes everything but the sequence word.
    fn write_fields(&self, page: &Vvar) -> Result<(), vfs::memfile::MemoryFileError> {
        let mf = self.pages.memory_file();
        let off = self.pages.offset();
        let bytes = page.as_bytes();
        let fields = bytes.get(FIELDS_OFFSET..).unwrap_or_default();
        let flags = bytes.get(FLAGS_OFFSET..FIELDS_OFFSET).unwrap_or_default();
        mf.write(off + FIELDS_OFFSET as u64, fields)?;
        mf.write(off + FLAGS_OFFSET as u64, flags)
    }

    /// The page's bytes (`struct vvar`), for tests.
    #[cfg(test)]
    pub fn read_back(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        let _ = self.pages.memory_file().read(self.pages.offset(), &mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::params::{NANOS_PER_SEC, Sample};

    fn word(bytes: &[u8], off: usize) -> u64 {
        let s = bytes.get(off..off + 8).expect("in range");
        u64::from_le_bytes(s.try_into().expect("8 bytes"))
    }

    #[test]
    fn page_bytes_follow_the_c_layout() {
        let p = ClockParams::starting_at(
            Sample {
                tsc: 0x1111,
                mono_ns: 3 * NANOS_PER_SEC,
            },
            0x2222,
            0x3333,
            0x4444,
        );
        let v = Vvar::of(Some(&p));
        let b = v.as_bytes();
        assert_eq!(b.get(4..8), Some(&VVAR_TSC_ENABLED.to_le_bytes()[..]));
        assert_eq!(word(b, 8), 0x1111);
        assert_eq!(
            u128::from(word(b, 16)) | (u128::from(word(b, 24)) << 64),
            p.base_sns
        );
        assert_eq!(word(b, 32), 0x2222);
        assert_eq!(word(b, 40) & 0xffff_ffff, 32);
        assert_eq!(word(b, 48), 0x3333);
        assert_eq!(word(b, 56), 0x4444);
    }

    #[test]
    fn disabled_page_has_no_flags() {
        assert_eq!(Vvar::of(None).flags, 0);
    }
}
