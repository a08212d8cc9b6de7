//! Loader tests: byte fixtures built here, a fake address space and a real MemoryFile.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use abi::Errno;
use abi::auxv::*;
use abi::elf::*;
use abi::mm::PAGE_SIZE;
use zerocopy::IntoBytes;

use super::*;
use crate::mm::tests::{MAX, VecFile, setup};

/// One PT_LOAD of a fixture: (vaddr, offset, filesz, memsz, flags).
type Seg = (u64, u64, u64, u64, u32);

/// Builds an ELF file: header, program headers at 64, then an optional PT_INTERP string,
/// the file padded with a recognisable byte pattern to cover every segment.
fn elf(e_type: u16, entry: u64, segs: &[Seg], interp: Option<&[u8]>) -> Vec<u8> {
    let nph = segs.len() + usize::from(interp.is_some());
    let ph_end = 64 + 56 * nph;
    let mut phdrs = Vec::new();
    if let Some(path) = interp {
        phdrs.push(Elf64Phdr {
            p_type: PT_INTERP,
            p_flags: PF_R,
            p_offset: ph_end as u64,
            p_filesz: path.len() as u64 + 1,
            p_memsz: path.len() as u64 + 1,
            p_align: 1,
            ..Default::default()
        });
    }
    for &(v, o, fs, ms, fl) in segs {
        phdrs.push(Elf64Phdr {
            p_type: PT_LOAD,
            p_flags: fl,
            p_offset: o,
            p_vaddr: v,
            p_paddr: v,
            p_filesz: fs,
            p_memsz: ms,
            p_align: PAGE_SIZE,
        });
    }
    let mut ident = [0u8; 16];
    ident[..4].copy_from_slice(&ELFMAG);
    ident[EI_CLASS] = ELFCLASS64;
    ident[EI_DATA] = ELFDATA2LSB;
    ident[EI_VERSION] = EV_CURRENT;
    let ehdr = Elf64Ehdr {
        e_ident: ident,
        e_type,
        e_machine: EM_X86_64,
        e_version: 1,
        e_entry: entry,
        e_phoff: 64,
        e_ehsize: 64,
        e_phentsize: 56,
        e_phnum: nph as u16,
        ..Default::default()
    };
    let size = segs
        .iter()
        .map(|s| s.1.saturating_add(s.2).min(0x10000) as usize)
        .max()
        .unwrap_or(0)
        .max(ph_end + 4096);
    let mut out: Vec<u8> = (0..size).map(|i| (i % 251) as u8 | 1).collect();
    out[..64].copy_from_slice(ehdr.as_bytes());
    for (i, ph) in phdrs.iter().enumerate() {
        out[64 + 56 * i..64 + 56 * (i + 1)].copy_from_slice(ph.as_bytes());
    }
    if let Some(path) = interp {
        out[ph_end..ph_end + path.len()].copy_from_slice(path);
        out[ph_end + path.len()] = 0;
    }
    out
}

fn args() -> ExecArgs {
    ExecArgs {
        argv: vec![b"prog".to_vec(), b"arg one".to_vec()],
        envp: vec![b"HOME=/".to_vec(), b"A=b".to_vec(), b"PATH=/bin".to_vec()],
        execfn: b"/bin/prog".to_vec(),
        uid: 1,
        euid: 1,
        gid: 2,
        egid: 2,
        random: [0xab; 16],
        platform_str: b"x86_64",
    }
}

fn no_interp(_: &[u8]) -> SysResult<Arc<dyn MappedFile>> {
    Err(Errno::ENOENT)
}

fn file(bytes: Vec<u8>) -> Arc<dyn MappedFile> {
    Arc::new(VecFile(bytes))
}

fn read_u64(mm: &MemoryManager, addr: u64) -> u64 {
    mm.copy_in_obj::<u64>(addr).unwrap()
}

/// argv, envp and auxv as read back from a stack.
type StackView = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<(u64, u64)>);

