//! Unit tests of the memory manager against a fake address space that records what the
//! platform would have mapped, and a real (small) MemoryFile.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use abi::Errno;
use abi::mm::{MMAP_MIN_ADDR, MremapFlags, PAGE_SIZE, Prot, madv};
use abi::signal::si_code;
use platform::{AddressSpace, Context, Perms, PlatformError, Regs};
use vfs::memfile::{MemoryFile, ZERO_RANGE_LEN};

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
        // mprotect(2) on the host fails with ENOMEM over unmapped pages: callers must only
        // protect what they mapped.
        assert_eq!(
            p.range(addr..addr + len).count() as u64,
            len / PAGE_SIZE,
            "protect over a hole at {addr:#x}+{len:#x}"
        );
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
    check_family(&[(mm, asp)], mf);
}

/// Checks the invariants of managers sharing one MemoryFile (a process and its forks): each
/// manager's maps and platform view, and that every MemoryFile page's reference count is the
/// number of managers holding it, with nothing leaked.
fn check_family(members: &[(&MemoryManager, &FakeAsp)], mf: &MemoryFile) {
    let mut page_refs: BTreeMap<u64, u32> = BTreeMap::new();
    let mut private_pages = Vec::new();
    let mut shared_seen: Vec<*const SharedRange> = Vec::new();
    let mut shared_total = 0;
    for (mm, asp) in members {
        let inner = mm.lock();
        let mut prev_end = 0;
        for (&s, v) in &inner.vmas {
            assert!(s < v.end, "empty vma at {s:#x}");
            assert!(s >= prev_end, "overlapping vmas at {s:#x}");
            assert!(s.is_multiple_of(PAGE_SIZE) && v.end.is_multiple_of(PAGE_SIZE));
            assert!(s >= MMAP_MIN_ADDR && v.end <= MAX);
            prev_end = v.end;
            if let Source::Shared { range, .. } = &v.source
                && !shared_seen.contains(&Arc::as_ptr(range))
            {
                shared_seen.push(Arc::as_ptr(range));
                shared_total += range.len;
            }
        }
        let mut prev_end = 0;
        let mut mine = std::collections::BTreeSet::new();
        for (&s, p) in &inner.pmas {
            assert!(s < p.end && s >= prev_end, "bad pma at {s:#x}");
            prev_end = p.end;
            // Every PMA lies inside one VMA.
            let (vs, v) = lookup(&inner.vmas, s).expect("pma outside any vma");
            assert!(p.end <= v.end && vs <= s, "pma {s:#x} crosses a vma edge");
            if p.kind.holds_ref() {
                for i in 0..(p.end - s) / PAGE_SIZE {
                    let page = p.mf_off + i * PAGE_SIZE;
                    assert!(
                        mine.insert(page),
                        "memory file page held twice by one manager"
                    );
                    *page_refs.entry(page).or_default() += 1;
                    if p.kind == PmaKind::Private {
                        private_pages.push(page);
                    }
                }
            }
            if p.kind == PmaKind::Zero {
                let z = mf.zero_range().unwrap();
                assert!(
                    p.mf_off >= z && p.mf_off + (p.end - s) <= z + ZERO_RANGE_LEN,
                    "zero pma {s:#x} outside the zero range"
                );
            }
            if let Some(perms) = p.mapped {
                let want = pma_perms(perms_of(v.prot), p.kind);
                // x86: any accessible page is readable, so READ never exceeds.
                assert!(
                    want.contains(perms)
                        || (!want.is_empty() && (want | Perms::READ).contains(perms)),
                    "pma {s:#x} ({:?}) mapped with {perms:?}, more than {want:?}",
                    p.kind
                );
            }
        }
        // Every mapped PMA is mapped in the platform...
        {
            let pages = asp.pages.lock().unwrap();
            for (&s, p) in &inner.pmas {
                if p.mapped.is_some() {
                    for i in 0..(p.end - s) / PAGE_SIZE {
                        assert!(
                            pages.contains_key(&(s + i * PAGE_SIZE)),
                            "pma {s:#x} marked mapped but the platform lacks page {i}"
                        );
                    }
                }
            }
        }
        // ...and everything the platform maps is a mapped PMA with the same offset and perms.
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
    // Nothing ever wrote the zero range.
    let mut zeros = vec![1u8; ZERO_RANGE_LEN as usize];
    mf.read(mf.zero_range().unwrap(), &mut zeros).unwrap();
    assert!(zeros.iter().all(|b| *b == 0), "the zero range was written");
    for (&page, &n) in &page_refs {
        assert_eq!(mf.ref_count(page), n, "reference count of page {page:#x}");
    }
    for page in private_pages {
        assert_eq!(page_refs[&page], 1, "a private page is shared");
    }
    assert_eq!(
        mf.allocated_bytes(),
        page_refs.len() as u64 * PAGE_SIZE + shared_total,
        "memory file leak or double free"
    );
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

/// One random operation on `mm`; returns (a mapping succeeded, a fault was resolved).
fn random_op(mm: &MemoryManager, r: &mut Rng, file: &Arc<dyn MappedFile>) -> (bool, bool) {
    let prot = Prot::from_bits_retain((r.next() % 8) as u32);
    match r.next() % 12 {
        0 | 1 => {
            let placement = match r.next() % 3 {
                0 => Placement::Hint,
                1 => Placement::Fixed,
                _ => Placement::FixedNoReplace,
            };
            let backing = if r.next().is_multiple_of(3) {
                Backing::File {
                    file: Arc::clone(file),
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
                max_prot: if r.next().is_multiple_of(5) {
                    Prot::READ | Prot::EXEC
                } else {
                    Prot::ACCESS
                },
            };
            return (mm.mmap(o).is_ok(), false);
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
            let addr = r.addr();
            let ok = if r.next().is_multiple_of(3) {
                let access = Perms::from_bits_truncate((r.next() % 8) as u8);
                mm.handle_fault(addr, access).is_ok()
            } else if r.next().is_multiple_of(2) {
                // Whatever bytes happen to be at a random rip, with registers near `addr`.
                let regs = Regs {
                    rax: addr,
                    rbx: addr.wrapping_add(r.next() % 64),
                    rdi: addr,
                    rsi: r.addr(),
                    ..Regs::new_user(r.addr(), addr.wrapping_add(8))
                };
                mm.handle_fault_with_regs(addr, Perms::empty(), &regs)
                    .is_ok()
            } else {
                let kind = [
                    FaultAccess::Read,
                    FaultAccess::Write,
                    FaultAccess::Exec,
                    FaultAccess::Unknown,
                ][(r.next() % 4) as usize];
                mm.handle_fault_access(addr, kind).is_ok()
            };
            return (false, ok);
        }
        8 => {
            let mut buf = vec![0u8; (r.next() % 9000) as usize];
            let _ = mm.copy_in_partial(r.addr(), &mut buf);
            let _ = mm.copy_out_partial(r.addr(), &buf);
        }
        9 => {
            let _ = mm.brk(r.addr());
        }
        10 => {
            let _ = mm.copy_out_force(r.addr(), &[1, 2, 3]);
        }
        _ => {
            let _ = mm.copy_in_cstring(r.addr(), (r.next() % 5000) as usize);
        }
    }
    (false, false)
}

#[test]
fn random_operations_never_panic_and_keep_invariants() {
    let (mm, asp, mf) = setup();
    let file: Arc<dyn MappedFile> = Arc::new(VecFile(vec![7u8; 3 * PAGE_SIZE as usize]));
    let mut r = Rng(0x1234_5678_9abc_def1);
    mm.set_brk_base(0x48_0000);
    let (mut mapped_ok, mut faults_ok) = (0, 0);
    for i in 0..4000 {
        let (m, f) = random_op(&mm, &mut r, &file);
        mapped_ok += usize::from(m);
        faults_ok += usize::from(f);
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

#[test]
fn random_operations_across_forks_keep_reference_counts() {
    let (mm, asp, mf) = setup();
    let file: Arc<dyn MappedFile> = Arc::new(VecFile(vec![7u8; 3 * PAGE_SIZE as usize]));
    let mut r = Rng(0x0bad_cafe_f00d_1234);
    mm.set_brk_base(0x48_0000);
    let mut family: Vec<(MemoryManager, Arc<FakeAsp>)> = vec![(mm, asp)];
    let (mut forks, mut faults_ok) = (0, 0);
    for i in 0..4000 {
        let who = (r.next() % family.len() as u64) as usize;
        match r.next() % 40 {
            0 if family.len() < 4 => {
                let child = fork_of(&family[who].0);
                family.push(child);
                forks += 1;
            }
            1 if family.len() > 1 => {
                family.swap_remove(who);
            }
            _ => faults_ok += usize::from(random_op(&family[who].0, &mut r, &file).1),
        }
        if i % 50 == 0 {
            let members: Vec<(&MemoryManager, &FakeAsp)> =
                family.iter().map(|(m, a)| (m, &**a)).collect();
            check_family(&members, &mf);
        }
    }
    assert!(
        forks > 20 && faults_ok > 50,
        "{forks} forks, {faults_ok} faults"
    );
    drop(family);
    assert_eq!(
        mf.allocated_bytes(),
        0,
        "every page freed with its last owner"
    );
}

// ---------------------------------------------------------------------------------------------
// fork(2): copy-on-write

/// Forks `mm` into a fresh fake address space.
fn fork_of(mm: &MemoryManager) -> (MemoryManager, Arc<FakeAsp>) {
    let asp = Arc::new(FakeAsp::default());
    let child = mm.fork(asp.clone()).unwrap();
    (child, asp)
}

/// The platform's view of `page`: (MemoryFile offset, perms).
fn platform_page(asp: &FakeAsp, page: u64) -> Option<(u64, Perms)> {
    asp.pages.lock().unwrap().get(&page).copied()
}

/// What the application would read at `addr` through its platform mapping.
fn app_read(asp: &FakeAsp, mf: &MemoryFile, addr: u64, len: usize) -> Vec<u8> {
    let (off, _) = platform_page(asp, page_align_down(addr)).expect("page mapped");
    let mut buf = vec![0u8; len];
    mf.read(off + addr % PAGE_SIZE, &mut buf).unwrap();
    buf
}

#[test]
fn fork_shares_private_pages_until_a_write_fault_copies() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 4 * PAGE_SIZE, rw())).unwrap();
    mm.copy_out(a, b"parent").unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    let (off, _) = platform_page(&asp, a).unwrap();
    let (child, casp) = fork_of(&mm);

    // The parent's writable mapping is now read-only; nothing was copied.
    assert_eq!(platform_page(&asp, a), Some((off, Perms::READ)));
    assert_eq!(mf.ref_count(off), 2);
    assert_eq!(mf.allocated_bytes(), 4 * PAGE_SIZE);
    assert!(
        casp.pages.lock().unwrap().is_empty(),
        "child starts unmapped"
    );
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);

    // ptrace-style fault (access unknown) in the child: the same page, read-only.
    child.handle_fault(a, Perms::empty()).unwrap();
    assert_eq!(platform_page(&casp, a), Some((off, Perms::READ)));
    assert_eq!(app_read(&casp, &mf, a, 6), b"parent");
    // Faulting again on a present read-only page of a writable VMA is a write: copy.
    child.handle_fault(a, Perms::empty()).unwrap();
    let (coff, cperms) = platform_page(&casp, a).unwrap();
    assert_ne!(coff, off);
    assert_eq!(cperms, Perms::READ | Perms::WRITE);
    assert_eq!(
        app_read(&casp, &mf, a, 6),
        b"parent",
        "the copy has the data"
    );
    mf.write(coff, b"child!").unwrap(); // the child's store
    assert_eq!(
        app_read(&asp, &mf, a, 6),
        b"parent",
        "the parent does not see it"
    );
    assert_eq!(mf.ref_count(off), 1);
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);

    // The parent is the last owner of its page now: a write fault claims it in place.
    mm.handle_fault(a, Perms::empty()).unwrap();
    assert_eq!(
        platform_page(&asp, a),
        Some((off, Perms::READ | Perms::WRITE))
    );
    assert_eq!(mf.allocated_bytes(), 5 * PAGE_SIZE);
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
}

