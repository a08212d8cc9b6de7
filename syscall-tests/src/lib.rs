//! The syscall conformance suite: matchers, fixtures and the test harness shared by the test
//! binaries in `src/bin/*.rs`, plus the pure logic of the runner
//! (`src/bin/runner.rs`) that compares native runs with sandboxed runs.
//!
//! The suite follows gVisor's `test/syscalls` habits, in Rust:
//! - every test is a `fn() -> Outcome` that asserts *Linux* behaviour, checked natively first; a
//!   platform's known gaps go in `expected-failures/<platform>/<bin>.txt`, never in `if`s;
//! - calls are made raw with [`syscall!`] when the exact arguments matter (junk in the upper
//!   32 bits of an `int`, deliberately bad pointers), and checked with [`check!`] against a
//!   [`Matcher`] ([`succeeds`], [`succeeds_with`], [`fails_with`]), which prints the call text,
//!   the return value and the errno *name* on mismatch;
//! - fixtures clean up by `Drop`: [`Fd`] closes, [`TempFile`]/[`TempDir`] (under /tmp) are
//!   removed, [`Mapping`] is unmapped, [`CwdGuard`] restores the working directory.
//!
//! The harness ([`run_tests`]) forces `--test-threads=1`, so the harness itself never calls
//! clone(2) and tests may fork. Tests of processes, threads and signals run their bodies in a
//! forked child under a watchdog ([`task::fork_and_check`]), so process-wide changes and
//! blocking calls stay contained and bounded.
//!
//! Neighbours: errno names come from the `abi` crate (Linux numbers, not the host libc's);
//! everything else calls the host kernel through `libc`, which is the point of a conformance test.
#![deny(unsafe_code)]

pub mod fixture;
pub mod report;
#[allow(unsafe_code)]
pub mod sys;
pub mod vdso;

use std::ffi::{CStr, CString};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

pub use abi::Errno;
pub use libc;

/// What a test returns: `Err` carries a human-readable description of the first mismatch.
pub type Outcome = Result<(), String>;

/// An expectation on the result of one libc-convention call (`-1` + `errno` on failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// Any return value other than `-1`.
    Succeeds,
    /// Exactly this return value.
    SucceedsWith(i64),
    /// `-1` with exactly this errno.
    FailsWith(Errno),
}

/// The call succeeds (returns anything but -1).
pub fn succeeds() -> Matcher {
    Matcher::Succeeds
}

/// The call succeeds and returns exactly `value`.
pub fn succeeds_with(value: i64) -> Matcher {
    Matcher::SucceedsWith(value)
}

/// The call fails with exactly `errno`.
pub fn fails_with(errno: Errno) -> Matcher {
    Matcher::FailsWith(errno)
}

/// Formats an errno number as its Linux name ("EBADF"), or the number if unknown.
pub fn errno_name(errno: i32) -> String {
    u16::try_from(errno)
        .ok()
        .and_then(|n| Errno::from_raw(n).name())
        .map_or_else(|| format!("errno {errno}"), str::to_owned)
}

fn describe(ret: i64, errno: i32) -> String {
    if ret == -1 {
        format!("-1 ({})", errno_name(errno))
    } else {
        format!("{ret} ({ret:#x})")
    }
}

impl Matcher {
    /// Checks `ret` (and `errno`, meaningful only when `ret == -1`) against the expectation.
    /// On success returns `ret`, so `check!` can be used as an expression; on mismatch returns
    /// the message `check!` hands back as the test's failure.
    pub fn verify(self, call: &str, location: &str, ret: i64, errno: i32) -> Result<i64, String> {
        let ok = match self {
            Matcher::Succeeds => ret != -1,
            Matcher::SucceedsWith(v) => ret == v,
            Matcher::FailsWith(e) => ret == -1 && errno == e.raw(),
        };
        if ok {
            return Ok(ret);
        }
        let expected = match self {
            Matcher::Succeeds => "success".to_owned(),
            Matcher::SucceedsWith(v) => format!("success with {v} ({v:#x})"),
            Matcher::FailsWith(e) => format!("failure with {}", errno_name(e.raw())),
        };
        Err(format!(
            "{location}: `{call}` returned {}, expected {expected}",
            describe(ret, errno)
        ))
    }
}