/// Reads argc, argv, envp and auxv back from the stack.
fn read_stack(mm: &MemoryManager, sp: u64) -> StackView {
    let argc = read_u64(mm, sp);
    let mut p = sp + 8;
    let mut argv = Vec::new();
    for _ in 0..argc {
        argv.push(mm.copy_in_cstring(read_u64(mm, p), 4096).unwrap());
        p += 8;
    }
    assert_eq!(read_u64(mm, p), 0, "argv NULL terminator");
    p += 8;
    let mut envp = Vec::new();
    while read_u64(mm, p) != 0 {
        envp.push(mm.copy_in_cstring(read_u64(mm, p), 4096).unwrap());
        p += 8;
    }
    p += 8;
    let mut aux = Vec::new();
    loop {
        let (k, v) = (read_u64(mm, p), read_u64(mm, p + 8));
        p += 16;
        if k == AT_NULL {
            break;
        }
        aux.push((k, v));
    }
    (argv, envp, aux)
}

fn aux_get(aux: &[(u64, u64)], key: u64) -> u64 {
    aux.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .expect("aux key present")
}

#[test]
fn static_exec_loads_segments_bss_and_stack() {
    let (mm, _, _) = setup();
    // Text at 0x400000 (the headers are in it), data+bss at 0x601xxx.
    let segs = [
        (0x40_0000, 0, 0x1800, 0x1800, PF_R | PF_X),
        (0x60_1100, 0x2100, 0x200, 0x3000, PF_R | PF_W),
    ];
    let bytes = elf(ET_EXEC, 0x40_0080, &segs, None);
    let img = load(&mm, file(bytes.clone()), &args(), &no_interp, None).unwrap();
    assert_eq!(img.entry, 0x40_0080);
    assert_eq!(img.program_entry, 0x40_0080);
    assert_eq!(img.interp_base, None);
    assert_eq!(img.phdr, 0x40_0040);
    assert_eq!(img.brk_base, page_align_up(0x60_1100 + 0x3000).unwrap());
    assert_eq!(img.stack_pointer % 16, 0);
    // Text bytes come from the file.
    let mut b = [0u8; 16];
    mm.copy_in(0x40_0100, &mut b).unwrap();
    assert_eq!(&b, &bytes[0x100..0x110]);
    // Data bytes come from the file; the bss (rest of the page and beyond) is zero.
    mm.copy_in(0x60_1100, &mut b).unwrap();
    assert_eq!(&b, &bytes[0x2100..0x2110]);
    mm.copy_in(0x60_1300, &mut b).unwrap();
    assert_eq!(b, [0; 16], "bss in the file page is zeroed");
    mm.copy_in(0x60_3ff0, &mut b).unwrap();
    assert_eq!(b, [0; 16], "anonymous bss");
    // Text is not writable, data is.
    assert_eq!(mm.copy_out(0x40_0100, b"x"), Err(Errno::EFAULT));
    mm.copy_out(0x60_1100, b"x").unwrap();
    // Stack contents.
    let (argv, envp, aux) = read_stack(&mm, img.stack_pointer);
    assert_eq!(argv, args().argv);
    assert_eq!(envp, args().envp);
    assert_eq!(aux, img.auxv);
    assert_eq!(aux_get(&aux, AT_PAGESZ), PAGE_SIZE);
    assert_eq!(aux_get(&aux, AT_PHNUM), 2);
    assert_eq!(aux_get(&aux, AT_PHENT), 56);
    assert_eq!(aux_get(&aux, AT_PHDR), 0x40_0040);
    assert_eq!(aux_get(&aux, AT_ENTRY), 0x40_0080);
    assert_eq!(aux_get(&aux, AT_BASE), 0);
    assert_eq!(aux_get(&aux, AT_UID), 1);
    assert_eq!(aux_get(&aux, AT_EGID), 2);
    assert_eq!(aux_get(&aux, AT_SECURE), 0);
    let mut rnd = [0u8; 16];
    mm.copy_in(aux_get(&aux, AT_RANDOM), &mut rnd).unwrap();
    assert_eq!(rnd, [0xab; 16]);
    assert_eq!(
        mm.copy_in_cstring(aux_get(&aux, AT_PLATFORM), 64).unwrap(),
        b"x86_64"
    );
    assert_eq!(
        mm.copy_in_cstring(aux_get(&aux, AT_EXECFN), 64).unwrap(),
        b"/bin/prog"
    );
    assert_eq!(mm.copy_in_cstring(img.argv_start, 64).unwrap(), b"prog");
    assert_eq!(img.argv_end - img.argv_start, 5 + 8);
    assert_eq!(mm.copy_in_cstring(img.envp_start, 64).unwrap(), b"HOME=/");
    // The stack is a grows-down mapping at the top of the user range.
    let stack = mm.vmas().into_iter().find(|v| v.grows_down).unwrap();
    assert_eq!((stack.start, stack.end), (MAX - STACK_SIZE, MAX));
    // brk works from the base.
    assert_eq!(mm.brk(img.brk_base + 100), img.brk_base + 100);
}

