//! Threads made with raw clone(2): what CLONE_VM/FS/FILES/SIGHAND/THREAD/SETTLS/
//! PARENT_SETTID/CHILD_SETTID/CHILD_CLEARTID share or set up, exit vs exit_group, robust
//! futex lists (set/get_robust_list, FUTEX_OWNER_DIED cleanup), the futex operations (WAIT,
//! WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, WAIT_BITSET, WAKE_BITSET; private and shared;
//! timeouts, CLOCK_REALTIME) and sched_yield.
//!
//! Raw threads run `extern "C"` entry functions that only touch atomics and make
//! [`sys::raw_syscall`]s (they may share the creator's TLS). Every test runs in a forked child
//! ([`fork_and_check`]) so the statics the threads use start fresh and a stuck thread is
//! killed with its process.
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use syscall_tests::libc;
use syscall_tests::sys::{self, KernelSigaction};
use syscall_tests::task::{
    Child, SIGSET_SIZE, eventually, fork_and_check, get_sigaction, getpid, gettid,
    install_recorder, sleep_ms,
};
use syscall_tests::{
    Errno, Fd, Mapping, Outcome, check, ensure, ensure_eq, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests,
};

const STACK: usize = 64 * 1024;
const ARCH_GET_FS: u64 = 0x1003;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

fn thread_flags() -> u64 {
    (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM) as u64
}

/// The word CLONE_CHILD_CLEARTID clears at thread exit ([`start`] sets it to -1 first).
static CTID: AtomicI32 = AtomicI32::new(0);
/// The word CLONE_PARENT_SETTID fills (separate from CTID, which the exit clears).
static PTID: AtomicI32 = AtomicI32::new(0);
static SEEN_PID: AtomicI64 = AtomicI64::new(0);
static SEEN_TID: AtomicI64 = AtomicI64::new(0);
static SEEN_PPID: AtomicI64 = AtomicI64::new(0);
static SEEN_WORD: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU32 = AtomicU32::new(0);
static CHILD_TID_WORD: AtomicI32 = AtomicI32::new(0);

fn stack() -> Result<Mapping, String> {
    Mapping::anonymous(STACK, libc::PROT_READ | libc::PROT_WRITE)
}

fn addr<T>(r: &T) -> usize {
    std::ptr::from_ref(r) as usize
}

/// Starts a raw thread: thread flags + PARENT_SETTID on [`PTID`] + CHILD_CLEARTID on
/// [`CTID`] (pre-set to -1, so [`join`] can wait for it to become 0) + `extra`.
fn start(
    extra: u64,
    entry: extern "C" fn(usize) -> i32,
    arg: usize,
) -> Result<(i32, Mapping), String> {
    let stack = stack()?;
    CTID.store(-1, Ordering::SeqCst);
    let flags =
        thread_flags() | (libc::CLONE_PARENT_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 | extra;
    let tid = sys::clone_run(flags, &stack, addr(&PTID), addr(&CTID), 0, entry, arg);
    ensure!(
        tid > 0,
        "clone failed: {}",
        syscall_tests::errno_name(i32::try_from(-tid).unwrap_or(0))
    );
    Ok((i32::try_from(tid).unwrap_or(-1), stack))
}

fn futex(word: &AtomicI32, op: i32, val: i64, timeout: usize, uaddr2: usize, val3: i64) -> i64 {
    syscall!(
        libc::SYS_futex,
        word.as_ptr(),
        op,
        val,
        timeout,
        uaddr2,
        val3
    )
}

fn futex_u32(word: &AtomicU32, op: i32, val: u32, timeout: usize, uaddr2: usize, val3: u32) -> i64 {
    syscall!(
        libc::SYS_futex,
        word.as_ptr(),
        op,
        val,
        timeout,
        uaddr2,
        val3
    )
}

/// Waits (futex on the CLEARTID word, bounded by 5 s) until the raw thread exited.
fn join() -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = CTID.load(Ordering::SeqCst);
        if v == 0 {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "thread {v} did not exit");
        let t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        let _ = futex(&CTID, libc::FUTEX_WAIT, i64::from(v), addr(&t), 0, 0);
    }
}

extern "C" fn record_ids(_: usize) -> i32 {
    SEEN_PID.store(sys::raw_syscall(libc::SYS_getpid, &[]), Ordering::SeqCst);
    SEEN_TID.store(sys::raw_syscall(libc::SYS_gettid, &[]), Ordering::SeqCst);
    SEEN_PPID.store(sys::raw_syscall(libc::SYS_getppid, &[]), Ordering::SeqCst);
    0
}

extern "C" fn record_fs_base(_: usize) -> i32 {
    let mut fs = 0u64;
    let _ = sys::raw_syscall(
        libc::SYS_arch_prctl,
        &[ARCH_GET_FS, std::ptr::from_mut(&mut fs) as u64],
    );
    SEEN_WORD.store(fs, Ordering::SeqCst);
    0
}

extern "C" fn record_child_tid_word(_: usize) -> i32 {
    SEEN_WORD.store(
        u64::from(CHILD_TID_WORD.load(Ordering::SeqCst).unsigned_abs()),
        Ordering::SeqCst,
    );
    SEEN_TID.store(sys::raw_syscall(libc::SYS_gettid, &[]), Ordering::SeqCst);
    DONE.store(1, Ordering::SeqCst);
    0
}

