//! The sandbox's clocks: one time source for the vDSO and the sentry.
//!
//! Key types: [`Clocks`] (one per kernel: the published parameters, the time page writer and
//! the keeper thread), [`PageClock`] (the clocks the time page serves). Neighbours: `params`
//! (the arithmetic, pure), `vvar` (the page layout and its seqlock writer), `tsc` (reading the
//! TSC), `loader::vdso` (the image that reads the page), and the time syscalls
//! (`syscalls/time.rs`), which read [`Clocks::now`] — the same function the vDSO computes.
//!
//! # The time source rule
//!
//! CLOCK_MONOTONIC, CLOCK_REALTIME and CLOCK_BOOTTIME (and the `_COARSE` variants, and
//! gettimeofday(2) and time(2) from REALTIME) have one definition in the sandbox: the formula
//! of `params` over the parameters last published here. The vDSO evaluates it in the
//! application; every sentry path that reports those clocks to the application calls
//! [`Clocks::now`] / [`Clocks::now_ns`], which evaluates it with the same parameters. Mixing
//! the two therefore never makes CLOCK_MONOTONIC go back.
//!
//! Before the TSC is calibrated, and forever if the host's TSC is not invariant
//! (`tsc::usable`), there are no parameters: the page says "disabled", the vDSO makes the
//! syscall, and [`Clocks::now`] reads the host's clocks directly (the `_COARSE` clocks
//! truncated to [`params::COARSE_NS`] from the fine ones, exactly as in TSC mode, so the
//! switch cannot make them go back either). The switch to the TSC happens once and starts
//! from the host's clock read after every host-mode reading has finished (they run under the
//! same lock), so it is continuous too.
//!
//! Calibration happens when init starts (at least [`CALIBRATION`] after the kernel was
//! created, so init's first instruction already has the vDSO's fast path); then the keeper
//! (a thread per sandbox, started with the timer thread) samples the host every
//! [`UPDATE_INTERVAL`]: TSC against host CLOCK_MONOTONIC (the rate over the last [`RATE_WINDOW`] samples,
//! and the current difference, which `params::steer` corrects gradually: at most 500 ppm,
//! never a step back), and the host's REALTIME−MONOTONIC and BOOTTIME−MONOTONIC offsets,
//! followed when they move by more than [`OFFSET_TOLERANCE_NS`] (host clock steps, suspend).
//!
//! Lock order: `Clocks::keeper` (the keeper's state; one update at a time) → `Clocks::params`
//! (written only inside an update) → the time page's sequence word (atomic, no lock). Readers
//! take `params` shared and nothing else.
//!
//! # Timers and sleeps run on the host's clock
//!
//! Deadlines (nanosleep, timerfd, POSIX timers, futex and poll timeouts) stay host
//! `Instant`s. The guest CLOCK_MONOTONIC tracks the host's: their difference is corrected
//! toward zero every second (a few microseconds at most in steady state, bounded by
//! `params::STEP_NS` after which the guest steps forward), and their rates differ by at most
//! `params::MAX_SLEW_PPM`. An absolute deadline given in guest time is converted with
//! [`Clocks::now`] (so "sleep until guest time T" waits T − now on the host), and
//! clock_nanosleep(TIMER_ABSTIME) re-checks the guest clock when the host deadline passes, so it
//! never returns before the guest clock reaches T. Relative sleeps measured with the guest
//! clock can come out short by at most `MAX_SLEW_PPM` of their length (0.5 µs per ms), and
//! only while a correction is running.

pub mod params;
pub(crate) mod tsc;
pub mod vvar;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use abi::time::Timespec;
use nix::time::{ClockId, clock_gettime};

pub use params::PageClock;
use params::{ClockParams, NANOS_PER_SEC, Sample, coarsen};
use vvar::{Vvar, VvarPage};

use crate::loader::vdso::SpecialPages;

