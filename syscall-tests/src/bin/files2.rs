//! File and memory syscalls a Debian userland probes: memfd_create and file seals,
//! fallocate, SEEK_DATA/SEEK_HOLE, preadv/pwritev(2), sendfile, copy_file_range, fadvise64
//! and mincore; creat, the utimensat family, close_range, and mount/umount2 of tmpfs.
//!
//! Most files here are memfds: they are tmpfs (shmem) files natively and in the sandbox, so
//! holes, punching and seals behave the same on both sides whatever the host's /tmp is.
#![deny(unsafe_code)]

use std::ffi::CStr;
use std::process::ExitCode;

use syscall_tests::libc::{self, c_int};
use syscall_tests::task::{Child, pipe};
use syscall_tests::{
    Errno, Fd, Mapping, Outcome, TempFile, check, ensure, ensure_eq, fails_with, run_tests,
    succeeds, succeeds_with, syscall, tests,
};

const PAGE: usize = 4096;
const P64: i64 = 4096;
const RW: c_int = libc::PROT_READ | libc::PROT_WRITE;

const MFD_CLOEXEC: u32 = 0x1;
const MFD_ALLOW_SEALING: u32 = 0x2;
const MFD_NOEXEC_SEAL: u32 = 0x8;
const MFD_EXEC: u32 = 0x10;

const F_ADD_SEALS: c_int = 1033;
const F_GET_SEALS: c_int = 1034;
const F_SEAL_SEAL: i64 = 0x1;
const F_SEAL_SHRINK: i64 = 0x2;
const F_SEAL_GROW: i64 = 0x4;
const F_SEAL_WRITE: i64 = 0x8;
const F_SEAL_FUTURE_WRITE: i64 = 0x10;
const F_SEAL_EXEC: i64 = 0x20;

const FALLOC_FL_KEEP_SIZE: c_int = 0x1;
const FALLOC_FL_PUNCH_HOLE: c_int = 0x2;
const FALLOC_FL_ZERO_RANGE: c_int = 0x10;

const RWF_NOWAIT: c_int = 0x8;
const RWF_APPEND: c_int = 0x10;

fn memfd(name: &CStr, flags: u32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_memfd_create, name, flags),
        succeeds()
    ))
}

/// A sealable memfd holding `data`.
fn memfd_with(data: &[u8]) -> Result<Fd, String> {
    let fd = memfd(c"files2", MFD_CLOEXEC | MFD_ALLOW_SEALING)?;
    if !data.is_empty() {
        check!(
            syscall!(libc::SYS_pwrite64, fd.raw(), data.as_ptr(), data.len(), 0),
            succeeds_with(i64::try_from(data.len()).unwrap_or(-1))
        );
    }
    Ok(fd)
}

fn pread_all(fd: &Fd, len: usize, off: i64) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    let n = check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), len, off),
        succeeds()
    );
    buf.truncate(usize::try_from(n).unwrap_or(0));
    Ok(buf)
}

fn fstat(fd: &Fd) -> Result<libc::stat, String> {
    let mut st = syscall_tests::zeroed::<libc::stat>();
    check!(
        syscall!(libc::SYS_fstat, fd.raw(), std::ptr::addr_of_mut!(st)),
        succeeds()
    );
    Ok(st)
}

fn size_of(fd: &Fd) -> Result<i64, String> {
    Ok(fstat(fd)?.st_size)
}

fn mmap(len: usize, prot: c_int, flags: c_int, fd: &Fd) -> i64 {
    syscall!(libc::SYS_mmap, 0usize, len, prot, flags, fd.raw(), 0i64)
}

fn seals(fd: &Fd) -> Result<i64, String> {
    Ok(check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_GET_SEALS),
        succeeds()
    ))
}

// ---- memfd_create ----

/// memfd_create(2): a regular file of size 0 with no name in any directory.
fn memfd_create_gives_empty_unlinked_regular_file() -> Outcome {
    let fd = memfd(c"empty", MFD_CLOEXEC)?;
    let st = fstat(&fd)?;
    ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFREG);
    ensure_eq!(st.st_size, 0);
    ensure_eq!(st.st_nlink, 0);
    Ok(())
}

fn memfd_write_then_read_back() -> Outcome {
    let fd = memfd(c"rw", MFD_CLOEXEC)?;
    fd.write_all(b"hello memfd")?;
    ensure_eq!(pread_all(&fd, 64, 0)?, b"hello memfd".to_vec());
    ensure_eq!(size_of(&fd)?, 11);
    Ok(())
}

/// memfd_create(2): the name "is displayed as the target of the corresponding symbolic link
/// in the directory /proc/self/fd/ ... always prefixed with memfd:".
fn memfd_proc_fd_link_is_memfd_name_deleted() -> Outcome {
    let fd = memfd(c"probe", MFD_CLOEXEC)?;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.raw()))
        .map_err(|e| format!("readlink: {e}"))?;
    ensure_eq!(link.to_string_lossy(), "/memfd:probe (deleted)");
    Ok(())
}

fn memfd_cloexec_sets_fd_flag() -> Outcome {
    let a = memfd(c"a", MFD_CLOEXEC)?;
    let b = memfd(c"b", 0)?;
    check!(
        syscall!(libc::SYS_fcntl, a.raw(), libc::F_GETFD),
        succeeds_with(1)
    );
    check!(
        syscall!(libc::SYS_fcntl, b.raw(), libc::F_GETFD),
        succeeds_with(0)
    );
    Ok(())
}

/// memfd_create(2): EINVAL "flags included unknown bits".
fn memfd_unknown_flag_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_memfd_create, c"x", 0x100u32),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// memfd_create(2): EINVAL "name was too long" (249 bytes, without the NUL, is the limit).
fn memfd_name_longer_than_249_fails_einval() -> Outcome {
    let ok = syscall_tests::cstring(&"n".repeat(249));
    let long = syscall_tests::cstring(&"n".repeat(250));
    memfd(&ok, MFD_CLOEXEC)?;
    check!(
        syscall!(libc::SYS_memfd_create, long.as_c_str(), MFD_CLOEXEC),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn memfd_exec_with_noexec_seal_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_memfd_create, c"x", MFD_EXEC | MFD_NOEXEC_SEAL),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn memfd_bad_name_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_memfd_create, syscall_tests::LOW_ADDR, 0u32),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// A MAP_SHARED mapping of a memfd is the file's pages: a forked child's store is seen by the
/// parent, and by read(2).
fn memfd_shared_mapping_is_shared_with_fork_child() -> Outcome {
    let fd = memfd(c"shm", MFD_CLOEXEC)?;
    check!(
        syscall!(libc::SYS_ftruncate, fd.raw(), PAGE),
        succeeds_with(0)
    );
    let ret = check!(mmap(PAGE, RW, libc::MAP_SHARED, &fd), succeeds());
    let mut m = Mapping::adopt(ret, PAGE, RW)?;
    let mut child = Child::spawn(|| i32::from(m.write(10, b"from child").is_err()))?;
    ensure_eq!(child.wait()?.exit_code(), Some(0));
    ensure_eq!(m.read(10, 10)?, b"from child".to_vec());
    ensure_eq!(pread_all(&fd, 10, 10)?, b"from child".to_vec());
    Ok(())
}

