//! Unit tests of the memory manager against a fake address space that records what the
//! platform would have mapped, and a real (small) MemoryFile.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use abi::Errno;
use abi::mm::{MMAP_MIN_ADDR, MremapFlags, PAGE_SIZE, Prot, madv};
use abi::signal::si_code;
use platform::{AddressSpace, Context, Perms, PlatformError};
use vfs::memfile::MemoryFile;

use super::*;

/// Records the platform's view: page address → (MemoryFile offset, perms).
#[derive(Debug, Default)]
pub(crate) struct FakeAsp {
    pub pages: Mutex<BTreeMap<u64, (u64, Perms)>>,
    pub calls: Mutex<usize>,
}

impl AddressSpace for FakeAsp {
    fn map(&self, addr: u64, len: u64, off: u64, perms: Perms) -> Result<(), PlatformError> {
        assert!(
            addr.is_multiple_of(PAGE_SIZE)
                && len.is_multiple_of(PAGE_SIZE)
                && off.is_multiple_of(PAGE_SIZE)
                && len > 0
        );
        *self.calls.lock().unwrap() += 1;
        let mut p = self.pages.lock().unwrap();
        for i in 0..len / PAGE_SIZE {
            p.insert(addr + i * PAGE_SIZE, (off + i * PAGE_SIZE, perms));
        }
        Ok(())
    }
    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        assert!(addr.is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE));
        *self.calls.lock().unwrap() += 1;
        let mut p = self.pages.lock().unwrap();
        let keys: Vec<u64> = p.range(addr..addr + len).map(|(k, _)| *k).collect();
        for k in keys {
            p.remove(&k);
        }
        Ok(())
    }
    fn protect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        assert!(addr.is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE));
        *self.calls.lock().unwrap() += 1;
        let mut p = self.pages.lock().unwrap();
        for (_, v) in p.range_mut(addr..addr + len) {
            v.1 = perms;
        }
        Ok(())
    }
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        Err(PlatformError::Unavailable("fake".into()))
    }
}

/// A file held in memory.
#[derive(Debug)]
pub(crate) struct VecFile(pub Vec<u8>);

impl MappedFile for VecFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let Ok(off) = usize::try_from(off) else {
            return Ok(0);
        };
        let src = self.0.get(off..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }
}

pub(crate) const MAX: u64 = 0x7fff_ffff_f000;

pub(crate) fn setup() -> (MemoryManager, Arc<FakeAsp>, Arc<MemoryFile>) {
    let mf = Arc::new(MemoryFile::with_size(1 << 32).unwrap());
    let asp = Arc::new(FakeAsp::default());
    let mm = MemoryManager::new(Arc::clone(&mf), asp.clone(), MAX);
    (mm, asp, mf)
}

fn rw() -> Prot {
    Prot::READ | Prot::WRITE
}

fn fixed(addr: u64, len: u64, prot: Prot) -> MmapOpts {
    MmapOpts {
        addr,
        placement: Placement::Fixed,
        ..MmapOpts::anonymous(len, prot)
    }
}

