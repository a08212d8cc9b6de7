//! Extended attributes (set/get/list/remove and their `l`/`f` variants), renameat2 flags
//! (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT), hard links (linkat, AT_EMPTY_PATH)
//! and mknod of fifos: the calls a Debian userland's dpkg, tar, cp -a and rsync make.
//!
//! Files live in a TempDir under /tmp: natively that is the host's filesystem (ext4 here),
//! in the sandbox a tmpfs, so the tests stay within what both implement the same way (values
//! of at most a few KiB, no particular listing order). Unprivileged cases run in a forked
//! child that drops to uid 1000 (which clears its effective capabilities).
#![deny(unsafe_code)]

use std::ffi::CStr;
use std::process::ExitCode;

use syscall_tests::libc;
use syscall_tests::task::fork_and_check;
use syscall_tests::{
    Errno, Fd, Outcome, TempDir, check, ensure, ensure_eq, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests, zeroed,
};

const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;
const RENAME_WHITEOUT: u32 = 4;
const AT_EMPTY_PATH: i32 = 0x1000;

fn set(path: &CStr, name: &CStr, value: &[u8], flags: i32) -> i64 {
    syscall!(
        libc::SYS_setxattr,
        path,
        name,
        value.as_ptr(),
        value.len(),
        flags
    )
}

fn lset(path: &CStr, name: &CStr, value: &[u8], flags: i32) -> i64 {
    syscall!(
        libc::SYS_lsetxattr,
        path,
        name,
        value.as_ptr(),
        value.len(),
        flags
    )
}

fn get(path: &CStr, name: &CStr, buf: &mut [u8]) -> i64 {
    syscall!(libc::SYS_getxattr, path, name, buf.as_mut_ptr(), buf.len())
}

fn lget(path: &CStr, name: &CStr, buf: &mut [u8]) -> i64 {
    syscall!(libc::SYS_lgetxattr, path, name, buf.as_mut_ptr(), buf.len())
}

fn list(path: &CStr, buf: &mut [u8]) -> i64 {
    syscall!(libc::SYS_listxattr, path, buf.as_mut_ptr(), buf.len())
}

/// The value of `name` on `path` (fails the test if absent).
fn value_of(path: &CStr, name: &CStr) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; 4096];
    let n = check!(get(path, name, &mut buf), succeeds());
    buf.truncate(usize::try_from(n).unwrap_or(0));
    Ok(buf)
}

/// The names listxattr reports, sorted.
fn names_of(path: &CStr) -> Result<Vec<String>, String> {
    let mut buf = vec![0u8; 4096];
    let n = check!(list(path, &mut buf), succeeds());
    buf.truncate(usize::try_from(n).unwrap_or(0));
    let mut names: Vec<String> = buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// A TempDir holding a regular file "f" (mode 0644).
fn dir_with_file() -> Result<(TempDir, std::ffi::CString), String> {
    let d = TempDir::new()?;
    d.create_file("f", b"data")?;
    let f = d.join("f");
    Ok((d, f))
}

fn setresuid(r: u32, e: u32, s: u32) -> i64 {
    syscall!(libc::SYS_setresuid, r, e, s)
}

/// In a child: drop to uid/gid 1000 (no capabilities left), then run `body`.
fn as_unprivileged(body: impl FnOnce() -> Outcome) -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setresgid, 1000, 1000, 1000), succeeds());
        check!(setresuid(1000, 1000, 1000), succeeds());
        body()
    })
}

fn lstat(path: &CStr) -> Result<libc::stat, String> {
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            path,
            &raw mut st,
            libc::AT_SYMLINK_NOFOLLOW
        ),
        succeeds()
    );
    Ok(st)
}

fn renameat2(old: &CStr, new: &CStr, flags: u32) -> i64 {
    syscall!(
        libc::SYS_renameat2,
        libc::AT_FDCWD,
        old,
        libc::AT_FDCWD,
        new,
        flags
    )
}

fn read_file(path: &CStr) -> Result<Vec<u8>, String> {
    let fd = Fd::open(path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    fd.read_up_to(4096)
}

// ---- setxattr / getxattr ----

fn user_xattr_set_then_get_returns_value() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.greeting", b"hello", 0), succeeds_with(0));
    ensure_eq!(value_of(&f, c"user.greeting")?, b"hello".to_vec());
    Ok(())
}

