//! The one waiting mechanism of the sandbox: readiness masks, wait queues and waiters.
//!
//! Everything that can block an application thread (a pipe, a socket, an eventfd, a futex word,
//! a timer, a child's exit, an epoll instance) owns a [`WaitQueue`]. Whoever waits registers a
//! [`Notify`] on the queue with the [`EventMask`] it cares about; whoever changes the object's
//! state calls [`WaitQueue::notify`] with the events that became true. A task's [`Waiter`] is
//! one `Notify` (it wakes the sleeping task thread); an epoll interest is another (it queues the
//! file on the epoll's ready list and notifies the epoll's own queue).
//!
//! The pattern every blocking call follows (no lost wake-ups):
//!
//! 1. register on the queue(s);
//! 2. loop: `waiter.prepare()`; try the operation; if it would block, `waiter.wait(..)` —
//!    which returns at once if a notification arrived since `prepare`;
//! 3. the registration is dropped (unregistered) when the call returns.
//!
//! Signals do not go through queues: the sentry kicks the waiter ([`Waiter::kick`]) after making
//! a signal pending, and the task decides (EINTR, restart) once it is awake.
//!
//! Lock order: `WaitQueue::entries` is taken while the notifying object may hold its own state
//! lock (a pipe notifies with its buffer locked); `Notify::notify` runs under `entries` and may
//! take only leaf locks (the waiter's state, an epoll's ready list).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

bitflags::bitflags! {
    /// Readiness events, with the values of poll(2)'s `POLL*` and epoll(7)'s `EPOLL*` bits
    /// (include/uapi/asm-generic/poll.h, include/uapi/linux/eventpoll.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct EventMask: u32 {
        const IN = 0x1;
        const PRI = 0x2;
        const OUT = 0x4;
        const ERR = 0x8;
        const HUP = 0x10;
        const NVAL = 0x20;
        const RDNORM = 0x40;
        const RDBAND = 0x80;
        const WRNORM = 0x100;
        const WRBAND = 0x200;
        const MSG = 0x400;
        const RDHUP = 0x2000;
    }
}

impl EventMask {
    /// Readable (`IN | RDNORM`, limited to `mask`) when `ready`, nothing otherwise: the
    /// readiness of the files that only ever become readable (eventfd reads, epoll, signalfd,
    /// timerfd, pidfd).
    pub fn readable_if(ready: bool, mask: EventMask) -> EventMask {
        if ready {
            (EventMask::IN | EventMask::RDNORM) & mask
        } else {
            EventMask::empty()
        }
    }

    /// Events that are always reported whether asked for or not (poll(2): POLLERR, POLLHUP,
    /// POLLNVAL).
    pub const ALWAYS: EventMask = EventMask::ERR.union(EventMask::HUP).union(EventMask::NVAL);
    /// What an ordinary file that never blocks reports (fs/select.c DEFAULT_POLLMASK).
    pub const DEFAULT_READY: EventMask = EventMask::IN
        .union(EventMask::OUT)
        .union(EventMask::RDNORM)
        .union(EventMask::WRNORM);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Something that wants to hear about events on a queue.
pub trait Notify: Send + Sync + fmt::Debug {
    /// `events` became true on the queue this is registered on. Runs under the queue's lock:
    /// take only leaf locks, never block.
    fn notify(&self, events: EventMask);
}

#[derive(Debug)]
struct Entry {
    id: u64,
    mask: EventMask,
    who: Arc<dyn Notify>,
}

/// A list of parties waiting for events on one object.
#[derive(Debug, Default)]
pub struct WaitQueue {
    entries: Mutex<Vec<Entry>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl WaitQueue {
    /// An empty queue.
    pub fn new() -> WaitQueue {
        WaitQueue::default()
    }

    /// Registers `who` for `mask` (plus the always-reported events); returns a guard that
    /// unregisters on drop.
    pub fn register(&self, who: Arc<dyn Notify>, mask: EventMask) -> Registration<'_> {
        let id = self.register_raw(who, mask);
        Registration { queue: self, id }
    }