fn memfd_write_is_visible_through_shared_mapping() -> Outcome {
    let fd = memfd_with(&[b'.'; PAGE])?;
    let ret = check!(
        mmap(PAGE, libc::PROT_READ, libc::MAP_SHARED, &fd),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"new".as_ptr(), 3, 100),
        succeeds_with(3)
    );
    ensure_eq!(m.read(100, 3)?, b"new".to_vec());
    Ok(())
}

// ---- seals ----

/// memfd_create(2): without MFD_ALLOW_SEALING "the initial set of seals will be
/// F_SEAL_SEAL", so no seal can be added.
fn memfd_without_allow_sealing_has_seal_seal() -> Outcome {
    let fd = memfd(c"nosealing", MFD_CLOEXEC)?;
    ensure_eq!(seals(&fd)?, F_SEAL_SEAL);
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_WRITE),
        fails_with(Errno::EPERM)
    );
    Ok(())
}

fn memfd_allow_sealing_starts_with_no_seals() -> Outcome {
    let fd = memfd_with(b"")?;
    ensure_eq!(seals(&fd)?, 0);
    Ok(())
}

fn memfd_noexec_seal_sets_seal_exec_and_clears_exec_bits() -> Outcome {
    let fd = memfd(c"noexec", MFD_CLOEXEC | MFD_NOEXEC_SEAL)?;
    ensure_eq!(seals(&fd)? & F_SEAL_EXEC, F_SEAL_EXEC);
    ensure_eq!(fstat(&fd)?.st_mode & 0o111, 0);
    Ok(())
}

/// F_SEAL_EXEC: the exec bits can no longer change (fchmod: EPERM); others still can.
fn seal_exec_refuses_chmod_of_exec_bits() -> Outcome {
    let fd = memfd(c"noexec", MFD_CLOEXEC | MFD_NOEXEC_SEAL)?;
    check!(
        syscall!(libc::SYS_fchmod, fd.raw(), 0o755),
        fails_with(Errno::EPERM)
    );
    check!(
        syscall!(libc::SYS_fchmod, fd.raw(), 0o600),
        succeeds_with(0)
    );
    ensure_eq!(fstat(&fd)?.st_mode & 0o777, 0o600);
    Ok(())
}

/// /proc/self/maps names a memfd mapping like its fd link.
fn memfd_mapping_is_named_in_proc_maps() -> Outcome {
    let fd = memfd_with(&[0u8; PAGE])?;
    let ret = check!(
        mmap(PAGE, libc::PROT_READ, libc::MAP_SHARED, &fd),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("read maps: {e}"))?;
    let start = format!("{:x}-", m.addr());
    let line = maps
        .lines()
        .find(|l| l.starts_with(&start))
        .ok_or_else(|| format!("no line for {start} in\n{maps}"))?;
    ensure!(line.ends_with("/memfd:files2 (deleted)"), "{line}");
    ensure!(line.contains(" r--s "), "{line}");
    Ok(())
}

/// fcntl(2): F_SEAL_WRITE makes write(2) fail with EPERM.
fn seal_write_refuses_write_eperm() -> Outcome {
    let fd = memfd_with(b"data")?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_WRITE),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"x".as_ptr(), 1, 0),
        fails_with(Errno::EPERM)
    );
    ensure_eq!(pread_all(&fd, 4, 0)?, b"data".to_vec());
    Ok(())
}

/// memfd_create(2)/fcntl(2): a write-sealed file cannot be mapped MAP_SHARED with PROT_WRITE
/// (EPERM), but a read-only shared mapping is fine and cannot be made writable.
fn seal_write_refuses_writable_shared_mmap() -> Outcome {
    let fd = memfd_with(&[1u8; PAGE])?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_WRITE),
        succeeds_with(0)
    );
    check!(
        mmap(PAGE, RW, libc::MAP_SHARED, &fd),
        fails_with(Errno::EPERM)
    );
    let ret = check!(
        mmap(PAGE, libc::PROT_READ, libc::MAP_SHARED, &fd),
        succeeds()
    );
    let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
    ensure_eq!(m.read(0, 2)?, vec![1u8, 1]);
    check!(
        syscall!(libc::SYS_mprotect, m.addr(), PAGE, RW),
        fails_with(Errno::EACCES)
    );
    Ok(())
}

/// fcntl(2): EBUSY "seal is F_SEAL_WRITE, and there is a writable, shared mapping"; once the
/// mapping is gone the seal can be added.
fn seal_write_with_writable_shared_mapping_fails_ebusy() -> Outcome {
    let fd = memfd_with(&[1u8; PAGE])?;
    let ret = check!(mmap(2 * PAGE, RW, libc::MAP_SHARED, &fd), succeeds());
    let m = Mapping::adopt(ret, 2 * PAGE, RW)?;
    // Split the mapping: both halves still count.
    check!(
        syscall!(libc::SYS_munmap, m.addr() + PAGE, PAGE),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_WRITE),
        fails_with(Errno::EBUSY)
    );
    // F_SEAL_FUTURE_WRITE does not care about existing mappings.
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE),
        succeeds_with(0)
    );
    check!(syscall!(libc::SYS_munmap, m.addr(), PAGE), succeeds_with(0));
    m.forget();
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_WRITE),
        succeeds_with(0)
    );
    Ok(())
}

fn seal_future_write_refuses_write_eperm() -> Outcome {
    let fd = memfd_with(b"data")?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_write, fd.raw(), b"x".as_ptr(), 1),
        fails_with(Errno::EPERM)
    );
    ensure_eq!(seals(&fd)?, F_SEAL_FUTURE_WRITE);
    Ok(())
}

/// F_SEAL_SHRINK: ftruncate to a smaller size fails with EPERM; growing still works.
fn seal_shrink_refuses_shrinking_truncate() -> Outcome {
    let fd = memfd_with(b"0123456789")?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_SHRINK),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_ftruncate, fd.raw(), 4),
        fails_with(Errno::EPERM)
    );
    check!(
        syscall!(libc::SYS_ftruncate, fd.raw(), 20),
        succeeds_with(0)
    );
    ensure_eq!(size_of(&fd)?, 20);
    Ok(())
}

/// F_SEAL_GROW: growing by ftruncate or by a write past EOF fails with EPERM; writes inside
/// the file still work.
fn seal_grow_refuses_growth() -> Outcome {
    let fd = memfd_with(b"0123456789")?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_GROW),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_ftruncate, fd.raw(), 20),
        fails_with(Errno::EPERM)
    );
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"abc".as_ptr(), 3, 9),
        fails_with(Errno::EPERM)
    );
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"abc".as_ptr(), 3, 2),
        succeeds_with(3)
    );
    ensure_eq!(pread_all(&fd, 20, 0)?, b"01abc56789".to_vec());
    Ok(())
}

/// fcntl(2): once F_SEAL_SEAL is set, F_ADD_SEALS fails with EPERM.
fn seal_seal_refuses_further_seals() -> Outcome {
    let fd = memfd_with(b"")?;
    check!(
        syscall!(
            libc::SYS_fcntl,
            fd.raw(),
            F_ADD_SEALS,
            F_SEAL_SEAL | F_SEAL_SHRINK
        ),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_GROW),
        fails_with(Errno::EPERM)
    );
    ensure_eq!(seals(&fd)?, F_SEAL_SEAL | F_SEAL_SHRINK);
    Ok(())
}

