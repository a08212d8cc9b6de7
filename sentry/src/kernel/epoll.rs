//! epoll(7) instances: interest lists, ready lists, and their own wait queue.
//!
//! An epoll instance is a `FileOps` ([`EpollFile`]) over an [`EpollShared`], so an epoll fd can
//! itself be polled, selected or added to another epoll. Each interest ("item") registers a
//! long-lived [`ItemNotify`] on the target file's wait queue (`WaitQueue::register_raw`); when
//! the target notifies, the item is appended to the ready list and the epoll's own queue is
//! notified (waking epoll_wait sleepers and any epoll watching this one). epoll_wait
//! ([`EpollShared::collect`], Linux's ep_send_events) takes the ready list, re-polls each item
//! and decides in [`decide`] (pure): nothing (not ready now: a spurious or stale entry),
//! report and requeue (level-triggered), report once (EPOLLET), or report and disarm
//! (EPOLLONESHOT, re-armed by EPOLL_CTL_MOD).
//!
//! Interests are keyed by (fd number, open file description), as Linux's `epoll_filefd` is.
//! The item holds a `Weak<OpenFile>`: epoll does not keep the file open, and when the last
//! reference goes the item is dropped at the next collect or ctl (Linux removes it in __fput
//! through eventpoll_release). The `Weak` also keeps the description's allocation, so its
//! address (the key) is not reused while the dead item is still in the map.
//!
//! Nesting: adding an epoll to an epoll is refused with ELOOP if it would close a cycle or make
//! a chain of more than [`EPOLL_MAX_NESTS`] + 1 instances (checked natively: five instances in a
//! chain are allowed, a sixth fails, whichever end the chain grows from). The check runs under
//! one global mutex, as Linux's epnested_mutex.
//!
//! Lock order (outermost first):
//!   LOOP_CHECK (only for EPOLL_CTL_ADD of an epoll target)
//!     EpollShared::interests ("the epoll's state"; of an outer epoll before an inner one)
//!       the target's own state lock (a pipe's buffer, an eventfd's counter), via readiness()
//!         the target's WaitQueue entries (register/unregister/notify)
//!           EpollShared::ready (a leaf: the only lock ItemNotify::notify takes)
//!           then, after `ready` is released, the epoll's own WaitQueue entries (notifying a
//!           watcher: an inner epoll's queue before an outer one's)
//!   EpollShared::parents is a leaf taken with nothing else held but LOOP_CHECK or `interests`.
//! The rule that keeps this acyclic: nothing calls into a target (readiness, unregister) while
//! holding `ready`, and a notify callback never takes `interests`.
//!
//! Shortcuts: the event constants and `struct epoll_event` live here until abi grows
//! `abi/src/epoll.rs`; EPOLLEXCLUSIVE is accepted but every waiter is woken (allowed: it is a
//! hint to avoid thundering herds); EPOLLWAKEUP is ignored (no suspend); when a watched file
//! dies while the queue it was registered on lives on (the other end of a pipe), the
//! registration stays on that queue, inert, until the queue goes — it cannot be reached any
//! more to unregister it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use abi::file::{O_RDWR, Stat};
use abi::{Errno, SysResult};
use vfs::waiter::{EventMask, Notify, WaitQueue};
use vfs::{FileOps, OpenFile};

