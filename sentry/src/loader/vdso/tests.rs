//! Checks of the built vDSO image: what a dynamic linker needs from it (read the way glibc's
//! `setup_vdso` and musl's `__vdsosym` read it: through PT_DYNAMIC, not section headers),
//! that it needs no relocation, and — by running it in this test process over a fake time
//! page — that its arithmetic is `time::params`'s.

use abi::elf::*;
use zerocopy::FromBytes;

use super::IMAGE;
use crate::loader::elf::check_ehdr;

/// The symbols a libc looks up, all versioned LINUX_2.6.
const SYMBOLS: [&str; 10] = [
    "__vdso_clock_gettime",
    "__vdso_gettimeofday",
    "__vdso_time",
    "__vdso_getcpu",
    "__vdso_clock_getres",
    "clock_gettime",
    "gettimeofday",
    "time",
    "getcpu",
    "clock_getres",
];

fn read<T: FromBytes>(off: u64) -> T {
    let start = usize::try_from(off).expect("offset fits");
    let bytes = IMAGE
        .get(start..start + size_of::<T>())
        .unwrap_or_else(|| panic!("{off:#x} is outside the image"));
    T::read_from_bytes(bytes).expect("sized")
}

fn read_u32(off: u64) -> u32 {
    read::<u32>(off)
}

fn ehdr() -> Elf64Ehdr {
    read(0)
}

fn phdrs() -> Vec<Elf64Phdr> {
    let h = ehdr();
    (0..u64::from(h.e_phnum))
        .map(|i| read(h.e_phoff + i * size_of::<Elf64Phdr>() as u64))
        .collect()
}

/// The image's dynamic entries (up to DT_NULL), found through PT_DYNAMIC.
fn dynamic() -> Vec<Elf64Dyn> {
    let dynamic = phdrs()
        .into_iter()
        .find(|p| p.p_type == PT_DYNAMIC)
        .expect("PT_DYNAMIC");
    let n = dynamic.p_filesz / size_of::<Elf64Dyn>() as u64;
    (0..n)
        .map(|i| read::<Elf64Dyn>(dynamic.p_offset + i * 16))
        .take_while(|d| d.d_tag != DT_NULL)
        .collect()
}

fn dyn_val(tag: i64) -> Option<u64> {
    dynamic().iter().find(|d| d.d_tag == tag).map(|d| d.d_val)
}

/// A NUL-terminated string of the dynamic string table.
fn dynstr(name: u32) -> String {
    let strtab = dyn_val(DT_STRTAB).expect("DT_STRTAB");
    let start = usize::try_from(strtab + u64::from(name)).expect("fits");
    let rest = IMAGE.get(start..).expect("in image");
    let end = rest.iter().position(|b| *b == 0).expect("NUL");
    String::from_utf8(rest.get(..end).expect("in range").to_vec()).expect("UTF-8")
}

fn sym(index: u32) -> Elf64Sym {
    let symtab = dyn_val(DT_SYMTAB).expect("DT_SYMTAB");
    read(symtab + u64::from(index) * size_of::<Elf64Sym>() as u64)
}

