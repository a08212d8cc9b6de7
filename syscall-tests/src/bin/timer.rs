//! Timers and sleeping: timerfd (one-shot, periodic, absolute, non-blocking), setitimer/
//! getitimer/alarm, POSIX timers (timer_create/settime/gettime/getoverrun/delete with
//! SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE), nanosleep/clock_nanosleep interrupted by
//! handlers, getrusage and times.
//!
//! Time assertions are lower bounds only ("a 20 ms sleep lasted at least 20 ms") or upper
//! bounds of seconds on a timer armed for seconds. Tests that arm process timers, install
//! handlers or block run in a forked child ([`fork_and_check`]).
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use syscall_tests::libc;
use syscall_tests::sys::{delivery, signal_count};
use syscall_tests::task::{
    Child, SIGSET_SIZE, block, eventually, fork_and_check, gettid, install_recorder, sig_bit,
    sleep_ms,
};
use syscall_tests::{
    Errno, Fd, LOW_ADDR, Outcome, check, ensure, ensure_eq, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests, with_junk_upper_bits, zeroed,
};

const NS: i64 = 1_000_000_000;
const SI_TIMER: i32 = -2;
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;

fn ts(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns / NS,
        tv_nsec: ns % NS,
    }
}

fn nanos(t: &libc::timespec) -> i64 {
    t.tv_sec * NS + t.tv_nsec
}

fn its(value_ns: i64, interval_ns: i64) -> libc::itimerspec {
    libc::itimerspec {
        it_interval: ts(interval_ns),
        it_value: ts(value_ns),
    }
}

fn now(clock: libc::clockid_t) -> Result<i64, String> {
    let mut t: libc::timespec = zeroed();
    check!(
        syscall!(libc::SYS_clock_gettime, clock, &raw mut t),
        succeeds_with(0)
    );
    Ok(nanos(&t))
}

fn at_least(start: Instant, ms: u64) -> Outcome {
    let e = start.elapsed();
    ensure!(e >= Duration::from_millis(ms), "only {e:?} elapsed");
    Ok(())
}

// ---------------------------------------------------------------- timerfd

fn timerfd(flags: i32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(
            libc::SYS_timerfd_create,
            libc::CLOCK_MONOTONIC,
            flags | libc::TFD_CLOEXEC
        ),
        succeeds()
    ))
}

fn tfd_settime(fd: &Fd, flags: i32, new: &libc::itimerspec) -> Result<libc::itimerspec, String> {
    let mut old: libc::itimerspec = zeroed();
    check!(
        syscall!(
            libc::SYS_timerfd_settime,
            fd.raw(),
            flags,
            std::ptr::from_ref(new),
            &raw mut old
        ),
        succeeds_with(0)
    );
    Ok(old)
}

fn tfd_gettime(fd: &Fd) -> Result<libc::itimerspec, String> {
    let mut cur: libc::itimerspec = zeroed();
    check!(
        syscall!(libc::SYS_timerfd_gettime, fd.raw(), &raw mut cur),
        succeeds_with(0)
    );
    Ok(cur)
}

fn read_count(fd: &Fd) -> i64 {
    let mut v = 0u64;
    let ret = syscall!(libc::SYS_read, fd.raw(), &raw mut v, 8);
    if ret == 8 {
        i64::try_from(v).unwrap_or(-2)
    } else {
        ret
    }
}

fn timerfd_create_unknown_clock_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_timerfd_create, 0x7fff, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// timerfd_create(2)'s clockid and flags are `int`s: upper-half junk is ignored.
fn timerfd_create_arguments_upper_bits_are_ignored() -> Outcome {
    let fd = Fd::from_ret(check!(
        syscall!(
            libc::SYS_timerfd_create,
            with_junk_upper_bits(libc::CLOCK_MONOTONIC),
            with_junk_upper_bits(libc::TFD_CLOEXEC)
        ),
        succeeds()
    ))?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    Ok(())
}

/// alarm(2) takes `unsigned int seconds`: upper-half junk is ignored.
fn alarm_seconds_upper_bits_are_ignored() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_alarm, with_junk_upper_bits(10)),
            succeeds_with(0)
        );
        check!(syscall!(libc::SYS_alarm, 0), succeeds_with(10));
        Ok(())
    })
}

fn timerfd_create_unknown_flag_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_timerfd_create, libc::CLOCK_MONOTONIC, 0x1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timerfd_gettime_of_new_timer_is_disarmed() -> Outcome {
    let fd = timerfd(0)?;
    let cur = tfd_gettime(&fd)?;
    ensure_eq!((nanos(&cur.it_value), nanos(&cur.it_interval)), (0, 0));
    Ok(())
}

/// timerfd_create(2): read returns "the number of expirations that have occurred" (8 bytes),
/// blocking until the first one.
fn timerfd_one_shot_blocking_read_returns_one_expiration() -> Outcome {
    fork_and_check(|| {
        let fd = timerfd(0)?;
        let start = Instant::now();
        tfd_settime(&fd, 0, &its(20_000_000, 0))?;
        ensure_eq!(read_count(&fd), 1);
        at_least(start, 20)
    })
}