/// memfd_create(2): adding F_SEAL_EXEC to a file with exec bits also seals writes and
/// resizes (W^X).
fn seal_exec_on_executable_memfd_implies_write_seals() -> Outcome {
    let fd = memfd_with(b"")?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_EXEC),
        succeeds_with(0)
    );
    ensure_eq!(
        seals(&fd)?,
        F_SEAL_EXEC | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_GROW | F_SEAL_SHRINK
    );
    Ok(())
}

/// F_ADD_SEALS needs a description open for writing: EPERM first, on any file.
fn add_seals_on_read_only_fd_fails_eperm() -> Outcome {
    let fd = Fd::open(c"/etc/passwd", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, 0x1000i64),
        fails_with(Errno::EPERM)
    );
    Ok(())
}

fn add_unknown_seal_fails_einval() -> Outcome {
    let fd = memfd_with(b"")?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, 0x1000i64),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// fcntl(2): F_GET_SEALS on a file that does not support sealing: EINVAL.
fn get_seals_on_regular_file_fails_einval() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDWR)?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_GET_SEALS),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), F_ADD_SEALS, F_SEAL_WRITE),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

// ---- fallocate ----

/// fallocate(2) mode 0: "the file size will be changed if offset+len is greater than the
/// file size".
fn fallocate_extends_size() -> Outcome {
    let fd = memfd_with(b"abc")?;
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, 0i64, 3 * P64),
        succeeds_with(0)
    );
    ensure_eq!(size_of(&fd)?, 3 * P64);
    let data = pread_all(&fd, 3 * PAGE, 0)?;
    ensure_eq!(data.get(..3), Some(&b"abc"[..]));
    ensure!(
        data[3..].iter().all(|b| *b == 0),
        "allocated range not zero"
    );
    Ok(())
}

/// FALLOC_FL_KEEP_SIZE: blocks are allocated but the size stays.
fn fallocate_keep_size_keeps_size_and_allocates() -> Outcome {
    let fd = memfd_with(b"abc")?;
    let before = fstat(&fd)?.st_blocks;
    check!(
        syscall!(
            libc::SYS_fallocate,
            fd.raw(),
            FALLOC_FL_KEEP_SIZE,
            0i64,
            4 * P64
        ),
        succeeds_with(0)
    );
    let st = fstat(&fd)?;
    ensure_eq!(st.st_size, 3);
    ensure!(st.st_blocks > before, "blocks {} <= {before}", st.st_blocks);
    Ok(())
}

/// FALLOC_FL_PUNCH_HOLE: "subsequent reads from this range will return zeros"; the size stays.
fn fallocate_punch_hole_reads_zeros() -> Outcome {
    let fd = memfd_with(&[7u8; 3 * PAGE])?;
    check!(
        syscall!(
            libc::SYS_fallocate,
            fd.raw(),
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            P64 - 10,
            P64 + 20
        ),
        succeeds_with(0)
    );
    ensure_eq!(size_of(&fd)?, 3 * P64);
    let data = pread_all(&fd, 3 * PAGE, 0)?;
    for (i, b) in data.iter().enumerate() {
        let punched = (PAGE - 10..2 * PAGE + 10).contains(&i);
        ensure_eq!(*b, if punched { 0 } else { 7 }, "at byte {i}");
    }
    Ok(())
}

/// A punched page is gone from mappings too: a shared mapping reads zeros there, and later
/// stores through it reach the file again.
fn fallocate_punch_hole_is_seen_through_shared_mapping() -> Outcome {
    let fd = memfd_with(&[9u8; 2 * PAGE])?;
    let ret = check!(mmap(2 * PAGE, RW, libc::MAP_SHARED, &fd), succeeds());
    let mut m = Mapping::adopt(ret, 2 * PAGE, RW)?;
    ensure_eq!(m.read(PAGE, 1)?, vec![9u8]);
    check!(
        syscall!(
            libc::SYS_fallocate,
            fd.raw(),
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            0i64,
            2 * P64
        ),
        succeeds_with(0)
    );
    ensure_eq!(m.read(PAGE, 2)?, vec![0u8, 0]);
    m.write(PAGE, b"again")?;
    ensure_eq!(pread_all(&fd, 5, P64)?, b"again".to_vec());
    Ok(())
}

/// fallocate(2): EOPNOTSUPP for FALLOC_FL_PUNCH_HOLE without FALLOC_FL_KEEP_SIZE.
fn fallocate_punch_hole_without_keep_size_fails_eopnotsupp() -> Outcome {
    let fd = memfd_with(b"abc")?;
    check!(
        syscall!(
            libc::SYS_fallocate,
            fd.raw(),
            FALLOC_FL_PUNCH_HOLE,
            0i64,
            1i64
        ),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

/// fallocate(2): EINVAL "offset was less than 0, or len was less than or equal to 0".
fn fallocate_bad_offset_or_length_fails_einval() -> Outcome {
    let fd = memfd_with(b"abc")?;
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, 0i64, 0i64),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, 0i64, -1i64),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, -1i64, 10i64),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// fallocate(2): EFBIG "offset+len exceeds the maximum file size".
fn fallocate_past_max_offset_fails_efbig() -> Outcome {
    let fd = memfd_with(b"")?;
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, i64::MAX - 10, 100i64),
        fails_with(Errno::EFBIG)
    );
    // Nothing was allocated or grown on the way.
    ensure_eq!(size_of(&fd)?, 0);
    ensure_eq!(fstat(&fd)?.st_blocks, 0);
    Ok(())
}

/// fallocate(2): ESPIPE "fd refers to a pipe or FIFO".
fn fallocate_on_pipe_fails_espipe() -> Outcome {
    let (_r, w) = pipe()?;
    check!(
        syscall!(libc::SYS_fallocate, w.raw(), 0, 0i64, 10i64),
        fails_with(Errno::ESPIPE)
    );
    Ok(())
}

