//! Signals: rt_sigaction (SA_SIGINFO fields, SA_RESTART, SA_ONSTACK, SA_NODEFER,
//! SA_RESETHAND), rt_sigprocmask, rt_sigpending, rt_sigsuspend, rt_sigtimedwait,
//! rt_sigqueueinfo/rt_tgsigqueueinfo, kill/tgkill/tkill, queueing rules, delivery to threads,
//! synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP), default actions, sigaltstack,
//! signalfd4 and pause.
//!
//! Every test that installs a handler, changes the mask or sends a signal runs in a forked
//! child ([`fork_and_check`]), so dispositions and masks never leak between tests; the
//! recording handler (`syscall_tests::sys::delivery`) logs what each delivery carried.
//! Faults are recovered by the handler rewriting the saved RIP in its ucontext to the probe's
//! "faulted" exit, which is what siglongjmp does in C, through the same rt_sigreturn path.
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use syscall_tests::libc;
use syscall_tests::sys::{self, KernelSigaction, delivery, delivery_order, signal_count};
use syscall_tests::task::{
    Child, SIGSET_SIZE, block, current_mask, eventually, fork_and_check, get_sigaction, getpid,
    gettid, ignore, install_recorder, pending, pipe, set_real_timer, sig_bit, sigprocmask,
    sleep_ms,
};
use syscall_tests::{
    Errno, Fd, KERNEL_ADDR, LOW_ADDR, Mapping, Outcome, TempFile, check, ensure, ensure_eq,
    fails_with, run_tests, succeeds, succeeds_with, syscall, tests, with_junk_upper_bits, zeroed,
};

const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
const FPE_INTDIV: i32 = 1;
const ILL_ILLOPN: i32 = 2;
const PAGE: usize = 4096;

/// The kernel's `siginfo_t` (128 bytes) with the fields rt_sigqueueinfo/rt_sigtimedwait use.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct RawSiginfo {
    signo: i32,
    errno: i32,
    code: i32,
    pad: i32,
    pid: i32,
    uid: u32,
    value: u64,
    rest: [u64; 12],
}

impl RawSiginfo {
    fn queued(sig: i32, code: i32, value: u64) -> RawSiginfo {
        RawSiginfo {
            signo: sig,
            errno: 0,
            code,
            pad: 0,
            pid: getpid(),
            uid: u32::try_from(syscall!(libc::SYS_getuid)).unwrap_or(0),
            value,
            rest: [0; 12],
        }
    }

    fn empty() -> RawSiginfo {
        RawSiginfo::queued(0, 0, 0)
    }
}

fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

fn kill_self(sig: i32) -> Outcome {
    check!(syscall!(libc::SYS_kill, getpid(), sig), succeeds_with(0));
    Ok(())
}

fn sigqueue_self(sig: i32, value: u64) -> Outcome {
    let info = RawSiginfo::queued(sig, libc::SI_QUEUE, value);
    check!(
        syscall!(libc::SYS_rt_sigqueueinfo, getpid(), sig, &raw const info),
        succeeds_with(0)
    );
    Ok(())
}

fn unblock(sig: i32) -> Outcome {
    sigprocmask(libc::SIG_UNBLOCK, sig_bit(sig)).map(|_| ())
}

fn timedwait(set: u64, timeout_ns: i64) -> (i64, RawSiginfo) {
    let mut info = RawSiginfo::empty();
    let ts = libc::timespec {
        tv_sec: timeout_ns / 1_000_000_000,
        tv_nsec: timeout_ns % 1_000_000_000,
    };
    let ret = syscall!(
        libc::SYS_rt_sigtimedwait,
        &raw const set,
        &raw mut info,
        &raw const ts,
        SIGSET_SIZE
    );
    (ret, info)
}

// ---------------------------------------------------------------- rt_sigaction

/// sigaction(2): oldact receives the handler, flags and mask installed before.
fn rt_sigaction_old_action_reports_installed_handler_flags_and_mask() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, sig_bit(libc::SIGUSR2))?;
        let old = get_sigaction(libc::SIGUSR1)?;
        ensure_eq!(old.handler, sys::record_handler_addr());
        ensure!(
            old.flags & libc::SA_SIGINFO as u64 != 0,
            "flags {:#x}",
            old.flags
        );
        ensure_eq!(old.mask, sig_bit(libc::SIGUSR2));
        Ok(())
    })
}

fn rt_sigaction_sigstop_ignore_fails_einval() -> Outcome {
    let ign = KernelSigaction {
        handler: libc::SIG_IGN as u64,
        ..KernelSigaction::default()
    };
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGSTOP,
            &raw const ign,
            0usize,
            SIGSET_SIZE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// Querying (act == NULL) the action of SIGKILL is allowed: only changing it is refused.
fn rt_sigaction_query_of_sigkill_succeeds_with_sig_dfl() -> Outcome {
    let mut old = KernelSigaction {
        handler: 77,
        ..KernelSigaction::default()
    };
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGKILL,
            0usize,
            &raw mut old,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    ensure_eq!(old.handler, libc::SIG_DFL as u64);
    Ok(())
}

fn rt_sigaction_signal_zero_fails_einval() -> Outcome {
    let mut old = KernelSigaction::default();
    check!(
        syscall!(libc::SYS_rt_sigaction, 0, 0usize, &raw mut old, SIGSET_SIZE),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// The signal number is an `int`: junk in the upper half of the register is ignored.
fn rt_sigaction_signal_upper_bits_are_ignored() -> Outcome {
    let mut old = KernelSigaction {
        handler: 77,
        ..KernelSigaction::default()
    };
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            with_junk_upper_bits(libc::SIGUSR2),
            0usize,
            &raw mut old,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    ensure_eq!(old.handler, libc::SIG_DFL as u64);
    Ok(())
}

fn rt_sigaction_bad_act_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(
            libc::SYS_rt_sigaction,
            libc::SIGUSR1,
            KERNEL_ADDR,
            0usize,
            SIGSET_SIZE
        ),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// A handler's sa_mask cannot block SIGKILL: the stored mask drops it.
fn rt_sigaction_mask_drops_sigkill_and_sigstop() -> Outcome {
    fork_and_check(|| {
        install_recorder(
            libc::SIGUSR1,
            0,
            sig_bit(libc::SIGKILL) | sig_bit(libc::SIGSTOP) | sig_bit(libc::SIGUSR2),
        )?;
        ensure_eq!(get_sigaction(libc::SIGUSR1)?.mask, sig_bit(libc::SIGUSR2));
        Ok(())
    })
}

// ---------------------------------------------------------------- siginfo contents

/// kill(2) from the process itself: si_code SI_USER, si_pid and si_uid of the sender.
fn kill_self_handler_sees_si_user_pid_and_uid() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        kill_self(libc::SIGUSR1)?;
        let d = delivery(libc::SIGUSR1);
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        ensure_eq!(d.signo, libc::SIGUSR1);
        ensure_eq!(d.code, libc::SI_USER);
        ensure_eq!(d.pid, getpid());
        ensure_eq!(i64::from(d.uid), syscall!(libc::SYS_getuid));
        Ok(())
    })
}

/// tgkill(2) marks the siginfo SI_TKILL.
fn tgkill_self_handler_sees_si_tkill() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        check!(
            syscall!(libc::SYS_tgkill, getpid(), gettid(), libc::SIGUSR1),
            succeeds_with(0)
        );
        ensure_eq!(delivery(libc::SIGUSR1).code, libc::SI_TKILL);
        Ok(())
    })
}

/// rt_sigqueueinfo(2): the handler receives the caller's si_code and si_value.
fn rt_sigqueueinfo_self_delivers_si_value_and_si_queue() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR2, 0, 0)?;
        sigqueue_self(libc::SIGUSR2, 0x1234_5678_9abc)?;
        let d = delivery(libc::SIGUSR2);
        ensure_eq!(d.code, libc::SI_QUEUE);
        ensure_eq!(d.value, 0x1234_5678_9abc);
        Ok(())
    })
}