#[test]
fn known_write_fault_on_shared_cow_page_copies_at_once() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    mm.copy_out(a, b"old").unwrap();
    let (child, casp) = fork_of(&mm);
    child.handle_fault_access(a, FaultAccess::Write).unwrap();
    assert_eq!(
        platform_page(&casp, a).map(|(_, p)| p),
        Some(Perms::READ | Perms::WRITE),
        "one fault, already writable"
    );
    assert_eq!(mf.allocated_bytes(), 2 * PAGE_SIZE);
    // A read fault in the parent maps its (now exclusive) page without copying.
    mm.handle_fault_access(a, FaultAccess::Read).unwrap();
    assert_eq!(mf.allocated_bytes(), 2 * PAGE_SIZE);
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
}

#[test]
fn fork_copies_vmas_and_brk_and_shares_map_shared_pages() {
    let (mm, asp, mf) = setup();
    mm.set_brk_base(0x40_0000);
    mm.brk(0x40_0000 + 3 * PAGE_SIZE);
    let s = mm
        .mmap(MmapOpts {
            sharing: Sharing::Shared,
            ..fixed(0x50_0000, 2 * PAGE_SIZE, rw())
        })
        .unwrap();
    mm.copy_out(s, b"before").unwrap();
    mm.handle_fault(s, Perms::empty()).unwrap();
    let (child, casp) = fork_of(&mm);
    assert_eq!(child.vmas(), mm.vmas());
    assert_eq!(child.brk(0), 0x40_0000 + 3 * PAGE_SIZE);
    // The shared mapping stays writable in the parent and is the same memory in both.
    assert_eq!(
        platform_page(&asp, s).map(|(_, p)| p),
        Some(Perms::READ | Perms::WRITE)
    );
    child.copy_out(s + 100, b"from child").unwrap();
    let mut buf = [0u8; 10];
    mm.copy_in(s + 100, &mut buf).unwrap();
    assert_eq!(&buf, b"from child");
    child.handle_fault(s, Perms::empty()).unwrap();
    assert_eq!(platform_page(&casp, s), platform_page(&asp, s));
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
    drop(mm);
    // The child keeps the shared range alive.
    child.copy_in(s, &mut buf[..6]).unwrap();
    assert_eq!(&buf[..6], b"before");
}

