//! The arithmetic of the sandbox's clocks: what the time page holds ([`ClockParams`]), the
//! one formula that turns a TSC value into a clock reading ([`ClockParams::clock_ns`]), and
//! how the keeper moves the parameters without ever making CLOCK_MONOTONIC go back
//! ([`ClockParams::rebased`], [`steer`]). Pure: no host access, so every rule here is unit
//! tested with synthetic TSC values.
//!
//! The formula (the vDSO's `read_clock` in sentry/vdso/vdso.c is the same, line for line):
//!
//! ```text
//! monotonic_ns = (base_sns + max(tsc - base_tsc, 0) * mult) >> shift      (128-bit)
//! clock_ns     = monotonic_ns + offset(clock)                             (wrapping u64)
//! coarse_ns    = clock_ns - clock_ns % COARSE_NS
//! ```
//!
//! `base_sns` is CLOCK_MONOTONIC at `base_tsc` in nanoseconds shifted left by `shift` (it
//! keeps the fraction of a nanosecond), and `mult` is nanoseconds per TSC tick, shifted the
//! same way. Moving the base to a later TSC value with the old formula's exact shifted value
//! ([`ClockParams::rebased`]) makes the new parameters agree with the old ones at that point to
//! the last bit, whatever the new `mult`; both are non-decreasing in the TSC, so a reader that
//! used the old set before the switch point and one that uses the new set after it never see
//! time go back. The keeper reads the switch point's TSC after it has made the sequence word odd, so
//! readers that finished with the old set took their TSC before it.
//!
//! Rates: `mult` is the host's measured rate ([`rate_mult`]) corrected to close the
//! difference with host CLOCK_MONOTONIC over [`HORIZON_NS`], never by more than
//! [`MAX_SLEW_PPM`]; a guest clock behind by more than [`STEP_NS`] jumps forward instead
//! ([`steer`]). It never jumps back.

use abi::time as tm;

/// Fixed-point shift of `mult` and `base_sns`: 32 bits of fraction, so one step of `mult` is
/// below a part per billion of any TSC rate from 10 MHz to 10 GHz.
pub const SHIFT: u32 = 32;
/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Resolution of the `_COARSE` clocks: one tick at CONFIG_HZ=250 (what clock_getres reports).
pub const COARSE_NS: u64 = 4_000_000;
/// Largest rate correction: 500 ppm, adjtime(3)'s slew limit. The guest clock's rate stays
/// within this of the host's measured rate.
pub const MAX_SLEW_PPM: u64 = 500;
/// The correction aims to cancel the guest-host difference over this much time.
pub const HORIZON_NS: u64 = 2 * NANOS_PER_SEC;
/// A guest clock behind the host by more than this (1 ms) is stepped forward to it instead
/// of slewed (it can only be far behind after the TSC misbehaved, e.g. a VM migration). A
/// clock ahead is always slewed: CLOCK_MONOTONIC never steps back.
pub const STEP_NS: u64 = 1_000_000;

/// The clocks the time page answers (the vDSO's `is_page_clock`). The others (CPU clocks,
/// CLOCK_MONOTONIC_RAW, CLOCK_TAI, the alarm ids) go to the syscall; the sentry serves the
/// alarm ids from their base clocks here too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageClock {
    Realtime,
    Monotonic,
    RealtimeCoarse,
    MonotonicCoarse,
    Boottime,
}

impl PageClock {
    /// The page clock behind clock id `id`, as the sentry serves it: the vDSO's five, plus
    /// CLOCK_REALTIME_ALARM and CLOCK_BOOTTIME_ALARM, which read like their base clocks
    /// (clock_gettime(2)).
    pub fn for_sentry(id: i32) -> Option<PageClock> {
        match id {
            tm::CLOCK_REALTIME | tm::CLOCK_REALTIME_ALARM => Some(PageClock::Realtime),
            tm::CLOCK_MONOTONIC => Some(PageClock::Monotonic),
            tm::CLOCK_REALTIME_COARSE => Some(PageClock::RealtimeCoarse),
            tm::CLOCK_MONOTONIC_COARSE => Some(PageClock::MonotonicCoarse),
            tm::CLOCK_BOOTTIME | tm::CLOCK_BOOTTIME_ALARM => Some(PageClock::Boottime),
            _ => None,
        }
    }