/// rt_tgsigqueueinfo(2) targets one thread and carries si_value.
fn rt_tgsigqueueinfo_self_thread_delivers_si_value() -> Outcome {
    fork_and_check(|| {
        install_recorder(rtmin(), 0, 0)?;
        let info = RawSiginfo::queued(rtmin(), libc::SI_QUEUE, 99);
        check!(
            syscall!(
                libc::SYS_rt_tgsigqueueinfo,
                getpid(),
                gettid(),
                rtmin(),
                &raw const info
            ),
            succeeds_with(0)
        );
        ensure_eq!(delivery(rtmin()).value, 99);
        ensure_eq!(delivery(rtmin()).tid, gettid());
        Ok(())
    })
}

/// rt_sigqueueinfo(2): EPERM when si_code >= 0 (pretending to be the kernel or kill) and the
/// target is another process.
fn rt_sigqueueinfo_si_user_code_to_other_process_fails_eperm() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| {
            sleep_ms(5000);
            0
        })?;
        let info = RawSiginfo::queued(libc::SIGUSR1, libc::SI_USER, 0);
        check!(
            syscall!(
                libc::SYS_rt_sigqueueinfo,
                child.pid(),
                libc::SIGUSR1,
                &raw const info
            ),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

fn rt_sigqueueinfo_si_tkill_code_to_other_process_fails_eperm() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| {
            sleep_ms(5000);
            0
        })?;
        let info = RawSiginfo::queued(libc::SIGUSR1, libc::SI_TKILL, 0);
        check!(
            syscall!(
                libc::SYS_rt_sigqueueinfo,
                child.pid(),
                libc::SIGUSR1,
                &raw const info
            ),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// A process may queue a signal to itself with any si_code.
fn rt_sigqueueinfo_positive_code_to_self_succeeds() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        let info = RawSiginfo::queued(libc::SIGUSR1, 5, 7);
        check!(
            syscall!(
                libc::SYS_rt_sigqueueinfo,
                getpid(),
                libc::SIGUSR1,
                &raw const info
            ),
            succeeds_with(0)
        );
        ensure_eq!(delivery(libc::SIGUSR1).code, 5);
        Ok(())
    })
}

fn rt_sigqueueinfo_bad_info_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_rt_sigqueueinfo, getpid(), libc::SIGUSR1, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// The value queued to another process arrives there (reported back through its exit code).
fn rt_sigqueueinfo_to_child_delivers_value() -> Outcome {
    fork_and_check(|| {
        block(rtmin())?;
        let (r, w) = pipe()?;
        let mut child = Child::spawn(|| {
            let mut info = RawSiginfo::empty();
            let set = sig_bit(rtmin());
            let _ = w.write_all(b"r");
            let ret = syscall!(
                libc::SYS_rt_sigtimedwait,
                &raw const set,
                &raw mut info,
                0usize,
                SIGSET_SIZE
            );
            if ret == i64::from(rtmin()) && info.code == libc::SI_QUEUE {
                i32::try_from(info.value).unwrap_or(255)
            } else {
                255
            }
        })?;
        ensure_eq!(r.read_up_to(1)?, b"r".to_vec());
        let info = RawSiginfo::queued(rtmin(), libc::SI_QUEUE, 42);
        check!(
            syscall!(
                libc::SYS_rt_sigqueueinfo,
                child.pid(),
                rtmin(),
                &raw const info
            ),
            succeeds_with(0)
        );
        ensure_eq!(child.wait()?.exit_code(), Some(42));
        Ok(())
    })
}

// ---------------------------------------------------------------- handler masks and flags

/// While a handler runs, its own signal is blocked (unless SA_NODEFER).
fn handler_runs_with_its_own_signal_blocked() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        kill_self(libc::SIGUSR1)?;
        let d = delivery(libc::SIGUSR1);
        ensure!(d.mask & sig_bit(libc::SIGUSR1) != 0, "mask {:#x}", d.mask);
        Ok(())
    })
}

/// sigaction(2) SA_NODEFER: "Do not add the signal to the thread's signal mask while the
/// handler is executing".
fn sa_nodefer_handler_runs_with_its_signal_unblocked() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, libc::SA_NODEFER as u64, 0)?;
        kill_self(libc::SIGUSR1)?;
        let d = delivery(libc::SIGUSR1);
        ensure!(d.mask & sig_bit(libc::SIGUSR1) == 0, "mask {:#x}", d.mask);
        Ok(())
    })
}

/// sa_mask signals are blocked while the handler runs.
fn sa_mask_signals_are_blocked_during_handler() -> Outcome {
    fork_and_check(|| {
        install_recorder(
            libc::SIGUSR1,
            0,
            sig_bit(libc::SIGTERM) | sig_bit(libc::SIGHUP),
        )?;
        kill_self(libc::SIGUSR1)?;
        let m = delivery(libc::SIGUSR1).mask;
        ensure!(
            m & sig_bit(libc::SIGTERM) != 0 && m & sig_bit(libc::SIGHUP) != 0,
            "mask {m:#x}"
        );
        Ok(())
    })
}

/// After the handler returns, rt_sigreturn restores the mask from before delivery.
fn mask_is_restored_after_handler_returns() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, sig_bit(libc::SIGTERM))?;
        let before = current_mask()?;
        kill_self(libc::SIGUSR1)?;
        ensure_eq!(current_mask()?, before);
        ensure_eq!(delivery(libc::SIGUSR1).saved_mask, before);
        Ok(())
    })
}

/// rt_sigreturn takes the mask from the ucontext: a handler that rewrites uc_sigmask changes
/// the thread's mask after return (the mechanism siglongjmp's mask restore depends on).
fn handler_rewriting_uc_sigmask_changes_mask_after_return() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        sys::set_mask_on_return(sig_bit(libc::SIGUSR2));
        kill_self(libc::SIGUSR1)?;
        sys::set_mask_on_return(u64::MAX);
        ensure_eq!(current_mask()?, sig_bit(libc::SIGUSR2));
        Ok(())
    })
}

/// SA_RESETHAND: "Restore the signal action to the default upon entry to the signal handler."
fn sa_resethand_restores_default_after_first_delivery() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, libc::SA_RESETHAND as u64, 0)?;
        kill_self(libc::SIGUSR1)?;
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        ensure_eq!(get_sigaction(libc::SIGUSR1)?.handler, libc::SIG_DFL as u64);
        Ok(())
    })
}

/// On Linux SA_RESETHAND does not imply SA_NODEFER for sigaction(2) (only glibc's SysV
/// signal() sets both): the signal is still blocked while the one-shot handler runs.
fn sa_resethand_handler_still_runs_with_signal_blocked() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, libc::SA_RESETHAND as u64, 0)?;
        kill_self(libc::SIGUSR1)?;
        let m = delivery(libc::SIGUSR1).mask;
        ensure!(m & sig_bit(libc::SIGUSR1) != 0, "mask {m:#x}");
        Ok(())
    })
}

fn alt_stack(len: usize) -> Result<(Mapping, libc::stack_t), String> {
    let m = Mapping::anonymous(len, libc::PROT_READ | libc::PROT_WRITE)?;
    let ss = libc::stack_t {
        ss_sp: m.ptr().cast(),
        ss_flags: 0,
        ss_size: len,
    };
    check!(
        syscall!(libc::SYS_sigaltstack, &raw const ss, 0usize),
        succeeds_with(0)
    );
    Ok((m, ss))
}

/// SA_ONSTACK with an installed sigaltstack: the handler's frame is on the alternate stack.
fn sa_onstack_handler_runs_on_alternate_stack() -> Outcome {
    fork_and_check(|| {
        let (m, _) = alt_stack(64 * 1024)?;
        install_recorder(libc::SIGUSR1, libc::SA_ONSTACK as u64, 0)?;
        kill_self(libc::SIGUSR1)?;
        let sp = delivery(libc::SIGUSR1).sp as usize;
        ensure!(
            (m.addr()..m.addr() + m.len()).contains(&sp),
            "handler sp {sp:#x} outside {:#x}+{:#x}",
            m.addr(),
            m.len()
        );
        Ok(())
    })
}

/// Without SA_ONSTACK the alternate stack is not used.
fn handler_without_sa_onstack_ignores_alternate_stack() -> Outcome {
    fork_and_check(|| {
        let (m, _) = alt_stack(64 * 1024)?;
        install_recorder(libc::SIGUSR1, 0, 0)?;
        kill_self(libc::SIGUSR1)?;
        let sp = delivery(libc::SIGUSR1).sp as usize;
        ensure!(
            !(m.addr()..m.addr() + m.len()).contains(&sp),
            "handler sp {sp:#x} inside the alternate stack"
        );
        Ok(())
    })
}