extern "C" fn open_eventfd(_: usize) -> i32 {
    let fd = sys::raw_syscall(libc::SYS_eventfd2, &[0, 0]);
    SEEN_WORD.store(fd.cast_unsigned(), Ordering::SeqCst);
    0
}

extern "C" fn chdir_root(_: usize) -> i32 {
    let _ = sys::raw_syscall(libc::SYS_chdir, &[c"/".as_ptr() as u64]);
    0
}

extern "C" fn ignore_sigusr1(_: usize) -> i32 {
    let act = KernelSigaction {
        handler: libc::SIG_IGN as u64,
        ..KernelSigaction::default()
    };
    let _ = sys::raw_syscall(
        libc::SYS_rt_sigaction,
        &[
            libc::SIGUSR1 as u64,
            std::ptr::from_ref(&act) as u64,
            0,
            SIGSET_SIZE as u64,
        ],
    );
    0
}

extern "C" fn exit_group_with(code: usize) -> i32 {
    let _ = sys::raw_syscall(libc::SYS_exit_group, &[code as u64]);
    0
}

extern "C" fn return_value(code: usize) -> i32 {
    i32::try_from(code).unwrap_or(0)
}

/// Sleeps 20 ms, sets DONE, then exit_group(3).
extern "C" fn late_exit_group(_: usize) -> i32 {
    let t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    };
    let _ = sys::raw_syscall(libc::SYS_nanosleep, &[std::ptr::from_ref(&t) as u64, 0]);
    let _ = sys::raw_syscall(libc::SYS_exit_group, &[3]);
    0
}

// ---------------------------------------------------------------- clone flags

/// clone(2) CLONE_THREAD: the thread is in the caller's thread group (same getpid), with
/// its own tid, which clone returned.
fn clone_thread_shares_pid_and_has_own_tid() -> Outcome {
    fork_and_check(|| {
        let (tid, _stack) = start(0, record_ids, 0)?;
        join()?;
        ensure_eq!(SEEN_PID.load(Ordering::SeqCst), i64::from(getpid()));
        ensure_eq!(SEEN_TID.load(Ordering::SeqCst), i64::from(tid));
        ensure!(tid != gettid(), "thread has the caller's tid");
        Ok(())
    })
}

/// Threads of a group share the parent: getppid is the same in every thread.
fn clone_thread_has_same_parent_as_creator() -> Outcome {
    fork_and_check(|| {
        let (_tid, _stack) = start(0, record_ids, 0)?;
        join()?;
        ensure_eq!(
            SEEN_PPID.load(Ordering::SeqCst),
            syscall!(libc::SYS_getppid)
        );
        Ok(())
    })
}

/// CLONE_PARENT_SETTID: "Store the child thread ID at the location parent_tid in the
/// parent's memory" — already there when clone returns.
fn clone_parent_settid_stores_tid_before_clone_returns() -> Outcome {
    fork_and_check(|| {
        let (tid, _stack) = start(0, return_value, 0)?;
        let stored = PTID.load(Ordering::SeqCst);
        join()?;
        ensure_eq!(stored, tid);
        Ok(())
    })
}

/// CLONE_CHILD_SETTID: the tid is stored at child_tid in the child's memory before it runs.
fn clone_child_settid_stores_tid_seen_by_the_thread() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let flags = thread_flags() | libc::CLONE_CHILD_SETTID as u64;
        let tid = sys::clone_run(
            flags,
            &stack,
            0,
            addr(&CHILD_TID_WORD),
            0,
            record_child_tid_word,
            0,
        );
        ensure!(tid > 0, "clone failed: {tid}");
        ensure!(
            eventually(Duration::from_secs(5), || DONE.load(Ordering::SeqCst) == 1),
            "thread never ran"
        );
        ensure_eq!(SEEN_WORD.load(Ordering::SeqCst), tid.unsigned_abs());
        Ok(())
    })
}

/// CLONE_CHILD_CLEARTID: "Clear (zero) the child thread ID at the location pointed to by
/// child_tid in child memory when the child exits, and do a wakeup on the futex at that
/// address."
fn clone_child_cleartid_zeroes_word_and_wakes_futex_at_exit() -> Outcome {
    fork_and_check(|| {
        let (_tid, _stack) = start(0, late_exit_thread, 0)?;
        let t = libc::timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let ret = futex(&CTID, libc::FUTEX_WAIT, -1, addr(&t), 0, 0);
        let errno = syscall_tests::last_errno();
        // Woken (0), or the word was already cleared (EAGAIN); never a timeout.
        ensure!(
            ret == 0 || errno == libc::EAGAIN,
            "futex wait returned {ret} ({})",
            syscall_tests::errno_name(errno)
        );
        ensure_eq!(CTID.load(Ordering::SeqCst), 0);
        Ok(())
    })
}

extern "C" fn late_exit_thread(_: usize) -> i32 {
    let t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    };
    let _ = sys::raw_syscall(libc::SYS_nanosleep, &[std::ptr::from_ref(&t) as u64, 0]);
    0
}

