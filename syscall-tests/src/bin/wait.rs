//! Creating and reaping processes: fork, vfork, clone/clone3 with process flags, wait4 and
//! waitid (options, id types, status encodings, rusage), zombies, SIGCHLD, reparenting to a
//! child subreaper, process groups and sessions, and pidfds.
//!
//! Each test runs in a forked child ([`fork_and_check`]) so the children it creates, the
//! groups and sessions it changes and the subreaper attribute stay its own; its watchdog
//! bounds every blocking wait.
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use syscall_tests::libc;
use syscall_tests::sys::{self, CloneArgs, delivery, signal_count};
use syscall_tests::task::{
    Child, WaitStatus, block, eventually, fork_and_check, getpid, ignore, install_recorder,
    pending, pipe, sig_bit, sleep_ms, wait4,
};
use syscall_tests::{
    Errno, Fd, LOW_ADDR, Mapping, Outcome, check, ensure, ensure_eq, fails_with, run_tests,
    succeeds, succeeds_with, syscall, tests, with_junk_upper_bits,
};

const STACK: usize = 64 * 1024;
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;
const CLD_STOPPED: i32 = 5;
const CLD_CONTINUED: i32 = 6;
const P_PIDFD: u32 = 3;

/// The kernel's siginfo_t as waitid(2) fills it for a child (SIGCHLD layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct ChildInfo {
    signo: i32,
    errno: i32,
    code: i32,
    pad: i32,
    pid: i32,
    uid: u32,
    status: i32,
    pad2: i32,
    rest: [u64; 12],
}

fn waitid(idtype: u32, id: i32, options: i32) -> (i64, ChildInfo) {
    let mut info = ChildInfo::default();
    let ret = syscall!(libc::SYS_waitid, idtype, id, &raw mut info, options, 0usize);
    (ret, info)
}

fn sleeper() -> Result<Child, String> {
    Child::spawn(|| {
        sleep_ms(5000);
        0
    })
}

fn stack() -> Result<Mapping, String> {
    Mapping::anonymous(STACK, libc::PROT_READ | libc::PROT_WRITE)
}

static SHARED_WORD: AtomicU32 = AtomicU32::new(0);

extern "C" fn store_and_exit(value: usize) -> i32 {
    SHARED_WORD.store(u32::try_from(value).unwrap_or(0), Ordering::SeqCst);
    9
}

extern "C" fn exit_with(code: usize) -> i32 {
    i32::try_from(code).unwrap_or(255)
}

extern "C" fn report_ppid(_: usize) -> i32 {
    // Exit status: the parent pid modulo 256 is not unique; report "is my parent the
    // pid stored in SHARED_WORD" instead.
    let ppid = sys::raw_syscall(libc::SYS_getppid, &[]);
    i32::from(ppid == i64::from(SHARED_WORD.load(Ordering::SeqCst)))
}

// ---------------------------------------------------------------- fork

/// fork(2): the child's parent is the caller.
fn fork_child_sees_caller_as_parent() -> Outcome {
    fork_and_check(|| {
        let me = i64::from(getpid());
        let mut child = Child::spawn(move || i32::from(syscall!(libc::SYS_getppid) == me))?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// The pid fork returns is the child's own getpid().
fn fork_returns_the_childs_pid() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let mut child = Child::spawn(move || {
            let pid = getpid().to_ne_bytes();
            i32::from(w.write_all(&pid).is_err())
        })?;
        let got = r.read_up_to(4)?;
        ensure_eq!(got, child.pid().to_ne_bytes().to_vec());
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// The child gets a copy of memory: its writes are invisible to the parent.
fn fork_child_writes_do_not_reach_parent_memory() -> Outcome {
    fork_and_check(|| {
        SHARED_WORD.store(1, Ordering::SeqCst);
        let mut child = Child::spawn(|| {
            SHARED_WORD.store(2, Ordering::SeqCst);
            0
        })?;
        child.wait()?;
        ensure_eq!(SHARED_WORD.load(Ordering::SeqCst), 1);
        Ok(())
    })
}

/// MAP_SHARED memory is shared across fork.
fn fork_child_writes_to_map_shared_reach_parent() -> Outcome {
    fork_and_check(|| {
        let m = Mapping::shared_anonymous(4096)?;
        let mut child = Child::spawn(|| {
            if let Ok(w) = m.atomic_u32(0) {
                w.store(77, Ordering::SeqCst);
            }
            0
        })?;
        child.wait()?;
        ensure_eq!(m.atomic_u32(0)?.load(Ordering::SeqCst), 77);
        Ok(())
    })
}

/// fork(2): "The child's set of pending signals is initially empty".
fn fork_child_starts_with_no_pending_signals() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        check!(
            syscall!(libc::SYS_kill, getpid(), libc::SIGUSR1),
            succeeds_with(0)
        );
        let mut child = Child::spawn(|| i32::from(pending().ok() == Some(0)))?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        ensure_eq!(pending()?, sig_bit(libc::SIGUSR1));
        Ok(())
    })
}

/// The signal mask is inherited across fork.
fn fork_child_inherits_signal_mask() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR2)?;
        let mut child = Child::spawn(|| {
            i32::from(syscall_tests::task::current_mask().ok() == Some(sig_bit(libc::SIGUSR2)))
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// vfork(2): "the calling thread is suspended until the child terminates", and the child
/// "shares all memory with its parent": the child's store is visible the moment vfork
/// returns in the parent.
fn vfork_child_runs_before_parent_resumes_and_shares_memory() -> Outcome {
    fork_and_check(|| {
        let flag = AtomicU32::new(0);
        let pid = sys::vfork_probe(&flag);
        let seen = flag.load(Ordering::SeqCst);
        let mut child = Child::adopt(pid)?;
        ensure_eq!(seen, 1);
        ensure_eq!(child.wait()?.exit_code(), Some(7));
        Ok(())
    })
}

/// clone(CLONE_VM | CLONE_VFORK): the child's write to shared memory is visible as soon as
/// clone returns.
fn clone_vm_vfork_child_write_is_visible_when_clone_returns() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let flags = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
        let pid = sys::clone_run(flags, &stack, 0, 0, 0, store_and_exit, 5);
        let seen = SHARED_WORD.load(Ordering::SeqCst);
        let mut child = Child::adopt(pid)?;
        ensure_eq!(seen, 5);
        ensure_eq!(child.wait()?.exit_code(), Some(9));
        Ok(())
    })
}