/// A periodic timerfd counts every expiration since the last read.
fn timerfd_periodic_read_counts_all_expirations() -> Outcome {
    fork_and_check(|| {
        let fd = timerfd(0)?;
        tfd_settime(&fd, 0, &its(5_000_000, 5_000_000))?;
        sleep_ms(60);
        let n = read_count(&fd);
        ensure!(n >= 11, "only {n} expirations in 60 ms of a 5 ms timer");
        Ok(())
    })
}

fn timerfd_nonblocking_read_before_expiry_fails_eagain() -> Outcome {
    let fd = timerfd(libc::TFD_NONBLOCK)?;
    tfd_settime(&fd, 0, &its(10 * NS, 0))?;
    check!(read_count(&fd), fails_with(Errno::EAGAIN));
    Ok(())
}

fn timerfd_nonblocking_read_of_disarmed_timer_fails_eagain() -> Outcome {
    let fd = timerfd(libc::TFD_NONBLOCK)?;
    check!(read_count(&fd), fails_with(Errno::EAGAIN));
    Ok(())
}

fn timerfd_read_of_4_bytes_fails_einval() -> Outcome {
    let fd = timerfd(libc::TFD_NONBLOCK)?;
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), 4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// timerfd_gettime(2): it_value is the time until the next expiration, it_interval as set.
fn timerfd_gettime_reports_remaining_time_and_interval() -> Outcome {
    let fd = timerfd(0)?;
    tfd_settime(&fd, 0, &its(10 * NS, NS))?;
    let cur = tfd_gettime(&fd)?;
    let left = nanos(&cur.it_value);
    ensure!(left > 8 * NS && left <= 10 * NS, "remaining {left} ns");
    ensure_eq!(nanos(&cur.it_interval), NS);
    Ok(())
}

fn timerfd_settime_returns_previous_setting() -> Outcome {
    let fd = timerfd(0)?;
    tfd_settime(&fd, 0, &its(10 * NS, 2 * NS))?;
    let old = tfd_settime(&fd, 0, &its(0, 0))?;
    let left = nanos(&old.it_value);
    ensure!(left > 8 * NS && left <= 10 * NS, "old remaining {left} ns");
    ensure_eq!(nanos(&old.it_interval), 2 * NS);
    Ok(())
}

/// A zero it_value disarms the timer.
fn timerfd_settime_zero_value_disarms() -> Outcome {
    let fd = timerfd(libc::TFD_NONBLOCK)?;
    tfd_settime(&fd, 0, &its(10 * NS, 0))?;
    tfd_settime(&fd, 0, &its(0, 0))?;
    ensure_eq!(nanos(&tfd_gettime(&fd)?.it_value), 0);
    Ok(())
}

/// TFD_TIMER_ABSTIME with a time already past: the timer expires at once.
fn timerfd_abstime_in_the_past_expires_immediately() -> Outcome {
    let fd = timerfd(libc::TFD_NONBLOCK)?;
    let past = now(libc::CLOCK_MONOTONIC)? - NS;
    tfd_settime(&fd, libc::TFD_TIMER_ABSTIME, &its(past.max(1), 0))?;
    ensure_eq!(read_count(&fd), 1);
    Ok(())
}

/// TFD_TIMER_ABSTIME: expires when the clock reaches the given time.
fn timerfd_abstime_expires_when_clock_reaches_it() -> Outcome {
    fork_and_check(|| {
        let fd = timerfd(0)?;
        let deadline = now(libc::CLOCK_MONOTONIC)? + 20_000_000;
        tfd_settime(&fd, libc::TFD_TIMER_ABSTIME, &its(deadline, 0))?;
        ensure_eq!(read_count(&fd), 1);
        let t = now(libc::CLOCK_MONOTONIC)?;
        ensure!(t >= deadline, "woke {} ns early", deadline - t);
        Ok(())
    })
}