fn getxattr_with_size_zero_returns_the_length() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"12345", 0), succeeds());
    check!(
        syscall!(libc::SYS_getxattr, &*f, c"user.k", 0u64, 0u64),
        succeeds_with(5)
    );
    Ok(())
}

fn getxattr_into_a_too_small_buffer_is_erange() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"12345", 0), succeeds());
    let mut buf = [0u8; 4];
    check!(get(&f, c"user.k", &mut buf), fails_with(Errno::ERANGE));
    Ok(())
}

fn getxattr_of_a_missing_name_is_enodata() -> Outcome {
    let (_d, f) = dir_with_file()?;
    let mut buf = [0u8; 16];
    check!(get(&f, c"user.none", &mut buf), fails_with(Errno::ENODATA));
    Ok(())
}

fn getxattr_with_a_huge_size_still_works() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"v", 0), succeeds());
    let mut buf = vec![0u8; 1 << 20];
    check!(get(&f, c"user.k", &mut buf), succeeds_with(1));
    Ok(())
}

fn xattr_create_on_an_existing_name_is_eexist() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"a", XATTR_CREATE), succeeds());
    check!(
        set(&f, c"user.k", b"b", XATTR_CREATE),
        fails_with(Errno::EEXIST)
    );
    ensure_eq!(value_of(&f, c"user.k")?, b"a".to_vec());
    Ok(())
}

fn xattr_replace_of_a_missing_name_is_enodata() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(
        set(&f, c"user.k", b"a", XATTR_REPLACE),
        fails_with(Errno::ENODATA)
    );
    Ok(())
}

fn xattr_replace_changes_an_existing_value() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"first", 0), succeeds());
    check!(set(&f, c"user.k", b"2nd", XATTR_REPLACE), succeeds());
    ensure_eq!(value_of(&f, c"user.k")?, b"2nd".to_vec());
    Ok(())
}

fn xattr_create_and_replace_together_always_fail() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(
        set(&f, c"user.k", b"a", XATTR_CREATE | XATTR_REPLACE),
        fails_with(Errno::ENODATA)
    );
    check!(set(&f, c"user.k", b"a", 0), succeeds());
    check!(
        set(&f, c"user.k", b"b", XATTR_CREATE | XATTR_REPLACE),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn setxattr_with_unknown_flags_is_einval() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"a", 4), fails_with(Errno::EINVAL));
    Ok(())
}

fn setxattr_with_an_empty_name_is_erange() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"", b"a", 0), fails_with(Errno::ERANGE));
    Ok(())
}

fn xattr_names_of_255_bytes_work_and_256_is_erange() -> Outcome {
    let (_d, f) = dir_with_file()?;
    let ok = std::ffi::CString::new(format!("user.{}", "n".repeat(250))).unwrap_or_default();
    check!(set(&f, &ok, b"v", 0), succeeds());
    ensure_eq!(value_of(&f, &ok)?, b"v".to_vec());
    let long = std::ffi::CString::new(format!("user.{}", "n".repeat(251))).unwrap_or_default();
    check!(set(&f, &long, b"v", 0), fails_with(Errno::ERANGE));
    let mut buf = [0u8; 8];
    check!(get(&f, &long, &mut buf), fails_with(Errno::ERANGE));
    Ok(())
}

fn setxattr_of_more_than_64k_is_e2big() -> Outcome {
    let (_d, f) = dir_with_file()?;
    let big = vec![7u8; 65537];
    check!(set(&f, c"user.big", &big, 0), fails_with(Errno::E2BIG));
    Ok(())
}

fn xattr_bare_prefix_is_einval() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.", b"v", 0), fails_with(Errno::EINVAL));
    Ok(())
}

fn xattr_unknown_namespace_is_eopnotsupp() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(
        set(&f, c"nonsense.k", b"v", 0),
        fails_with(Errno::EOPNOTSUPP)
    );
    let mut buf = [0u8; 8];
    check!(
        get(&f, c"nonsense.k", &mut buf),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

fn setxattr_with_an_empty_value_stores_empty() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(
        syscall!(libc::SYS_setxattr, &*f, c"user.e", 0u64, 0u64, 0),
        succeeds()
    );
    let mut buf = [1u8; 8];
    check!(get(&f, c"user.e", &mut buf), succeeds_with(0));
    Ok(())
}