/// clone without CLONE_VM copies memory like fork.
fn clone_without_vm_child_write_is_not_visible() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let pid = sys::clone_run(libc::SIGCHLD as u64, &stack, 0, 0, 0, store_and_exit, 5);
        let mut child = Child::adopt(pid)?;
        ensure_eq!(child.wait()?.exit_code(), Some(9));
        ensure_eq!(SHARED_WORD.load(Ordering::SeqCst), 0);
        Ok(())
    })
}

/// clone(2) CLONE_PARENT: "the parent of the new child will be the same as that of the
/// calling process", so the grandchild is waitable by the caller's parent.
fn clone_parent_makes_child_a_sibling_of_caller() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let me = getpid();
        let mut middle = Child::spawn(move || {
            SHARED_WORD.store(u32::try_from(me).unwrap_or(0), Ordering::SeqCst);
            let Ok(stack) = stack() else { return 1 };
            let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;
            let pid = sys::clone_run(flags, &stack, 0, 0, 0, report_ppid, 0);
            let pid = i32::try_from(pid).unwrap_or(-1);
            i32::from(w.write_all(&pid.to_ne_bytes()).is_err())
        })?;
        ensure_eq!(middle.wait()?.exit_code(), Some(0));
        let bytes = r.read_up_to(4)?;
        let sibling = i32::from_ne_bytes(bytes.try_into().unwrap_or_default());
        ensure!(sibling > 0, "clone failed in the middle child: {sibling}");
        let mut sib = Child::adopt(sibling.into())?;
        ensure_eq!(sib.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// clone(2) CLONE_PIDFD: a pidfd for the child is stored where parent_tid points, and
/// waitid(P_PIDFD) reaps through it.
fn clone_pidfd_stores_pidfd_usable_with_waitid() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let mut pidfd = -1i32;
        let flags = (libc::CLONE_PIDFD | libc::SIGCHLD) as u64;
        let pid = sys::clone_run(
            flags,
            &stack,
            std::ptr::from_mut(&mut pidfd) as usize,
            0,
            0,
            exit_with,
            12,
        );
        let mut child = Child::adopt(pid)?;
        let fd = Fd::from_ret(pidfd.into())?;
        let (ret, info) = waitid(P_PIDFD, fd.raw(), libc::WEXITED);
        ensure_eq!(ret, 0);
        child.mark_reaped();
        ensure_eq!(info.pid, child.pid());
        ensure_eq!(info.status, 12);
        Ok(())
    })
}

/// clone(2): EINVAL "Both CLONE_PIDFD and CLONE_PARENT_SETTID were specified in flags"
/// (they share the parent_tid argument).
fn clone_pidfd_with_parent_settid_fails_einval() -> Outcome {
    let stack = stack()?;
    let mut slot = 0i32;
    let flags = (libc::CLONE_PIDFD | libc::CLONE_PARENT_SETTID | libc::SIGCHLD) as u64;
    let ret = sys::clone_run(
        flags,
        &stack,
        std::ptr::from_mut(&mut slot) as usize,
        0,
        0,
        exit_with,
        0,
    );
    ensure_eq!(ret, -i64::from(libc::EINVAL));
    Ok(())
}

/// clone(2): EINVAL "CLONE_THREAD was specified in flags, but CLONE_SIGHAND was not".
fn clone_thread_without_sighand_fails_einval() -> Outcome {
    let stack = stack()?;
    let flags = (libc::CLONE_THREAD | libc::CLONE_VM) as u64;
    let ret = sys::clone_run(flags, &stack, 0, 0, 0, exit_with, 0);
    ensure_eq!(ret, -i64::from(libc::EINVAL));
    Ok(())
}

/// clone(2): EINVAL "CLONE_SIGHAND was specified in flags, but CLONE_VM was not".
fn clone_sighand_without_vm_fails_einval() -> Outcome {
    let stack = stack()?;
    let flags = (libc::CLONE_SIGHAND | libc::SIGCHLD) as u64;
    let ret = sys::clone_run(flags, &stack, 0, 0, 0, exit_with, 0);
    ensure_eq!(ret, -i64::from(libc::EINVAL));
    Ok(())
}

fn clone3_args(flags: u64, exit_signal: u64) -> CloneArgs {
    CloneArgs {
        flags,
        exit_signal,
        ..CloneArgs::default()
    }
}

/// clone3(2) with exit_signal SIGCHLD makes an ordinary, waitable child.
fn clone3_child_exit_status_is_waitable() -> Outcome {
    fork_and_check(|| {
        let mut stack = stack()?;
        let mut args = clone3_args(0, libc::SIGCHLD as u64);
        let pid = sys::clone3_run(&mut args, &mut stack, exit_with, 21);
        let mut child = Child::adopt(pid)?;
        ensure_eq!(child.wait()?.exit_code(), Some(21));
        Ok(())
    })
}

/// clone3(2) CLONE_PIDFD stores the pidfd in args.pidfd.
fn clone3_pidfd_is_stored_in_args() -> Outcome {
    fork_and_check(|| {
        let mut stack = stack()?;
        let mut pidfd = -1i32;
        let mut args = clone3_args(libc::CLONE_PIDFD as u64, libc::SIGCHLD as u64);
        args.pidfd = std::ptr::from_mut(&mut pidfd) as u64;
        let pid = sys::clone3_run(&mut args, &mut stack, exit_with, 3);
        let mut child = Child::adopt(pid)?;
        let fd = Fd::from_ret(pidfd.into())?;
        let (ret, info) = waitid(P_PIDFD, fd.raw(), libc::WEXITED);
        ensure_eq!(ret, 0);
        child.mark_reaped();
        ensure_eq!(info.status, 3);
        Ok(())
    })
}