/// CLONE_SETTLS: the thread starts with fs base = the tls argument.
fn clone_settls_sets_thread_fs_base() -> Outcome {
    fork_and_check(|| {
        let tls = Mapping::anonymous(4096, libc::PROT_READ | libc::PROT_WRITE)?;
        let base = (tls.addr() + 2048) as u64;
        let stack = stack()?;
        CTID.store(-1, Ordering::SeqCst);
        let flags = thread_flags()
            | (libc::CLONE_SETTLS | libc::CLONE_PARENT_SETTID | libc::CLONE_CHILD_CLEARTID) as u64;
        let tid = sys::clone_run(
            flags,
            &stack,
            addr(&PTID),
            addr(&CTID),
            base,
            record_fs_base,
            0,
        );
        ensure!(tid > 0, "clone failed: {tid}");
        join()?;
        ensure_eq!(SEEN_WORD.load(Ordering::SeqCst), base);
        Ok(())
    })
}

/// Without CLONE_SETTLS the thread keeps the creator's fs base.
fn clone_without_settls_inherits_fs_base() -> Outcome {
    fork_and_check(|| {
        let mut mine = 0u64;
        check!(
            syscall!(libc::SYS_arch_prctl, ARCH_GET_FS, &raw mut mine),
            succeeds_with(0)
        );
        let (_tid, _stack) = start(0, record_fs_base, 0)?;
        join()?;
        ensure_eq!(SEEN_WORD.load(Ordering::SeqCst), mine);
        Ok(())
    })
}

/// CLONE_FILES: an fd the thread opens is usable by the creator.
fn clone_files_shares_descriptor_table() -> Outcome {
    fork_and_check(|| {
        let (_tid, _stack) = start(0, open_eventfd, 0)?;
        join()?;
        let fd = i64::from_ne_bytes(SEEN_WORD.load(Ordering::SeqCst).to_ne_bytes());
        ensure!(fd >= 0, "thread's eventfd2 failed: {fd}");
        let fd = Fd::from_ret(fd)?;
        check!(
            syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD),
            succeeds_with(0)
        );
        Ok(())
    })
}

/// Without CLONE_FILES the child gets a copy of the table: its new fd does not exist here.
fn clone_vm_without_files_has_own_descriptor_table() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let flags = (libc::CLONE_VM | libc::SIGCHLD) as u64;
        let pid = sys::clone_run(flags, &stack, 0, 0, 0, open_eventfd, 0);
        let mut child = Child::adopt(pid)?;
        child.wait()?;
        let fd = i64::from_ne_bytes(SEEN_WORD.load(Ordering::SeqCst).to_ne_bytes());
        ensure!(fd >= 0, "child's eventfd2 failed: {fd}");
        check!(
            syscall!(libc::SYS_fcntl, fd, libc::F_GETFD),
            fails_with(Errno::EBADF)
        );
        Ok(())
    })
}

fn cwd() -> Result<String, String> {
    std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| e.to_string())
}

/// CLONE_FS: a chdir in the thread changes the creator's working directory.
fn clone_fs_shares_working_directory() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_chdir, c"/tmp".as_ptr()),
            succeeds_with(0)
        );
        let (_tid, _stack) = start(0, chdir_root, 0)?;
        join()?;
        ensure_eq!(cwd()?, "/");
        Ok(())
    })
}

/// Without CLONE_FS the child's chdir stays its own.
fn clone_vm_without_fs_keeps_own_working_directory() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_chdir, c"/tmp".as_ptr()),
            succeeds_with(0)
        );
        let stack = stack()?;
        let flags = (libc::CLONE_VM | libc::SIGCHLD) as u64;
        let pid = sys::clone_run(flags, &stack, 0, 0, 0, chdir_root, 0);
        let mut child = Child::adopt(pid)?;
        child.wait()?;
        ensure_eq!(cwd()?, "/tmp");
        Ok(())
    })
}

/// CLONE_SIGHAND: a disposition the thread sets is the creator's too.
fn clone_sighand_shares_signal_dispositions() -> Outcome {
    fork_and_check(|| {
        let (_tid, _stack) = start(0, ignore_sigusr1, 0)?;
        join()?;
        ensure_eq!(get_sigaction(libc::SIGUSR1)?.handler, libc::SIG_IGN as u64);
        Ok(())
    })
}

/// Without CLONE_SIGHAND (a CLONE_VM process) the dispositions are copied, not shared.
fn clone_vm_without_sighand_has_own_dispositions() -> Outcome {
    fork_and_check(|| {
        let stack = stack()?;
        let flags = (libc::CLONE_VM | libc::SIGCHLD) as u64;
        let pid = sys::clone_run(flags, &stack, 0, 0, 0, ignore_sigusr1, 0);
        let mut child = Child::adopt(pid)?;
        child.wait()?;
        ensure_eq!(get_sigaction(libc::SIGUSR1)?.handler, libc::SIG_DFL as u64);
        Ok(())
    })
}

/// A thread is not a child: wait4 on its tid fails with ECHILD.
fn wait4_on_thread_tid_fails_echild() -> Outcome {
    fork_and_check(|| {
        let (tid, _stack) = start(0, late_exit_thread, 0)?;
        let ret = syscall!(libc::SYS_wait4, tid, 0usize, libc::__WALL, 0usize);
        let errno = syscall_tests::last_errno();
        join()?;
        ensure_eq!((ret, errno), (-1, libc::ECHILD));
        Ok(())
    })
}