/// Checks the structural invariants of the manager against the fake platform.
fn check_invariants(mm: &MemoryManager, asp: &FakeAsp, mf: &MemoryFile) {
    let inner = mm.lock();
    let mut prev_end = 0;
    for (&s, v) in &inner.vmas {
        assert!(s < v.end, "empty vma at {s:#x}");
        assert!(s >= prev_end, "overlapping vmas at {s:#x}");
        assert!(s.is_multiple_of(PAGE_SIZE) && v.end.is_multiple_of(PAGE_SIZE));
        assert!(s >= MMAP_MIN_ADDR && v.end <= MAX);
        prev_end = v.end;
    }
    let mut prev_end = 0;
    let mut owned = 0;
    let mut owned_ranges = Vec::new();
    for (&s, p) in &inner.pmas {
        assert!(s < p.end && s >= prev_end, "bad pma at {s:#x}");
        prev_end = p.end;
        // Every PMA lies inside one VMA.
        let (vs, v) = lookup(&inner.vmas, s).expect("pma outside any vma");
        assert!(p.end <= v.end && vs <= s, "pma {s:#x} crosses a vma edge");
        if p.owned {
            owned += p.end - s;
            owned_ranges.push((p.mf_off, p.mf_off + p.end - s));
        }
        if let Some(perms) = p.mapped {
            assert_eq!(
                perms,
                perms_of(v.prot),
                "pma {s:#x} mapped with stale perms"
            );
        }
    }
    // No MemoryFile page is owned twice.
    owned_ranges.sort_unstable();
    for w in owned_ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "memory file range owned twice");
    }
    let shared: u64 = {
        let mut seen: Vec<*const SharedRange> = Vec::new();
        let mut total = 0;
        for v in inner.vmas.values() {
            if let Source::Shared { range, .. } = &v.source
                && !seen.contains(&Arc::as_ptr(range))
            {
                seen.push(Arc::as_ptr(range));
                total += range.len;
            }
        }
        total
    };
    assert_eq!(
        mf.allocated_bytes(),
        owned + shared,
        "memory file leak or double free"
    );
    // Everything the platform maps is a mapped PMA with the same offset and perms.
    for (&page, &(off, perms)) in asp.pages.lock().unwrap().iter() {
        let (ps, p) = lookup(&inner.pmas, page).expect("platform maps a page without a pma");
        assert_eq!(
            p.mf_off + (page - ps),
            off,
            "platform maps the wrong offset at {page:#x}"
        );
        assert_eq!(p.mapped, Some(perms), "platform perms differ at {page:#x}");
    }
}

#[test]
fn mmap_hint_places_top_down_below_mmap_base() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(MmapOpts::anonymous(3 * PAGE_SIZE, rw())).unwrap();
    let b = mm.mmap(MmapOpts::anonymous(PAGE_SIZE, rw())).unwrap();
    assert_eq!(a % PAGE_SIZE, 0);
    assert!(a + 3 * PAGE_SIZE <= mm.mmap_base);
    assert_eq!(b + PAGE_SIZE, a, "next mapping directly below");
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn mmap_argument_errors_match_linux() {
    let (mm, _, _) = setup();
    assert_eq!(mm.mmap(MmapOpts::anonymous(0, rw())), Err(Errno::EINVAL));
    assert_eq!(
        mm.mmap(MmapOpts::anonymous(u64::MAX, rw())),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        mm.mmap(fixed(0x10_0001, PAGE_SIZE, rw())),
        Err(Errno::EINVAL)
    );
    assert_eq!(mm.mmap(fixed(0x1000, PAGE_SIZE, rw())), Err(Errno::EPERM));
    assert_eq!(
        mm.mmap(fixed(MAX - PAGE_SIZE, 2 * PAGE_SIZE, rw())),
        Err(Errno::ENOMEM)
    );
    let file = Arc::new(VecFile(vec![1; 10]));
    let o = MmapOpts {
        backing: Backing::File {
            file: file.clone(),
            offset: 5,
        },
        ..MmapOpts::anonymous(PAGE_SIZE, rw())
    };
    assert_eq!(mm.mmap(o), Err(Errno::EINVAL));
    let o = MmapOpts {
        backing: Backing::File {
            file,
            offset: !(PAGE_SIZE - 1),
        },
        ..MmapOpts::anonymous(PAGE_SIZE, rw())
    };
    assert_eq!(mm.mmap(o), Err(Errno::EOVERFLOW));
    mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    let o = MmapOpts {
        placement: Placement::FixedNoReplace,
        ..fixed(0x40_0000, PAGE_SIZE, rw())
    };
    assert_eq!(mm.mmap(o), Err(Errno::EEXIST));
}