fn getxattr_with_a_bad_name_pointer_is_efault() -> Outcome {
    let (_d, f) = dir_with_file()?;
    let mut buf = [0u8; 8];
    check!(
        syscall!(libc::SYS_getxattr, &*f, 1u64, buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn setxattr_with_a_bad_value_pointer_is_efault() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(
        syscall!(libc::SYS_setxattr, &*f, c"user.k", 1u64, 4u64, 0),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn xattr_on_a_missing_path_is_enoent() -> Outcome {
    let d = TempDir::new()?;
    let p = d.join("missing");
    check!(set(&p, c"user.k", b"v", 0), fails_with(Errno::ENOENT));
    let mut buf = [0u8; 8];
    check!(list(&p, &mut buf), fails_with(Errno::ENOENT));
    Ok(())
}

// ---- listxattr / removexattr ----

fn listxattr_of_a_fresh_file_is_empty() -> Outcome {
    let (_d, f) = dir_with_file()?;
    ensure_eq!(names_of(&f)?, Vec::<String>::new());
    Ok(())
}

fn listxattr_names_every_attribute() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.b", b"2", 0), succeeds());
    check!(set(&f, c"user.a", b"1", 0), succeeds());
    ensure_eq!(
        names_of(&f)?,
        vec!["user.a".to_owned(), "user.b".to_owned()]
    );
    Ok(())
}

fn listxattr_with_size_zero_returns_the_total_length() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.a", b"1", 0), succeeds());
    check!(set(&f, c"user.bb", b"2", 0), succeeds());
    // "user.a\0user.bb\0"
    check!(
        syscall!(libc::SYS_listxattr, &*f, 0u64, 0u64),
        succeeds_with(15)
    );
    Ok(())
}

fn listxattr_into_a_too_small_buffer_is_erange() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.abc", b"1", 0), succeeds());
    let mut buf = [0u8; 5];
    check!(list(&f, &mut buf), fails_with(Errno::ERANGE));
    Ok(())
}

fn removexattr_removes_the_name() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"v", 0), succeeds());
    check!(
        syscall!(libc::SYS_removexattr, &*f, c"user.k"),
        succeeds_with(0)
    );
    let mut buf = [0u8; 8];
    check!(get(&f, c"user.k", &mut buf), fails_with(Errno::ENODATA));
    ensure_eq!(names_of(&f)?, Vec::<String>::new());
    Ok(())
}

fn removexattr_of_a_missing_name_is_enodata() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(
        syscall!(libc::SYS_removexattr, &*f, c"user.none"),
        fails_with(Errno::ENODATA)
    );
    Ok(())
}

// ---- fd variants ----