#[test]
fn forked_pages_are_freed_by_the_last_owner() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 8 * PAGE_SIZE, rw())).unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    let (child, casp) = fork_of(&mm);
    let (grandchild, gasp) = fork_of(&child);
    assert_eq!(mf.allocated_bytes(), 8 * PAGE_SIZE);
    // munmap in one process keeps the others' pages.
    child.munmap(a, 4 * PAGE_SIZE).unwrap();
    assert_eq!(mf.allocated_bytes(), 8 * PAGE_SIZE);
    check_family(&[(&mm, &asp), (&child, &casp), (&grandchild, &gasp)], &mf);
    drop(mm);
    assert_eq!(
        mf.allocated_bytes(),
        8 * PAGE_SIZE,
        "grandchild holds all 8"
    );
    drop(grandchild);
    assert_eq!(
        mf.allocated_bytes(),
        4 * PAGE_SIZE,
        "child holds its upper 4"
    );
    check_family(&[(&child, &casp)], &mf);
    drop(child);
    assert_eq!(mf.allocated_bytes(), 0);
}

#[test]
fn mprotect_of_cow_pages_keeps_them_read_only() {
    let (mm, asp, mf) = setup();
    let a = mm
        .mmap(fixed(0x40_0000, 2 * PAGE_SIZE, Prot::READ))
        .unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    let (child, casp) = fork_of(&mm);
    mm.mprotect(a, 2 * PAGE_SIZE, rw()).unwrap();
    assert_eq!(platform_page(&asp, a).map(|(_, p)| p), Some(Perms::READ));
    mm.copy_out(a, b"x").unwrap();
    let mut b = [9u8; 1];
    child.copy_in(a, &mut b).unwrap();
    assert_eq!(b, [0], "the child's copy is untouched");
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
}

// ---------------------------------------------------------------------------------------------
// The sentry's own writes break copy-on-write

#[test]
fn copy_out_into_cow_page_does_not_reach_the_other_process() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 2 * PAGE_SIZE, rw())).unwrap();
    mm.copy_out(a, b"original").unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    let (child, casp) = fork_of(&mm);
    child.handle_fault(a, Perms::empty()).unwrap();

    // Parent: the sentry writes (e.g. read(2) into a buffer).
    mm.copy_out(a, b"PARENT").unwrap();
    let mut buf = [0u8; 8];
    child.copy_in(a, &mut buf).unwrap();
    assert_eq!(&buf, b"original", "child still reads the old bytes");
    assert_eq!(app_read(&casp, &mf, a, 8), b"original");
    // The parent's platform mapping shows the new private page, writable.
    let (poff, pperms) = platform_page(&asp, a).unwrap();
    assert_eq!(pperms, Perms::READ | Perms::WRITE);
    assert_eq!(app_read(&asp, &mf, a, 8), b"PARENTal");
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);

    // And the other way round, on the second page, which neither has mapped.
    child.copy_out(a + PAGE_SIZE, b"CHILD").unwrap();
    mm.copy_in(a + PAGE_SIZE, &mut buf[..5]).unwrap();
    assert_eq!(buf[..5], [0; 5]);
    // The child's first page: now the only owner of the original page, it writes in place.
    child.copy_out(a + 1, b"X").unwrap();
    mm.copy_in(a, &mut buf).unwrap();
    assert_eq!(&buf, b"PARENTal");
    assert_eq!(app_read(&casp, &mf, a, 8), b"oXiginal");
    assert_ne!(platform_page(&casp, a).unwrap().0, poff);
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
}

#[test]
fn copy_out_force_breaks_cow_too() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, PAGE_SIZE, Prot::READ)).unwrap();
    let (child, casp) = fork_of(&mm);
    mm.copy_out(a, b"x").unwrap_err();
    mm.copy_in(a, &mut [0u8; 1]).unwrap(); // backs the page, shared by nobody
    let (child2, casp2) = fork_of(&mm);
    mm.copy_out_force(a, b"poke").unwrap();
    let mut buf = [1u8; 4];
    child2.copy_in(a, &mut buf).unwrap();
    assert_eq!(buf, [0; 4]);
    check_family(&[(&mm, &asp), (&child, &casp), (&child2, &casp2)], &mf);
}