/// clone3(2): EINVAL when size is smaller than the first published struct (64 bytes).
fn clone3_size_below_version_0_fails_einval() -> Outcome {
    let args = clone3_args(0, libc::SIGCHLD as u64);
    check!(
        syscall!(libc::SYS_clone3, &raw const args, 32),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// clone3(2): exit_signal must be a valid signal number.
fn clone3_exit_signal_65_fails_einval() -> Outcome {
    let args = clone3_args(0, 65);
    check!(
        syscall!(libc::SYS_clone3, &raw const args, size_of::<CloneArgs>()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// clone3(2): EINVAL for CLONE_THREAD (or CLONE_PARENT) with a non-zero exit_signal.
fn clone3_thread_with_exit_signal_fails_einval() -> Outcome {
    let flags = (libc::CLONE_THREAD | libc::CLONE_SIGHAND | libc::CLONE_VM) as u64;
    let args = clone3_args(flags, libc::SIGCHLD as u64);
    check!(
        syscall!(libc::SYS_clone3, &raw const args, size_of::<CloneArgs>()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// clone3(2) rejects flags outside the known set.
fn clone3_unknown_high_flag_fails_einval() -> Outcome {
    let args = clone3_args(1 << 40, libc::SIGCHLD as u64);
    check!(
        syscall!(libc::SYS_clone3, &raw const args, size_of::<CloneArgs>()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn clone3_bad_args_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_clone3, LOW_ADDR, size_of::<CloneArgs>()),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

// ---------------------------------------------------------------- wait4

/// wait(2): the status of a normal exit is (code << 8).
fn wait4_exit_status_encodes_exit_code_in_second_byte() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| 42)?;
        let (ret, status) = wait4(child.pid(), 0)?;
        ensure_eq!(ret, i64::from(child.pid()));
        ensure_eq!(status.0, 42 << 8);
        ensure_eq!(status.exit_code(), Some(42));
        std::mem::forget(child);
        Ok(())
    })
}

/// The status of a child killed by a signal is the signal number in the low 7 bits.
fn wait4_status_of_killed_child_is_signal_number() -> Outcome {
    fork_and_check(|| {
        let mut child = sleeper()?;
        check!(
            syscall!(libc::SYS_kill, child.pid(), libc::SIGTERM),
            succeeds_with(0)
        );
        let status = child.wait()?;
        ensure_eq!(status.0 & 0x7f, libc::SIGTERM);
        ensure_eq!(status.term_signal(), Some(libc::SIGTERM));
        Ok(())
    })
}

/// wait(2) WNOHANG: "return immediately if no child has exited" with 0.
fn wait4_wnohang_with_running_child_returns_zero() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        let mut status = 0i32;
        check!(
            syscall!(
                libc::SYS_wait4,
                child.pid(),
                &raw mut status,
                libc::WNOHANG,
                0usize
            ),
            succeeds_with(0)
        );
        Ok(())
    })
}

/// The options argument is an `int`: junk in the upper half is ignored.
fn wait4_options_upper_bits_are_ignored() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        let mut status = 0i32;
        check!(
            syscall!(
                libc::SYS_wait4,
                child.pid(),
                &raw mut status,
                with_junk_upper_bits(libc::WNOHANG),
                0usize
            ),
            succeeds_with(0)
        );
        Ok(())
    })
}

/// wait(2): ECHILD "The calling process does not have any unwaited-for children".
fn wait4_without_children_fails_echild() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_wait4, -1, 0usize, 0, 0usize),
            fails_with(Errno::ECHILD)
        );
        Ok(())
    })
}

/// ECHILD also when the pid exists but is not a child of the caller (init).
fn wait4_pid_that_is_not_a_child_fails_echild() -> Outcome {
    check!(
        syscall!(libc::SYS_wait4, 1, 0usize, libc::WNOHANG, 0usize),
        fails_with(Errno::ECHILD)
    );
    Ok(())
}

/// WEXITED belongs to waitid(2); wait4 rejects it (EINVAL "options was invalid").
fn wait4_wexited_option_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_wait4, -1, 0usize, libc::WEXITED, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn wait4_unknown_option_bit_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_wait4, -1, 0usize, 0x0010_0000, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// wait4(2) fills a non-null rusage for the reaped child.
fn wait4_fills_rusage_of_reaped_child() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        let mut ru: libc::rusage = syscall_tests::zeroed();
        let mut status = 0i32;
        check!(
            syscall!(
                libc::SYS_wait4,
                child.pid(),
                &raw mut status,
                0,
                &raw mut ru
            ),
            succeeds_with(i64::from(child.pid()))
        );
        child.mark_reaped();
        ensure!(ru.ru_maxrss > 0, "ru_maxrss {}", ru.ru_maxrss);
        ensure!(
            ru.ru_utime.tv_usec >= 0 && ru.ru_stime.tv_usec >= 0,
            "{ru:?}"
        );
        Ok(())
    })
}

/// A bad status pointer makes wait4 fail with EFAULT, but only after the child was reaped:
/// the status is lost and the pid is gone.
fn wait4_bad_status_pointer_fails_efault_after_reaping() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        // Wait for the zombie without reaping it, then ask wait4 to write through a bad pointer.
        let (ret, _) = waitid(libc::P_PID, child.pid(), libc::WEXITED | libc::WNOWAIT);
        ensure_eq!(ret, 0);
        check!(
            syscall!(libc::SYS_wait4, child.pid(), LOW_ADDR, 0, 0usize),
            fails_with(Errno::EFAULT)
        );
        child.mark_reaped();
        check!(
            syscall!(libc::SYS_kill, child.pid(), 0),
            fails_with(Errno::ESRCH)
        );
        Ok(())
    })
}

/// wait4(-1) reaps whichever child exits.
fn wait4_minus_one_reaps_any_child() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| 5)?;
        let (ret, status) = wait4(-1, 0)?;
        ensure_eq!(ret, i64::from(child.pid()));
        ensure_eq!(status.exit_code(), Some(5));
        std::mem::forget(child);
        Ok(())
    })
}

/// wait4(0) waits only for children in the caller's process group.
fn wait4_zero_ignores_children_in_other_groups() -> Outcome {
    fork_and_check(|| {
        let mut other = Child::spawn(|| {
            let _ = syscall!(libc::SYS_setpgid, 0, 0);
            0
        })?;
        let pid = other.pid();
        // Make sure the child is in its own group before it can exit: the parent sets it too.
        let _ = syscall!(libc::SYS_setpgid, pid, pid);
        let (ret, _) = waitid(libc::P_PID, pid, libc::WEXITED | libc::WNOWAIT);
        ensure_eq!(ret, 0);
        check!(
            syscall!(libc::SYS_wait4, 0, 0usize, libc::WNOHANG, 0usize),
            fails_with(Errno::ECHILD)
        );
        other.wait()?;
        Ok(())
    })
}