#[test]
fn pie_with_interpreter_loads_both_and_enters_the_interpreter() {
    let (mm, _, _) = setup();
    let prog = elf(
        ET_DYN,
        0x1040,
        &[(0, 0, 0x2000, 0x2000, PF_R | PF_X)],
        Some(b"/lib/ld.so"),
    );
    let ld = elf(
        ET_DYN,
        0x100,
        &[
            (0, 0, 0x1000, 0x1000, PF_R | PF_X),
            (0x2000, 0x1000, 0x100, 0x800, PF_R | PF_W),
        ],
        None,
    );
    let ld_file = file(ld);
    let seen = std::sync::Mutex::new(Vec::new());
    let open = |p: &[u8]| -> SysResult<Arc<dyn MappedFile>> {
        seen.lock().unwrap().push(p.to_vec());
        Ok(Arc::clone(&ld_file))
    };
    let img = load(&mm, file(prog), &args(), &open, None).unwrap();
    assert_eq!(seen.lock().unwrap().as_slice(), &[b"/lib/ld.so".to_vec()]);
    let base = img.interp_base.unwrap();
    assert_eq!(base % PAGE_SIZE, 0);
    assert_eq!(img.entry, base + 0x100);
    let prog_base = img.program_entry - 0x1040;
    assert_eq!(prog_base % PAGE_SIZE, 0);
    assert_eq!(
        prog_base,
        page_align_down(MAX / 3 * 2),
        "PIE at ELF_ET_DYN_BASE"
    );
    assert_ne!(prog_base, base);
    assert_eq!(aux_get(&img.auxv, AT_BASE), base);
    assert_eq!(aux_get(&img.auxv, AT_ENTRY), img.program_entry);
    assert_eq!(img.phdr, prog_base + 64);
    // The interpreter's data segment is mapped writable at its base.
    mm.copy_out(base + 0x2000, b"ok").unwrap();
}

#[test]
fn static_pie_loads_at_a_base_without_interpreter() {
    let (mm, _, _) = setup();
    let prog = elf(ET_DYN, 0x10, &[(0, 0, 0x1000, 0x1000, PF_R | PF_X)], None);
    let img = load(&mm, file(prog), &args(), &no_interp, None).unwrap();
    assert_eq!(img.interp_base, None);
    assert!(img.entry > 0x10 && (img.entry - 0x10).is_multiple_of(PAGE_SIZE));
}

