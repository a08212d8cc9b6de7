//! File-system syscalls: open/read/write and friends, offsets, vectored I/O, directory listing,
//! stat family, links, fcntl/dup, the working directory, and the devfs devices.
//!
//! Files are created under /tmp (the sandbox's tmpfs) with RAII fixtures; host files are only
//! read, and asserted by invariants any Debian system satisfies (/etc/passwd starts "root:").
#![deny(unsafe_code)]

use std::ffi::CStr;
use std::process::ExitCode;

use syscall_tests::libc::{self, c_int};
use syscall_tests::{
    CwdGuard, Errno, Fd, KERNEL_ADDR, LOW_ADDR, Mapping, Outcome, TempDir, TempFile, check,
    cstring, ensure, ensure_eq, fails_with, run_tests, succeeds, succeeds_with, syscall, tests,
    with_junk_upper_bits, zeroed,
};

const RDONLY: c_int = libc::O_RDONLY | libc::O_CLOEXEC;
const RDWR: c_int = libc::O_RDWR | libc::O_CLOEXEC;
/// A descriptor number no test opens: below RLIMIT_NOFILE's hard maximum is not needed, the
/// kernel answers EBADF for any unused number.
const UNUSED_FD: c_int = 0x7fff_0000;

fn open_at(path: &CStr, flags: c_int, mode: u32) -> i64 {
    syscall!(libc::SYS_openat, libc::AT_FDCWD, path, flags, mode)
}

fn fstat(fd: &Fd) -> Result<libc::stat, String> {
    let mut st: libc::stat = zeroed();
    check!(syscall!(libc::SYS_fstat, fd.raw(), &raw mut st), succeeds());
    Ok(st)
}

fn lseek(fd: &Fd, off: i64, whence: c_int) -> i64 {
    syscall!(libc::SYS_lseek, fd.raw(), off, whence)
}

fn file_type(mode: u32) -> u32 {
    mode & libc::S_IFMT
}

// ---------------------------------------------------------------- open

/// open(2): ENOENT "O_CREAT is not set and the named file does not exist".
fn open_missing_file_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        open_at(&dir.join("missing"), RDONLY, 0),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn open_creat_then_write_read_round_trips() -> Outcome {
    let dir = TempDir::new()?;
    let path = dir.join("f");
    let fd = Fd::from_ret(check!(
        open_at(&path, RDWR | libc::O_CREAT, 0o600),
        succeeds()
    ))?;
    fd.write_all(b"round trip")?;
    check!(lseek(&fd, 0, libc::SEEK_SET), succeeds_with(0));
    ensure_eq!(fd.read_up_to(64)?, b"round trip".to_vec());
    Ok(())
}

/// open(2): EEXIST "pathname already exists and O_CREAT and O_EXCL were used".
fn open_o_excl_existing_fails_eexist() -> Outcome {
    let file = TempFile::new()?;
    check!(
        open_at(file.path(), RDWR | libc::O_CREAT | libc::O_EXCL, 0o600),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn open_o_trunc_empties_file() -> Outcome {
    let file = TempFile::with_contents(b"some data")?;
    let fd = file.open(libc::O_RDWR | libc::O_TRUNC)?;
    ensure_eq!(fstat(&fd)?.st_size, 0);
    Ok(())
}

fn open_o_creat_applies_mode() -> Outcome {
    let dir = TempDir::new()?;
    let fd = Fd::from_ret(check!(
        open_at(&dir.join("m"), RDWR | libc::O_CREAT, 0o644),
        succeeds()
    ))?;
    // 0644 is left intact by the umasks runtimes use (0 or 022); umask(2) is not among the
    // sandbox's syscalls, so the test cannot pin it.
    ensure_eq!(fstat(&fd)?.st_mode & 0o7777, 0o644);
    Ok(())
}

/// open(2): ENOTDIR "O_DIRECTORY was specified and pathname was not a directory".
fn open_o_directory_on_file_fails_enotdir() -> Outcome {
    let file = TempFile::new()?;
    check!(
        open_at(file.path(), RDONLY | libc::O_DIRECTORY, 0),
        fails_with(Errno::ENOTDIR)
    );
    Ok(())
}

/// open(2): EISDIR "pathname refers to a directory and the access requested involved writing".
fn open_directory_for_writing_fails_eisdir() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        open_at(dir.path(), libc::O_WRONLY | libc::O_CLOEXEC, 0),
        fails_with(Errno::EISDIR)
    );
    Ok(())
}

/// path_resolution(7): a non-final component that is a file gives ENOTDIR.
fn open_through_file_component_fails_enotdir() -> Outcome {
    let file = TempFile::new()?;
    let path = cstring(&format!("{}/x", file.path().to_string_lossy()));
    check!(open_at(&path, RDONLY, 0), fails_with(Errno::ENOTDIR));
    Ok(())
}

/// open(2): ENAMETOOLONG; a component longer than NAME_MAX (255).
fn open_component_longer_than_name_max_fails_enametoolong() -> Outcome {
    let path = cstring(&format!("/tmp/{}", "a".repeat(256)));
    check!(open_at(&path, RDONLY, 0), fails_with(Errno::ENAMETOOLONG));
    Ok(())
}

/// open(2): ENAMETOOLONG; a path longer than PATH_MAX (4096 with the NUL).
fn open_path_longer_than_path_max_fails_enametoolong() -> Outcome {
    let path = cstring(&"/".repeat(5000));
    check!(open_at(&path, RDONLY, 0), fails_with(Errno::ENAMETOOLONG));
    Ok(())
}

/// open(2): ELOOP "too many symbolic links were encountered".
fn open_symlink_loop_fails_eloop() -> Outcome {
    let dir = TempDir::new()?;
    let (a, b) = (dir.join("a"), dir.join("b"));
    check!(
        syscall!(
            libc::SYS_symlinkat,
            b.as_c_str(),
            libc::AT_FDCWD,
            a.as_c_str()
        ),
        succeeds()
    );
    check!(
        syscall!(
            libc::SYS_symlinkat,
            a.as_c_str(),
            libc::AT_FDCWD,
            b.as_c_str()
        ),
        succeeds()
    );
    check!(open_at(&a, RDONLY, 0), fails_with(Errno::ELOOP));
    Ok(())
}

/// open(2): ELOOP "O_NOFOLLOW was specified and the trailing component is a symbolic link".
fn open_o_nofollow_on_symlink_fails_eloop() -> Outcome {
    let file = TempFile::new()?;
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            file.path(),
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    check!(
        open_at(&link, RDONLY | libc::O_NOFOLLOW, 0),
        fails_with(Errno::ELOOP)
    );
    Ok(())
}

fn open_follows_symlink_to_target() -> Outcome {
    let file = TempFile::with_contents(b"target")?;
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            file.path(),
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let fd = Fd::from_ret(check!(open_at(&link, RDONLY, 0), succeeds()))?;
    ensure_eq!(fd.read_up_to(16)?, b"target".to_vec());
    Ok(())
}

fn open_pathname_at_address_one_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_openat, libc::AT_FDCWD, LOW_ADDR, RDONLY, 0),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn open_pathname_at_kernel_address_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_openat, libc::AT_FDCWD, KERNEL_ADDR, RDONLY, 0),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn open_empty_path_fails_enoent() -> Outcome {
    check!(open_at(c"", RDONLY, 0), fails_with(Errno::ENOENT));
    Ok(())
}

/// The legacy open(2) syscall (number 2) behaves as openat(AT_FDCWD, ...).
fn legacy_open_reads_same_file() -> Outcome {
    let file = TempFile::with_contents(b"legacy")?;
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_open, file.path(), RDONLY, 0),
        succeeds()
    ))?;
    ensure_eq!(fd.read_up_to(16)?, b"legacy".to_vec());
    Ok(())
}

fn openat_relative_to_dirfd_finds_file() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("inner", b"inside")?;
    let dfd = dir.open()?;
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_openat, dfd.raw(), c"inner", RDONLY, 0),
        succeeds()
    ))?;
    ensure_eq!(fd.read_up_to(16)?, b"inside".to_vec());
    Ok(())
}

/// openat(2): ENOTDIR "pathname is relative and dirfd is a file descriptor referring to a file
/// other than a directory".
fn openat_relative_to_file_dirfd_fails_enotdir() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_openat, fd.raw(), c"x", RDONLY, 0),
        fails_with(Errno::ENOTDIR)
    );
    Ok(())
}