/// The shortest span of the first TSC rate estimate: the kernel's first sample is taken when
/// it is created, the second when init starts, at least this much later (each later update
/// measures the rate over a longer span). A 50 ns sampling error over 5 ms is 10 ppm, which
/// the first update, a second later, corrects.
pub const CALIBRATION: Duration = Duration::from_millis(5);
/// How often the keeper samples the host.
pub const UPDATE_INTERVAL: Duration = Duration::from_secs(1);
/// Samples the rate estimate spans (the oldest to the newest): about 16 s.
pub const RATE_WINDOW: usize = 16;
/// A host REALTIME/BOOTTIME offset change smaller than this is measurement noise.
pub const OFFSET_TOLERANCE_NS: u64 = 1_000;
/// Tries per host sample; the narrowest TSC (or clock) bracket wins.
const SAMPLE_TRIES: usize = 8;
/// A host offset measurement whose bracket is wider than this (the thread was preempted in
/// the middle) is discarded.
const OFFSET_MAX_BRACKET_NS: u64 = 20_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the keeper knows (touched by the keeper and by `Clocks::new` only).
#[derive(Debug)]
struct Keeper {
    /// Whether the host's TSC may be used at all.
    tsc_usable: bool,
    /// Host observations, oldest first, at most `RATE_WINDOW`.
    samples: VecDeque<Sample>,
}

/// Keeper thread control.
#[derive(Debug, Default)]
struct Run {
    started: bool,
    stopping: bool,
}

/// The sandbox's clocks. See the module documentation.
#[derive(Debug)]
pub struct Clocks {
    /// The published parameters; `None` while the host's clocks are read directly. Readers
    /// hold it shared across their TSC read (or host clock read), the keeper exclusively
    /// across a switch, so no reader combines a TSC value taken after a switch point with the
    /// parameters before it.
    params: RwLock<Option<ClockParams>>,
    /// The time page the vDSO reads, if the sandbox has a vDSO.
    page: Option<VvarPage>,
    keeper: Mutex<Keeper>,
    run: Mutex<Run>,
    run_cv: Condvar,
    /// When the first sample was taken (the calibration deadline counts from it).
    created: Instant,
}

impl Clocks {
    /// Clocks publishing to `page` (the vDSO's time page), starting in host mode; the first
    /// calibration sample is taken now. `tsc_usable` is `tsc::usable`'s verdict.
    pub fn new(page: Option<Arc<SpecialPages>>, tsc_usable: bool) -> Clocks {
        let mut samples = VecDeque::new();
        if tsc_usable && let Some(s) = sample_host() {
            samples.push_back(s);
        }
        let clocks = Clocks {
            params: RwLock::new(None),
            page: page.map(VvarPage::new),
            keeper: Mutex::new(Keeper {
                tsc_usable,
                samples,
            }),
            run: Mutex::new(Run::default()),
            run_cv: Condvar::new(),
            created: Instant::now(),
        };
        if let Some(p) = &clocks.page {
            p.publish(&Vvar::of(None));
        }
        clocks
    }

    /// Clocks for this host: the TSC is used if /proc/cpuinfo (or CPUID) says it is invariant.
    pub fn for_host(page: Option<Arc<SpecialPages>>) -> Clocks {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
        let usable = tsc::usable(cpuinfo.as_deref());
        if !usable {
            tracing::info!(target: "sentry::time",
                "the host TSC is not invariant: the vDSO will make clock syscalls");
        }
        Clocks::new(page, usable)
    }

    // ---------------------------------------------------------------------------------------
    // Reading

    /// The current reading of `clock` in nanoseconds: THE function (module doc), also what
    /// the vDSO computes.
    pub fn now_ns(&self, clock: PageClock) -> u64 {
        let params = self.params.read().unwrap_or_else(PoisonError::into_inner);
        match &*params {
            Some(p) => p.clock_ns(clock, tsc::read()),
            None => host_clock_ns(clock),
        }
    }

    /// [`now_ns`](Self::now_ns) as a `timespec`.
    pub fn now(&self, clock: PageClock) -> Timespec {
        timespec_of(self.now_ns(clock))
    }

    /// [`now_ns`](Self::now_ns) as a `Duration` since the clock's epoch (for deadline
    /// arithmetic).
    pub fn now_duration(&self, clock: PageClock) -> Duration {
        Duration::from_nanos(self.now_ns(clock))
    }

    /// The published parameters (`None`: host mode), for tests and diagnostics.
    pub fn params(&self) -> Option<ClockParams> {
        *self.params.read().unwrap_or_else(PoisonError::into_inner)
    }