    /// Whether readings are truncated to [`COARSE_NS`].
    pub fn is_coarse(self) -> bool {
        matches!(self, PageClock::RealtimeCoarse | PageClock::MonotonicCoarse)
    }
}

/// Truncates a reading to the coarse clocks' resolution (coarse ≤ fine < coarse + tick, as
/// on Linux, where a coarse clock is the time of the last tick).
pub fn coarsen(ns: u64) -> u64 {
    ns - ns % COARSE_NS
}

/// One observation of the host: the TSC and host CLOCK_MONOTONIC at (nearly) the same
/// instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub tsc: u64,
    pub mono_ns: u64,
}

/// The parameters of the TSC-based clocks (what the time page publishes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockParams {
    /// TSC value at the base point.
    pub base_tsc: u64,
    /// CLOCK_MONOTONIC at the base point, in nanoseconds << `shift`.
    pub base_sns: u128,
    /// Nanoseconds per TSC tick << `shift`.
    pub mult: u64,
    pub shift: u32,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC in nanoseconds (two's complement, added wrapping).
    pub realtime_offset: u64,
    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC in nanoseconds (time the host spent suspended).
    pub boottime_offset: u64,
}

impl ClockParams {
    /// Parameters that read `at.mono_ns` at `at.tsc` and advance `mult` per tick from there.
    pub fn starting_at(at: Sample, mult: u64, realtime_offset: u64, boottime_offset: u64) -> Self {
        ClockParams {
            base_tsc: at.tsc,
            base_sns: u128::from(at.mono_ns) << SHIFT,
            mult,
            shift: SHIFT,
            realtime_offset,
            boottime_offset,
        }
    }

    /// CLOCK_MONOTONIC at `tsc`, in nanoseconds << `shift`. A TSC value before the base point
    /// (another CPU's TSC a hair behind) reads as the base point: never earlier.
    pub fn monotonic_sns(&self, tsc: u64) -> u128 {
        let delta = tsc.saturating_sub(self.base_tsc);
        // Wrapping, as the vDSO's 128-bit add does; no realistic value comes near 2^128.
        self.base_sns
            .wrapping_add(u128::from(delta).wrapping_mul(u128::from(self.mult)))
    }

    /// CLOCK_MONOTONIC at `tsc`, in nanoseconds.
    pub fn monotonic_ns(&self, tsc: u64) -> u64 {
        #[allow(clippy::cast_possible_truncation)] // deliberate: the vDSO's `(u64)` cast
        let ns = (self.monotonic_sns(tsc) >> (self.shift & 127)) as u64;
        ns
    }

    /// The reading of `clock` at `tsc`, in nanoseconds: the one formula of the module doc.
    pub fn clock_ns(&self, clock: PageClock, tsc: u64) -> u64 {
        let offset = match clock {
            PageClock::Realtime | PageClock::RealtimeCoarse => self.realtime_offset,
            PageClock::Boottime => self.boottime_offset,
            PageClock::Monotonic | PageClock::MonotonicCoarse => 0,
        };
        let ns = self.monotonic_ns(tsc).wrapping_add(offset);
        if clock.is_coarse() { coarsen(ns) } else { ns }
    }

    /// The same clock with its base moved to `tsc` and advancing at `mult` from there: equal
    /// to `self` at `tsc` exactly (shifted nanoseconds included), so a switch never makes
    /// CLOCK_MONOTONIC jump.
    pub fn rebased(&self, tsc: u64, mult: u64) -> Self {
        ClockParams {
            base_tsc: tsc.max(self.base_tsc),
            base_sns: self.monotonic_sns(tsc),
            mult,
            ..*self
        }
    }

    /// Guest CLOCK_MONOTONIC minus host CLOCK_MONOTONIC at the sample, in nanoseconds
    /// (positive: the guest clock is ahead).
    pub fn error_ns(&self, s: Sample) -> i128 {
        let guest = self.monotonic_sns(s.tsc).cast_signed();
        let host = (i128::from(s.mono_ns)) << SHIFT;
        (guest - host) >> SHIFT
    }
}