fn sigaltstack_query_returns_installed_stack() -> Outcome {
    fork_and_check(|| {
        let (m, _) = alt_stack(32 * 1024)?;
        let mut old: libc::stack_t = zeroed();
        check!(
            syscall!(libc::SYS_sigaltstack, 0usize, &raw mut old),
            succeeds_with(0)
        );
        ensure_eq!(old.ss_sp as usize, m.addr());
        ensure_eq!(old.ss_size, 32 * 1024);
        ensure_eq!(old.ss_flags, 0);
        Ok(())
    })
}

/// sigaltstack(2): ENOMEM "the specified size of the new alternate signal stack ss.ss_size was
/// less than MINSIGSTKSZ".
fn sigaltstack_smaller_than_minsigstksz_fails_enomem() -> Outcome {
    fork_and_check(|| {
        let m = Mapping::anonymous(PAGE, libc::PROT_READ | libc::PROT_WRITE)?;
        let ss = libc::stack_t {
            ss_sp: m.ptr().cast(),
            ss_flags: 0,
            ss_size: 512,
        };
        check!(
            syscall!(libc::SYS_sigaltstack, &raw const ss, 0usize),
            fails_with(Errno::ENOMEM)
        );
        Ok(())
    })
}

/// sigaltstack(2): EINVAL "ss is not NULL and the ss_flags field contains an invalid flag".
fn sigaltstack_unknown_flag_fails_einval() -> Outcome {
    fork_and_check(|| {
        let m = Mapping::anonymous(4 * PAGE, libc::PROT_READ | libc::PROT_WRITE)?;
        let ss = libc::stack_t {
            ss_sp: m.ptr().cast(),
            ss_flags: 0x40,
            ss_size: 4 * PAGE,
        };
        check!(
            syscall!(libc::SYS_sigaltstack, &raw const ss, 0usize),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

/// SS_DISABLE removes the alternate stack; a query then reports SS_DISABLE.
fn sigaltstack_ss_disable_is_reported_back() -> Outcome {
    fork_and_check(|| {
        let (_m, _) = alt_stack(32 * 1024)?;
        let off = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        check!(
            syscall!(libc::SYS_sigaltstack, &raw const off, 0usize),
            succeeds_with(0)
        );
        let mut old: libc::stack_t = zeroed();
        check!(
            syscall!(libc::SYS_sigaltstack, 0usize, &raw mut old),
            succeeds_with(0)
        );
        ensure_eq!(old.ss_flags, libc::SS_DISABLE);
        Ok(())
    })
}

// ---------------------------------------------------------------- rt_sigprocmask

fn sig_unblock_removes_signal_from_mask() -> Outcome {
    fork_and_check(|| {
        sigprocmask(
            libc::SIG_SETMASK,
            sig_bit(libc::SIGUSR1) | sig_bit(libc::SIGUSR2),
        )?;
        sigprocmask(libc::SIG_UNBLOCK, sig_bit(libc::SIGUSR1))?;
        ensure_eq!(current_mask()?, sig_bit(libc::SIGUSR2));
        Ok(())
    })
}

fn sig_setmask_replaces_whole_mask() -> Outcome {
    fork_and_check(|| {
        sigprocmask(libc::SIG_SETMASK, sig_bit(libc::SIGUSR1))?;
        sigprocmask(libc::SIG_SETMASK, sig_bit(libc::SIGHUP))?;
        ensure_eq!(current_mask()?, sig_bit(libc::SIGHUP));
        Ok(())
    })
}

/// With set == NULL, `how` is not looked at: an invalid value still succeeds.
fn rt_sigprocmask_null_set_ignores_invalid_how() -> Outcome {
    let mut old = 0u64;
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            99,
            0usize,
            &raw mut old,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// `how` is an `int`: junk in the upper half of the register is ignored.
fn rt_sigprocmask_how_upper_bits_are_ignored() -> Outcome {
    fork_and_check(|| {
        let set = sig_bit(libc::SIGUSR1);
        check!(
            syscall!(
                libc::SYS_rt_sigprocmask,
                with_junk_upper_bits(libc::SIG_BLOCK),
                &raw const set,
                0usize,
                SIGSET_SIZE
            ),
            succeeds_with(0)
        );
        ensure_eq!(current_mask()?, set);
        Ok(())
    })
}

fn rt_sigprocmask_bad_set_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            LOW_ADDR,
            0usize,
            SIGSET_SIZE
        ),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

// ---------------------------------------------------------------- pending, ignoring, queueing

fn blocked_signal_stays_pending_until_unblocked() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        ensure_eq!(signal_count(libc::SIGUSR1), 0);
        ensure_eq!(pending()?, sig_bit(libc::SIGUSR1));
        Ok(())
    })
}

/// A pending signal that becomes unblocked is delivered before rt_sigprocmask returns.
fn unblocking_pending_signal_delivers_it_immediately() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        unblock(libc::SIGUSR1)?;
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        ensure_eq!(pending()?, 0);
        Ok(())
    })
}

/// signal(7): a blocked signal stays pending even if its disposition is "ignore" (the
/// disposition may change before it is unblocked).
fn blocked_ignored_signal_is_still_pending() -> Outcome {
    fork_and_check(|| {
        ignore(libc::SIGUSR1)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        ensure_eq!(pending()?, sig_bit(libc::SIGUSR1));
        Ok(())
    })
}

/// POSIX: setting a pending signal's action to SIG_IGN discards the pending signal.
fn setting_sig_ign_discards_pending_signal() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        ignore(libc::SIGUSR1)?;
        ensure_eq!(pending()?, 0);
        Ok(())
    })
}

/// An unblocked, ignored signal is discarded at generation: nothing is pending.
fn unblocked_ignored_signal_is_discarded() -> Outcome {
    fork_and_check(|| {
        ignore(libc::SIGUSR2)?;
        kill_self(libc::SIGUSR2)?;
        ensure_eq!(pending()?, 0);
        Ok(())
    })
}

/// rt_sigpending(2) refuses a sigsetsize larger than the kernel's sigset (a smaller one is
/// accepted and copies a prefix).
fn rt_sigpending_oversized_sigsetsize_fails_einval() -> Outcome {
    let mut set = [0u64; 2];
    check!(
        syscall!(libc::SYS_rt_sigpending, set.as_mut_ptr(), 16),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn rt_sigpending_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_rt_sigpending, KERNEL_ADDR, SIGSET_SIZE),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// signal(7): standard signals do not queue: two sent while blocked arrive once.
fn standard_signal_sent_twice_while_blocked_is_delivered_once() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        unblock(libc::SIGUSR1)?;
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        Ok(())
    })
}

/// signal(7): "Multiple instances of real-time signals can be queued."
fn realtime_signal_sent_twice_while_blocked_is_delivered_twice() -> Outcome {
    fork_and_check(|| {
        install_recorder(rtmin(), 0, 0)?;
        block(rtmin())?;
        kill_self(rtmin())?;
        kill_self(rtmin())?;
        unblock(rtmin())?;
        ensure_eq!(signal_count(rtmin()), 2);
        Ok(())
    })
}

/// signal(7): "Real-time signals are delivered in a guaranteed order ... signals of the same
/// type are delivered in the order they were sent": the queued values come back in order.
fn queued_realtime_signals_of_one_type_keep_send_order() -> Outcome {
    fork_and_check(|| {
        block(rtmin())?;
        sigqueue_self(rtmin(), 1)?;
        sigqueue_self(rtmin(), 2)?;
        sigqueue_self(rtmin(), 3)?;
        let mut values = Vec::new();
        for _ in 0..3 {
            let (ret, info) = timedwait(sig_bit(rtmin()), 0);
            ensure_eq!(ret, i64::from(rtmin()));
            values.push(info.value);
        }
        ensure_eq!(values, vec![1, 2, 3]);
        Ok(())
    })
}

