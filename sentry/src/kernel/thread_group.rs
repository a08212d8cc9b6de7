//! A thread group (a process): the signal state its threads share, its members, group exit and
//! group stop, its resource limits, and the wait queues its waiters sleep on.
//!
//! Lock: `ThreadGroup::sig` guards [`GroupSignals`]: the signal actions, the process-wide
//! pending set, the member list, the group-exit status and the group-stop state. A member's own
//! mask and pending set (`TaskShared::sig`) are taken *inside* it whenever a decision needs
//! both (choosing the thread that takes a process-directed signal, dequeueing).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use abi::signal::{SigAction, SigInfo, SigSet, Signal};
use abi::time::{RLIM_INFINITY, RLIM_NLIMITS, Rlimit};
use vfs::waiter::WaitQueue;

use super::ExitStatus;
use super::task::TaskShared;

/// Queued real-time signals per pending set before sigqueue(3) sees EAGAIN (a stand-in for
/// RLIMIT_SIGPENDING, which Linux counts per user).
const MAX_QUEUED: usize = 4096;

/// Signals that are "synchronous" and dequeued first (kernel/signal.c SYNCHRONOUS_MASK).
const SYNCHRONOUS: SigSet = SigSet(
    SigSet::of(Signal::SIGSEGV).0
        | SigSet::of(Signal::SIGBUS).0
        | SigSet::of(Signal::SIGILL).0
        | SigSet::of(Signal::SIGTRAP).0
        | SigSet::of(Signal::SIGFPE).0
        | SigSet::of(Signal::SIGSYS).0,
);

/// A set of pending signals with their siginfo: standard signals coalesce (one instance),
/// real-time signals queue in order.
#[derive(Clone, Debug, Default)]
pub struct SigPending {
    set: SigSet,
    queue: VecDeque<SigInfo>,
}

/// What [`SigPending::enqueue`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Newly pending (or one more real-time instance queued).
    Queued,
    /// A standard signal that was already pending: merged.
    Coalesced,
    /// The real-time queue is full.
    Full,
}

impl SigPending {
    /// The set of pending signal numbers.
    pub fn set(&self) -> SigSet {
        self.set
    }

    /// Adds `info`.
    pub fn enqueue(&mut self, info: SigInfo) -> Enqueued {
        let sig = Signal(info.signo);
        if !sig.is_realtime() && self.set.has(sig) {
            return Enqueued::Coalesced;
        }
        if self.queue.len() >= MAX_QUEUED {
            return Enqueued::Full;
        }
        self.set = self.set.add(sig);
        self.queue.push_back(info);
        Enqueued::Queued
    }

    /// The signal that would be dequeued next with `blocked` masked (synchronous signals first,
    /// then the lowest number, as Linux's next_signal does).
    pub fn next(&self, blocked: SigSet) -> Option<Signal> {
        let ready = self.set.0 & !blocked.0;
        if ready == 0 {
            return None;
        }
        let sync = ready & SYNCHRONOUS.0;
        let pick = if sync != 0 { sync } else { ready };
        let bit = i32::try_from(pick.trailing_zeros()).ok()?;
        Some(Signal(bit + 1))
    }

    /// Removes and returns the first queued instance of `sig`.
    pub fn take(&mut self, sig: Signal) -> Option<SigInfo> {
        let idx = self.queue.iter().position(|i| i.signo == sig.0)?;
        let info = self.queue.remove(idx)?;
        if !self.queue.iter().any(|i| i.signo == sig.0) {
            self.set = self.set.remove(sig);
        }
        Some(info)
    }

    /// Dequeues the next deliverable signal.
    pub fn dequeue(&mut self, blocked: SigSet) -> Option<SigInfo> {
        let sig = self.next(blocked)?;
        self.take(sig)
    }

    /// Whether some queued instance satisfies `f`.
    pub fn any(&self, f: impl Fn(&SigInfo) -> bool) -> bool {
        self.queue.iter().any(f)
    }

    /// Discards every pending instance of the signals in `set`.
    pub fn discard(&mut self, set: SigSet) {
        self.queue.retain(|i| !set.has(Signal(i.signo)));
        self.set = SigSet(self.set.0 & !set.0);
    }
}

/// Group-stop state of a process (job control).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupStop {
    /// Running.
    #[default]
    None,
    /// Stopped by this signal: every member parks until SIGCONT or SIGKILL.
    Stopped(Signal),
}

/// The signal state of one process. Guarded by `ThreadGroup::sig`.
#[derive(Debug)]
pub struct GroupSignals {
    /// Index 0 is signal 1.
    pub actions: [SigAction; 64],
    /// Process-directed pending signals.
    pub pending: SigPending,
    /// Live member threads (the first is the one that started the group, while it lives).
    pub members: Vec<Arc<TaskShared>>,
    /// Set once the group is exiting (exit_group, a fatal signal, exec killing the others):
    /// the status the process will report.
    pub exiting: Option<ExitStatus>,
    /// Job-control stop.
    pub stop: GroupStop,
    /// tid of a thread running execve, which the other members must leave to.
    pub exec_tid: Option<i32>,
}