fn openat_relative_to_closed_dirfd_fails_ebadf() -> Outcome {
    check!(
        syscall!(libc::SYS_openat, UNUSED_FD, c"x", RDONLY, 0),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// openat(2): "If pathname is absolute, then dirfd is ignored."
fn openat_absolute_path_ignores_bad_dirfd() -> Outcome {
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_openat, UNUSED_FD, c"/etc/passwd", RDONLY, 0),
        succeeds()
    ))?;
    ensure_eq!(fd.read_up_to(5)?, b"root:".to_vec());
    Ok(())
}

fn open_lowest_free_descriptor_is_returned() -> Outcome {
    let file = TempFile::new()?;
    let a = file.open(libc::O_RDONLY)?;
    let b = file.open(libc::O_RDONLY)?;
    let freed = a.raw();
    drop(a);
    let c = file.open(libc::O_RDONLY)?;
    ensure_eq!(c.raw(), freed);
    ensure!(b.raw() != c.raw(), "distinct descriptors");
    Ok(())
}

// ---------------------------------------------------------------- read / write

fn read_closed_fd_fails_ebadf() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?.into_raw();
    check!(syscall!(libc::SYS_close, fd), succeeds_with(0));
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn read_huge_fd_fails_ebadf() -> Outcome {
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, UNUSED_FD, buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn read_negative_fd_fails_ebadf() -> Outcome {
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, -1, buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// read(2): EBADF "fd is not a valid file descriptor or is not open for reading".
fn read_write_only_fd_fails_ebadf() -> Outcome {
    let file = TempFile::with_contents(b"x")?;
    let fd = file.open(libc::O_WRONLY)?;
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn write_read_only_fd_fails_ebadf() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_write, fd.raw(), b"x".as_ptr(), 1),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn read_into_address_one_fails_efault() -> Outcome {
    let file = TempFile::with_contents(b"data")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_read, fd.raw(), LOW_ADDR, 4),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn read_into_kernel_address_fails_efault() -> Outcome {
    let file = TempFile::with_contents(b"data")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_read, fd.raw(), KERNEL_ADDR, 4),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn write_from_address_one_fails_efault() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_WRONLY)?;
    check!(
        syscall!(libc::SYS_write, fd.raw(), LOW_ADDR, 4),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn write_from_kernel_address_fails_efault() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_WRONLY)?;
    check!(
        syscall!(libc::SYS_write, fd.raw(), KERNEL_ADDR, 4),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn read_zero_bytes_returns_zero() -> Outcome {
    let file = TempFile::with_contents(b"data")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut buf = [0u8; 1];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), 0),
        succeeds_with(0)
    );
    Ok(())
}

fn read_at_eof_returns_zero() -> Outcome {
    let file = TempFile::with_contents(b"ab")?;
    let fd = file.open(libc::O_RDONLY)?;
    ensure_eq!(fd.read_up_to(8)?, b"ab".to_vec());
    let mut buf = [0u8; 8];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds_with(0)
    );
    Ok(())
}

/// write(2) then read(2) on /tmp advance one shared offset.
fn write_advances_file_offset() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDWR)?;
    fd.write_all(b"12345")?;
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(5));
    Ok(())
}

/// open(2) O_APPEND: "Before each write(2), the file offset is positioned at the end of the
/// file, as if with lseek(2)."
fn write_o_append_goes_to_end_after_seek() -> Outcome {
    let file = TempFile::with_contents(b"head")?;
    let fd = file.open(libc::O_RDWR | libc::O_APPEND)?;
    check!(lseek(&fd, 0, libc::SEEK_SET), succeeds_with(0));
    fd.write_all(b"tail")?;
    check!(lseek(&fd, 0, libc::SEEK_SET), succeeds_with(0));
    ensure_eq!(fd.read_up_to(64)?, b"headtail".to_vec());
    Ok(())
}

fn read_fd_upper_bits_are_ignored() -> Outcome {
    let file = TempFile::with_contents(b"x")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut buf = [0u8; 1];
    // read(2) takes `unsigned int fd`: the upper half of the register is not part of it.
    check!(
        syscall!(
            libc::SYS_read,
            with_junk_upper_bits(fd.raw()),
            buf.as_mut_ptr(),
            1
        ),
        succeeds_with(1)
    );
    ensure_eq!(buf, *b"x");
    Ok(())
}

fn write_fd_upper_bits_are_ignored() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDWR)?;
    check!(
        syscall!(
            libc::SYS_write,
            with_junk_upper_bits(fd.raw()),
            b"y".as_ptr(),
            1
        ),
        succeeds_with(1)
    );
    ensure_eq!(fstat(&fd)?.st_size, 1);
    Ok(())
}

fn close_fd_upper_bits_are_ignored() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?.into_raw();
    check!(
        syscall!(libc::SYS_close, with_junk_upper_bits(fd)),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_fcntl, fd, libc::F_GETFD),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn fstat_fd_upper_bits_are_ignored() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_fstat, with_junk_upper_bits(fd.raw()), &raw mut st),
        succeeds_with(0)
    );
    ensure_eq!(st.st_size, 3);
    Ok(())
}

fn lseek_fd_upper_bits_are_ignored() -> Outcome {
    let file = TempFile::with_contents(b"abcdef")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(
            libc::SYS_lseek,
            with_junk_upper_bits(fd.raw()),
            0,
            libc::SEEK_END
        ),
        succeeds_with(6)
    );
    Ok(())
}

fn dup_fd_upper_bits_are_ignored() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    let dup = Fd::from_ret(check!(
        syscall!(libc::SYS_dup, with_junk_upper_bits(fd.raw())),
        succeeds()
    ))?;
    ensure_eq!(fstat(&dup)?.st_ino, fstat(&fd)?.st_ino);
    Ok(())
}

fn close_twice_fails_ebadf() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?.into_raw();
    check!(syscall!(libc::SYS_close, fd), succeeds_with(0));
    check!(syscall!(libc::SYS_close, fd), fails_with(Errno::EBADF));
    Ok(())
}

// ---------------------------------------------------------------- lseek / pread / pwrite

fn lseek_seek_end_returns_size() -> Outcome {
    let file = TempFile::with_contents(b"0123456789")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(lseek(&fd, 0, libc::SEEK_END), succeeds_with(10));
    Ok(())
}

fn lseek_seek_cur_is_relative() -> Outcome {
    let file = TempFile::with_contents(b"0123456789")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(lseek(&fd, 3, libc::SEEK_SET), succeeds_with(3));
    check!(lseek(&fd, 4, libc::SEEK_CUR), succeeds_with(7));
    ensure_eq!(fd.read_up_to(8)?, b"789".to_vec());
    Ok(())
}

/// lseek(2): "allows the file offset to be set beyond the end of the file"; reads there see
/// end of file.
fn lseek_past_eof_then_read_returns_zero() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(lseek(&fd, 100, libc::SEEK_END), succeeds_with(103));
    ensure_eq!(fd.read_up_to(8)?, Vec::<u8>::new());
    Ok(())
}

/// lseek(2): "If data is later written at this point, subsequent reads of the data in the gap
/// (a "hole") return null bytes".
fn write_past_eof_leaves_zero_filled_hole() -> Outcome {
    let file = TempFile::with_contents(b"ab")?;
    let fd = file.open(libc::O_RDWR)?;
    check!(lseek(&fd, 2, libc::SEEK_CUR), succeeds_with(2));
    check!(lseek(&fd, 3, libc::SEEK_CUR), succeeds_with(5));
    fd.write_all(b"z")?;
    check!(lseek(&fd, 0, libc::SEEK_SET), succeeds_with(0));
    ensure_eq!(fd.read_up_to(16)?, b"ab\0\0\0z".to_vec());
    Ok(())
}

/// lseek(2): EINVAL "whence is not valid".
fn lseek_bad_whence_fails_einval() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(lseek(&fd, 0, 7), fails_with(Errno::EINVAL));
    Ok(())
}

/// lseek(2): EINVAL "the resulting file offset would be negative".
fn lseek_negative_result_fails_einval() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(lseek(&fd, -10, libc::SEEK_CUR), fails_with(Errno::EINVAL));
    Ok(())
}

fn lseek_closed_fd_fails_ebadf() -> Outcome {
    check!(
        syscall!(libc::SYS_lseek, UNUSED_FD, 0, libc::SEEK_SET),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// pread(2): "The file offset is not changed."
fn pread_does_not_move_offset() -> Outcome {
    let file = TempFile::with_contents(b"0123456789")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut buf = [0u8; 3];
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 3, 5),
        succeeds_with(3)
    );
    ensure_eq!(buf, *b"567");
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(0));
    Ok(())
}

