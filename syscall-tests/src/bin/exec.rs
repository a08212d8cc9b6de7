//! execve and execveat: what the new image receives (argv, envp, descriptors without
//! O_CLOEXEC, the signal mask, pending signals, ignored dispositions, itimers, the pid, cwd,
//! rlimits) and what it loses (O_CLOEXEC descriptors, handlers, the alternate signal stack,
//! other threads), the error cases (ENOENT, EACCES, ENOEXEC, EFAULT, E2BIG, EINVAL), and
//! execveat with AT_EMPTY_PATH.
//!
//! The new image is this binary itself in a helper mode (`BIN --rvisor-helper NAME ARGS`,
//! see `syscall_tests::task::run_tests_with_helpers`), which reports what it sees through
//! its exit status or a pipe. Each test runs in a forked child ([`fork_and_check`]).
#![deny(unsafe_code)]

use std::ffi::CString;
use std::process::ExitCode;
use std::time::Duration;

use syscall_tests::libc;
use syscall_tests::sys;
use syscall_tests::task::{
    Child, Helper, block, current_mask, exec_self, fork_and_check, get_sigaction, getpid,
    helper_argv, ignore, install_recorder, pending, pipe, pipe2, run_helper,
    run_tests_with_helpers, self_exe, set_real_timer, sig_bit,
};
use syscall_tests::{
    Errno, Fd, KERNEL_ADDR, LOW_ADDR, Mapping, Outcome, TempDir, check, cstring, ensure_eq,
    fails_with, succeeds_with, syscall, tests, zeroed,
};

// ---------------------------------------------------------------- helper modes

fn arg_i32(args: &[String], i: usize) -> i32 {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(-1)
}

fn write_to(fd: i32, data: &[u8]) -> i32 {
    let n = syscall!(libc::SYS_write, fd, data.as_ptr(), data.len());
    i32::from(n != i64::try_from(data.len()).unwrap_or(-1))
}

/// `exit CODE`
fn helper_exit(args: &[String]) -> i32 {
    arg_i32(args, 0)
}