// ---------------------------------------------------------------- exit vs exit_group

/// exit(2) from a thread ends only that thread: the creator carries on.
fn exit_from_thread_ends_only_that_thread() -> Outcome {
    fork_and_check(|| {
        let (_tid, _stack) = start(0, return_value, 5)?;
        join()?;
        check!(
            syscall!(libc::SYS_getpid),
            succeeds_with(i64::from(getpid()))
        );
        Ok(())
    })
}

/// exit_group(2) from any thread ends the whole process with that status.
fn exit_group_from_thread_ends_whole_process() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            // Keep the thread's stack mapped: dropping it would unmap it under the thread.
            let Ok(_thread) = start(0, exit_group_with, 7) else {
                return 1;
            };
            sleep_ms(5000);
            2
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(7));
        Ok(())
    })
}

/// When the main thread calls exit(2), the process lives on until its last thread ends;
/// the exit status is then the one of the exit_group the other thread made.
fn main_thread_exit_leaves_other_threads_running() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            // Keep the thread's stack mapped: dropping it would unmap it under the thread.
            let Ok(_thread) = start(0, late_exit_group, 0) else {
                return 1;
            };
            let _ = sys::raw_syscall(libc::SYS_exit, &[0]);
            2
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(3));
        Ok(())
    })
}

/// A fatal signal kills every thread of the group.
fn fatal_signal_kills_all_threads() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            // Keep the thread's stack mapped: dropping it would unmap it under the thread.
            let Ok(_thread) = start(0, late_exit_thread, 0) else {
                return 1;
            };
            let _ = syscall!(libc::SYS_kill, getpid(), libc::SIGTERM);
            2
        })?;
        ensure_eq!(child.wait()?.term_signal(), Some(libc::SIGTERM));
        Ok(())
    })
}

fn sched_yield_returns_zero() -> Outcome {
    check!(syscall!(libc::SYS_sched_yield), succeeds_with(0));
    Ok(())
}

// ---------------------------------------------------------------- robust lists

/// `struct robust_list_head` (linux/futex.h).
#[repr(C)]
#[derive(Debug)]
struct RobustHead {
    next: AtomicU64,
    futex_offset: AtomicI64,
    pending: AtomicU64,
}

/// A robust lock: the list link, then the futex word at offset 8.
#[repr(C)]
#[derive(Debug)]
struct RobustLock {
    next: AtomicU64,
    word: AtomicU32,
}

static HEAD: RobustHead = RobustHead {
    next: AtomicU64::new(0),
    futex_offset: AtomicI64::new(8),
    pending: AtomicU64::new(0),
};
static LOCK: RobustLock = RobustLock {
    next: AtomicU64::new(0),
    word: AtomicU32::new(0),
};
static READY: AtomicU32 = AtomicU32::new(0);

/// Links LOCK into HEAD's list and registers HEAD for the calling thread; takes the lock
/// (word = own tid, plus FUTEX_WAITERS if `arg` is 1, or a foreign owner if `arg` is 2),
/// signals READY, sleeps 20 ms and exits.
extern "C" fn die_holding_robust_lock(arg: usize) -> i32 {
    let tid = u32::try_from(sys::raw_syscall(libc::SYS_gettid, &[])).unwrap_or(0);
    let word = match arg {
        1 => tid | FUTEX_WAITERS,
        2 => 12345,
        _ => tid,
    };
    LOCK.word.store(word, Ordering::SeqCst);
    LOCK.next.store(addr(&HEAD) as u64, Ordering::SeqCst);
    HEAD.next.store(addr(&LOCK) as u64, Ordering::SeqCst);
    let _ = sys::raw_syscall(
        libc::SYS_set_robust_list,
        &[addr(&HEAD) as u64, size_of::<RobustHead>() as u64],
    );
    READY.store(1, Ordering::SeqCst);
    late_exit_thread(0)
}

/// set_robust_list(2): EINVAL "The len value is not the size of struct robust_list_head".
fn set_robust_list_wrong_size_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_set_robust_list, addr(&HEAD), 16),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// get_robust_list(2) returns the head and length set_robust_list registered.
fn get_robust_list_returns_registered_head() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_set_robust_list, addr(&HEAD), 24),
            succeeds_with(0)
        );
        let mut head = 0usize;
        let mut len = 0usize;
        check!(
            syscall!(libc::SYS_get_robust_list, 0, &raw mut head, &raw mut len),
            succeeds_with(0)
        );
        ensure_eq!((head, len), (addr(&HEAD), 24));
        Ok(())
    })
}

/// glibc registers a robust list for every thread at startup.
fn get_robust_list_of_own_thread_reports_libc_head() -> Outcome {
    let mut head = 0usize;
    let mut len = 0usize;
    check!(
        syscall!(libc::SYS_get_robust_list, 0, &raw mut head, &raw mut len),
        succeeds_with(0)
    );
    ensure!(head != 0, "no robust list head");
    ensure_eq!(len, 24);
    Ok(())
}