fn pwrite_does_not_move_offset() -> Outcome {
    let file = TempFile::with_contents(b"0123456789")?;
    let fd = file.open(libc::O_RDWR)?;
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"xy".as_ptr(), 2, 4),
        succeeds_with(2)
    );
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(0));
    ensure_eq!(fd.read_up_to(16)?, b"0123xy6789".to_vec());
    Ok(())
}

/// pread(2): EINVAL for a negative offset.
fn pread_negative_offset_fails_einval() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut buf = [0u8; 1];
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 1, -1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn pread_past_eof_returns_zero() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 4, 100),
        succeeds_with(0)
    );
    Ok(())
}

// ---------------------------------------------------------------- readv / writev

fn writev_gathers_several_iovecs() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDWR)?;
    let parts: [&[u8]; 3] = [b"one-", b"", b"two-three"];
    let iov = parts.map(|p| libc::iovec {
        iov_base: p.as_ptr().cast_mut().cast(),
        iov_len: p.len(),
    });
    check!(
        syscall!(libc::SYS_writev, fd.raw(), iov.as_ptr(), iov.len()),
        succeeds_with(13)
    );
    check!(lseek(&fd, 0, libc::SEEK_SET), succeeds_with(0));
    ensure_eq!(fd.read_up_to(32)?, b"one-two-three".to_vec());
    Ok(())
}

fn readv_scatters_into_several_iovecs() -> Outcome {
    let file = TempFile::with_contents(b"abcdefgh")?;
    let fd = file.open(libc::O_RDONLY)?;
    let (mut a, mut b, mut c) = ([0u8; 2], [0u8; 3], [0u8; 8]);
    let iov = [
        libc::iovec {
            iov_base: a.as_mut_ptr().cast(),
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        },
        libc::iovec {
            iov_base: c.as_mut_ptr().cast(),
            iov_len: c.len(),
        },
    ];
    check!(
        syscall!(libc::SYS_readv, fd.raw(), iov.as_ptr(), iov.len()),
        succeeds_with(8)
    );
    ensure_eq!(a, *b"ab");
    ensure_eq!(b, *b"cde");
    ensure_eq!(c[..3], *b"fgh");
    Ok(())
}

/// readv(2): EINVAL "The vector count, iovcnt, is less than zero or greater than the
/// permitted maximum" (IOV_MAX = 1024).
fn readv_too_many_iovecs_fails_einval() -> Outcome {
    let file = TempFile::with_contents(b"abc")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut byte = [0u8; 1];
    let iov = vec![
        libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 0,
        };
        1025
    ];
    check!(
        syscall!(libc::SYS_readv, fd.raw(), iov.as_ptr(), iov.len()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn writev_iovec_array_at_bad_address_fails_efault() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_WRONLY)?;
    check!(
        syscall!(libc::SYS_writev, fd.raw(), LOW_ADDR, 2),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

// ---------------------------------------------------------------- getdents64

/// Decodes `struct linux_dirent64` records (getdents64(2)) into names.
fn dirent_names(buf: &[u8]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        let reclen = buf
            .get(off + 16..off + 18)
            .map(|b| usize::from(u16::from_ne_bytes([b[0], b[1]])))
            .ok_or("truncated dirent header")?;
        let rec = buf
            .get(off..off + reclen)
            .filter(|_| reclen > 19)
            .ok_or("bad d_reclen")?;
        let name = rec.get(19..).ok_or("no name")?;
        let end = name
            .iter()
            .position(|b| *b == 0)
            .ok_or("unterminated name")?;
        names.push(String::from_utf8_lossy(name.get(..end).unwrap_or_default()).into_owned());
        off += reclen;
    }
    Ok(names)
}

fn getdents64_lists_dot_dotdot_and_created_entries() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("alpha", b"")?;
    dir.create_file("beta", b"")?;
    check!(
        syscall!(
            libc::SYS_mkdirat,
            libc::AT_FDCWD,
            dir.join("gamma").as_c_str(),
            0o755
        ),
        succeeds()
    );
    let fd = dir.open()?;
    let mut buf = vec![0u8; 4096];
    let n = check!(
        syscall!(libc::SYS_getdents64, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds()
    );
    buf.truncate(usize::try_from(n).map_err(|e| e.to_string())?);
    let mut names = dirent_names(&buf)?;
    names.sort();
    ensure_eq!(names, vec![".", "..", "alpha", "beta", "gamma"]);
    Ok(())
}

fn getdents64_at_end_returns_zero() -> Outcome {
    let dir = TempDir::new()?;
    let fd = dir.open()?;
    let mut buf = vec![0u8; 4096];
    check!(
        syscall!(libc::SYS_getdents64, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds()
    );
    check!(
        syscall!(libc::SYS_getdents64, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds_with(0)
    );
    Ok(())
}

/// getdents(2): ENOTDIR "File descriptor does not refer to a directory".
fn getdents64_on_file_fails_enotdir() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut buf = vec![0u8; 256];
    check!(
        syscall!(libc::SYS_getdents64, fd.raw(), buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::ENOTDIR)
    );
    Ok(())
}

/// getdents(2): EINVAL "Result buffer is too small".
fn getdents64_tiny_buffer_fails_einval() -> Outcome {
    let dir = TempDir::new()?;
    let fd = dir.open()?;
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_getdents64, fd.raw(), buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

// ---------------------------------------------------------------- stat family

fn fstat_reports_size_and_regular_mode() -> Outcome {
    let file = TempFile::with_contents(b"12345678")?;
    let fd = file.open(libc::O_RDONLY)?;
    let st = fstat(&fd)?;
    ensure_eq!(st.st_size, 8);
    ensure_eq!(file_type(st.st_mode), libc::S_IFREG);
    ensure_eq!(st.st_nlink, 1);
    Ok(())
}

fn fstat_directory_reports_dir_mode() -> Outcome {
    let dir = TempDir::new()?;
    let fd = dir.open()?;
    ensure_eq!(file_type(fstat(&fd)?.st_mode), libc::S_IFDIR);
    Ok(())
}

fn fstat_closed_fd_fails_ebadf() -> Outcome {
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_fstat, UNUSED_FD, &raw mut st),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn fstat_bad_buffer_fails_efault() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_fstat, fd.raw(), LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn newfstatat_symlink_nofollow_reports_link() -> Outcome {
    let file = TempFile::with_contents(b"0123456789")?;
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            file.path(),
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            link.as_c_str(),
            &raw mut st,
            libc::AT_SYMLINK_NOFOLLOW
        ),
        succeeds_with(0)
    );
    ensure_eq!(file_type(st.st_mode), libc::S_IFLNK);
    // A symlink's size is the length of its target (inode(7): st_size).
    ensure_eq!(
        st.st_size,
        i64::try_from(file.path().to_bytes().len()).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn newfstatat_follows_symlink_by_default() -> Outcome {
    let file = TempFile::with_contents(b"0123456789")?;
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            file.path(),
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            link.as_c_str(),
            &raw mut st,
            0
        ),
        succeeds_with(0)
    );
    ensure_eq!(file_type(st.st_mode), libc::S_IFREG);
    ensure_eq!(st.st_size, 10);
    Ok(())
}

/// fstatat(2): AT_EMPTY_PATH with "" operates on dirfd itself.
fn newfstatat_empty_path_stats_dirfd() -> Outcome {
    let file = TempFile::with_contents(b"abcd")?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(
            libc::SYS_newfstatat,
            fd.raw(),
            c"",
            &raw mut st,
            libc::AT_EMPTY_PATH
        ),
        succeeds_with(0)
    );
    ensure_eq!(st.st_size, 4);
    Ok(())
}

/// fstatat(2): EINVAL "Invalid flag specified in flags".
fn newfstatat_unknown_flag_fails_einval() -> Outcome {
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            c"/tmp",
            &raw mut st,
            0x0001
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn stat_missing_path_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_stat, dir.join("nope").as_c_str(), &raw mut st),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn stat_tmp_is_directory() -> Outcome {
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_stat, c"/tmp", &raw mut st),
        succeeds_with(0)
    );
    ensure_eq!(file_type(st.st_mode), libc::S_IFDIR);
    Ok(())
}

fn lstat_reports_symlink() -> Outcome {
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"/nonexistent",
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_lstat, link.as_c_str(), &raw mut st),
        succeeds_with(0)
    );
    ensure_eq!(file_type(st.st_mode), libc::S_IFLNK);
    Ok(())
}

