//! Reading the CPU's time-stamp counter, and deciding whether it can be a clock.
//!
//! This is the sentry's one use of `unsafe` for time: `_rdtsc` and `_mm_lfence` are `unsafe`
//! intrinsics in `core::arch` although they have no memory-safety preconditions.
#![allow(unsafe_code)]

/// The TSC, read after every earlier instruction has completed (LFENCE; RDTSC). The vDSO's
/// `rdtsc_ordered` uses RDTSCP, which orders the read the same way after earlier loads;
/// here the portable form, so this never faults even where [`usable`] says no.
#[cfg(target_arch = "x86_64")]
pub fn read() -> u64 {
    // SAFETY: `_mm_lfence` requires SSE2, which every x86-64 CPU has (it is in the x86-64
    // baseline the target is compiled for); `_rdtsc` requires only that RDTSC does not fault
    // in user mode, i.e. CR4.TSD is clear for this process — Linux sets it only after
    // prctl(PR_SET_TSC, PR_TSC_SIGSEGV), which the sentry never calls. Neither touches memory.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// No TSC on other architectures: [`usable`] is false there, so this is never the clock.
#[cfg(not(target_arch = "x86_64"))]
pub fn read() -> u64 {
    0
}

/// Whether the host's TSC can serve as the sandbox's clock: it must tick at a constant rate
/// whatever the CPU frequency (`constant_tsc`) and keep ticking in idle states
/// (`nonstop_tsc`), the two flags Linux derives from CPUID's invariant-TSC bit, and the CPU
/// must have RDTSCP (`rdtscp`), which the vDSO reads it with. `cpuinfo` is the text of
/// /proc/cpuinfo; when it is unreadable (`None`) the CPUID bits themselves decide.
pub fn usable(cpuinfo: Option<&str>) -> bool {
    match cpuinfo {
        Some(text) => flags_say_usable(text),
        None => cpuid_says_usable(),
    }
}

/// The `flags` line of the first CPU in /proc/cpuinfo names `constant_tsc`, `nonstop_tsc`
/// and `rdtscp`.
pub fn flags_say_usable(cpuinfo: &str) -> bool {
    let Some(line) = cpuinfo.lines().find(|l| l.starts_with("flags")) else {
        return false;
    };
    let flags: Vec<&str> = line.split_whitespace().collect();
    ["constant_tsc", "nonstop_tsc", "rdtscp"]
        .iter()
        .all(|f| flags.contains(f))
}

/// CPUID leaf 0x8000_0007, EDX bit 8 ("invariant TSC"), and leaf 0x8000_0001, EDX bit 27
/// (RDTSCP).
fn cpuid_says_usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        let max = __cpuid(0x8000_0000).eax;
        max >= 0x8000_0007
            && __cpuid(0x8000_0007).edx & (1 << 8) != 0
            && __cpuid(0x8000_0001).edx & (1 << 27) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_needed() {
        let all = "processor\t: 0\nflags\t\t: fpu tsc rdtscp constant_tsc rep_good nonstop_tsc\n";
        let no_nonstop = "processor\t: 0\nflags\t\t: fpu tsc rdtscp constant_tsc rep_good\n";
        let no_rdtscp = "processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc\n";
        assert!(flags_say_usable(all));
        assert!(!flags_say_usable(no_nonstop));
        assert!(!flags_say_usable(no_rdtscp));
        assert!(!flags_say_usable("no flags here\n"));
    }

    #[test]
    fn the_tsc_advances() {
        let a = read();
        let b = read();
        assert!(b >= a);
    }
}