fn timerfd_settime_nsec_one_billion_fails_einval() -> Outcome {
    let fd = timerfd(0)?;
    let bad = libc::itimerspec {
        it_interval: ts(0),
        it_value: libc::timespec {
            tv_sec: 0,
            tv_nsec: NS,
        },
    };
    check!(
        syscall!(
            libc::SYS_timerfd_settime,
            fd.raw(),
            0,
            &raw const bad,
            0usize
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timerfd_settime_unknown_flag_fails_einval() -> Outcome {
    let fd = timerfd(0)?;
    let t = its(NS, 0);
    check!(
        syscall!(
            libc::SYS_timerfd_settime,
            fd.raw(),
            0x100,
            &raw const t,
            0usize
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// timerfd_settime(2): EINVAL "fd is not a valid timerfd file descriptor".
fn timerfd_settime_on_eventfd_fails_einval() -> Outcome {
    let efd = Fd::from_ret(check!(
        syscall!(libc::SYS_eventfd2, 0, libc::EFD_CLOEXEC),
        succeeds()
    ))?;
    let t = its(NS, 0);
    check!(
        syscall!(
            libc::SYS_timerfd_settime,
            efd.raw(),
            0,
            &raw const t,
            0usize
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timerfd_poll_reports_readable_after_expiry() -> Outcome {
    fork_and_check(|| {
        let fd = timerfd(0)?;
        tfd_settime(&fd, 0, &its(10_000_000, 0))?;
        let mut p = libc::pollfd {
            fd: fd.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        check!(
            syscall!(libc::SYS_poll, &raw mut p, 1, 5000),
            succeeds_with(1)
        );
        ensure_eq!(p.revents, libc::POLLIN);
        Ok(())
    })
}

// ---------------------------------------------------------------- setitimer, alarm

fn itv(value_us: i64, interval_us: i64) -> libc::itimerval {
    let tv = |us: i64| libc::timeval {
        tv_sec: us / 1_000_000,
        tv_usec: us % 1_000_000,
    };
    libc::itimerval {
        it_interval: tv(interval_us),
        it_value: tv(value_us),
    }
}

fn us(tv: &libc::timeval) -> i64 {
    tv.tv_sec * 1_000_000 + tv.tv_usec
}

fn setitimer(which: i32, new: &libc::itimerval) -> Result<libc::itimerval, String> {
    let mut old: libc::itimerval = zeroed();
    check!(
        syscall!(
            libc::SYS_setitimer,
            which,
            std::ptr::from_ref(new),
            &raw mut old
        ),
        succeeds_with(0)
    );
    Ok(old)
}

fn getitimer(which: i32) -> Result<libc::itimerval, String> {
    let mut cur: libc::itimerval = zeroed();
    check!(
        syscall!(libc::SYS_getitimer, which, &raw mut cur),
        succeeds_with(0)
    );
    Ok(cur)
}

/// Waits (sigtimedwait, up to 5 s) for `sig`, which the caller blocked.
fn wait_for_signal(sig: i32) -> Result<i64, String> {
    let set = sig_bit(sig);
    let t = ts(5 * NS);
    Ok(check!(
        syscall!(
            libc::SYS_rt_sigtimedwait,
            &raw const set,
            0usize,
            &raw const t,
            SIGSET_SIZE
        ),
        succeeds()
    ))
}

/// setitimer(2) ITIMER_REAL: "At each expiration, a SIGALRM signal is generated".
fn setitimer_real_generates_sigalrm_after_its_value() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGALRM)?;
        let start = Instant::now();
        setitimer(libc::ITIMER_REAL, &itv(20_000, 0))?;
        ensure_eq!(wait_for_signal(libc::SIGALRM)?, i64::from(libc::SIGALRM));
        at_least(start, 20)
    })
}

fn getitimer_reports_remaining_time_and_interval() -> Outcome {
    fork_and_check(|| {
        setitimer(libc::ITIMER_REAL, &itv(10_000_000, 500_000))?;
        let cur = getitimer(libc::ITIMER_REAL)?;
        let left = us(&cur.it_value);
        ensure!(
            left > 8_000_000 && left <= 10_000_000,
            "remaining {left} us"
        );
        ensure_eq!(us(&cur.it_interval), 500_000);
        Ok(())
    })
}

fn setitimer_returns_previous_setting() -> Outcome {
    fork_and_check(|| {
        setitimer(libc::ITIMER_REAL, &itv(10_000_000, 0))?;
        let old = setitimer(libc::ITIMER_REAL, &itv(0, 0))?;
        let left = us(&old.it_value);
        ensure!(
            left > 8_000_000 && left <= 10_000_000,
            "old remaining {left} us"
        );
        ensure_eq!(us(&getitimer(libc::ITIMER_REAL)?.it_value), 0);
        Ok(())
    })
}

/// setitimer(2): EINVAL "which is not one of ITIMER_REAL, ITIMER_VIRTUAL, or ITIMER_PROF".
fn setitimer_unknown_which_fails_einval() -> Outcome {
    let t = itv(0, 0);
    check!(
        syscall!(libc::SYS_setitimer, 7, &raw const t, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn getitimer_unknown_which_fails_einval() -> Outcome {
    let mut t: libc::itimerval = zeroed();
    check!(
        syscall!(libc::SYS_getitimer, 7, &raw mut t),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// setitimer(2): EINVAL when tv_usec is outside [0, 999999].
fn setitimer_usec_one_million_fails_einval() -> Outcome {
    let t = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: 0,
            tv_usec: 1_000_000,
        },
    };
    check!(
        syscall!(libc::SYS_setitimer, libc::ITIMER_REAL, &raw const t, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn getitimer_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_getitimer, libc::ITIMER_REAL, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// ITIMER_VIRTUAL counts user CPU time: SIGVTALRM arrives while the process spins.
fn itimer_virtual_fires_sigvtalrm_while_spinning() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGVTALRM, 0, 0)?;
        setitimer(libc::ITIMER_VIRTUAL, &itv(10_000, 0))?;
        let deadline = Instant::now() + Duration::from_secs(8);
        while signal_count(libc::SIGVTALRM) == 0 && Instant::now() < deadline {
            std::hint::spin_loop();
        }
        ensure_eq!(signal_count(libc::SIGVTALRM), 1);
        Ok(())
    })
}

/// ITIMER_PROF counts user and system CPU time: SIGPROF arrives while the process spins.
fn itimer_prof_fires_sigprof_while_spinning() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGPROF, 0, 0)?;
        setitimer(libc::ITIMER_PROF, &itv(10_000, 0))?;
        let deadline = Instant::now() + Duration::from_secs(8);
        while signal_count(libc::SIGPROF) == 0 && Instant::now() < deadline {
            let _ = syscall!(libc::SYS_getppid);
        }
        ensure_eq!(signal_count(libc::SIGPROF), 1);
        Ok(())
    })
}

/// fork(2): "The child does not inherit timers from its parent (setitimer(2), alarm(2),
/// timer_create(2))".
fn itimer_real_is_not_inherited_by_fork_child() -> Outcome {
    fork_and_check(|| {
        setitimer(libc::ITIMER_REAL, &itv(10_000_000, 0))?;
        let mut child = Child::spawn(|| {
            i32::from(getitimer(libc::ITIMER_REAL).is_ok_and(|t| us(&t.it_value) == 0))
        })?;
        ensure_eq!(child.wait()?.exit_code(), Some(1));
        Ok(())
    })
}

/// alarm(2): "If there is no previously scheduled alarm, alarm() returns zero".
fn alarm_without_pending_alarm_returns_zero() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_alarm, 10), succeeds_with(0));
        Ok(())
    })
}