fn stat_dangling_symlink_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"/nonexistent",
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_stat, link.as_c_str(), &raw mut st),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn statx_reports_size_and_mode() -> Outcome {
    let file = TempFile::with_contents(b"statx!")?;
    let mut stx: libc::statx = zeroed();
    check!(
        syscall!(
            libc::SYS_statx,
            libc::AT_FDCWD,
            file.path(),
            0,
            libc::STATX_BASIC_STATS,
            &raw mut stx
        ),
        succeeds_with(0)
    );
    ensure_eq!(stx.stx_size, 6);
    ensure_eq!(u32::from(stx.stx_mode) & libc::S_IFMT, libc::S_IFREG);
    ensure!(
        stx.stx_mask & (libc::STATX_SIZE | libc::STATX_MODE)
            == (libc::STATX_SIZE | libc::STATX_MODE),
        "mask {:#x}",
        stx.stx_mask
    );
    Ok(())
}

/// statx(2): EINVAL "Reserved flag specified in mask" (STATX__RESERVED = 0x80000000).
fn statx_reserved_mask_fails_einval() -> Outcome {
    let mut stx: libc::statx = zeroed();
    check!(
        syscall!(
            libc::SYS_statx,
            libc::AT_FDCWD,
            c"/tmp",
            0,
            0x8000_0000_u32,
            &raw mut stx
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn fstat_dev_null_is_char_device() -> Outcome {
    let fd = Fd::open(c"/dev/null", RDONLY, 0)?;
    ensure_eq!(file_type(fstat(&fd)?.st_mode), libc::S_IFCHR);
    Ok(())
}

// ---------------------------------------------------------------- readlink / access

fn readlinkat_returns_symlink_target() -> Outcome {
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"some/target",
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let mut buf = [0u8; 64];
    // readlink(2) does not append a NUL and returns the byte count.
    check!(
        syscall!(
            libc::SYS_readlinkat,
            libc::AT_FDCWD,
            link.as_c_str(),
            buf.as_mut_ptr(),
            buf.len()
        ),
        succeeds_with(11)
    );
    ensure_eq!(buf[..11], *b"some/target");
    Ok(())
}

/// readlink(2): "If the buffer is too small to hold all of the contents, readlink() truncates".
fn readlink_truncates_to_buffer_size() -> Outcome {
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"abcdef",
            libc::AT_FDCWD,
            link.as_c_str()
        ),
        succeeds()
    );
    let mut buf = [0u8; 3];
    check!(
        syscall!(
            libc::SYS_readlink,
            link.as_c_str(),
            buf.as_mut_ptr(),
            buf.len()
        ),
        succeeds_with(3)
    );
    ensure_eq!(buf, *b"abc");
    Ok(())
}

/// readlink(2): EINVAL "The named file is not a symbolic link".
fn readlinkat_on_regular_file_fails_einval() -> Outcome {
    let file = TempFile::new()?;
    let mut buf = [0u8; 16];
    check!(
        syscall!(
            libc::SYS_readlinkat,
            libc::AT_FDCWD,
            file.path(),
            buf.as_mut_ptr(),
            buf.len()
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// readlink(2): EINVAL "bufsiz is not positive".
fn readlink_zero_size_fails_einval() -> Outcome {
    let dir = TempDir::new()?;
    let link = dir.join("l");
    check!(
        syscall!(libc::SYS_symlinkat, c"t", libc::AT_FDCWD, link.as_c_str()),
        succeeds()
    );
    let mut buf = [0u8; 1];
    check!(
        syscall!(libc::SYS_readlink, link.as_c_str(), buf.as_mut_ptr(), 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn faccessat_existing_file_succeeds() -> Outcome {
    let file = TempFile::new()?;
    check!(
        syscall!(libc::SYS_faccessat, libc::AT_FDCWD, file.path(), libc::F_OK),
        succeeds_with(0)
    );
    check!(
        syscall!(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            file.path(),
            libc::R_OK | libc::W_OK
        ),
        succeeds_with(0)
    );
    Ok(())
}

fn faccessat_missing_file_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        syscall!(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            dir.join("missing").as_c_str(),
            libc::F_OK
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// access(2): EINVAL "mode was incorrectly specified".
fn access_bad_mode_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_access, c"/tmp", 0o10),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn faccessat2_existing_file_succeeds() -> Outcome {
    let file = TempFile::new()?;
    check!(
        syscall!(
            libc::SYS_faccessat2,
            libc::AT_FDCWD,
            file.path(),
            libc::R_OK,
            libc::AT_EACCESS
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// faccessat2: EINVAL for flags outside AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH.
fn faccessat2_unknown_flag_fails_einval() -> Outcome {
    check!(
        syscall!(
            libc::SYS_faccessat2,
            libc::AT_FDCWD,
            c"/tmp",
            libc::F_OK,
            0x1
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

// ---------------------------------------------------------------- fcntl / dup

fn fcntl_setfd_cloexec_is_reported_by_getfd() -> Outcome {
    let file = TempFile::new()?;
    let fd = Fd::open(file.path(), libc::O_RDONLY, 0)?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_SETFD, libc::FD_CLOEXEC),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    Ok(())
}

fn fcntl_getfl_reports_access_mode_and_append() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_WRONLY | libc::O_APPEND)?;
    let fl = check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFL),
        succeeds()
    );
    ensure_eq!(fl & i64::from(libc::O_ACCMODE), i64::from(libc::O_WRONLY));
    ensure!(fl & i64::from(libc::O_APPEND) != 0, "flags {fl:#x}");
    Ok(())
}

fn fcntl_setfl_toggles_append() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDWR)?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_SETFL, libc::O_APPEND),
        succeeds_with(0)
    );
    let fl = check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFL),
        succeeds()
    );
    ensure!(fl & i64::from(libc::O_APPEND) != 0, "flags {fl:#x}");
    Ok(())
}

/// fcntl(2) F_DUPFD: "the lowest-numbered available file descriptor greater than or equal to
/// arg".
fn fcntl_dupfd_returns_at_least_arg() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    let dup = Fd::from_ret(check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_DUPFD, 100),
        succeeds()
    ))?;
    ensure!(dup.raw() >= 100, "got {}", dup.raw());
    check!(
        syscall!(libc::SYS_fcntl, dup.raw(), libc::F_GETFD),
        succeeds_with(0)
    );
    Ok(())
}

fn fcntl_dupfd_cloexec_sets_cloexec() -> Outcome {
    let file = TempFile::new()?;
    let fd = Fd::open(file.path(), libc::O_RDONLY, 0)?;
    let dup = Fd::from_ret(check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_DUPFD_CLOEXEC, 0),
        succeeds()
    ))?;
    check!(
        syscall!(libc::SYS_fcntl, dup.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    Ok(())
}

fn fcntl_unknown_command_fails_einval() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), 0x7fff),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn fcntl_closed_fd_fails_ebadf() -> Outcome {
    check!(
        syscall!(libc::SYS_fcntl, UNUSED_FD, libc::F_GETFD),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// dup(2): "uses the lowest-numbered unused file descriptor".
fn dup_returns_lowest_free_fd() -> Outcome {
    let file = TempFile::new()?;
    let a = file.open(libc::O_RDONLY)?;
    let b = file.open(libc::O_RDONLY)?;
    let hole = a.raw();
    drop(a);
    let dup = Fd::from_ret(check!(syscall!(libc::SYS_dup, b.raw()), succeeds()))?;
    ensure_eq!(dup.raw(), hole);
    Ok(())
}

/// dup(2): "The two file descriptors do not share file descriptor flags (the close-on-exec
/// flag)."
fn dup_clears_cloexec() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    let dup = Fd::from_ret(check!(syscall!(libc::SYS_dup, fd.raw()), succeeds()))?;
    check!(
        syscall!(libc::SYS_fcntl, dup.raw(), libc::F_GETFD),
        succeeds_with(0)
    );
    Ok(())
}

/// dup(2): the duplicates "share file offset and file status flags".
fn dup_shares_file_offset() -> Outcome {
    let file = TempFile::with_contents(b"abcdef")?;
    let fd = file.open(libc::O_RDONLY)?;
    let dup = Fd::from_ret(check!(syscall!(libc::SYS_dup, fd.raw()), succeeds()))?;
    check!(lseek(&fd, 4, libc::SEEK_SET), succeeds_with(4));
    ensure_eq!(dup.read_up_to(8)?, b"ef".to_vec());
    Ok(())
}

fn dup_closed_fd_fails_ebadf() -> Outcome {
    check!(syscall!(libc::SYS_dup, UNUSED_FD), fails_with(Errno::EBADF));
    Ok(())
}

/// dup2(2): "If oldfd is a valid file descriptor, and newfd has the same value as oldfd, then
/// dup2() does nothing, and returns newfd."
fn dup2_same_fd_returns_fd() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_dup2, fd.raw(), fd.raw()),
        succeeds_with(i64::from(fd.raw()))
    );
    Ok(())
}