fn fsetxattr_and_fgetxattr_work_on_an_fd() -> Outcome {
    let (_d, f) = dir_with_file()?;
    let fd = Fd::open(&f, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    check!(
        syscall!(
            libc::SYS_fsetxattr,
            fd.raw(),
            c"user.fd",
            b"x".as_ptr(),
            1u64,
            0
        ),
        succeeds()
    );
    let mut buf = [0u8; 8];
    check!(
        syscall!(
            libc::SYS_fgetxattr,
            fd.raw(),
            c"user.fd",
            buf.as_mut_ptr(),
            buf.len()
        ),
        succeeds_with(1)
    );
    ensure_eq!(value_of(&f, c"user.fd")?, b"x".to_vec());
    Ok(())
}

fn flistxattr_and_fremovexattr_work_on_an_fd() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.a", b"1", 0), succeeds());
    let fd = Fd::open(&f, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let mut buf = [0u8; 64];
    check!(
        syscall!(libc::SYS_flistxattr, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds_with(7)
    );
    ensure_eq!(&buf[..7], b"user.a\0");
    check!(
        syscall!(libc::SYS_fremovexattr, fd.raw(), c"user.a"),
        succeeds()
    );
    ensure_eq!(names_of(&f)?, Vec::<String>::new());
    Ok(())
}

fn fgetxattr_on_an_o_path_fd_is_ebadf() -> Outcome {
    let (_d, f) = dir_with_file()?;
    let fd = Fd::open(&f, libc::O_PATH | libc::O_CLOEXEC, 0)?;
    let mut buf = [0u8; 8];
    check!(
        syscall!(
            libc::SYS_fgetxattr,
            fd.raw(),
            c"user.k",
            buf.as_mut_ptr(),
            buf.len()
        ),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn fgetxattr_on_a_closed_fd_is_ebadf() -> Outcome {
    let mut buf = [0u8; 8];
    check!(
        syscall!(
            libc::SYS_fgetxattr,
            9999,
            c"user.k",
            buf.as_mut_ptr(),
            buf.len()
        ),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn user_xattrs_work_on_a_memfd() -> Outcome {
    // A memfd is a tmpfs file on both sides; tmpfs has user.* since Linux 6.6.
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_memfd_create, c"xattr", 1u32),
        succeeds()
    ))?;
    check!(
        syscall!(
            libc::SYS_fsetxattr,
            fd.raw(),
            c"user.m",
            b"mm".as_ptr(),
            2u64,
            0
        ),
        succeeds()
    );
    let mut buf = [0u8; 8];
    check!(
        syscall!(
            libc::SYS_fgetxattr,
            fd.raw(),
            c"user.m",
            buf.as_mut_ptr(),
            buf.len()
        ),
        succeeds_with(2)
    );
    ensure_eq!(&buf[..2], b"mm");
    Ok(())
}

fn pipes_have_no_xattrs() -> Outcome {
    let (r, _w) = syscall_tests::task::pipe()?;
    // A pipe is a fifo inode: user.* is refused as on any non-regular file, and the other
    // namespaces have no handler.
    check!(
        syscall!(
            libc::SYS_fsetxattr,
            r.raw(),
            c"user.p",
            b"p".as_ptr(),
            1u64,
            0
        ),
        fails_with(Errno::EPERM)
    );
    let mut buf = [0u8; 8];
    check!(
        syscall!(
            libc::SYS_fgetxattr,
            r.raw(),
            c"user.p",
            buf.as_mut_ptr(),
            buf.len()
        ),
        fails_with(Errno::ENODATA)
    );
    check!(
        syscall!(
            libc::SYS_fsetxattr,
            r.raw(),
            c"trusted.p",
            b"p".as_ptr(),
            1u64,
            0
        ),
        fails_with(Errno::EOPNOTSUPP)
    );
    check!(
        syscall!(libc::SYS_flistxattr, r.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds_with(0)
    );
    Ok(())
}

// ---- file types and symlinks ----

fn user_xattr_on_a_directory_works() -> Outcome {
    let d = TempDir::new()?;
    check!(set(d.path(), c"user.dir", b"d", 0), succeeds());
    ensure_eq!(value_of(d.path(), c"user.dir")?, b"d".to_vec());
    Ok(())
}

fn lsetxattr_user_on_a_symlink_is_eperm() -> Outcome {
    let (d, _f) = dir_with_file()?;
    let l = d.join("l");
    check!(
        syscall!(libc::SYS_symlinkat, c"f", libc::AT_FDCWD, &*l),
        succeeds()
    );
    check!(lset(&l, c"user.k", b"v", 0), fails_with(Errno::EPERM));
    Ok(())
}

fn lgetxattr_user_on_a_symlink_is_enodata() -> Outcome {
    let (d, _f) = dir_with_file()?;
    let l = d.join("l");
    check!(
        syscall!(libc::SYS_symlinkat, c"f", libc::AT_FDCWD, &*l),
        succeeds()
    );
    let mut buf = [0u8; 8];
    check!(lget(&l, c"user.k", &mut buf), fails_with(Errno::ENODATA));
    Ok(())
}

fn setxattr_through_a_symlink_sets_the_target() -> Outcome {
    let (d, f) = dir_with_file()?;
    let l = d.join("l");
    check!(
        syscall!(libc::SYS_symlinkat, c"f", libc::AT_FDCWD, &*l),
        succeeds()
    );
    check!(set(&l, c"user.via", b"link", 0), succeeds());
    ensure_eq!(value_of(&f, c"user.via")?, b"link".to_vec());
    let mut buf = [0u8; 64];
    check!(
        syscall!(libc::SYS_llistxattr, &*l, buf.as_mut_ptr(), buf.len()),
        succeeds_with(0)
    );
    Ok(())
}

fn user_xattr_on_a_fifo_is_eperm() -> Outcome {
    let d = TempDir::new()?;
    let p = d.join("fifo");
    check!(
        syscall!(
            libc::SYS_mknodat,
            libc::AT_FDCWD,
            &*p,
            libc::S_IFIFO | 0o644,
            0
        ),
        succeeds()
    );
    check!(set(&p, c"user.k", b"v", 0), fails_with(Errno::EPERM));
    let mut buf = [0u8; 8];
    check!(get(&p, c"user.k", &mut buf), fails_with(Errno::ENODATA));
    Ok(())
}

// ---- privileged namespaces and permissions ----

fn trusted_xattr_works_for_root() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"trusted.t", b"secret", 0), succeeds());
    ensure_eq!(value_of(&f, c"trusted.t")?, b"secret".to_vec());
    ensure_eq!(names_of(&f)?, vec!["trusted.t".to_owned()]);
    Ok(())
}

fn trusted_xattr_is_hidden_from_unprivileged_callers() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"trusted.t", b"secret", 0), succeeds());
    check!(set(&f, c"user.u", b"1", 0), succeeds());
    as_unprivileged(|| {
        let mut buf = [0u8; 64];
        check!(get(&f, c"trusted.t", &mut buf), fails_with(Errno::ENODATA));
        check!(set(&f, c"trusted.t", b"x", 0), fails_with(Errno::EPERM));
        ensure_eq!(names_of(&f)?, vec!["user.u".to_owned()]);
        Ok(())
    })
}

