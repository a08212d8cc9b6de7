//! Memory-management syscalls: mmap (anonymous, file-backed from /tmp and from the host root),
//! munmap, mprotect, mremap, madvise and brk.
//!
//! Faults cannot be tested yet (the sandbox under test delivers no signals), so protection
//! changes are checked through what stays readable, never by touching forbidden memory.
#![deny(unsafe_code)]

use std::process::ExitCode;

use syscall_tests::libc::{self, c_int};
use syscall_tests::{
    Errno, Fd, Mapping, Outcome, TempFile, check, ensure, ensure_eq, fails_with, run_tests,
    succeeds, succeeds_with, syscall, tests,
};

const PAGE: usize = 4096;
const RW: c_int = libc::PROT_READ | libc::PROT_WRITE;
const ANON: c_int = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
/// File offset of page 4, for file mappings that do not start at 0.
const OFF4: i64 = 4 * 4096;

fn mmap(addr: usize, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> i64 {
    syscall!(libc::SYS_mmap, addr, len, prot, flags, fd, off)
}

fn addr_of(ret: i64) -> Result<usize, String> {
    usize::try_from(ret).map_err(|e| e.to_string())
}

fn mmap_anonymous_read_write_round_trips() -> Outcome {
    let mut m = Mapping::anonymous(2 * PAGE, RW)?;
    m.write(PAGE - 2, b"span")?;
    ensure_eq!(m.read(PAGE - 2, 4)?, b"span".to_vec());
    Ok(())
}

/// mmap(2): "MAP_ANONYMOUS ... its contents are initialized to zero."
fn mmap_anonymous_is_zero_filled() -> Outcome {
    let m = Mapping::anonymous(3 * PAGE, libc::PROT_READ)?;
    ensure!(
        m.read(0, 3 * PAGE)?.iter().all(|b| *b == 0),
        "non-zero byte"
    );
    Ok(())
}

fn mmap_returns_page_aligned_address() -> Outcome {
    let m = Mapping::anonymous(100, RW)?;
    ensure_eq!(m.addr() % PAGE, 0);
    Ok(())
}

/// mmap(2): EINVAL "(since Linux 2.6.12) length was 0".
fn mmap_zero_length_fails_einval() -> Outcome {
    check!(mmap(0, 0, RW, ANON, -1, 0), fails_with(Errno::EINVAL));
    Ok(())
}

/// mmap(2): EINVAL "flags contained none of MAP_PRIVATE, MAP_SHARED, or MAP_SHARED_VALIDATE".
fn mmap_without_private_or_shared_fails_einval() -> Outcome {
    check!(
        mmap(0, PAGE, RW, libc::MAP_ANONYMOUS, -1, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// mmap(2): EINVAL "We don't like addr, length, or offset (e.g., ... not aligned on a page
/// boundary)" — for MAP_FIXED the address must be aligned.
fn mmap_fixed_unaligned_address_fails_einval() -> Outcome {
    let m = Mapping::anonymous(2 * PAGE, RW)?;
    check!(
        mmap(m.addr() + 1, PAGE, RW, ANON | libc::MAP_FIXED, -1, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// mmap(2): EBADF "fd is not a valid file descriptor (and MAP_ANONYMOUS was not set)".
fn mmap_file_with_bad_fd_fails_ebadf() -> Outcome {
    check!(
        mmap(0, PAGE, libc::PROT_READ, libc::MAP_PRIVATE, 0x7fff_0000, 0),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn mmap_file_unaligned_offset_fails_einval() -> Outcome {
    let file = TempFile::with_contents(&[1u8; 2 * PAGE])?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        mmap(0, PAGE, libc::PROT_READ, libc::MAP_PRIVATE, fd.raw(), 100),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// mmap(2): EACCES "MAP_SHARED was requested and PROT_WRITE is set, but fd is not open in
/// read/write (O_RDWR) mode" (holds for root too).
fn mmap_shared_writable_on_read_only_fd_fails_eacces() -> Outcome {
    let file = TempFile::with_contents(&[1u8; PAGE])?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        mmap(0, PAGE, RW, libc::MAP_SHARED, fd.raw(), 0),
        fails_with(Errno::EACCES)
    );
    Ok(())
}

fn mmap_tmp_file_sees_content() -> Outcome {
    let file = TempFile::with_contents(b"mapped file content")?;
    let fd = file.open(libc::O_RDONLY)?;
    let ret = check!(
        mmap(0, PAGE, libc::PROT_READ, libc::MAP_PRIVATE, fd.raw(), 0),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    ensure_eq!(m.read(0, 19)?, b"mapped file content".to_vec());
    // mmap(2): "the remaining bytes in the partial page at the end of the mapping are zeroed".
    ensure!(
        m.read(19, PAGE - 19)?.iter().all(|b| *b == 0),
        "tail not zero"
    );
    Ok(())
}

fn mmap_file_at_offset_sees_that_page() -> Outcome {
    let mut data = vec![b'a'; PAGE];
    data.extend_from_slice(b"second page");
    let file = TempFile::with_contents(&data)?;
    let fd = file.open(libc::O_RDONLY)?;
    let off = i64::try_from(PAGE).map_err(|e| e.to_string())?;
    let ret = check!(
        mmap(0, PAGE, libc::PROT_READ, libc::MAP_PRIVATE, fd.raw(), off),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    ensure_eq!(m.read(0, 11)?, b"second page".to_vec());
    Ok(())
}

fn mmap_host_file_sees_content() -> Outcome {
    let fd = Fd::open(c"/etc/passwd", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let ret = check!(
        mmap(0, PAGE, libc::PROT_READ, libc::MAP_PRIVATE, fd.raw(), 0),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    ensure_eq!(m.read(0, 5)?, b"root:".to_vec());
    Ok(())
}

/// This test binary, opened read-only: a large host-root file (the page cache in the sandbox).
fn own_binary() -> Result<Fd, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = syscall_tests::cstring(exe.to_str().ok_or("exe path is not UTF-8")?);
    Fd::open(&path, libc::O_RDONLY | libc::O_CLOEXEC, 0)
}

fn pread_vec(fd: &Fd, off: i64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    let n = check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), len, off),
        succeeds()
    );
    buf.truncate(usize::try_from(n).unwrap_or(0));
    Ok(buf)
}

/// Two private mappings of a host file: a store into one is copy-on-write and shows in
/// neither the other mapping nor the file; a shared read-only mapping agrees with pread.
fn mmap_host_file_private_copies_and_shared_view_agree() -> Outcome {
    let fd = own_binary()?;
    let len = 16 * PAGE;
    let want = pread_vec(&fd, OFF4, len)?;
    ensure_eq!(want.len(), len);
    let map = |flags: c_int, prot: c_int| -> Result<Mapping, String> {
        let ret = check!(mmap(0, len, prot, flags, fd.raw(), OFF4), succeeds());
        Mapping::adopt(ret, len, prot)
    };
    let mut a = map(libc::MAP_PRIVATE, RW)?;
    let b = map(libc::MAP_PRIVATE, libc::PROT_READ)?;
    let shared = map(libc::MAP_SHARED, libc::PROT_READ)?;
    ensure_eq!(a.read(0, len)?, want);
    a.write(5 * PAGE + 7, b"scribble")?;
    ensure_eq!(a.read(5 * PAGE + 7, 8)?, b"scribble".to_vec());
    ensure_eq!(b.read(0, len)?, want);
    ensure_eq!(shared.read(0, len)?, want);
    ensure_eq!(pread_vec(&fd, OFF4, len)?, want);
    // The rest of the written page is still the file's.
    ensure_eq!(a.read(5 * PAGE, 7)?, want[5 * PAGE..5 * PAGE + 7].to_vec());
    Ok(())
}

/// The last page of a host-file mapping is zero past EOF; a page wholly past EOF is not
/// mapped by the file (not tested by touching it: SIGBUS would end the test binary).
fn mmap_host_file_tail_is_zero_filled() -> Outcome {
    let fd = own_binary()?;
    let mut st: libc::stat = syscall_tests::zeroed();
    check!(syscall!(libc::SYS_fstat, fd.raw(), &raw mut st), succeeds());
    let size = usize::try_from(st.st_size).map_err(|e| e.to_string())?;
    let last = size / PAGE * PAGE;
    let tail = size - last;
    ensure!(
        tail > 0,
        "binary size {size} is page-aligned; pick another file"
    );
    let ret = check!(
        mmap(
            0,
            PAGE,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            fd.raw(),
            i64::try_from(last).map_err(|e| e.to_string())?
        ),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    ensure_eq!(
        m.read(0, tail)?,
        pread_vec(&fd, i64::try_from(last).map_err(|e| e.to_string())?, tail)?
    );
    ensure!(
        m.read(tail, PAGE - tail)?.iter().all(|&x| x == 0),
        "tail not zero"
    );
    Ok(())
}

/// pread(2)/pwrite(2) of a file from and into a shared mapping of the very same bytes (the
/// copy's source and destination are one page): the counts are whole and the bytes stay.
fn read_and_write_a_file_through_its_own_shared_mapping() -> Outcome {
    let mut content = vec![b'a'; PAGE];
    content[100..105].copy_from_slice(b"hello");
    let file = TempFile::with_contents(&content)?;
    let fd = file.open(libc::O_RDWR)?;
    let ret = check!(mmap(0, PAGE, RW, libc::MAP_SHARED, fd.raw(), 0), succeeds());
    let m = Mapping::adopt(ret, PAGE, RW)?;
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), m.addr() + 96, 16, 96),
        succeeds_with(16)
    );
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), m.addr() + 98, 10, 98),
        succeeds_with(10)
    );
    ensure_eq!(m.read(0, PAGE)?, content);
    Ok(())
}

/// A MAP_SHARED store is the file's page: read(2) sees it.
fn mmap_shared_file_write_is_visible_to_read() -> Outcome {
    let file = TempFile::with_contents(&[b'.'; PAGE])?;
    let fd = file.open(libc::O_RDWR)?;
    let ret = check!(mmap(0, PAGE, RW, libc::MAP_SHARED, fd.raw(), 0), succeeds());
    let mut m = Mapping::adopt(ret, PAGE, RW)?;
    m.write(0, b"shared")?;
    let mut buf = [0u8; 6];
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 6, 0),
        succeeds_with(6)
    );
    ensure_eq!(buf, *b"shared");
    Ok(())
}

/// A MAP_PRIVATE store is copy-on-write: the file keeps its data.
fn mmap_private_file_write_does_not_reach_file() -> Outcome {
    let file = TempFile::with_contents(&[b'.'; PAGE])?;
    let fd = file.open(libc::O_RDWR)?;
    let ret = check!(
        mmap(0, PAGE, RW, libc::MAP_PRIVATE, fd.raw(), 0),
        succeeds()
    );
    let mut m = Mapping::adopt(ret, PAGE, RW)?;
    m.write(0, b"private")?;
    ensure_eq!(m.read(0, 7)?, b"private".to_vec());
    let mut buf = [0u8; 7];
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 7, 0),
        succeeds_with(7)
    );
    ensure_eq!(buf, *b".......");
    Ok(())
}