/// wait4(-pgid) waits for a child in that process group.
fn wait4_negative_pgid_reaps_child_in_that_group() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| {
            let _ = syscall!(libc::SYS_setpgid, 0, 0);
            8
        })?;
        let pid = child.pid();
        let _ = syscall!(libc::SYS_setpgid, pid, pid);
        let (ret, status) = wait4(-pid, 0)?;
        ensure_eq!(ret, i64::from(pid));
        ensure_eq!(status.exit_code(), Some(8));
        std::mem::forget(child);
        Ok(())
    })
}

fn stop(pid: i32) -> Outcome {
    check!(
        syscall!(libc::SYS_kill, pid, libc::SIGSTOP),
        succeeds_with(0)
    );
    Ok(())
}

/// WUNTRACED reports a stopped child: status 0x7f | (SIGSTOP << 8).
fn wait4_wuntraced_reports_stopped_child() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        stop(child.pid())?;
        let (ret, status) = wait4(child.pid(), libc::WUNTRACED)?;
        ensure_eq!(ret, i64::from(child.pid()));
        ensure_eq!(status.0, 0x7f | (libc::SIGSTOP << 8));
        ensure_eq!(status.stop_signal(), Some(libc::SIGSTOP));
        Ok(())
    })
}

/// Without WUNTRACED a stop is not reported.
fn wait4_without_wuntraced_does_not_report_stop() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        stop(child.pid())?;
        let (ret, _) = waitid(libc::P_PID, child.pid(), libc::WSTOPPED | libc::WNOWAIT);
        ensure_eq!(ret, 0);
        let mut status = 0i32;
        check!(
            syscall!(
                libc::SYS_wait4,
                child.pid(),
                &raw mut status,
                libc::WNOHANG,
                0usize
            ),
            succeeds_with(0)
        );
        Ok(())
    })
}

/// WCONTINUED reports a stopped child resumed by SIGCONT: status 0xffff.
fn wait4_wcontinued_reports_continued_child() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        stop(child.pid())?;
        wait4(child.pid(), libc::WUNTRACED)?;
        check!(
            syscall!(libc::SYS_kill, child.pid(), libc::SIGCONT),
            succeeds_with(0)
        );
        let (ret, status) = wait4(child.pid(), libc::WCONTINUED)?;
        ensure_eq!(ret, i64::from(child.pid()));
        ensure_eq!(status.0, 0xffff);
        ensure!(status.continued(), "{status:?}");
        Ok(())
    })
}

/// A child whose exit signal is not SIGCHLD is a "clone" child: wait4 without __WCLONE or
/// __WALL does not see it.
fn wait4_clone_child_is_invisible_without_wclone() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let pid = sys::clone_run(0, &stack, 0, 0, 0, exit_with, 4);
        let mut child = Child::adopt(pid)?;
        let (ret, _) = waitid(
            libc::P_PID,
            child.pid(),
            libc::WEXITED | libc::WNOWAIT | libc::__WCLONE,
        );
        ensure_eq!(ret, 0);
        check!(
            syscall!(libc::SYS_wait4, child.pid(), 0usize, libc::WNOHANG, 0usize),
            fails_with(Errno::ECHILD)
        );
        let (ret, status) = wait4(child.pid(), libc::__WCLONE)?;
        child.mark_reaped();
        ensure_eq!(ret, i64::from(child.pid()));
        ensure_eq!(status.exit_code(), Some(4));
        Ok(())
    })
}

/// __WALL waits for clone children too.
fn wait4_wall_reaps_clone_child() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let pid = sys::clone_run(0, &stack, 0, 0, 0, exit_with, 6);
        let mut child = Child::adopt(pid)?;
        ensure_eq!(child.wait()?.exit_code(), Some(6));
        Ok(())
    })
}

/// __WCLONE alone does not see ordinary (SIGCHLD) children.
fn wait4_wclone_ignores_ordinary_children() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        let (ret, _) = waitid(libc::P_PID, child.pid(), libc::WEXITED | libc::WNOWAIT);
        ensure_eq!(ret, 0);
        check!(
            syscall!(
                libc::SYS_wait4,
                child.pid(),
                0usize,
                libc::__WCLONE | libc::WNOHANG,
                0usize
            ),
            fails_with(Errno::ECHILD)
        );
        child.wait()?;
        Ok(())
    })
}

// ---------------------------------------------------------------- waitid

/// waitid(2) WEXITED: si_signo SIGCHLD, si_code CLD_EXITED, si_status the exit code, si_pid.
fn waitid_wexited_fills_siginfo_for_exit() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 17)?;
        let (ret, info) = waitid(libc::P_PID, child.pid(), libc::WEXITED);
        ensure_eq!(ret, 0);
        child.mark_reaped();
        ensure_eq!(info.signo, libc::SIGCHLD);
        ensure_eq!(info.code, CLD_EXITED);
        ensure_eq!(info.status, 17);
        ensure_eq!(info.pid, child.pid());
        ensure_eq!(i64::from(info.uid), syscall!(libc::SYS_getuid));
        Ok(())
    })
}

fn waitid_killed_child_reports_cld_killed_and_signal() -> Outcome {
    fork_and_check(|| {
        let mut child = sleeper()?;
        check!(
            syscall!(libc::SYS_kill, child.pid(), libc::SIGKILL),
            succeeds_with(0)
        );
        let (ret, info) = waitid(libc::P_PID, child.pid(), libc::WEXITED);
        ensure_eq!(ret, 0);
        child.mark_reaped();
        ensure_eq!(info.code, CLD_KILLED);
        ensure_eq!(info.status, libc::SIGKILL);
        Ok(())
    })
}