fn security_xattr_needs_cap_sys_admin_to_set() -> Outcome {
    let d = TempDir::new()?;
    check!(
        syscall!(libc::SYS_fchmodat, libc::AT_FDCWD, d.path(), 0o777),
        succeeds()
    );
    let p = d.join("mine");
    as_unprivileged(|| {
        let fd = Fd::open(&p, libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644)?;
        drop(fd);
        check!(set(&p, c"security.test", b"v", 0), fails_with(Errno::EPERM));
        check!(set(&p, c"user.ok", b"v", 0), succeeds());
        Ok(())
    })
}

fn security_xattr_round_trips_for_root() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"security.rvisor", b"lbl", 0), succeeds());
    ensure_eq!(value_of(&f, c"security.rvisor")?, b"lbl".to_vec());
    check!(
        syscall!(libc::SYS_removexattr, &*f, c"security.rvisor"),
        succeeds()
    );
    Ok(())
}

fn user_xattr_set_needs_write_permission() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"v", 0), succeeds());
    as_unprivileged(|| {
        // Mode 0644, owned by root: readable, not writable.
        check!(set(&f, c"user.k", b"w", 0), fails_with(Errno::EACCES));
        check!(
            syscall!(libc::SYS_removexattr, &*f, c"user.k"),
            fails_with(Errno::EACCES)
        );
        ensure_eq!(value_of(&f, c"user.k")?, b"v".to_vec());
        Ok(())
    })
}

fn user_xattr_get_needs_read_permission() -> Outcome {
    let (_d, f) = dir_with_file()?;
    check!(set(&f, c"user.k", b"v", 0), succeeds());
    check!(
        syscall!(libc::SYS_fchmodat, libc::AT_FDCWD, &*f, 0o600),
        succeeds()
    );
    as_unprivileged(|| {
        let mut buf = [0u8; 8];
        check!(get(&f, c"user.k", &mut buf), fails_with(Errno::EACCES));
        // listxattr checks no permission on the file itself.
        ensure_eq!(names_of(&f)?, vec!["user.k".to_owned()]);
        Ok(())
    })
}

fn user_xattr_on_a_sticky_directory_is_owner_only() -> Outcome {
    let d = TempDir::new()?;
    check!(
        syscall!(libc::SYS_fchmodat, libc::AT_FDCWD, d.path(), 0o1777),
        succeeds()
    );
    as_unprivileged(|| {
        check!(set(d.path(), c"user.k", b"v", 0), fails_with(Errno::EPERM));
        Ok(())
    })
}

// ---- renameat2 ----

fn rename_noreplace_onto_an_existing_name_is_eexist() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    d.create_file("b", b"B")?;
    check!(
        renameat2(&d.join("a"), &d.join("b"), RENAME_NOREPLACE),
        fails_with(Errno::EEXIST)
    );
    ensure_eq!(read_file(&d.join("b"))?, b"B".to_vec());
    Ok(())
}