impl GroupSignals {
    /// The action for `sig` (a valid signal).
    pub fn action(&self, sig: Signal) -> SigAction {
        usize::try_from(sig.0 - 1)
            .ok()
            .and_then(|i| self.actions.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// Replaces the action for `sig`.
    pub fn set_action(&mut self, sig: Signal, act: SigAction) {
        if let Some(a) = usize::try_from(sig.0 - 1)
            .ok()
            .and_then(|i| self.actions.get_mut(i))
        {
            *a = act;
        }
    }
}

/// A process. See the module doc.
#[derive(Debug)]
pub struct ThreadGroup {
    /// The process id (the tid of the thread that created it; kept across a non-leader exec).
    pub tgid: i32,
    pub(crate) sig: Mutex<GroupSignals>,
    /// Notified when a child of this process changes state (exit, stop, continue): wait4.
    pub child_events: WaitQueue,
    /// Notified when a member thread exits (execve waits for the other threads to go) or when
    /// the whole group has exited (pidfd readiness).
    pub member_events: WaitQueue,
    /// Notified whenever a signal is queued to the process or one of its threads (signalfd).
    pub signal_events: WaitQueue,
    limits: Mutex<[Rlimit; RLIM_NLIMITS]>,
    /// Interval timers and POSIX timers of the process.
    pub(crate) timers: Mutex<ProcTimers>,
}

/// A process's timers (setitimer's three and timer_create's). Cleared when the process exits
/// (a timer's action refers back to its process) and, for POSIX timers, at execve.
#[derive(Debug, Default)]
pub struct ProcTimers {
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [Option<Arc<super::timer::Timer>>; 3],
    pub posix: std::collections::BTreeMap<i32, Arc<super::timer::Timer>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ThreadGroup {
    /// A new, empty process with the given actions and limits.
    pub fn new(
        tgid: i32,
        actions: [SigAction; 64],
        limits: [Rlimit; RLIM_NLIMITS],
    ) -> Arc<ThreadGroup> {
        Arc::new(ThreadGroup {
            tgid,
            sig: Mutex::new(GroupSignals {
                actions,
                pending: SigPending::default(),
                members: Vec::new(),
                exiting: None,
                stop: GroupStop::None,
                exec_tid: None,
            }),
            child_events: WaitQueue::new(),
            member_events: WaitQueue::new(),
            signal_events: WaitQueue::new(),
            limits: Mutex::new(limits),
            timers: Mutex::new(ProcTimers::default()),
        })
    }

    /// The signal state, locked.
    pub(crate) fn sig(&self) -> MutexGuard<'_, GroupSignals> {
        lock(&self.sig)
    }

    /// A copy of the resource limits.
    pub fn limits(&self) -> [Rlimit; RLIM_NLIMITS] {
        *lock(&self.limits)
    }

    /// The soft limit of resource `r` (RLIM_INFINITY if unknown).
    pub fn rlimit_cur(&self, r: u32) -> u64 {
        usize::try_from(r)
            .ok()
            .and_then(|i| lock(&self.limits).get(i).map(|l| l.cur))
            .unwrap_or(RLIM_INFINITY)
    }

    /// Sets resource `r` (the caller validated it).
    pub fn set_rlimit(&self, r: u32, v: Rlimit) {
        let mut l = lock(&self.limits);
        if let Some(s) = usize::try_from(r).ok().and_then(|i| l.get_mut(i)) {
            *s = v;
        }
    }

    /// The timers, locked.
    pub(crate) fn timers(&self) -> MutexGuard<'_, ProcTimers> {
        lock(&self.timers)
    }

    /// Whether the process is exiting (no new threads, no new signals handled).
    pub fn is_exiting(&self) -> bool {
        self.sig().exiting.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(sig: Signal) -> SigInfo {
        SigInfo::new(sig, 0)
    }

    #[test]
    fn standard_signals_coalesce() {
        let mut p = SigPending::default();
        assert_eq!(p.enqueue(info(Signal::SIGUSR1)), Enqueued::Queued);
        assert_eq!(p.enqueue(info(Signal::SIGUSR1)), Enqueued::Coalesced);
        assert!(p.dequeue(SigSet::default()).is_some());
        assert!(p.dequeue(SigSet::default()).is_none());
    }

    #[test]
    fn realtime_signals_queue_in_order() {
        let mut p = SigPending::default();
        let mut a = info(Signal(40));
        a.set_value(1);
        let mut b = info(Signal(40));
        b.set_value(2);
        p.enqueue(a);
        p.enqueue(b);
        assert_eq!(p.dequeue(SigSet::default()).map(|i| i.fields[1]), Some(1));
        assert!(p.set().has(Signal(40)));
        assert_eq!(p.dequeue(SigSet::default()).map(|i| i.fields[1]), Some(2));
        assert!(!p.set().has(Signal(40)));
    }

    #[test]
    fn synchronous_signals_first_then_lowest() {
        let mut p = SigPending::default();
        p.enqueue(info(Signal::SIGUSR1));
        p.enqueue(info(Signal::SIGSEGV));
        p.enqueue(info(Signal::SIGHUP));
        assert_eq!(p.next(SigSet::default()), Some(Signal::SIGSEGV));
        p.take(Signal::SIGSEGV);
        assert_eq!(p.next(SigSet::default()), Some(Signal::SIGHUP));
    }

    #[test]
    fn blocked_signals_stay_pending() {
        let mut p = SigPending::default();
        p.enqueue(info(Signal::SIGUSR1));
        assert!(p.dequeue(SigSet::of(Signal::SIGUSR1)).is_none());
        assert!(p.set().has(Signal::SIGUSR1));
    }

    #[test]
    fn discard_removes_all_instances() {
        let mut p = SigPending::default();
        p.enqueue(info(Signal(33)));
        p.enqueue(info(Signal(33)));
        p.enqueue(info(Signal::SIGCONT));
        p.discard(SigSet::of(Signal(33)));
        assert_eq!(p.next(SigSet::default()), Some(Signal::SIGCONT));
        assert!(!p.set().has(Signal(33)));
    }
}