#[test]
fn malformed_headers_are_errors_not_panics() {
    let ok = elf(
        ET_EXEC,
        0x40_0000,
        &[(0x40_0000, 0, 0x100, 0x100, PF_R)],
        None,
    );
    let run = |bytes: Vec<u8>| {
        let (mm, _, _) = setup();
        load(&mm, file(bytes), &args(), &no_interp, None).map(|_| ())
    };
    assert_eq!(run(ok.clone()), Ok(()));
    assert_eq!(run(b"#!/bin/sh\n".to_vec()), Err(Errno::ENOEXEC));
    assert_eq!(run(Vec::new()), Err(Errno::ENOEXEC));
    assert_eq!(run(ok[..63].to_vec()), Err(Errno::ENOEXEC));
    let mut wrong_arch = ok.clone();
    wrong_arch[18] = 183; // EM_AARCH64
    assert_eq!(run(wrong_arch), Err(Errno::ENOEXEC));
    let mut class32 = ok.clone();
    class32[EI_CLASS] = 1;
    assert_eq!(run(class32), Err(Errno::ENOEXEC));
    let mut core = ok.clone();
    core[16] = 4; // ET_CORE
    assert_eq!(run(core), Err(Errno::ENOEXEC));
    let mut phent = ok.clone();
    phent[54] = 32;
    assert_eq!(run(phent), Err(Errno::ENOEXEC));
    let mut phoff = ok.clone();
    phoff[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(run(phoff), Err(Errno::ENOEXEC));
    let mut phnum = ok.clone();
    phnum[56..58].copy_from_slice(&u16::MAX.to_le_bytes());
    assert_eq!(run(phnum), Err(Errno::ENOEXEC));
    // Segment-level problems.
    let seg = |s: Seg| run(elf(ET_EXEC, 0x40_0000, &[s], None));
    assert_eq!(
        seg((0x40_0000, 0, 0x200, 0x100, PF_R)),
        Err(Errno::EINVAL),
        "filesz > memsz"
    );
    assert_eq!(
        seg((0x40_0010, 0, 0x100, 0x100, PF_R)),
        Err(Errno::EINVAL),
        "misaligned"
    );
    assert_eq!(
        seg((u64::MAX - 0xfff, 0, 0x100, 0x2000, PF_R)),
        Err(Errno::EINVAL),
        "wraps"
    );
    assert_eq!(
        seg((0x7fff_0000_0000, 0, 0x100, 1 << 44, PF_R)),
        Err(Errno::ENOMEM),
        "huge"
    );
    assert_eq!(
        seg((0x40_0000, u64::MAX - 0xfff, 0x2000, 0x2000, PF_R)),
        Err(Errno::EINVAL),
        "file range wraps"
    );
    let overlap = elf(
        ET_EXEC,
        0x40_0000,
        &[
            (0x40_0000, 0, 0x2000, 0x2000, PF_R),
            (0x40_1000, 0x1000, 0x100, 0x100, PF_R),
        ],
        None,
    );
    assert_eq!(run(overlap), Err(Errno::EINVAL));
    assert_eq!(
        run(elf(ET_EXEC, 0, &[], None)),
        Err(Errno::ENOEXEC),
        "no PT_LOAD"
    );
    // An interpreter path without its NUL.
    let mut bad_interp = elf(
        ET_EXEC,
        0x40_0000,
        &[(0x40_0000, 0, 0x100, 0x100, PF_R)],
        Some(b"/ld"),
    );
    bad_interp[64 + 2 * 56 + 3] = b'x';
    assert_eq!(run(bad_interp), Err(Errno::ENOEXEC));
    // A missing interpreter is the opener's error.
    let needs = elf(
        ET_EXEC,
        0x40_0000,
        &[(0x40_0000, 0, 0x100, 0x100, PF_R)],
        Some(b"/ld"),
    );
    assert_eq!(run(needs), Err(Errno::ENOENT));
}

#[test]
fn random_bytes_never_panic_the_parser() {
    let ok = elf(
        ET_DYN,
        0x10,
        &[(0, 0, 0x1000, 0x3000, PF_R | PF_W)],
        Some(b"/x"),
    );
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..300 {
        let mut bytes = ok.clone();
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % 300) as usize;
            bytes[i] = (state >> 32) as u8;
        }
        let (mm, _, _) = setup();
        let open = |_: &[u8]| -> SysResult<Arc<dyn MappedFile>> { Ok(file(ok.clone())) };
        let _ = load(&mm, file(bytes), &args(), &open, None);
    }
}

#[test]
fn oversized_arguments_are_e2big() {
    let ok = elf(
        ET_EXEC,
        0x40_0000,
        &[(0x40_0000, 0, 0x100, 0x100, PF_R)],
        None,
    );
    let (mm, _, _) = setup();
    let mut a = args();
    a.argv.push(vec![b'a'; MAX_ARG_STRLEN]);
    assert_eq!(
        load(&mm, file(ok.clone()), &a, &no_interp, None),
        Err(Errno::E2BIG)
    );
    let mut a = args();
    a.envp = vec![vec![b'e'; 100_000]; 30];
    assert_eq!(load(&mm, file(ok), &a, &no_interp, None), Err(Errno::E2BIG));
    assert!(
        mm.vmas().is_empty(),
        "E2BIG is detected before mapping anything"
    );
}