    // ---------------------------------------------------------------------------------------
    // Keeping

    /// One keeper step: sample the host and publish new parameters (the first time: switch
    /// from the host's clocks to the TSC). Does nothing if the TSC is not usable or the
    /// sample is unusable; the next step tries again.
    pub fn update(&self) {
        let mut k = lock(&self.keeper);
        if !k.tsc_usable {
            return;
        }
        let Some(s) = sample_host() else {
            return;
        };
        let rate = k.samples.front().and_then(|old| params::rate_mult(*old, s));
        k.samples.push_back(s);
        while k.samples.len() > RATE_WINDOW {
            k.samples.pop_front();
        }
        let Some(rate) = rate else {
            tracing::debug!(target: "sentry::time", ?s, "no usable TSC rate yet");
            return;
        };
        let rt = measure_offset(ClockId::CLOCK_REALTIME);
        let bt = measure_offset(ClockId::CLOCK_BOOTTIME);

        let mut published = self.params.write().unwrap_or_else(PoisonError::into_inner);
        let cur = *published;
        let new = self.switch(|| match cur {
            None => {
                // First calibration: start from the host's clock read now, after every
                // host-mode reader (they hold the lock we hold exclusively) has finished.
                let tsc = tsc::read();
                let mono = host_ns(ClockId::CLOCK_MONOTONIC)?;
                Some(ClockParams::starting_at(
                    Sample { tsc, mono_ns: mono },
                    rate,
                    rt?,
                    bt?,
                ))
            }
            Some(cur) => {
                let steer = params::steer(&cur, s, rate);
                let mut p = steer.apply(&cur, tsc::read());
                if let Some(rt) = rt {
                    p.realtime_offset =
                        params::follow_offset(cur.realtime_offset, rt, OFFSET_TOLERANCE_NS);
                }
                if let Some(bt) = bt {
                    p.boottime_offset =
                        params::follow_offset(cur.boottime_offset, bt, OFFSET_TOLERANCE_NS);
                }
                Some(p)
            }
        });
        if new.is_some() {
            *published = new;
        }
        drop(published);
        // Logged outside the switch: vDSO readers wait for it on the parameters' lock.
        match (cur, new) {
            (None, Some(_)) => tracing::info!(target: "sentry::time",
                tsc_mhz = (1u128 << params::SHIFT) * 1000 / u128::from(rate.max(1)),
                "clocks run on the TSC; the vDSO reads them without trapping"),
            (Some(c), Some(n)) => tracing::trace!(target: "sentry::time",
                error_ns = %c.error_ns(s), mult = n.mult, "clock update"),
            _ => {}
        }
    }

    /// Publishes what `compute` returns (if anything) to the time page under its seqlock.
    /// `compute` runs after the page is marked as being written, so the TSC value it reads
    /// for the switch point is later than any a vDSO reader with the old parameters used.
    fn switch(&self, compute: impl FnOnce() -> Option<ClockParams>) -> Option<ClockParams> {
        match &self.page {
            None => compute(),
            Some(page) => {
                let mut out = None;
                page.publish_with(|| {
                    out = compute();
                    out.as_ref().map(|p| Vvar::of(Some(p)))
                });
                out
            }
        }
    }