fn dup2_replaces_open_target() -> Outcome {
    let one = TempFile::with_contents(b"one")?;
    let two = TempFile::with_contents(b"two")?;
    let a = one.open(libc::O_RDONLY)?;
    let b = two.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_dup2, a.raw(), b.raw()),
        succeeds_with(i64::from(b.raw()))
    );
    ensure_eq!(b.read_up_to(8)?, b"one".to_vec());
    Ok(())
}

fn dup3_o_cloexec_sets_cloexec() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    let target = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_dup3, fd.raw(), target.raw(), libc::O_CLOEXEC),
        succeeds_with(i64::from(target.raw()))
    );
    check!(
        syscall!(libc::SYS_fcntl, target.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    Ok(())
}

/// dup3(2): EINVAL "oldfd was equal to newfd".
fn dup3_same_fd_fails_einval() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_dup3, fd.raw(), fd.raw(), 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// dup3(2): EINVAL "flags contain an invalid value".
fn dup3_unknown_flag_fails_einval() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    let target = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_dup3, fd.raw(), target.raw(), libc::O_APPEND),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

// ---------------------------------------------------------------- cwd

fn getcwd_after_chdir_reports_new_dir() -> Outcome {
    let _restore = CwdGuard::new()?;
    let dir = TempDir::new()?;
    check!(syscall!(libc::SYS_chdir, dir.path()), succeeds_with(0));
    let mut buf = [0u8; 512];
    let n = check!(
        syscall!(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()),
        succeeds()
    );
    // getcwd(2) syscall returns the length including the terminating NUL.
    let len = usize::try_from(n).map_err(|e| e.to_string())?;
    let got = buf.get(..len).ok_or("length out of range")?;
    ensure_eq!(got, dir.path().to_bytes_with_nul());
    Ok(())
}

/// getcwd(3): ERANGE "The size argument is less than the length of the absolute pathname".
fn getcwd_size_one_fails_erange() -> Outcome {
    let mut buf = [0u8; 1];
    check!(
        syscall!(libc::SYS_getcwd, buf.as_mut_ptr(), 1),
        fails_with(Errno::ERANGE)
    );
    Ok(())
}

fn relative_open_uses_cwd() -> Outcome {
    let _restore = CwdGuard::new()?;
    let dir = TempDir::new()?;
    dir.create_file("rel", b"relative")?;
    check!(syscall!(libc::SYS_chdir, dir.path()), succeeds_with(0));
    let fd = Fd::open(c"rel", RDONLY, 0)?;
    ensure_eq!(fd.read_up_to(16)?, b"relative".to_vec());
    Ok(())
}

fn fchdir_changes_cwd() -> Outcome {
    let _restore = CwdGuard::new()?;
    let dir = TempDir::new()?;
    let dfd = dir.open()?;
    check!(syscall!(libc::SYS_fchdir, dfd.raw()), succeeds_with(0));
    let mut buf = [0u8; 512];
    let n = check!(
        syscall!(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()),
        succeeds()
    );
    let len = usize::try_from(n).map_err(|e| e.to_string())?;
    ensure_eq!(buf.get(..len), Some(dir.path().to_bytes_with_nul()));
    Ok(())
}

fn chdir_to_file_fails_enotdir() -> Outcome {
    let file = TempFile::new()?;
    check!(
        syscall!(libc::SYS_chdir, file.path()),
        fails_with(Errno::ENOTDIR)
    );
    Ok(())
}

fn fchdir_on_file_fails_enotdir() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        syscall!(libc::SYS_fchdir, fd.raw()),
        fails_with(Errno::ENOTDIR)
    );
    Ok(())
}

fn chdir_missing_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        syscall!(libc::SYS_chdir, dir.join("missing").as_c_str()),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

// ---------------------------------------------------------------- namespace changes in /tmp

fn mkdirat_existing_fails_eexist() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, dir.path(), 0o755),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn mkdirat_missing_parent_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        syscall!(
            libc::SYS_mkdirat,
            libc::AT_FDCWD,
            dir.join("a/b").as_c_str(),
            0o755
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn rmdir_removes_empty_directory() -> Outcome {
    let dir = TempDir::new()?;
    let sub = dir.join("sub");
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, sub.as_c_str(), 0o755),
        succeeds_with(0)
    );
    check!(syscall!(libc::SYS_rmdir, sub.as_c_str()), succeeds_with(0));
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_stat, sub.as_c_str(), &raw mut st),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// rmdir(2): ENOTEMPTY "pathname contains entries other than . and ..".
fn rmdir_non_empty_fails_enotempty() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("f", b"")?;
    check!(
        syscall!(libc::SYS_rmdir, dir.path()),
        fails_with(Errno::ENOTEMPTY)
    );
    Ok(())
}

/// unlink(2): EISDIR "pathname refers to a directory" (Linux's choice; POSIX says EPERM).
fn unlinkat_directory_without_removedir_fails_eisdir() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        syscall!(libc::SYS_unlinkat, libc::AT_FDCWD, dir.path(), 0),
        fails_with(Errno::EISDIR)
    );
    Ok(())
}

fn unlinkat_removedir_on_file_fails_enotdir() -> Outcome {
    let file = TempFile::new()?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            file.path(),
            libc::AT_REMOVEDIR
        ),
        fails_with(Errno::ENOTDIR)
    );
    Ok(())
}

fn unlinkat_removes_file_but_open_fd_still_reads() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("f", b"still here")?;
    let path = dir.join("f");
    let fd = Fd::open(&path, RDONLY, 0)?;
    check!(
        syscall!(libc::SYS_unlinkat, libc::AT_FDCWD, path.as_c_str(), 0),
        succeeds_with(0)
    );
    check!(open_at(&path, RDONLY, 0), fails_with(Errno::ENOENT));
    ensure_eq!(fd.read_up_to(16)?, b"still here".to_vec());
    Ok(())
}

fn symlinkat_existing_name_fails_eexist() -> Outcome {
    let file = TempFile::new()?;
    check!(
        syscall!(libc::SYS_symlinkat, c"x", libc::AT_FDCWD, file.path()),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn renameat_moves_file() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("old", b"moved")?;
    let (old, new) = (dir.join("old"), dir.join("new"));
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            old.as_c_str(),
            libc::AT_FDCWD,
            new.as_c_str()
        ),
        succeeds_with(0)
    );
    check!(open_at(&old, RDONLY, 0), fails_with(Errno::ENOENT));
    ensure_eq!(Fd::open(&new, RDONLY, 0)?.read_up_to(8)?, b"moved".to_vec());
    Ok(())
}

fn renameat_replaces_existing_file() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("a", b"from a")?;
    dir.create_file("b", b"from b")?;
    let (a, b) = (dir.join("a"), dir.join("b"));
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            a.as_c_str(),
            libc::AT_FDCWD,
            b.as_c_str()
        ),
        succeeds_with(0)
    );
    ensure_eq!(Fd::open(&b, RDONLY, 0)?.read_up_to(8)?, b"from a".to_vec());
    Ok(())
}

/// rename(2): EINVAL "The new pathname contained a path prefix of the old".
fn renameat_directory_into_itself_fails_einval() -> Outcome {
    let dir = TempDir::new()?;
    let sub = dir.join("sub");
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, sub.as_c_str(), 0o755),
        succeeds_with(0)
    );
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            sub.as_c_str(),
            libc::AT_FDCWD,
            dir.join("sub/inner").as_c_str()
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn renameat_missing_source_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            dir.join("nope").as_c_str(),
            libc::AT_FDCWD,
            dir.join("other").as_c_str()
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

// ---------------------------------------------------------------- creating in a removed directory

/// The working directory `<tmp>/d`, removed with rmdir(2) after the chdir(2): Linux marks the
/// directory inode dead (`S_DEAD`, set by vfs_rmdir), and IS_DEADDIR makes every later lookup
/// or creation of a name in it fail with ENOENT (fs/namei.c: __lookup_hash, lookup_open).
/// Drop order: the saved cwd comes back before the parent directory is removed.
struct RemovedCwd {
    _restore: CwdGuard,
    parent: TempDir,
}

impl RemovedCwd {
    /// mkdir <tmp>/d; chdir <tmp>/d; rmdir ../d.
    fn new() -> Result<RemovedCwd, String> {
        let restore = CwdGuard::new()?;
        let parent = TempDir::new()?;
        let d = parent.join("d");
        check!(
            syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, d.as_c_str(), 0o755),
            succeeds_with(0)
        );
        check!(syscall!(libc::SYS_chdir, d.as_c_str()), succeeds_with(0));
        check!(syscall!(libc::SYS_rmdir, c"../d"), succeeds_with(0));
        Ok(RemovedCwd {
            _restore: restore,
            parent,
        })
    }
}