/// alarm(2): "If seconds is zero, any pending alarm is canceled"; the return value is the
/// seconds remaining of the previous alarm.
fn alarm_zero_cancels_and_returns_remaining_seconds() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_alarm, 10), succeeds_with(0));
        check!(syscall!(libc::SYS_alarm, 0), succeeds_with(10));
        ensure_eq!(us(&getitimer(libc::ITIMER_REAL)?.it_value), 0);
        Ok(())
    })
}

/// alarm and ITIMER_REAL are the same timer.
fn alarm_arms_itimer_real() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_alarm, 5), succeeds_with(0));
        let left = us(&getitimer(libc::ITIMER_REAL)?.it_value);
        ensure!(left > 3_000_000 && left <= 5_000_000, "remaining {left} us");
        Ok(())
    })
}

/// alarm(1) delivers SIGALRM after (at least) one second.
fn alarm_one_second_delivers_sigalrm() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGALRM)?;
        let start = Instant::now();
        check!(syscall!(libc::SYS_alarm, 1), succeeds_with(0));
        ensure_eq!(wait_for_signal(libc::SIGALRM)?, i64::from(libc::SIGALRM));
        at_least(start, 990)
    })
}

// ---------------------------------------------------------------- POSIX timers

/// `struct sigevent` as the kernel reads it (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct SigEvent {
    value: u64,
    signo: i32,
    notify: i32,
    tid: i32,
    pad: [i32; 11],
}

fn sigevent(notify: i32, signo: i32, value: u64) -> SigEvent {
    SigEvent {
        value,
        signo,
        notify,
        tid: 0,
        pad: [0; 11],
    }
}

fn timer_create(clock: libc::clockid_t, sev: Option<&SigEvent>) -> Result<i32, String> {
    let mut id = -1i32;
    let p = sev.map_or(std::ptr::null(), std::ptr::from_ref);
    check!(
        syscall!(libc::SYS_timer_create, clock, p, &raw mut id),
        succeeds_with(0)
    );
    Ok(id)
}

fn timer_settime(id: i32, flags: i32, new: &libc::itimerspec) -> Result<libc::itimerspec, String> {
    let mut old: libc::itimerspec = zeroed();
    check!(
        syscall!(
            libc::SYS_timer_settime,
            id,
            flags,
            std::ptr::from_ref(new),
            &raw mut old
        ),
        succeeds_with(0)
    );
    Ok(old)
}

fn timer_gettime(id: i32) -> Result<libc::itimerspec, String> {
    let mut cur: libc::itimerspec = zeroed();
    check!(
        syscall!(libc::SYS_timer_gettime, id, &raw mut cur),
        succeeds_with(0)
    );
    Ok(cur)
}

/// SIGEV_SIGNAL: the timer's signal carries si_code SI_TIMER, the sigev_value and the id.
fn timer_sigev_signal_delivers_si_timer_with_value() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        let id = timer_create(
            libc::CLOCK_MONOTONIC,
            Some(&sigevent(SIGEV_SIGNAL, libc::SIGUSR1, 0x5151)),
        )?;
        timer_settime(id, 0, &its(5_000_000, 0))?;
        ensure!(
            eventually(Duration::from_secs(5), || signal_count(libc::SIGUSR1) > 0),
            "timer never fired"
        );
        let d = delivery(libc::SIGUSR1);
        ensure_eq!(d.code, SI_TIMER);
        ensure_eq!(d.value, 0x5151);
        ensure_eq!(d.timerid, id);
        Ok(())
    })
}