/// signal(7): "If different real-time signals are sent ... the lowest-numbered signal is
/// delivered first." Each handler blocks the other signal, so the second frame is not
/// stacked on top of the first (which would make the later one run first).
fn pending_realtime_signals_are_delivered_lowest_number_first() -> Outcome {
    fork_and_check(|| {
        let (a, b) = (rtmin() + 1, rtmin() + 3);
        install_recorder(a, 0, sig_bit(b))?;
        install_recorder(b, 0, sig_bit(a))?;
        sigprocmask(libc::SIG_BLOCK, sig_bit(a) | sig_bit(b))?;
        kill_self(b)?;
        kill_self(a)?;
        sigprocmask(libc::SIG_UNBLOCK, sig_bit(a) | sig_bit(b))?;
        ensure_eq!(delivery_order(), vec![a, b]);
        Ok(())
    })
}

/// Linux delivers pending standard signals before real-time ones (lowest number first).
fn pending_standard_signal_is_delivered_before_realtime() -> Outcome {
    fork_and_check(|| {
        let set = sig_bit(rtmin()) | sig_bit(libc::SIGUSR2);
        install_recorder(rtmin(), 0, set)?;
        install_recorder(libc::SIGUSR2, 0, set)?;
        sigprocmask(libc::SIG_BLOCK, set)?;
        kill_self(rtmin())?;
        kill_self(libc::SIGUSR2)?;
        sigprocmask(libc::SIG_UNBLOCK, set)?;
        ensure_eq!(delivery_order(), vec![libc::SIGUSR2, rtmin()]);
        Ok(())
    })
}

// ---------------------------------------------------------------- sigsuspend, sigtimedwait, pause

/// sigsuspend(2) "returns -1, with errno set to EINTR" after a handler ran.
fn rt_sigsuspend_runs_pending_handler_and_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        let empty = 0u64;
        check!(
            syscall!(libc::SYS_rt_sigsuspend, &raw const empty, SIGSET_SIZE),
            fails_with(Errno::EINTR)
        );
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        Ok(())
    })
}

/// The mask in force before sigsuspend is back when it returns.
fn rt_sigsuspend_restores_previous_mask() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        sigprocmask(
            libc::SIG_SETMASK,
            sig_bit(libc::SIGUSR1) | sig_bit(libc::SIGHUP),
        )?;
        kill_self(libc::SIGUSR1)?;
        let only_hup = sig_bit(libc::SIGHUP);
        check!(
            syscall!(libc::SYS_rt_sigsuspend, &raw const only_hup, SIGSET_SIZE),
            fails_with(Errno::EINTR)
        );
        ensure_eq!(
            current_mask()?,
            sig_bit(libc::SIGUSR1) | sig_bit(libc::SIGHUP)
        );
        Ok(())
    })
}

/// While suspended the temporary mask applies; the handler sees it plus its own signal.
fn rt_sigsuspend_handler_sees_temporary_mask() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        let temp = sig_bit(libc::SIGTERM);
        check!(
            syscall!(libc::SYS_rt_sigsuspend, &raw const temp, SIGSET_SIZE),
            fails_with(Errno::EINTR)
        );
        let d = delivery(libc::SIGUSR1);
        ensure_eq!(d.mask, temp | sig_bit(libc::SIGUSR1));
        Ok(())
    })
}

fn rt_sigsuspend_bad_sigsetsize_fails_einval() -> Outcome {
    let empty = 0u64;
    check!(
        syscall!(libc::SYS_rt_sigsuspend, &raw const empty, 4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// sigtimedwait(2) returns the signal number and fills the siginfo of the pending signal.
fn rt_sigtimedwait_returns_pending_signal_with_siginfo() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        let (ret, info) = timedwait(sig_bit(libc::SIGUSR1), 0);
        ensure_eq!(ret, i64::from(libc::SIGUSR1));
        ensure_eq!(info.signo, libc::SIGUSR1);
        ensure_eq!(info.code, libc::SI_USER);
        ensure_eq!(info.pid, getpid());
        Ok(())
    })
}

/// The accepted signal is no longer pending.
fn rt_sigtimedwait_consumes_the_signal() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        let _ = timedwait(sig_bit(libc::SIGUSR1), 0);
        ensure_eq!(pending()?, 0);
        Ok(())
    })
}

/// sigtimedwait(2): EAGAIN "No signal in set became pending within the timeout".
fn rt_sigtimedwait_zero_timeout_without_pending_fails_eagain() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let (ret, _) = timedwait(sig_bit(libc::SIGUSR1), 0);
        ensure_eq!(ret, -1);
        ensure_eq!(syscall_tests::last_errno(), Errno::EAGAIN.raw());
        Ok(())
    })
}

fn rt_sigtimedwait_20ms_timeout_waits_at_least_20ms_then_fails_eagain() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let start = std::time::Instant::now();
        let (ret, _) = timedwait(sig_bit(libc::SIGUSR1), 20_000_000);
        let errno = syscall_tests::last_errno();
        ensure_eq!(ret, -1);
        ensure_eq!(errno, Errno::EAGAIN.raw());
        ensure!(
            start.elapsed() >= Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
        Ok(())
    })
}

fn rt_sigtimedwait_nsec_one_billion_fails_einval() -> Outcome {
    let set = sig_bit(libc::SIGUSR1);
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    check!(
        syscall!(
            libc::SYS_rt_sigtimedwait,
            &raw const set,
            0usize,
            &raw const ts,
            SIGSET_SIZE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn rt_sigtimedwait_bad_sigsetsize_fails_einval() -> Outcome {
    let set = sig_bit(libc::SIGUSR1);
    check!(
        syscall!(libc::SYS_rt_sigtimedwait, &raw const set, 0usize, 0usize, 4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// A signal sent by another thread while sigtimedwait blocks (no timeout) ends the wait.
fn rt_sigtimedwait_wakes_for_signal_from_another_thread() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR2)?;
        let me = gettid();
        let pid = getpid();
        let t = std::thread::spawn(move || {
            sleep_ms(20);
            syscall!(libc::SYS_tgkill, pid, me, libc::SIGUSR2)
        });
        let set = sig_bit(libc::SIGUSR2);
        check!(
            syscall!(
                libc::SYS_rt_sigtimedwait,
                &raw const set,
                0usize,
                0usize,
                SIGSET_SIZE
            ),
            succeeds_with(i64::from(libc::SIGUSR2))
        );
        ensure_eq!(t.join().ok(), Some(0));
        Ok(())
    })
}

/// pause(2) "returns only when a signal was caught and the signal-catching function
/// returned. In this case, pause() returns -1, and errno is set to EINTR."
fn pause_fails_eintr_after_handler_runs() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, 0, 0)?;
        set_real_timer(Duration::from_millis(20), Duration::ZERO)?;
        check!(syscall!(libc::SYS_pause), fails_with(Errno::EINTR));
        ensure_eq!(signal_count(libc::SIGALRM), 1);
        Ok(())
    })
}

// ---------------------------------------------------------------- kill, tgkill, tkill

fn kill_signal_zero_probes_existing_process() -> Outcome {
    check!(syscall!(libc::SYS_kill, getpid(), 0), succeeds_with(0));
    Ok(())
}

/// kill(2): ESRCH "The target process or process group does not exist" (a reaped child).
fn kill_signal_zero_to_reaped_child_fails_esrch() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        child.wait()?;
        check!(
            syscall!(libc::SYS_kill, child.pid(), 0),
            fails_with(Errno::ESRCH)
        );
        Ok(())
    })
}

/// kill(2) takes `pid_t pid, int sig`: junk in the upper halves of both registers is ignored.
fn kill_pid_and_signal_upper_bits_are_ignored() -> Outcome {
    check!(
        syscall!(
            libc::SYS_kill,
            with_junk_upper_bits(getpid()),
            with_junk_upper_bits(0)
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// tgkill(2)'s tgid, tid and sig are `int`s: upper-half junk is ignored.
fn tgkill_arguments_upper_bits_are_ignored() -> Outcome {
    check!(
        syscall!(
            libc::SYS_tgkill,
            with_junk_upper_bits(getpid()),
            with_junk_upper_bits(gettid()),
            with_junk_upper_bits(0)
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// tkill(2) on a thread id that no longer exists fails with ESRCH.
fn tkill_reaped_tid_fails_esrch() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| 0)?;
        child.wait()?;
        check!(
            syscall!(libc::SYS_tkill, child.pid(), 0),
            fails_with(Errno::ESRCH)
        );
        Ok(())
    })
}

fn kill_signal_65_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_kill, getpid(), 65),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// kill(-pgid, sig) signals every member of the process group.
fn kill_negative_pid_signals_process_group() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let _ = syscall!(libc::SYS_setpgid, 0, 0);
            sleep_ms(5000);
            0
        })?;
        let pid = child.pid();
        ensure!(
            eventually(Duration::from_secs(5), || syscall!(libc::SYS_getpgid, pid)
                == i64::from(pid)),
            "child never became a group leader"
        );
        check!(
            syscall!(libc::SYS_kill, -pid, libc::SIGTERM),
            succeeds_with(0)
        );
        ensure_eq!(child.wait()?.term_signal(), Some(libc::SIGTERM));
        Ok(())
    })
}