/// Return values `check!` accepts: anything a libc function or `syscall(2)` returns.
pub trait IntoRet {
    /// The value as a signed 64-bit return (`-1` means failure by the libc convention).
    fn into_ret(self) -> i64;
}

impl IntoRet for i64 {
    fn into_ret(self) -> i64 {
        self
    }
}

impl IntoRet for i32 {
    fn into_ret(self) -> i64 {
        i64::from(self)
    }
}

impl IntoRet for isize {
    fn into_ret(self) -> i64 {
        // isize is 64 bits on x86-64, the only target of this suite.
        self as i64
    }
}

/// poll(2) of one descriptor for `events`: (ready count, revents). The call must succeed.
pub fn poll_one(fd: i32, events: i16, timeout_ms: i32) -> Result<(i64, i16), String> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let n = check!(
        syscall!(libc::SYS_poll, &mut pfd as *mut libc::pollfd, 1, timeout_ms),
        succeeds()
    );
    Ok((n, pfd.revents))
}

/// The calling thread's `errno`, read right after the call under test.
pub fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `check!(call, matcher)`: evaluates `call` (a libc-convention call, usually [`syscall!`]),
/// and returns its value if it matches, else returns `Err(description)` from the enclosing
/// function. The description names the call, the return value and the errno.
#[macro_export]
macro_rules! check {
    ($call:expr, $matcher:expr $(,)?) => {{
        let ret = $crate::IntoRet::into_ret($call);
        let errno = $crate::last_errno();
        match $crate::Matcher::verify(
            $matcher,
            stringify!($call),
            concat!(file!(), ":", line!()),
            ret,
            errno,
        ) {
            Ok(v) => v,
            Err(msg) => return Err(msg),
        }
    }};
}

/// `ensure!(cond, "format", args...)`: returns `Err` with the message if `cond` is false.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!(
                "{}: `{}` is false: {}",
                concat!(file!(), ":", line!()),
                stringify!($cond),
                format!($($fmt)+)
            ));
        }
    };
}

/// `ensure_eq!(left, right)` or `ensure_eq!(left, right, "format", args...)`: returns `Err`
/// showing both sides (and the message) if they differ.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        $crate::ensure_eq!($left, $right, "")
    };
    ($left:expr, $right:expr, $($fmt:tt)+) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!(
                "{}: `{}` != `{}`: {:?} != {:?} {}",
                concat!(file!(), ":", line!()),
                stringify!($left),
                stringify!($right),
                l,
                r,
                format!($($fmt)+)
            ));
        }
    }};
}

/// Arguments [`syscall!`] accepts, converted to the 64-bit register value.
///
/// Signed integers are sign-extended (as glibc's `syscall()` passes a `long`), unsigned ones
/// zero-extended, pointers passed as their address.
pub trait SysArg {
    /// The register value.
    fn to_arg(self) -> u64;
}

macro_rules! sysarg_signed {
    ($($t:ty),*) => {$(
        impl SysArg for $t {
            #[allow(clippy::cast_sign_loss)] // sign extension is the point
            fn to_arg(self) -> u64 {
                i64::from(self) as u64
            }
        }
    )*};
}
macro_rules! sysarg_unsigned {
    ($($t:ty),*) => {$(
        impl SysArg for $t {
            fn to_arg(self) -> u64 {
                u64::from(self)
            }
        }
    )*};
}
sysarg_signed!(i8, i16, i32, i64);
sysarg_unsigned!(u8, u16, u32, u64);

impl SysArg for usize {
    fn to_arg(self) -> u64 {
        self as u64
    }
}

impl SysArg for isize {
    #[allow(clippy::cast_sign_loss)]
    fn to_arg(self) -> u64 {
        self as u64
    }
}

impl<T> SysArg for *const T {
    fn to_arg(self) -> u64 {
        self as usize as u64
    }
}

impl<T> SysArg for *mut T {
    fn to_arg(self) -> u64 {
        self as usize as u64
    }
}

impl SysArg for &CStr {
    fn to_arg(self) -> u64 {
        self.as_ptr() as usize as u64
    }
}

/// `syscall!(libc::SYS_xxx, args...)`: the raw system call with exactly these register values,
/// returning the libc convention (`-1` and `errno` on failure). See [`sys::syscall`] for the
/// contract the arguments must meet.
#[macro_export]
macro_rules! syscall {
    ($nr:expr $(, $arg:expr)* $(,)?) => {
        $crate::sys::syscall($nr, &[$($crate::SysArg::to_arg($arg)),*])
    };
}

