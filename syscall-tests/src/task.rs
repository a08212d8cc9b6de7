//! Fixtures for tests of processes, threads and signals: running a test body in a forked child
//! ([`fork_and_check`]) so that process-wide changes (dispositions, masks, itimers, process
//! groups, rlimits, a subreaper) never leak into other tests, RAII [`Child`] processes, status
//! decoding, signal-set and sigaction helpers over the raw syscalls, and the "exec myself in a
//! helper mode" convention ([`run_tests_with_helpers`], [`exec_self`]).
//!
//! Bounding: everything that may block runs under a watchdog. [`fork_and_check`]'s parent
//! polls the child with WNOHANG and SIGKILLs it after the timeout (a child that blocks or
//! ignores SIGALRM cannot escape that), and every forked child asks for PR_SET_PDEATHSIG
//! SIGKILL, so when a test process dies its descendants die with it.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::sys::{self, KernelSigaction};
use crate::{Errno, Fd, Mapping, Outcome, Test, fails_with, succeeds};

/// How long a forked test body may run before its watchdog kills it.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(10);

/// The kernel's sigset_t size on x86-64: 64 signals, 8 bytes.
pub const SIGSET_SIZE: usize = 8;

/// The bit of `sig` in a kernel sigset.
pub fn sig_bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Makes the calling (just forked) process die with SIGKILL when its parent does; exits at
/// once if the parent is already gone (it died between fork and prctl).
fn die_with_parent(parent: i64) {
    let _ = syscall!(libc::SYS_prctl, libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    if syscall!(libc::SYS_getppid) != parent {
        sys::exit_now(125);
    }
}

/// The raw wait status of a child: exited(code), killed(signal), stopped, continued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitStatus(pub i32);

impl WaitStatus {
    /// Some(code) if the child exited normally.
    pub fn exit_code(self) -> Option<i32> {
        libc::WIFEXITED(self.0).then(|| libc::WEXITSTATUS(self.0))
    }

    /// Some(signal) if the child was killed by a signal.
    pub fn term_signal(self) -> Option<i32> {
        libc::WIFSIGNALED(self.0).then(|| libc::WTERMSIG(self.0))
    }

    /// Some(signal) if the child is stopped.
    pub fn stop_signal(self) -> Option<i32> {
        libc::WIFSTOPPED(self.0).then(|| libc::WSTOPSIG(self.0))
    }

    /// True for a "continued" report (WCONTINUED).
    pub fn continued(self) -> bool {
        libc::WIFCONTINUED(self.0)
    }
}

/// wait4(pid, &status, options, NULL) once; the status on success.
pub fn wait4(pid: i32, options: i32) -> Result<(i64, WaitStatus), String> {
    let mut status = 0i32;
    let ret = check!(
        syscall!(libc::SYS_wait4, pid, &raw mut status, options, 0usize),
        succeeds()
    );
    Ok((ret, WaitStatus(status)))
}

/// Waits for `pid` (any kind of child, __WALL) with a deadline; SIGKILLs it when the deadline
/// passes and reports the timeout as an error.
pub fn wait_with_deadline(pid: i32, timeout: Duration) -> Result<WaitStatus, String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(20);
    loop {
        let mut status = 0i32;
        let ret = syscall!(
            libc::SYS_wait4,
            pid,
            &raw mut status,
            libc::WNOHANG | libc::__WALL,
            0usize
        );
        if ret == i64::from(pid) {
            return Ok(WaitStatus(status));
        }
        if ret == -1 {
            let errno = crate::last_errno();
            // Never leave a child running behind a failed wait: it could signal or write to
            // what later tests use.
            let _ = syscall!(libc::SYS_kill, pid, libc::SIGKILL);
            return Err(format!(
                "wait4({pid}, WNOHANG) failed: {} (child killed)",
                crate::errno_name(errno)
            ));
        }
        if Instant::now() >= deadline {
            kill_and_reap(pid);
            return Err(format!(
                "child {pid} still running after {timeout:?}: killed (a blocking call never returned?)"
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// SIGKILLs `pid` and reaps it, giving up after 2 s (a broken wait must not hang the caller;
/// the zombie is then left to the test process's exit).
fn kill_and_reap(pid: i32) {
    let _ = syscall!(libc::SYS_kill, pid, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let ret = syscall!(
            libc::SYS_wait4,
            pid,
            0usize,
            libc::WNOHANG | libc::__WALL,
            0usize
        );
        if ret != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

const REPORT_LEN: usize = 4096;

/// Runs `body` in a forked child and returns its outcome: the child writes its error message
/// into a shared page and exits 0 (Ok) or 1 (Err); a child killed by a signal, or still running
/// after [`CHILD_TIMEOUT`] (it is then killed), is a failure. The body may change any
/// process-wide state, create threads and block: none of it reaches the caller.
pub fn fork_and_check(body: impl FnOnce() -> Outcome) -> Outcome {
    fork_and_check_within(CHILD_TIMEOUT, body)
}

/// [`fork_and_check`] with an explicit watchdog timeout.
pub fn fork_and_check_within(timeout: Duration, body: impl FnOnce() -> Outcome) -> Outcome {
    let mut report = Mapping::shared_anonymous(REPORT_LEN)?;
    let parent = syscall!(libc::SYS_getpid);
    let pid = sys::fork();
    if pid == -1 {
        return Err(format!(
            "fork failed: {}",
            crate::errno_name(crate::last_errno())
        ));
    }
    if pid == 0 {
        die_with_parent(parent);
        let code = match body() {
            Ok(()) => 0,
            Err(msg) => {
                let bytes = msg.as_bytes();
                let n = bytes.len().min(REPORT_LEN - 4);
                let len = u32::try_from(n).unwrap_or(0).to_ne_bytes();
                let _ = report.write(0, &len);
                let _ = report.write(4, bytes.get(..n).unwrap_or_default());
                1
            }
        };
        sys::exit_now(code);
    }
    let status = wait_with_deadline(pid, timeout)?;
    match (status.exit_code(), status.term_signal()) {
        (Some(0), _) => Ok(()),
        (Some(1), _) => {
            let len = report.read(0, 4)?;
            let n = u32::from_ne_bytes(len.try_into().unwrap_or_default()) as usize;
            let msg = report.read(4, n.min(REPORT_LEN - 4))?;
            Err(String::from_utf8_lossy(&msg).into_owned())
        }
        (Some(code), _) => Err(format!("forked test body exited with status {code}")),
        (None, Some(sig)) => Err(format!(
            "forked test body was killed by signal {sig} ({})",
            signal_name(sig)
        )),
        _ => Err(format!(
            "forked test body: unexpected wait status {status:?}"
        )),
    }
}

/// A short name for a signal number, for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGSTOP => "SIGSTOP",
        _ => "?",
    }
}

/// A forked child process, killed (SIGKILL) and reaped on drop unless already reaped.
#[derive(Debug)]
pub struct Child {
    pid: i32,
    reaped: bool,
}

impl Child {
    /// Forks a child that runs `f` and exits with its return value; the child dies with its
    /// parent (PR_SET_PDEATHSIG).
    pub fn spawn(f: impl FnOnce() -> i32) -> Result<Child, String> {
        Child::spawn_inner(true, f)
    }

    /// Like [`Child::spawn`] but the child survives its parent (to test orphans and
    /// reapers); it is bounded by alarm(10) instead, so never hangs forever.
    pub fn spawn_orphanable(f: impl FnOnce() -> i32) -> Result<Child, String> {
        Child::spawn_inner(false, f)
    }

    fn spawn_inner(die_with: bool, f: impl FnOnce() -> i32) -> Result<Child, String> {
        let parent = syscall!(libc::SYS_getpid);
        let pid = check!(sys::fork(), succeeds());
        if pid == 0 {
            if die_with {
                die_with_parent(parent);
            } else {
                let _ = syscall!(libc::SYS_alarm, 10);
            }
            sys::exit_now(f());
        }
        Ok(Child {
            pid: i32::try_from(pid).unwrap_or(-1),
            reaped: false,
        })
    }

    /// Adopts a child the test created itself (clone, vfork), to be killed and reaped on drop.
    pub fn adopt(pid: i64) -> Result<Child, String> {
        let pid = i32::try_from(pid)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{pid} is not a pid"))?;
        Ok(Child { pid, reaped: false })
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Blocks until the child terminates (wait4 with __WALL) and returns its status.
    pub fn wait(&mut self) -> Result<WaitStatus, String> {
        let (_, status) = wait4(self.pid, libc::__WALL)?;
        self.reaped = true;
        Ok(status)
    }

    /// Records that the test reaped the child itself (with wait4/waitid).
    pub fn mark_reaped(&mut self) {
        self.reaped = true;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            kill_and_reap(self.pid);
        }
    }
}

/// pipe2(flags): (read end, write end).
pub fn pipe2(flags: i32) -> Result<(Fd, Fd), String> {
    let mut fds = [0i32; 2];
    check!(
        syscall!(libc::SYS_pipe2, fds.as_mut_ptr(), flags),
        succeeds()
    );
    Ok((Fd::from_ret(fds[0].into())?, Fd::from_ret(fds[1].into())?))
}

/// A close-on-exec pipe.
pub fn pipe() -> Result<(Fd, Fd), String> {
    pipe2(libc::O_CLOEXEC)
}

/// rt_sigprocmask(how, &set, &old): the previous mask.
pub fn sigprocmask(how: i32, set: u64) -> Result<u64, String> {
    let mut old = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            how,
            &raw const set,
            &raw mut old,
            SIGSET_SIZE
        ),
        succeeds_with_zero()
    );
    Ok(old)
}

fn succeeds_with_zero() -> crate::Matcher {
    crate::succeeds_with(0)
}

/// The calling thread's signal mask.
pub fn current_mask() -> Result<u64, String> {
    let mut old = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            0usize,
            &raw mut old,
            SIGSET_SIZE
        ),
        succeeds_with_zero()
    );
    Ok(old)
}

/// Blocks `sig` in the calling thread.
pub fn block(sig: i32) -> Outcome {
    sigprocmask(libc::SIG_BLOCK, sig_bit(sig)).map(|_| ())
}

/// The set of pending signals (rt_sigpending).
pub fn pending() -> Result<u64, String> {
    let mut set = 0u64;
    check!(
        syscall!(libc::SYS_rt_sigpending, &raw mut set, SIGSET_SIZE),
        succeeds_with_zero()
    );
    Ok(set)
}

/// rt_sigaction(sig, &act, &old): the previous action.
pub fn sigaction(sig: i32, act: &KernelSigaction) -> Result<KernelSigaction, String> {
    let mut old = KernelSigaction::default();
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::from_ref(act),
            &raw mut old,
            SIGSET_SIZE
        ),
        succeeds_with_zero()
    );
    Ok(old)
}

