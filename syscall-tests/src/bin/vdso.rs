//! The vDSO: what `getauxval(AT_SYSINFO_EHDR)` points at, and the clock functions reached
//! through it (libc's clock_gettime, gettimeofday, time, clock_getres), against the raw
//! syscalls, which every other test binary uses.
//!
//! Natively this checks Linux's vDSO; in the sandbox, the sentry's, which must be
//! indistinguishable: found the same way by a dynamic linker, answering the same clocks, and
//! agreeing with the syscalls so that a program mixing them never sees CLOCK_MONOTONIC go back.
#![deny(unsafe_code)]

use std::process::ExitCode;

use syscall_tests::libc::{self, clockid_t};
use syscall_tests::task::fork_and_check;
use syscall_tests::vdso::Image;
use syscall_tests::{
    Errno, Outcome, check, ensure, ensure_eq, fails_with, last_errno, run_tests, succeeds,
    succeeds_with, sys, syscall, tests, zeroed,
};

const NANOS_PER_SEC: i128 = 1_000_000_000;
/// The vDSO's time functions (arch/x86/entry/vdso/vdso.lds.S exports these five).
const TIME_FUNCTIONS: [&str; 5] = [
    "__vdso_clock_gettime",
    "__vdso_gettimeofday",
    "__vdso_time",
    "__vdso_getcpu",
    "__vdso_clock_getres",
];
/// Interleaved calls per agreement test.
const ROUNDS: usize = 20_000;

fn image() -> Result<(usize, Image<'static>), String> {
    let bytes = sys::vdso_image().ok_or("getauxval(AT_SYSINFO_EHDR) names no vDSO")?;
    Ok((bytes.as_ptr() as usize, Image::parse(bytes)?))
}

/// The address of vDSO function `name`.
fn vdso_fn(name: &str) -> Result<usize, String> {
    let (base, image) = image()?;
    let sym = image
        .lookup(name)?
        .ok_or_else(|| format!("{name} is not in the vDSO"))?;
    Ok(base + usize::try_from(sym.value).map_err(|_| "symbol value")?)
}

fn nanos(ts: &libc::timespec) -> i128 {
    i128::from(ts.tv_sec) * NANOS_PER_SEC + i128::from(ts.tv_nsec)
}

fn syscall_now(clock: clockid_t) -> Result<libc::timespec, String> {
    let mut ts: libc::timespec = zeroed();
    check!(
        syscall!(libc::SYS_clock_gettime, clock, &raw mut ts),
        succeeds_with(0)
    );
    Ok(ts)
}

fn libc_now(clock: clockid_t) -> Result<libc::timespec, String> {
    let mut ts: libc::timespec = zeroed();
    let r = sys::libc_clock_gettime(clock, &mut ts);
    ensure!(
        r == 0,
        "clock_gettime({clock}) = {r}, errno {}",
        last_errno()
    );
    Ok(ts)
}

fn valid(ts: &libc::timespec) -> bool {
    ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec)
}

fn auxv_sysinfo_ehdr_is_the_linux_vdso_shared_object() -> Outcome {
    let (base, image) = image()?;
    ensure!(
        base % 4096 == 0,
        "AT_SYSINFO_EHDR {base:#x} is not page-aligned"
    );
    ensure_eq!(image.soname.as_deref(), Some("linux-vdso.so.1"));
    Ok(())
}

fn vdso_exports_the_time_functions_as_linux_2_6() -> Outcome {
    let (_, image) = image()?;
    for name in TIME_FUNCTIONS {
        let sym = image
            .lookup(name)?
            .ok_or_else(|| format!("{name} not found"))?;
        ensure!(sym.is_function, "{name} is not a function");
        ensure_eq!(sym.version.as_deref(), Some("LINUX_2.6"), "{name}");
    }
    ensure!(
        image.lookup("__vdso_no_such_function")?.is_none(),
        "an unknown name was found"
    );
    Ok(())
}

/// A program mixing libc's clock_gettime (the vDSO) and the raw syscall sees one
/// CLOCK_MONOTONIC.
fn monotonic_through_libc_and_syscall_never_goes_back() -> Outcome {
    let mut last = 0i128;
    for i in 0..ROUNDS {
        let ts = if i % 2 == 0 {
            libc_now(libc::CLOCK_MONOTONIC)?
        } else {
            syscall_now(libc::CLOCK_MONOTONIC)?
        };
        ensure!(valid(&ts), "{ts:?}");
        let n = nanos(&ts);
        ensure!(n >= last, "round {i}: {n} after {last}");
        last = n;
    }
    Ok(())
}

/// Long enough (1.5 s) to span the sandbox's clock updates (once a second), mixing both ways
/// of reading CLOCK_MONOTONIC.
fn monotonic_never_goes_back_for_a_second_and_a_half() -> Outcome {
    let start = nanos(&syscall_now(libc::CLOCK_MONOTONIC)?);
    let (mut last, mut i) = (start, 0u64);
    while last - start < 3 * NANOS_PER_SEC / 2 {
        let ts = if i % 2 == 0 {
            libc_now(libc::CLOCK_MONOTONIC)?
        } else {
            syscall_now(libc::CLOCK_MONOTONIC)?
        };
        let n = nanos(&ts);
        ensure!(n >= last, "round {i}: {n} after {last}");
        last = n;
        i += 1;
    }
    Ok(())
}