    /// [`WaitQueue::register`] without a guard, for long-lived registrations (epoll); undo with
    /// [`WaitQueue::unregister`].
    pub fn register_raw(&self, who: Arc<dyn Notify>, mask: EventMask) -> u64 {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        lock(&self.entries).push(Entry {
            id,
            mask: mask | EventMask::ALWAYS,
            who,
        });
        id
    }

    /// Removes registration `id` (no-op if already gone).
    pub fn unregister(&self, id: u64) {
        lock(&self.entries).retain(|e| e.id != id);
    }

    /// Tells every party whose mask intersects `events`.
    pub fn notify(&self, events: EventMask) {
        let entries = lock(&self.entries);
        for e in entries.iter() {
            if e.mask.intersects(events) {
                e.who.notify(events & e.mask);
            }
        }
    }

    /// Whether anyone is registered (cheap check before computing events).
    pub fn is_empty(&self) -> bool {
        lock(&self.entries).is_empty()
    }
}

/// A registration on a [`WaitQueue`]; unregisters when dropped.
#[derive(Debug)]
pub struct Registration<'a> {
    queue: &'a WaitQueue,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.queue.unregister(self.id);
    }
}

/// Why [`Waiter::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// A queue notified us, or someone kicked us (the caller re-checks its condition and
    /// whether a signal is pending).
    Notified,
    /// The deadline passed.
    TimedOut,
}

/// One thread's way of sleeping until notified. Each task owns one (in an `Arc`, so queues can
/// hold it).
#[derive(Debug, Default)]
pub struct Waiter {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Waiter {
    /// A waiter with no pending notification.
    pub fn new() -> Arc<Waiter> {
        Arc::new(Waiter::default())
    }

    /// Forgets earlier notifications; call before testing the condition you wait for.
    pub fn prepare(&self) {
        *lock(&self.notified) = false;
    }

    /// Sleeps until notified (since the last `prepare`) or until `deadline`.
    pub fn wait(&self, deadline: Option<Instant>) -> WakeReason {
        let mut n = lock(&self.notified);
        loop {
            if *n {
                return WakeReason::Notified;
            }
            match deadline {
                None => n = self.cv.wait(n).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return WakeReason::TimedOut;
                    }
                    n = self
                        .cv
                        .wait_timeout(n, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// Wakes the waiter (a signal arrived, the task is being killed, or an event happened).
    pub fn kick(&self) {
        *lock(&self.notified) = true;
        self.cv.notify_all();
    }
}

impl Notify for Waiter {
    fn notify(&self, _events: EventMask) {
        self.kick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn notify_before_wait_is_not_lost() {
        let q = WaitQueue::new();
        let w = Waiter::new();
        let _r = q.register(w.clone(), EventMask::IN);
        w.prepare();
        q.notify(EventMask::IN);
        assert_eq!(w.wait(None), WakeReason::Notified);
    }

    #[test]
    fn notify_with_other_events_does_not_wake() {
        let q = WaitQueue::new();
        let w = Waiter::new();
        let _r = q.register(w.clone(), EventMask::IN);
        w.prepare();
        q.notify(EventMask::OUT);
        let d = Instant::now() + Duration::from_millis(20);
        assert_eq!(w.wait(Some(d)), WakeReason::TimedOut);
    }

    #[test]
    fn hup_is_always_delivered() {
        let q = WaitQueue::new();
        let w = Waiter::new();
        let _r = q.register(w.clone(), EventMask::IN);
        w.prepare();
        q.notify(EventMask::HUP);
        assert_eq!(w.wait(None), WakeReason::Notified);
    }

    #[test]
    fn dropping_the_registration_unregisters() {
        let q = WaitQueue::new();
        let w = Waiter::new();
        {
            let _r = q.register(w.clone(), EventMask::IN);
            assert!(!q.is_empty());
        }
        assert!(q.is_empty());
    }

    #[test]
    fn kick_from_another_thread_wakes() {
        let w = Waiter::new();
        w.prepare();
        let w2 = Arc::clone(&w);
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            w2.kick();
        });
        assert_eq!(w.wait(None), WakeReason::Notified);
        h.join().expect("kicker thread");
    }
}