/// The current action of `sig`.
pub fn get_sigaction(sig: i32) -> Result<KernelSigaction, String> {
    let mut old = KernelSigaction::default();
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            sig,
            0usize,
            &raw mut old,
            SIGSET_SIZE
        ),
        succeeds_with_zero()
    );
    Ok(old)
}

/// Installs the recording handler (see [`sys::delivery`]) for `sig` with SA_SIGINFO |
/// SA_RESTORER | `flags`, blocking `mask` while it runs.
pub fn install_recorder(sig: i32, flags: u64, mask: u64) -> Result<KernelSigaction, String> {
    sigaction(
        sig,
        &KernelSigaction {
            handler: sys::record_handler_addr(),
            flags: flags | libc::SA_SIGINFO as u64 | SA_RESTORER,
            restorer: sys::restorer(),
            mask,
        },
    )
}

/// Sets `sig`'s disposition to SIG_IGN.
pub fn ignore(sig: i32) -> Outcome {
    sigaction(
        sig,
        &KernelSigaction {
            handler: libc::SIG_IGN as u64,
            ..KernelSigaction::default()
        },
    )
    .map(|_| ())
}

/// SA_RESTORER (x86-64): the restorer field is valid.
pub const SA_RESTORER: u64 = 0x0400_0000;