#[test]
fn fault_maps_a_chunk_and_sentry_sees_app_memory() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 4 * PAGE_SIZE, rw())).unwrap();
    mm.handle_fault(a + PAGE_SIZE + 5, Perms::empty()).unwrap();
    {
        let pages = asp.pages.lock().unwrap();
        assert_eq!(pages.len(), 4, "fault-around maps the whole (small) vma");
        assert!(
            pages
                .values()
                .all(|(_, p)| *p == Perms::READ | Perms::WRITE)
        );
    }
    // The app "writes" through its mapping = the MemoryFile offset the platform got.
    let off = asp.pages.lock().unwrap()[&(a + PAGE_SIZE)].0;
    mf.write(off + 5, b"hi").unwrap();
    let mut buf = [0u8; 2];
    mm.copy_in(a + PAGE_SIZE + 5, &mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    mm.copy_out(a + 3 * PAGE_SIZE - 1, b"x").unwrap();
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn faults_outside_or_against_perms_report_segv_codes() {
    let (mm, asp, mf) = setup();
    let code = |r: Result<(), FaultError>| match r {
        Err(FaultError::Segv { code }) => code,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        code(mm.handle_fault(0x1234, Perms::empty())),
        si_code::SEGV_MAPERR
    );
    let none = mm.mmap(fixed(0x40_0000, PAGE_SIZE, Prot::NONE)).unwrap();
    assert_eq!(
        code(mm.handle_fault(none, Perms::empty())),
        si_code::SEGV_ACCERR
    );
    let ro = mm.mmap(fixed(0x50_0000, PAGE_SIZE, Prot::READ)).unwrap();
    assert_eq!(
        code(mm.handle_fault(ro, Perms::WRITE)),
        si_code::SEGV_ACCERR
    );
    mm.handle_fault(ro, Perms::empty()).unwrap();
    // Faulting again on a page mapped with the full VMA perms: the access was not allowed.
    assert_eq!(
        code(mm.handle_fault(ro, Perms::empty())),
        si_code::SEGV_ACCERR
    );
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn copies_respect_vma_permissions_and_report_partial_progress() {
    let (mm, _, _) = setup();
    let ro = mm.mmap(fixed(0x40_0000, PAGE_SIZE, Prot::READ)).unwrap();
    assert_eq!(mm.copy_out(ro, b"x"), Err(Errno::EFAULT));
    mm.copy_out_force(ro, b"x").unwrap();
    let mut b = [0u8; 1];
    mm.copy_in(ro, &mut b).unwrap();
    assert_eq!(&b, b"x");
    let a = mm.mmap(fixed(0x60_0000, PAGE_SIZE, rw())).unwrap();
    let mut big = [0u8; 100];
    let (n, e) = mm.copy_in_partial(a + PAGE_SIZE - 10, &mut big);
    assert_eq!((n, e), (10, Some(Errno::EFAULT)));
    let (n, e) = mm.copy_out_partial(a + PAGE_SIZE - 30, &big);
    assert_eq!((n, e), (30, Some(Errno::EFAULT)));
    assert_eq!(mm.copy_in(u64::MAX - 1, &mut big), Err(Errno::EFAULT));
    assert_eq!(mm.copy_out_obj(a + 8, &0xdead_beef_u64), Ok(()));
    assert_eq!(mm.copy_in_obj::<u64>(a + 8), Ok(0xdead_beef));
}

#[test]
fn munmap_releases_memory_and_platform_mappings() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 8 * PAGE_SIZE, rw())).unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    assert_eq!(mf.allocated_bytes(), 8 * PAGE_SIZE);
    mm.munmap(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
    check_invariants(&mm, &asp, &mf);
    assert_eq!(mf.allocated_bytes(), 6 * PAGE_SIZE);
    assert_eq!(mm.vmas().len(), 2);
    mm.munmap(a, 8 * PAGE_SIZE).unwrap();
    assert_eq!(mf.allocated_bytes(), 0);
    assert!(asp.pages.lock().unwrap().is_empty());
    assert_eq!(mm.munmap(a + 1, PAGE_SIZE), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(a, 0), Err(Errno::EINVAL));
    assert_eq!(
        mm.munmap(MAX - PAGE_SIZE, 2 * PAGE_SIZE),
        Err(Errno::EINVAL)
    );
    // Unmapping nothing is fine.
    assert_eq!(mm.munmap(a, PAGE_SIZE), Ok(()));
}