/// tgkill(2): ESRCH when the thread is not in thread group tgid.
fn tgkill_tid_outside_tgid_fails_esrch() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| {
            sleep_ms(5000);
            0
        })?;
        check!(
            syscall!(libc::SYS_tgkill, child.pid(), gettid(), 0),
            fails_with(Errno::ESRCH)
        );
        Ok(())
    })
}

fn tgkill_signal_zero_probes_own_thread() -> Outcome {
    check!(
        syscall!(libc::SYS_tgkill, getpid(), gettid(), 0),
        succeeds_with(0)
    );
    Ok(())
}

/// tgkill(2): EINVAL "An invalid thread ID, thread group ID, or signal was specified" (tid 0).
fn tgkill_zero_tid_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_tgkill, getpid(), 0, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn tgkill_signal_65_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_tgkill, getpid(), gettid(), 65),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn tkill_self_delivers_to_calling_thread() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        check!(
            syscall!(libc::SYS_tkill, gettid(), libc::SIGUSR1),
            succeeds_with(0)
        );
        ensure_eq!(delivery(libc::SIGUSR1).tid, gettid());
        ensure_eq!(delivery(libc::SIGUSR1).code, libc::SI_TKILL);
        Ok(())
    })
}

/// Two signals unblocked at once, neither blocking the other in its handler: the kernel
/// delivers the lower one first and then stacks the higher one's frame on top, so the higher
/// one's handler runs first.
fn unblocked_signals_without_mutual_masks_nest_higher_handler_first() -> Outcome {
    fork_and_check(|| {
        let (a, b) = (rtmin() + 1, rtmin() + 3);
        install_recorder(a, 0, 0)?;
        install_recorder(b, 0, 0)?;
        sigprocmask(libc::SIG_BLOCK, sig_bit(a) | sig_bit(b))?;
        kill_self(a)?;
        kill_self(b)?;
        sigprocmask(libc::SIG_UNBLOCK, sig_bit(a) | sig_bit(b))?;
        ensure_eq!(delivery_order(), vec![b, a]);
        Ok(())
    })
}

fn tkill_negative_tid_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_tkill, -5, libc::SIGUSR1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

// ---------------------------------------------------------------- delivery to threads

/// A process-directed signal goes to a thread that does not block it.
fn process_signal_is_delivered_to_thread_not_blocking_it() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        let ready = Arc::new(AtomicBool::new(false));
        let tid = Arc::new(AtomicI32::new(0));
        let (r2, t2) = (Arc::clone(&ready), Arc::clone(&tid));
        let t = std::thread::spawn(move || {
            t2.store(gettid(), Ordering::SeqCst);
            let _ = sigprocmask(libc::SIG_UNBLOCK, sig_bit(libc::SIGUSR1));
            r2.store(true, Ordering::SeqCst);
            eventually(Duration::from_secs(5), || signal_count(libc::SIGUSR1) > 0)
        });
        ensure!(
            eventually(Duration::from_secs(5), || ready.load(Ordering::SeqCst)),
            "thread never started"
        );
        kill_self(libc::SIGUSR1)?;
        ensure_eq!(t.join().ok(), Some(true));
        ensure_eq!(delivery(libc::SIGUSR1).tid, tid.load(Ordering::SeqCst));
        Ok(())
    })
}

/// A process-directed signal blocked by every thread stays pending for the process and is
/// delivered to the first thread that unblocks it.
fn process_signal_blocked_everywhere_goes_to_thread_that_unblocks_it() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        let t = std::thread::spawn(|| {
            let tid = gettid();
            let _ = sigprocmask(libc::SIG_UNBLOCK, sig_bit(libc::SIGUSR1));
            tid
        });
        let tid = t.join().map_err(|_| "thread panicked".to_owned())?;
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        ensure_eq!(delivery(libc::SIGUSR1).tid, tid);
        Ok(())
    })
}

/// tgkill(2) directs the signal at one thread, even when another could take it.
fn tgkill_delivers_to_the_named_thread() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR2, 0, 0)?;
        let tid = Arc::new(AtomicI32::new(0));
        let t2 = Arc::clone(&tid);
        let t = std::thread::spawn(move || {
            t2.store(gettid(), Ordering::SeqCst);
            eventually(Duration::from_secs(5), || signal_count(libc::SIGUSR2) > 0)
        });
        ensure!(
            eventually(Duration::from_secs(5), || tid.load(Ordering::SeqCst) != 0),
            "thread never started"
        );
        let target = tid.load(Ordering::SeqCst);
        check!(
            syscall!(libc::SYS_tgkill, getpid(), target, libc::SIGUSR2),
            succeeds_with(0)
        );
        ensure_eq!(t.join().ok(), Some(true));
        ensure_eq!(delivery(libc::SIGUSR2).tid, target);
        Ok(())
    })
}

/// A thread-directed signal pending on another thread is not pending for the caller.
fn thread_directed_pending_signal_is_not_visible_to_other_threads() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR2)?;
        let t = std::thread::spawn(|| {
            let _ = syscall!(libc::SYS_tgkill, getpid(), gettid(), libc::SIGUSR2);
            pending().unwrap_or(0)
        });
        let theirs = t.join().map_err(|_| "thread panicked".to_owned())?;
        ensure_eq!(theirs, sig_bit(libc::SIGUSR2));
        ensure_eq!(pending()?, 0);
        Ok(())
    })
}

// ---------------------------------------------------------------- faults

/// A read of an unmapped page raises SIGSEGV with si_code SEGV_MAPERR and si_addr the
/// faulting address; the handler can resume elsewhere (here: the probe's "faulted" exit).
fn sigsegv_read_of_unmapped_page_has_maperr_and_fault_address() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGSEGV, 0, 0)?;
        sys::redirect_faults(true);
        let m = Mapping::anonymous(PAGE, libc::PROT_READ)?;
        let addr = m.addr() + 16;
        drop(m);
        ensure!(sys::probe_read(addr), "read of unmapped page did not fault");
        let d = delivery(libc::SIGSEGV);
        ensure_eq!(d.code, SEGV_MAPERR);
        ensure_eq!(d.addr, addr as u64);
        Ok(())
    })
}

/// A write to a read-only page raises SIGSEGV with SEGV_ACCERR.
fn sigsegv_write_to_readonly_page_has_accerr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGSEGV, 0, 0)?;
        sys::redirect_faults(true);
        let m = Mapping::anonymous(PAGE, libc::PROT_READ)?;
        ensure!(sys::probe_write(m.addr() + 8), "write did not fault");
        let d = delivery(libc::SIGSEGV);
        ensure_eq!(d.code, SEGV_ACCERR);
        ensure_eq!(d.addr, (m.addr() + 8) as u64);
        Ok(())
    })
}

/// After resuming out of the SIGSEGV handler, SIGSEGV is unblocked again and a second fault
/// is handled the same way.
fn sigsegv_handler_resumed_twice_handles_both_faults() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGSEGV, 0, 0)?;
        sys::redirect_faults(true);
        ensure!(sys::probe_read(16), "first read did not fault");
        ensure!(sys::probe_read(32), "second read did not fault");
        ensure_eq!(signal_count(libc::SIGSEGV), 2);
        ensure_eq!(current_mask()? & sig_bit(libc::SIGSEGV), 0);
        Ok(())
    })
}

fn readable_address_probe_does_not_fault() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGSEGV, 0, 0)?;
        sys::redirect_faults(true);
        let m = Mapping::anonymous(PAGE, libc::PROT_READ)?;
        ensure!(!sys::probe_read(m.addr()), "readable page faulted");
        ensure_eq!(signal_count(libc::SIGSEGV), 0);
        Ok(())
    })
}