/// setitimer(ITIMER_REAL) firing after `first` and then every `interval`.
pub fn set_real_timer(first: Duration, interval: Duration) -> Outcome {
    let tv = |d: Duration| libc::timeval {
        tv_sec: d.as_secs().cast_signed(),
        tv_usec: libc::suseconds_t::from(d.subsec_micros()),
    };
    let it = libc::itimerval {
        it_interval: tv(interval),
        it_value: tv(first),
    };
    check!(
        syscall!(
            libc::SYS_setitimer,
            libc::ITIMER_REAL,
            &raw const it,
            0usize
        ),
        succeeds_with_zero()
    );
    Ok(())
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    i32::try_from(syscall!(libc::SYS_gettid)).unwrap_or(-1)
}

/// The process id.
pub fn getpid() -> i32 {
    i32::try_from(syscall!(libc::SYS_getpid)).unwrap_or(-1)
}

/// Sleeps for `ms` milliseconds (nanosleep; restarts are not needed by callers).
pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Checks `cond` repeatedly (every millisecond) until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------- exec helpers

/// argv[1] that makes a test binary run a helper mode instead of its tests.
pub const HELPER_ARG: &str = "--rvisor-helper";

/// A helper mode: its name (argv[2]) and body (gets argv from index 3 on, returns the exit
/// status).
pub type Helper = (&'static str, fn(&[String]) -> i32);

/// The test binary's own path, resolved once (/proc/self/exe, or argv[0] if /proc is absent).
pub fn self_exe() -> CString {
    static EXE: OnceLock<CString> = OnceLock::new();
    EXE.get_or_init(|| {
        let path = std::env::current_exe()
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|| std::env::args().next())
            .unwrap_or_default();
        crate::cstring(&path)
    })
    .clone()
}