/// fallocate(2): EBADF "fd is not ... open for writing".
fn fallocate_on_read_only_fd_fails_ebadf() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, 0i64, 10i64),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// A file of the (read-only) root opened for reading: EBADF, before anything else.
fn fallocate_on_read_only_root_file_fails_ebadf() -> Outcome {
    let fd = Fd::open(c"/etc/passwd", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, 0i64, 10i64),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// tmpfs supports only allocation and hole punching: FALLOC_FL_ZERO_RANGE is EOPNOTSUPP.
fn fallocate_zero_range_on_memfd_fails_eopnotsupp() -> Outcome {
    let fd = memfd_with(b"abc")?;
    check!(
        syscall!(
            libc::SYS_fallocate,
            fd.raw(),
            FALLOC_FL_ZERO_RANGE,
            0i64,
            1i64
        ),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

/// F_SEAL_GROW refuses an allocation that would extend the file; F_SEAL_WRITE a hole punch.
fn fallocate_respects_seals() -> Outcome {
    let fd = memfd_with(b"abc")?;
    check!(
        syscall!(
            libc::SYS_fcntl,
            fd.raw(),
            F_ADD_SEALS,
            F_SEAL_GROW | F_SEAL_WRITE
        ),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_fallocate, fd.raw(), 0, 0i64, 100i64),
        fails_with(Errno::EPERM)
    );
    check!(
        syscall!(
            libc::SYS_fallocate,
            fd.raw(),
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            0i64,
            1i64
        ),
        fails_with(Errno::EPERM)
    );
    Ok(())
}

// ---- SEEK_DATA / SEEK_HOLE ----

/// A memfd of 4 pages with data in pages 0 and 2 only (1 and 3 never written).
fn holey_file() -> Result<Fd, String> {
    let fd = memfd_with(b"")?;
    check!(
        syscall!(libc::SYS_ftruncate, fd.raw(), 4 * PAGE),
        succeeds_with(0)
    );
    for page in [0i64, 2] {
        check!(
            syscall!(libc::SYS_pwrite64, fd.raw(), b"x".as_ptr(), 1, page * P64),
            succeeds_with(1)
        );
    }
    Ok(fd)
}

fn lseek(fd: &Fd, off: i64, whence: c_int) -> i64 {
    syscall!(libc::SYS_lseek, fd.raw(), off, whence)
}

fn seek_hole_finds_hole_after_data() -> Outcome {
    let fd = holey_file()?;
    check!(lseek(&fd, 0, libc::SEEK_HOLE), succeeds_with(P64));
    check!(lseek(&fd, 100, libc::SEEK_HOLE), succeeds_with(P64));
    check!(lseek(&fd, P64 + 5, libc::SEEK_HOLE), succeeds_with(P64 + 5));
    Ok(())
}

fn seek_data_skips_hole() -> Outcome {
    let fd = holey_file()?;
    check!(lseek(&fd, 0, libc::SEEK_DATA), succeeds_with(0));
    check!(lseek(&fd, P64, libc::SEEK_DATA), succeeds_with(2 * P64));
    // The offset moved there.
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(2 * P64));
    Ok(())
}

/// lseek(2): "there is an implicit hole at the end of any file".
fn seek_hole_in_last_data_returns_next_hole_or_eof() -> Outcome {
    let fd = holey_file()?;
    check!(lseek(&fd, 2 * P64, libc::SEEK_HOLE), succeeds_with(3 * P64));
    let full = memfd_with(&[1u8; 100])?;
    check!(lseek(&full, 0, libc::SEEK_HOLE), succeeds_with(100));
    Ok(())
}

/// lseek(2): ENXIO for SEEK_DATA in a trailing hole, and for any offset at or past EOF.
fn seek_data_hole_past_data_or_eof_fail_enxio() -> Outcome {
    let fd = holey_file()?;
    check!(
        lseek(&fd, 3 * P64, libc::SEEK_DATA),
        fails_with(Errno::ENXIO)
    );
    check!(
        lseek(&fd, 4 * P64, libc::SEEK_HOLE),
        fails_with(Errno::ENXIO)
    );
    check!(
        lseek(&fd, 4 * P64, libc::SEEK_DATA),
        fails_with(Errno::ENXIO)
    );
    Ok(())
}

/// A punched page is a hole again.
fn seek_hole_sees_punched_page() -> Outcome {
    let fd = memfd_with(&[5u8; 3 * PAGE])?;
    check!(lseek(&fd, 0, libc::SEEK_HOLE), succeeds_with(3 * P64));
    check!(
        syscall!(
            libc::SYS_fallocate,
            fd.raw(),
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            P64,
            P64
        ),
        succeeds_with(0)
    );
    check!(lseek(&fd, 0, libc::SEEK_HOLE), succeeds_with(P64));
    Ok(())
}

// ---- preadv / pwritev ----

fn iov(buf: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    }
}

/// pwritev/preadv at an offset gather/scatter and leave the file offset alone.
fn pwritev_preadv_round_trip_without_moving_offset() -> Outcome {
    let fd = memfd_with(b"")?;
    let (a, b) = (b"hello ".to_vec(), b"world".to_vec());
    let w = [iov(&a), iov(&b)];
    check!(
        syscall!(libc::SYS_pwritev, fd.raw(), w.as_ptr(), 2, 10i64, 0i64),
        succeeds_with(11)
    );
    let (x, y) = (vec![0u8; 3], vec![0u8; 8]);
    let r = [iov(&x), iov(&y)];
    check!(
        syscall!(libc::SYS_preadv, fd.raw(), r.as_ptr(), 2, 10i64, 0i64),
        succeeds_with(11)
    );
    ensure_eq!(x, b"hel".to_vec());
    ensure_eq!(y, b"lo world".to_vec());
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(0));
    Ok(())
}