// include/uapi/linux/eventpoll.h
/// epoll_ctl op: add an interest.
pub const EPOLL_CTL_ADD: i32 = 1;
/// epoll_ctl op: remove an interest.
pub const EPOLL_CTL_DEL: i32 = 2;
/// epoll_ctl op: change an interest.
pub const EPOLL_CTL_MOD: i32 = 3;
/// Wake one of several epolls waiting on the same file (accepted, not honoured).
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// Hold a wakeup source while the event is pending (ignored: no suspend).
pub const EPOLLWAKEUP: u32 = 1 << 29;
/// Disarm after one report.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// Edge-triggered.
pub const EPOLLET: u32 = 1 << 31;
/// epoll_create1 flag: the same bit as O_CLOEXEC.
pub const EPOLL_CLOEXEC: u32 = abi::file::O_CLOEXEC;
/// Deepest nesting of epoll instances (fs/eventpoll.c EPOLL_MAX_NESTS).
pub const EPOLL_MAX_NESTS: usize = 4;
/// Bits that may accompany EPOLLEXCLUSIVE (fs/eventpoll.c EPOLLEXCLUSIVE_OK_BITS).
const EXCLUSIVE_OK_BITS: u32 = 0x1 | 0x4 | 0x8 | 0x10 | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// `struct epoll_event`: packed on x86-64 (include/uapi/linux/eventpoll.h EPOLL_PACKED).
#[repr(C, packed)]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
    zerocopy::KnownLayout,
)]
pub struct EpollEvent {
    pub events: u32,
    pub data: u64,
}
const _: () = assert!(size_of::<EpollEvent>() == 12);

/// Largest maxevents epoll_wait accepts (EP_MAX_EVENTS: INT_MAX / sizeof(struct epoll_event)).
pub const EP_MAX_EVENTS: i32 = i32::MAX / 12;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serializes loop and depth checks of nested epolls (Linux's epnested_mutex).
static LOOP_CHECK: Mutex<()> = Mutex::new(());

/// What the app asked for on one interest (epoll_ctl's `struct epoll_event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemConf {
    /// Raw `events`: readiness bits plus EPOLLET/EPOLLONESHOT/... flags. EPOLLERR and EPOLLHUP
    /// are always added (epoll_ctl(2): "always reported").
    pub events: u32,
    /// Returned as given.
    pub data: u64,
}

impl ItemConf {
    /// An interest as epoll_ctl ADD/MOD stores it.
    pub fn new(events: u32, data: u64) -> ItemConf {
        ItemConf {
            events: events | EventMask::ERR.bits() | EventMask::HUP.bits(),
            data,
        }
    }
    /// The readiness events this item reports.
    pub fn mask(self) -> EventMask {
        EventMask::from_bits_truncate(self.events)
    }
    fn has(self, flag: u32) -> bool {
        self.events & flag != 0
    }
}

/// What epoll_wait does with one ready-list item (the pure part of ep_send_events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Events to report, if any.
    pub report: Option<EventMask>,
    /// Put the item back on the ready list (level-triggered and still ready).
    pub requeue: bool,
    /// Disarm the item (EPOLLONESHOT after a report).
    pub disarm: bool,
}

/// Decides one item from its configuration, whether it is armed and what it reports now.
pub fn decide(conf: ItemConf, armed: bool, now: EventMask) -> Decision {
    let revents = now & conf.mask();
    if !armed || revents.is_empty() {
        return Decision {
            report: None,
            requeue: false,
            disarm: false,
        };
    }
    let oneshot = conf.has(EPOLLONESHOT);
    Decision {
        report: Some(revents),
        requeue: !oneshot && !conf.has(EPOLLET),
        disarm: oneshot,
    }
}