/// The host's rate between two samples as a `mult`: nanoseconds per tick << [`SHIFT`]. None
/// if time or the TSC did not advance, or the rate is outside 1 MHz..100 GHz (not a TSC).
pub fn rate_mult(old: Sample, new: Sample) -> Option<u64> {
    let ticks = new.tsc.checked_sub(old.tsc).filter(|t| *t > 0)?;
    let ns = new.mono_ns.checked_sub(old.mono_ns).filter(|n| *n > 0)?;
    let mult = (u128::from(ns) << SHIFT) / u128::from(ticks);
    // 1 MHz: 1000 ns per tick; 100 GHz: 0.01 ns per tick.
    let (lo, hi) = ((1u128 << SHIFT) / 100, 1000u128 << SHIFT);
    if !(lo..=hi).contains(&mult) {
        return None;
    }
    u64::try_from(mult).ok()
}

/// What the keeper does with a fresh host observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steer {
    /// Keep the clock continuous and run at `mult` from the switch point.
    Slew { mult: u64 },
    /// The guest clock is far behind: jump forward to the host's clock, extrapolated from
    /// `to`, and run at `mult`.
    StepForward { to: Sample, mult: u64 },
}

/// Decides how to follow the host, given the current parameters, a fresh observation and
/// the host's measured rate (`rate`, a [`rate_mult`]): the rate, corrected so that the
/// difference would vanish over [`HORIZON_NS`], clamped to ±[`MAX_SLEW_PPM`]; or a step
/// forward when the guest is behind by more than [`STEP_NS`].
pub fn steer(cur: &ClockParams, observed: Sample, rate: u64) -> Steer {
    let err = cur.error_ns(observed);
    if err < -i128::from(STEP_NS) {
        return Steer::StepForward {
            to: observed,
            mult: rate,
        };
    }
    let rate_i = i128::from(rate);
    let wanted = rate_i * err / i128::from(HORIZON_NS);
    let limit = rate_i * i128::from(MAX_SLEW_PPM) / 1_000_000;
    let mult = rate_i - wanted.clamp(-limit, limit);
    Steer::Slew {
        mult: u64::try_from(mult).unwrap_or(rate),
    }
}

impl Steer {
    /// The new parameters, switching at TSC value `now_tsc` (read by the keeper once readers
    /// can no longer start with the old set). Never earlier than `cur` at `now_tsc`.
    pub fn apply(self, cur: &ClockParams, now_tsc: u64) -> ClockParams {
        match self {
            Steer::Slew { mult } => cur.rebased(now_tsc, mult),
            Steer::StepForward { to, mult } => {
                let host = ClockParams::starting_at(to, mult, 0, 0).monotonic_sns(now_tsc);
                let next = cur.rebased(now_tsc, mult);
                ClockParams {
                    base_sns: next.base_sns.max(host),
                    ..next
                }
            }
        }
    }
}