/// Builds the argv of a helper run: [exe, HELPER_ARG, name, args...].
pub fn helper_argv(name: &str, args: &[&str]) -> Vec<CString> {
    let mut v = vec![self_exe(), crate::cstring(HELPER_ARG), crate::cstring(name)];
    v.extend(args.iter().map(|a| crate::cstring(a)));
    v
}

/// execve's this binary in helper mode `name` with `args` and environment `env`; returns only
/// on failure, with the error.
pub fn exec_self(name: &str, args: &[&str], env: &[&str]) -> String {
    let argv = helper_argv(name, args);
    let envp: Vec<CString> = env.iter().map(|e| crate::cstring(e)).collect();
    let _ = sys::execve(&self_exe(), &argv, &envp);
    format!(
        "execve of {:?} failed: {}",
        self_exe(),
        crate::errno_name(crate::last_errno())
    )
}

/// Forks a child that execs this binary in helper mode and returns its exit status.
pub fn run_helper(name: &str, args: &[&str], env: &[&str]) -> Result<WaitStatus, String> {
    let mut child = Child::spawn(|| {
        let _ = exec_self(name, args, env);
        126
    })?;
    child.wait()
}

/// Like [`crate::run_tests`], but first dispatches `argv[1] == HELPER_ARG` to a helper mode.
pub fn run_tests_with_helpers(tests: Vec<Test>, helpers: &[Helper]) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(HELPER_ARG) {
        let name = args.get(2).cloned().unwrap_or_default();
        let rest = args.get(3..).unwrap_or_default();
        let code = helpers
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(127, |(_, f)| f(rest));
        sys::exit_now(code);
    }
    // Resolve the executable's path now, before any test changes the working directory (a
    // relative argv[0] fallback would break after a chdir); forked tests inherit the value.
    let _ = self_exe();
    crate::run_tests(tests)
}

/// Checks that `call` fails with `errno` (a convenience for error-case bodies that must run
/// inside [`fork_and_check`]).
pub fn expect_errno(ret: i64, errno: Errno, what: &str) -> Outcome {
    let e = crate::last_errno();
    ensure!(
        ret == -1 && e == errno.raw(),
        "{what}: returned {ret} ({}), expected {}",
        crate::errno_name(e),
        crate::errno_name(errno.raw())
    );
    Ok(())
}

/// A file descriptor number that is certainly not open (checked with fcntl F_GETFD).
pub fn closed_fd() -> Result<i32, String> {
    let fd = 900;
    check!(
        syscall!(libc::SYS_fcntl, fd, libc::F_GETFD),
        fails_with(Errno::EBADF)
    );
    Ok(fd)
}

/// The C string of a test-authored literal path.
pub fn path(s: &str) -> CString {
    crate::cstring(s)
}

/// Is `name` (a C string) the same as `s`?
pub fn cstr_is(name: &CStr, s: &str) -> bool {
    name.to_bytes() == s.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_decodes_exit_code() {
        let s = WaitStatus(42 << 8);
        assert_eq!(s.exit_code(), Some(42));
        assert_eq!(s.term_signal(), None);
        assert_eq!(s.stop_signal(), None);
    }

    #[test]
    fn wait_status_decodes_signal_stop_and_continue() {
        assert_eq!(WaitStatus(libc::SIGTERM).term_signal(), Some(libc::SIGTERM));
        assert_eq!(
            WaitStatus(0x7f | (libc::SIGSTOP << 8)).stop_signal(),
            Some(libc::SIGSTOP)
        );
        assert!(WaitStatus(0xffff).continued());
    }

    #[test]
    fn sig_bit_is_one_based() {
        assert_eq!(sig_bit(1), 1);
        assert_eq!(sig_bit(libc::SIGUSR1), 1 << 9);
        assert_eq!(sig_bit(64), 1 << 63);
    }

    #[test]
    fn signal_name_knows_common_signals() {
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(signal_name(99), "?");
    }
}