/// A kernel-half address faults with SIGSEGV too (si_code SI_KERNEL on x86-64 for a
/// non-canonical address, so only the signal is checked).
fn read_of_kernel_address_raises_sigsegv() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGSEGV, 0, 0)?;
        sys::redirect_faults(true);
        ensure!(sys::probe_read(KERNEL_ADDR as usize), "did not fault");
        ensure_eq!(delivery(libc::SIGSEGV).signo, libc::SIGSEGV);
        Ok(())
    })
}

/// Integer division by zero raises SIGFPE with FPE_INTDIV.
fn sigfpe_on_integer_division_by_zero_has_fpe_intdiv() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGFPE, 0, 0)?;
        sys::redirect_faults(true);
        ensure!(sys::probe_div0(), "division did not fault");
        ensure_eq!(delivery(libc::SIGFPE).code, FPE_INTDIV);
        Ok(())
    })
}

/// ud2 raises SIGILL with ILL_ILLOPN and si_addr the instruction's address.
fn sigill_on_ud2_has_ill_illopn() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGILL, 0, 0)?;
        sys::redirect_faults(true);
        ensure!(sys::probe_ud2(), "ud2 did not fault");
        let d = delivery(libc::SIGILL);
        ensure_eq!(d.code, ILL_ILLOPN);
        ensure!(d.addr != 0, "si_addr 0");
        Ok(())
    })
}

/// int3 raises SIGTRAP (si_code SI_KERNEL on x86-64); a handler that just returns resumes
/// after the breakpoint.
fn sigtrap_on_int3_resumes_after_breakpoint() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGTRAP, 0, 0)?;
        ensure!(!sys::probe_int3(), "probe took the faulted exit");
        let d = delivery(libc::SIGTRAP);
        ensure_eq!(signal_count(libc::SIGTRAP), 1);
        ensure_eq!(d.code, libc::SI_KERNEL);
        Ok(())
    })
}

/// Touching a shared file mapping beyond the end of the file raises SIGBUS (BUS_ADRERR).
fn sigbus_on_access_past_end_of_file_has_bus_adrerr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGBUS, 0, 0)?;
        sys::redirect_faults(true);
        let file = TempFile::new()?;
        let fd = file.open(libc::O_RDWR)?;
        let ret = check!(
            syscall!(
                libc::SYS_mmap,
                0usize,
                PAGE,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.raw(),
                0
            ),
            succeeds()
        );
        let m = Mapping::adopt(ret, PAGE, libc::PROT_READ)?;
        ensure!(sys::probe_read(m.addr()), "read past EOF did not fault");
        let d = delivery(libc::SIGBUS);
        ensure_eq!(d.code, libc::BUS_ADRERR);
        ensure_eq!(d.addr, m.addr() as u64);
        Ok(())
    })
}

/// Who cuts the mapped file in [`sigbus_after_truncating_mapped_file`].
#[derive(Clone, Copy)]
enum Cut {
    /// ftruncate(2) of our fd.
    Ftruncate,
    /// truncate(2) of the path.
    TruncatePath,
    /// ftruncate(2) by a forked child (another address space).
    OtherProcess,
}

/// Pages of a shared file mapping that a truncation cut off raise SIGBUS at the next
/// access, even when they had been touched before; the page still inside the file does not.
fn sigbus_after_truncating_mapped_file(cut: Cut) -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGBUS, 0, 0)?;
        sys::redirect_faults(true);
        let file = TempFile::with_contents(&[7u8; 2 * PAGE])?;
        let fd = file.open(libc::O_RDWR)?;
        let ret = check!(
            syscall!(
                libc::SYS_mmap,
                0usize,
                2 * PAGE,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.raw(),
                0
            ),
            succeeds()
        );
        let m = Mapping::adopt(ret, 2 * PAGE, libc::PROT_READ)?;
        ensure!(
            !sys::probe_read(m.addr() + PAGE),
            "second page faulted before"
        );
        match cut {
            Cut::Ftruncate => {
                check!(syscall!(libc::SYS_ftruncate, fd.raw(), PAGE), succeeds());
            }
            Cut::TruncatePath => {
                check!(syscall!(libc::SYS_truncate, file.path(), PAGE), succeeds());
            }
            Cut::OtherProcess => {
                let raw = fd.raw();
                let mut child =
                    Child::spawn(move || i32::from(syscall!(libc::SYS_ftruncate, raw, PAGE) != 0))?;
                ensure_eq!(child.wait()?.exit_code(), Some(0));
            }
        }
        ensure!(!sys::probe_read(m.addr()), "first page faulted");
        ensure!(sys::probe_read(m.addr() + PAGE), "cut page did not fault");
        let d = delivery(libc::SIGBUS);
        ensure_eq!(d.code, libc::BUS_ADRERR);
        ensure_eq!(d.addr, (m.addr() + PAGE) as u64);
        Ok(())
    })
}

/// A truncation by another process cuts this process's mapping too.
fn sigbus_after_another_process_truncates_a_mapped_file() -> Outcome {
    sigbus_after_truncating_mapped_file(Cut::OtherProcess)
}

fn sigbus_after_ftruncate_cuts_a_touched_mapped_page() -> Outcome {
    sigbus_after_truncating_mapped_file(Cut::Ftruncate)
}

fn sigbus_after_truncate_path_cuts_a_touched_mapped_page() -> Outcome {
    sigbus_after_truncating_mapped_file(Cut::TruncatePath)
}

/// A fault while SIGSEGV is blocked cannot be deferred: the kernel forces the default action.
fn fault_with_sigsegv_blocked_kills_with_sigsegv() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let _ = block(libc::SIGSEGV);
            let _ = sys::probe_read(16);
            0
        })?;
        ensure_eq!(child.wait()?.term_signal(), Some(libc::SIGSEGV));
        Ok(())
    })
}

/// Same for an ignored SIGSEGV: the fault still kills.
fn fault_with_sigsegv_ignored_kills_with_sigsegv() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let _ = ignore(libc::SIGSEGV);
            let _ = sys::probe_read(16);
            0
        })?;
        ensure_eq!(child.wait()?.term_signal(), Some(libc::SIGSEGV));
        Ok(())
    })
}

// ---------------------------------------------------------------- default actions

fn no_core_dumps() {
    let zero = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let _ = syscall!(
        libc::SYS_prlimit64,
        0,
        libc::RLIMIT_CORE,
        &raw const zero,
        0usize
    );
}

fn child_killed_by(sig: i32) -> Result<Option<i32>, String> {
    let mut child = Child::spawn(move || {
        no_core_dumps();
        let _ = syscall!(libc::SYS_kill, getpid(), sig);
        0
    })?;
    Ok(child.wait()?.term_signal())
}

/// signal(7): the default action of SIGTERM is "Term".
fn sigterm_default_action_terminates() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(child_killed_by(libc::SIGTERM)?, Some(libc::SIGTERM));
        Ok(())
    })
}

fn sigusr1_default_action_terminates() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(child_killed_by(libc::SIGUSR1)?, Some(libc::SIGUSR1));
        Ok(())
    })
}

/// signal(7): SIGQUIT's default is "Core"; with RLIMIT_CORE 0 only the signal is checked.
fn sigquit_default_action_terminates_with_sigquit() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(child_killed_by(libc::SIGQUIT)?, Some(libc::SIGQUIT));
        Ok(())
    })
}

fn sigabrt_default_action_terminates_with_sigabrt() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(child_killed_by(libc::SIGABRT)?, Some(libc::SIGABRT));
        Ok(())
    })
}

/// signal(7): SIGCHLD, SIGURG and SIGWINCH are ignored by default: the process carries on.
fn sigchld_sigurg_sigwinch_default_actions_are_ignore() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let me = getpid();
            let _ = syscall!(libc::SYS_kill, me, libc::SIGCHLD);
            let _ = syscall!(libc::SYS_kill, me, libc::SIGURG);
            let _ = syscall!(libc::SYS_kill, me, libc::SIGWINCH);
            33
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(33));
        Ok(())
    })
}

/// SIGKILL terminates even a process that blocks and handles everything else.
fn sigkill_terminates_despite_full_mask() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            let _ = sigprocmask(libc::SIG_SETMASK, u64::MAX);
            let _ = syscall!(libc::SYS_kill, getpid(), libc::SIGKILL);
            0
        })?;
        ensure_eq!(child.wait()?.term_signal(), Some(libc::SIGKILL));
        Ok(())
    })
}