    /// Calibrates now (waiting until [`CALIBRATION`] has passed since the clocks were
    /// created, if it has not), so that the first instruction of init already reads the
    /// clocks without trapping, then starts the keeper thread (once). Without a usable TSC
    /// there is nothing to keep.
    pub fn start(self: &Arc<Self>) {
        if !lock(&self.keeper).tsc_usable {
            return;
        }
        if self.params().is_none() {
            let wait = (self.created + CALIBRATION).saturating_duration_since(Instant::now());
            tracing::debug!(target: "sentry::time", ?wait, "calibrating the TSC");
            std::thread::sleep(wait);
            self.update();
        }
        {
            let mut r = lock(&self.run);
            if r.started {
                return;
            }
            r.started = true;
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("clocks".into())
            .spawn(move || me.keep());
        if let Err(e) = spawned {
            tracing::error!(target: "sentry::time", %e,
                "starting the clock keeper failed: the vDSO will make clock syscalls");
        }
    }

    /// Stops the keeper thread (sandbox shutdown).
    pub fn stop(&self) {
        lock(&self.run).stopping = true;
        self.run_cv.notify_all();
    }

    fn keep(&self) {
        // `start` calibrated already (if that sample was unusable, this retries soon).
        let mut next = if self.params().is_some() {
            Instant::now() + UPDATE_INTERVAL
        } else {
            Instant::now() + CALIBRATION
        };
        loop {
            {
                let mut r = lock(&self.run);
                loop {
                    if r.stopping {
                        return;
                    }
                    let now = Instant::now();
                    if now >= next {
                        break;
                    }
                    r = self
                        .run_cv
                        .wait_timeout(r, next - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            self.update();
            next = Instant::now() + UPDATE_INTERVAL;
        }
    }
}

/// A `timespec` for a reading in nanoseconds.
pub fn timespec_of(ns: u64) -> Timespec {
    Timespec {
        sec: i64::try_from(ns / NANOS_PER_SEC).unwrap_or(i64::MAX),
        nsec: i64::try_from(ns % NANOS_PER_SEC).unwrap_or(0),
    }
}

/// A host clock in nanoseconds (0 if the host refuses, which it does not for these ids).
fn host_ns(clock: ClockId) -> Option<u64> {
    match clock_gettime(clock) {
        Ok(t) => {
            let s = u64::try_from(t.tv_sec()).ok()?;
            let n = u64::try_from(t.tv_nsec()).ok()?;
            s.checked_mul(NANOS_PER_SEC)?.checked_add(n)
        }
        Err(e) => {
            tracing::error!(target: "sentry::time", %e, ?clock, "host clock_gettime failed");
            None
        }
    }
}

/// Host mode: the host's clock for `clock`, the coarse ones truncated like in TSC mode.
fn host_clock_ns(clock: PageClock) -> u64 {
    let id = match clock {
        PageClock::Realtime | PageClock::RealtimeCoarse => ClockId::CLOCK_REALTIME,
        PageClock::Monotonic | PageClock::MonotonicCoarse => ClockId::CLOCK_MONOTONIC,
        PageClock::Boottime => ClockId::CLOCK_BOOTTIME,
    };
    let ns = host_ns(id).unwrap_or(0);
    if clock.is_coarse() { coarsen(ns) } else { ns }
}

/// The TSC and host CLOCK_MONOTONIC at one instant: the best of `SAMPLE_TRIES` brackets
/// `tsc₀ ≤ clock read ≤ tsc₁`, taken at the bracket's middle.
fn sample_host() -> Option<Sample> {
    let mut best: Option<(u64, Sample)> = None;
    for _ in 0..SAMPLE_TRIES {
        let t0 = tsc::read();
        let mono = host_ns(ClockId::CLOCK_MONOTONIC)?;
        let t1 = tsc::read();
        let Some(width) = t1.checked_sub(t0) else {
            continue;
        };
        let s = Sample {
            tsc: t0 + width / 2,
            mono_ns: mono,
        };
        if best.is_none_or(|(w, _)| width < w) {
            best = Some((width, s));
        }
    }
    best.map(|(_, s)| s)
}

/// `clock` − CLOCK_MONOTONIC on the host, in nanoseconds (two's complement): the best of
/// `SAMPLE_TRIES` brackets `clock₀, monotonic, clock₁`; `None` if every bracket was too wide.
fn measure_offset(clock: ClockId) -> Option<u64> {
    let mut best: Option<(u64, u64)> = None;
    for _ in 0..SAMPLE_TRIES {
        let c0 = host_ns(clock)?;
        let m = host_ns(ClockId::CLOCK_MONOTONIC)?;
        let c1 = host_ns(clock)?;
        let Some(width) = c1.checked_sub(c0) else {
            continue; // The host's clock stepped back in between.
        };
        let off = (c0 + width / 2).wrapping_sub(m);
        if width <= OFFSET_MAX_BRACKET_NS && best.is_none_or(|(w, _)| width < w) {
            best = Some((width, off));
        }
    }
    best.map(|(_, off)| off)
}

#[cfg(test)]
mod tests;