/// open(2) O_CREAT in a removed working directory: ENOENT (lookup_open: IS_DEADDIR).
fn open_creat_in_removed_cwd_fails_enoent() -> Outcome {
    let _cwd = RemovedCwd::new()?;
    check!(
        open_at(c"x", RDWR | libc::O_CREAT, 0o644),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// mkdir(2) in a removed working directory: ENOENT (filename_create → __lookup_hash:
/// "Don't create child dentry for a dead directory").
fn mkdir_in_removed_cwd_fails_enoent() -> Outcome {
    let _cwd = RemovedCwd::new()?;
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, c"x", 0o755),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// symlink(2) in a removed working directory: ENOENT (filename_create, as mkdir).
fn symlink_in_removed_cwd_fails_enoent() -> Outcome {
    let _cwd = RemovedCwd::new()?;
    check!(
        syscall!(libc::SYS_symlinkat, c"t", libc::AT_FDCWD, c"x"),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// link(2) into a removed working directory: ENOENT (do_linkat → filename_create).
fn link_into_removed_cwd_fails_enoent() -> Outcome {
    let file = TempFile::new()?;
    let _cwd = RemovedCwd::new()?;
    check!(
        syscall!(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            file.path(),
            libc::AT_FDCWD,
            c"x",
            0
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// rename(2) into a removed working directory: ENOENT (do_renameat2 → lookup of the new name
/// in a dead directory), and the source stays where it was.
fn rename_into_removed_cwd_fails_enoent() -> Outcome {
    let cwd = RemovedCwd::new()?;
    cwd.parent.create_file("src", b"")?;
    let src = cwd.parent.join("src");
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            src.as_c_str(),
            libc::AT_FDCWD,
            c"x"
        ),
        fails_with(Errno::ENOENT)
    );
    check!(open_at(&src, RDONLY, 0), succeeds());
    Ok(())
}

/// stat(2) of "." in a working directory removed by absolute path still works ("." needs no
/// lookup: handle_dots), and reports a link count of 0 (shmem_rmdir / ext4: clear_nlink).
/// getcwd(2): ENOENT "The current working directory has been unlinked" (fs/d_path.c
/// d_unlinked).
fn getcwd_in_removed_cwd_fails_enoent() -> Outcome {
    let _cwd = RemovedCwd::new()?;
    let mut buf = [0u8; 512];
    check!(
        syscall!(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn stat_dot_in_removed_cwd_reports_nlink_zero() -> Outcome {
    let _restore = CwdGuard::new()?;
    let dir = TempDir::new()?;
    let d = dir.join("d");
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, d.as_c_str(), 0o755),
        succeeds_with(0)
    );
    check!(syscall!(libc::SYS_chdir, d.as_c_str()), succeeds_with(0));
    check!(syscall!(libc::SYS_rmdir, d.as_c_str()), succeeds_with(0));
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_stat, c".", &raw mut st),
        succeeds_with(0)
    );
    ensure_eq!(file_type(st.st_mode), libc::S_IFDIR);
    ensure_eq!(st.st_nlink, 0);
    Ok(())
}

/// openat(2) O_CREAT relative to a directory fd whose directory was removed after it was
/// opened: ENOENT (lookup_open: IS_DEADDIR).
fn openat_creat_in_removed_dirfd_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    let d = dir.join("d");
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, d.as_c_str(), 0o755),
        succeeds_with(0)
    );
    let dfd = Fd::open(&d, RDONLY | libc::O_DIRECTORY, 0)?;
    check!(syscall!(libc::SYS_rmdir, d.as_c_str()), succeeds_with(0));
    check!(
        syscall!(
            libc::SYS_openat,
            dfd.raw(),
            c"x",
            RDWR | libc::O_CREAT,
            0o644
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

// ---------------------------------------------------------------- O_CREAT through a dangling symlink

/// Makes `link` a symlink to `target` (stored as given).
fn make_symlink(target: &CStr, link: &CStr) -> Outcome {
    check!(
        syscall!(libc::SYS_symlinkat, target, libc::AT_FDCWD, link),
        succeeds_with(0)
    );
    Ok(())
}

/// open(2) O_CREAT on a dangling symlink creates the file the link names, relative to the
/// link's directory: without O_EXCL/O_NOFOLLOW the final symlink is followed (open(2) O_EXCL:
/// "When these two flags are specified, symbolic links are not followed"; fs/namei.c
/// open_last_lookups → step_into → lookup_open on the link body's last component).
fn open_creat_through_dangling_symlink_creates_target() -> Outcome {
    let dir = TempDir::new()?;
    make_symlink(c"target", &dir.join("link"))?;
    let fd = Fd::from_ret(check!(
        open_at(&dir.join("link"), libc::O_WRONLY | libc::O_CREAT, 0o644),
        succeeds()
    ))?;
    fd.write_all(b"via link")?;
    let target = Fd::open(&dir.join("target"), RDONLY, 0)?;
    ensure_eq!(file_type(fstat(&target)?.st_mode), libc::S_IFREG);
    ensure_eq!(target.read_up_to(16)?, b"via link".to_vec());
    Ok(())
}

/// open(2): with O_CREAT|O_EXCL "symbolic links are not followed": a dangling symlink is an
/// existing name (EEXIST), and its target is not created.
fn open_creat_excl_through_dangling_symlink_fails_eexist() -> Outcome {
    let dir = TempDir::new()?;
    make_symlink(c"target", &dir.join("link"))?;
    check!(
        open_at(
            &dir.join("link"),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o644
        ),
        fails_with(Errno::EEXIST)
    );
    check!(
        open_at(&dir.join("target"), RDONLY, 0),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// open(2): ELOOP "O_NOFOLLOW was specified and the trailing component is a symbolic link",
/// also with O_CREAT on a dangling one (which is not created).
fn open_creat_nofollow_through_dangling_symlink_fails_eloop() -> Outcome {
    let dir = TempDir::new()?;
    make_symlink(c"target", &dir.join("link"))?;
    check!(
        open_at(
            &dir.join("link"),
            libc::O_WRONLY | libc::O_CREAT | libc::O_NOFOLLOW,
            0o644
        ),
        fails_with(Errno::ELOOP)
    );
    check!(
        open_at(&dir.join("target"), RDONLY, 0),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// open(2) O_CREAT on a dangling symlink whose target lies in a missing directory: ENOENT
/// ("A directory component in pathname does not exist", applied to the link body).
fn open_creat_through_symlink_into_missing_dir_fails_enoent() -> Outcome {
    let dir = TempDir::new()?;
    make_symlink(c"missing/target", &dir.join("link"))?;
    check!(
        open_at(&dir.join("link"), libc::O_WRONLY | libc::O_CREAT, 0o644),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// open(2) O_CREAT on a dangling symlink with an absolute target creates that target
/// (path_resolution(7): an absolute link body restarts from the root).
fn open_creat_through_dangling_absolute_symlink_creates_target() -> Outcome {
    let dir = TempDir::new()?;
    let target = dir.join("abs-target");
    make_symlink(&target, &dir.join("link"))?;
    let fd = Fd::from_ret(check!(
        open_at(&dir.join("link"), libc::O_WRONLY | libc::O_CREAT, 0o644),
        succeeds()
    ))?;
    fd.write_all(b"abs")?;
    ensure_eq!(
        Fd::open(&target, RDONLY, 0)?.read_up_to(8)?,
        b"abs".to_vec()
    );
    Ok(())
}

// ---------------------------------------------------------------- host root and devices

fn read_etc_passwd_starts_with_root() -> Outcome {
    let fd = Fd::open(c"/etc/passwd", RDONLY, 0)?;
    ensure_eq!(fd.read_up_to(5)?, b"root:".to_vec());
    Ok(())
}

/// This test binary: a large file on the host root (served by the gofer in the sandbox).
fn own_binary() -> Result<Fd, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = cstring(exe.to_str().ok_or("exe path is not UTF-8")?);
    Fd::open(&path, RDONLY, 0)
}

/// pread(2) of `len` bytes at `off` into a fresh buffer, which must succeed fully.
fn pread_exact(fd: &Fd, off: i64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    let n = check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), len, off),
        succeeds()
    );
    ensure_eq!(usize::try_from(n).ok(), Some(len));
    Ok(buf)
}

/// read(2) of a host-root file into memory whose second page is inaccessible: the bytes up
/// to the fault arrive, the count says so, and the offset moves by exactly that much.
fn read_host_file_up_to_an_inaccessible_page_is_partial() -> Outcome {
    let fd = own_binary()?;
    let expect = pread_exact(&fd, 0, 200)?;
    let page = 4096usize;
    let map = Mapping::anonymous(2 * page, libc::PROT_READ | libc::PROT_WRITE)?;
    check!(
        syscall!(libc::SYS_mprotect, map.addr() + page, page, libc::PROT_NONE),
        succeeds()
    );
    let dst = map.addr() + page - 100;
    check!(
        syscall!(libc::SYS_read, fd.raw(), dst, 200),
        succeeds_with(100)
    );
    ensure_eq!(map.read(page - 100, 100)?, expect[..100].to_vec());
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(100));
    // Nothing readable at all: EFAULT, offset unchanged.
    check!(
        syscall!(libc::SYS_read, fd.raw(), map.addr() + page, 10),
        fails_with(Errno::EFAULT)
    );
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(100));
    Ok(())
}

/// A 1 MiB read(2) of a host-root file into untouched anonymous memory delivers the same
/// bytes as pread(2) into a touched buffer, and advances the offset by the count.
fn read_host_file_into_untouched_memory_matches_pread() -> Outcome {
    let fd = own_binary()?;
    let len = 1 << 20;
    let st = fstat(&fd)?;
    let size = usize::try_from(st.st_size).map_err(|e| e.to_string())?;
    ensure!(size > 4096, "binary of {size} bytes");
    let want = len.min(size - 1000);
    let map = Mapping::anonymous(len, libc::PROT_READ | libc::PROT_WRITE)?;
    check!(lseek(&fd, 1000, libc::SEEK_SET), succeeds_with(1000));
    let n = check!(
        syscall!(libc::SYS_read, fd.raw(), map.addr(), len),
        succeeds()
    );
    ensure_eq!(usize::try_from(n).ok(), Some(want));
    ensure_eq!(map.read(0, want)?, pread_exact(&fd, 1000, want)?);
    check!(
        lseek(&fd, 0, libc::SEEK_CUR),
        succeeds_with(i64::try_from(1000 + want).map_err(|e| e.to_string())?)
    );
    Ok(())
}

/// pread(2) of a host-root file: at EOF 0 bytes, past it 0 bytes, a negative offset EINVAL,
/// and the description's offset never moves.
fn pread_host_file_at_and_past_eof() -> Outcome {
    let fd = own_binary()?;
    let size = fstat(&fd)?.st_size;
    let mut buf = [0u8; 16];
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 16, size),
        succeeds_with(0)
    );
    check!(
        syscall!(
            libc::SYS_pread64,
            fd.raw(),
            buf.as_mut_ptr(),
            16,
            size + 4096
        ),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 16, size - 3),
        succeeds_with(3)
    );
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), 16, -1i64),
        fails_with(Errno::EINVAL)
    );
    check!(lseek(&fd, 0, libc::SEEK_CUR), succeeds_with(0));
    Ok(())
}