/// The same through the vDSO entry point itself, for the clocks it answers.
fn vdso_clock_gettime_and_syscall_never_go_back() -> Outcome {
    let f = vdso_fn("__vdso_clock_gettime")?;
    for clock in [libc::CLOCK_MONOTONIC, libc::CLOCK_BOOTTIME] {
        let mut last = 0i128;
        for i in 0..ROUNDS {
            let ts = if i % 2 == 0 {
                let mut ts: libc::timespec = zeroed();
                let r = sys::call_vdso_clock(f, clock, &mut ts);
                ensure_eq!(r, 0, "__vdso_clock_gettime({clock})");
                ts
            } else {
                syscall_now(clock)?
            };
            let n = nanos(&ts);
            ensure!(n >= last, "clock {clock}, round {i}: {n} after {last}");
            last = n;
        }
    }
    Ok(())
}

fn coarse_monotonic_through_libc_never_passes_the_fine_clock() -> Outcome {
    let mut last = 0i128;
    for i in 0..ROUNDS {
        let coarse = if i % 2 == 0 {
            libc_now(libc::CLOCK_MONOTONIC_COARSE)?
        } else {
            syscall_now(libc::CLOCK_MONOTONIC_COARSE)?
        };
        let fine = syscall_now(libc::CLOCK_MONOTONIC)?;
        ensure!(
            nanos(&coarse) <= nanos(&fine),
            "coarse {coarse:?} > fine {fine:?}"
        );
        ensure!(nanos(&coarse) >= last, "coarse went back at round {i}");
        last = nanos(&coarse);
    }
    Ok(())
}

/// CLOCK_REALTIME through libc lies between two syscall readings (a millisecond of slack for
/// a host clock step in between).
fn realtime_through_libc_agrees_with_the_syscall() -> Outcome {
    for _ in 0..1000 {
        let before = nanos(&syscall_now(libc::CLOCK_REALTIME)?);
        let v = nanos(&libc_now(libc::CLOCK_REALTIME)?);
        let after = nanos(&syscall_now(libc::CLOCK_REALTIME)?);
        ensure!(
            before - 1_000_000 <= v && v <= after + 1_000_000,
            "{before} {v} {after}"
        );
    }
    Ok(())
}

fn clock_getres_through_libc_matches_the_syscall() -> Outcome {
    for clock in [
        libc::CLOCK_REALTIME,
        libc::CLOCK_MONOTONIC,
        libc::CLOCK_REALTIME_COARSE,
        libc::CLOCK_MONOTONIC_COARSE,
        libc::CLOCK_BOOTTIME,
        libc::CLOCK_PROCESS_CPUTIME_ID,
    ] {
        let mut sys_res: libc::timespec = zeroed();
        check!(
            syscall!(libc::SYS_clock_getres, clock, &raw mut sys_res),
            succeeds_with(0)
        );
        let mut libc_res: libc::timespec = zeroed();
        ensure_eq!(
            sys::libc_clock_getres(clock, &mut libc_res),
            0,
            "clock {clock}"
        );
        ensure_eq!(
            (libc_res.tv_sec, libc_res.tv_nsec),
            (sys_res.tv_sec, sys_res.tv_nsec),
            "clock {clock}"
        );
    }
    Ok(())
}

/// gettimeofday(2) is CLOCK_REALTIME in microseconds: between two readings of it.
fn gettimeofday_through_libc_lies_between_two_realtime_readings() -> Outcome {
    for _ in 0..1000 {
        let before = nanos(&syscall_now(libc::CLOCK_REALTIME)?) / 1000;
        let mut tv: libc::timeval = zeroed();
        ensure_eq!(sys::libc_gettimeofday(&mut tv), 0);
        let after = nanos(&syscall_now(libc::CLOCK_REALTIME)?) / 1000;
        let v = i128::from(tv.tv_sec) * 1_000_000 + i128::from(tv.tv_usec);
        ensure!((0..1_000_000).contains(&tv.tv_usec), "{tv:?}");
        ensure!(
            before - 1000 <= v && v <= after + 1000,
            "{before} {v} {after} µs"
        );
    }
    Ok(())
}

/// time(2) is CLOCK_REALTIME's seconds. (Linux's vDSO answers from the last tick, so near a
/// second boundary it may still say the previous second.)
fn time_through_libc_agrees_with_realtime() -> Outcome {
    for _ in 0..1000 {
        let before = syscall_now(libc::CLOCK_REALTIME)?.tv_sec;
        let t = sys::libc_time();
        let after = syscall_now(libc::CLOCK_REALTIME)?.tv_sec;
        ensure!(before - 1 <= t && t <= after, "{before} {t} {after}");
    }
    Ok(())
}