/// How epoll_ctl's arguments are checked before the interest list is touched (the part of
/// do_epoll_ctl after the fds were found): EINVAL for the epoll itself, a non-epoll `epfd`,
/// EPOLLEXCLUSIVE on MOD, with an epoll target or with other bits.
pub fn check_ctl(op: i32, events: u32, same_file: bool, target_is_epoll: bool) -> SysResult<()> {
    if same_file {
        return Err(Errno::EINVAL);
    }
    if op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
        if op == EPOLL_CTL_MOD {
            return Err(Errno::EINVAL);
        }
        if op == EPOLL_CTL_ADD && (target_is_epoll || events & !EXCLUSIVE_OK_BITS != 0) {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

/// Identity of an interest: the fd number and the open file description it named at ADD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    fd: i32,
    file: usize,
}

fn key_of(fd: i32, file: &Arc<OpenFile>) -> Key {
    Key {
        fd,
        file: Arc::as_ptr(file).addr(),
    }
}

/// The `Notify` an item registers on its target's queue.
#[derive(Debug)]
struct ItemNotify {
    ep: Weak<EpollShared>,
    key: Key,
    /// Events that queue the item: its mask while armed, 0 when disarmed or removed. Written
    /// under `interests`, read under the target's queue lock.
    armed_mask: AtomicU32,
}

impl Notify for ItemNotify {
    fn notify(&self, events: EventMask) {
        let mask = EventMask::from_bits_truncate(self.armed_mask.load(Ordering::Acquire));
        if !mask.intersects(events) {
            return;
        }
        // This Arc is normally not the last: the EpollFile holds one until its Drop has
        // unregistered every live item (unregister waits for a notify in progress). An inert
        // entry of a dead target can race with that Drop and end up holding the last one;
        // that is harmless, because dropping an EpollShared takes no lock (unregistering is
        // the EpollFile's job, never the EpollShared's).
        if let Some(ep) = self.ep.upgrade() {
            ep.mark_ready(self.key);
        }
    }
}

#[derive(Debug)]
struct Interest {
    file: Weak<OpenFile>,
    conf: ItemConf,
    armed: bool,
    notify: Arc<ItemNotify>,
    /// The registration on the target's queue; None for files that never notify.
    reg: Option<u64>,
}

impl Interest {
    fn set_armed(&mut self, armed: bool) {
        self.armed = armed;
        let bits = if armed { self.conf.mask().bits() } else { 0 };
        self.notify.armed_mask.store(bits, Ordering::Release);
    }
}

/// The ready list: keys in report order, each at most once.
#[derive(Debug, Default)]
struct ReadyList {
    order: VecDeque<Key>,
    queued: HashSet<Key>,
}

impl ReadyList {
    fn push(&mut self, k: Key) {
        if self.queued.insert(k) {
            self.order.push_back(k);
        }
    }
    fn take(&mut self) -> VecDeque<Key> {
        self.queued.clear();
        std::mem::take(&mut self.order)
    }
}

/// The state of one epoll instance, shared with the notifiers of its items.
#[derive(Debug, Default)]
pub struct EpollShared {
    interests: Mutex<Interests>,
    ready: Mutex<ReadyList>,
    queue: WaitQueue,
    /// The epolls watching this one (for the upward depth check).
    parents: Mutex<Vec<Weak<EpollShared>>>,
}

#[derive(Debug, Default)]
struct Interests {
    items: BTreeMap<Key, Interest>,
    /// Size at which dead items are swept next (amortized: doubles after each sweep).
    sweep_at: usize,
}

impl Interests {
    /// Drops items whose file is gone (their queue, if it still lives, keeps an inert entry).
    fn sweep(&mut self) {
        self.items.retain(|_, it| {
            let alive = it.file.strong_count() > 0;
            if !alive {
                it.notify.armed_mask.store(0, Ordering::Release);
            }
            alive
        });
        self.sweep_at = self.items.len().saturating_mul(2).max(64);
    }
}

impl EpollShared {
    /// Queues `k` and tells the epoll's watchers. Called from notify callbacks: takes only the
    /// ready list (a leaf), then this epoll's own queue.
    fn mark_ready(&self, k: Key) {
        lock(&self.ready).push(k);
        self.queue.notify(EventMask::IN | EventMask::RDNORM);
    }

    /// The queue epoll_wait sleeps on.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// epoll_ctl(EPOLL_CTL_ADD): EEXIST if (fd, file) is already there; ELOOP if `file` is an
    /// epoll and adding it would make a cycle or too deep a chain.
    pub fn add(self: &Arc<Self>, fd: i32, file: &Arc<OpenFile>, conf: ItemConf) -> SysResult<()> {
        let Some(child) = as_epoll(file) else {
            return self.insert(fd, file, conf);
        };
        // ep_loop_check, under the global nesting lock so two ADDs cannot build a cycle
        // between them.
        let _g = lock(&LOOP_CHECK);
        let below = child.depth_below(self, 1)?;
        let above = self.depth_above(0);
        if above + 1 + below > EPOLL_MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        self.insert(fd, file, conf)
    }

    fn insert(self: &Arc<Self>, fd: i32, file: &Arc<OpenFile>, conf: ItemConf) -> SysResult<()> {
        let key = key_of(fd, file);
        let mut g = lock(&self.interests);
        if g.items.len() >= g.sweep_at {
            g.sweep();
        }
        if g.items.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        let notify = Arc::new(ItemNotify {
            ep: Arc::downgrade(self),
            key,
            armed_mask: AtomicU32::new(conf.mask().bits()),
        });
        let reg = file
            .wait_queue()
            .map(|q| q.register_raw(Arc::clone(&notify) as Arc<dyn Notify>, EventMask::all()));
        g.items.insert(
            key,
            Interest {
                file: Arc::downgrade(file),
                conf,
                armed: true,
                notify,
                reg,
            },
        );
        if let Some(child) = as_epoll(file) {
            lock(&child.parents).push(Arc::downgrade(self));
        }
        // ep_insert: an item already ready goes on the ready list at once.
        if file.readiness(conf.mask()).intersects(conf.mask()) {
            self.mark_ready(key);
        }
        Ok(())
    }

    /// epoll_ctl(EPOLL_CTL_MOD): ENOENT if absent, EINVAL if added with EPOLLEXCLUSIVE.
    /// Re-arms a disarmed EPOLLONESHOT item.
    pub fn modify(&self, fd: i32, file: &Arc<OpenFile>, conf: ItemConf) -> SysResult<()> {
        let key = key_of(fd, file);
        let mut g = lock(&self.interests);
        let it = g.items.get_mut(&key).ok_or(Errno::ENOENT)?;
        if it.conf.has(EPOLLEXCLUSIVE) {
            return Err(Errno::EINVAL);
        }
        it.conf = conf;
        it.set_armed(true);
        if file.readiness(conf.mask()).intersects(conf.mask()) {
            self.mark_ready(key);
        }
        Ok(())
    }

    /// epoll_ctl(EPOLL_CTL_DEL): ENOENT if absent.
    pub fn delete(&self, fd: i32, file: &Arc<OpenFile>) -> SysResult<()> {
        let key = key_of(fd, file);
        let mut g = lock(&self.interests);
        let it = g.items.remove(&key).ok_or(Errno::ENOENT)?;
        it.notify.armed_mask.store(0, Ordering::Release);
        if let (Some(q), Some(id)) = (file.wait_queue(), it.reg) {
            q.unregister(id);
        }
        if let Some(child) = as_epoll(file) {
            let me: *const EpollShared = self;
            lock(&child.parents).retain(|p| p.strong_count() > 0 && !std::ptr::eq(p.as_ptr(), me));
        }
        // A stale ready-list entry is harmless: collect skips keys that are not items.
        Ok(())
    }

    /// Takes up to `max` events off the ready list (ep_send_events): re-polls each item,
    /// reports what is true now, requeues level-triggered items, disarms one-shot ones.
    pub fn collect(&self, max: usize) -> Vec<EpollEvent> {
        let mut out = Vec::new();
        // Upgraded files are dropped only after `interests` is released: dropping the last
        // reference runs the file's release (a pipe end notifies its queue, an epoll
        // unregisters its items), which must not happen under our lock.
        let mut keep_alive = Vec::new();
        {
            let mut g = lock(&self.interests);
            let mut batch = lock(&self.ready).take();
            let mut requeue = Vec::new();
            while out.len() < max {
                let Some(k) = batch.pop_front() else { break };
                let Some(it) = g.items.get_mut(&k) else {
                    continue;
                };
                let Some(file) = it.file.upgrade() else {
                    it.notify.armed_mask.store(0, Ordering::Release);
                    g.items.remove(&k);
                    continue;
                };
                let d = decide(it.conf, it.armed, file.readiness(it.conf.mask()));
                keep_alive.push(file);
                if let Some(ev) = d.report {
                    out.push(EpollEvent {
                        events: ev.bits(),
                        data: it.conf.data,
                    });
                }
                if d.disarm {
                    it.set_armed(false);
                }
                if d.requeue {
                    requeue.push(k);
                }
            }
            // Unvisited entries keep their place at the front; requeued ones go to the back
            // (Linux rotates level-triggered items so one busy fd cannot starve the others).
            let mut r = lock(&self.ready);
            let newer = r.take();
            for k in batch.into_iter().chain(newer).chain(requeue) {
                r.push(k);
            }
        }
        drop(keep_alive);
        out
    }

    /// Whether some queued item is ready now (the epoll fd's own readability, as
    /// ep_eventpoll_poll computes it).
    fn has_ready(&self) -> bool {
        let mut keep_alive = Vec::new();
        let found = {
            let g = lock(&self.interests);
            let keys: Vec<Key> = lock(&self.ready).order.iter().copied().collect();
            keys.iter().any(|k| {
                let Some(it) = g.items.get(k) else {
                    return false;
                };
                let Some(file) = it.file.upgrade() else {
                    return false;
                };
                let now = file.readiness(it.conf.mask());
                keep_alive.push(file);
                decide(it.conf, it.armed, now).report.is_some()
            })
        };
        drop(keep_alive);
        found
    }

    /// The epolls this one watches (live ones).
    fn children(&self) -> Vec<Arc<OpenFile>> {
        lock(&self.interests)
            .items
            .values()
            .filter_map(|it| it.file.upgrade())
            .filter(|f| as_epoll(f).is_some())
            .collect()
    }

    /// Longest chain of epolls below this one (0: watches none); ELOOP if `me` is reached or
    /// the chain is too long.
    fn depth_below(&self, me: &EpollShared, level: usize) -> SysResult<usize> {
        if std::ptr::eq(self, me) || level > EPOLL_MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        let mut deepest = 0;
        for c in self.children() {
            if let Some(ep) = as_epoll(&c) {
                let d = ep.depth_below(me, level + 1)?;
                deepest = deepest.max(d + 1);
            }
        }
        Ok(deepest)
    }

    /// Longest chain of epolls above this one (0: nothing watches it).
    fn depth_above(&self, level: usize) -> usize {
        if level > EPOLL_MAX_NESTS {
            return level;
        }
        let parents: Vec<Arc<EpollShared>> = lock(&self.parents)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        parents
            .iter()
            .map(|p| p.depth_above(level + 1) + 1)
            .max()
            .unwrap_or(0)
    }
}

/// The epoll behind `file`, if it is one.
pub fn as_epoll(file: &OpenFile) -> Option<&Arc<EpollShared>> {
    file.ops_any()
        .and_then(|a| a.downcast_ref::<EpollFile>())
        .map(|e| &e.shared)
}

/// The `FileOps` of an epoll file description.
#[derive(Debug)]
pub struct EpollFile {
    shared: Arc<EpollShared>,
}

impl Drop for EpollFile {
    /// Closing the epoll unregisters every item from its target's queue.
    fn drop(&mut self) {
        let items = std::mem::take(&mut lock(&self.shared.interests).items);
        for it in items.into_values() {
            it.notify.armed_mask.store(0, Ordering::Release);
            if let Some(file) = it.file.upgrade()
                && let (Some(q), Some(id)) = (file.wait_queue(), it.reg)
            {
                q.unregister(id);
            }
        }
    }
}

impl FileOps for EpollFile {
    fn read_at(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write_at(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    fn is_seekable(&self) -> bool {
        false
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(vfs::anon_inode_stat())
    }
    fn readiness(&self, mask: EventMask) -> EventMask {
        EventMask::readable_if(self.shared.has_ready(), mask)
    }
    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.shared.queue)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A new epoll file description.
pub fn new_epoll() -> Arc<OpenFile> {
    let ops = EpollFile {
        shared: Arc::new(EpollShared::default()),
    };
    OpenFile::new_ops(None, Box::new(ops), O_RDWR)
}

/// Whether epoll may watch `file` (Linux: the file has a `poll` method, else EPERM). Files
/// with a wait queue (pipes, eventfds, epolls, pidfds) can; the rest are judged by type, as
/// Linux's file operations are: regular files, directories and block devices have no poll; of
/// the memory devices (major 1) only /dev/random has one; everything else (terminals, host
/// pipes and sockets handed in as stdio) does. The same rule covers host fds, whose type comes
/// from the host's fstat.
pub fn can_watch(file: &OpenFile) -> bool {
    if file.wait_queue().is_some() {
        return true;
    }
    match file.stat() {
        Ok(st) => type_can_poll(st.mode, st.rdev),
        Err(_) => file.path().is_none(),
    }
}

/// The type rule of [`can_watch`] (pure).
pub fn type_can_poll(mode: u32, rdev: u64) -> bool {
    use abi::file::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFMT, S_IFREG, dev_major, dev_minor};
    match mode & S_IFMT {
        S_IFREG | S_IFDIR | S_IFBLK => false,
        S_IFCHR if dev_major(rdev) == 1 => dev_minor(rdev) == 8,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::eventfd::{EventFdOpts, new_eventfd};
    use crate::kernel::pipe::new_pipe;

    const IN: u32 = 0x1;
    const OUT: u32 = 0x4;

    fn ep() -> (Arc<OpenFile>, Arc<EpollShared>) {
        let f = new_epoll();
        let s = Arc::clone(as_epoll(&f).expect("an epoll"));
        (f, s)
    }

    fn efd(v: u32) -> Arc<OpenFile> {
        new_eventfd(
            v,
            EventFdOpts {
                nonblocking: true,
                ..EventFdOpts::default()
            },
        )
    }

    fn evs(v: &[EpollEvent]) -> Vec<(u32, u64)> {
        v.iter().map(|e| (e.events, e.data)).collect()
    }

    #[test]
    fn decide_level_triggered_reports_and_requeues() {
        let d = decide(ItemConf::new(IN, 0), true, EventMask::IN | EventMask::OUT);
        assert_eq!(d.report, Some(EventMask::IN));
        assert!(d.requeue && !d.disarm);
    }

    #[test]
    fn decide_edge_triggered_reports_once() {
        let d = decide(ItemConf::new(IN | EPOLLET, 0), true, EventMask::IN);
        assert_eq!(d.report, Some(EventMask::IN));
        assert!(!d.requeue);
    }

    #[test]
    fn decide_oneshot_disarms_and_disarmed_reports_nothing() {
        let c = ItemConf::new(IN | EPOLLONESHOT, 0);
        let d = decide(c, true, EventMask::IN);
        assert!(d.disarm && !d.requeue && d.report.is_some());
        assert_eq!(decide(c, false, EventMask::IN).report, None);
    }

    #[test]
    fn decide_not_ready_is_dropped_but_hup_is_always_reported() {
        let c = ItemConf::new(IN, 0);
        assert_eq!(decide(c, true, EventMask::OUT).report, None);
        assert_eq!(decide(c, true, EventMask::HUP).report, Some(EventMask::HUP));
    }

    #[test]
    fn only_pollable_types_can_be_watched() {
        use abi::file::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFREG, S_IFSOCK, makedev};
        assert!(!type_can_poll(S_IFREG | 0o644, 0));
        assert!(!type_can_poll(S_IFDIR | 0o755, 0));
        assert!(!type_can_poll(S_IFCHR | 0o666, makedev(1, 3)));
        assert!(type_can_poll(S_IFCHR | 0o666, makedev(1, 8)));
        assert!(type_can_poll(S_IFCHR | 0o620, makedev(136, 0)));
        assert!(type_can_poll(S_IFIFO | 0o600, 0));
        assert!(type_can_poll(S_IFSOCK | 0o777, 0));
    }

    #[test]
    fn check_ctl_rules() {
        assert_eq!(
            check_ctl(EPOLL_CTL_ADD, IN, true, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ctl(EPOLL_CTL_MOD, IN | EPOLLEXCLUSIVE, false, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ctl(EPOLL_CTL_ADD, IN | EPOLLEXCLUSIVE, false, false),
            Ok(())
        );
        assert_eq!(
            check_ctl(EPOLL_CTL_ADD, IN | EPOLLEXCLUSIVE, false, true),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ctl(
                EPOLL_CTL_ADD,
                IN | EPOLLONESHOT | EPOLLEXCLUSIVE,
                false,
                false
            ),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ctl(EPOLL_CTL_DEL, EPOLLEXCLUSIVE, false, false),
            Ok(())
        );
    }

    #[test]
    fn level_triggered_item_stays_ready_until_drained() {
        let (_f, s) = ep();
        let e = efd(1);
        s.add(5, &e, ItemConf::new(IN, 42)).unwrap();
        assert_eq!(evs(&s.collect(8)), [(IN, 42)]);
        assert_eq!(evs(&s.collect(8)), [(IN, 42)]);
        e.read(&mut [0u8; 8]).unwrap();
        assert!(s.collect(8).is_empty());
        // A new write makes it ready again through the notifier.
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(evs(&s.collect(8)), [(IN, 42)]);
    }

    #[test]
    fn edge_triggered_item_reports_once_per_event() {
        let (_f, s) = ep();
        let e = efd(1);
        s.add(5, &e, ItemConf::new(IN | EPOLLET, 7)).unwrap();
        assert_eq!(evs(&s.collect(8)), [(IN, 7)]);
        assert!(s.collect(8).is_empty());
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(evs(&s.collect(8)), [(IN, 7)]);
        assert!(s.collect(8).is_empty());
    }

    #[test]
    fn oneshot_item_is_disarmed_until_mod() {
        let (_f, s) = ep();
        let e = efd(1);
        s.add(5, &e, ItemConf::new(IN | EPOLLONESHOT, 1)).unwrap();
        assert_eq!(s.collect(8).len(), 1);
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert!(s.collect(8).is_empty());
        s.modify(5, &e, ItemConf::new(IN | EPOLLONESHOT, 2))
            .unwrap();
        assert_eq!(evs(&s.collect(8)), [(IN, 2)]);
    }

    #[test]
    fn add_twice_is_eexist_and_mod_del_of_absent_is_enoent() {
        let (_f, s) = ep();
        let e = efd(0);
        s.add(5, &e, ItemConf::new(IN, 0)).unwrap();
        assert_eq!(s.add(5, &e, ItemConf::new(IN, 0)), Err(Errno::EEXIST));
        // Same file under another fd number is another interest.
        assert_eq!(s.add(6, &e, ItemConf::new(IN, 0)), Ok(()));
        s.delete(5, &e).unwrap();
        assert_eq!(s.delete(5, &e), Err(Errno::ENOENT));
        assert_eq!(s.modify(5, &e, ItemConf::new(IN, 0)), Err(Errno::ENOENT));
    }

    #[test]
    fn delete_unregisters_from_the_target_queue() {
        let (_f, s) = ep();
        let e = efd(0);
        s.add(5, &e, ItemConf::new(IN, 0)).unwrap();
        assert!(!e.wait_queue().unwrap().is_empty());
        s.delete(5, &e).unwrap();
        assert!(e.wait_queue().unwrap().is_empty());
    }

    #[test]
    fn closing_the_epoll_unregisters_its_items() {
        let (f, s) = ep();
        let e = efd(0);
        s.add(5, &e, ItemConf::new(IN, 0)).unwrap();
        drop(s);
        drop(f);
        assert!(e.wait_queue().unwrap().is_empty());
    }

    #[test]
    fn closed_file_disappears_from_the_interest_list() {
        let (_f, s) = ep();
        let (r, w) = new_pipe(0);
        s.add(3, &r, ItemConf::new(IN, 9)).unwrap();
        w.write(b"x").unwrap();
        drop(r);
        assert!(s.collect(8).is_empty());
        assert!(lock(&s.interests).items.is_empty());
    }

    #[test]
    fn pipe_hangup_is_reported_without_asking() {
        let (_f, s) = ep();
        let (r, w) = new_pipe(0);
        s.add(3, &r, ItemConf::new(IN, 9)).unwrap();
        drop(w);
        assert_eq!(evs(&s.collect(8)), [(0x10, 9)]);
    }

    #[test]
    fn maxevents_limits_and_rotates() {
        let (_f, s) = ep();
        let a = efd(1);
        let b = efd(1);
        s.add(1, &a, ItemConf::new(IN, 1)).unwrap();
        s.add(2, &b, ItemConf::new(IN, 2)).unwrap();
        assert_eq!(evs(&s.collect(1)), [(IN, 1)]);
        assert_eq!(evs(&s.collect(1)), [(IN, 2)]);
        assert_eq!(evs(&s.collect(1)), [(IN, 1)]);
    }

    #[test]
    fn writable_eventfd_reports_out() {
        let (_f, s) = ep();
        let e = efd(0);
        s.add(1, &e, ItemConf::new(IN | OUT, 3)).unwrap();
        assert_eq!(evs(&s.collect(8)), [(OUT, 3)]);
    }

    #[test]
    fn nested_epoll_is_readable_when_inner_has_events() {
        let (outer_f, outer) = ep();
        let (inner_f, inner) = ep();
        let e = efd(0);
        inner.add(1, &e, ItemConf::new(IN, 0)).unwrap();
        outer.add(2, &inner_f, ItemConf::new(IN, 5)).unwrap();
        assert!(outer.collect(8).is_empty());
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(evs(&outer.collect(8)), [(IN, 5)]);
        // Both stay readable: the items are level-triggered and still ready.
        assert_eq!(outer_f.readiness(EventMask::IN), EventMask::IN);
        assert_eq!(inner_f.readiness(EventMask::IN), EventMask::IN);
    }

    #[test]
    fn cycles_are_eloop() {
        let (af, a) = ep();
        let (bf, b) = ep();
        a.add(1, &bf, ItemConf::new(IN, 0)).unwrap();
        assert_eq!(b.add(1, &af, ItemConf::new(IN, 0)), Err(Errno::ELOOP));
    }

    #[test]
    fn chains_longer_than_five_are_eloop_from_either_end() {
        let eps: Vec<(Arc<OpenFile>, Arc<EpollShared>)> = (0..6).map(|_| ep()).collect();
        for i in 0..4 {
            eps[i]
                .1
                .add(1, &eps[i + 1].0, ItemConf::new(IN, 0))
                .unwrap();
        }
        assert_eq!(
            eps[4].1.add(1, &eps[5].0, ItemConf::new(IN, 0)),
            Err(Errno::ELOOP)
        );
        let eps: Vec<(Arc<OpenFile>, Arc<EpollShared>)> = (0..6).map(|_| ep()).collect();
        for i in (1..5).rev() {
            eps[i]
                .1
                .add(1, &eps[i + 1].0, ItemConf::new(IN, 0))
                .unwrap();
        }
        assert_eq!(
            eps[0].1.add(1, &eps[1].0, ItemConf::new(IN, 0)),
            Err(Errno::ELOOP)
        );
    }

    #[test]
    fn notify_wakes_a_waiter_on_the_epoll_queue() {
        use vfs::waiter::{Waiter, WakeReason};
        let (_f, s) = ep();
        let e = efd(0);
        s.add(1, &e, ItemConf::new(IN, 0)).unwrap();
        let w = Waiter::new();
        let _r = s.queue().register(w.clone(), EventMask::IN);
        w.prepare();
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(w.wait(None), WakeReason::Notified);
    }
}