/// `write-args FD`: writes the whole argv, each string NUL-terminated, to FD.
fn helper_write_args(args: &[String]) -> i32 {
    let mut out = Vec::new();
    for a in std::env::args() {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    write_to(arg_i32(args, 0), &out)
}

/// `write-env FD`: writes the environment, each entry NUL-terminated, to FD.
fn helper_write_env(args: &[String]) -> i32 {
    let mut out = Vec::new();
    for e in sys::environ() {
        out.extend_from_slice(e.to_bytes());
        out.push(0);
    }
    write_to(arg_i32(args, 0), &out)
}

/// `write-ids FD`: writes getpid and getppid (8 bytes) to FD.
fn helper_write_ids(args: &[String]) -> i32 {
    let mut out = getpid().to_ne_bytes().to_vec();
    let ppid = i32::try_from(syscall!(libc::SYS_getppid)).unwrap_or(-1);
    out.extend_from_slice(&ppid.to_ne_bytes());
    write_to(arg_i32(args, 0), &out)
}

/// `fd-open N`: 0 if N is an open descriptor, 1 if not.
fn helper_fd_open(args: &[String]) -> i32 {
    i32::from(syscall!(libc::SYS_fcntl, arg_i32(args, 0), libc::F_GETFD) == -1)
}

/// `disposition SIG`: 0 for SIG_DFL, 1 for SIG_IGN, 2 for a handler.
fn helper_disposition(args: &[String]) -> i32 {
    match get_sigaction(arg_i32(args, 0)).map(|a| a.handler) {
        Ok(h) if h == libc::SIG_DFL as u64 => 0,
        Ok(h) if h == libc::SIG_IGN as u64 => 1,
        Ok(_) => 2,
        Err(_) => 3,
    }
}

/// `blocked SIG`: 1 if SIG is in the signal mask.
fn helper_blocked(args: &[String]) -> i32 {
    i32::from(current_mask().is_ok_and(|m| m & sig_bit(arg_i32(args, 0)) != 0))
}

/// `pending SIG`: 1 if SIG is pending.
fn helper_pending(args: &[String]) -> i32 {
    i32::from(pending().is_ok_and(|m| m & sig_bit(arg_i32(args, 0)) != 0))
}

/// `altstack-size-is N`: 0 if an alternate signal stack of exactly N bytes is installed.
/// (The Rust runtime installs its own, smaller one at startup when none is left, so the
/// size tells whether the pre-exec stack survived.)
fn helper_altstack_size_is(args: &[String]) -> i32 {
    let mut old: libc::stack_t = zeroed();
    let _ = syscall!(libc::SYS_sigaltstack, 0usize, &raw mut old);
    let want = usize::try_from(arg_i32(args, 0)).unwrap_or(0);
    i32::from(!(old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size == want))
}

/// `itimer`: 1 if ITIMER_REAL is armed.
fn helper_itimer(_: &[String]) -> i32 {
    let mut cur: libc::itimerval = zeroed();
    let _ = syscall!(libc::SYS_getitimer, libc::ITIMER_REAL, &raw mut cur);
    i32::from(cur.it_value.tv_sec != 0 || cur.it_value.tv_usec != 0)
}

/// `cwd-is PATH`: 0 if the working directory is PATH.
fn helper_cwd_is(args: &[String]) -> i32 {
    let cwd = std::env::current_dir().map(|p| p.to_string_lossy().into_owned());
    i32::from(cwd.ok().as_deref() != args.first().map(String::as_str))
}

/// `nofile-is N`: 0 if RLIMIT_NOFILE's soft limit is N.
fn helper_nofile_is(args: &[String]) -> i32 {
    let mut lim: libc::rlimit64 = zeroed();
    let _ = syscall!(
        libc::SYS_prlimit64,
        0,
        libc::RLIMIT_NOFILE,
        0usize,
        &raw mut lim
    );
    i32::from(i64::try_from(lim.rlim_cur).ok() != Some(i64::from(arg_i32(args, 0))))
}

/// `sleep`: sleeps up to 5 s (to be killed by the test).
fn helper_sleep(_: &[String]) -> i32 {
    std::thread::sleep(Duration::from_secs(5));
    0
}

const HELPERS: &[Helper] = &[
    ("exit", helper_exit),
    ("write-args", helper_write_args),
    ("write-env", helper_write_env),
    ("write-ids", helper_write_ids),
    ("fd-open", helper_fd_open),
    ("disposition", helper_disposition),
    ("blocked", helper_blocked),
    ("pending", helper_pending),
    ("altstack-size-is", helper_altstack_size_is),
    ("itimer", helper_itimer),
    ("cwd-is", helper_cwd_is),
    ("nofile-is", helper_nofile_is),
    ("sleep", helper_sleep),
];

// ---------------------------------------------------------------- helpers for the tests

fn helper_code(name: &str, args: &[&str]) -> Result<Option<i32>, String> {
    Ok(run_helper(name, args, &["RVISOR_TEST=1"])?.exit_code())
}

/// Runs a helper that writes to a pipe (its first argument is the pipe's fd number) and
/// returns what it wrote, with that fd number.
fn helper_output(name: &str, extra: &[&str], env: &[&str]) -> Result<(Vec<u8>, String), String> {
    let (r, w) = pipe2(0)?;
    let fd = w.raw().to_string();
    let mut args = vec![fd.as_str()];
    args.extend_from_slice(extra);
    let mut child = Child::spawn(|| {
        let _ = exec_self(name, &args, env);
        126
    })?;
    drop(w);
    let mut out = Vec::new();
    loop {
        let chunk = r.read_up_to(65536)?;
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    ensure_eq!(child.wait()?.exit_code(), Some(0));
    Ok((out, fd))
}

fn nul_joined(items: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for i in items {
        v.extend_from_slice(i.as_bytes());
        v.push(0);
    }
    v
}

/// execve of `path` in a forked child; returns the errno it failed with (0 if it succeeded,
/// which the helper-less path never does).
fn exec_errno(path: &CString, argv: &[CString], envp: &[CString]) -> Result<i32, String> {
    let (r, w) = pipe()?;
    let mut child = Child::spawn(|| {
        let _ = sys::execve(path, argv, envp);
        let e = syscall_tests::last_errno();
        let _ = w.write_all(&e.to_ne_bytes());
        0
    })?;
    drop(w);
    let bytes = r.read_up_to(4)?;
    child.wait()?;
    Ok(i32::from_ne_bytes(bytes.try_into().unwrap_or_default()))
}

fn expect_exec_errno(path: &CString, argv: &[CString], errno: Errno) -> Outcome {
    let got = exec_errno(path, argv, &[])?;
    ensure_eq!(
        syscall_tests::errno_name(got),
        syscall_tests::errno_name(errno.raw())
    );
    Ok(())
}

// ---------------------------------------------------------------- what the image receives

fn execve_runs_new_image_with_its_exit_status() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(helper_code("exit", &["42"])?, Some(42));
        Ok(())
    })
}