fn get_robust_list_of_nonexistent_tid_fails_esrch() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        child.wait()?;
        let mut head = 0usize;
        let mut len = 0usize;
        check!(
            syscall!(
                libc::SYS_get_robust_list,
                child.pid(),
                &raw mut head,
                &raw mut len
            ),
            fails_with(Errno::ESRCH)
        );
        Ok(())
    })
}

/// When a thread dies holding a robust futex, the kernel sets FUTEX_OWNER_DIED in the word
/// and clears the owner tid.
fn robust_futex_held_by_dying_thread_gets_owner_died() -> Outcome {
    fork_and_check(|| {
        let (_tid, _stack) = start(0, die_holding_robust_lock, 0)?;
        join()?;
        let word = LOCK.word.load(Ordering::SeqCst);
        ensure_eq!(word & FUTEX_OWNER_DIED, FUTEX_OWNER_DIED);
        ensure_eq!(word & FUTEX_TID_MASK, 0);
        Ok(())
    })
}

/// A waiter blocked on the robust futex (FUTEX_WAITERS set) is woken when the owner dies.
fn robust_futex_waiter_is_woken_when_owner_dies() -> Outcome {
    fork_and_check(|| {
        let (tid, _stack) = start(0, die_holding_robust_lock, 1)?;
        ensure!(
            eventually(Duration::from_secs(5), || READY.load(Ordering::SeqCst) == 1),
            "thread never took the lock"
        );
        let expected = tid.unsigned_abs() | FUTEX_WAITERS;
        let t = libc::timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let ret = futex_u32(&LOCK.word, libc::FUTEX_WAIT, expected, addr(&t), 0, 0);
        let errno = syscall_tests::last_errno();
        ensure!(
            ret == 0 || errno == libc::EAGAIN,
            "futex wait returned {ret} ({})",
            syscall_tests::errno_name(errno)
        );
        join()?;
        ensure_eq!(
            LOCK.word.load(Ordering::SeqCst) & FUTEX_OWNER_DIED,
            FUTEX_OWNER_DIED
        );
        Ok(())
    })
}

/// A lock on the dying thread's list that another tid owns is left untouched.
fn robust_futex_owned_by_another_tid_is_left_alone() -> Outcome {
    fork_and_check(|| {
        let (_tid, _stack) = start(0, die_holding_robust_lock, 2)?;
        join()?;
        ensure_eq!(LOCK.word.load(Ordering::SeqCst), 12345);
        Ok(())
    })
}

// ---------------------------------------------------------------- futex

const PRIVATE: i32 = libc::FUTEX_PRIVATE_FLAG;

fn ts(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns / 1_000_000_000,
        tv_nsec: ns % 1_000_000_000,
    }
}

/// Starts a std thread that FUTEX_WAITs (private, `op_extra`, bitset) on `word` while it
/// holds `val`, with a 5 s timeout; returns whether it was woken (0) rather than timed out.
fn waiter(word: &Arc<AtomicI32>, val: i32, op: i32, bitset: i64) -> std::thread::JoinHandle<i64> {
    let w = Arc::clone(word);
    std::thread::spawn(move || {
        let t = ts(5_000_000_000);
        let timeout = if op & 0x7f == libc::FUTEX_WAIT_BITSET {
            0
        } else {
            addr(&t)
        };
        futex(&w, op | PRIVATE, i64::from(val), timeout, 0, bitset)
    })
}