// ---------------------------------------------------------------------------------------------
// Futex support: keys and atomics

#[test]
fn futex_keys_are_private_by_address_and_shared_by_memory_file_offset() {
    let (mm, asp, mf) = setup();
    let p = mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    let s = mm
        .mmap(MmapOpts {
            sharing: Sharing::Shared,
            ..fixed(0x50_0000, 2 * PAGE_SIZE, rw())
        })
        .unwrap();
    let none = mm.mmap(fixed(0x60_0000, PAGE_SIZE, Prot::NONE)).unwrap();
    let (child, casp) = fork_of(&mm);
    assert_eq!(
        mm.futex_key(p + 8, false),
        Ok(FutexKey::Private {
            mm: mm.id(),
            addr: p + 8
        })
    );
    assert_ne!(mm.futex_key(p + 8, false), child.futex_key(p + 8, false));
    let key = mm.futex_key(s + PAGE_SIZE + 4, false).unwrap();
    assert!(matches!(key, FutexKey::Shared(_)));
    assert_eq!(child.futex_key(s + PAGE_SIZE + 4, false), Ok(key));
    assert_eq!(
        mm.futex_key(s + 4, true),
        Ok(FutexKey::Private {
            mm: mm.id(),
            addr: s + 4
        }),
        "FUTEX_PRIVATE_FLAG keys by address"
    );
    // The shared key is where the word lives: an atomic write through it is what both see.
    let FutexKey::Shared(off) = key else {
        unreachable!()
    };
    mm.compare_exchange_u32(s + PAGE_SIZE + 4, 0, 77)
        .unwrap()
        .unwrap();
    assert_eq!(mf.load_u32(off).unwrap(), 77);
    assert_eq!(child.load_u32(s + PAGE_SIZE + 4), Ok(77));
    assert_eq!(mm.futex_key(0x70_0000, false), Err(Errno::EFAULT));
    assert_eq!(mm.futex_key(none, false), Err(Errno::EFAULT));
    assert_eq!(mm.futex_key(p + 2, false), Err(Errno::EINVAL));
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
}

#[test]
fn futex_atomics_back_untouched_pages_and_check_protection() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    let ro = mm.mmap(fixed(0x50_0000, PAGE_SIZE, Prot::READ)).unwrap();
    let none = mm.mmap(fixed(0x60_0000, PAGE_SIZE, Prot::NONE)).unwrap();
    assert_eq!(mm.load_u32(a + 12), Ok(0), "untouched memory reads as zero");
    assert_eq!(mm.compare_exchange_u32(a + 16, 0, 5), Ok(Ok(0)));
    assert_eq!(mm.compare_exchange_u32(a + 16, 0, 6), Ok(Err(5)));
    assert_eq!(mm.copy_in_obj::<u32>(a + 16), Ok(5));
    assert_eq!(mm.load_u32(ro), Ok(0));
    assert_eq!(mm.compare_exchange_u32(ro, 0, 1), Err(Errno::EFAULT));
    assert_eq!(mm.atomic_op_u32(ro, AtomicOp::Set(1)), Err(Errno::EFAULT));
    assert_eq!(mm.load_u32(none), Err(Errno::EFAULT));
    assert_eq!(mm.load_u32(0x70_0000), Err(Errno::EFAULT));
    assert_eq!(mm.load_u32(a + 1), Err(Errno::EINVAL));
    assert_eq!(mm.load_u32(u64::MAX - 3), Err(Errno::EFAULT));
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn futex_wake_op_operations_return_the_old_value() {
    let (mm, _, _) = setup();
    let a = mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    let steps = [
        (AtomicOp::Set(0b1100), 0, 0b1100),
        (AtomicOp::Add(1), 0b1100, 0b1101),
        (AtomicOp::Or(0b10), 0b1101, 0b1111),
        (AtomicOp::AndN(0b0101), 0b1111, 0b1010),
        (AtomicOp::Xor(0b1001), 0b1010, 0b0011),
        (AtomicOp::Add(u32::MAX), 0b0011, 0b0010),
    ];
    for (op, old, new) in steps {
        assert_eq!(mm.atomic_op_u32(a, op), Ok(old), "{op:?}");
        assert_eq!(mm.load_u32(a), Ok(new), "{op:?}");
    }
}

#[test]
fn futex_atomic_writes_break_cow() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    mm.copy_out_obj(a, &1u32).unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    let (child, casp) = fork_of(&mm);
    assert_eq!(mm.compare_exchange_u32(a, 1, 2), Ok(Ok(1)));
    assert_eq!(child.load_u32(a), Ok(1), "the child's word is untouched");
    assert_eq!(child.atomic_op_u32(a, AtomicOp::Add(10)), Ok(1));
    assert_eq!(mm.load_u32(a), Ok(2));
    assert_eq!(child.load_u32(a), Ok(11));
    assert_eq!(app_read(&asp, &mf, a, 4), 2u32.to_ne_bytes());
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
}

// ---------------------------------------------------------------------------------------------
// max_prot

#[test]
fn mprotect_beyond_max_prot_fails_eacces_and_changes_nothing() {
    let (mm, asp, mf) = setup();
    // A MAP_SHARED mapping of a file opened O_RDONLY: the handler clears WRITE.
    let file: Arc<dyn MappedFile> = Arc::new(VecFile(vec![3u8; PAGE_SIZE as usize]));
    let ro_shared = MmapOpts {
        sharing: Sharing::Shared,
        backing: Backing::File { file, offset: 0 },
        max_prot: Prot::READ | Prot::EXEC,
        ..fixed(0x40_0000, PAGE_SIZE, Prot::READ)
    };
    let f = mm.mmap(ro_shared.clone()).unwrap();
    let anon = mm
        .mmap(fixed(f + PAGE_SIZE, PAGE_SIZE, Prot::READ))
        .unwrap();
    assert_eq!(mm.vmas().len(), 2, "different max_prot: not merged");
    assert_eq!(mm.mprotect(f, PAGE_SIZE, rw()), Err(Errno::EACCES));
    assert_eq!(
        mm.mprotect(f, 2 * PAGE_SIZE, rw()),
        Err(Errno::EACCES),
        "one refused VMA refuses the call"
    );
    assert_eq!(mm.vmas()[1].prot, Prot::READ, "nothing changed");
    mm.mprotect(f, PAGE_SIZE, Prot::READ | Prot::EXEC).unwrap();
    mm.mprotect(f, PAGE_SIZE, Prot::NONE).unwrap();
    mm.mprotect(anon, PAGE_SIZE, rw()).unwrap();
    // mmap itself refuses a protection beyond the maximum.
    assert_eq!(
        mm.mmap(MmapOpts {
            prot: rw(),
            ..ro_shared
        }),
        Err(Errno::EACCES)
    );
    check_invariants(&mm, &asp, &mf);
}