/// Joins `(0xdead << 32)` onto a 32-bit argument: the kernel reads `int`/`unsigned int`
/// arguments from the low half of the register only, so the result must behave as `v`.
#[allow(clippy::cast_sign_loss)]
pub fn with_junk_upper_bits(v: i32) -> u64 {
    (0xdead_u64 << 32) | u64::from(v as u32)
}

/// An address no user mapping can cover: the top of the non-canonical hole.
pub const KERNEL_ADDR: u64 = 0xffff_ffff_ffff_0000;
/// Address 1: in the never-mapped first page (mmap_min_addr).
pub const LOW_ADDR: u64 = 1;

static NEXT_NAME: AtomicU32 = AtomicU32::new(0);

/// A fresh path under /tmp, unique within this process and across processes (pid in name).
pub fn unique_tmp_path(kind: &str) -> CString {
    let n = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
    let s = format!("/tmp/rvisor-st-{kind}-{}-{n}", std::process::id());
    // The string has no interior NUL by construction.
    CString::new(s).unwrap_or_default()
}

/// Builds a C string from a Rust string known not to contain NUL (test-authored paths).
pub fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// An owned file descriptor, closed on drop.
#[derive(Debug)]
pub struct Fd(i32);

impl Fd {
    /// Adopts a descriptor returned by a successful call (usually the value of `check!`).
    pub fn from_ret(ret: i64) -> Result<Fd, String> {
        i32::try_from(ret)
            .ok()
            .filter(|fd| *fd >= 0)
            .map(Fd)
            .ok_or_else(|| format!("{ret} is not a file descriptor"))
    }

    /// openat(AT_FDCWD, path, flags, mode), which must succeed.
    pub fn open(path: &CStr, flags: i32, mode: u32) -> Result<Fd, String> {
        let ret = check!(
            syscall!(libc::SYS_openat, libc::AT_FDCWD, path, flags, mode),
            succeeds()
        );
        Fd::from_ret(ret)
    }

    /// The descriptor number.
    pub fn raw(&self) -> i32 {
        self.0
    }

    /// Gives up ownership without closing (for tests that close the fd themselves).
    pub fn into_raw(self) -> i32 {
        let fd = self.0;
        std::mem::forget(self);
        fd
    }

    /// Writes all of `data` at the current offset.
    pub fn write_all(&self, data: &[u8]) -> Outcome {
        let n = check!(
            syscall!(libc::SYS_write, self.0, data.as_ptr(), data.len()),
            succeeds()
        );
        ensure_eq!(usize::try_from(n).ok(), Some(data.len()));
        Ok(())
    }

    /// Reads up to `max` bytes at the current offset.
    pub fn read_up_to(&self, max: usize) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; max];
        let n = check!(
            syscall!(libc::SYS_read, self.0, buf.as_mut_ptr(), buf.len()),
            succeeds()
        );
        buf.truncate(usize::try_from(n).unwrap_or(0));
        Ok(buf)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = syscall!(libc::SYS_close, self.0);
    }
}

/// A regular file under /tmp, unlinked on drop.
#[derive(Debug)]
pub struct TempFile {
    path: CString,
}

impl TempFile {
    /// Creates an empty file (mode 0644).
    pub fn new() -> Result<TempFile, String> {
        TempFile::with_contents(b"")
    }

    /// Creates a file holding `data`.
    pub fn with_contents(data: &[u8]) -> Result<TempFile, String> {
        let file = TempFile {
            path: unique_tmp_path("file"),
        };
        let fd = Fd::open(
            &file.path,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644,
        )?;
        if !data.is_empty() {
            fd.write_all(data)?;
        }
        Ok(file)
    }

    /// The absolute path.
    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// Opens the file with `flags` (O_CLOEXEC added).
    pub fn open(&self, flags: i32) -> Result<Fd, String> {
        Fd::open(&self.path, flags | libc::O_CLOEXEC, 0)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = syscall!(libc::SYS_unlinkat, libc::AT_FDCWD, self.path.as_c_str(), 0);
    }
}

/// A directory under /tmp, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: CString,
}