/// execve(2): argv is passed to the new program unchanged, including empty strings and
/// spaces.
fn execve_passes_argv_unchanged() -> Outcome {
    fork_and_check(|| {
        let (out, fd) = helper_output("write-args", &["x", "two words", ""], &[])?;
        let exe = self_exe();
        let exe = exe.to_string_lossy();
        ensure_eq!(
            out,
            nul_joined(&[
                &exe,
                "--rvisor-helper",
                "write-args",
                &fd,
                "x",
                "two words",
                ""
            ])
        );
        Ok(())
    })
}

/// envp becomes the new environment exactly.
fn execve_passes_envp_exactly() -> Outcome {
    fork_and_check(|| {
        let (out, _) = helper_output("write-env", &[], &["A=1", "B=two words", "EMPTY="])?;
        ensure_eq!(out, nul_joined(&["A=1", "B=two words", "EMPTY="]));
        Ok(())
    })
}

fn execve_with_empty_envp_gives_empty_environment() -> Outcome {
    fork_and_check(|| {
        let (out, _) = helper_output("write-env", &[], &[])?;
        ensure_eq!(out, Vec::<u8>::new());
        Ok(())
    })
}

/// execve(2): "The process ID of the process is not changed" (and so the parent is kept).
fn execve_keeps_pid_and_parent() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe2(0)?;
        let fd = w.raw().to_string();
        let mut child = Child::spawn(|| {
            let _ = exec_self("write-ids", &[&fd], &[]);
            126
        })?;
        drop(w);
        let ids = r.read_up_to(8)?;
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        let mut want = child.pid().to_ne_bytes().to_vec();
        want.extend_from_slice(&getpid().to_ne_bytes());
        ensure_eq!(ids, want);
        Ok(())
    })
}

/// execve(2): "By default, file descriptors remain open across an execve()".
fn execve_keeps_descriptors_without_cloexec() -> Outcome {
    fork_and_check(|| {
        let (r, _w) = pipe2(0)?;
        ensure_eq!(helper_code("fd-open", &[&r.raw().to_string()])?, Some(0));
        Ok(())
    })
}

/// "File descriptors that are marked close-on-exec are closed".
fn execve_closes_cloexec_descriptors() -> Outcome {
    fork_and_check(|| {
        let (r, _w) = pipe2(libc::O_CLOEXEC)?;
        ensure_eq!(helper_code("fd-open", &[&r.raw().to_string()])?, Some(1));
        Ok(())
    })
}

/// execve(2): "The dispositions of any signals that are being caught are reset to the
/// default".
fn execve_resets_caught_signal_to_default() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        ensure_eq!(
            helper_code("disposition", &[&libc::SIGUSR1.to_string()])?,
            Some(0)
        );
        Ok(())
    })
}

/// signal(7): "the dispositions of ignored signals are left unchanged" across execve.
fn execve_keeps_ignored_signal_ignored() -> Outcome {
    fork_and_check(|| {
        ignore(libc::SIGUSR2)?;
        ensure_eq!(
            helper_code("disposition", &[&libc::SIGUSR2.to_string()])?,
            Some(1)
        );
        Ok(())
    })
}

/// signal(7): "the signal mask is preserved across execve(2)".
fn execve_keeps_signal_mask() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGTERM)?;
        ensure_eq!(
            helper_code("blocked", &[&libc::SIGTERM.to_string()])?,
            Some(1)
        );
        Ok(())
    })
}

/// signal(7): "The pending signal set is preserved across an execve(2)."
fn execve_keeps_pending_signal() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let _ = block(libc::SIGUSR1);
            let _ = syscall!(libc::SYS_kill, getpid(), libc::SIGUSR1);
            let _ = exec_self("pending", &[&libc::SIGUSR1.to_string()], &[]);
            126
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// sigaltstack(2): "execve(2) clears the alternate signal stack settings" — checked in a
/// child that installed one before exec.
fn execve_clears_alternate_signal_stack() -> Outcome {
    fork_and_check(|| {
        // 49 pages: a size nobody else uses.
        let m = Mapping::anonymous(49 * 4096, libc::PROT_READ | libc::PROT_WRITE)?;
        let ss = libc::stack_t {
            ss_sp: m.ptr().cast(),
            ss_flags: 0,
            ss_size: m.len(),
        };
        check!(
            syscall!(libc::SYS_sigaltstack, &raw const ss, 0usize),
            succeeds_with(0)
        );
        ensure_eq!(
            helper_code("altstack-size-is", &[&(49 * 4096).to_string()])?,
            Some(1)
        );
        Ok(())
    })
}