/// A caught signal does not terminate: the child exits normally after its handler.
fn caught_sigterm_does_not_terminate() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            if install_recorder(libc::SIGTERM, 0, 0).is_err() {
                return 1;
            }
            let _ = syscall!(libc::SYS_kill, getpid(), libc::SIGTERM);
            if signal_count(libc::SIGTERM) == 1 {
                44
            } else {
                2
            }
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(44));
        Ok(())
    })
}

// ---------------------------------------------------------------- signalfd

fn signalfd(mask: u64, flags: i32) -> Result<Fd, String> {
    let fd = check!(
        syscall!(libc::SYS_signalfd4, -1, &raw const mask, SIGSET_SIZE, flags),
        succeeds()
    );
    Fd::from_ret(fd)
}

/// signalfd(2): reading returns a signalfd_siginfo describing the pending signal and
/// consumes it.
fn signalfd_read_returns_siginfo_of_pending_signal() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let fd = signalfd(sig_bit(libc::SIGUSR1), libc::SFD_CLOEXEC)?;
        kill_self(libc::SIGUSR1)?;
        let mut info: libc::signalfd_siginfo = zeroed();
        check!(
            syscall!(
                libc::SYS_read,
                fd.raw(),
                &raw mut info,
                size_of::<libc::signalfd_siginfo>()
            ),
            succeeds_with(128)
        );
        ensure_eq!(info.ssi_signo, libc::SIGUSR1 as u32);
        ensure_eq!(info.ssi_code, libc::SI_USER);
        ensure_eq!(i64::from(info.ssi_pid), i64::from(getpid()));
        ensure_eq!(pending()?, 0);
        Ok(())
    })
}

fn signalfd_carries_sigqueue_value_in_ssi_ptr() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR2)?;
        let fd = signalfd(sig_bit(libc::SIGUSR2), libc::SFD_CLOEXEC)?;
        sigqueue_self(libc::SIGUSR2, 0xfeed)?;
        let mut info: libc::signalfd_siginfo = zeroed();
        check!(
            syscall!(libc::SYS_read, fd.raw(), &raw mut info, 128usize),
            succeeds_with(128)
        );
        ensure_eq!(info.ssi_ptr, 0xfeed);
        ensure_eq!(info.ssi_code, libc::SI_QUEUE);
        Ok(())
    })
}

fn signalfd_nonblock_without_pending_fails_eagain() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let fd = signalfd(
            sig_bit(libc::SIGUSR1),
            libc::SFD_NONBLOCK | libc::SFD_CLOEXEC,
        )?;
        let mut info: libc::signalfd_siginfo = zeroed();
        check!(
            syscall!(libc::SYS_read, fd.raw(), &raw mut info, 128usize),
            fails_with(Errno::EAGAIN)
        );
        Ok(())
    })
}

fn signalfd_poll_reports_readable_only_when_signal_pending() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let fd = signalfd(sig_bit(libc::SIGUSR1), libc::SFD_CLOEXEC)?;
        let mut pfd = libc::pollfd {
            fd: fd.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        check!(
            syscall!(libc::SYS_poll, &raw mut pfd, 1, 0),
            succeeds_with(0)
        );
        kill_self(libc::SIGUSR1)?;
        check!(
            syscall!(libc::SYS_poll, &raw mut pfd, 1, 0),
            succeeds_with(1)
        );
        ensure_eq!(pfd.revents, libc::POLLIN);
        Ok(())
    })
}

/// signalfd(2): EINVAL if the read buffer is smaller than one signalfd_siginfo.
fn signalfd_read_smaller_than_siginfo_fails_einval() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let fd = signalfd(sig_bit(libc::SIGUSR1), libc::SFD_CLOEXEC)?;
        kill_self(libc::SIGUSR1)?;
        let mut buf = [0u8; 64];
        check!(
            syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

fn signalfd4_unknown_flag_fails_einval() -> Outcome {
    let mask = sig_bit(libc::SIGUSR1);
    check!(
        syscall!(libc::SYS_signalfd4, -1, &raw const mask, SIGSET_SIZE, 0x1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// signalfd(2): "If fd is not -1, then it must specify a valid existing signalfd file
/// descriptor" — a pipe fd is EINVAL.
fn signalfd4_on_non_signalfd_fails_einval() -> Outcome {
    let (r, _w) = pipe()?;
    let mask = sig_bit(libc::SIGUSR1);
    check!(
        syscall!(
            libc::SYS_signalfd4,
            r.raw(),
            &raw const mask,
            SIGSET_SIZE,
            0
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// Calling signalfd4 on an existing signalfd replaces its mask.
fn signalfd4_existing_fd_replaces_mask() -> Outcome {
    fork_and_check(|| {
        sigprocmask(
            libc::SIG_BLOCK,
            sig_bit(libc::SIGUSR1) | sig_bit(libc::SIGUSR2),
        )?;
        let fd = signalfd(sig_bit(libc::SIGUSR1), libc::SFD_NONBLOCK)?;
        let mask2 = sig_bit(libc::SIGUSR2);
        check!(
            syscall!(
                libc::SYS_signalfd4,
                fd.raw(),
                &raw const mask2,
                SIGSET_SIZE,
                0
            ),
            succeeds_with(i64::from(fd.raw()))
        );
        kill_self(libc::SIGUSR1)?;
        let mut info: libc::signalfd_siginfo = zeroed();
        check!(
            syscall!(libc::SYS_read, fd.raw(), &raw mut info, 128usize),
            fails_with(Errno::EAGAIN)
        );
        kill_self(libc::SIGUSR2)?;
        check!(
            syscall!(libc::SYS_read, fd.raw(), &raw mut info, 128usize),
            succeeds_with(128)
        );
        ensure_eq!(info.ssi_signo, libc::SIGUSR2 as u32);
        Ok(())
    })
}

// ---------------------------------------------------------------- SA_RESTART and EINTR

/// Starts a thread that sends `sig` to the calling thread every 10 ms until `stop` is set.
fn pester_from_thread(sig: i32, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let (pid, tid) = (getpid(), gettid());
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let _ = syscall!(libc::SYS_tgkill, pid, tid, sig);
            sleep_ms(10);
        }
    })
}

/// Without SA_RESTART a blocking pipe read interrupted by a handled signal (here from another
/// thread) fails with EINTR.
fn pipe_read_interrupted_by_signal_from_thread_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        let (r, _w) = pipe()?;
        let stop = Arc::new(AtomicBool::new(false));
        let t = pester_from_thread(libc::SIGUSR1, &stop);
        let mut b = [0u8; 1];
        let ret = syscall!(libc::SYS_read, r.raw(), b.as_mut_ptr(), 1);
        let errno = syscall_tests::last_errno();
        stop.store(true, Ordering::SeqCst);
        let _ = t.join();
        ensure_eq!(
            (ret, syscall_tests::errno_name(errno)),
            (-1, "EINTR".to_owned())
        );
        Ok(())
    })
}

/// With SA_RESTART the read is restarted transparently and returns the data written later.
fn sa_restart_pipe_read_survives_signals_from_thread() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, libc::SA_RESTART as u64, 0)?;
        let (r, w) = pipe()?;
        let (pid, tid) = (getpid(), gettid());
        let t = std::thread::spawn(move || {
            for _ in 0..5 {
                let _ = syscall!(libc::SYS_tgkill, pid, tid, libc::SIGUSR1);
                sleep_ms(10);
            }
            w.write_all(b"z")
        });
        ensure_eq!(r.read_up_to(1)?, b"z".to_vec());
        ensure_eq!(t.join().ok(), Some(Ok(())));
        ensure!(signal_count(libc::SIGUSR1) >= 1, "no signal handled");
        Ok(())
    })
}

/// The interrupting signal can come from another process.
fn pipe_read_interrupted_by_signal_from_process_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR2, 0, 0)?;
        let (r, _w) = pipe()?;
        let me = getpid();
        let _pest = Child::spawn(move || {
            loop {
                let _ = syscall!(libc::SYS_kill, me, libc::SIGUSR2);
                sleep_ms(10);
            }
        })?;
        let mut b = [0u8; 1];
        check!(
            syscall!(libc::SYS_read, r.raw(), b.as_mut_ptr(), 1),
            fails_with(Errno::EINTR)
        );
        Ok(())
    })
}