#[test]
fn mprotect_splits_reprotects_and_merges_back() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 4 * PAGE_SIZE, rw())).unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    mm.mprotect(a + PAGE_SIZE, PAGE_SIZE, Prot::READ).unwrap();
    assert_eq!(mm.vmas().len(), 3);
    assert_eq!(asp.pages.lock().unwrap()[&(a + PAGE_SIZE)].1, Perms::READ);
    assert_eq!(mm.copy_out(a + PAGE_SIZE, b"x"), Err(Errno::EFAULT));
    check_invariants(&mm, &asp, &mf);
    mm.mprotect(a + PAGE_SIZE, PAGE_SIZE, rw()).unwrap();
    assert_eq!(mm.vmas().len(), 1, "merged back");
    assert_eq!(
        mm.mprotect(a, 8 * PAGE_SIZE, Prot::READ),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        mm.mprotect(a + 1, PAGE_SIZE, Prot::READ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.mprotect(a, PAGE_SIZE, Prot::from_bits_retain(0x80)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.mprotect(a, PAGE_SIZE, Prot::READ | Prot::GROWSDOWN),
        Err(Errno::EINVAL)
    );
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn brk_grows_and_shrinks_the_heap() {
    let (mm, asp, mf) = setup();
    assert_eq!(mm.brk(0x50_0000), 0, "no brk base yet");
    mm.set_brk_base(0x40_0123);
    let base = 0x40_1000;
    assert_eq!(mm.brk(0), base);
    assert_eq!(mm.brk(base + 10_000), base + 10_000);
    mm.copy_out(base + 9_000, b"heap").unwrap();
    assert_eq!(mm.brk(base + 20_000), base + 20_000);
    assert_eq!(mm.vmas().len(), 1, "brk extends one vma");
    assert!(mm.vmas()[0].is_heap);
    assert_eq!(mm.brk(base + 100), base + 100);
    assert_eq!(mm.copy_out(base + 9_000, b"x"), Err(Errno::EFAULT));
    assert_eq!(mm.brk(base - PAGE_SIZE), base + 100, "below the base fails");
    mm.mmap(fixed(base + 4 * PAGE_SIZE, PAGE_SIZE, rw()))
        .unwrap();
    assert_eq!(
        mm.brk(base + 8 * PAGE_SIZE),
        base + 100,
        "collides with a mapping"
    );
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn mremap_grows_in_place_or_moves_keeping_data() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 2 * PAGE_SIZE, rw())).unwrap();
    mm.copy_out(a + 100, b"keep").unwrap();
    assert_eq!(
        mm.mremap(a, 2 * PAGE_SIZE, 4 * PAGE_SIZE, MremapFlags::empty(), 0),
        Ok(a)
    );
    mm.mmap(fixed(a + 4 * PAGE_SIZE, PAGE_SIZE, Prot::READ))
        .unwrap();
    assert_eq!(
        mm.mremap(a, 4 * PAGE_SIZE, 8 * PAGE_SIZE, MremapFlags::empty(), 0),
        Err(Errno::ENOMEM)
    );
    mm.handle_fault(a, Perms::empty()).unwrap();
    let b = mm
        .mremap(a, 4 * PAGE_SIZE, 8 * PAGE_SIZE, MremapFlags::MAYMOVE, 0)
        .unwrap();
    assert_ne!(a, b);
    let mut buf = [0u8; 4];
    mm.copy_in(b + 100, &mut buf).unwrap();
    assert_eq!(&buf, b"keep");
    assert_eq!(mm.copy_in(a + 100, &mut buf), Err(Errno::EFAULT));
    check_invariants(&mm, &asp, &mf);
    // Shrink in place.
    assert_eq!(
        mm.mremap(b, 8 * PAGE_SIZE, PAGE_SIZE, MremapFlags::empty(), 0),
        Ok(b)
    );
    // Fixed move.
    let c = mm
        .mremap(
            b,
            PAGE_SIZE,
            PAGE_SIZE,
            MremapFlags::MAYMOVE | MremapFlags::FIXED,
            0x90_0000,
        )
        .unwrap();
    assert_eq!(c, 0x90_0000);
    mm.copy_in(c + 100, &mut buf).unwrap();
    assert_eq!(&buf, b"keep");
    assert_eq!(
        mm.mremap(0x7000_0000, PAGE_SIZE, PAGE_SIZE, MremapFlags::empty(), 0),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        mm.mremap(c, PAGE_SIZE, 0, MremapFlags::empty(), 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.mremap(c, PAGE_SIZE, PAGE_SIZE, MremapFlags::FIXED, 0x20_0000),
        Err(Errno::EINVAL)
    );
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn madvise_dontneed_zeroes_private_and_keeps_shared() {
    let (mm, asp, mf) = setup();
    let p = mm.mmap(fixed(0x40_0000, 2 * PAGE_SIZE, rw())).unwrap();
    let s = mm
        .mmap(MmapOpts {
            sharing: Sharing::Shared,
            ..fixed(0x50_0000, 2 * PAGE_SIZE, rw())
        })
        .unwrap();
    mm.copy_out(p, b"priv").unwrap();
    mm.copy_out(s, b"shar").unwrap();
    mm.handle_fault(p, Perms::empty()).unwrap();
    mm.madvise(p, 2 * PAGE_SIZE, madv::MADV_DONTNEED).unwrap();
    mm.madvise(s, 2 * PAGE_SIZE, madv::MADV_DONTNEED).unwrap();
    let mut buf = [9u8; 4];
    mm.copy_in(p, &mut buf).unwrap();
    assert_eq!(buf, [0; 4]);
    mm.copy_in(s, &mut buf).unwrap();
    assert_eq!(&buf, b"shar");
    mm.madvise(s, PAGE_SIZE, madv::MADV_REMOVE).unwrap();
    mm.copy_in(s, &mut buf).unwrap();
    assert_eq!(buf, [0; 4]);
    assert_eq!(
        mm.madvise(p, PAGE_SIZE, madv::MADV_REMOVE),
        Err(Errno::EINVAL)
    );
    assert_eq!(mm.madvise(p, PAGE_SIZE, 9999), Err(Errno::EINVAL));
    assert_eq!(
        mm.madvise(p + 1, PAGE_SIZE, madv::MADV_NORMAL),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.madvise(0x7000_0000, PAGE_SIZE, madv::MADV_NORMAL),
        Err(Errno::ENOMEM)
    );
    assert_eq!(mm.madvise(0x7000_0000, 0, madv::MADV_NORMAL), Ok(()));
    check_invariants(&mm, &asp, &mf);
    mm.munmap(s, 2 * PAGE_SIZE).unwrap();
    mm.munmap(p, 2 * PAGE_SIZE).unwrap();
    assert_eq!(
        mf.allocated_bytes(),
        0,
        "shared range freed with its last vma"
    );
}

#[test]
fn private_file_mapping_reads_file_and_zero_past_eof() {
    let (mm, asp, mf) = setup();
    let mut data = vec![0u8; PAGE_SIZE as usize + 10];
    data[0] = b'A';
    data[PAGE_SIZE as usize] = b'B';
    let file: Arc<dyn MappedFile> = Arc::new(VecFile(data));
    let o = MmapOpts {
        backing: Backing::File {
            file,
            offset: PAGE_SIZE,
        },
        ..MmapOpts::anonymous(2 * PAGE_SIZE, Prot::READ)
    };
    let a = mm.mmap(o).unwrap();
    let mut b = [0u8; 1];
    mm.copy_in(a, &mut b).unwrap();
    assert_eq!(&b, b"B");
    mm.copy_in(a + 20, &mut b).unwrap();
    assert_eq!(b, [0]);
    mm.copy_in(a + PAGE_SIZE + 1, &mut b).unwrap();
    assert_eq!(b, [0]);
    assert_eq!(mm.vmas()[0].file_offset, Some(PAGE_SIZE));
    mm.handle_fault(a, Perms::empty()).unwrap();
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn copy_in_cstring_limits() {
    let (mm, _, _) = setup();
    let a = mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    mm.copy_out(a + PAGE_SIZE - 6, b"hello\0").unwrap();
    assert_eq!(
        mm.copy_in_cstring(a + PAGE_SIZE - 6, 4096).unwrap(),
        b"hello"
    );
    assert_eq!(mm.copy_in_cstring(a + PAGE_SIZE - 6, 6).unwrap(), b"hello");
    assert_eq!(
        mm.copy_in_cstring(a + PAGE_SIZE - 6, 5),
        Err(Errno::ENAMETOOLONG)
    );
    mm.copy_out(a + PAGE_SIZE - 3, b"abc").unwrap();
    assert_eq!(
        mm.copy_in_cstring(a + PAGE_SIZE - 3, 4096),
        Err(Errno::EFAULT)
    );
    assert_eq!(mm.copy_in_cstring(a, 0), Err(Errno::ENAMETOOLONG));
}

#[test]
fn grows_down_mapping_extends_on_fault_below() {
    let (mm, asp, mf) = setup();
    let top = 0x1000_0000;
    let o = MmapOpts {
        grows_down: true,
        ..fixed(top - PAGE_SIZE, PAGE_SIZE, rw())
    };
    mm.mmap(o).unwrap();
    mm.handle_fault(top - 3 * PAGE_SIZE + 8, Perms::empty())
        .unwrap();
    assert_eq!(mm.vmas()[0].start, top - 3 * PAGE_SIZE);
    assert!(matches!(
        mm.handle_fault(top - (64 << 20), Perms::empty()),
        Err(FaultError::Segv {
            code: si_code::SEGV_MAPERR
        })
    ));
    check_invariants(&mm, &asp, &mf);
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Mostly addresses in a small window (so operations interact), sometimes junk.
    fn addr(&mut self) -> u64 {
        match self.next() % 10 {
            0 => self.next(),
            1 => u64::MAX - self.next() % (4 * PAGE_SIZE),
            2 => self.next() % 0x20_0000,
            _ => 0x40_0000 + (self.next() % 64) * PAGE_SIZE,
        }
    }
    fn len(&mut self) -> u64 {
        match self.next() % 10 {
            0 => self.next(),
            1 => 0,
            2 => self.next() % 5000,
            _ => (1 + self.next() % 16) * PAGE_SIZE,
        }
    }
}

#[test]
fn random_operations_never_panic_and_keep_invariants() {
    let (mm, asp, mf) = setup();
    let file: Arc<dyn MappedFile> = Arc::new(VecFile(vec![7u8; 3 * PAGE_SIZE as usize]));
    let mut r = Rng(0x1234_5678_9abc_def1);
    mm.set_brk_base(0x48_0000);
    let (mut mapped_ok, mut faults_ok) = (0, 0);
    for i in 0..4000 {
        let prot = Prot::from_bits_retain((r.next() % 8) as u32);
        match r.next() % 11 {
            0 | 1 => {
                let placement = match r.next() % 3 {
                    0 => Placement::Hint,
                    1 => Placement::Fixed,
                    _ => Placement::FixedNoReplace,
                };
                let backing = if r.next().is_multiple_of(3) {
                    Backing::File {
                        file: Arc::clone(&file),
                        offset: (r.next() % 4) * PAGE_SIZE,
                    }
                } else {
                    Backing::Anonymous
                };
                let sharing = if r.next().is_multiple_of(4) {
                    Sharing::Shared
                } else {
                    Sharing::Private
                };
                let o = MmapOpts {
                    addr: r.addr(),
                    len: r.len(),
                    prot,
                    placement,
                    sharing,
                    backing,
                    grows_down: r.next().is_multiple_of(8),
                    populate: r.next().is_multiple_of(8),
                };
                mapped_ok += usize::from(mm.mmap(o).is_ok());
            }
            2 => {
                let _ = mm.munmap(r.addr(), r.len());
            }
            3 => {
                let _ = mm.mprotect(r.addr(), r.len(), prot);
            }
            4 => {
                let flags = MremapFlags::from_bits_retain((r.next() % 8) as u32);
                let _ = mm.mremap(r.addr(), r.len(), r.len(), flags, r.addr());
            }
            5 => {
                let advice = (r.next() % 30) as i32;
                let _ = mm.madvise(r.addr(), r.len(), advice);
            }
            6 | 7 => {
                let access = Perms::from_bits_truncate((r.next() % 8) as u8);
                faults_ok += usize::from(mm.handle_fault(r.addr(), access).is_ok());
            }
            8 => {
                let mut buf = vec![0u8; (r.next() % 9000) as usize];
                let _ = mm.copy_in_partial(r.addr(), &mut buf);
                let _ = mm.copy_out_partial(r.addr(), &buf);
            }
            9 => {
                let _ = mm.brk(r.addr());
            }
            _ => {
                let _ = mm.copy_in_cstring(r.addr(), (r.next() % 5000) as usize);
            }
        }
        if i % 50 == 0 {
            check_invariants(&mm, &asp, &mf);
        }
    }
    assert!(
        mapped_ok > 200 && faults_ok > 50,
        "the hammer exercised little: {mapped_ok} {faults_ok}"
    );
    check_invariants(&mm, &asp, &mf);
    // Tear everything down: nothing may leak.
    mm.munmap(MMAP_MIN_ADDR, MAX - MMAP_MIN_ADDR).unwrap();
    check_invariants(&mm, &asp, &mf);
    assert_eq!(mf.allocated_bytes(), 0);
    assert!(asp.pages.lock().unwrap().is_empty());
}