/// POSIX timers set with setitimer survive execve (execve(2) lists what is reset; interval
/// timers are not on the list).
fn execve_keeps_itimer_real_armed() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let _ = set_real_timer(Duration::from_secs(10), Duration::ZERO);
            let _ = exec_self("itimer", &[], &[]);
            126
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

fn execve_keeps_working_directory() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_chdir, c"/tmp".as_ptr()),
            succeeds_with(0)
        );
        ensure_eq!(helper_code("cwd-is", &["/tmp"])?, Some(0));
        Ok(())
    })
}

fn execve_keeps_resource_limits() -> Outcome {
    fork_and_check(|| {
        let lim = libc::rlimit64 {
            rlim_cur: 100,
            rlim_max: 100,
        };
        check!(
            syscall!(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE,
                &raw const lim,
                0usize
            ),
            succeeds_with(0)
        );
        ensure_eq!(helper_code("nofile-is", &["100"])?, Some(0));
        Ok(())
    })
}

/// execve(2): "All threads other than the calling thread are destroyed"; a non-main thread
/// that execs takes over the thread-group id, so the pid stays the process's.
fn execve_from_secondary_thread_keeps_process_pid() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe2(0)?;
        let fd = w.raw().to_string();
        let mut child = Child::spawn(move || {
            let t = std::thread::spawn(move || {
                let _ = exec_self("write-ids", &[&fd], &[]);
            });
            let _ = t.join();
            126
        })?;
        drop(w);
        let ids = r.read_up_to(8)?;
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        ensure_eq!(ids.get(..4), Some(&child.pid().to_ne_bytes()[..]));
        Ok(())
    })
}

/// setpgid(2): EACCES "An attempt was made to change the process group ID of one of the
/// children of the calling process and the child had already performed an execve(2)".
fn setpgid_on_child_after_execve_fails_eacces() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe2(libc::O_CLOEXEC)?;
        let child = Child::spawn(move || {
            let _ = exec_self("sleep", &[], &[]);
            drop(w);
            126
        })?;
        // The close-on-exec write end closes exactly when the exec succeeds.
        ensure_eq!(r.read_up_to(1)?, Vec::<u8>::new());
        check!(
            syscall!(libc::SYS_setpgid, child.pid(), child.pid()),
            fails_with(Errno::EACCES)
        );
        Ok(())
    })
}

// ---------------------------------------------------------------- errors

fn execve_missing_file_fails_enoent() -> Outcome {
    fork_and_check(|| {
        let p = cstring("/nonexistent/rvisor-exec-test");
        expect_exec_errno(&p, std::slice::from_ref(&p), Errno::ENOENT)
    })
}

/// execve(2): EACCES "Execute permission is denied for the file".
fn execve_file_without_execute_permission_fails_eacces() -> Outcome {
    fork_and_check(|| {
        let dir = TempDir::new()?;
        dir.create_file("noexec", b"#!/bin/sh\n")?;
        let p = dir.join("noexec");
        expect_exec_errno(&p, std::slice::from_ref(&p), Errno::EACCES)
    })
}

/// execve(2): EACCES "The file or a script interpreter is not a regular file" (a directory).
fn execve_directory_fails_eacces() -> Outcome {
    fork_and_check(|| {
        let dir = TempDir::new()?;
        let p = CString::from(dir.path());
        expect_exec_errno(&p, std::slice::from_ref(&p), Errno::EACCES)
    })
}

fn executable_file(dir: &TempDir, name: &str, data: &[u8]) -> Result<CString, String> {
    dir.create_file(name, data)?;
    let p = dir.join(name);
    check!(
        syscall!(libc::SYS_fchmodat, libc::AT_FDCWD, p.as_c_str(), 0o755),
        succeeds_with(0)
    );
    Ok(p)
}

/// execve(2): ENOEXEC "An executable is not in a recognized format".
fn execve_unrecognized_format_fails_enoexec() -> Outcome {
    fork_and_check(|| {
        let dir = TempDir::new()?;
        let p = executable_file(&dir, "garbage", &[0x7f, b'X', b'Y', b'Z', 0, 0, 0, 0])?;
        expect_exec_errno(&p, std::slice::from_ref(&p), Errno::ENOEXEC)
    })
}