// ---------------------------------------------------------------------------------------------
// The shared zero page and decoded fault kinds

#[test]
fn read_faults_on_untouched_memory_map_the_zero_page_without_allocating() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(1 << 30, 1 << 30, rw())).unwrap();
    mm.handle_fault_access(a + (100 << 20) + 8, FaultAccess::Read)
        .unwrap();
    let z = mf.zero_range().unwrap();
    {
        let pages = asp.pages.lock().unwrap();
        assert_eq!(
            pages.len() as u64,
            ANON_FAULT_CHUNK / PAGE_SIZE,
            "fault-around"
        );
        assert!(
            pages
                .values()
                .all(|(off, p)| *p == Perms::READ && (z..z + ZERO_RANGE_LEN).contains(off))
        );
    }
    // The sentry reading untouched memory does not allocate either.
    let mut buf = vec![1u8; 1 << 20];
    mm.copy_in(a + (300 << 20), &mut buf).unwrap();
    assert!(buf.iter().all(|b| *b == 0));
    assert_eq!(mm.load_u32(a + (500 << 20)), Ok(0));
    assert_eq!(mf.allocated_bytes(), 0);
    check_invariants(&mm, &asp, &mf);

    // A write to a zero page allocates a private window and maps it writable.
    let w = a + (100 << 20) + 5 * PAGE_SIZE;
    mm.handle_fault_access(w, FaultAccess::Write).unwrap();
    assert_eq!(mf.allocated_bytes(), WRITE_WINDOW);
    let (off, perms) = platform_page(&asp, w).unwrap();
    assert_eq!(perms, Perms::READ | Perms::WRITE);
    assert!(!(z..z + ZERO_RANGE_LEN).contains(&off));
    mf.write(off, b"app").unwrap();
    // ptrace-style unknown fault on a zero page mapped read-only: a write, too.
    let w2 = a + (100 << 20) + 40 * PAGE_SIZE;
    mm.handle_fault(w2, Perms::empty()).unwrap();
    assert_eq!(
        platform_page(&asp, w2).map(|(_, p)| p),
        Some(Perms::READ | Perms::WRITE)
    );
    check_invariants(&mm, &asp, &mf);
    mm.munmap(a, 1 << 30).unwrap();
    assert_eq!(mf.allocated_bytes(), 0);
}

#[test]
fn unknown_faults_on_untouched_memory_still_allocate() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 4 * PAGE_SIZE, rw())).unwrap();
    mm.handle_fault(a, Perms::empty()).unwrap();
    assert_eq!(mf.allocated_bytes(), 4 * PAGE_SIZE);
    assert_eq!(
        platform_page(&asp, a).map(|(_, p)| p),
        Some(Perms::READ | Perms::WRITE)
    );
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn copy_out_over_a_mapped_zero_page_remaps_a_private_page() {
    let (mm, asp, mf) = setup();
    let a = mm.mmap(fixed(0x40_0000, 4 * PAGE_SIZE, rw())).unwrap();
    mm.handle_fault_access(a, FaultAccess::Read).unwrap();
    mm.copy_out(a + 2 * PAGE_SIZE + 1, b"sentry").unwrap();
    assert_eq!(app_read(&asp, &mf, a + 2 * PAGE_SIZE + 1, 6), b"sentry");
    assert_eq!(
        platform_page(&asp, a + 2 * PAGE_SIZE).map(|(_, p)| p),
        Some(Perms::READ | Perms::WRITE)
    );
    // Read-only mappings are written by force (the loader's bss tail) the same way.
    let ro = mm.mmap(fixed(0x50_0000, PAGE_SIZE, Prot::READ)).unwrap();
    mm.handle_fault_access(ro, FaultAccess::Read).unwrap();
    mm.copy_out_force(ro, b"bss").unwrap();
    assert_eq!(app_read(&asp, &mf, ro, 3), b"bss");
    assert_eq!(platform_page(&asp, ro).map(|(_, p)| p), Some(Perms::READ));
    check_invariants(&mm, &asp, &mf);
}

/// A code page at `CODE` holding `insn`, and a data mapping at `DATA`; registers pointing
/// `rax` and `rbx` into the data.
const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x80_0000;

fn with_code(mm: &MemoryManager, insn: &[u8]) -> Regs {
    mm.mmap(fixed(CODE, PAGE_SIZE, Prot::READ | Prot::EXEC))
        .unwrap();
    mm.copy_out_force(CODE, insn).unwrap();
    mm.mmap(fixed(DATA, 16 * PAGE_SIZE, rw())).unwrap();
    Regs {
        rax: DATA + 3 * PAGE_SIZE,
        rbx: DATA + 3 * PAGE_SIZE,
        ..Regs::new_user(CODE, 0x7ff_f000)
    }
}