/// SIGALRM from a periodic ITIMER_REAL interrupts a read without SA_RESTART.
fn pipe_read_interrupted_by_itimer_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, 0, 0)?;
        let (r, _w) = pipe()?;
        set_real_timer(Duration::from_millis(10), Duration::from_millis(10))?;
        let mut b = [0u8; 1];
        check!(
            syscall!(libc::SYS_read, r.raw(), b.as_mut_ptr(), 1),
            fails_with(Errno::EINTR)
        );
        Ok(())
    })
}

/// With SA_RESTART, alarms keep firing while the read waits and the read still completes.
fn sa_restart_pipe_read_survives_itimer_signals() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, libc::SA_RESTART as u64, 0)?;
        let (r, w) = pipe()?;
        set_real_timer(Duration::from_millis(5), Duration::from_millis(5))?;
        let _writer = Child::spawn(move || {
            sleep_ms(60);
            i32::from(w.write_all(b"k").is_err())
        })?;
        ensure_eq!(r.read_up_to(1)?, b"k".to_vec());
        set_real_timer(Duration::ZERO, Duration::ZERO)?;
        ensure!(signal_count(libc::SIGALRM) >= 1, "no SIGALRM handled");
        Ok(())
    })
}

fn main() -> ExitCode {
    run_tests(tests![
        rt_sigaction_old_action_reports_installed_handler_flags_and_mask,
        rt_sigaction_sigstop_ignore_fails_einval,
        rt_sigaction_query_of_sigkill_succeeds_with_sig_dfl,
        rt_sigaction_signal_zero_fails_einval,
        rt_sigaction_signal_upper_bits_are_ignored,
        rt_sigaction_bad_act_pointer_fails_efault,
        rt_sigaction_mask_drops_sigkill_and_sigstop,
        kill_self_handler_sees_si_user_pid_and_uid,
        tgkill_self_handler_sees_si_tkill,
        rt_sigqueueinfo_self_delivers_si_value_and_si_queue,
        rt_tgsigqueueinfo_self_thread_delivers_si_value,
        rt_sigqueueinfo_si_user_code_to_other_process_fails_eperm,
        rt_sigqueueinfo_si_tkill_code_to_other_process_fails_eperm,
        rt_sigqueueinfo_positive_code_to_self_succeeds,
        rt_sigqueueinfo_bad_info_pointer_fails_efault,
        rt_sigqueueinfo_to_child_delivers_value,
        handler_runs_with_its_own_signal_blocked,
        sa_nodefer_handler_runs_with_its_signal_unblocked,
        sa_mask_signals_are_blocked_during_handler,
        mask_is_restored_after_handler_returns,
        handler_rewriting_uc_sigmask_changes_mask_after_return,
        sa_resethand_restores_default_after_first_delivery,
        sa_resethand_handler_still_runs_with_signal_blocked,
        sa_onstack_handler_runs_on_alternate_stack,
        handler_without_sa_onstack_ignores_alternate_stack,
        sigaltstack_query_returns_installed_stack,
        sigaltstack_smaller_than_minsigstksz_fails_enomem,
        sigaltstack_unknown_flag_fails_einval,
        sigaltstack_ss_disable_is_reported_back,
        sig_unblock_removes_signal_from_mask,
        sig_setmask_replaces_whole_mask,
        rt_sigprocmask_null_set_ignores_invalid_how,
        rt_sigprocmask_how_upper_bits_are_ignored,
        rt_sigprocmask_bad_set_pointer_fails_efault,
        blocked_signal_stays_pending_until_unblocked,
        unblocking_pending_signal_delivers_it_immediately,
        blocked_ignored_signal_is_still_pending,
        setting_sig_ign_discards_pending_signal,
        unblocked_ignored_signal_is_discarded,
        rt_sigpending_oversized_sigsetsize_fails_einval,
        rt_sigpending_bad_pointer_fails_efault,
        standard_signal_sent_twice_while_blocked_is_delivered_once,
        realtime_signal_sent_twice_while_blocked_is_delivered_twice,
        queued_realtime_signals_of_one_type_keep_send_order,
        pending_realtime_signals_are_delivered_lowest_number_first,
        pending_standard_signal_is_delivered_before_realtime,
        rt_sigsuspend_runs_pending_handler_and_fails_eintr,
        rt_sigsuspend_restores_previous_mask,
        rt_sigsuspend_handler_sees_temporary_mask,
        rt_sigsuspend_bad_sigsetsize_fails_einval,
        rt_sigtimedwait_returns_pending_signal_with_siginfo,
        rt_sigtimedwait_consumes_the_signal,
        rt_sigtimedwait_zero_timeout_without_pending_fails_eagain,
        rt_sigtimedwait_20ms_timeout_waits_at_least_20ms_then_fails_eagain,
        rt_sigtimedwait_nsec_one_billion_fails_einval,
        rt_sigtimedwait_bad_sigsetsize_fails_einval,
        rt_sigtimedwait_wakes_for_signal_from_another_thread,
        pause_fails_eintr_after_handler_runs,
        kill_signal_zero_probes_existing_process,
        kill_signal_zero_to_reaped_child_fails_esrch,
        kill_signal_65_fails_einval,
        kill_pid_and_signal_upper_bits_are_ignored,
        tgkill_arguments_upper_bits_are_ignored,
        tkill_reaped_tid_fails_esrch,
        kill_negative_pid_signals_process_group,
        tgkill_tid_outside_tgid_fails_esrch,
        tgkill_signal_zero_probes_own_thread,
        tgkill_zero_tid_fails_einval,
        tgkill_signal_65_fails_einval,
        tkill_self_delivers_to_calling_thread,
        tkill_negative_tid_fails_einval,
        unblocked_signals_without_mutual_masks_nest_higher_handler_first,
        process_signal_is_delivered_to_thread_not_blocking_it,
        process_signal_blocked_everywhere_goes_to_thread_that_unblocks_it,
        tgkill_delivers_to_the_named_thread,
        thread_directed_pending_signal_is_not_visible_to_other_threads,
        sigsegv_read_of_unmapped_page_has_maperr_and_fault_address,
        sigsegv_write_to_readonly_page_has_accerr,
        sigsegv_handler_resumed_twice_handles_both_faults,
        readable_address_probe_does_not_fault,
        read_of_kernel_address_raises_sigsegv,
        sigfpe_on_integer_division_by_zero_has_fpe_intdiv,
        sigill_on_ud2_has_ill_illopn,
        sigtrap_on_int3_resumes_after_breakpoint,
        sigbus_on_access_past_end_of_file_has_bus_adrerr,
        sigbus_after_ftruncate_cuts_a_touched_mapped_page,
        sigbus_after_another_process_truncates_a_mapped_file,
        sigbus_after_truncate_path_cuts_a_touched_mapped_page,
        fault_with_sigsegv_blocked_kills_with_sigsegv,
        fault_with_sigsegv_ignored_kills_with_sigsegv,
        sigterm_default_action_terminates,
        sigusr1_default_action_terminates,
        sigquit_default_action_terminates_with_sigquit,
        sigabrt_default_action_terminates_with_sigabrt,
        sigchld_sigurg_sigwinch_default_actions_are_ignore,
        sigkill_terminates_despite_full_mask,
        caught_sigterm_does_not_terminate,
        signalfd_read_returns_siginfo_of_pending_signal,
        signalfd_carries_sigqueue_value_in_ssi_ptr,
        signalfd_nonblock_without_pending_fails_eagain,
        signalfd_poll_reports_readable_only_when_signal_pending,
        signalfd_read_smaller_than_siginfo_fails_einval,
        signalfd4_unknown_flag_fails_einval,
        signalfd4_on_non_signalfd_fails_einval,
        signalfd4_existing_fd_replaces_mask,
        pipe_read_interrupted_by_signal_from_thread_fails_eintr,
        sa_restart_pipe_read_survives_signals_from_thread,
        pipe_read_interrupted_by_signal_from_process_fails_eintr,
        pipe_read_interrupted_by_itimer_fails_eintr,
        sa_restart_pipe_read_survives_itimer_signals,
    ])
}