#[test]
fn stack_layout_is_aligned_for_any_argument_count() {
    for n in 0..6 {
        let mut a = args();
        a.argv = (0..n).map(|i| vec![b'a'; i * 3 + 1]).collect();
        let st = build_stack(0x7fff_0000_0000, &a, vec![(AT_PAGESZ, PAGE_SIZE)]).unwrap();
        assert_eq!(st.sp % 16, 0);
        assert_eq!(
            u64::from_le_bytes(st.image[..8].try_into().unwrap()),
            n as u64
        );
    }
}

/// A host file as a MappedFile.
#[derive(Debug)]
struct HostFile(std::fs::File);

impl MappedFile for HostFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.0.read_at(buf, off).map_err(|_| Errno::EIO)
    }
}

#[test]
fn loads_host_busybox_if_present() {
    let Ok(f) = std::fs::File::open("/bin/busybox") else {
        eprintln!("skipping: /bin/busybox not present");
        return;
    };
    let hf: Arc<dyn MappedFile> = Arc::new(HostFile(f));
    let info = elf::parse(hf.as_ref()).unwrap();
    let (mm, asp, _) = setup();
    let open = |_: &[u8]| -> SysResult<Arc<dyn MappedFile>> {
        Err(Errno::ENOENT) // busybox here is static; a dynamic one would need its ld.so
    };
    let img = match load(&mm, Arc::clone(&hf), &args(), &open, None) {
        Err(Errno::ENOENT) if info.interp.is_some() => {
            eprintln!("skipping: /bin/busybox is dynamically linked");
            return;
        }
        r => r.unwrap(),
    };
    let bias = if info.is_dyn() {
        img.program_entry - info.ehdr.e_entry
    } else {
        0
    };
    assert_eq!(img.entry, info.ehdr.e_entry + bias);
    // Every PT_LOAD is covered by a VMA with its protection.
    let vmas = mm.vmas();
    for ph in &info.loads {
        let at = ph.p_vaddr + bias;
        let v = vmas
            .iter()
            .find(|v| v.start <= at && at < v.end)
            .expect("segment mapped");
        assert_eq!(v.prot, prot_of(ph.p_flags));
    }
    // The bytes at the entry point are the file's.
    let text = info.loads.iter().find(|p| p.p_flags & PF_X != 0).unwrap();
    let mut want = [0u8; 32];
    hf.read_at(
        text.p_offset + (info.ehdr.e_entry - text.p_vaddr),
        &mut want,
    )
    .unwrap();
    let mut got = [0u8; 32];
    mm.copy_in(img.entry, &mut got).unwrap();
    assert_eq!(got, want);
    // Running it would fault at the entry: that fault maps the text read+exec.
    mm.handle_fault(img.entry, platform::Perms::empty())
        .unwrap();
    let page = page_align_down(img.entry);
    let perms = asp.pages.lock().unwrap()[&page].1;
    assert!(perms.contains(platform::Perms::EXEC) && !perms.contains(platform::Perms::WRITE));
    let (argv, _, _) = read_stack(&mm, img.stack_pointer);
    assert_eq!(argv[0], b"prog");
}

/// A static program loaded with the sandbox's vDSO.
fn load_with_vdso(mm: &MemoryManager, mf: &Arc<vfs::memfile::MemoryFile>) -> LoadedImage {
    let vdso = vdso::Vdso::new(mf).unwrap();
    let segs = [(0x40_0000, 0, 0x1800, 0x1800, PF_R | PF_X)];
    let bytes = elf(ET_EXEC, 0x40_0080, &segs, None);
    load(mm, file(bytes), &args(), &no_interp, Some(&vdso)).unwrap()
}