/// timer_create(2): a NULL sevp means SIGEV_SIGNAL with SIGALRM and the timer id as value.
fn timer_create_null_sigevent_defaults_to_sigalrm_with_id_value() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, 0, 0)?;
        let id = timer_create(libc::CLOCK_MONOTONIC, None)?;
        timer_settime(id, 0, &its(5_000_000, 0))?;
        ensure!(
            eventually(Duration::from_secs(5), || signal_count(libc::SIGALRM) > 0),
            "timer never fired"
        );
        ensure_eq!(
            delivery(libc::SIGALRM).value,
            u64::try_from(id).unwrap_or(0)
        );
        Ok(())
    })
}

/// SIGEV_NONE: no signal, but the timer runs and timer_gettime shows it counting down.
fn timer_sigev_none_counts_down_without_signalling() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, 0, 0)?;
        let id = timer_create(
            libc::CLOCK_MONOTONIC,
            Some(&sigevent(SIGEV_NONE, libc::SIGALRM, 0)),
        )?;
        timer_settime(id, 0, &its(10 * NS, 0))?;
        let left = nanos(&timer_gettime(id)?.it_value);
        ensure!(left > 8 * NS && left <= 10 * NS, "remaining {left} ns");
        timer_settime(id, 0, &its(1_000_000, 0))?;
        sleep_ms(20);
        ensure_eq!(signal_count(libc::SIGALRM), 0);
        Ok(())
    })
}

/// SIGEV_THREAD_ID: the signal goes to the named thread.
fn timer_sigev_thread_id_signals_that_thread() -> Outcome {
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
        let mut sev = sigevent(SIGEV_THREAD_ID, libc::SIGUSR2, 1);
        sev.tid = target;
        let id = timer_create(libc::CLOCK_MONOTONIC, Some(&sev))?;
        timer_settime(id, 0, &its(5_000_000, 0))?;
        ensure_eq!(t.join().ok(), Some(true));
        ensure_eq!(delivery(libc::SIGUSR2).tid, target);
        Ok(())
    })
}