/// Two descriptions of one host-root file keep their own offsets.
fn host_file_descriptions_have_their_own_offsets() -> Outcome {
    let a = own_binary()?;
    let b = own_binary()?;
    let first = a.read_up_to(64)?;
    ensure_eq!(b.read_up_to(64)?, first);
    ensure_eq!(a.read_up_to(64)?, pread_exact(&a, 64, 64)?);
    check!(lseek(&b, 0, libc::SEEK_CUR), succeeds_with(64));
    Ok(())
}

/// fsync(2)/fdatasync(2): fine on regular files (read-only ones too) and directories,
/// EINVAL on a pipe (no fsync operation), EBADF on a closed number.
fn fsync_and_fdatasync_by_file_kind() -> Outcome {
    let host = own_binary()?;
    let file = TempFile::with_contents(b"data")?;
    let tmp = file.open(libc::O_RDWR)?;
    let dir = Fd::open(c"/tmp", RDONLY | libc::O_DIRECTORY, 0)?;
    for nr in [libc::SYS_fsync, libc::SYS_fdatasync] {
        check!(syscall!(nr, host.raw()), succeeds_with(0));
        check!(syscall!(nr, tmp.raw()), succeeds_with(0));
        check!(syscall!(nr, dir.raw()), succeeds_with(0));
        check!(syscall!(nr, UNUSED_FD), fails_with(Errno::EBADF));
    }
    let mut fds = [0 as c_int; 2];
    check!(
        syscall!(libc::SYS_pipe2, fds.as_mut_ptr(), libc::O_CLOEXEC),
        succeeds()
    );
    let (r, w) = (Fd::from_ret(fds[0].into())?, Fd::from_ret(fds[1].into())?);
    check!(
        syscall!(libc::SYS_fsync, w.raw()),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_fdatasync, r.raw()),
        fails_with(Errno::EINVAL)
    );
    check!(syscall!(libc::SYS_sync), succeeds_with(0));
    check!(syscall!(libc::SYS_syncfs, tmp.raw()), succeeds_with(0));
    check!(
        syscall!(libc::SYS_syncfs, UNUSED_FD),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// sync_file_range(2): unknown flags, negative offset or length are EINVAL; a pipe is
/// ESPIPE; a regular file with a write flag succeeds.
fn sync_file_range_checks_its_arguments() -> Outcome {
    let file = TempFile::with_contents(b"data")?;
    let fd = file.open(libc::O_RDWR)?;
    let sfr = |fd: c_int, off: i64, len: i64, flags: u32| {
        syscall!(libc::SYS_sync_file_range, fd, off, len, flags)
    };
    check!(sfr(fd.raw(), 0, 0, 0x2), succeeds_with(0));
    check!(sfr(fd.raw(), 0, 4, 0x7), succeeds_with(0));
    check!(sfr(fd.raw(), 0, 0, 0), succeeds_with(0));
    check!(sfr(fd.raw(), 0, 0, 0x8), fails_with(Errno::EINVAL));
    check!(sfr(fd.raw(), -1, 0, 0x2), fails_with(Errno::EINVAL));
    check!(sfr(fd.raw(), 0, -1, 0x2), fails_with(Errno::EINVAL));
    check!(sfr(UNUSED_FD, 0, 0, 0x2), fails_with(Errno::EBADF));
    let mut fds = [0 as c_int; 2];
    check!(
        syscall!(libc::SYS_pipe2, fds.as_mut_ptr(), libc::O_CLOEXEC),
        succeeds()
    );
    let (_r, w) = (Fd::from_ret(fds[0].into())?, Fd::from_ret(fds[1].into())?);
    check!(sfr(w.raw(), 0, 0, 0x2), fails_with(Errno::ESPIPE));
    Ok(())
}

fn getdents64_of_root_lists_etc_and_tmp() -> Outcome {
    let fd = Fd::open(c"/", RDONLY | libc::O_DIRECTORY, 0)?;
    let mut names = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = check!(
            syscall!(libc::SYS_getdents64, fd.raw(), buf.as_mut_ptr(), buf.len()),
            succeeds()
        );
        let len = usize::try_from(n).map_err(|e| e.to_string())?;
        if len == 0 {
            break;
        }
        names.extend(dirent_names(buf.get(..len).unwrap_or_default())?);
    }
    ensure!(names.iter().any(|n| n == "etc"), "{names:?}");
    ensure!(names.iter().any(|n| n == "tmp"), "{names:?}");
    Ok(())
}

fn stat_etc_passwd_is_regular_non_empty() -> Outcome {
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_stat, c"/etc/passwd", &raw mut st),
        succeeds_with(0)
    );
    ensure_eq!(file_type(st.st_mode), libc::S_IFREG);
    ensure!(st.st_size > 5, "size {}", st.st_size);
    Ok(())
}

fn dev_null_read_returns_eof() -> Outcome {
    let fd = Fd::open(c"/dev/null", RDONLY, 0)?;
    ensure_eq!(fd.read_up_to(16)?, Vec::<u8>::new());
    Ok(())
}

fn dev_null_write_consumes_everything() -> Outcome {
    let fd = Fd::open(c"/dev/null", libc::O_WRONLY | libc::O_CLOEXEC, 0)?;
    let data = [7u8; 1000];
    check!(
        syscall!(libc::SYS_write, fd.raw(), data.as_ptr(), data.len()),
        succeeds_with(1000)
    );
    Ok(())
}

fn dev_zero_read_returns_zeros() -> Outcome {
    let fd = Fd::open(c"/dev/zero", RDONLY, 0)?;
    let mut buf = [0xffu8; 64];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds_with(64)
    );
    ensure_eq!(buf, [0u8; 64]);
    Ok(())
}

