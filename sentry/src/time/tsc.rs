//! Reading the CPU's time-stamp counter, and deciding whether it can be a clock.
//!
//! This is the sentry's one use of `unsafe` for time: `_rdtsc` and `_mm_lfence` are `unsafe`
//! intrinsics in `core::arch` although they have no memory-safety preconditions.
#![allow(unsafe_code)]

/// The TSC, read after every earlier instruction has completed (LFENCE; RDTSC), like the
/// vDSO's `rdtsc_ordered`.
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
/// (`nonstop_tsc`), the two flags Linux derives from CPUID's invariant-TSC bit. `cpuinfo` is
/// the text of /proc/cpuinfo; when it is unreadable (`None`) the CPUID bit itself decides.
pub fn usable(cpuinfo: Option<&str>) -> bool {
    match cpuinfo {
        Some(text) => flags_say_usable(text),
        None => cpuid_invariant_tsc(),
    }
}

/// The `flags` line of the first CPU in /proc/cpuinfo names both `constant_tsc` and
/// `nonstop_tsc`.
pub fn flags_say_usable(cpuinfo: &str) -> bool {
    let Some(line) = cpuinfo.lines().find(|l| l.starts_with("flags")) else {
        return false;
    };
    let flags: Vec<&str> = line.split_whitespace().collect();
    flags.contains(&"constant_tsc") && flags.contains(&"nonstop_tsc")
}

/// CPUID leaf 0x8000_0007, EDX bit 8: "invariant TSC".
fn cpuid_invariant_tsc() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let max = core::arch::x86_64::__cpuid(0x8000_0000).eax;
        max >= 0x8000_0007 && core::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0
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
    fn both_flags_are_needed() {
        let both = "processor\t: 0\nflags\t\t: fpu tsc constant_tsc rep_good nonstop_tsc\n";
        let one = "processor\t: 0\nflags\t\t: fpu tsc constant_tsc rep_good\n";
        assert!(flags_say_usable(both));
        assert!(!flags_say_usable(one));
        assert!(!flags_say_usable("no flags here\n"));
    }

    #[test]
    fn the_tsc_advances() {
        let a = read();
        let b = read();
        assert!(b >= a);
    }
}