#[test]
fn decoded_load_maps_zero_page_and_decoded_store_allocates_in_one_fault() {
    let (mm, asp, mf) = setup();
    // mov eax, [rbx]
    let regs = with_code(&mm, &[0x8b, 0x03]);
    let code_bytes = mf.allocated_bytes();
    mm.handle_fault_with_regs(regs.rbx, Perms::empty(), &regs)
        .unwrap();
    assert_eq!(
        mf.allocated_bytes(),
        code_bytes,
        "a read maps the zero page"
    );
    assert_eq!(
        platform_page(&asp, regs.rbx).map(|(_, p)| p),
        Some(Perms::READ)
    );
    // mov dword [rax], 1, elsewhere in the data.
    mm.copy_out_force(CODE + 0x100, &[0xc7, 0x00, 1, 0, 0, 0])
        .unwrap();
    let store = Regs {
        rip: CODE + 0x100,
        rax: DATA + 9 * PAGE_SIZE,
        ..regs
    };
    let calls = *asp.calls.lock().unwrap();
    mm.handle_fault_with_regs(store.rax, Perms::empty(), &store)
        .unwrap();
    assert_eq!(*asp.calls.lock().unwrap(), calls + 1, "one platform map");
    assert_eq!(
        platform_page(&asp, store.rax).map(|(_, p)| p),
        Some(Perms::READ | Perms::WRITE)
    );
    assert_eq!(mf.allocated_bytes(), code_bytes + WRITE_WINDOW);
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn a_repeated_fault_at_the_same_instruction_falls_back_to_unknown() {
    let (mm, asp, mf) = setup();
    // mov eax, [rbx] — but suppose the CPU wrote (the decoder was wrong): the page is
    // mapped read-only after the first fault, and the same fault comes back.
    let regs = with_code(&mm, &[0x8b, 0x03]);
    mm.handle_fault_with_regs(regs.rbx, Perms::empty(), &regs)
        .unwrap();
    assert_eq!(
        platform_page(&asp, regs.rbx).map(|(_, p)| p),
        Some(Perms::READ)
    );
    mm.handle_fault_with_regs(regs.rbx, Perms::empty(), &regs)
        .unwrap();
    assert_eq!(
        platform_page(&asp, regs.rbx).map(|(_, p)| p),
        Some(Perms::READ | Perms::WRITE),
        "the second fault is treated as ptrace's unknown: a write on a read-only page"
    );
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn decoded_store_to_a_cow_page_copies_in_one_fault() {
    let (mm, asp, mf) = setup();
    // mov dword [rax], 1
    let regs = with_code(&mm, &[0xc7, 0x00, 1, 0, 0, 0]);
    mm.copy_out(regs.rax, b"shared").unwrap();
    let (child, casp) = fork_of(&mm);
    child
        .handle_fault_with_regs(regs.rax, Perms::empty(), &regs)
        .unwrap();
    let (coff, cperms) = platform_page(&casp, regs.rax).unwrap();
    assert_eq!(cperms, Perms::READ | Perms::WRITE);
    mf.write(coff, b"CHILD!").unwrap();
    let mut buf = [0u8; 6];
    mm.copy_in(regs.rax, &mut buf).unwrap();
    assert_eq!(&buf, b"shared");
    // An instruction fetch from the (unmapped, backed) code page is an exec fault: mapped
    // read+exec, not written.
    child
        .handle_fault_with_regs(CODE, Perms::empty(), &regs)
        .unwrap();
    assert_eq!(
        platform_page(&casp, CODE).map(|(_, p)| p),
        Some(Perms::READ | Perms::EXEC)
    );
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
}

#[test]
fn exec_fault_on_untouched_anonymous_code_maps_the_zero_page() {
    let (mm, asp, mf) = setup();
    let a = mm
        .mmap(fixed(0x40_0000, PAGE_SIZE, Prot::READ | Prot::EXEC))
        .unwrap();
    let regs = Regs::new_user(a, 0x7ff_f000);
    mm.handle_fault_with_regs(a, Perms::empty(), &regs).unwrap();
    assert_eq!(mf.allocated_bytes(), 0);
    assert_eq!(
        platform_page(&asp, a).map(|(_, p)| p),
        Some(Perms::READ | Perms::EXEC)
    );
    // A PROT_READ mapping is not executable: an exec fault there ends in SEGV_ACCERR (after
    // one retry, since a decoded kind is only a hint).
    let ro = mm.mmap(fixed(0x50_0000, PAGE_SIZE, Prot::READ)).unwrap();
    let regs = Regs::new_user(ro, 0x7ff_f000);
    mm.handle_fault_with_regs(ro, Perms::empty(), &regs)
        .unwrap();
    assert!(matches!(
        mm.handle_fault_with_regs(ro, Perms::empty(), &regs),
        Err(FaultError::Segv {
            code: si_code::SEGV_ACCERR
        })
    ));
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn a_decoded_write_to_a_read_only_mapping_is_only_a_hint() {
    let (mm, asp, mf) = setup();
    // mov dword [rax], 1 against a PROT_READ mapping: the first fault maps it (in case the
    // decoding was wrong), the retry is SEGV_ACCERR.
    let regs = with_code(&mm, &[0xc7, 0x00, 1, 0, 0, 0]);
    mm.mprotect(DATA, 16 * PAGE_SIZE, Prot::READ).unwrap();
    mm.handle_fault_with_regs(regs.rax, Perms::empty(), &regs)
        .unwrap();
    assert!(matches!(
        mm.handle_fault_with_regs(regs.rax, Perms::empty(), &regs),
        Err(FaultError::Segv {
            code: si_code::SEGV_ACCERR
        })
    ));
    // A platform-reported write is trusted.
    assert!(matches!(
        mm.handle_fault(regs.rax + PAGE_SIZE, Perms::WRITE),
        Err(FaultError::Segv {
            code: si_code::SEGV_ACCERR
        })
    ));
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn another_thread_faulting_at_the_same_instruction_is_still_decoded() {
    let (mm, asp, mf) = setup();
    // mov eax, [rbx] run by two threads (different stacks) on the same untouched page.
    let regs = with_code(&mm, &[0x8b, 0x03]);
    let code_bytes = mf.allocated_bytes();
    mm.handle_fault_with_regs(regs.rbx, Perms::empty(), &regs)
        .unwrap();
    let other = Regs {
        rsp: regs.rsp - 0x10_0000,
        ..regs
    };
    mm.handle_fault_with_regs(regs.rbx, Perms::empty(), &other)
        .unwrap();
    assert_eq!(
        mf.allocated_bytes(),
        code_bytes,
        "both reads use the zero page"
    );
    check_invariants(&mm, &asp, &mf);
}

#[test]
fn madvise_dontfork_and_wipeonfork_shape_the_child() {
    let (mm, asp, mf) = setup();
    let skip = mm.mmap(fixed(0x40_0000, PAGE_SIZE, rw())).unwrap();
    let wipe = mm.mmap(fixed(0x50_0000, PAGE_SIZE, rw())).unwrap();
    let keep = mm.mmap(fixed(0x60_0000, PAGE_SIZE, rw())).unwrap();
    for a in [skip, wipe, keep] {
        mm.copy_out(a, b"data").unwrap();
        mm.handle_fault_access(a, FaultAccess::Write).unwrap();
    }
    mm.madvise(skip, PAGE_SIZE, madv::MADV_DONTFORK).unwrap();
    mm.madvise(wipe, PAGE_SIZE, madv::MADV_WIPEONFORK).unwrap();
    let (child, casp) = fork_of(&mm);
    let starts: Vec<u64> = child.vmas().iter().map(|v| v.start).collect();
    assert_eq!(starts, [wipe, keep], "the DONTFORK mapping is a hole");
    let mut buf = [9u8; 4];
    child.copy_in(wipe, &mut buf).unwrap();
    assert_eq!(buf, [0; 4], "WIPEONFORK memory is zero in the child");
    child.copy_in(keep, &mut buf).unwrap();
    assert_eq!(&buf, b"data");
    // The parent's skipped and wiped pages stay private and writable.
    for (a, perms) in [
        (skip, Perms::READ | Perms::WRITE),
        (wipe, Perms::READ | Perms::WRITE),
        (keep, Perms::READ),
    ] {
        assert_eq!(
            platform_page(&asp, a).map(|(_, p)| p),
            Some(perms),
            "{a:#x}"
        );
    }
    check_family(&[(&mm, &asp), (&child, &casp)], &mf);
    // Only private anonymous memory can be wiped.
    let shared = mm
        .mmap(MmapOpts {
            sharing: Sharing::Shared,
            ..fixed(0x70_0000, PAGE_SIZE, rw())
        })
        .unwrap();
    assert_eq!(
        mm.madvise(shared, PAGE_SIZE, madv::MADV_WIPEONFORK),
        Err(Errno::EINVAL)
    );
    // DOFORK undoes DONTFORK.
    mm.madvise(skip, PAGE_SIZE, madv::MADV_DOFORK).unwrap();
    mm.madvise(wipe, PAGE_SIZE, madv::MADV_KEEPONFORK).unwrap();
    let (child2, casp2) = fork_of(&mm);
    child2.copy_in(skip, &mut buf).unwrap();
    assert_eq!(&buf, b"data");
    child2.copy_in(wipe, &mut buf).unwrap();
    assert_eq!(&buf, b"data");
    check_family(&[(&mm, &asp), (&child, &casp), (&child2, &casp2)], &mf);
}

// ---------------------------------------------------------------------------------------
// Files that keep their pages in the MemoryFile (tmpfs): MAP_SHARED maps those pages.

/// A tmpfs file opened read-write, as mm sees it through `VfsMappedFile`.
#[derive(Debug)]
struct TmpfsMapped(Box<dyn vfs::FileOps>);

impl MappedFile for TmpfsMapped {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.0.read_at(buf, off)
    }
    fn shared_page(&self, file_page: u64) -> Option<SysResult<u64>> {
        self.0.memfile_page(file_page)
    }
}

/// A tmpfs on `mf` with one file of `len` bytes (filled with `fill`): the mapped view and
/// a second open of the same file (for read/write through "an fd"). The Tmpfs is returned
/// so that the file outlives the test's mappings.
fn tmpfs_file(
    mf: &Arc<MemoryFile>,
    len: usize,
    fill: u8,
) -> (
    Arc<vfs::tmpfs::Tmpfs>,
    Arc<TmpfsMapped>,
    Box<dyn vfs::FileOps>,
) {
    let fs = vfs::tmpfs::Tmpfs::new(0o755, &vfs::Creds::root(), Arc::clone(mf));
    let ino = fs
        .root_inode()
        .create(b"shm", 0o644, &vfs::Creds::root())
        .unwrap();
    let fd = ino.open(abi::file::O_RDWR).unwrap();
    fd.write_at(&vec![fill; len], 0).unwrap();
    let mapped = Arc::new(TmpfsMapped(ino.open(abi::file::O_RDWR).unwrap()));
    (fs, mapped, fd)
}

fn file_map(file: &Arc<TmpfsMapped>, len: u64, sharing: Sharing) -> MmapOpts {
    MmapOpts {
        sharing,
        backing: Backing::File {
            file: Arc::clone(file) as Arc<dyn MappedFile>,
            offset: 0,
        },
        ..MmapOpts::anonymous(len, rw())
    }
}

fn fd_read(fd: &dyn vfs::FileOps, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let n = fd.read_at(&mut buf, off).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn two_managers_mapping_a_tmpfs_file_shared_see_each_others_writes() {
    let (mm1, asp1, mf) = setup();
    let asp2 = Arc::new(FakeAsp::default());
    let mm2 = MemoryManager::new(Arc::clone(&mf), asp2.clone(), MAX);
    let (_fs, file, fd) = tmpfs_file(&mf, 2 * PAGE_SIZE as usize, b'.');
    let a1 = mm1
        .mmap(file_map(&file, 2 * PAGE_SIZE, Sharing::Shared))
        .unwrap();
    let a2 = mm2
        .mmap(file_map(&file, 2 * PAGE_SIZE, Sharing::Shared))
        .unwrap();
    // Both application mappings show the file's page itself, writable in place.
    mm1.handle_fault_access(a1, FaultAccess::Write).unwrap();
    mm2.handle_fault_access(a2, FaultAccess::Read).unwrap();
    let (o1, p1) = platform_page(&asp1, a1).unwrap();
    let (o2, p2) = platform_page(&asp2, a2).unwrap();
    assert_eq!(o1, o2, "one page for both processes");
    assert!(p1.contains(Perms::WRITE) && p2.contains(Perms::WRITE));
    // A write through one mapping is seen by the other and by read(2)...
    mm1.copy_out(a1 + 10, b"from one").unwrap();
    let mut buf = [0u8; 8];
    mm2.copy_in(a2 + 10, &mut buf).unwrap();
    assert_eq!(&buf, b"from one");
    assert_eq!(fd_read(fd.as_ref(), 10, 8), b"from one");
    // ...and write(2) is seen through both mappings, on a page not faulted in yet too.
    fd.write_at(b"by fd", PAGE_SIZE + 3).unwrap();
    assert_eq!(app_read(&asp1, &mf, a1 + PAGE_SIZE + 3, 5), b"by fd");
    mm2.copy_in(a2 + PAGE_SIZE + 3, &mut buf[..5]).unwrap();
    assert_eq!(&buf[..5], b"by fd");
    // Futex words there have one key in both processes.
    assert_eq!(
        mm1.futex_key(a1 + 64, false).unwrap(),
        mm2.futex_key(a2 + 64, false).unwrap()
    );
    assert!(matches!(
        mm1.futex_key(a1 + 64, false).unwrap(),
        FutexKey::Shared(_)
    ));
    // Each mapping holds its own reference; unmapping drops it, the file keeps the page.
    assert_eq!(mf.ref_count(o1), 3);
    mm1.munmap(a1, 2 * PAGE_SIZE).unwrap();
    drop(mm2);
    assert_eq!(mf.ref_count(o1), 1);
    assert_eq!(mf.allocated_bytes(), 2 * PAGE_SIZE, "the file's two pages");
}

#[test]
fn fork_keeps_a_shared_file_mapping_shared() {
    let (mm, asp, mf) = setup();
    let (_fs, file, fd) = tmpfs_file(&mf, PAGE_SIZE as usize, 0);
    let a = mm
        .mmap(file_map(&file, PAGE_SIZE, Sharing::Shared))
        .unwrap();
    mm.handle_fault_access(a, FaultAccess::Write).unwrap();
    let (off, perms) = platform_page(&asp, a).unwrap();
    let (child, casp) = fork_of(&mm);
    // The parent's page is not write-protected: it is no copy-on-write page.
    assert_eq!(platform_page(&asp, a), Some((off, perms)));
    child.handle_fault_access(a, FaultAccess::Write).unwrap();
    assert_eq!(platform_page(&casp, a).map(|p| p.0), Some(off));
    child.copy_out(a, b"child").unwrap();
    assert_eq!(app_read(&asp, &mf, a, 5), b"child");
    mm.copy_out(a + 5, b"+parent").unwrap();
    let mut buf = [0u8; 12];
    child.copy_in(a, &mut buf).unwrap();
    assert_eq!(&buf, b"child+parent");
    assert_eq!(fd_read(fd.as_ref(), 0, 12), b"child+parent");
    assert_eq!(mf.ref_count(off), 3, "file, parent, child");
    drop(child);
    assert_eq!(mf.ref_count(off), 2);
}

#[test]
fn private_mapping_of_a_tmpfs_file_reads_the_file_until_its_first_write() {
    let (mm, asp, mf) = setup();
    let (_fs, file, fd) = tmpfs_file(&mf, PAGE_SIZE as usize, b'a');
    let a = mm
        .mmap(file_map(&file, PAGE_SIZE, Sharing::Private))
        .unwrap();
    mm.handle_fault_access(a, FaultAccess::Read).unwrap();
    let (off, perms) = platform_page(&asp, a).unwrap();
    assert!(
        !perms.contains(Perms::WRITE),
        "copy-on-write: mapped read-only"
    );
    fd.write_at(b"new", 0).unwrap();
    assert_eq!(app_read(&asp, &mf, a, 4), b"newa");
    // The first write copies the page: the file keeps its data, the mapping its own.
    mm.handle_fault_access(a, FaultAccess::Write).unwrap();
    let (copy, perms) = platform_page(&asp, a).unwrap();
    assert_ne!(copy, off);
    assert!(perms.contains(Perms::WRITE));
    mm.copy_out(a, b"mine").unwrap();
    assert_eq!(fd_read(fd.as_ref(), 0, 4), b"newa");
    fd.write_at(b"file", 0).unwrap();
    assert_eq!(app_read(&asp, &mf, a, 4), b"mine");
    assert_eq!(mf.ref_count(off), 1, "only the file holds its page now");
}

#[test]
fn shared_file_mapping_past_eof_is_sigbus_and_truncation_keeps_mapped_pages() {
    let (mm, asp, mf) = setup();
    let (fs, file, fd) = tmpfs_file(&mf, 100, b'x');
    let a = mm
        .mmap(file_map(&file, 3 * PAGE_SIZE, Sharing::Shared))
        .unwrap();
    // The page holding EOF is mapped; the ones past it are not backed.
    mm.handle_fault_access(a + 50, FaultAccess::Read).unwrap();
    assert!(platform_page(&asp, a + PAGE_SIZE).is_none());
    assert!(matches!(
        mm.handle_fault_access(a + PAGE_SIZE, FaultAccess::Read),
        Err(FaultError::Bus)
    ));
    let mut buf = [0u8; 4];
    assert_eq!(mm.copy_in(a + 2 * PAGE_SIZE, &mut buf), Err(Errno::EFAULT));
    // The tail of the EOF page reads as zero.
    mm.copy_in(a + 98, &mut buf).unwrap();
    assert_eq!(&buf, b"xx\0\0");
    // Truncating to zero does not free the page under the mapping (see the tmpfs doc), and
    // a fault after it is past EOF.
    let (off, _) = platform_page(&asp, a).unwrap();
    let ino = fs.root_inode().lookup(b"shm").unwrap();
    ino.setattr(&vfs::SetAttr {
        size: Some(0),
        ..vfs::SetAttr::default()
    })
    .unwrap();
    assert_eq!(mf.ref_count(off), 1, "the mapping's reference only");
    assert_eq!(fd_read(fd.as_ref(), 0, 4), b"");
    mm.munmap(a, 3 * PAGE_SIZE).unwrap();
    assert_eq!(mf.allocated_bytes(), 0, "freed by the last release");
    let a = mm
        .mmap(file_map(&file, PAGE_SIZE, Sharing::Shared))
        .unwrap();
    assert!(matches!(
        mm.handle_fault_access(a, FaultAccess::Write),
        Err(FaultError::Bus)
    ));
    mm.munmap(a, PAGE_SIZE).unwrap();
    drop((fd, file, ino, fs));
    assert_eq!(mf.allocated_bytes(), 0);
}