/// The SysV ELF hash (gABI "Hash Table").
fn sysv_hash(name: &str) -> u32 {
    let mut h: u32 = 0;
    for b in name.bytes() {
        h = (h << 4).wrapping_add(u32::from(b));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// Looks `name` up through DT_HASH, as musl does.
fn lookup_sysv(name: &str) -> Option<u32> {
    let table = dyn_val(DT_HASH)?;
    let nbucket = read_u32(table);
    let buckets = table + 8;
    let chains = buckets + u64::from(nbucket) * 4;
    let mut i = read_u32(buckets + u64::from(sysv_hash(name) % nbucket) * 4);
    while i != 0 {
        if dynstr(sym(i).st_name) == name {
            return Some(i);
        }
        i = read_u32(chains + u64::from(i) * 4);
    }
    None
}

/// Looks `name` up through DT_GNU_HASH (bloom filter, buckets, chains), as glibc does.
fn lookup_gnu(name: &str) -> Option<u32> {
    let table = dyn_val(DT_GNU_HASH)?;
    let h = name.bytes().fold(5381u32, |h, b| {
        h.wrapping_mul(33).wrapping_add(u32::from(b))
    });
    let nbuckets = read_u32(table);
    let symoffset = read_u32(table + 4);
    let bloom_size = read_u32(table + 8);
    let bloom_shift = read_u32(table + 12);
    let bloom = table + 16;
    let word: u64 = read(bloom + u64::from((h / 64) % bloom_size) * 8);
    let mask = (1u64 << (h % 64)) | (1u64 << ((h >> bloom_shift) % 64));
    if word & mask != mask {
        return None;
    }
    let buckets = bloom + u64::from(bloom_size) * 8;
    let chains = buckets + u64::from(nbuckets) * 4;
    let mut i = read_u32(buckets + u64::from(h % nbuckets) * 4);
    if i < symoffset {
        return None;
    }
    loop {
        let h2 = read_u32(chains + u64::from(i - symoffset) * 4);
        if (h | 1) == (h2 | 1) && dynstr(sym(i).st_name) == name {
            return Some(i);
        }
        if h2 & 1 != 0 {
            return None;
        }
        i += 1;
    }
}

/// The name of the version symbol `index` is defined with (DT_VERSYM → DT_VERDEF).
fn version_of(index: u32) -> Option<String> {
    let versym = dyn_val(DT_VERSYM)?;
    let ndx = read::<u16>(versym + u64::from(index) * 2) & !VERSYM_HIDDEN;
    let mut at = dyn_val(DT_VERDEF)?;
    for _ in 0..dyn_val(DT_VERDEFNUM)? {
        let vd: Elf64Verdef = read(at);
        if vd.vd_ndx == ndx {
            let aux: Elf64Verdaux = read(at + u64::from(vd.vd_aux));
            return Some(dynstr(aux.vda_name));
        }
        at += u64::from(vd.vd_next);
    }
    None
}

#[test]
fn image_is_one_read_execute_load_at_address_zero() {
    let h = ehdr();
    assert_eq!(check_ehdr(&h), Ok(()));
    assert_eq!(h.e_type, ET_DYN);
    let loads: Vec<_> = phdrs()
        .into_iter()
        .filter(|p| p.p_type == PT_LOAD)
        .collect();
    assert_eq!(loads.len(), 1, "{loads:?}");
    let l = loads.first().expect("one");
    assert_eq!((l.p_vaddr, l.p_offset), (0, 0));
    assert_eq!(
        l.p_flags,
        PF_R | PF_X,
        "readable and executable, never writable"
    );
    assert_eq!(l.p_filesz, l.p_memsz, "no bss: nothing to zero");
    assert!(l.p_filesz <= IMAGE.len() as u64);
    for p in phdrs() {
        assert!(
            p.p_type != PT_TLS && p.p_type != PT_INTERP,
            "glibc's setup_vdso refuses these"
        );
    }
}

#[test]
fn dynamic_section_has_what_glibc_and_musl_read_and_no_relocations() {
    for tag in [
        DT_HASH,
        DT_GNU_HASH,
        DT_SYMTAB,
        DT_STRTAB,
        DT_VERSYM,
        DT_VERDEF,
    ] {
        assert!(dyn_val(tag).is_some(), "missing d_tag {tag:#x}");
    }
    for tag in [DT_REL, DT_RELA, DT_JMPREL, DT_TEXTREL, DT_RELACOUNT] {
        assert!(
            dyn_val(tag).is_none(),
            "d_tag {tag:#x} would need relocating"
        );
    }
    let soname = dyn_val(DT_SONAME).expect("DT_SONAME");
    assert_eq!(
        dynstr(u32::try_from(soname).expect("fits")),
        "linux-vdso.so.1"
    );
}

#[test]
fn every_symbol_is_found_through_both_hash_tables_as_linux_2_6() {
    let load_end = phdrs()
        .into_iter()
        .find(|p| p.p_type == PT_LOAD)
        .map(|p| p.p_memsz)
        .expect("PT_LOAD");
    for name in SYMBOLS {
        let i = lookup_sysv(name).unwrap_or_else(|| panic!("{name} not in DT_HASH"));
        assert_eq!(lookup_gnu(name), Some(i), "{name} through DT_GNU_HASH");
        let s = sym(i);
        assert_eq!(s.st_info & 0xf, STT_FUNC, "{name} is a function");
        assert!(matches!(s.st_info >> 4, STB_GLOBAL | STB_WEAK), "{name}");
        assert_ne!(s.st_shndx, SHN_UNDEF, "{name} is defined");
        assert!(
            s.st_value > 0 && s.st_value < load_end,
            "{name} inside the image"
        );
        assert_eq!(version_of(i).as_deref(), Some("LINUX_2.6"), "{name}");
    }
    assert_eq!(lookup_sysv("__vdso_nonexistent"), None);
    assert_eq!(lookup_gnu("__vdso_nonexistent"), None);
}

#[test]
fn prefixed_and_plain_names_are_the_same_function() {
    for (a, b) in [
        ("__vdso_clock_gettime", "clock_gettime"),
        ("__vdso_gettimeofday", "gettimeofday"),
        ("__vdso_time", "time"),
    ] {
        let (sa, sb) = (
            sym(lookup_sysv(a).expect("a")),
            sym(lookup_sysv(b).expect("b")),
        );
        assert_eq!(sa.st_value, sb.st_value, "{b} aliases {a}");
        assert_eq!(sb.st_info >> 4, STB_WEAK, "{b} is weak");
    }
}

/// Runs the image in this process: the time page and the code mapped next to each other as
/// the loader does, the functions called through the symbol table.
#[allow(unsafe_code, clippy::undocumented_unsafe_blocks)]
mod run {
    use super::{lookup_sysv, sym};
    use crate::time::params::{COARSE_NS, ClockParams, NANOS_PER_SEC, PageClock, Sample};
    use crate::time::tsc;
    use crate::time::vvar::Vvar;
    use abi::mm::PAGE_SIZE;
    use zerocopy::IntoBytes;

    type ClockGettime = unsafe extern "C" fn(i64, *mut libc::timespec) -> i32;
    type Gettimeofday = unsafe extern "C" fn(*mut libc::timeval, *mut libc::c_void) -> i32;
    type Time = unsafe extern "C" fn(*mut i64) -> i64;

    /// The vDSO mapped privately in this process, with a writable time page before it.
    struct Loaded {
        base: *mut u8,
        len: usize,
    }

    impl Loaded {
        fn new() -> Loaded {
            let page = PAGE_SIZE as usize;
            let text = super::IMAGE.len().div_ceil(page) * page;
            let len = page + text;
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(base, libc::MAP_FAILED);
            let base = base.cast::<u8>();
            unsafe {
                std::ptr::copy_nonoverlapping(
                    super::IMAGE.as_ptr(),
                    base.add(page),
                    super::IMAGE.len(),
                );
                assert_eq!(
                    libc::mprotect(
                        base.add(page).cast(),
                        text,
                        libc::PROT_READ | libc::PROT_EXEC
                    ),
                    0
                );
            }
            Loaded { base, len }
        }

        fn set_page(&self, v: &Vvar) {
            let b = v.as_bytes();
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), self.base, b.len()) };
        }

        fn func(&self, name: &str) -> usize {
            let s = sym(lookup_sysv(name).expect("symbol"));
            self.base as usize + PAGE_SIZE as usize + usize::try_from(s.st_value).expect("fits")
        }

        fn clock_gettime(&self, clock: i64) -> (i32, libc::timespec) {
            let f: ClockGettime = unsafe { std::mem::transmute(self.func("__vdso_clock_gettime")) };
            let mut ts = libc::timespec {
                tv_sec: -1,
                tv_nsec: -1,
            };
            let r = unsafe { f(clock, &raw mut ts) };
            (r, ts)
        }

        fn clock_getres(&self, clock: i64) -> (i32, libc::timespec) {
            let f: ClockGettime = unsafe { std::mem::transmute(self.func("__vdso_clock_getres")) };
            let mut ts = libc::timespec {
                tv_sec: -1,
                tv_nsec: -1,
            };
            let r = unsafe { f(clock, &raw mut ts) };
            (r, ts)
        }
    }

    impl Drop for Loaded {
        fn drop(&mut self) {
            unsafe { libc::munmap(self.base.cast(), self.len) };
        }
    }

    fn ns(ts: &libc::timespec) -> u64 {
        u64::try_from(ts.tv_sec).expect("positive") * NANOS_PER_SEC
            + u64::try_from(ts.tv_nsec).expect("positive")
    }

    /// Parameters with a frozen clock (mult 0): every reading is exactly the base.
    fn frozen() -> ClockParams {
        let mut p = ClockParams::starting_at(
            Sample {
                tsc: 0,
                mono_ns: 12_345 * NANOS_PER_SEC + 6_789_012,
            },
            0,
            1_700_000_000 * NANOS_PER_SEC + 111,
            42 * NANOS_PER_SEC,
        );
        // A fraction of a nanosecond in the base, which the shift must drop.
        p.base_sns += 0x8000_0000;
        p
    }

    const CLOCKS: [(i64, PageClock); 5] = [
        (libc::CLOCK_REALTIME as i64, PageClock::Realtime),
        (libc::CLOCK_MONOTONIC as i64, PageClock::Monotonic),
        (
            libc::CLOCK_REALTIME_COARSE as i64,
            PageClock::RealtimeCoarse,
        ),
        (
            libc::CLOCK_MONOTONIC_COARSE as i64,
            PageClock::MonotonicCoarse,
        ),
        (libc::CLOCK_BOOTTIME as i64, PageClock::Boottime),
    ];

    #[test]
    fn page_clocks_read_exactly_what_the_sentry_computes() {
        let v = Loaded::new();
        let p = frozen();
        v.set_page(&Vvar::of(Some(&p)));
        for (id, c) in CLOCKS {
            let (r, ts) = v.clock_gettime(id);
            assert_eq!(r, 0, "clock {id}");
            assert_eq!(ns(&ts), p.clock_ns(c, 0), "clock {id}");
        }
    }

    #[test]
    fn a_running_clock_reads_between_two_sentry_readings() {
        let v = Loaded::new();
        // About 1 ns per tick: the exact rate does not matter, the agreement does.
        let p = ClockParams::starting_at(
            Sample {
                tsc: tsc::read(),
                mono_ns: 1_000 * NANOS_PER_SEC,
            },
            1 << 32,
            5,
            6,
        );
        v.set_page(&Vvar::of(Some(&p)));
        for (id, c) in CLOCKS {
            for _ in 0..1000 {
                let before = p.clock_ns(c, tsc::read());
                let (r, ts) = v.clock_gettime(id);
                let after = p.clock_ns(c, tsc::read());
                assert_eq!(r, 0);
                assert!(
                    before <= ns(&ts) && ns(&ts) <= after,
                    "{before} {} {after}",
                    ns(&ts)
                );
            }
        }
    }

    #[test]
    fn gettimeofday_and_time_read_the_realtime_clock() {
        let v = Loaded::new();
        let p = frozen();
        v.set_page(&Vvar::of(Some(&p)));
        let rt = p.clock_ns(PageClock::Realtime, 0);
        let gtod: Gettimeofday = unsafe { std::mem::transmute(v.func("__vdso_gettimeofday")) };
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let mut tz = [7i32; 2];
        assert_eq!(unsafe { gtod(&raw mut tv, tz.as_mut_ptr().cast()) }, 0);
        assert_eq!(
            (tv.tv_sec, tv.tv_usec),
            (
                i64::try_from(rt / NANOS_PER_SEC).expect("fits"),
                i64::try_from(rt % NANOS_PER_SEC / 1000).expect("fits")
            )
        );
        assert_eq!(tz, [0, 0], "UTC");
        let time: Time = unsafe { std::mem::transmute(v.func("__vdso_time")) };
        let mut t = 0i64;
        let r = unsafe { time(&raw mut t) };
        assert_eq!(r, i64::try_from(rt / NANOS_PER_SEC).expect("fits"));
        assert_eq!(t, r);
        assert_eq!(unsafe { time(std::ptr::null_mut()) }, r);
    }

    #[test]
    fn clock_getres_reports_one_nanosecond_and_the_tick() {
        let v = Loaded::new();
        v.set_page(&Vvar::of(Some(&frozen())));
        let (r, ts) = v.clock_getres(libc::CLOCK_MONOTONIC as i64);
        assert_eq!((r, ts.tv_sec, ts.tv_nsec), (0, 0, 1));
        let (r, ts) = v.clock_getres(libc::CLOCK_MONOTONIC_COARSE as i64);
        assert_eq!((r, ts.tv_nsec), (0, COARSE_NS.cast_signed()));
    }

    /// Host CLOCK_MONOTONIC, for comparing the vDSO's syscall fallbacks with.
    fn host_mono() -> u64 {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("host");
        u64::try_from(t.tv_sec()).expect("positive") * NANOS_PER_SEC
            + u64::try_from(t.tv_nsec()).expect("positive")
    }

    #[test]
    fn a_disabled_page_makes_the_real_syscall() {
        let v = Loaded::new();
        v.set_page(&Vvar::of(None));
        let before = host_mono();
        let (r, ts) = v.clock_gettime(libc::CLOCK_MONOTONIC as i64);
        let after = host_mono();
        assert_eq!(r, 0);
        assert!(before <= ns(&ts) && ns(&ts) <= after, "the host's clock");
    }

    #[test]
    fn a_page_being_written_makes_the_real_syscall() {
        let v = Loaded::new();
        let mut page = Vvar::of(Some(&frozen()));
        page.seq = 3;
        v.set_page(&page);
        let before = host_mono();
        let (r, ts) = v.clock_gettime(libc::CLOCK_MONOTONIC as i64);
        let after = host_mono();
        assert_eq!(r, 0);
        assert!(before <= ns(&ts) && ns(&ts) <= after, "not the frozen page");
    }

    #[test]
    fn other_clocks_go_to_the_syscall_and_errors_come_back_raw() {
        let v = Loaded::new();
        v.set_page(&Vvar::of(Some(&frozen())));
        // CLOCK_MONOTONIC_RAW is not a page clock: the host answers, not the frozen page.
        let (r, ts) = v.clock_gettime(libc::CLOCK_MONOTONIC_RAW as i64);
        assert_eq!(r, 0);
        assert_ne!(ns(&ts), frozen().clock_ns(PageClock::Monotonic, 0));
        // An invalid id: the kernel's -EINVAL, as glibc and musl expect from a vDSO.
        let (r, _) = v.clock_gettime(0x7fff);
        assert_eq!(r, -libc::EINVAL);
        let (r, _) = v.clock_getres(0x7fff);
        assert_eq!(r, -libc::EINVAL);
    }
}
