//! Process-wide state a single-threaded program queries: identity (pids, tid, credentials),
//! uname, arch_prctl, set_tid_address, resource limits, getrandom, CPU affinity, sysinfo, and
//! the signal mask and actions (recorded only: nothing here delivers a signal).
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::AtomicI32;

use syscall_tests::libc;
use syscall_tests::sys::KernelSigaction;
use syscall_tests::{
    Errno, KERNEL_ADDR, LOW_ADDR, Outcome, check, ensure, ensure_eq, fails_with, run_tests,
    succeeds, succeeds_with, syscall, tests, zeroed,
};

/// arch/x86/include/uapi/asm/prctl.h
const ARCH_GET_FS: i32 = 0x1003;

/// The kernel's sigset_t size on x86-64: 64 signals, 8 bytes.
const SIGSET_SIZE: usize = 8;

fn sig_bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

fn utsname_field(field: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| c.to_ne_bytes()[0])
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------- identity

fn uname_sysname_is_linux() -> Outcome {
    let mut u: libc::utsname = zeroed();
    check!(syscall!(libc::SYS_uname, &raw mut u), succeeds_with(0));
    ensure_eq!(utsname_field(&u.sysname), "Linux");
    Ok(())
}

fn uname_machine_is_x86_64() -> Outcome {
    let mut u: libc::utsname = zeroed();
    check!(syscall!(libc::SYS_uname, &raw mut u), succeeds_with(0));
    ensure_eq!(utsname_field(&u.machine), "x86_64");
    ensure!(!utsname_field(&u.release).is_empty(), "empty release");
    Ok(())
}

fn uname_bad_buffer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_uname, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn getpid_is_positive() -> Outcome {
    let pid = check!(syscall!(libc::SYS_getpid), succeeds());
    ensure!(pid > 0, "pid {pid}");
    Ok(())
}

/// gettid(2): in a single-threaded process the thread id is the process id.
fn gettid_equals_getpid() -> Outcome {
    let pid = check!(syscall!(libc::SYS_getpid), succeeds());
    check!(syscall!(libc::SYS_gettid), succeeds_with(pid));
    Ok(())
}

/// getppid(2) never fails; 0 is a valid answer for a namespace's init.
fn getppid_succeeds() -> Outcome {
    let ppid = check!(syscall!(libc::SYS_getppid), succeeds());
    ensure!(ppid >= 0, "ppid {ppid}");
    Ok(())
}

/// Without set-user-ID execution, real and effective user IDs are equal (credentials(7)).
fn getuid_equals_geteuid() -> Outcome {
    let uid = check!(syscall!(libc::SYS_getuid), succeeds());
    check!(syscall!(libc::SYS_geteuid), succeeds_with(uid));
    Ok(())
}

fn getgid_equals_getegid() -> Outcome {
    let gid = check!(syscall!(libc::SYS_getgid), succeeds());
    check!(syscall!(libc::SYS_getegid), succeeds_with(gid));
    Ok(())
}

/// set_tid_address(2): "always returns the caller's thread ID". The pointer is a static so it
/// stays valid for the life of the process (the kernel writes it only at thread exit, and only
/// when other threads share the memory).
fn set_tid_address_returns_tid() -> Outcome {
    static CLEAR_TID: AtomicI32 = AtomicI32::new(0);
    let tid = check!(syscall!(libc::SYS_gettid), succeeds());
    check!(
        syscall!(libc::SYS_set_tid_address, CLEAR_TID.as_ptr()),
        succeeds_with(tid)
    );
    Ok(())
}

/// arch_prctl(2) ARCH_GET_FS: the thread pointer libc set up for TLS is non-zero.
fn arch_prctl_get_fs_returns_thread_pointer() -> Outcome {
    let mut fs: u64 = 0;
    check!(
        syscall!(libc::SYS_arch_prctl, ARCH_GET_FS, &raw mut fs),
        succeeds_with(0)
    );
    ensure!(fs != 0, "fs base is 0");
    Ok(())
}