/// A write(2) to the file shows through an existing MAP_SHARED read-only mapping.
fn file_write_is_visible_through_shared_mapping() -> Outcome {
    let file = TempFile::with_contents(&[b'.'; PAGE])?;
    let fd = file.open(libc::O_RDWR)?;
    let ret = check!(
        mmap(0, PAGE, libc::PROT_READ, libc::MAP_SHARED, fd.raw(), 0),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"late".as_ptr(), 4, 8),
        succeeds_with(4)
    );
    ensure_eq!(m.read(8, 4)?, b"late".to_vec());
    Ok(())
}

/// munmap(2): EINVAL for an address that is not a multiple of the page size.
fn munmap_unaligned_address_fails_einval() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    check!(
        syscall!(libc::SYS_munmap, m.addr() + 1, PAGE),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// munmap(2): EINVAL "(since Linux 2.6.12) length was 0".
fn munmap_zero_length_fails_einval() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    check!(
        syscall!(libc::SYS_munmap, m.addr(), 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// munmap(2): "It is not an error if the indicated range does not contain any mapped pages."
fn munmap_unmapped_range_succeeds() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    let addr = m.addr();
    check!(syscall!(libc::SYS_munmap, addr, PAGE), succeeds_with(0));
    m.forget();
    check!(syscall!(libc::SYS_munmap, addr, PAGE), succeeds_with(0));
    Ok(())
}

/// After munmap, MAP_FIXED can place a new mapping in the hole; it starts zero-filled.
fn munmap_then_mmap_fixed_reuses_address() -> Outcome {
    let mut m = Mapping::anonymous(2 * PAGE, RW)?;
    m.write(PAGE, b"old")?;
    let second = m.addr() + PAGE;
    check!(syscall!(libc::SYS_munmap, second, PAGE), succeeds_with(0));
    let ret = check!(
        mmap(second, PAGE, RW, ANON | libc::MAP_FIXED, -1, 0),
        succeeds()
    );
    ensure_eq!(addr_of(ret)?, second);
    ensure_eq!(m.read(PAGE, 3)?, vec![0u8; 3]);
    Ok(())
}

/// mmap(2) MAP_FIXED: "If the memory region specified by addr and length overlaps pages of
/// any existing mapping(s), then the overlapped part of the existing mapping(s) will be
/// discarded."
fn mmap_fixed_over_existing_mapping_replaces_it() -> Outcome {
    let mut m = Mapping::anonymous(PAGE, RW)?;
    m.write(0, b"before")?;
    let ret = check!(
        mmap(m.addr(), PAGE, RW, ANON | libc::MAP_FIXED, -1, 0),
        succeeds()
    );
    ensure_eq!(addr_of(ret)?, m.addr());
    ensure_eq!(m.read(0, 6)?, vec![0u8; 6]);
    Ok(())
}

fn mprotect_read_only_keeps_data_readable() -> Outcome {
    let mut m = Mapping::anonymous(PAGE, RW)?;
    m.write(0, b"keep")?;
    check!(
        syscall!(libc::SYS_mprotect, m.addr(), PAGE, libc::PROT_READ),
        succeeds_with(0)
    );
    m.update(m.addr(), PAGE, libc::PROT_READ);
    ensure_eq!(m.read(0, 4)?, b"keep".to_vec());
    Ok(())
}

fn mprotect_none_then_read_write_restores_access() -> Outcome {
    let mut m = Mapping::anonymous(PAGE, RW)?;
    m.write(0, b"data")?;
    check!(
        syscall!(libc::SYS_mprotect, m.addr(), PAGE, libc::PROT_NONE),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_mprotect, m.addr(), PAGE, RW),
        succeeds_with(0)
    );
    m.write(4, b"more")?;
    ensure_eq!(m.read(0, 8)?, b"datamore".to_vec());
    Ok(())
}

/// mprotect(2): EINVAL "addr is not a valid pointer, or not a multiple of the system page size".
fn mprotect_unaligned_address_fails_einval() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    check!(
        syscall!(libc::SYS_mprotect, m.addr() + 1, PAGE, libc::PROT_READ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// mprotect(2): ENOMEM "Addresses in the range [addr, addr+len-1] are invalid for the address
/// space of the process, or specify one or more pages that are not mapped."
fn mprotect_unmapped_range_fails_enomem() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    let addr = m.addr();
    check!(syscall!(libc::SYS_munmap, addr, PAGE), succeeds_with(0));
    m.forget();
    check!(
        syscall!(libc::SYS_mprotect, addr, PAGE, libc::PROT_READ),
        fails_with(Errno::ENOMEM)
    );
    Ok(())
}

fn mremap_grow_maymove_preserves_data() -> Outcome {
    let mut m = Mapping::anonymous(PAGE, RW)?;
    m.write(0, b"carried over")?;
    let ret = check!(
        syscall!(
            libc::SYS_mremap,
            m.addr(),
            PAGE,
            4 * PAGE,
            libc::MREMAP_MAYMOVE
        ),
        succeeds()
    );
    m.update(addr_of(ret)?, 4 * PAGE, RW);
    ensure_eq!(m.read(0, 12)?, b"carried over".to_vec());
    m.write(4 * PAGE - 1, b"!")?;
    ensure_eq!(m.read(3 * PAGE, 1)?, vec![0u8]);
    Ok(())
}

fn mremap_shrink_keeps_address() -> Outcome {
    let mut m = Mapping::anonymous(4 * PAGE, RW)?;
    m.write(0, b"stay")?;
    let ret = check!(
        syscall!(libc::SYS_mremap, m.addr(), 4 * PAGE, PAGE, 0),
        succeeds()
    );
    ensure_eq!(addr_of(ret)?, m.addr());
    m.update(m.addr(), PAGE, RW);
    ensure_eq!(m.read(0, 4)?, b"stay".to_vec());
    Ok(())
}

/// mremap(2): ENOMEM "the memory area cannot be expanded at the current virtual address, and
/// the MREMAP_MAYMOVE flag is not set" — here the next page is still mapped.
fn mremap_grow_in_place_blocked_fails_enomem() -> Outcome {
    let m = Mapping::anonymous(3 * PAGE, RW)?;
    check!(
        syscall!(libc::SYS_mremap, m.addr(), PAGE, 2 * PAGE, 0),
        fails_with(Errno::ENOMEM)
    );
    Ok(())
}

/// mremap(2): EINVAL "old_address was not page aligned".
fn mremap_unaligned_address_fails_einval() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    check!(
        syscall!(
            libc::SYS_mremap,
            m.addr() + 1,
            PAGE,
            2 * PAGE,
            libc::MREMAP_MAYMOVE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// madvise(2) MADV_DONTNEED: private anonymous pages are "repopulated ... with zero-fill-on-
/// demand pages" on the next access.
fn madvise_dontneed_zeroes_private_anonymous_memory() -> Outcome {
    let mut m = Mapping::anonymous(2 * PAGE, RW)?;
    m.write(0, &[0xaa; 2 * PAGE])?;
    check!(
        syscall!(libc::SYS_madvise, m.addr(), 2 * PAGE, libc::MADV_DONTNEED),
        succeeds_with(0)
    );
    ensure!(
        m.read(0, 2 * PAGE)?.iter().all(|b| *b == 0),
        "memory not zeroed"
    );
    Ok(())
}

/// madvise(2): EINVAL "advice is not valid".
fn madvise_unknown_advice_fails_einval() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    check!(
        syscall!(libc::SYS_madvise, m.addr(), PAGE, 9999),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn madvise_willneed_succeeds() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    check!(
        syscall!(libc::SYS_madvise, m.addr(), PAGE, libc::MADV_WILLNEED),
        succeeds_with(0)
    );
    Ok(())
}

/// brk(2): the raw syscall returns the current break when asked for an impossible one (0).
fn brk_zero_returns_current_break() -> Outcome {
    let cur = check!(syscall!(libc::SYS_brk, 0), succeeds());
    ensure!(cur > 0, "break {cur:#x}");
    check!(syscall!(libc::SYS_brk, 0), succeeds_with(cur));
    Ok(())
}

fn brk_grow_then_shrink_moves_break() -> Outcome {
    let cur = check!(syscall!(libc::SYS_brk, 0), succeeds());
    let grown = cur + 0x10000;
    check!(syscall!(libc::SYS_brk, grown), succeeds_with(grown));
    check!(syscall!(libc::SYS_brk, 0), succeeds_with(grown));
    check!(syscall!(libc::SYS_brk, cur), succeeds_with(cur));
    Ok(())
}

/// Memory gained by brk is usable: read(2) into it works (the kernel checks it is mapped).
fn brk_grown_memory_is_writable() -> Outcome {
    let cur = check!(syscall!(libc::SYS_brk, 0), succeeds());
    let grown = cur + 0x2000;
    check!(syscall!(libc::SYS_brk, grown), succeeds_with(grown));
    let zero = Fd::open(c"/dev/zero", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let result = check!(
        syscall!(libc::SYS_read, zero.raw(), cur, 0x1000),
        succeeds()
    );
    check!(syscall!(libc::SYS_brk, cur), succeeds_with(cur));
    ensure_eq!(result, 0x1000);
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        mmap_anonymous_read_write_round_trips,
        mmap_anonymous_is_zero_filled,
        mmap_returns_page_aligned_address,
        mmap_zero_length_fails_einval,
        mmap_without_private_or_shared_fails_einval,
        mmap_fixed_unaligned_address_fails_einval,
        mmap_file_with_bad_fd_fails_ebadf,
        mmap_file_unaligned_offset_fails_einval,
        mmap_shared_writable_on_read_only_fd_fails_eacces,
        mmap_tmp_file_sees_content,
        mmap_file_at_offset_sees_that_page,
        mmap_host_file_sees_content,
        mmap_host_file_private_copies_and_shared_view_agree,
        mmap_host_file_tail_is_zero_filled,
        read_and_write_a_file_through_its_own_shared_mapping,
        mmap_shared_file_write_is_visible_to_read,
        mmap_private_file_write_does_not_reach_file,
        file_write_is_visible_through_shared_mapping,
        munmap_unaligned_address_fails_einval,
        munmap_zero_length_fails_einval,
        munmap_unmapped_range_succeeds,
        munmap_then_mmap_fixed_reuses_address,
        mmap_fixed_over_existing_mapping_replaces_it,
        mprotect_read_only_keeps_data_readable,
        mprotect_none_then_read_write_restores_access,
        mprotect_unaligned_address_fails_einval,
        mprotect_unmapped_range_fails_enomem,
        mremap_grow_maymove_preserves_data,
        mremap_shrink_keeps_address,
        mremap_grow_in_place_blocked_fails_enomem,
        mremap_unaligned_address_fails_einval,
        madvise_dontneed_zeroes_private_anonymous_memory,
        madvise_unknown_advice_fails_einval,
        madvise_willneed_succeeds,
        brk_zero_returns_current_break,
        brk_grow_then_shrink_moves_break,
        brk_grown_memory_is_writable,
    ])
}