/// The offset to publish for a clock that is CLOCK_MONOTONIC plus a constant on the host
/// (REALTIME, BOOTTIME): the measured one if it moved by more than `tolerance_ns` (the host
/// stepped its clock, or came back from suspend), else the published one, so measurement
/// noise never makes CLOCK_REALTIME wobble.
pub fn follow_offset(published: u64, measured: u64, tolerance_ns: u64) -> u64 {
    let diff = measured
        .wrapping_sub(published)
        .cast_signed()
        .unsigned_abs();
    if diff > tolerance_ns {
        measured
    } else {
        published
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 GHz TSC: 1/3 ns per tick.
    const GHZ3: u64 = ((1u128 << SHIFT) / 3) as u64;

    fn params() -> ClockParams {
        ClockParams::starting_at(
            Sample {
                tsc: 1_000_000,
                mono_ns: 5 * NANOS_PER_SEC,
            },
            GHZ3,
            1_700_000_000 * NANOS_PER_SEC,
            7,
        )
    }

    #[test]
    fn reading_at_base_is_the_base_and_advances_at_the_rate() {
        let p = params();
        assert_eq!(p.monotonic_ns(1_000_000), 5 * NANOS_PER_SEC);
        // 3e9 ticks at 3 GHz: one second (minus the fixed-point truncation of 1/3).
        let one_sec = p.monotonic_ns(1_000_000 + 3_000_000_000) - 5 * NANOS_PER_SEC;
        assert!(
            (NANOS_PER_SEC - 1..=NANOS_PER_SEC).contains(&one_sec),
            "{one_sec}"
        );
    }

    #[test]
    fn tsc_before_the_base_reads_as_the_base() {
        let p = params();
        assert_eq!(p.monotonic_ns(0), p.monotonic_ns(1_000_000));
    }

    #[test]
    fn realtime_and_boottime_add_their_offsets() {
        let p = params();
        let m = p.clock_ns(PageClock::Monotonic, 2_000_000);
        assert_eq!(
            p.clock_ns(PageClock::Realtime, 2_000_000),
            m + 1_700_000_000 * NANOS_PER_SEC
        );
        assert_eq!(p.clock_ns(PageClock::Boottime, 2_000_000), m + 7);
    }

    #[test]
    fn coarse_clocks_truncate_to_the_tick_and_never_pass_the_fine_clock() {
        let p = params();
        for tsc in [1_000_000u64, 7_777_777, 123_456_789_012] {
            let fine = p.clock_ns(PageClock::Monotonic, tsc);
            let coarse = p.clock_ns(PageClock::MonotonicCoarse, tsc);
            assert_eq!(coarse % COARSE_NS, 0);
            assert!(coarse <= fine && fine - coarse < COARSE_NS);
        }
    }

    #[test]
    fn a_huge_tsc_distance_does_not_overflow() {
        let p = params();
        // 2^63 ticks at 3 GHz is about 97 years.
        let ns = p.monotonic_ns(1 << 63);
        assert!(ns > 97 * 365 * 86_400 * NANOS_PER_SEC);
    }

    #[test]
    fn rebase_is_exactly_continuous_at_the_switch_point() {
        let p = params();
        for (tsc, mult) in [(1_000_001u64, GHZ3 + 1), (9_999_999_999, GHZ3 - 12_345)] {
            let q = p.rebased(tsc, mult);
            assert_eq!(q.monotonic_sns(tsc), p.monotonic_sns(tsc));
            assert_eq!(q.monotonic_ns(tsc), p.monotonic_ns(tsc));
        }
    }

    #[test]
    fn readings_never_go_back_across_many_updates() {
        // Alternate faster and slower rates; every reading taken after a switch with the new
        // parameters is at least every reading taken before it with the old ones.
        let mut p = params();
        let mut tsc = 1_000_000u64;
        let mut last = p.monotonic_ns(tsc);
        for i in 0..1000u64 {
            let mult = if i % 2 == 0 {
                GHZ3 + GHZ3 / 2000
            } else {
                GHZ3 - GHZ3 / 2000
            };
            for _ in 0..10 {
                tsc += 3_000_037;
                let now = p.monotonic_ns(tsc);
                assert!(now >= last, "went back at update {i}");
                last = now;
            }
            p = p.rebased(tsc, mult);
            assert!(p.monotonic_ns(tsc) >= last);
        }
    }

    #[test]
    fn rate_of_two_samples_is_ns_per_tick() {
        let a = Sample { tsc: 0, mono_ns: 0 };
        let b = Sample {
            tsc: 3_000_000_000,
            mono_ns: NANOS_PER_SEC,
        };
        assert_eq!(rate_mult(a, b), Some(GHZ3));
        assert_eq!(rate_mult(b, a), None, "time went back");
        assert_eq!(rate_mult(a, a), None, "no time passed");
        let not_a_tsc = Sample {
            tsc: 10,
            mono_ns: NANOS_PER_SEC,
        };
        assert_eq!(rate_mult(a, not_a_tsc), None);
    }

    #[test]
    fn small_error_is_slewed_toward_the_host() {
        let p = params();
        let at = 1_000_000 + 3_000_000_000;
        let guest = p.monotonic_ns(at);
        // Host 10 µs behind the guest: slow down, by 10 µs / 2 s = 5 ppm.
        let host = Sample {
            tsc: at,
            mono_ns: guest - 10_000,
        };
        let Steer::Slew { mult } = steer(&p, host, GHZ3) else {
            panic!("expected a slew");
        };
        let ppm = (GHZ3 - mult) as f64 / GHZ3 as f64 * 1e6;
        assert!((4.9..5.1).contains(&ppm), "{ppm} ppm");
    }

    #[test]
    fn slew_is_clamped_to_max_slew() {
        let p = params();
        let at = 1_000_000 + 3_000_000_000;
        let guest = p.monotonic_ns(at);
        // Guest 500 ms ahead: slowing by 250000 ppm would be wanted; 500 ppm is the limit.
        let host = Sample {
            tsc: at,
            mono_ns: guest - 500_000_000,
        };
        let Steer::Slew { mult } = steer(&p, host, GHZ3) else {
            panic!("expected a slew");
        };
        assert_eq!(GHZ3 - mult, GHZ3 * MAX_SLEW_PPM / 1_000_000);
    }

    #[test]
    fn far_behind_steps_forward_to_the_host_never_back() {
        let p = params();
        let at = 1_000_000 + 3_000_000_000;
        let guest = p.monotonic_ns(at);
        let host = Sample {
            tsc: at,
            mono_ns: guest + 2 * STEP_NS,
        };
        let s = steer(&p, host, GHZ3);
        assert!(matches!(s, Steer::StepForward { .. }));
        let q = s.apply(&p, at + 300);
        assert!(q.monotonic_ns(at + 300) >= guest + 2 * STEP_NS);
        assert!(q.monotonic_ns(at + 300) >= p.monotonic_ns(at + 300));
    }

    #[test]
    fn steering_converges_on_a_host_running_slightly_fast() {
        // The host runs 20 ppm faster than the first rate estimate; updates every second
        // with the true rate measured must bring the difference under a microsecond.
        let true_mult = GHZ3 + GHZ3 / 50_000;
        let host_at = |tsc: u64| Sample {
            tsc,
            mono_ns: ClockParams::starting_at(
                Sample {
                    tsc: 1_000_000,
                    mono_ns: 5 * NANOS_PER_SEC,
                },
                true_mult,
                0,
                0,
            )
            .monotonic_ns(tsc),
        };
        let mut p = params();
        let mut tsc = 1_000_000u64;
        let mut last = 0;
        for _ in 0..20 {
            tsc += 3_000_000_000;
            let now = p.monotonic_ns(tsc);
            assert!(now >= last);
            last = now;
            p = steer(&p, host_at(tsc), true_mult).apply(&p, tsc);
        }
        assert!(
            p.error_ns(host_at(tsc)).abs() < 1_000,
            "{}",
            p.error_ns(host_at(tsc))
        );
    }

    #[test]
    fn offsets_follow_steps_but_not_noise() {
        assert_eq!(follow_offset(1_000_000, 1_000_050, 1_000), 1_000_000);
        assert_eq!(follow_offset(1_000_000, 999_950, 1_000), 1_000_000);
        assert_eq!(follow_offset(1_000_000, 3_000_000, 1_000), 3_000_000);
        // A step back of the host's wall clock is followed too.
        assert_eq!(follow_offset(5_000_000, 2_000_000, 1_000), 2_000_000);
    }

    #[test]
    fn sentry_serves_alarm_ids_from_their_base_clocks() {
        assert_eq!(
            PageClock::for_sentry(tm::CLOCK_REALTIME_ALARM),
            Some(PageClock::Realtime)
        );
        assert_eq!(
            PageClock::for_sentry(tm::CLOCK_BOOTTIME_ALARM),
            Some(PageClock::Boottime)
        );
        assert_eq!(PageClock::for_sentry(tm::CLOCK_MONOTONIC_RAW), None);
        assert_eq!(PageClock::for_sentry(tm::CLOCK_PROCESS_CPUTIME_ID), None);
    }
}