#[test]
fn vdso_is_mapped_after_its_time_page_and_named_in_the_auxv() {
    let (mm, _, mf) = setup();
    let img = load_with_vdso(&mm, &mf);
    let base = img.vdso_base.expect("mapped");
    assert_eq!(aux_get(&img.auxv, AT_SYSINFO_EHDR), base);
    assert_eq!(
        img.auxv.first().map(|(k, _)| *k),
        Some(AT_SYSINFO_EHDR),
        "first, like ARCH_DLINFO"
    );
    // The image's bytes at the base, the time page (not enabled yet: all zero) just before.
    let mut head = vec![0u8; vdso::IMAGE.len()];
    mm.copy_in(base, &mut head).unwrap();
    assert_eq!(head, vdso::IMAGE);
    let mut vvar = [0xffu8; 64];
    mm.copy_in(base - PAGE_SIZE, &mut vvar).unwrap();
    assert_eq!(vvar, [0; 64]);
    let vmas = mm.vmas();
    let vvar_vma = vmas
        .iter()
        .find(|v| v.end == base)
        .expect("[vvar] right before");
    assert_eq!(vvar_vma.start, base - vdso::VVAR_PAGES * PAGE_SIZE);
    assert_eq!(vvar_vma.prot, Prot::READ);
    assert_eq!(vvar_vma.sharing, Sharing::Shared);
    let text = vmas.iter().find(|v| v.start == base).expect("[vdso]");
    assert_eq!(text.prot, Prot::READ | Prot::EXEC);
    assert_eq!(text.sharing, Sharing::Private);
    let names: Vec<&str> = mm
        .vma_files()
        .iter()
        .filter_map(|(_, f)| vdso::SpecialPages::of_mapped_file(f).map(|p| p.name()))
        .collect();
    assert_eq!(names, ["[vvar]", "[vdso]"]);
}

#[test]
fn time_page_cannot_be_made_writable_or_poked() {
    let (mm, _, mf) = setup();
    let base = load_with_vdso(&mm, &mf).vdso_base.expect("mapped");
    let vvar = base - PAGE_SIZE;
    // Linux's [vvar] has no VM_MAYWRITE, and FOLL_FORCE never writes through a shared
    // mapping without write permission.
    assert_eq!(
        mm.mprotect(vvar, PAGE_SIZE, Prot::READ | Prot::WRITE),
        Err(Errno::EACCES)
    );
    assert_eq!(mm.copy_out_force(vvar, b"x"), Err(Errno::EFAULT));
    // munmap is allowed, as on Linux.
    mm.munmap(vvar, PAGE_SIZE).unwrap();
}

#[test]
fn time_page_writes_reach_every_process_and_text_writes_stay_private() {
    let (mm, _, mf) = setup();
    let vdso = vdso::Vdso::new(&mf).unwrap();
    let a = vdso.map_into(&mm).unwrap();
    let asp = Arc::new(crate::mm::tests::FakeAsp::default());
    let child = mm.fork(asp).unwrap();
    let other = MemoryManager::new(
        Arc::clone(&mf),
        Arc::new(crate::mm::tests::FakeAsp::default()),
        MAX,
    );
    let b = vdso.map_into(&other).unwrap();
    // The sentry writes the time page through the MemoryFile: all three see it.
    let page = vdso.vvar();
    mf.write(page.offset() + 8, b"tick").unwrap();
    for (m, base) in [(&mm, a), (&child, a), (&other, b)] {
        let mut t = [0u8; 4];
        m.copy_in(base - PAGE_SIZE + 8, &mut t).unwrap();
        assert_eq!(&t, b"tick");
    }
    // A forced write to the text (a debugger's breakpoint) copies the page for that process.
    mm.copy_out_force(a, &[0xcc]).unwrap();
    let mut byte = [0u8; 1];
    for (m, base) in [(&child, a), (&other, b)] {
        m.copy_in(base, &mut byte).unwrap();
        assert_eq!(byte[0], vdso::IMAGE[0], "the others keep the image");
    }
    mm.copy_in(a, &mut byte).unwrap();
    assert_eq!(byte[0], 0xcc);
}