/// WNOWAIT: "Leave the child in a waitable state".
fn waitid_wnowait_leaves_child_waitable() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 2)?;
        let (ret, info) = waitid(libc::P_PID, child.pid(), libc::WEXITED | libc::WNOWAIT);
        ensure_eq!(ret, 0);
        ensure_eq!(info.status, 2);
        ensure_eq!(child.wait()?.exit_code(), Some(2));
        Ok(())
    })
}

fn waitid_wstopped_reports_cld_stopped() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        stop(child.pid())?;
        let (ret, info) = waitid(libc::P_PID, child.pid(), libc::WSTOPPED);
        ensure_eq!(ret, 0);
        ensure_eq!(info.code, CLD_STOPPED);
        ensure_eq!(info.status, libc::SIGSTOP);
        Ok(())
    })
}

fn waitid_wcontinued_reports_cld_continued() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        stop(child.pid())?;
        let (ret, _) = waitid(libc::P_PID, child.pid(), libc::WSTOPPED);
        ensure_eq!(ret, 0);
        check!(
            syscall!(libc::SYS_kill, child.pid(), libc::SIGCONT),
            succeeds_with(0)
        );
        let (ret, info) = waitid(libc::P_PID, child.pid(), libc::WCONTINUED);
        ensure_eq!(ret, 0);
        ensure_eq!(info.code, CLD_CONTINUED);
        ensure_eq!(info.status, libc::SIGCONT);
        Ok(())
    })
}

/// waitid(2) WNOHANG with no state change: returns 0 and leaves si_pid 0.
fn waitid_wnohang_without_change_returns_zero_with_zero_si_pid() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        let mut info = ChildInfo {
            pid: 99,
            ..ChildInfo::default()
        };
        check!(
            syscall!(
                libc::SYS_waitid,
                libc::P_PID,
                child.pid(),
                &raw mut info,
                libc::WEXITED | libc::WNOHANG,
                0usize
            ),
            succeeds_with(0)
        );
        ensure_eq!(info.pid, 0);
        Ok(())
    })
}

/// waitid(2): EINVAL when options has none of WEXITED, WSTOPPED, WCONTINUED.
fn waitid_without_state_option_fails_einval() -> Outcome {
    let (ret, _) = waitid(libc::P_ALL, 0, libc::WNOHANG);
    ensure_eq!(ret, -1);
    ensure_eq!(syscall_tests::last_errno(), Errno::EINVAL.raw());
    Ok(())
}

fn waitid_unknown_idtype_fails_einval() -> Outcome {
    let (ret, _) = waitid(42, 0, libc::WEXITED | libc::WNOHANG);
    ensure_eq!(ret, -1);
    ensure_eq!(syscall_tests::last_errno(), Errno::EINVAL.raw());
    Ok(())
}

fn waitid_without_children_fails_echild() -> Outcome {
    fork_and_check(|| {
        let (ret, _) = waitid(libc::P_ALL, 0, libc::WEXITED);
        ensure_eq!(ret, -1);
        ensure_eq!(syscall_tests::last_errno(), Errno::ECHILD.raw());
        Ok(())
    })
}

fn waitid_p_all_reaps_some_child() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| 1)?;
        let (ret, info) = waitid(libc::P_ALL, 0, libc::WEXITED);
        ensure_eq!(ret, 0);
        ensure_eq!(info.pid, child.pid());
        std::mem::forget(child);
        Ok(())
    })
}

fn waitid_p_pgid_reaps_child_of_that_group() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| {
            let _ = syscall!(libc::SYS_setpgid, 0, 0);
            3
        })?;
        let pid = child.pid();
        let _ = syscall!(libc::SYS_setpgid, pid, pid);
        let (ret, info) = waitid(libc::P_PGID, pid, libc::WEXITED);
        ensure_eq!(ret, 0);
        ensure_eq!(info.pid, pid);
        ensure_eq!(info.status, 3);
        std::mem::forget(child);
        Ok(())
    })
}

fn pidfd_open(pid: i32, flags: u32) -> i64 {
    syscall!(libc::SYS_pidfd_open, pid, flags)
}

/// waitid(P_PIDFD, fd) waits for the process the pidfd refers to.
fn waitid_p_pidfd_from_pidfd_open_reaps_child() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 23)?;
        let fd = Fd::from_ret(check!(pidfd_open(child.pid(), 0), succeeds()))?;
        let (ret, info) = waitid(P_PIDFD, fd.raw(), libc::WEXITED);
        ensure_eq!(ret, 0);
        child.mark_reaped();
        ensure_eq!(info.status, 23);
        Ok(())
    })
}

/// waitid(2)'s fifth argument (the raw syscall's rusage) is filled when non-null.
fn waitid_fills_rusage_argument() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        let mut info = ChildInfo::default();
        let mut ru: libc::rusage = syscall_tests::zeroed();
        check!(
            syscall!(
                libc::SYS_waitid,
                libc::P_PID,
                child.pid(),
                &raw mut info,
                libc::WEXITED,
                &raw mut ru
            ),
            succeeds_with(0)
        );
        child.mark_reaped();
        ensure!(ru.ru_maxrss > 0, "ru_maxrss {}", ru.ru_maxrss);
        Ok(())
    })
}

// ---------------------------------------------------------------- zombies, SIGCHLD, reapers

/// An exited child stays a zombie (still signalable with 0) until reaped.
fn exited_child_is_a_zombie_until_reaped() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        let (ret, _) = waitid(libc::P_PID, child.pid(), libc::WEXITED | libc::WNOWAIT);
        ensure_eq!(ret, 0);
        check!(syscall!(libc::SYS_kill, child.pid(), 0), succeeds_with(0));
        child.wait()?;
        check!(
            syscall!(libc::SYS_kill, child.pid(), 0),
            fails_with(Errno::ESRCH)
        );
        Ok(())
    })
}

/// The parent gets SIGCHLD with si_code CLD_EXITED, si_pid and si_status of the child.
fn child_exit_sends_sigchld_with_cld_exited_info() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGCHLD, 0, 0)?;
        let mut child = Child::spawn(|| 31)?;
        child.wait()?;
        ensure!(
            eventually(Duration::from_secs(5), || signal_count(libc::SIGCHLD) > 0),
            "no SIGCHLD"
        );
        let d = delivery(libc::SIGCHLD);
        ensure_eq!(d.code, CLD_EXITED);
        ensure_eq!(d.pid, child.pid());
        ensure_eq!(d.status, 31);
        Ok(())
    })
}