fn rename_noreplace_to_a_free_name_moves() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    check!(
        renameat2(&d.join("a"), &d.join("c"), RENAME_NOREPLACE),
        succeeds_with(0)
    );
    ensure_eq!(read_file(&d.join("c"))?, b"A".to_vec());
    check!(
        syscall!(libc::SYS_faccessat, libc::AT_FDCWD, &*d.join("a"), 0),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn rename_noreplace_onto_itself_is_eexist() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    check!(
        renameat2(&d.join("a"), &d.join("a"), RENAME_NOREPLACE),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn rename_exchange_swaps_two_files() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    d.create_file("b", b"B")?;
    check!(
        renameat2(&d.join("a"), &d.join("b"), RENAME_EXCHANGE),
        succeeds_with(0)
    );
    ensure_eq!(read_file(&d.join("a"))?, b"B".to_vec());
    ensure_eq!(read_file(&d.join("b"))?, b"A".to_vec());
    Ok(())
}

fn rename_exchange_with_a_missing_target_is_enoent() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    check!(
        renameat2(&d.join("a"), &d.join("none"), RENAME_EXCHANGE),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn rename_exchange_of_a_file_and_a_directory_across_parents() -> Outcome {
    let d = TempDir::new()?;
    for sub in ["p", "q", "q/dir"] {
        check!(
            syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, &*d.join(sub), 0o755),
            succeeds()
        );
    }
    d.create_file("p/file", b"F")?;
    check!(
        renameat2(&d.join("p/file"), &d.join("q/dir"), RENAME_EXCHANGE),
        succeeds()
    );
    ensure_eq!(
        lstat(&d.join("p/file"))?.st_mode & libc::S_IFMT,
        libc::S_IFDIR
    );
    ensure_eq!(read_file(&d.join("q/dir"))?, b"F".to_vec());
    // The directory's ".." moved from q to p.
    ensure_eq!(lstat(&d.join("p"))?.st_nlink, 3);
    ensure_eq!(lstat(&d.join("q"))?.st_nlink, 2);
    Ok(())
}

fn rename_exchange_with_noreplace_is_einval() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    d.create_file("b", b"B")?;
    check!(
        renameat2(
            &d.join("a"),
            &d.join("b"),
            RENAME_EXCHANGE | RENAME_NOREPLACE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn rename_with_an_unknown_flag_is_einval() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    check!(
        renameat2(&d.join("a"), &d.join("b"), 8),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn rename_exchange_of_a_directory_with_its_child_is_einval() -> Outcome {
    let d = TempDir::new()?;
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, &*d.join("x"), 0o755),
        succeeds()
    );
    d.create_file("x/y", b"")?;
    check!(
        renameat2(&d.join("x"), &d.join("x/y"), RENAME_EXCHANGE),
        fails_with(Errno::EINVAL)
    );
    check!(
        renameat2(&d.join("x/y"), &d.join("x"), RENAME_EXCHANGE),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn rename_whiteout_leaves_a_0_0_character_device() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("a", b"A")?;
    check!(
        renameat2(&d.join("a"), &d.join("b"), RENAME_WHITEOUT),
        succeeds()
    );
    let st = lstat(&d.join("a"))?;
    ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFCHR);
    ensure_eq!(st.st_rdev, 0);
    ensure_eq!(read_file(&d.join("b"))?, b"A".to_vec());
    Ok(())
}

fn rename_whiteout_needs_no_capability_and_is_owned_by_the_caller() -> Outcome {
    let d = TempDir::new()?;
    check!(
        syscall!(libc::SYS_fchmodat, libc::AT_FDCWD, d.path(), 0o777),
        succeeds()
    );
    as_unprivileged(|| {
        let a = d.join("a");
        drop(Fd::open(
            &a,
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        )?);
        check!(renameat2(&a, &d.join("b"), RENAME_WHITEOUT), succeeds());
        let st = lstat(&a)?;
        ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFCHR);
        ensure_eq!(st.st_uid, 1000);
        Ok(())
    })
}

// ---- link / mknod ----

fn link_makes_a_second_name_for_the_file() -> Outcome {
    let (d, f) = dir_with_file()?;
    let g = d.join("g");
    check!(
        syscall!(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            &*f,
            libc::AT_FDCWD,
            &*g,
            0
        ),
        succeeds()
    );
    ensure_eq!(lstat(&f)?.st_nlink, 2);
    ensure_eq!(lstat(&f)?.st_ino, lstat(&g)?.st_ino);
    check!(set(&g, c"user.shared", b"s", 0), succeeds());
    ensure_eq!(value_of(&f, c"user.shared")?, b"s".to_vec());
    Ok(())
}

fn linkat_empty_path_links_the_fds_file() -> Outcome {
    let (d, f) = dir_with_file()?;
    let fd = Fd::open(&f, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let g = d.join("g");
    check!(
        syscall!(
            libc::SYS_linkat,
            fd.raw(),
            c"",
            libc::AT_FDCWD,
            &*g,
            AT_EMPTY_PATH
        ),
        succeeds()
    );
    ensure_eq!(read_file(&g)?, b"data".to_vec());
    ensure_eq!(lstat(&f)?.st_nlink, 2);
    Ok(())
}

fn linkat_empty_path_without_the_flag_is_enoent() -> Outcome {
    let (d, f) = dir_with_file()?;
    let fd = Fd::open(&f, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    check!(
        syscall!(
            libc::SYS_linkat,
            fd.raw(),
            c"",
            libc::AT_FDCWD,
            &*d.join("g"),
            0
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn mknod_makes_a_fifo() -> Outcome {
    let d = TempDir::new()?;
    let p = d.join("fifo");
    check!(
        syscall!(
            libc::SYS_mknodat,
            libc::AT_FDCWD,
            &*p,
            libc::S_IFIFO | 0o600,
            0
        ),
        succeeds_with(0)
    );
    let st = lstat(&p)?;
    ensure_eq!(st.st_mode, libc::S_IFIFO | 0o600);
    ensure!(st.st_nlink == 1, "nlink {}", st.st_nlink);
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        user_xattr_set_then_get_returns_value,
        getxattr_with_size_zero_returns_the_length,
        getxattr_into_a_too_small_buffer_is_erange,
        getxattr_of_a_missing_name_is_enodata,
        getxattr_with_a_huge_size_still_works,
        xattr_create_on_an_existing_name_is_eexist,
        xattr_replace_of_a_missing_name_is_enodata,
        xattr_replace_changes_an_existing_value,
        xattr_create_and_replace_together_always_fail,
        setxattr_with_unknown_flags_is_einval,
        setxattr_with_an_empty_name_is_erange,
        xattr_names_of_255_bytes_work_and_256_is_erange,
        setxattr_of_more_than_64k_is_e2big,
        xattr_bare_prefix_is_einval,
        xattr_unknown_namespace_is_eopnotsupp,
        setxattr_with_an_empty_value_stores_empty,
        getxattr_with_a_bad_name_pointer_is_efault,
        setxattr_with_a_bad_value_pointer_is_efault,
        xattr_on_a_missing_path_is_enoent,
        listxattr_of_a_fresh_file_is_empty,
        listxattr_names_every_attribute,
        listxattr_with_size_zero_returns_the_total_length,
        listxattr_into_a_too_small_buffer_is_erange,
        removexattr_removes_the_name,
        removexattr_of_a_missing_name_is_enodata,
        fsetxattr_and_fgetxattr_work_on_an_fd,
        flistxattr_and_fremovexattr_work_on_an_fd,
        fgetxattr_on_an_o_path_fd_is_ebadf,
        fgetxattr_on_a_closed_fd_is_ebadf,
        user_xattrs_work_on_a_memfd,
        pipes_have_no_xattrs,
        user_xattr_on_a_directory_works,
        lsetxattr_user_on_a_symlink_is_eperm,
        lgetxattr_user_on_a_symlink_is_enodata,
        setxattr_through_a_symlink_sets_the_target,
        user_xattr_on_a_fifo_is_eperm,
        trusted_xattr_works_for_root,
        trusted_xattr_is_hidden_from_unprivileged_callers,
        security_xattr_needs_cap_sys_admin_to_set,
        security_xattr_round_trips_for_root,
        user_xattr_set_needs_write_permission,
        user_xattr_get_needs_read_permission,
        user_xattr_on_a_sticky_directory_is_owner_only,
        rename_noreplace_onto_an_existing_name_is_eexist,
        rename_noreplace_to_a_free_name_moves,
        rename_noreplace_onto_itself_is_eexist,
        rename_exchange_swaps_two_files,
        rename_exchange_with_a_missing_target_is_enoent,
        rename_exchange_of_a_file_and_a_directory_across_parents,
        rename_exchange_with_noreplace_is_einval,
        rename_with_an_unknown_flag_is_einval,
        rename_exchange_of_a_directory_with_its_child_is_einval,
        rename_whiteout_leaves_a_0_0_character_device,
        rename_whiteout_needs_no_capability_and_is_owned_by_the_caller,
        link_makes_a_second_name_for_the_file,
        linkat_empty_path_links_the_fds_file,
        linkat_empty_path_without_the_flag_is_enoent,
        mknod_makes_a_fifo,
    ])
}