impl TempDir {
    /// Creates an empty directory (mode 0755).
    pub fn new() -> Result<TempDir, String> {
        let dir = TempDir {
            path: unique_tmp_path("dir"),
        };
        check!(
            syscall!(
                libc::SYS_mkdirat,
                libc::AT_FDCWD,
                dir.path.as_c_str(),
                0o755
            ),
            succeeds()
        );
        Ok(dir)
    }

    /// The absolute path.
    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// The path of `name` inside the directory.
    pub fn join(&self, name: &str) -> CString {
        cstring(&format!("{}/{name}", self.path.to_string_lossy()))
    }

    /// Creates a regular file `name` holding `data`.
    pub fn create_file(&self, name: &str, data: &[u8]) -> Outcome {
        let fd = Fd::open(
            &self.join(name),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644,
        )?;
        fd.write_all(data)
    }

    /// Opens the directory itself (O_RDONLY | O_DIRECTORY).
    pub fn open(&self) -> Result<Fd, String> {
        Fd::open(
            &self.path,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.path.to_string_lossy().as_ref());
    }
}

/// Restores the working directory on drop (for tests that chdir).
#[derive(Debug)]
pub struct CwdGuard {
    saved: Fd,
}

impl CwdGuard {
    /// Remembers the current working directory.
    pub fn new() -> Result<CwdGuard, String> {
        Ok(CwdGuard {
            saved: Fd::open(
                c".",
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                0,
            )?,
        })
    }
}

impl Drop for CwdGuard {
    fn drop(&mut self) {
        let _ = syscall!(libc::SYS_fchdir, self.saved.raw());
    }
}

pub use sys::{Mapping, zeroed};

pub mod task;

/// One test of a binary: its behaviour-describing name and body.
#[derive(Debug, Clone, Copy)]
pub struct Test {
    /// The test's name as printed by the harness (the function name).
    pub name: &'static str,
    /// The test body.
    pub run: fn() -> Outcome,
}

/// `tests![fn_a, fn_b, ...]`: the list of [`Test`]s, named after the functions.
#[macro_export]
macro_rules! tests {
    ($($f:ident),* $(,)?) => {
        vec![$($crate::Test { name: stringify!($f), run: $f }),*]
    };
}

/// Runs `tests` under libtest-mimic with the process's command line, forcing one test thread:
/// libtest-mimic then runs every test on the main thread and never calls clone(2).
pub fn run_tests(tests: Vec<Test>) -> ExitCode {
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1);
    let trials = tests
        .into_iter()
        .map(|t| libtest_mimic::Trial::test(t.name, move || (t.run)().map_err(Into::into)))
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_succeeds_accepts_non_minus_one() {
        assert_eq!(Matcher::Succeeds.verify("c", "l", 3, 0), Ok(3));
        assert_eq!(
            Matcher::Succeeds.verify("c", "l", -1, 9).err().as_deref(),
            Some("l: `c` returned -1 (EBADF), expected success")
        );
    }

    #[test]
    fn matcher_fails_with_names_errno_in_message() {
        let err = fails_with(Errno::EBADF)
            .verify("read(99)", "x.rs:1", -1, Errno::EFAULT.raw())
            .err()
            .unwrap_or_default();
        assert_eq!(
            err,
            "x.rs:1: `read(99)` returned -1 (EFAULT), expected failure with EBADF"
        );
    }

    #[test]
    fn matcher_succeeds_with_reports_value() {
        let err = succeeds_with(1)
            .verify("f()", "l", 2, 0)
            .err()
            .unwrap_or_default();
        assert_eq!(
            err,
            "l: `f()` returned 2 (0x2), expected success with 1 (0x1)"
        );
    }

    #[test]
    fn junk_upper_bits_keep_low_half() {
        assert_eq!(with_junk_upper_bits(3), 0xdead_0000_0003);
        assert_eq!(with_junk_upper_bits(-100), 0xdead_ffff_ff9c);
    }

    #[test]
    fn check_macro_returns_err_on_mismatch() {
        fn body() -> Outcome {
            check!(syscall!(libc::SYS_close, -1), fails_with(Errno::EBADF));
            check!(syscall!(libc::SYS_close, -1), succeeds());
            Ok(())
        }
        let msg = body().err().unwrap_or_default();
        assert!(msg.contains("SYS_close"), "{msg}");
        assert!(msg.contains("EBADF"), "{msg}");
    }
}