/// wait(2): with SIGCHLD set to SIG_IGN, children are not turned into zombies; a wait
/// blocks until they are gone and then fails with ECHILD.
fn ignored_sigchld_makes_children_reap_themselves() -> Outcome {
    fork_and_check(|| {
        ignore(libc::SIGCHLD)?;
        let child = Child::spawn(|| 0)?;
        check!(
            syscall!(libc::SYS_wait4, child.pid(), 0usize, 0, 0usize),
            fails_with(Errno::ECHILD)
        );
        std::mem::forget(child);
        Ok(())
    })
}

/// SA_NOCLDSTOP: no SIGCHLD when a child stops.
fn sa_nocldstop_suppresses_sigchld_on_stop() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGCHLD, libc::SA_NOCLDSTOP as u64, 0)?;
        let child = sleeper()?;
        stop(child.pid())?;
        wait4(child.pid(), libc::WUNTRACED)?;
        ensure_eq!(signal_count(libc::SIGCHLD), 0);
        Ok(())
    })
}

/// Without SA_NOCLDSTOP a stop sends SIGCHLD with CLD_STOPPED.
fn child_stop_sends_sigchld_with_cld_stopped() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGCHLD, 0, 0)?;
        let child = sleeper()?;
        stop(child.pid())?;
        wait4(child.pid(), libc::WUNTRACED)?;
        ensure!(
            eventually(Duration::from_secs(5), || signal_count(libc::SIGCHLD) > 0),
            "no SIGCHLD"
        );
        ensure_eq!(delivery(libc::SIGCHLD).code, CLD_STOPPED);
        Ok(())
    })
}

fn get_subreaper() -> Result<i32, String> {
    let mut v = -1i32;
    check!(
        syscall!(libc::SYS_prctl, libc::PR_GET_CHILD_SUBREAPER, &raw mut v),
        succeeds_with(0)
    );
    Ok(v)
}

fn pr_set_child_subreaper_is_reported_by_get() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(get_subreaper()?, 0);
        check!(
            syscall!(libc::SYS_prctl, libc::PR_SET_CHILD_SUBREAPER, 1),
            succeeds_with(0)
        );
        ensure_eq!(get_subreaper()?, 1);
        Ok(())
    })
}

fn pr_get_child_subreaper_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_prctl, libc::PR_GET_CHILD_SUBREAPER, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// The subreaper attribute is not inherited by fork (prctl(2): "cleared on fork").
fn child_subreaper_attribute_is_not_inherited() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_prctl, libc::PR_SET_CHILD_SUBREAPER, 1),
            succeeds_with(0)
        );
        let mut child = Child::spawn(|| i32::from(get_subreaper().ok() == Some(0)))?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// Spawns a middle child that forks an orphanable grandchild (which waits until its parent
/// changes, then exits with 1 if its new parent is `me`), reports the grandchild's pid and
/// exits. Returns the grandchild's pid.
fn orphan_grandchild(me: i32) -> Result<i32, String> {
    let (r, w) = pipe()?;
    let mut middle = Child::spawn(move || {
        let middle_pid = i64::from(getpid());
        let Ok(grand) = Child::spawn_orphanable(move || {
            let reparented = eventually(Duration::from_secs(5), || {
                syscall!(libc::SYS_getppid) != middle_pid
            });
            i32::from(reparented && syscall!(libc::SYS_getppid) == i64::from(me))
        }) else {
            return 1;
        };
        let code = i32::from(w.write_all(&grand.pid().to_ne_bytes()).is_err());
        std::mem::forget(grand);
        code
    })?;
    ensure_eq!(middle.wait()?.exit_code(), Some(0));
    let bytes = r.read_up_to(4)?;
    Ok(i32::from_ne_bytes(bytes.try_into().unwrap_or_default()))
}

/// prctl(2) PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented to the subreaper,
/// which can then wait for them.
fn orphan_is_reparented_to_child_subreaper() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_prctl, libc::PR_SET_CHILD_SUBREAPER, 1),
            succeeds_with(0)
        );
        let grand = orphan_grandchild(getpid())?;
        let mut g = Child::adopt(grand.into())?;
        ensure_eq!(g.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// Without the attribute the orphan goes elsewhere: it is not the caller's child.
fn orphan_is_not_reparented_to_non_subreaper() -> Outcome {
    fork_and_check(|| {
        let grand = orphan_grandchild(getpid())?;
        let ret = syscall!(libc::SYS_wait4, grand, 0usize, libc::WNOHANG, 0usize);
        let errno = syscall_tests::last_errno();
        let _ = syscall!(libc::SYS_kill, grand, libc::SIGKILL);
        ensure_eq!((ret, errno), (-1, Errno::ECHILD.raw()));
        Ok(())
    })
}

// ---------------------------------------------------------------- process groups, sessions

fn getpgid_zero_equals_getpgrp() -> Outcome {
    let pgrp = check!(syscall!(libc::SYS_getpgrp), succeeds());
    check!(syscall!(libc::SYS_getpgid, 0), succeeds_with(pgrp));
    check!(syscall!(libc::SYS_getpgid, getpid()), succeeds_with(pgrp));
    Ok(())
}

fn getsid_zero_equals_getsid_of_own_pid() -> Outcome {
    let sid = check!(syscall!(libc::SYS_getsid, 0), succeeds());
    check!(syscall!(libc::SYS_getsid, getpid()), succeeds_with(sid));
    Ok(())
}

fn reaped_pid() -> Result<i32, String> {
    let mut child = Child::spawn(|| 0)?;
    child.wait()?;
    Ok(child.pid())
}

fn getpgid_of_nonexistent_pid_fails_esrch() -> Outcome {
    fork_and_check(|| {
        let gone = reaped_pid()?;
        check!(syscall!(libc::SYS_getpgid, gone), fails_with(Errno::ESRCH));
        Ok(())
    })
}

fn getsid_of_nonexistent_pid_fails_esrch() -> Outcome {
    fork_and_check(|| {
        let gone = reaped_pid()?;
        check!(syscall!(libc::SYS_getsid, gone), fails_with(Errno::ESRCH));
        Ok(())
    })
}

/// setpgid(0, 0) makes the caller the leader of a new group with its pid as pgid.
fn setpgid_zero_zero_makes_caller_group_leader() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setpgid, 0, 0), succeeds_with(0));
        check!(
            syscall!(libc::SYS_getpgrp),
            succeeds_with(i64::from(getpid()))
        );
        Ok(())
    })
}