/// timer_create(2): EINVAL for a SIGEV_THREAD_ID tid that is not a thread of the caller.
fn timer_create_sigev_thread_id_of_other_process_fails_einval() -> Outcome {
    let mut sev = sigevent(SIGEV_THREAD_ID, libc::SIGUSR2, 1);
    sev.tid = 1;
    let mut id = -1i32;
    check!(
        syscall!(
            libc::SYS_timer_create,
            libc::CLOCK_MONOTONIC,
            &raw const sev,
            &raw mut id
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timer_create_unknown_clock_fails_einval() -> Outcome {
    let sev = sigevent(SIGEV_NONE, 0, 0);
    let mut id = -1i32;
    check!(
        syscall!(libc::SYS_timer_create, 0x7fff, &raw const sev, &raw mut id),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timer_create_unknown_notify_fails_einval() -> Outcome {
    let sev = sigevent(99, libc::SIGUSR1, 0);
    let mut id = -1i32;
    check!(
        syscall!(
            libc::SYS_timer_create,
            libc::CLOCK_MONOTONIC,
            &raw const sev,
            &raw mut id
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timer_create_invalid_signal_fails_einval() -> Outcome {
    let sev = sigevent(SIGEV_SIGNAL, 65, 0);
    let mut id = -1i32;
    check!(
        syscall!(
            libc::SYS_timer_create,
            libc::CLOCK_MONOTONIC,
            &raw const sev,
            &raw mut id
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// timer_settime/gettime/getoverrun/delete(2): EINVAL "timerid is invalid".
fn timer_gettime_unknown_id_fails_einval() -> Outcome {
    let mut cur: libc::itimerspec = zeroed();
    check!(
        syscall!(libc::SYS_timer_gettime, 0x7777, &raw mut cur),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timer_settime_unknown_id_fails_einval() -> Outcome {
    let t = its(NS, 0);
    check!(
        syscall!(libc::SYS_timer_settime, 0x7777, 0, &raw const t, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timer_getoverrun_unknown_id_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_timer_getoverrun, 0x7777),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn timer_delete_twice_fails_einval() -> Outcome {
    fork_and_check(|| {
        let id = timer_create(libc::CLOCK_MONOTONIC, Some(&sigevent(SIGEV_NONE, 0, 0)))?;
        check!(syscall!(libc::SYS_timer_delete, id), succeeds_with(0));
        check!(
            syscall!(libc::SYS_timer_delete, id),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

fn timer_settime_returns_previous_setting() -> Outcome {
    fork_and_check(|| {
        let id = timer_create(libc::CLOCK_MONOTONIC, Some(&sigevent(SIGEV_NONE, 0, 0)))?;
        timer_settime(id, 0, &its(10 * NS, 3 * NS))?;
        let old = timer_settime(id, 0, &its(0, 0))?;
        let left = nanos(&old.it_value);
        ensure!(left > 8 * NS && left <= 10 * NS, "old remaining {left} ns");
        ensure_eq!(nanos(&old.it_interval), 3 * NS);
        Ok(())
    })
}

fn timer_settime_nsec_one_billion_fails_einval() -> Outcome {
    fork_and_check(|| {
        let id = timer_create(libc::CLOCK_MONOTONIC, Some(&sigevent(SIGEV_NONE, 0, 0)))?;
        let bad = libc::itimerspec {
            it_interval: ts(0),
            it_value: libc::timespec {
                tv_sec: 0,
                tv_nsec: NS,
            },
        };
        check!(
            syscall!(libc::SYS_timer_settime, id, 0, &raw const bad, 0usize),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

/// TIMER_ABSTIME with a time already past fires at once.
fn timer_settime_abstime_in_the_past_fires_immediately() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let id = timer_create(
            libc::CLOCK_MONOTONIC,
            Some(&sigevent(SIGEV_SIGNAL, libc::SIGUSR1, 0)),
        )?;
        let past = now(libc::CLOCK_MONOTONIC)? - NS;
        timer_settime(id, libc::TIMER_ABSTIME, &its(past.max(1), 0))?;
        ensure_eq!(wait_for_signal(libc::SIGUSR1)?, i64::from(libc::SIGUSR1));
        Ok(())
    })
}

/// timer_getoverrun(2): expirations while the signal was still pending are counted as
/// overruns of the next delivery.
fn timer_getoverrun_counts_expirations_while_signal_pending() -> Outcome {
    fork_and_check(|| {
        block(libc::SIGUSR1)?;
        let id = timer_create(
            libc::CLOCK_MONOTONIC,
            Some(&sigevent(SIGEV_SIGNAL, libc::SIGUSR1, 0)),
        )?;
        timer_settime(id, 0, &its(1_000_000, 1_000_000))?;
        sleep_ms(30);
        ensure_eq!(wait_for_signal(libc::SIGUSR1)?, i64::from(libc::SIGUSR1));
        let overrun = check!(syscall!(libc::SYS_timer_getoverrun, id), succeeds());
        ensure!(overrun >= 1, "overrun {overrun}");
        Ok(())
    })
}

// ---------------------------------------------------------------- nanosleep, clock_nanosleep

/// nanosleep(2): interrupted by a handler, it fails with EINTR and writes the remaining
/// time to rem — even with SA_RESTART (it is restarted only without a handler).
fn nanosleep_interrupted_by_handler_fails_eintr_with_remaining_time() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, libc::SA_RESTART as u64, 0)?;
        setitimer(libc::ITIMER_REAL, &itv(20_000, 0))?;
        let req = ts(5 * NS);
        let mut rem = ts(0);
        check!(
            syscall!(libc::SYS_nanosleep, &raw const req, &raw mut rem),
            fails_with(Errno::EINTR)
        );
        let left = nanos(&rem);
        ensure!(left > 0 && left < 5 * NS, "rem {left} ns");
        Ok(())
    })
}

/// A 50 ms nanosleep sleeps at least 50 ms.
fn nanosleep_50ms_sleeps_at_least_50ms() -> Outcome {
    fork_and_check(|| {
        let req = ts(50_000_000);
        let start = Instant::now();
        check!(
            syscall!(libc::SYS_nanosleep, &raw const req, 0usize),
            succeeds_with(0)
        );
        at_least(start, 50)
    })
}

fn clock_nanosleep_relative_20ms_sleeps_at_least_20ms() -> Outcome {
    fork_and_check(|| {
        let req = ts(20_000_000);
        let start = Instant::now();
        check!(
            syscall!(
                libc::SYS_clock_nanosleep,
                libc::CLOCK_MONOTONIC,
                0,
                &raw const req,
                0usize
            ),
            succeeds_with(0)
        );
        at_least(start, 20)
    })
}

/// TIMER_ABSTIME: sleeps until the clock reaches the given time.
fn clock_nanosleep_abstime_wakes_at_or_after_deadline() -> Outcome {
    fork_and_check(|| {
        let deadline = now(libc::CLOCK_MONOTONIC)? + 20_000_000;
        let req = ts(deadline);
        check!(
            syscall!(
                libc::SYS_clock_nanosleep,
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &raw const req,
                0usize
            ),
            succeeds_with(0)
        );
        let t = now(libc::CLOCK_MONOTONIC)?;
        ensure!(t >= deadline, "woke {} ns early", deadline - t);
        Ok(())
    })
}

fn clock_nanosleep_abstime_in_the_past_returns_immediately() -> Outcome {
    let req = ts(1);
    check!(
        syscall!(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &raw const req,
            0usize
        ),
        succeeds_with(0)
    );
    Ok(())
}

fn clock_nanosleep_realtime_abstime_wakes_after_deadline() -> Outcome {
    fork_and_check(|| {
        let deadline = now(libc::CLOCK_REALTIME)? + 10_000_000;
        let req = ts(deadline);
        check!(
            syscall!(
                libc::SYS_clock_nanosleep,
                libc::CLOCK_REALTIME,
                libc::TIMER_ABSTIME,
                &raw const req,
                0usize
            ),
            succeeds_with(0)
        );
        ensure!(now(libc::CLOCK_REALTIME)? >= deadline, "woke early");
        Ok(())
    })
}

fn clock_nanosleep_nsec_one_billion_fails_einval() -> Outcome {
    let req = libc::timespec {
        tv_sec: 0,
        tv_nsec: NS,
    };
    check!(
        syscall!(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_MONOTONIC,
            0,
            &raw const req,
            0usize
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn clock_nanosleep_unknown_clock_fails_einval() -> Outcome {
    let req = ts(1);
    check!(
        syscall!(libc::SYS_clock_nanosleep, 0x7fff, 0, &raw const req, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// clock_nanosleep(2) says EINVAL for CLOCK_THREAD_CPUTIME_ID, but the kernel answers
/// EOPNOTSUPP (its thread CPU clock has no nsleep operation): the man page is wrong.
fn clock_nanosleep_thread_cputime_clock_fails_eopnotsupp() -> Outcome {
    let req = ts(1);
    check!(
        syscall!(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_THREAD_CPUTIME_ID,
            0,
            &raw const req,
            0usize
        ),
        fails_with(Errno::EOPNOTSUPP)
    );
    Ok(())
}

fn clock_nanosleep_bad_request_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_MONOTONIC,
            0,
            LOW_ADDR,
            0usize
        ),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn clock_nanosleep_interrupted_by_handler_fails_eintr_with_remaining_time() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, 0, 0)?;
        setitimer(libc::ITIMER_REAL, &itv(20_000, 0))?;
        let req = ts(5 * NS);
        let mut rem = ts(0);
        check!(
            syscall!(
                libc::SYS_clock_nanosleep,
                libc::CLOCK_MONOTONIC,
                0,
                &raw const req,
                &raw mut rem
            ),
            fails_with(Errno::EINTR)
        );
        let left = nanos(&rem);
        ensure!(left > 0 && left < 5 * NS, "rem {left} ns");
        Ok(())
    })
}

// ---------------------------------------------------------------- getrusage, times

fn getrusage(who: i32) -> Result<libc::rusage, String> {
    let mut ru: libc::rusage = zeroed();
    check!(
        syscall!(libc::SYS_getrusage, who, &raw mut ru),
        succeeds_with(0)
    );
    Ok(ru)
}

fn cpu_us(ru: &libc::rusage) -> i64 {
    us(&ru.ru_utime) + us(&ru.ru_stime)
}

/// Burns at least `ms` of CPU time (by the process CPU clock).
fn spin_cpu(ms: i64) {
    let start = now(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(8);
    while now(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap_or(i64::MAX) - start < ms * 1_000_000
        && Instant::now() < deadline
    {
        std::hint::spin_loop();
    }
}

fn getrusage_self_reports_resident_set() -> Outcome {
    let ru = getrusage(libc::RUSAGE_SELF)?;
    ensure!(ru.ru_maxrss > 0, "ru_maxrss {}", ru.ru_maxrss);
    ensure!(
        (0..1_000_000).contains(&ru.ru_utime.tv_usec),
        "{:?}",
        ru.ru_utime
    );
    Ok(())
}

/// RUSAGE_SELF CPU time grows while the process computes.
fn getrusage_self_cpu_time_grows_while_spinning() -> Outcome {
    fork_and_check(|| {
        let before = cpu_us(&getrusage(libc::RUSAGE_SELF)?);
        spin_cpu(30);
        let after = cpu_us(&getrusage(libc::RUSAGE_SELF)?);
        ensure!(after > before, "before {before} us, after {after} us");
        Ok(())
    })
}

fn getrusage_thread_reports_calling_thread() -> Outcome {
    let ru = getrusage(libc::RUSAGE_THREAD)?;
    ensure!(cpu_us(&ru) >= 0, "{ru:?}");
    Ok(())
}

/// getrusage(2) RUSAGE_CHILDREN: "all children of the calling process that have terminated
/// and been waited for".
fn getrusage_children_includes_reaped_child_cpu_time() -> Outcome {
    fork_and_check(|| {
        ensure_eq!(cpu_us(&getrusage(libc::RUSAGE_CHILDREN)?), 0);
        let mut child = Child::spawn(|| {
            spin_cpu(30);
            0
        })?;
        child.wait()?;
        let total = cpu_us(&getrusage(libc::RUSAGE_CHILDREN)?);
        ensure!(total >= 20_000, "children cpu {total} us");
        Ok(())
    })
}

/// A child not yet waited for does not count.
fn getrusage_children_excludes_unreaped_child() -> Outcome {
    fork_and_check(|| {
        let child = Child::spawn(|| {
            spin_cpu(30);
            0
        })?;
        let mut info = [0u8; 128];
        check!(
            syscall!(
                libc::SYS_waitid,
                libc::P_PID,
                child.pid(),
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOWAIT,
                0usize
            ),
            succeeds_with(0)
        );
        ensure_eq!(cpu_us(&getrusage(libc::RUSAGE_CHILDREN)?), 0);
        Ok(())
    })
}

fn getrusage_unknown_who_fails_einval() -> Outcome {
    let mut ru: libc::rusage = zeroed();
    check!(
        syscall!(libc::SYS_getrusage, 7, &raw mut ru),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn getrusage_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_getrusage, libc::RUSAGE_SELF, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// times(2) returns elapsed clock ticks (positive and non-decreasing) and fills tms.
fn times_returns_non_decreasing_ticks() -> Outcome {
    let mut t: libc::tms = zeroed();
    let a = check!(syscall!(libc::SYS_times, &raw mut t), succeeds());
    let b = check!(syscall!(libc::SYS_times, &raw mut t), succeeds());
    ensure!(b >= a, "{a} then {b}");
    ensure!(t.tms_utime >= 0 && t.tms_stime >= 0, "{t:?}");
    Ok(())
}

/// times(2): tms_cutime/tms_cstime include waited-for children.
fn times_child_times_include_reaped_spinning_child() -> Outcome {
    fork_and_check(|| {
        let mut child = Child::spawn(|| {
            spin_cpu(50);
            0
        })?;
        child.wait()?;
        let mut t: libc::tms = zeroed();
        check!(syscall!(libc::SYS_times, &raw mut t), succeeds());
        ensure!(t.tms_cutime + t.tms_cstime >= 1, "{t:?}");
        Ok(())
    })
}

/// times(2) with NULL is allowed on Linux and still returns the tick count.
fn times_null_buffer_returns_ticks() -> Outcome {
    check!(syscall!(libc::SYS_times, 0usize), succeeds());
    Ok(())
}

fn times_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_times, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        timerfd_create_unknown_clock_fails_einval,
        timerfd_create_unknown_flag_fails_einval,
        timerfd_create_arguments_upper_bits_are_ignored,
        alarm_seconds_upper_bits_are_ignored,
        timerfd_gettime_of_new_timer_is_disarmed,
        timerfd_one_shot_blocking_read_returns_one_expiration,
        timerfd_periodic_read_counts_all_expirations,
        timerfd_nonblocking_read_before_expiry_fails_eagain,
        timerfd_nonblocking_read_of_disarmed_timer_fails_eagain,
        timerfd_read_of_4_bytes_fails_einval,
        timerfd_gettime_reports_remaining_time_and_interval,
        timerfd_settime_returns_previous_setting,
        timerfd_settime_zero_value_disarms,
        timerfd_abstime_in_the_past_expires_immediately,
        timerfd_abstime_expires_when_clock_reaches_it,
        timerfd_settime_nsec_one_billion_fails_einval,
        timerfd_settime_unknown_flag_fails_einval,
        timerfd_settime_on_eventfd_fails_einval,
        timerfd_poll_reports_readable_after_expiry,
        setitimer_real_generates_sigalrm_after_its_value,
        getitimer_reports_remaining_time_and_interval,
        setitimer_returns_previous_setting,
        setitimer_unknown_which_fails_einval,
        getitimer_unknown_which_fails_einval,
        setitimer_usec_one_million_fails_einval,
        getitimer_bad_pointer_fails_efault,
        itimer_virtual_fires_sigvtalrm_while_spinning,
        itimer_prof_fires_sigprof_while_spinning,
        itimer_real_is_not_inherited_by_fork_child,
        alarm_without_pending_alarm_returns_zero,
        alarm_zero_cancels_and_returns_remaining_seconds,
        alarm_arms_itimer_real,
        alarm_one_second_delivers_sigalrm,
        timer_sigev_signal_delivers_si_timer_with_value,
        timer_create_null_sigevent_defaults_to_sigalrm_with_id_value,
        timer_sigev_none_counts_down_without_signalling,
        timer_sigev_thread_id_signals_that_thread,
        timer_create_sigev_thread_id_of_other_process_fails_einval,
        timer_create_unknown_clock_fails_einval,
        timer_create_unknown_notify_fails_einval,
        timer_create_invalid_signal_fails_einval,
        timer_gettime_unknown_id_fails_einval,
        timer_settime_unknown_id_fails_einval,
        timer_getoverrun_unknown_id_fails_einval,
        timer_delete_twice_fails_einval,
        timer_settime_returns_previous_setting,
        timer_settime_nsec_one_billion_fails_einval,
        timer_settime_abstime_in_the_past_fires_immediately,
        timer_getoverrun_counts_expirations_while_signal_pending,
        nanosleep_interrupted_by_handler_fails_eintr_with_remaining_time,
        nanosleep_50ms_sleeps_at_least_50ms,
        clock_nanosleep_relative_20ms_sleeps_at_least_20ms,
        clock_nanosleep_abstime_wakes_at_or_after_deadline,
        clock_nanosleep_abstime_in_the_past_returns_immediately,
        clock_nanosleep_realtime_abstime_wakes_after_deadline,
        clock_nanosleep_nsec_one_billion_fails_einval,
        clock_nanosleep_unknown_clock_fails_einval,
        clock_nanosleep_thread_cputime_clock_fails_eopnotsupp,
        clock_nanosleep_bad_request_pointer_fails_efault,
        clock_nanosleep_interrupted_by_handler_fails_eintr_with_remaining_time,
        getrusage_self_reports_resident_set,
        getrusage_self_cpu_time_grows_while_spinning,
        getrusage_thread_reports_calling_thread,
        getrusage_children_includes_reaped_child_cpu_time,
        getrusage_children_excludes_unreaped_child,
        getrusage_unknown_who_fails_einval,
        getrusage_bad_pointer_fails_efault,
        times_returns_non_decreasing_ticks,
        times_child_times_include_reaped_spinning_child,
        times_null_buffer_returns_ticks,
        times_bad_pointer_fails_efault,
    ])
}