/// Wakes with `op` until `n` waiters in total were woken (they may not be asleep yet), for
/// at most 5 s; returns the total.
fn wake_until(word: &AtomicI32, op: i32, n: i64, bitset: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut total = 0;
    while total < n && Instant::now() < deadline {
        let r = futex(word, op | PRIVATE, n - total, 0, 0, bitset);
        if r > 0 {
            total += r;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    total
}

/// futex(2) FUTEX_WAKE "returns the number of waiters that were woken up".
fn futex_wake_wakes_a_waiting_thread() -> Outcome {
    fork_and_check(|| {
        let word = Arc::new(AtomicI32::new(0));
        let t = waiter(&word, 0, libc::FUTEX_WAIT, 0);
        ensure_eq!(wake_until(&word, libc::FUTEX_WAKE, 1, 0), 1);
        ensure_eq!(t.join().ok(), Some(0));
        Ok(())
    })
}

/// FUTEX_WAKE wakes at most val waiters.
fn futex_wake_wakes_at_most_val_waiters() -> Outcome {
    fork_and_check(|| {
        let word = Arc::new(AtomicI32::new(0));
        let ts3: Vec<_> = (0..3)
            .map(|_| waiter(&word, 0, libc::FUTEX_WAIT, 0))
            .collect();
        sleep_ms(30);
        let first = futex(&word, libc::FUTEX_WAKE | PRIVATE, 2, 0, 0, 0);
        ensure!(first <= 2, "woke {first} with val 2");
        let rest = wake_until(&word, libc::FUTEX_WAKE, 3 - first, 0);
        ensure_eq!(first + rest, 3);
        for t in ts3 {
            ensure_eq!(t.join().ok(), Some(0));
        }
        Ok(())
    })
}

fn futex_wait_relative_timeout_waits_at_least_20ms() -> Outcome {
    fork_and_check(|| {
        let word = AtomicI32::new(0);
        let t = ts(20_000_000);
        let start = Instant::now();
        check!(
            futex(&word, libc::FUTEX_WAIT | PRIVATE, 0, addr(&t), 0, 0),
            fails_with(Errno::ETIMEDOUT)
        );
        let e = start.elapsed();
        ensure!(e >= Duration::from_millis(20), "{e:?}");
        Ok(())
    })
}

fn now_ns(clock: libc::clockid_t) -> Result<i64, String> {
    let mut t = ts(0);
    check!(
        syscall!(libc::SYS_clock_gettime, clock, &raw mut t),
        succeeds_with(0)
    );
    Ok(t.tv_sec * 1_000_000_000 + t.tv_nsec)
}

/// FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout.
fn futex_wait_bitset_absolute_monotonic_timeout_fails_etimedout_after_deadline() -> Outcome {
    fork_and_check(|| {
        let word = AtomicI32::new(0);
        let deadline = now_ns(libc::CLOCK_MONOTONIC)? + 20_000_000;
        let t = ts(deadline);
        check!(
            futex(&word, libc::FUTEX_WAIT_BITSET | PRIVATE, 0, addr(&t), 0, -1),
            fails_with(Errno::ETIMEDOUT)
        );
        ensure!(now_ns(libc::CLOCK_MONOTONIC)? >= deadline, "woke early");
        Ok(())
    })
}

/// FUTEX_CLOCK_REALTIME makes the absolute timeout a CLOCK_REALTIME time.
fn futex_wait_bitset_clock_realtime_timeout_fails_etimedout_after_deadline() -> Outcome {
    fork_and_check(|| {
        let word = AtomicI32::new(0);
        let deadline = now_ns(libc::CLOCK_REALTIME)? + 20_000_000;
        let t = ts(deadline);
        check!(
            futex(
                &word,
                libc::FUTEX_WAIT_BITSET | libc::FUTEX_CLOCK_REALTIME | PRIVATE,
                0,
                addr(&t),
                0,
                -1
            ),
            fails_with(Errno::ETIMEDOUT)
        );
        ensure!(now_ns(libc::CLOCK_REALTIME)? >= deadline, "woke early");
        Ok(())
    })
}

/// futex(2): FUTEX_CLOCK_REALTIME is only for waits: ENOSYS with FUTEX_WAKE.
fn futex_clock_realtime_with_wake_fails_enosys() -> Outcome {
    let word = AtomicI32::new(0);
    check!(
        futex(
            &word,
            libc::FUTEX_WAKE | libc::FUTEX_CLOCK_REALTIME | PRIVATE,
            1,
            0,
            0,
            0
        ),
        fails_with(Errno::ENOSYS)
    );
    Ok(())
}

/// futex(2): EINVAL "The operation was FUTEX_WAIT_BITSET ... and val3 is zero".
fn futex_wait_bitset_zero_mask_fails_einval() -> Outcome {
    let word = AtomicI32::new(0);
    check!(
        futex(&word, libc::FUTEX_WAIT_BITSET | PRIVATE, 0, 0, 0, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// FUTEX_WAKE_BITSET only wakes waiters whose bitset intersects val3.
fn futex_wake_bitset_skips_waiters_with_disjoint_bitset() -> Outcome {
    fork_and_check(|| {
        let word = Arc::new(AtomicI32::new(0));
        let t = waiter(&word, 0, libc::FUTEX_WAIT_BITSET, 0b01);
        sleep_ms(30);
        check!(
            futex(&word, libc::FUTEX_WAKE_BITSET | PRIVATE, 1, 0, 0, 0b10),
            succeeds_with(0)
        );
        ensure_eq!(wake_until(&word, libc::FUTEX_WAKE_BITSET, 1, 0b01), 1);
        ensure_eq!(t.join().ok(), Some(0));
        Ok(())
    })
}

/// futex(2): EFAULT for a futex word in unmapped memory.
fn futex_wait_on_unmapped_address_fails_efault() -> Outcome {
    let m = Mapping::anonymous(4096, libc::PROT_READ)?;
    let a = m.addr();
    drop(m);
    check!(
        syscall!(
            libc::SYS_futex,
            a,
            libc::FUTEX_WAIT | PRIVATE,
            0,
            0usize,
            0usize,
            0
        ),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn futex_wait_timeout_nsec_one_billion_fails_einval() -> Outcome {
    let word = AtomicI32::new(0);
    let t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    check!(
        futex(&word, libc::FUTEX_WAIT | PRIVATE, 0, addr(&t), 0, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// futex(2)'s op is an `int`: upper-half junk is ignored (here FUTEX_WAKE finds nobody).
fn futex_op_upper_bits_are_ignored() -> Outcome {
    let word = AtomicI32::new(0);
    check!(
        syscall!(
            libc::SYS_futex,
            word.as_ptr(),
            syscall_tests::with_junk_upper_bits(libc::FUTEX_WAKE | PRIVATE),
            1,
            0usize,
            0usize,
            0
        ),
        succeeds_with(0)
    );
    Ok(())
}

fn futex_unknown_op_fails_enosys() -> Outcome {
    let word = AtomicI32::new(0);
    check!(
        futex(&word, 0x7e | PRIVATE, 0, 0, 0, 0),
        fails_with(Errno::ENOSYS)
    );
    Ok(())
}

/// A handler interrupting FUTEX_WAIT (without SA_RESTART) makes it fail with EINTR.
fn futex_wait_interrupted_by_handler_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, 0, 0)?;
        syscall_tests::task::set_real_timer(Duration::from_millis(10), Duration::from_millis(10))?;
        let word = AtomicI32::new(0);
        check!(
            futex(&word, libc::FUTEX_WAIT | PRIVATE, 0, 0, 0, 0),
            fails_with(Errno::EINTR)
        );
        Ok(())
    })
}

/// FUTEX_REQUEUE wakes up to val waiters and moves up to val2 (the timeout argument) others
/// to uaddr2; Linux returns woken + requeued. With val 0 nobody is woken: both move to b.
fn futex_requeue_moves_waiters_to_second_word() -> Outcome {
    fork_and_check(|| {
        let a = Arc::new(AtomicI32::new(0));
        let b = AtomicI32::new(0);
        let ts2: Vec<_> = (0..2).map(|_| waiter(&a, 0, libc::FUTEX_WAIT, 0)).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut moved = 0;
        while moved < 2 && Instant::now() < deadline {
            let r = futex(
                &a,
                libc::FUTEX_REQUEUE | PRIVATE,
                0,
                2 - moved as usize,
                addr(&b),
                0,
            );
            if r > 0 {
                moved += r;
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        ensure_eq!(moved, 2);
        check!(
            futex(&a, libc::FUTEX_WAKE | PRIVATE, 2, 0, 0, 0),
            succeeds_with(0)
        );
        check!(
            futex(&b, libc::FUTEX_WAKE | PRIVATE, 2, 0, 0, 0),
            succeeds_with(2)
        );
        for t in ts2 {
            ensure_eq!(t.join().ok(), Some(0));
        }
        Ok(())
    })
}

/// futex(2) FUTEX_CMP_REQUEUE: EAGAIN when *uaddr != val3.
fn futex_cmp_requeue_value_mismatch_fails_eagain() -> Outcome {
    let a = AtomicI32::new(1);
    let b = AtomicI32::new(0);
    check!(
        futex(&a, libc::FUTEX_CMP_REQUEUE | PRIVATE, 1, 1, addr(&b), 2),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

/// FUTEX_CMP_REQUEUE with a matching value: wakes val, requeues the rest; returns the sum.
fn futex_cmp_requeue_wakes_one_and_requeues_one() -> Outcome {
    fork_and_check(|| {
        let a = Arc::new(AtomicI32::new(0));
        let b = AtomicI32::new(0);
        let ts2: Vec<_> = (0..2).map(|_| waiter(&a, 0, libc::FUTEX_WAIT, 0)).collect();
        sleep_ms(30);
        let r = check!(
            futex(&a, libc::FUTEX_CMP_REQUEUE | PRIVATE, 1, 1, addr(&b), 0),
            succeeds()
        );
        // Both waiters were asleep after 30 ms on any sane machine; if one was not, it is
        // still waiting on `a`.
        let on_b = r - 1;
        ensure!((1..=2).contains(&r), "cmp_requeue returned {r}");
        let woke_b = wake_until(&b, libc::FUTEX_WAKE, on_b, 0);
        let woke_a = wake_until(&a, libc::FUTEX_WAKE, 1 - on_b, 0);
        ensure_eq!(woke_a + woke_b + 1, 2);
        for t in ts2 {
            ensure_eq!(t.join().ok(), Some(0));
        }
        Ok(())
    })
}

/// FUTEX_OP(op, oparg, cmp, cmparg) as linux/futex.h builds it.
fn futex_op(op: u32, oparg: u32, cmp: u32, cmparg: u32) -> i64 {
    i64::from(((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))
}

const FUTEX_OP_SET: u32 = 0;
const FUTEX_OP_ADD: u32 = 1;
const FUTEX_OP_CMP_EQ: u32 = 0;

/// FUTEX_WAKE_OP applies the operation to *uaddr2 atomically (here: set to 9).
fn futex_wake_op_sets_second_word() -> Outcome {
    let a = AtomicI32::new(0);
    let b = AtomicI32::new(4);
    check!(
        futex(
            &a,
            libc::FUTEX_WAKE_OP | PRIVATE,
            1,
            1,
            addr(&b),
            futex_op(FUTEX_OP_SET, 9, FUTEX_OP_CMP_EQ, 4)
        ),
        succeeds_with(0)
    );
    ensure_eq!(b.load(Ordering::SeqCst), 9);
    Ok(())
}

fn futex_wake_op_adds_to_second_word() -> Outcome {
    let a = AtomicI32::new(0);
    let b = AtomicI32::new(4);
    check!(
        futex(
            &a,
            libc::FUTEX_WAKE_OP | PRIVATE,
            1,
            1,
            addr(&b),
            futex_op(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 0)
        ),
        succeeds_with(0)
    );
    ensure_eq!(b.load(Ordering::SeqCst), 7);
    Ok(())
}

/// When the comparison on the old value of *uaddr2 holds, waiters on uaddr2 are woken too.
fn futex_wake_op_wakes_second_word_waiter_when_comparison_holds() -> Outcome {
    fork_and_check(|| {
        let a = AtomicI32::new(0);
        let b = Arc::new(AtomicI32::new(0));
        let t = waiter(&b, 0, libc::FUTEX_WAIT, 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut woken = 0;
        while woken == 0 && Instant::now() < deadline {
            b.store(0, Ordering::SeqCst);
            woken = futex(
                &a,
                libc::FUTEX_WAKE_OP | PRIVATE,
                1,
                1,
                addr(&*b),
                futex_op(FUTEX_OP_SET, 0, FUTEX_OP_CMP_EQ, 0),
            );
            if woken == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        ensure_eq!(woken, 1);
        ensure_eq!(t.join().ok(), Some(0));
        Ok(())
    })
}

/// A shared (non-private) futex on MAP_SHARED memory works across processes.
fn futex_shared_wake_from_other_process_wakes_waiter() -> Outcome {
    fork_and_check(|| {
        let m = Mapping::shared_anonymous(4096)?;
        let word = m.atomic_u32(0)?;
        let mut child = Child::spawn(|| {
            let t = ts(5_000_000_000);
            i32::from(futex_u32(word, libc::FUTEX_WAIT, 0, addr(&t), 0, 0) != 0)
        })?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut woken = 0;
        while woken == 0 && Instant::now() < deadline {
            woken = futex_u32(word, libc::FUTEX_WAKE, 1, 0, 0, 0);
            if woken == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        ensure_eq!(woken, 1);
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// A private futex is keyed by address space: a private wake from another process never
/// reaches the waiter, which times out.
fn futex_private_wake_from_other_process_does_not_wake_waiter() -> Outcome {
    fork_and_check(|| {
        let m = Mapping::shared_anonymous(4096)?;
        let word = m.atomic_u32(0)?;
        let mut child = Child::spawn(|| {
            let t = ts(200_000_000);
            let r = futex_u32(word, libc::FUTEX_WAIT | PRIVATE, 0, addr(&t), 0, 0);
            i32::from(!(r == -1 && syscall_tests::last_errno() == libc::ETIMEDOUT))
        })?;
        let deadline = Instant::now() + Duration::from_millis(100);
        while Instant::now() < deadline {
            check!(
                futex_u32(word, libc::FUTEX_WAKE | PRIVATE, 1, 0, 0, 0),
                succeeds_with(0)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

fn main() -> ExitCode {
    run_tests(tests![
        clone_thread_shares_pid_and_has_own_tid,
        clone_thread_has_same_parent_as_creator,
        clone_parent_settid_stores_tid_before_clone_returns,
        clone_child_settid_stores_tid_seen_by_the_thread,
        clone_child_cleartid_zeroes_word_and_wakes_futex_at_exit,
        clone_settls_sets_thread_fs_base,
        clone_without_settls_inherits_fs_base,
        clone_files_shares_descriptor_table,
        clone_vm_without_files_has_own_descriptor_table,
        clone_fs_shares_working_directory,
        clone_vm_without_fs_keeps_own_working_directory,
        clone_sighand_shares_signal_dispositions,
        clone_vm_without_sighand_has_own_dispositions,
        wait4_on_thread_tid_fails_echild,
        exit_from_thread_ends_only_that_thread,
        exit_group_from_thread_ends_whole_process,
        main_thread_exit_leaves_other_threads_running,
        fatal_signal_kills_all_threads,
        sched_yield_returns_zero,
        set_robust_list_wrong_size_fails_einval,
        get_robust_list_returns_registered_head,
        get_robust_list_of_own_thread_reports_libc_head,
        get_robust_list_of_nonexistent_tid_fails_esrch,
        robust_futex_held_by_dying_thread_gets_owner_died,
        robust_futex_waiter_is_woken_when_owner_dies,
        robust_futex_owned_by_another_tid_is_left_alone,
        futex_wake_wakes_a_waiting_thread,
        futex_wake_wakes_at_most_val_waiters,
        futex_wait_relative_timeout_waits_at_least_20ms,
        futex_wait_bitset_absolute_monotonic_timeout_fails_etimedout_after_deadline,
        futex_wait_bitset_clock_realtime_timeout_fails_etimedout_after_deadline,
        futex_clock_realtime_with_wake_fails_enosys,
        futex_wait_bitset_zero_mask_fails_einval,
        futex_wake_bitset_skips_waiters_with_disjoint_bitset,
        futex_wait_on_unmapped_address_fails_efault,
        futex_wait_timeout_nsec_one_billion_fails_einval,
        futex_unknown_op_fails_enosys,
        futex_op_upper_bits_are_ignored,
        futex_wait_interrupted_by_handler_fails_eintr,
        futex_requeue_moves_waiters_to_second_word,
        futex_cmp_requeue_value_mismatch_fails_eagain,
        futex_cmp_requeue_wakes_one_and_requeues_one,
        futex_wake_op_sets_second_word,
        futex_wake_op_adds_to_second_word,
        futex_wake_op_wakes_second_word_waiter_when_comparison_holds,
        futex_shared_wake_from_other_process_wakes_waiter,
        futex_private_wake_from_other_process_does_not_wake_waiter,
    ])
}