/// A parent may move its (not yet exec'd) child into a new group.
fn setpgid_parent_moves_child_into_new_group() -> Outcome {
    fork_and_check(|| {
        let child = sleeper()?;
        check!(
            syscall!(libc::SYS_setpgid, child.pid(), child.pid()),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_getpgid, child.pid()),
            succeeds_with(i64::from(child.pid()))
        );
        Ok(())
    })
}

/// setpgid(2): EINVAL "pgid is less than 0".
fn setpgid_negative_pgid_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_setpgid, 0, -1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// setpgid(2): ESRCH "pid is not the calling process and not a child of the calling process".
fn setpgid_on_non_child_fails_esrch() -> Outcome {
    check!(syscall!(libc::SYS_setpgid, 1, 1), fails_with(Errno::ESRCH));
    Ok(())
}

/// setpgid(2): EPERM "The value of the pgid argument is valid but does not match the process
/// ID of the process indicated by the pid argument and there is no process with a process
/// group ID that matches the value of pgid in the same session" — pgid of a reaped pid.
fn setpgid_into_nonexistent_group_fails_eperm() -> Outcome {
    fork_and_check(|| {
        let gone = reaped_pid()?;
        check!(
            syscall!(libc::SYS_setpgid, 0, gone),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// setpgid(2): EPERM "attempt to change the process group ID of a session leader".
fn setpgid_of_session_leader_fails_eperm() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            if syscall!(libc::SYS_setsid) == -1 {
                return 2;
            }
            let parent_group = syscall!(libc::SYS_getppid);
            let ret = syscall!(libc::SYS_setpgid, 0, parent_group);
            i32::from(ret == -1 && syscall_tests::last_errno() == libc::EPERM)
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// setpgid(2): EPERM "attempt to move a process into a process group in a different
/// session" or to change a child in another session: here the child called setsid.
fn setpgid_on_child_in_other_session_fails_eperm() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let child = Child::spawn(move || {
            let _ = syscall!(libc::SYS_setsid);
            let _ = w.write_all(b"s");
            sleep_ms(5000);
            0
        })?;
        ensure_eq!(r.read_up_to(1)?, b"s".to_vec());
        check!(
            syscall!(libc::SYS_setpgid, child.pid(), getpid()),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// setsid(2): the caller becomes leader of a new session and a new group, both its pid.
fn setsid_in_child_creates_session_and_group_named_after_it() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let me = i64::from(getpid());
            let sid = syscall!(libc::SYS_setsid);
            i32::from(
                sid == me
                    && syscall!(libc::SYS_getsid, 0) == me
                    && syscall!(libc::SYS_getpgrp) == me,
            )
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// setsid(2): EPERM "The process group ID of any process equals the PID of the calling
/// process" — a group leader cannot create a session.
fn setsid_by_group_leader_fails_eperm() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setpgid, 0, 0), succeeds_with(0));
        check!(syscall!(libc::SYS_setsid), fails_with(Errno::EPERM));
        Ok(())
    })
}

/// getsid of a child in another session returns that session.
fn getsid_of_child_reports_its_new_session() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let child = Child::spawn(move || {
            let _ = syscall!(libc::SYS_setsid);
            let _ = w.write_all(b"s");
            sleep_ms(5000);
            0
        })?;
        ensure_eq!(r.read_up_to(1)?, b"s".to_vec());
        check!(
            syscall!(libc::SYS_getsid, child.pid()),
            succeeds_with(i64::from(child.pid()))
        );
        Ok(())
    })
}

// ---------------------------------------------------------------- pidfd

fn pidfd_send_signal_kills_child() -> Outcome {
    fork_and_check(|| {
        let mut child = sleeper()?;
        let fd = Fd::from_ret(check!(pidfd_open(child.pid(), 0), succeeds()))?;
        check!(
            syscall!(
                libc::SYS_pidfd_send_signal,
                fd.raw(),
                libc::SIGTERM,
                0usize,
                0
            ),
            succeeds_with(0)
        );
        ensure_eq!(child.wait()?.term_signal(), Some(libc::SIGTERM));
        Ok(())
    })
}

fn pidfd_open_of_nonexistent_pid_fails_esrch() -> Outcome {
    fork_and_check(|| {
        let gone = reaped_pid()?;
        check!(pidfd_open(gone, 0), fails_with(Errno::ESRCH));
        Ok(())
    })
}

/// pidfd_open(2) takes `pid_t pid`: junk in the upper half is ignored.
fn pidfd_open_pid_upper_bits_are_ignored() -> Outcome {
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_pidfd_open, with_junk_upper_bits(getpid()), 0),
        succeeds()
    ))?;
    check!(
        syscall!(libc::SYS_pidfd_send_signal, fd.raw(), 0, 0usize, 0),
        succeeds_with(0)
    );
    Ok(())
}

/// setpgid(2)'s pid and pgid are `pid_t`: upper-half junk is ignored.
fn setpgid_arguments_upper_bits_are_ignored() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(
                libc::SYS_setpgid,
                with_junk_upper_bits(0),
                with_junk_upper_bits(0)
            ),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_getpgrp),
            succeeds_with(i64::from(getpid()))
        );
        Ok(())
    })
}

fn pidfd_open_unknown_flag_fails_einval() -> Outcome {
    check!(pidfd_open(getpid(), 0x1), fails_with(Errno::EINVAL));
    Ok(())
}

/// pidfd_open(2): "the file descriptor becomes readable when the process terminates".
fn pidfd_becomes_readable_when_child_exits() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let w_raw = w.raw();
        let mut child = Child::spawn(move || {
            let _ = syscall!(libc::SYS_close, w_raw);
            let _ = r.read_up_to(1);
            0
        })?;
        let fd = Fd::from_ret(check!(pidfd_open(child.pid(), 0), succeeds()))?;
        let mut pfd = libc::pollfd {
            fd: fd.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        check!(
            syscall!(libc::SYS_poll, &raw mut pfd, 1, 0),
            succeeds_with(0)
        );
        drop(w);
        check!(
            syscall!(libc::SYS_poll, &raw mut pfd, 1, 5000),
            succeeds_with(1)
        );
        ensure_eq!(pfd.revents & libc::POLLIN, libc::POLLIN);
        child.wait()?;
        Ok(())
    })
}