/// preadv(2): EINVAL for a negative offset.
fn preadv_negative_offset_fails_einval() -> Outcome {
    let fd = memfd_with(b"abc")?;
    let buf = vec![0u8; 3];
    let r = [iov(&buf)];
    check!(
        syscall!(libc::SYS_preadv, fd.raw(), r.as_ptr(), 1, -5i64, 0i64),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn preadv_on_pipe_fails_espipe() -> Outcome {
    let (r, _w) = pipe()?;
    let buf = vec![0u8; 3];
    let v = [iov(&buf)];
    check!(
        syscall!(libc::SYS_preadv, r.raw(), v.as_ptr(), 1, 0i64, 0i64),
        fails_with(Errno::ESPIPE)
    );
    Ok(())
}

/// preadv2(2): "If offset is -1, then the current file offset is used and updated."
fn preadv2_offset_minus_one_uses_file_offset() -> Outcome {
    let fd = memfd_with(b"0123456789")?;
    check!(lseek(&fd, 4, libc::SEEK_SET), succeeds_with(4));
    let buf = vec![0u8; 3];
    let v = [iov(&buf)];
    check!(
        syscall!(libc::SYS_preadv2, fd.raw(), v.as_ptr(), 1, -1i64, 0i64, 0),
        succeeds_with(3)
    );
    ensure_eq!(buf, b"456".to_vec());
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(7));
    Ok(())
}

/// RWF_HIPRI, RWF_DSYNC and RWF_SYNC are accepted on a regular file.
fn pwritev2_sync_flags_succeed() -> Outcome {
    let fd = memfd_with(b"")?;
    let v = [iov(b"abc")];
    for flag in [0x1, 0x2, 0x4] {
        check!(
            syscall!(
                libc::SYS_pwritev2,
                fd.raw(),
                v.as_ptr(),
                1,
                0i64,
                0i64,
                flag
            ),
            succeeds_with(3)
        );
    }
    Ok(())
}

/// preadv2/pwritev2: EOPNOTSUPP "An unknown flag is specified in flags".
fn pwritev2_unknown_flag_fails_eopnotsupp() -> Outcome {
    let fd = memfd_with(b"")?;
    let v = [iov(b"x")];
    check!(
        syscall!(
            libc::SYS_pwritev2,
            fd.raw(),
            v.as_ptr(),
            1,
            0i64,
            0i64,
            0x4000_0000
        ),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

/// RWF_NOWAIT: "If no data is available ... the read returns -1 ... EAGAIN".
fn preadv2_nowait_on_empty_pipe_fails_eagain() -> Outcome {
    let (r, _w) = pipe()?;
    let buf = vec![0u8; 3];
    let v = [iov(&buf)];
    check!(
        syscall!(
            libc::SYS_preadv2,
            r.raw(),
            v.as_ptr(),
            1,
            -1i64,
            0i64,
            RWF_NOWAIT
        ),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

/// RWF_APPEND: "the offset argument does not affect the write operation; the data is always
/// appended to the end of the file".
fn pwritev2_append_writes_at_end() -> Outcome {
    let fd = memfd_with(b"start")?;
    let v = [iov(b"+end")];
    check!(
        syscall!(
            libc::SYS_pwritev2,
            fd.raw(),
            v.as_ptr(),
            1,
            0i64,
            0i64,
            RWF_APPEND
        ),
        succeeds_with(4)
    );
    ensure_eq!(pread_all(&fd, 64, 0)?, b"start+end".to_vec());
    Ok(())
}

// ---- sendfile ----

/// sendfile(2) with an offset pointer: data from there, *offset updated, file offset unchanged.
fn sendfile_with_offset_updates_pointer_only() -> Outcome {
    let src = memfd_with(b"0123456789")?;
    let (r, w) = pipe()?;
    let mut off: i64 = 3;
    check!(
        syscall!(
            libc::SYS_sendfile,
            w.raw(),
            src.raw(),
            std::ptr::addr_of_mut!(off),
            4usize
        ),
        succeeds_with(4)
    );
    ensure_eq!(off, 7);
    ensure_eq!(r.read_up_to(16)?, b"3456".to_vec());
    check!(lseek(&src, 0, libc::SEEK_CUR), succeeds_with(0));
    Ok(())
}

/// sendfile(2) without an offset pointer reads at and advances the file offset; a count past
/// EOF stops at EOF.
fn sendfile_without_offset_advances_file_offset() -> Outcome {
    let src = memfd_with(b"0123456789")?;
    check!(lseek(&src, 6, libc::SEEK_SET), succeeds_with(6));
    let dst = memfd_with(b"")?;
    check!(
        syscall!(libc::SYS_sendfile, dst.raw(), src.raw(), 0usize, 100usize),
        succeeds_with(4)
    );
    check!(lseek(&src, 0, libc::SEEK_CUR), succeeds_with(10));
    ensure_eq!(pread_all(&dst, 16, 0)?, b"6789".to_vec());
    check!(
        syscall!(libc::SYS_sendfile, dst.raw(), src.raw(), 0usize, 100usize),
        succeeds_with(0)
    );
    Ok(())
}

/// sendfile(2): EINVAL "out_fd has the O_APPEND flag set".
fn sendfile_to_append_fd_fails_einval() -> Outcome {
    let src = memfd_with(b"abc")?;
    let file = TempFile::new()?;
    let out = file.open(libc::O_WRONLY | libc::O_APPEND)?;
    check!(
        syscall!(libc::SYS_sendfile, out.raw(), src.raw(), 0usize, 3usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// sendfile(2): EBADF "Input file was not opened for reading or output file was not opened
/// for writing".
fn sendfile_wrong_access_modes_fail_ebadf() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let wo = file.open(libc::O_WRONLY)?;
    let ro = file.open(libc::O_RDONLY)?;
    let dst = memfd_with(b"")?;
    check!(
        syscall!(libc::SYS_sendfile, dst.raw(), wo.raw(), 0usize, 3usize),
        fails_with(Errno::EBADF)
    );
    check!(
        syscall!(libc::SYS_sendfile, ro.raw(), ro.raw(), 0usize, 3usize),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// sendfile(2) reads from a file, not a pipe (splice(2) does that): EINVAL.
fn sendfile_from_pipe_fails_einval() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"abc")?;
    let dst = memfd_with(b"")?;
    check!(
        syscall!(libc::SYS_sendfile, dst.raw(), r.raw(), 0usize, 3usize),
        fails_with(Errno::EINVAL)
    );
    let mut off: i64 = 0;
    check!(
        syscall!(
            libc::SYS_sendfile,
            dst.raw(),
            r.raw(),
            std::ptr::addr_of_mut!(off),
            3usize
        ),
        fails_with(Errno::ESPIPE)
    );
    Ok(())
}

// ---- copy_file_range ----

fn copy_file_range_copies_between_memfds() -> Outcome {
    let src = memfd_with(b"0123456789")?;
    let dst = memfd_with(b"..........")?;
    let mut off_in: i64 = 2;
    let mut off_out: i64 = 5;
    check!(
        syscall!(
            libc::SYS_copy_file_range,
            src.raw(),
            std::ptr::addr_of_mut!(off_in),
            dst.raw(),
            std::ptr::addr_of_mut!(off_out),
            4usize,
            0u32
        ),
        succeeds_with(4)
    );
    ensure_eq!((off_in, off_out), (6, 9));
    ensure_eq!(pread_all(&dst, 16, 0)?, b".....2345.".to_vec());
    check!(lseek(&src, 0, libc::SEEK_CUR), succeeds_with(0));
    Ok(())
}

/// Without offset pointers the file offsets are used and advanced; at EOF it returns 0.
fn copy_file_range_uses_file_offsets_without_pointers() -> Outcome {
    let src = memfd_with(b"abcdef")?;
    let dst = memfd_with(b"")?;
    check!(
        syscall!(
            libc::SYS_copy_file_range,
            src.raw(),
            0usize,
            dst.raw(),
            0usize,
            100usize,
            0u32
        ),
        succeeds_with(6)
    );
    check!(lseek(&src, 0, libc::SEEK_CUR), succeeds_with(6));
    check!(lseek(&dst, 0, libc::SEEK_CUR), succeeds_with(6));
    check!(
        syscall!(
            libc::SYS_copy_file_range,
            src.raw(),
            0usize,
            dst.raw(),
            0usize,
            100usize,
            0u32
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// copy_file_range(2): EINVAL "fd_in and fd_out refer to the same file and the source and
/// target ranges overlap".
fn copy_file_range_overlapping_same_file_fails_einval() -> Outcome {
    let fd = memfd_with(b"0123456789")?;
    let mut a: i64 = 0;
    let mut b: i64 = 2;
    check!(
        syscall!(
            libc::SYS_copy_file_range,
            fd.raw(),
            std::ptr::addr_of_mut!(a),
            fd.raw(),
            std::ptr::addr_of_mut!(b),
            4usize,
            0u32
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// copy_file_range(2): EINVAL "The flags argument is not 0".
fn copy_file_range_nonzero_flags_fail_einval() -> Outcome {
    let src = memfd_with(b"abc")?;
    let dst = memfd_with(b"")?;
    check!(
        syscall!(
            libc::SYS_copy_file_range,
            src.raw(),
            0usize,
            dst.raw(),
            0usize,
            3usize,
            1u32
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// copy_file_range(2): EISDIR "Either fd_in or fd_out refers to a directory".
fn copy_file_range_from_directory_fails_eisdir() -> Outcome {
    let dir = Fd::open(c"/", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let dst = memfd_with(b"")?;
    check!(
        syscall!(
            libc::SYS_copy_file_range,
            dir.raw(),
            0usize,
            dst.raw(),
            0usize,
            3usize,
            0u32
        ),
        fails_with(Errno::EISDIR)
    );
    Ok(())
}

/// copy_file_range(2): EXDEV "The files referred to by fd_in and fd_out are not on the same
/// filesystem" (and the filesystem has no cross-filesystem copy).
fn copy_file_range_across_filesystems_fails_exdev() -> Outcome {
    let src = memfd_with(b"abc")?;
    let file = TempFile::new()?;
    let dst = file.open(libc::O_WRONLY)?;
    check!(
        syscall!(
            libc::SYS_copy_file_range,
            src.raw(),
            0usize,
            dst.raw(),
            0usize,
            3usize,
            0u32
        ),
        fails_with(Errno::EXDEV)
    );
    Ok(())
}

// ---- fadvise64 ----

fn fadvise_valid_advice_succeeds() -> Outcome {
    let fd = memfd_with(b"abc")?;
    for advice in 0..=5 {
        check!(
            syscall!(libc::SYS_fadvise64, fd.raw(), 0i64, 0i64, advice),
            succeeds_with(0)
        );
    }
    Ok(())
}

/// posix_fadvise(2): EINVAL "An invalid value was specified for advice".
fn fadvise_unknown_advice_fails_einval() -> Outcome {
    let fd = memfd_with(b"abc")?;
    check!(
        syscall!(libc::SYS_fadvise64, fd.raw(), 0i64, 0i64, 99),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_fadvise64, fd.raw(), 0i64, -1i64, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// posix_fadvise(2): ESPIPE "The specified file descriptor refers to a pipe or FIFO".
fn fadvise_on_pipe_fails_espipe() -> Outcome {
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_fadvise64, r.raw(), 0i64, 0i64, 0),
        fails_with(Errno::ESPIPE)
    );
    Ok(())
}

fn fadvise_bad_fd_fails_ebadf() -> Outcome {
    check!(
        syscall!(libc::SYS_fadvise64, 9999, 0i64, 0i64, 0),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

// ---- mincore ----

/// mincore(2): touched anonymous pages are resident, untouched ones are not.
fn mincore_reports_touched_anonymous_pages() -> Outcome {
    let mut m = Mapping::anonymous(3 * PAGE, RW)?;
    m.write(0, b"x")?;
    m.write(2 * PAGE, b"y")?;
    let mut vec = [0xffu8; 3];
    check!(
        syscall!(libc::SYS_mincore, m.addr(), 3 * PAGE, vec.as_mut_ptr()),
        succeeds_with(0)
    );
    ensure_eq!(vec.map(|b| b & 1), [1, 0, 1]);
    Ok(())
}

/// A page that was only read is mapped (Linux: the zero page), so it is resident too.
fn mincore_counts_read_only_touched_page() -> Outcome {
    let m = Mapping::anonymous(2 * PAGE, RW)?;
    ensure_eq!(m.read(PAGE, 1)?, vec![0u8]);
    let mut vec = [0xffu8; 2];
    check!(
        syscall!(libc::SYS_mincore, m.addr(), 2 * PAGE, vec.as_mut_ptr()),
        succeeds_with(0)
    );
    ensure_eq!(vec[1] & 1, 1);
    Ok(())
}

/// mincore(2) of a file mapping reports the file's pages in memory, touched here or not;
/// holes of a tmpfs file are not resident.
fn mincore_reports_file_pages_in_memory() -> Outcome {
    let fd = memfd_with(&[3u8; PAGE])?;
    check!(
        syscall!(libc::SYS_ftruncate, fd.raw(), 3 * PAGE),
        succeeds_with(0)
    );
    let ret = check!(
        mmap(3 * PAGE, libc::PROT_READ, libc::MAP_SHARED, &fd),
        succeeds()
    );
    let m = Mapping::adopt(ret, 3 * PAGE, libc::PROT_READ)?;
    let mut vec = [0xffu8; 3];
    check!(
        syscall!(libc::SYS_mincore, m.addr(), 3 * PAGE, vec.as_mut_ptr()),
        succeeds_with(0)
    );
    ensure_eq!(vec.map(|b| b & 1), [1, 0, 0]);
    Ok(())
}

/// mincore(2): the length is rounded up to whole pages.
fn mincore_rounds_length_up() -> Outcome {
    let mut m = Mapping::anonymous(2 * PAGE, RW)?;
    m.write(PAGE, b"x")?;
    let mut vec = [0xffu8; 3];
    check!(
        syscall!(libc::SYS_mincore, m.addr(), PAGE + 1, vec.as_mut_ptr()),
        succeeds_with(0)
    );
    ensure_eq!(vec, [0, 1, 0xff]);
    Ok(())
}

/// mincore(2): EINVAL "addr is not a multiple of the page size".
fn mincore_unaligned_address_fails_einval() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    let mut vec = [0u8; 1];
    check!(
        syscall!(libc::SYS_mincore, m.addr() + 1, 10usize, vec.as_mut_ptr()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// mincore(2): ENOMEM "addr to addr + length contained unmapped memory".
fn mincore_unmapped_range_fails_enomem() -> Outcome {
    let m = Mapping::anonymous(2 * PAGE, RW)?;
    check!(
        syscall!(libc::SYS_munmap, m.addr() + PAGE, PAGE),
        succeeds_with(0)
    );
    let mut vec = [0u8; 2];
    check!(
        syscall!(libc::SYS_mincore, m.addr(), 2 * PAGE, vec.as_mut_ptr()),
        fails_with(Errno::ENOMEM)
    );
    Ok(())
}

/// mincore(2): EFAULT "vec points to an invalid address".
fn mincore_bad_vector_fails_efault() -> Outcome {
    let m = Mapping::anonymous(PAGE, RW)?;
    check!(
        syscall!(libc::SYS_mincore, m.addr(), PAGE, syscall_tests::LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn lstat_path(p: &CStr) -> Result<libc::stat, String> {
    let mut st = syscall_tests::zeroed::<libc::stat>();
    check!(
        syscall!(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            p,
            std::ptr::addr_of_mut!(st),
            libc::AT_SYMLINK_NOFOLLOW
        ),
        succeeds()
    );
    Ok(st)
}

fn ts(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

fn creat_truncates_and_opens_write_only() -> Outcome {
    let f = TempFile::with_contents(b"old contents")?;
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_creat, f.path(), 0o600),
        succeeds()
    ))?;
    ensure_eq!(fstat(&fd)?.st_size, 0);
    let mut b = [0u8; 1];
    check!(
        syscall!(libc::SYS_read, fd.raw(), b.as_mut_ptr(), 1),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn utimensat_sets_both_times_with_nanoseconds() -> Outcome {
    let f = TempFile::new()?;
    let t = [ts(100, 1), ts(200, 2)];
    check!(
        syscall!(libc::SYS_utimensat, libc::AT_FDCWD, f.path(), t.as_ptr(), 0),
        succeeds()
    );
    let st = lstat_path(f.path())?;
    ensure_eq!((st.st_atime, st.st_atime_nsec), (100, 1));
    ensure_eq!((st.st_mtime, st.st_mtime_nsec), (200, 2));
    Ok(())
}

fn utimensat_omit_keeps_that_time() -> Outcome {
    let f = TempFile::new()?;
    let t = [ts(100, 0), ts(200, 0)];
    check!(
        syscall!(libc::SYS_utimensat, libc::AT_FDCWD, f.path(), t.as_ptr(), 0),
        succeeds()
    );
    let t2 = [ts(0, libc::UTIME_OMIT), ts(300, 0)];
    check!(
        syscall!(
            libc::SYS_utimensat,
            libc::AT_FDCWD,
            f.path(),
            t2.as_ptr(),
            0
        ),
        succeeds()
    );
    let st = lstat_path(f.path())?;
    ensure_eq!((st.st_atime, st.st_mtime), (100, 300));
    Ok(())
}

fn utimensat_null_times_means_now() -> Outcome {
    let f = TempFile::new()?;
    let t = [ts(100, 0), ts(200, 0)];
    check!(
        syscall!(libc::SYS_utimensat, libc::AT_FDCWD, f.path(), t.as_ptr(), 0),
        succeeds()
    );
    check!(
        syscall!(libc::SYS_utimensat, libc::AT_FDCWD, f.path(), 0usize, 0),
        succeeds()
    );
    let st = lstat_path(f.path())?;
    ensure!(
        st.st_mtime > 1_600_000_000,
        "mtime {} is not now",
        st.st_mtime
    );
    Ok(())
}

fn utimensat_null_path_changes_the_fd() -> Outcome {
    let f = TempFile::new()?;
    let fd = f.open(libc::O_RDWR)?;
    let t = [ts(5, 0), ts(6, 0)];
    check!(
        syscall!(libc::SYS_utimensat, fd.raw(), 0usize, t.as_ptr(), 0),
        succeeds()
    );
    ensure_eq!(fstat(&fd)?.st_mtime, 6);
    check!(
        syscall!(
            libc::SYS_utimensat,
            fd.raw(),
            0usize,
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn utimensat_nofollow_changes_the_symlink() -> Outcome {
    let dir = syscall_tests::TempDir::new()?;
    dir.create_file("target", b"x")?;
    let link = dir.join("link");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"target",
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let t = [ts(7, 0), ts(8, 0)];
    check!(
        syscall!(
            libc::SYS_utimensat,
            libc::AT_FDCWD,
            link.as_c_str(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW
        ),
        succeeds()
    );
    ensure_eq!(lstat_path(&link)?.st_mtime, 8);
    ensure!(
        lstat_path(&dir.join("target"))?.st_mtime != 8,
        "target changed"
    );
    Ok(())
}

fn utimensat_bad_nanoseconds_fail_einval() -> Outcome {
    let f = TempFile::new()?;
    let t = [ts(1, 1_000_000_000), ts(1, 0)];
    check!(
        syscall!(libc::SYS_utimensat, libc::AT_FDCWD, f.path(), t.as_ptr(), 0),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_utimensat, libc::AT_FDCWD, f.path(), 0usize, 0x4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn utimes_takes_microseconds() -> Outcome {
    let f = TempFile::new()?;
    let tv = [
        libc::timeval {
            tv_sec: 10,
            tv_usec: 3,
        },
        libc::timeval {
            tv_sec: 20,
            tv_usec: 4,
        },
    ];
    check!(
        syscall!(libc::SYS_utimes, f.path(), tv.as_ptr()),
        succeeds()
    );
    let st = lstat_path(f.path())?;
    ensure_eq!((st.st_mtime, st.st_mtime_nsec), (20, 4000));
    let bad = [
        libc::timeval {
            tv_sec: 1,
            tv_usec: 1_000_000,
        },
        libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        },
    ];
    check!(
        syscall!(libc::SYS_utimes, f.path(), bad.as_ptr()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn utime_takes_whole_seconds() -> Outcome {
    let f = TempFile::new()?;
    let buf: [i64; 2] = [30, 40];
    check!(
        syscall!(libc::SYS_utime, f.path(), buf.as_ptr()),
        succeeds()
    );
    let st = lstat_path(f.path())?;
    ensure_eq!((st.st_atime, st.st_mtime, st.st_mtime_nsec), (30, 40, 0));
    Ok(())
}

fn utimensat_missing_file_fails_enoent() -> Outcome {
    check!(
        syscall!(
            libc::SYS_utimensat,
            libc::AT_FDCWD,
            c"/nonexistent-dir/x",
            0usize,
            0
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn close_range_closes_the_range_only() -> Outcome {
    let a = Fd::open(c"/dev/null", libc::O_RDONLY, 0)?;
    let b = Fd::open(c"/dev/null", libc::O_RDONLY, 0)?;
    let c = Fd::open(c"/dev/null", libc::O_RDONLY, 0)?;
    let (ra, rb, rc) = (a.into_raw(), b.into_raw(), c.into_raw());
    check!(syscall!(libc::SYS_close_range, rb, rc, 0), succeeds());
    check!(syscall!(libc::SYS_fcntl, ra, libc::F_GETFD), succeeds());
    check!(
        syscall!(libc::SYS_fcntl, rb, libc::F_GETFD),
        fails_with(Errno::EBADF)
    );
    check!(
        syscall!(libc::SYS_fcntl, rc, libc::F_GETFD),
        fails_with(Errno::EBADF)
    );
    check!(syscall!(libc::SYS_close, ra), succeeds());
    Ok(())
}

fn close_range_cloexec_marks_instead_of_closing() -> Outcome {
    let a = Fd::open(c"/dev/null", libc::O_RDONLY, 0)?;
    check!(
        syscall!(libc::SYS_close_range, a.raw(), a.raw(), 1u32 << 2),
        succeeds()
    );
    check!(
        syscall!(libc::SYS_fcntl, a.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    Ok(())
}

fn close_range_bad_arguments_fail_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_close_range, 10, 5, 0),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_close_range, 1000, 1001, 0x80),
        fails_with(Errno::EINVAL)
    );
    // An empty range of unused numbers is fine.
    check!(
        syscall!(libc::SYS_close_range, 900_000, 900_010, 0),
        succeeds()
    );
    Ok(())
}

/// A tmpfs mounted on a fresh directory, unmounted (lazily) and removed on drop.
struct TmpMount {
    dir: syscall_tests::TempDir,
    mounted: bool,
}

impl TmpMount {
    fn new(options: &CStr) -> Result<TmpMount, String> {
        let dir = syscall_tests::TempDir::new()?;
        check!(
            syscall!(
                libc::SYS_mount,
                c"tmpfs",
                dir.path(),
                c"tmpfs",
                0usize,
                options.as_ptr()
            ),
            succeeds()
        );
        Ok(TmpMount { dir, mounted: true })
    }
}

impl Drop for TmpMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = syscall!(libc::SYS_umount2, self.dir.path(), libc::MNT_DETACH);
        }
    }
}

fn mount_tmpfs_size_limits_writes_enospc() -> Outcome {
    let m = TmpMount::new(c"size=64k")?;
    let path = m.dir.join("f");
    let fd = Fd::open(
        &path,
        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
        0o644,
    )?;
    let buf = [7u8; 16384];
    for _ in 0..4 {
        check!(
            syscall!(libc::SYS_write, fd.raw(), buf.as_ptr(), buf.len()),
            succeeds_with(16384)
        );
    }
    check!(
        syscall!(libc::SYS_write, fd.raw(), buf.as_ptr(), buf.len()),
        fails_with(Errno::ENOSPC)
    );
    // Freeing space makes room again.
    check!(syscall!(libc::SYS_ftruncate, fd.raw(), 0), succeeds());
    check!(
        syscall!(libc::SYS_write, fd.raw(), buf.as_ptr(), buf.len()),
        succeeds_with(16384)
    );
    Ok(())
}

fn mount_tmpfs_statfs_reports_the_size() -> Outcome {
    let m = TmpMount::new(c"size=1m")?;
    let mut st = syscall_tests::zeroed::<libc::statfs>();
    check!(
        syscall!(libc::SYS_statfs, m.dir.path(), std::ptr::addr_of_mut!(st)),
        succeeds()
    );
    ensure_eq!(st.f_type, 0x0102_1994);
    ensure_eq!(st.f_blocks * st.f_bsize as u64, 1 << 20);
    ensure_eq!(st.f_bfree, st.f_blocks);
    Ok(())
}

fn mount_tmpfs_mode_and_owner_options() -> Outcome {
    let m = TmpMount::new(c"mode=710,uid=123,gid=456")?;
    let st = lstat_path(m.dir.path())?;
    ensure_eq!(st.st_mode & 0o7777, 0o710);
    ensure_eq!((st.st_uid, st.st_gid), (123, 456));
    Ok(())
}

fn mount_unknown_type_fails_enodev() -> Outcome {
    let dir = syscall_tests::TempDir::new()?;
    check!(
        syscall!(
            libc::SYS_mount,
            c"none",
            dir.path(),
            c"rvisor-no-such-fs",
            0usize,
            0usize
        ),
        fails_with(Errno::ENODEV)
    );
    Ok(())
}

fn mount_tmpfs_bad_option_fails_einval() -> Outcome {
    let dir = syscall_tests::TempDir::new()?;
    check!(
        syscall!(
            libc::SYS_mount,
            c"tmpfs",
            dir.path(),
            c"tmpfs",
            0usize,
            c"size=12q".as_ptr()
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn umount_of_a_plain_directory_fails_einval() -> Outcome {
    let dir = syscall_tests::TempDir::new()?;
    check!(
        syscall!(libc::SYS_umount2, dir.path(), 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn umount_removes_the_mount_and_its_files() -> Outcome {
    let mut m = TmpMount::new(c"")?;
    m.dir.create_file("inside", b"x")?;
    check!(syscall!(libc::SYS_umount2, m.dir.path(), 0), succeeds());
    m.mounted = false;
    check!(
        syscall!(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            m.dir.join("inside").as_c_str(),
            libc::F_OK
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn mount_propagation_change_on_a_mount_point_succeeds() -> Outcome {
    let m = TmpMount::new(c"")?;
    check!(
        syscall!(
            libc::SYS_mount,
            0usize,
            m.dir.path(),
            0usize,
            libc::MS_PRIVATE,
            0usize
        ),
        succeeds()
    );
    Ok(())
}

fn mount_without_cap_sys_admin_fails_eperm() -> Outcome {
    // No directory of its own: the unprivileged child could not remove it afterwards.
    syscall_tests::task::fork_and_check(|| {
        check!(syscall!(libc::SYS_setresuid, 1000, 1000, 1000), succeeds());
        check!(
            syscall!(libc::SYS_mount, c"tmpfs", c"/tmp", c"tmpfs", 0usize, 0usize),
            fails_with(Errno::EPERM)
        );
        check!(
            syscall!(libc::SYS_umount2, c"/proc", 0),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

fn main() -> ExitCode {
    run_tests(tests![
        memfd_create_gives_empty_unlinked_regular_file,
        memfd_write_then_read_back,
        memfd_proc_fd_link_is_memfd_name_deleted,
        memfd_cloexec_sets_fd_flag,
        memfd_unknown_flag_fails_einval,
        memfd_name_longer_than_249_fails_einval,
        memfd_exec_with_noexec_seal_fails_einval,
        memfd_bad_name_pointer_fails_efault,
        memfd_shared_mapping_is_shared_with_fork_child,
        memfd_write_is_visible_through_shared_mapping,
        memfd_without_allow_sealing_has_seal_seal,
        memfd_allow_sealing_starts_with_no_seals,
        memfd_noexec_seal_sets_seal_exec_and_clears_exec_bits,
        seal_exec_refuses_chmod_of_exec_bits,
        memfd_mapping_is_named_in_proc_maps,
        seal_write_refuses_write_eperm,
        seal_write_refuses_writable_shared_mmap,
        seal_write_with_writable_shared_mapping_fails_ebusy,
        seal_future_write_refuses_write_eperm,
        seal_shrink_refuses_shrinking_truncate,
        seal_grow_refuses_growth,
        seal_seal_refuses_further_seals,
        seal_exec_on_executable_memfd_implies_write_seals,
        add_seals_on_read_only_fd_fails_eperm,
        add_unknown_seal_fails_einval,
        get_seals_on_regular_file_fails_einval,
        fallocate_extends_size,
        fallocate_keep_size_keeps_size_and_allocates,
        fallocate_punch_hole_reads_zeros,
        fallocate_punch_hole_is_seen_through_shared_mapping,
        fallocate_punch_hole_without_keep_size_fails_eopnotsupp,
        fallocate_bad_offset_or_length_fails_einval,
        fallocate_past_max_offset_fails_efbig,
        fallocate_on_pipe_fails_espipe,
        fallocate_on_read_only_fd_fails_ebadf,
        fallocate_on_read_only_root_file_fails_ebadf,
        fallocate_zero_range_on_memfd_fails_eopnotsupp,
        fallocate_respects_seals,
        seek_hole_finds_hole_after_data,
        seek_data_skips_hole,
        seek_hole_in_last_data_returns_next_hole_or_eof,
        seek_data_hole_past_data_or_eof_fail_enxio,
        seek_hole_sees_punched_page,
        pwritev_preadv_round_trip_without_moving_offset,
        preadv_negative_offset_fails_einval,
        preadv_on_pipe_fails_espipe,
        preadv2_offset_minus_one_uses_file_offset,
        pwritev2_sync_flags_succeed,
        pwritev2_unknown_flag_fails_eopnotsupp,
        preadv2_nowait_on_empty_pipe_fails_eagain,
        pwritev2_append_writes_at_end,
        sendfile_with_offset_updates_pointer_only,
        sendfile_without_offset_advances_file_offset,
        sendfile_to_append_fd_fails_einval,
        sendfile_wrong_access_modes_fail_ebadf,
        sendfile_from_pipe_fails_einval,
        copy_file_range_copies_between_memfds,
        copy_file_range_uses_file_offsets_without_pointers,
        copy_file_range_overlapping_same_file_fails_einval,
        copy_file_range_nonzero_flags_fail_einval,
        copy_file_range_from_directory_fails_eisdir,
        copy_file_range_across_filesystems_fails_exdev,
        fadvise_valid_advice_succeeds,
        fadvise_unknown_advice_fails_einval,
        fadvise_on_pipe_fails_espipe,
        fadvise_bad_fd_fails_ebadf,
        mincore_reports_touched_anonymous_pages,
        mincore_counts_read_only_touched_page,
        mincore_reports_file_pages_in_memory,
        mincore_rounds_length_up,
        mincore_unaligned_address_fails_einval,
        mincore_unmapped_range_fails_enomem,
        mincore_bad_vector_fails_efault,
        creat_truncates_and_opens_write_only,
        utimensat_sets_both_times_with_nanoseconds,
        utimensat_omit_keeps_that_time,
        utimensat_null_times_means_now,
        utimensat_null_path_changes_the_fd,
        utimensat_nofollow_changes_the_symlink,
        utimensat_bad_nanoseconds_fail_einval,
        utimes_takes_microseconds,
        utime_takes_whole_seconds,
        utimensat_missing_file_fails_enoent,
        close_range_closes_the_range_only,
        close_range_cloexec_marks_instead_of_closing,
        close_range_bad_arguments_fail_einval,
        mount_tmpfs_size_limits_writes_enospc,
        mount_tmpfs_statfs_reports_the_size,
        mount_tmpfs_mode_and_owner_options,
        mount_unknown_type_fails_enodev,
        mount_tmpfs_bad_option_fails_einval,
        umount_of_a_plain_directory_fails_einval,
        umount_removes_the_mount_and_its_files,
        mount_propagation_change_on_a_mount_point_succeeds,
        mount_without_cap_sys_admin_fails_eperm,
    ])
}