/// arch_prctl(2): EINVAL "code is not a valid operation".
fn arch_prctl_unknown_code_fails_einval() -> Outcome {
    let mut v: u64 = 0;
    check!(
        syscall!(libc::SYS_arch_prctl, 0x9999, &raw mut v),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn arch_prctl_get_fs_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_arch_prctl, ARCH_GET_FS, KERNEL_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

// ---------------------------------------------------------------- limits, random, cpus

fn prlimit64_stack_is_readable() -> Outcome {
    let mut old: libc::rlimit64 = zeroed();
    check!(
        syscall!(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_STACK,
            0usize,
            &raw mut old
        ),
        succeeds_with(0)
    );
    ensure!(old.rlim_cur > 0, "soft limit 0");
    ensure!(old.rlim_cur <= old.rlim_max, "{old:?}");
    Ok(())
}

fn prlimit64_nofile_is_readable() -> Outcome {
    let mut old: libc::rlimit64 = zeroed();
    check!(
        syscall!(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            0usize,
            &raw mut old
        ),
        succeeds_with(0)
    );
    // Any process has at least its three stdio descriptors' worth of limit.
    ensure!(old.rlim_cur >= 3, "{old:?}");
    ensure!(old.rlim_cur <= old.rlim_max, "{old:?}");
    Ok(())
}

fn prlimit64_set_nofile_then_get_round_trips() -> Outcome {
    let mut old: libc::rlimit64 = zeroed();
    check!(
        syscall!(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            0usize,
            &raw mut old
        ),
        succeeds_with(0)
    );
    let lower = libc::rlimit64 {
        rlim_cur: 64,
        rlim_max: old.rlim_max,
    };
    let mut previous: libc::rlimit64 = zeroed();
    check!(
        syscall!(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            &raw const lower,
            &raw mut previous
        ),
        succeeds_with(0)
    );
    let mut now: libc::rlimit64 = zeroed();
    check!(
        syscall!(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            0usize,
            &raw mut now
        ),
        succeeds_with(0)
    );
    check!(
        syscall!(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            &raw const old,
            0usize
        ),
        succeeds_with(0)
    );
    ensure_eq!(previous.rlim_cur, old.rlim_cur);
    ensure_eq!(now.rlim_cur, 64);
    Ok(())
}

/// getrlimit(2): EINVAL "resource is not valid".
fn prlimit64_unknown_resource_fails_einval() -> Outcome {
    let mut old: libc::rlimit64 = zeroed();
    check!(
        syscall!(libc::SYS_prlimit64, 0, 999, 0usize, &raw mut old),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// getrlimit(2): EINVAL "rlim->rlim_cur was greater than rlim->rlim_max".
fn prlimit64_soft_above_hard_fails_einval() -> Outcome {
    let bad = libc::rlimit64 {
        rlim_cur: 100,
        rlim_max: 10,
    };
    check!(
        syscall!(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            &raw const bad,
            0usize
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn getrandom_fills_requested_length() -> Outcome {
    let mut buf = [0u8; 64];
    check!(
        syscall!(libc::SYS_getrandom, buf.as_mut_ptr(), buf.len(), 0),
        succeeds_with(64)
    );
    // 64 zero bytes from a CSPRNG has probability 2^-512.
    ensure!(buf != [0u8; 64], "all zero");
    Ok(())
}

/// getrandom(2): requests up to 256 bytes are never short once the pool is initialised.
fn getrandom_256_bytes_nonblock_returns_256() -> Outcome {
    let mut buf = [0u8; 256];
    check!(
        syscall!(
            libc::SYS_getrandom,
            buf.as_mut_ptr(),
            buf.len(),
            libc::GRND_NONBLOCK
        ),
        succeeds_with(256)
    );
    Ok(())
}

fn getrandom_zero_length_returns_zero() -> Outcome {
    let mut buf = [0u8; 1];
    check!(
        syscall!(libc::SYS_getrandom, buf.as_mut_ptr(), 0, 0),
        succeeds_with(0)
    );
    Ok(())
}

/// getrandom(2): EINVAL "An invalid flag was specified in flags".
fn getrandom_unknown_flag_fails_einval() -> Outcome {
    let mut buf = [0u8; 8];
    check!(
        syscall!(libc::SYS_getrandom, buf.as_mut_ptr(), buf.len(), 0x100),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn getrandom_bad_buffer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_getrandom, LOW_ADDR, 8, 0),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// sched_getaffinity(2): returns the size of the kernel's cpumask copied; at least one CPU set.
fn sched_getaffinity_reports_some_cpu() -> Outcome {
    let mut mask = [0u64; 16];
    let n = check!(
        syscall!(
            libc::SYS_sched_getaffinity,
            0,
            size_of_val(&mask),
            mask.as_mut_ptr()
        ),
        succeeds()
    );
    ensure!(n > 0 && n % 8 == 0, "returned {n}");
    ensure!(mask.iter().any(|w| *w != 0), "empty cpu mask");
    Ok(())
}

/// sched_getaffinity(2): EINVAL "cpusetsize is smaller than the size of the affinity mask
/// used by the kernel" (or not a multiple of sizeof(long)).
fn sched_getaffinity_tiny_size_fails_einval() -> Outcome {
    let mut mask = [0u8; 1];
    check!(
        syscall!(libc::SYS_sched_getaffinity, 0, 1, mask.as_mut_ptr()),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn sysinfo_reports_ram_and_uptime() -> Outcome {
    let mut info: libc::sysinfo = zeroed();
    check!(syscall!(libc::SYS_sysinfo, &raw mut info), succeeds_with(0));
    ensure!(info.totalram > 0, "totalram 0");
    ensure!(info.mem_unit > 0, "mem_unit 0");
    ensure!(info.freeram <= info.totalram, "free > total");
    ensure!(info.procs > 0, "no processes");
    Ok(())
}

fn sysinfo_bad_buffer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_sysinfo, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

// ---------------------------------------------------------------- signal state

/// rt_sigprocmask(2): `oldset` returns the mask that was in force, i.e. the one set before.
fn rt_sigprocmask_returns_previously_set_mask() -> Outcome {
    let mut original = 0u64;
    let set = sig_bit(libc::SIGUSR1) | sig_bit(libc::SIGUSR2);
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const set,
            &raw mut original,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    let mut seen = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const original,
            &raw mut seen,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    ensure_eq!(seen, set);
    Ok(())
}

fn rt_sigprocmask_block_adds_to_mask() -> Outcome {
    let mut original = 0u64;
    let first = sig_bit(libc::SIGUSR1);
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const first,
            &raw mut original,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    let more = sig_bit(libc::SIGTERM);
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            &raw const more,
            0usize,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    let mut seen = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const original,
            &raw mut seen,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    ensure_eq!(seen, first | more);
    Ok(())
}

/// sigprocmask(2): "It is not possible to block SIGKILL or SIGSTOP. Attempts to do so are
/// silently ignored."
fn rt_sigprocmask_cannot_block_sigkill_or_sigstop() -> Outcome {
    let mut original = 0u64;
    let set = sig_bit(libc::SIGKILL) | sig_bit(libc::SIGSTOP) | sig_bit(libc::SIGUSR1);
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const set,
            &raw mut original,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    let mut seen = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const original,
            &raw mut seen,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    ensure_eq!(seen, sig_bit(libc::SIGUSR1));
    Ok(())
}

/// sigprocmask(2): EINVAL "The value specified in how was invalid".
fn rt_sigprocmask_bad_how_fails_einval() -> Outcome {
    let set = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            99,
            &raw const set,
            0usize,
            SIGSET_SIZE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// rt_sigprocmask(2): sigsetsize must be the kernel's sizeof(sigset_t).
fn rt_sigprocmask_bad_sigsetsize_fails_einval() -> Outcome {
    let mut old = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            0usize,
            &raw mut old,
            4
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// sigaction(2): `oldact` returns the action installed before.
fn rt_sigaction_returns_previously_set_action() -> Outcome {
    let ignore = KernelSigaction {
        handler: libc::SIG_IGN as u64,
        flags: 0,
        restorer: 0,
        mask: sig_bit(libc::SIGUSR2),
    };
    let mut original = KernelSigaction::default();
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGUSR1,
            &raw const ignore,
            &raw mut original,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    let mut seen = KernelSigaction::default();
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGUSR1,
            &raw const original,
            &raw mut seen,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    ensure_eq!(seen.handler, libc::SIG_IGN as u64);
    ensure_eq!(seen.mask, sig_bit(libc::SIGUSR2));
    Ok(())
}

fn rt_sigaction_default_action_of_sigusr2_is_sig_dfl() -> Outcome {
    let mut seen = KernelSigaction {
        handler: 0xdead,
        ..KernelSigaction::default()
    };
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGUSR2,
            0usize,
            &raw mut seen,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    ensure_eq!(seen.handler, libc::SIG_DFL as u64);
    Ok(())
}

/// sigaction(2): EINVAL "An attempt was made to change the action for SIGKILL or SIGSTOP".
fn rt_sigaction_on_sigkill_fails_einval() -> Outcome {
    let ignore = KernelSigaction {
        handler: libc::SIG_IGN as u64,
        ..KernelSigaction::default()
    };
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGKILL,
            &raw const ignore,
            0usize,
            SIGSET_SIZE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// sigaction(2): EINVAL "An invalid signal was specified".
fn rt_sigaction_signal_65_fails_einval() -> Outcome {
    let mut seen = KernelSigaction::default();
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            65,
            0usize,
            &raw mut seen,
            SIGSET_SIZE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn rt_sigaction_bad_sigsetsize_fails_einval() -> Outcome {
    let mut seen = KernelSigaction::default();
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGUSR1,
            0usize,
            &raw mut seen,
            4
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn rt_sigaction_bad_oldact_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGUSR1,
            0usize,
            LOW_ADDR,
            SIGSET_SIZE
        ),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// futex(2) FUTEX_WAKE: with no thread waiting on the word, nobody is woken.
fn futex_wake_without_waiters_returns_zero() -> Outcome {
    let word = AtomicI32::new(0);
    check!(
        syscall!(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
            0usize,
            0usize,
            0
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// futex(2) FUTEX_WAIT: "EAGAIN: the value pointed to by uaddr was not equal to val".
fn futex_wait_value_mismatch_fails_eagain() -> Outcome {
    let word = AtomicI32::new(5);
    check!(
        syscall!(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            4,
            0usize,
            0usize,
            0
        ),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

/// futex(2) FUTEX_WAIT with a timeout and nobody to wake it: ETIMEDOUT.
fn futex_wait_times_out_with_etimedout() -> Outcome {
    let word = AtomicI32::new(0);
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    check!(
        syscall!(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            0,
            &ts as *const libc::timespec,
            0usize,
            0
        ),
        fails_with(Errno::ETIMEDOUT)
    );
    Ok(())
}

/// futex(2): "EINVAL: uaddr does not point to a 4-byte aligned integer".
fn futex_unaligned_word_fails_einval() -> Outcome {
    let words = [AtomicI32::new(0), AtomicI32::new(0)];
    let unaligned = words[0].as_ptr().cast::<u8>().wrapping_add(1);
    check!(
        syscall!(
            libc::SYS_futex,
            unaligned,
            libc::FUTEX_WAKE,
            1,
            0usize,
            0usize,
            0
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        futex_wake_without_waiters_returns_zero,
        futex_wait_value_mismatch_fails_eagain,
        futex_wait_times_out_with_etimedout,
        futex_unaligned_word_fails_einval,
        uname_sysname_is_linux,
        uname_machine_is_x86_64,
        uname_bad_buffer_fails_efault,
        getpid_is_positive,
        gettid_equals_getpid,
        getppid_succeeds,
        getuid_equals_geteuid,
        getgid_equals_getegid,
        set_tid_address_returns_tid,
        arch_prctl_get_fs_returns_thread_pointer,
        arch_prctl_unknown_code_fails_einval,
        arch_prctl_get_fs_bad_pointer_fails_efault,
        prlimit64_stack_is_readable,
        prlimit64_nofile_is_readable,
        prlimit64_set_nofile_then_get_round_trips,
        prlimit64_unknown_resource_fails_einval,
        prlimit64_soft_above_hard_fails_einval,
        getrandom_fills_requested_length,
        getrandom_256_bytes_nonblock_returns_256,
        getrandom_zero_length_returns_zero,
        getrandom_unknown_flag_fails_einval,
        getrandom_bad_buffer_fails_efault,
        sched_getaffinity_reports_some_cpu,
        sched_getaffinity_tiny_size_fails_einval,
        sysinfo_reports_ram_and_uptime,
        sysinfo_bad_buffer_fails_efault,
        rt_sigprocmask_returns_previously_set_mask,
        rt_sigprocmask_block_adds_to_mask,
        rt_sigprocmask_cannot_block_sigkill_or_sigstop,
        rt_sigprocmask_bad_how_fails_einval,
        rt_sigprocmask_bad_sigsetsize_fails_einval,
        rt_sigaction_returns_previously_set_action,
        rt_sigaction_default_action_of_sigusr2_is_sig_dfl,
        rt_sigaction_on_sigkill_fails_einval,
        rt_sigaction_signal_65_fails_einval,
        rt_sigaction_bad_sigsetsize_fails_einval,
        rt_sigaction_bad_oldact_pointer_fails_efault,
    ])
}
