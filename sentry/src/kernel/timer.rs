//! Timers: one service thread per sandbox that fires interval timers (setitimer/alarm), POSIX
//! timers (timer_create) and timerfds at their deadlines.
//!
//! A [`Timer`] holds its deadline, interval and what to do on expiry ([`TimerAction`]: send a
//! signal, count expirations for a timerfd, or nothing for SIGEV_NONE). Arming pushes
//! `(deadline, generation, Weak<Timer>)` on the service's heap and wakes the service thread;
//! re-arming or disarming bumps the generation, so stale heap entries are skipped, and a
//! dropped timer simply never upgrades. Periodic timers that fell behind count the missed
//! periods as overruns (`timer_getoverrun`, a timerfd's expiration count) instead of firing
//! once per missed period.
//!
//! Lock order: `TimerService::heap` → a timer's `state` → whatever the action takes (a signal
//! send takes the thread-group locks; a timerfd notifies its queue). Nothing calls back into
//! the service with a timer's state locked.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use abi::signal::{SigInfo, Signal, si_code_ext};
use vfs::waiter::{EventMask, WaitQueue};

use super::Kernel;
use super::signal::{Target, send};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a timer does when it expires.
#[derive(Debug)]
pub enum TimerAction {
    /// Send this signal (with SI_TIMER info for POSIX timers, SI_KERNEL-less for itimers).
    Signal {
        target: Target,
        signo: Signal,
        /// POSIX timer id and sigev_value; None for setitimer/alarm.
        posix: Option<(i32, u64)>,
    },
    /// Count the expiration for a timerfd and wake its readers.
    Count(Arc<TimerFdState>),
    /// SIGEV_NONE: nothing, but gettime and getoverrun work.
    None,
}

/// The expiration counter of a timerfd.
#[derive(Debug, Default)]
pub struct TimerFdState {
    pub count: Mutex<u64>,
    pub queue: WaitQueue,
}

#[derive(Debug, Default)]
struct TimerState {
    deadline: Option<Instant>,
    interval: Duration,
    generation: u64,
    /// Overruns since the last signal delivery (POSIX timers).
    overrun: u64,
    /// The last overrun count, reported by timer_getoverrun.
    last_overrun: u64,
}

/// One timer. See the module doc.
#[derive(Debug)]
pub struct Timer {
    state: Mutex<TimerState>,
    action: TimerAction,
}

impl Timer {
    /// A disarmed timer.
    pub fn new(action: TimerAction) -> Arc<Timer> {
        Arc::new(Timer {
            state: Mutex::new(TimerState::default()),
            action,
        })
    }

    /// Time left and interval (zero left when disarmed), for getitimer/timer_gettime.
    pub fn get(&self) -> (Duration, Duration) {
        let s = lock(&self.state);
        let left = s.deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        (left, s.interval)
    }

    /// timer_getoverrun(2): the overruns counted for the last delivered expiration. Once the
    /// queued signal has been taken, the expirations that piled up behind it become that
    /// count (Linux updates it when the signal is dequeued).
    pub fn overrun(&self) -> i32 {
        if let TimerAction::Signal {
            target,
            posix: Some((id, _)),
            ..
        } = &self.action
            && !super::signal::timer_signal_queued(target, *id)
        {
            let mut s = lock(&self.state);
            if s.overrun > 0 {
                s.last_overrun = s.overrun;
                s.overrun = 0;
            }
        }
        i32::try_from(lock(&self.state).last_overrun).unwrap_or(i32::MAX)
    }

    /// Arms (deadline Some) or disarms (None); returns the previous (left, interval). A
    /// deadline already past fires before this returns, as an expired hrtimer does on Linux
    /// (a timerfd armed in the past is readable at once).
    pub fn set(
        self: &Arc<Self>,
        kernel: &Kernel,
        deadline: Option<Instant>,
        interval: Duration,
    ) -> (Duration, Duration) {
        let svc = &kernel.timers;
        let old = self.get();
        let generation = {
            let mut s = lock(&self.state);
            s.generation = s.generation.wrapping_add(1);
            s.deadline = deadline;
            s.interval = interval;
            s.overrun = 0;
            s.generation
        };
        match deadline {
            Some(d) if d <= Instant::now() => {
                if let Some((next, g)) = self.fire(kernel, generation, Instant::now()) {
                    svc.push(next, g, Arc::downgrade(self));
                }
            }
            Some(d) => svc.push(d, generation, Arc::downgrade(self)),
            None => {}
        }
        old
    }

    /// Takes the expirations due by `now` (advancing a periodic timer past `now`, disarming a
    /// one-shot); returns how many and the next deadline. Callers hold the state lock.
    fn take_due(s: &mut TimerState, now: Instant) -> (u64, Option<(Instant, u64)>) {
        let Some(d) = s.deadline else {
            return (0, None);
        };
        if d > now {
            return (0, Some((d, s.generation)));
        }
        if s.interval.is_zero() {
            s.deadline = None;
            return (1, None);
        }
        // Count every period that has passed since the deadline.
        let late = now.saturating_duration_since(d);
        let missed =
            u64::try_from(late.as_nanos() / s.interval.as_nanos().max(1)).unwrap_or(u64::MAX);
        let periods = u32::try_from(missed.saturating_add(1)).unwrap_or(u32::MAX);
        let next = d.checked_add(s.interval.saturating_mul(periods));
        s.deadline = next;
        (missed.saturating_add(1), next.map(|n| (n, s.generation)))
    }

