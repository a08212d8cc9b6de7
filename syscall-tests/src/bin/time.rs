//! Clocks and sleeping: clock_gettime, gettimeofday, time, nanosleep.
//!
//! Every call is the raw syscall, so the vDSO (which the sandbox may or may not provide) is
//! not what gets tested. Time checks are relative only (monotonic ordering, agreement between
//! clocks to within a second, a sleep lasting at least what was asked), never an upper bound on
//! latency, since the sandbox legitimately adds overhead.
#![deny(unsafe_code)]

use std::process::ExitCode;

use syscall_tests::libc::{self, clockid_t};
use syscall_tests::{
    Errno, KERNEL_ADDR, LOW_ADDR, Outcome, check, ensure, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests, zeroed,
};

const NANOS_PER_SEC: i128 = 1_000_000_000;

fn now(clock: clockid_t) -> Result<libc::timespec, String> {
    let mut ts: libc::timespec = zeroed();
    check!(
        syscall!(libc::SYS_clock_gettime, clock, &raw mut ts),
        succeeds_with(0)
    );
    Ok(ts)
}

fn nanos(ts: &libc::timespec) -> i128 {
    i128::from(ts.tv_sec) * NANOS_PER_SEC + i128::from(ts.tv_nsec)
}

fn valid_nsec(ts: &libc::timespec) -> bool {
    (0..1_000_000_000).contains(&ts.tv_nsec)
}

fn clock_gettime_monotonic_is_non_decreasing() -> Outcome {
    let a = now(libc::CLOCK_MONOTONIC)?;
    let b = now(libc::CLOCK_MONOTONIC)?;
    let c = now(libc::CLOCK_MONOTONIC)?;
    ensure!(
        nanos(&a) <= nanos(&b) && nanos(&b) <= nanos(&c),
        "{a:?} {b:?} {c:?}"
    );
    ensure!(valid_nsec(&a) && valid_nsec(&c), "tv_nsec out of range");
    Ok(())
}

/// time(2) and CLOCK_REALTIME read the same clock: they agree to within a second.
fn clock_gettime_realtime_is_close_to_time() -> Outcome {
    let rt = now(libc::CLOCK_REALTIME)?;
    let t = check!(syscall!(libc::SYS_time, 0usize), succeeds());
    ensure!((t - rt.tv_sec).abs() <= 1, "time {t} vs realtime {rt:?}");
    // Any real clock is past 2020-01-01 (1577836800).
    ensure!(t > 1_577_836_800, "time {t}");
    Ok(())
}

fn clock_gettime_boottime_is_at_least_monotonic() -> Outcome {
    let mono = now(libc::CLOCK_MONOTONIC)?;
    let boot = now(libc::CLOCK_BOOTTIME)?;
    // CLOCK_BOOTTIME is CLOCK_MONOTONIC plus time suspended (clock_gettime(2)).
    ensure!(nanos(&boot) >= nanos(&mono), "{boot:?} < {mono:?}");
    Ok(())
}

fn clock_gettime_process_cputime_succeeds() -> Outcome {
    let ts = now(libc::CLOCK_PROCESS_CPUTIME_ID)?;
    ensure!(valid_nsec(&ts), "{ts:?}");
    Ok(())
}

fn clock_gettime_monotonic_coarse_succeeds() -> Outcome {
    let ts = now(libc::CLOCK_MONOTONIC_COARSE)?;
    ensure!(valid_nsec(&ts), "{ts:?}");
    Ok(())
}

/// clock_gettime(2): EINVAL "The clockid specified is invalid".
fn clock_gettime_unknown_clock_fails_einval() -> Outcome {
    let mut ts: libc::timespec = zeroed();
    check!(
        syscall!(libc::SYS_clock_gettime, 0x7fff, &raw mut ts),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// clock_gettime(2): EFAULT "tp points outside the accessible address space".
fn clock_gettime_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, KERNEL_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn gettimeofday_is_close_to_realtime() -> Outcome {
    let mut tv: libc::timeval = zeroed();
    check!(
        syscall!(libc::SYS_gettimeofday, &raw mut tv, 0usize),
        succeeds_with(0)
    );
    let rt = now(libc::CLOCK_REALTIME)?;
    ensure!((0..1_000_000).contains(&tv.tv_usec), "{tv:?}");
    ensure!((rt.tv_sec - tv.tv_sec).abs() <= 1, "{tv:?} vs {rt:?}");
    Ok(())
}

fn gettimeofday_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_gettimeofday, LOW_ADDR, 0usize),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// time(2): "If tloc is non-NULL, the return value is also stored in the memory pointed to by
/// tloc."
fn time_stores_result_in_tloc() -> Outcome {
    let mut t: libc::time_t = 0;
    let ret = check!(syscall!(libc::SYS_time, &raw mut t), succeeds());
    ensure!(ret == t, "returned {ret}, stored {t}");
    Ok(())
}

/// nanosleep(2) "suspends the execution of the calling thread until either at least the time
/// specified in *req has elapsed".
fn nanosleep_one_millisecond_takes_at_least_that() -> Outcome {
    let req = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    let before = now(libc::CLOCK_MONOTONIC)?;
    check!(
        syscall!(libc::SYS_nanosleep, &raw const req, 0usize),
        succeeds_with(0)
    );
    let after = now(libc::CLOCK_MONOTONIC)?;
    let slept = nanos(&after) - nanos(&before);
    ensure!(slept >= 1_000_000, "slept only {slept} ns");
    Ok(())
}

fn nanosleep_zero_returns_immediately_with_success() -> Outcome {
    let req = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    check!(
        syscall!(libc::SYS_nanosleep, &raw const req, 0usize),
        succeeds_with(0)
    );
    Ok(())
}

/// nanosleep(2): EINVAL "The value in the tv_nsec field was not in the range [0, 999999999]
/// or tv_sec was negative."
fn nanosleep_nsec_one_billion_fails_einval() -> Outcome {
    let req = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    check!(
        syscall!(libc::SYS_nanosleep, &raw const req, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn nanosleep_negative_seconds_fails_einval() -> Outcome {
    let req = libc::timespec {
        tv_sec: -1,
        tv_nsec: 0,
    };
    check!(
        syscall!(libc::SYS_nanosleep, &raw const req, 0usize),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn nanosleep_bad_request_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_nanosleep, LOW_ADDR, 0usize),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        clock_gettime_monotonic_is_non_decreasing,
        clock_gettime_realtime_is_close_to_time,
        clock_gettime_boottime_is_at_least_monotonic,
        clock_gettime_process_cputime_succeeds,
        clock_gettime_monotonic_coarse_succeeds,
        clock_gettime_unknown_clock_fails_einval,
        clock_gettime_bad_pointer_fails_efault,
        gettimeofday_is_close_to_realtime,
        gettimeofday_bad_pointer_fails_efault,
        time_stores_result_in_tloc,
        nanosleep_one_millisecond_takes_at_least_that,
        nanosleep_zero_returns_immediately_with_success,
        nanosleep_nsec_one_billion_fails_einval,
        nanosleep_negative_seconds_fails_einval,
        nanosleep_bad_request_pointer_fails_efault,
    ])
}