/// A script whose interpreter does not exist fails with ENOENT.
fn execve_script_with_missing_interpreter_fails_enoent() -> Outcome {
    fork_and_check(|| {
        let dir = TempDir::new()?;
        let p = executable_file(&dir, "script", b"#!/nonexistent/interp\n")?;
        expect_exec_errno(&p, std::slice::from_ref(&p), Errno::ENOENT)
    })
}

fn raw_execve_errno(path: u64, argv: u64, envp: u64) -> Result<i32, String> {
    let (r, w) = pipe()?;
    let mut child = Child::spawn(|| {
        let _ = syscall!(libc::SYS_execve, path, argv, envp);
        let e = syscall_tests::last_errno();
        let _ = w.write_all(&e.to_ne_bytes());
        0
    })?;
    drop(w);
    let bytes = r.read_up_to(4)?;
    child.wait()?;
    Ok(i32::from_ne_bytes(bytes.try_into().unwrap_or_default()))
}

fn execve_bad_path_pointer_fails_efault() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(raw_execve_errno(LOW_ADDR, 0, 0)?, libc::EFAULT);
        Ok(())
    })
}

fn execve_bad_argv_pointer_fails_efault() -> Outcome {
    fork_and_check(|| {
        let exe = self_exe();
        let p = exe.as_ptr() as u64;
        ensure_eq!(raw_execve_errno(p, KERNEL_ADDR, 0)?, libc::EFAULT);
        Ok(())
    })
}

/// execve(2): E2BIG when one argument is longer than MAX_ARG_STRLEN (32 pages).
fn execve_argument_longer_than_max_arg_strlen_fails_e2big() -> Outcome {
    fork_and_check(|| {
        let huge = cstring(&"a".repeat(32 * 4096 + 1));
        let mut argv = helper_argv("exit", &["0"]);
        argv.push(huge);
        let got = exec_errno(&self_exe(), &argv, &[])?;
        ensure_eq!(syscall_tests::errno_name(got), "E2BIG");
        Ok(())
    })
}

/// execve(2): E2BIG when argv+envp exceed the limit (a quarter of RLIMIT_STACK, at least
/// 32 pages): 300 KiB of environment under a 64 KiB stack limit.
fn execve_arguments_beyond_stack_limit_fails_e2big() -> Outcome {
    fork_and_check(|| {
        let small = libc::rlimit64 {
            rlim_cur: 64 * 1024,
            rlim_max: libc::RLIM_INFINITY,
        };
        check!(
            syscall!(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_STACK,
                &raw const small,
                0usize
            ),
            succeeds_with(0)
        );
        let envp: Vec<CString> = (0..300)
            .map(|i| cstring(&format!("V{i}={}", "x".repeat(1000))))
            .collect();
        let got = exec_errno(&self_exe(), &helper_argv("exit", &["0"]), &envp)?;
        ensure_eq!(syscall_tests::errno_name(got), "E2BIG");
        Ok(())
    })
}

// ---------------------------------------------------------------- execveat

fn open_self(flags: i32) -> Result<Fd, String> {
    Fd::open(&self_exe(), flags | libc::O_CLOEXEC, 0)
}

fn execveat_code(
    dirfd: i32,
    path: &CString,
    flags: i32,
    argv: &[CString],
) -> Result<WaitOr, String> {
    let (r, w) = pipe()?;
    let mut child = Child::spawn(|| {
        let _ = sys::execveat(dirfd, path, argv, &[], flags);
        let e = syscall_tests::last_errno();
        let _ = w.write_all(&e.to_ne_bytes());
        126
    })?;
    drop(w);
    let bytes = r.read_up_to(4)?;
    let status = child.wait()?;
    if bytes.len() == 4 {
        Ok(WaitOr::Errno(i32::from_ne_bytes(
            bytes.try_into().unwrap_or_default(),
        )))
    } else {
        Ok(WaitOr::Exit(status.exit_code()))
    }
}

/// What a child that tried execveat reported: its errno, or the helper's exit status.
#[derive(Debug, PartialEq, Eq)]
enum WaitOr {
    Errno(i32),
    Exit(Option<i32>),
}

/// execveat(2) AT_EMPTY_PATH: "If pathname is an empty string and the AT_EMPTY_PATH flag is
/// specified, then the file descriptor dirfd specifies the file to be executed".
fn execveat_empty_path_executes_the_fd() -> Outcome {
    fork_and_check(|| {
        let fd = open_self(libc::O_PATH)?;
        let got = execveat_code(
            fd.raw(),
            &cstring(""),
            libc::AT_EMPTY_PATH,
            &helper_argv("exit", &["33"]),
        )?;
        ensure_eq!(got, WaitOr::Exit(Some(33)));
        Ok(())
    })
}