    /// A timerfd's expirations that are due but not yet counted because the timer thread has
    /// not run (Linux's timerfd_read forwards the timer at read time the same way).
    pub fn catch_up(&self) -> u64 {
        let TimerAction::Count(fd) = &self.action else {
            return 0;
        };
        let (n, _) = Self::take_due(&mut lock(&self.state), Instant::now());
        if n > 0 {
            let mut c = lock(&fd.count);
            *c = c.saturating_add(n);
        }
        n
    }

    /// Fires if `generation` is still current; returns the next deadline to queue.
    fn fire(&self, kernel: &Kernel, generation: u64, now: Instant) -> Option<(Instant, u64)> {
        let (expirations, next) = {
            let mut s = lock(&self.state);
            if s.generation != generation {
                return None;
            }
            let (n, next) = Self::take_due(&mut s, now);
            if n == 0 {
                // Caught up by a reader meanwhile: wait for the new deadline.
                return next;
            }
            (n, next)
        };
        match &self.action {
            TimerAction::Count(fd) => {
                let mut c = lock(&fd.count);
                *c = c.saturating_add(expirations);
                fd.queue.notify(EventMask::IN | EventMask::RDNORM);
            }
            TimerAction::Signal {
                target,
                signo,
                posix,
            } => {
                if let Some((id, _)) = posix
                    && super::signal::timer_signal_queued(target, *id)
                {
                    let mut s = lock(&self.state);
                    s.overrun = s.overrun.saturating_add(expirations);
                    return next;
                }
                let info = match posix {
                    Some((id, value)) => {
                        let overrun = {
                            let mut s = lock(&self.state);
                            s.last_overrun = s.overrun.saturating_add(expirations - 1);
                            s.overrun = 0;
                            s.last_overrun
                        };
                        let mut si = SigInfo::new(*signo, si_code_ext::SI_TIMER);
                        si.set_timer(*id, i32::try_from(overrun).unwrap_or(i32::MAX));
                        si.set_value(*value);
                        si
                    }
                    None => SigInfo::new(*signo, abi::signal::si_code::SI_KERNEL),
                };
                let _ = send(kernel, target, info);
            }
            TimerAction::None => {
                let mut s = lock(&self.state);
                s.last_overrun = s.overrun.saturating_add(expirations - 1);
            }
        }
        next
    }
}

type HeapEntry = Reverse<(Instant, u64, usize)>;

#[derive(Debug, Default)]
struct Heap {
    entries: BinaryHeap<HeapEntry>,
    timers: Vec<Option<Weak<Timer>>>,
    started: bool,
    stopping: bool,
}

/// The timer thread of one sandbox.
#[derive(Debug, Default)]
pub struct TimerService {
    heap: Mutex<Heap>,
    cv: Condvar,
}

impl TimerService {
    fn push(&self, deadline: Instant, generation: u64, t: Weak<Timer>) {
        let mut h = lock(&self.heap);
        // Reuse a slot whose timer is gone.
        let slot = h
            .timers
            .iter()
            .position(|w| w.as_ref().is_none_or(|w| w.strong_count() == 0));
        let idx = match slot {
            Some(i) => {
                if let Some(s) = h.timers.get_mut(i) {
                    *s = Some(t);
                }
                i
            }
            None => {
                h.timers.push(Some(t));
                h.timers.len() - 1
            }
        };
        h.entries.push(Reverse((deadline, generation, idx)));
        self.cv.notify_all();
    }

    /// Starts the service thread (once).
    pub fn start(kernel: &Arc<Kernel>) {
        {
            let mut h = lock(&kernel.timers.heap);
            if h.started {
                return;
            }
            h.started = true;
        }
        let weak = Arc::downgrade(kernel);
        let spawned = std::thread::Builder::new()
            .name("timers".into())
            .spawn(move || run(&weak));
        if let Err(e) = spawned {
            tracing::error!(target: "sentry::timer", %e, "starting the timer thread failed");
        }
    }

    /// Stops the service thread (sandbox shutdown).
    pub fn stop(&self) {
        lock(&self.heap).stopping = true;
        self.cv.notify_all();
    }
}

fn run(kernel: &Weak<Kernel>) {
    loop {
        let Some(k) = kernel.upgrade() else {
            return;
        };
        let due = {
            let mut h = lock(&k.timers.heap);
            loop {
                if h.stopping {
                    return;
                }
                let now = Instant::now();
                match h.entries.peek() {
                    Some(Reverse((d, _, _))) if *d <= now => {
                        let Some(Reverse((_, generation, idx))) = h.entries.pop() else {
                            continue;
                        };
                        let t = h.timers.get(idx).and_then(|w| w.as_ref()?.upgrade());
                        break t.map(|t| (t, generation));
                    }
                    Some(Reverse((d, _, _))) => {
                        let wait = d.saturating_duration_since(now);
                        h = k
                            .timers
                            .cv
                            .wait_timeout(h, wait)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    None => {
                        // Hold no strong kernel reference while idle for long.
                        h = k
                            .timers
                            .cv
                            .wait_timeout(h, Duration::from_millis(500))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        if h.entries.is_empty() {
                            break None;
                        }
                    }
                }
            }
        };
        if let Some((t, generation)) = due
            && let Some((next, g)) = t.fire(&k, generation, Instant::now())
        {
            k.timers.push(next, g, Arc::downgrade(&t));
        }
    }
}