/// null(4): "Writes to /dev/full fail with an ENOSPC error."
fn dev_full_write_fails_enospc() -> Outcome {
    let fd = Fd::open(c"/dev/full", libc::O_WRONLY | libc::O_CLOEXEC, 0)?;
    check!(
        syscall!(libc::SYS_write, fd.raw(), b"x".as_ptr(), 1),
        fails_with(Errno::ENOSPC)
    );
    Ok(())
}

fn dev_urandom_read_fills_buffer() -> Outcome {
    let fd = Fd::open(c"/dev/urandom", RDONLY, 0)?;
    let mut buf = [0u8; 32];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds_with(32)
    );
    // 32 zero bytes from a CSPRNG has probability 2^-256.
    ensure!(buf != [0u8; 32], "all zero");
    Ok(())
}

/// ioctl(2): ENOTTY "The specified request does not apply to the kind of object".
fn ioctl_tcgets_on_regular_file_fails_enotty() -> Outcome {
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    let mut termios = [0u8; 64];
    check!(
        syscall!(
            libc::SYS_ioctl,
            fd.raw(),
            libc::TCGETS,
            termios.as_mut_ptr()
        ),
        fails_with(Errno::ENOTTY)
    );
    Ok(())
}

fn ioctl_closed_fd_fails_ebadf() -> Outcome {
    let mut termios = [0u8; 64];
    check!(
        syscall!(
            libc::SYS_ioctl,
            UNUSED_FD,
            libc::TCGETS,
            termios.as_mut_ptr()
        ),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        open_missing_file_fails_enoent,
        open_creat_then_write_read_round_trips,
        open_o_excl_existing_fails_eexist,
        open_o_trunc_empties_file,
        open_o_creat_applies_mode,
        open_o_directory_on_file_fails_enotdir,
        open_directory_for_writing_fails_eisdir,
        open_through_file_component_fails_enotdir,
        open_component_longer_than_name_max_fails_enametoolong,
        open_path_longer_than_path_max_fails_enametoolong,
        open_symlink_loop_fails_eloop,
        open_o_nofollow_on_symlink_fails_eloop,
        open_follows_symlink_to_target,
        open_pathname_at_address_one_fails_efault,
        open_pathname_at_kernel_address_fails_efault,
        open_empty_path_fails_enoent,
        legacy_open_reads_same_file,
        openat_relative_to_dirfd_finds_file,
        openat_relative_to_file_dirfd_fails_enotdir,
        openat_relative_to_closed_dirfd_fails_ebadf,
        openat_absolute_path_ignores_bad_dirfd,
        open_lowest_free_descriptor_is_returned,
        read_closed_fd_fails_ebadf,
        read_huge_fd_fails_ebadf,
        read_negative_fd_fails_ebadf,
        read_write_only_fd_fails_ebadf,
        write_read_only_fd_fails_ebadf,
        read_into_address_one_fails_efault,
        read_into_kernel_address_fails_efault,
        write_from_address_one_fails_efault,
        write_from_kernel_address_fails_efault,
        read_zero_bytes_returns_zero,
        read_at_eof_returns_zero,
        write_advances_file_offset,
        write_o_append_goes_to_end_after_seek,
        read_fd_upper_bits_are_ignored,
        write_fd_upper_bits_are_ignored,
        close_fd_upper_bits_are_ignored,
        fstat_fd_upper_bits_are_ignored,
        lseek_fd_upper_bits_are_ignored,
        dup_fd_upper_bits_are_ignored,
        close_twice_fails_ebadf,
        lseek_seek_end_returns_size,
        lseek_seek_cur_is_relative,
        lseek_past_eof_then_read_returns_zero,
        write_past_eof_leaves_zero_filled_hole,
        lseek_bad_whence_fails_einval,
        lseek_negative_result_fails_einval,
        lseek_closed_fd_fails_ebadf,
        pread_does_not_move_offset,
        pwrite_does_not_move_offset,
        pread_negative_offset_fails_einval,
        pread_past_eof_returns_zero,
        writev_gathers_several_iovecs,
        readv_scatters_into_several_iovecs,
        readv_too_many_iovecs_fails_einval,
        writev_iovec_array_at_bad_address_fails_efault,
        getdents64_lists_dot_dotdot_and_created_entries,
        getdents64_at_end_returns_zero,
        getdents64_on_file_fails_enotdir,
        getdents64_tiny_buffer_fails_einval,
        fstat_reports_size_and_regular_mode,
        fstat_directory_reports_dir_mode,
        fstat_closed_fd_fails_ebadf,
        fstat_bad_buffer_fails_efault,
        newfstatat_symlink_nofollow_reports_link,
        newfstatat_follows_symlink_by_default,
        newfstatat_empty_path_stats_dirfd,
        newfstatat_unknown_flag_fails_einval,
        stat_missing_path_fails_enoent,
        stat_tmp_is_directory,
        lstat_reports_symlink,
        stat_dangling_symlink_fails_enoent,
        statx_reports_size_and_mode,
        statx_reserved_mask_fails_einval,
        fstat_dev_null_is_char_device,
        readlinkat_returns_symlink_target,
        readlink_truncates_to_buffer_size,
        readlinkat_on_regular_file_fails_einval,
        readlink_zero_size_fails_einval,
        faccessat_existing_file_succeeds,
        faccessat_missing_file_fails_enoent,
        access_bad_mode_fails_einval,
        faccessat2_existing_file_succeeds,
        faccessat2_unknown_flag_fails_einval,
        fcntl_setfd_cloexec_is_reported_by_getfd,
        fcntl_getfl_reports_access_mode_and_append,
        fcntl_setfl_toggles_append,
        fcntl_dupfd_returns_at_least_arg,
        fcntl_dupfd_cloexec_sets_cloexec,
        fcntl_unknown_command_fails_einval,
        fcntl_closed_fd_fails_ebadf,
        dup_returns_lowest_free_fd,
        dup_clears_cloexec,
        dup_shares_file_offset,
        dup_closed_fd_fails_ebadf,
        dup2_same_fd_returns_fd,
        dup2_replaces_open_target,
        dup3_o_cloexec_sets_cloexec,
        dup3_same_fd_fails_einval,
        dup3_unknown_flag_fails_einval,
        getcwd_after_chdir_reports_new_dir,
        getcwd_size_one_fails_erange,
        relative_open_uses_cwd,
        fchdir_changes_cwd,
        chdir_to_file_fails_enotdir,
        fchdir_on_file_fails_enotdir,
        chdir_missing_fails_enoent,
        mkdirat_existing_fails_eexist,
        mkdirat_missing_parent_fails_enoent,
        rmdir_removes_empty_directory,
        rmdir_non_empty_fails_enotempty,
        unlinkat_directory_without_removedir_fails_eisdir,
        unlinkat_removedir_on_file_fails_enotdir,
        unlinkat_removes_file_but_open_fd_still_reads,
        symlinkat_existing_name_fails_eexist,
        renameat_moves_file,
        renameat_replaces_existing_file,
        renameat_directory_into_itself_fails_einval,
        renameat_missing_source_fails_enoent,
        open_creat_in_removed_cwd_fails_enoent,
        mkdir_in_removed_cwd_fails_enoent,
        symlink_in_removed_cwd_fails_enoent,
        link_into_removed_cwd_fails_enoent,
        rename_into_removed_cwd_fails_enoent,
        stat_dot_in_removed_cwd_reports_nlink_zero,
        getcwd_in_removed_cwd_fails_enoent,
        openat_creat_in_removed_dirfd_fails_enoent,
        open_creat_through_dangling_symlink_creates_target,
        open_creat_excl_through_dangling_symlink_fails_eexist,
        open_creat_nofollow_through_dangling_symlink_fails_eloop,
        open_creat_through_symlink_into_missing_dir_fails_enoent,
        open_creat_through_dangling_absolute_symlink_creates_target,
        read_etc_passwd_starts_with_root,
        read_host_file_up_to_an_inaccessible_page_is_partial,
        read_host_file_into_untouched_memory_matches_pread,
        pread_host_file_at_and_past_eof,
        host_file_descriptions_have_their_own_offsets,
        fsync_and_fdatasync_by_file_kind,
        sync_file_range_checks_its_arguments,
        getdents64_of_root_lists_etc_and_tmp,
        stat_etc_passwd_is_regular_non_empty,
        dev_null_read_returns_eof,
        dev_null_write_consumes_everything,
        dev_zero_read_returns_zeros,
        dev_full_write_fails_enospc,
        dev_urandom_read_fills_buffer,
        ioctl_tcgets_on_regular_file_fails_enotty,
        ioctl_closed_fd_fails_ebadf,
    ])
}