/// An O_RDONLY descriptor works as well as O_PATH.
fn execveat_empty_path_on_read_only_fd_executes_it() -> Outcome {
    fork_and_check(|| {
        let fd = open_self(libc::O_RDONLY)?;
        let got = execveat_code(
            fd.raw(),
            &cstring(""),
            libc::AT_EMPTY_PATH,
            &helper_argv("exit", &["34"]),
        )?;
        ensure_eq!(got, WaitOr::Exit(Some(34)));
        Ok(())
    })
}

/// Without AT_EMPTY_PATH an empty pathname is ENOENT.
fn execveat_empty_path_without_flag_fails_enoent() -> Outcome {
    fork_and_check(|| {
        let fd = open_self(libc::O_PATH)?;
        let got = execveat_code(fd.raw(), &cstring(""), 0, &helper_argv("exit", &["0"]))?;
        ensure_eq!(got, WaitOr::Errno(libc::ENOENT));
        Ok(())
    })
}

/// A relative pathname is resolved against dirfd.
fn execveat_relative_path_resolves_against_dirfd() -> Outcome {
    fork_and_check(|| {
        let exe = self_exe();
        let exe = exe.to_string_lossy();
        let (dir, base) = exe.rsplit_once('/').unwrap_or(("/", &exe));
        let dirfd = Fd::open(
            &cstring(if dir.is_empty() { "/" } else { dir }),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )?;
        let got = execveat_code(
            dirfd.raw(),
            &cstring(base),
            0,
            &helper_argv("exit", &["35"]),
        )?;
        ensure_eq!(got, WaitOr::Exit(Some(35)));
        Ok(())
    })
}

fn execveat_unknown_flag_fails_einval() -> Outcome {
    fork_and_check(|| {
        let fd = open_self(libc::O_PATH)?;
        let got = execveat_code(
            fd.raw(),
            &cstring(""),
            libc::AT_EMPTY_PATH | 0x1,
            &helper_argv("exit", &["0"]),
        )?;
        ensure_eq!(got, WaitOr::Errno(libc::EINVAL));
        Ok(())
    })
}

/// execveat(2): EBADF "dirfd is not a valid file descriptor" for a relative path.
fn execveat_relative_path_with_closed_dirfd_fails_ebadf() -> Outcome {
    fork_and_check(|| {
        let got = execveat_code(900, &cstring("x"), 0, &helper_argv("exit", &["0"]))?;
        ensure_eq!(got, WaitOr::Errno(libc::EBADF));
        Ok(())
    })
}

fn main() -> ExitCode {
    run_tests_with_helpers(
        tests![
            execve_runs_new_image_with_its_exit_status,
            execve_passes_argv_unchanged,
            execve_passes_envp_exactly,
            execve_with_empty_envp_gives_empty_environment,
            execve_keeps_pid_and_parent,
            execve_keeps_descriptors_without_cloexec,
            execve_closes_cloexec_descriptors,
            execve_resets_caught_signal_to_default,
            execve_keeps_ignored_signal_ignored,
            execve_keeps_signal_mask,
            execve_keeps_pending_signal,
            execve_clears_alternate_signal_stack,
            execve_keeps_itimer_real_armed,
            execve_keeps_working_directory,
            execve_keeps_resource_limits,
            execve_from_secondary_thread_keeps_process_pid,
            setpgid_on_child_after_execve_fails_eacces,
            execve_missing_file_fails_enoent,
            execve_file_without_execute_permission_fails_eacces,
            execve_directory_fails_eacces,
            execve_unrecognized_format_fails_enoexec,
            execve_script_with_missing_interpreter_fails_enoent,
            execve_bad_path_pointer_fails_efault,
            execve_bad_argv_pointer_fails_efault,
            execve_argument_longer_than_max_arg_strlen_fails_e2big,
            execve_arguments_beyond_stack_limit_fails_e2big,
            execveat_empty_path_executes_the_fd,
            execveat_empty_path_on_read_only_fd_executes_it,
            execveat_empty_path_without_flag_fails_enoent,
            execveat_relative_path_resolves_against_dirfd,
            execveat_unknown_flag_fails_einval,
            execveat_relative_path_with_closed_dirfd_fails_ebadf,
        ],
        HELPERS,
    )
}