fn pidfd_send_signal_unknown_flag_fails_einval() -> Outcome {
    let fd = Fd::from_ret(check!(pidfd_open(getpid(), 0), succeeds()))?;
    check!(
        syscall!(libc::SYS_pidfd_send_signal, fd.raw(), 0, 0usize, 0x10),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// pidfd_send_signal(2): EBADF "pidfd is not a valid PID file descriptor" (a pipe).
fn pidfd_send_signal_on_pipe_fails_ebadf() -> Outcome {
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_pidfd_send_signal, r.raw(), 0, 0usize, 0),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// Signal 0 through a pidfd probes that the process is alive.
fn pidfd_send_signal_zero_probes_self() -> Outcome {
    let fd = Fd::from_ret(check!(pidfd_open(getpid(), 0), succeeds()))?;
    check!(
        syscall!(libc::SYS_pidfd_send_signal, fd.raw(), 0, 0usize, 0),
        succeeds_with(0)
    );
    Ok(())
}

fn main() -> ExitCode {
    let _ = WaitStatus(0);
    run_tests(tests![
        fork_child_sees_caller_as_parent,
        fork_returns_the_childs_pid,
        fork_child_writes_do_not_reach_parent_memory,
        fork_child_writes_to_map_shared_reach_parent,
        fork_child_starts_with_no_pending_signals,
        fork_child_inherits_signal_mask,
        vfork_child_runs_before_parent_resumes_and_shares_memory,
        clone_vm_vfork_child_write_is_visible_when_clone_returns,
        clone_without_vm_child_write_is_not_visible,
        clone_parent_makes_child_a_sibling_of_caller,
        clone_pidfd_stores_pidfd_usable_with_waitid,
        clone_pidfd_with_parent_settid_fails_einval,
        clone_thread_without_sighand_fails_einval,
        clone_sighand_without_vm_fails_einval,
        clone3_child_exit_status_is_waitable,
        clone3_pidfd_is_stored_in_args,
        clone3_size_below_version_0_fails_einval,
        clone3_exit_signal_65_fails_einval,
        clone3_thread_with_exit_signal_fails_einval,
        clone3_unknown_high_flag_fails_einval,
        clone3_bad_args_pointer_fails_efault,
        wait4_exit_status_encodes_exit_code_in_second_byte,
        wait4_status_of_killed_child_is_signal_number,
        wait4_wnohang_with_running_child_returns_zero,
        wait4_options_upper_bits_are_ignored,
        wait4_without_children_fails_echild,
        wait4_pid_that_is_not_a_child_fails_echild,
        wait4_wexited_option_fails_einval,
        wait4_unknown_option_bit_fails_einval,
        wait4_fills_rusage_of_reaped_child,
        wait4_bad_status_pointer_fails_efault_after_reaping,
        wait4_minus_one_reaps_any_child,
        wait4_zero_ignores_children_in_other_groups,
        wait4_negative_pgid_reaps_child_in_that_group,
        wait4_wuntraced_reports_stopped_child,
        wait4_without_wuntraced_does_not_report_stop,
        wait4_wcontinued_reports_continued_child,
        wait4_clone_child_is_invisible_without_wclone,
        wait4_wall_reaps_clone_child,
        wait4_wclone_ignores_ordinary_children,
        waitid_wexited_fills_siginfo_for_exit,
        waitid_killed_child_reports_cld_killed_and_signal,
        waitid_wnowait_leaves_child_waitable,
        waitid_wstopped_reports_cld_stopped,
        waitid_wcontinued_reports_cld_continued,
        waitid_wnohang_without_change_returns_zero_with_zero_si_pid,
        waitid_without_state_option_fails_einval,
        waitid_unknown_idtype_fails_einval,
        waitid_without_children_fails_echild,
        waitid_p_all_reaps_some_child,
        waitid_p_pgid_reaps_child_of_that_group,
        waitid_p_pidfd_from_pidfd_open_reaps_child,
        waitid_fills_rusage_argument,
        exited_child_is_a_zombie_until_reaped,
        child_exit_sends_sigchld_with_cld_exited_info,
        ignored_sigchld_makes_children_reap_themselves,
        sa_nocldstop_suppresses_sigchld_on_stop,
        child_stop_sends_sigchld_with_cld_stopped,
        pr_set_child_subreaper_is_reported_by_get,
        pr_get_child_subreaper_bad_pointer_fails_efault,
        child_subreaper_attribute_is_not_inherited,
        orphan_is_reparented_to_child_subreaper,
        orphan_is_not_reparented_to_non_subreaper,
        getpgid_zero_equals_getpgrp,
        getsid_zero_equals_getsid_of_own_pid,
        getpgid_of_nonexistent_pid_fails_esrch,
        getsid_of_nonexistent_pid_fails_esrch,
        setpgid_zero_zero_makes_caller_group_leader,
        setpgid_parent_moves_child_into_new_group,
        setpgid_negative_pgid_fails_einval,
        setpgid_on_non_child_fails_esrch,
        setpgid_into_nonexistent_group_fails_eperm,
        setpgid_of_session_leader_fails_eperm,
        setpgid_on_child_in_other_session_fails_eperm,
        setsid_in_child_creates_session_and_group_named_after_it,
        setsid_by_group_leader_fails_eperm,
        getsid_of_child_reports_its_new_session,
        pidfd_send_signal_kills_child,
        pidfd_open_of_nonexistent_pid_fails_esrch,
        pidfd_open_unknown_flag_fails_einval,
        pidfd_open_pid_upper_bits_are_ignored,
        setpgid_arguments_upper_bits_are_ignored,
        pidfd_becomes_readable_when_child_exits,
        pidfd_send_signal_unknown_flag_fails_einval,
        pidfd_send_signal_on_pipe_fails_ebadf,
        pidfd_send_signal_zero_probes_self,
    ])
}