/// clock_gettime(2): EINVAL "The clockid specified is invalid" — through libc (the vDSO
/// hands unknown ids to the kernel) as through the syscall.
fn unknown_clock_through_libc_fails_einval_like_the_syscall() -> Outcome {
    let mut ts: libc::timespec = zeroed();
    check!(
        syscall!(libc::SYS_clock_gettime, 0x7fff, &raw mut ts),
        fails_with(Errno::EINVAL)
    );
    check!(
        sys::libc_clock_gettime(0x7fff, &mut ts),
        fails_with(Errno::EINVAL)
    );
    // The vDSO entry point itself returns the kernel's -EINVAL (what libcs expect of it).
    let f = vdso_fn("__vdso_clock_gettime")?;
    ensure_eq!(sys::call_vdso_clock(f, 0x7fff, &mut ts), -libc::EINVAL);
    Ok(())
}

/// A vDSO-served clock id and a trapped one (CLOCK_PROCESS_CPUTIME_ID is never in the
/// page) both work through the vDSO entry point.
fn vdso_clock_gettime_serves_cpu_clocks_through_the_kernel() -> Outcome {
    let f = vdso_fn("__vdso_clock_gettime")?;
    let mut ts: libc::timespec = zeroed();
    ensure_eq!(
        sys::call_vdso_clock(f, libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts),
        0
    );
    ensure!(valid(&ts), "{ts:?}");
    Ok(())
}

/// The /proc/self/maps lines of the vDSO and its data pages.
fn maps_lines() -> Result<Vec<String>, String> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    Ok(maps.lines().map(str::to_owned).collect())
}

fn line_start(line: &str) -> Option<usize> {
    usize::from_str_radix(line.split('-').next()?, 16).ok()
}

/// proc(5): "[vdso] The virtual dynamically linked shared object", at AT_SYSINFO_EHDR, with
/// its data pages "[vvar]" mapped read-only.
fn proc_maps_names_vdso_at_sysinfo_ehdr_and_vvar() -> Outcome {
    let (base, _) = image()?;
    let lines = maps_lines()?;
    let vdso = lines
        .iter()
        .find(|l| l.ends_with("[vdso]"))
        .ok_or("no [vdso] line")?;
    ensure_eq!(line_start(vdso), Some(base), "{vdso}");
    ensure!(vdso.contains(" r-xp "), "{vdso}");
    let vvar = lines
        .iter()
        .find(|l| l.ends_with("[vvar]"))
        .ok_or("no [vvar] line")?;
    ensure!(vvar.contains(" r--p "), "{vvar}");
    Ok(())
}

/// The time page has no write permission to grant: mprotect(2) EACCES.
fn mprotect_vvar_writable_fails_eacces() -> Outcome {
    fork_and_check(|| {
        let lines = maps_lines()?;
        let vvar = lines
            .iter()
            .find(|l| l.ends_with("[vvar]"))
            .ok_or("no [vvar] line")?;
        let start = line_start(vvar).ok_or("unparsable [vvar] line")?;
        check!(
            syscall!(
                libc::SYS_mprotect,
                start,
                4096usize,
                libc::PROT_READ | libc::PROT_WRITE
            ),
            fails_with(Errno::EACCES)
        );
        Ok(())
    })
}

/// fork(2) keeps the vDSO: the child reads the same CLOCK_MONOTONIC through it.
fn forked_child_reads_the_clock_through_the_vdso() -> Outcome {
    let f = vdso_fn("__vdso_clock_gettime")?;
    let before = nanos(&syscall_now(libc::CLOCK_MONOTONIC)?);
    fork_and_check(move || {
        let mut ts: libc::timespec = zeroed();
        ensure_eq!(sys::call_vdso_clock(f, libc::CLOCK_MONOTONIC, &mut ts), 0);
        ensure!(
            nanos(&ts) >= before,
            "{} before the parent's {before}",
            nanos(&ts)
        );
        check!(syscall!(libc::SYS_getpid), succeeds());
        Ok(())
    })
}

fn main() -> ExitCode {
    run_tests(tests![
        auxv_sysinfo_ehdr_is_the_linux_vdso_shared_object,
        vdso_exports_the_time_functions_as_linux_2_6,
        monotonic_through_libc_and_syscall_never_goes_back,
        monotonic_never_goes_back_for_a_second_and_a_half,
        vdso_clock_gettime_and_syscall_never_go_back,
        coarse_monotonic_through_libc_never_passes_the_fine_clock,
        realtime_through_libc_agrees_with_the_syscall,
        clock_getres_through_libc_matches_the_syscall,
        gettimeofday_through_libc_lies_between_two_realtime_readings,
        time_through_libc_agrees_with_realtime,
        unknown_clock_through_libc_fails_einval_like_the_syscall,
        vdso_clock_gettime_serves_cpu_clocks_through_the_kernel,
        proc_maps_names_vdso_at_sysinfo_ehdr_and_vvar,
        mprotect_vvar_writable_fails_eacces,
        forked_child_reads_the_clock_through_the_vdso,
    ])
}
