//! Advisory file locks: flock(2) locks, POSIX record locks (fcntl F_SETLK) and open file
//! description record locks (fcntl F_OFD_SETLK), enforced inside the sentry.
//!
//! **Identity of a file.** Locks are keyed by [`FileKey`] = `(st_dev, st_ino)` from the file's
//! stat, computed once per open file description ([`crate::OpenFile::lock_key`]). That key is
//! stable for one file across opens, hard links and filesystems that make a new inode object
//! per lookup (p9fs), and an overlay that wraps inodes stays correct as long as it reports a
//! stable `(st_dev, st_ino)` for one file, also across a copy-up (it must anyway: `find`,
//! `tar` and `cp -a` rely on it; Linux's overlayfs keeps the lower inode number). The
//! alternative, the address of the inode `Arc`, would need the `Arc` held alive by
//! the lock table and would split one file into two if a filesystem ever handed out two
//! inode objects for it. Anonymous files (pipes, sockets, eventfds) use their own stat, so
//! like Linux all anon-inode files share one key.
//!
//! **Owners.**
//! - flock locks belong to an open file description ([`Owner::Ofd`], the `OpenFile`'s
//!   address): shared by dup'd and inherited fds, released when the description is dropped
//!   (its last fd closed) — `OpenFile`'s `Drop` calls [`release_ofd`].
//! - POSIX record locks belong to a process's fd table ([`Owner::Posix`], an id the sentry's
//!   `FdTable` carries, as Linux uses `current->files`), remember the locker's tgid for
//!   F_GETLK's `l_pid`, and are released when that table closes *any* fd of the file
//!   ([`release_posix`], called by the fd table on close, dup2 over an fd, close-on-exec and
//!   when the table itself is dropped at exit).
//! - OFD record locks belong to the open file description, like flock locks, but share the
//!   record list with POSIX locks (they conflict with the same process's POSIX locks).
//!
//! flock and record locks never interact (Linux, local filesystems).
//!
//! **Ranges** are inclusive `[start, end]` byte ranges within `0..=OFFSET_MAX` (`i64::MAX`,
//! "to EOF and beyond" for `l_len == 0`). Setting a lock replaces the owner's locks in the
//! range, splitting those it cuts and merging adjacent or overlapping locks of the same type,
//! as fs/locks.c does; the owner's locks never overlap each other.
//!
//! **Blocking** is done by the caller (the sentry's syscall layer): the operations here never
//! sleep; on a conflict they return EAGAIN and the caller waits on the file's queue
//! ([`LockWait`]), which every unlock, downgrade and release notifies, then retries. While a
//! POSIX owner waits its request is recorded so that another F_SETLKW can detect a deadlock
//! (EDEADLK): a cycle in the "owner waits for owner" graph through POSIX owners (OFD waiters
//! are not part of it, as on Linux).
//!
//! [`snapshot`] lists every held lock for /proc/locks (the sentry's procfs formats it).
//!
//! **Lock order:** the one table mutex, then a file's wait queue (notify under the table
//! lock). Called with an fd table lock held (release on close); never takes VFS locks other
//! than what [`crate::OpenFile::stat`] takes, and that only before the table lock.
//!
//! **Shortcuts:** one global table for the sentry process (dev numbers are unique per
//! sentry, so sandboxes cannot collide); no lock leases, no mandatory locking; at most
//! [`MAX_RECORDS_PER_FILE`] record locks per file (then ENOLCK), so an app cannot grow the
//! table without bound.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use abi::{Errno, SysResult};

use crate::waiter::{EventMask, WaitQueue};

/// The identity of a locked file: `(st_dev, st_ino)`.
pub type FileKey = (u64, u64);

/// The largest offset (Linux OFFSET_MAX): `l_len == 0` locks end here.
pub const OFFSET_MAX: u64 = i64::MAX as u64;

/// Record locks one file may carry (then ENOLCK).
pub const MAX_RECORDS_PER_FILE: usize = 1 << 16;

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A process's fd table (POSIX record locks).
    Posix(u64),
    /// An open file description (flock and OFD record locks).
    Ofd(usize),
}

/// A record lock's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockType {
    Read,
    Write,
}

/// One record lock (or a request for one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLock {
    pub owner: Owner,
    pub ty: LockType,
    /// First byte.
    pub start: u64,
    /// Last byte, inclusive ([`OFFSET_MAX`]: to the end of any file).
    pub end: u64,
    /// The locker's tgid (POSIX locks; 0 for OFD locks).
    pub pid: i32,
}

impl RecordLock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    /// Whether `self` (held) blocks the request `req`.
    fn conflicts(&self, req: &RecordLock) -> bool {
        self.owner != req.owner
            && self.overlaps(req.start, req.end)
            && (self.ty == LockType::Write || req.ty == LockType::Write)
    }
}

/// A flock(2) lock type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlockType {
    Shared,
    Exclusive,
}

#[derive(Debug, Default)]
struct FileLocks {
    /// (description, type, the locker's tgid).
    flocks: Vec<(usize, FlockType, i32)>,
    /// Sorted by start.
    records: Vec<RecordLock>,
    queue: Arc<WaitQueue>,
}

impl FileLocks {
    fn is_unused(&self) -> bool {
        self.flocks.is_empty() && self.records.is_empty() && Arc::strong_count(&self.queue) == 1
    }

    fn wake(&self) {
        self.queue.notify(EventMask::IN);
    }
}

#[derive(Debug, Default)]
struct Table {
    files: HashMap<FileKey, FileLocks>,
    /// Blocked F_SETLKW calls of POSIX owners, by [`LockWait`] id: the owner, the file and
    /// the lock it waits for (threads of one process may each wait for something).
    waiting: HashMap<u64, (u64, FileKey, RecordLock)>,
    /// How many POSIX record locks each owner holds (any file).
    posix_owners: HashMap<u64, usize>,
}

/// The number of POSIX record locks in the sentry: closing an fd pays nothing while it is 0.
static POSIX_LOCKS: AtomicUsize = AtomicUsize::new(0);

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(|| Mutex::new(Table::default()));

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Table {
    /// Drops `key`'s entry if nothing is locked and nobody waits.
    fn gc(&mut self, key: FileKey) {
        if self.files.get(&key).is_some_and(FileLocks::is_unused) {
            self.files.remove(&key);
        }
    }

    /// Runs `f` on the record list of `key`, keeping the POSIX counters in step.
    fn with_records<R>(&mut self, key: FileKey, f: impl FnOnce(&mut FileLocks) -> R) -> R {
        let fl = self.files.entry(key).or_default();
        let before: Vec<(u64, usize)> = posix_counts(&fl.records);
        let r = f(fl);
        let after: Vec<(u64, usize)> = posix_counts(&fl.records);
        for (o, n) in before {
            if let Some(c) = self.posix_owners.get_mut(&o) {
                *c = c.saturating_sub(n);
            }
            POSIX_LOCKS.fetch_sub(n, Ordering::Relaxed);
        }
        for (o, n) in after {
            *self.posix_owners.entry(o).or_insert(0) += n;
            POSIX_LOCKS.fetch_add(n, Ordering::Relaxed);
        }
        self.posix_owners.retain(|_, c| *c > 0);
        self.gc(key);
        r
    }

    /// Whether granting nothing to `caller` now and letting it wait for `req` would close a
    /// cycle of POSIX owners waiting for each other (fs/locks.c posix_locks_deadlock, but
    /// following every blocker rather than the first).
    fn would_deadlock(&self, caller: u64, key: FileKey, req: &RecordLock) -> bool {
        let blockers = |k: FileKey, r: &RecordLock| -> Vec<u64> {
            self.files.get(&k).map_or_else(Vec::new, |fl| {
                fl.records
                    .iter()
                    .filter(|l| l.conflicts(r))
                    .filter_map(|l| match l.owner {
                        Owner::Posix(o) => Some(o),
                        Owner::Ofd(_) => None,
                    })
                    .collect()
            })
        };
        let mut frontier = blockers(key, req);
        let mut seen = HashSet::new();
        while let Some(o) = frontier.pop() {
            if o == caller {
                return true;
            }
            if !seen.insert(o) || seen.len() > 1024 {
                continue;
            }
            for (_, k, r) in self.waiting.values().filter(|(w, _, _)| *w == o) {
                frontier.extend(blockers(*k, r));
            }
        }
        false
    }
}

fn posix_counts(records: &[RecordLock]) -> Vec<(u64, usize)> {
    let mut v: Vec<(u64, usize)> = Vec::new();
    for r in records {
        if let Owner::Posix(o) = r.owner {
            match v.iter_mut().find(|(x, _)| *x == o) {
                Some((_, n)) => *n += 1,
                None => v.push((o, 1)),
            }
        }
    }
    v
}

/// Replaces `owner`'s locks in `[start, end]` by a lock of type `ty` (or by nothing: unlock),
/// splitting and merging as Linux does. Pure; the result stays sorted by start.
fn apply(
    records: &[RecordLock],
    owner: Owner,
    ty: Option<LockType>,
    start: u64,
    end: u64,
    pid: i32,
) -> Vec<RecordLock> {
    let (mut lo, mut hi) = (start, end);
    let mut out = Vec::with_capacity(records.len().saturating_add(2));
    for l in records {
        if l.owner != owner {
            out.push(*l);
            continue;
        }
        // Same type and overlapping or adjacent: absorbed into the new lock.
        if ty == Some(l.ty) && l.start <= end.saturating_add(1) && start <= l.end.saturating_add(1)
        {
            lo = lo.min(l.start);
            hi = hi.max(l.end);
            continue;
        }
        if !l.overlaps(start, end) {
            out.push(*l);
            continue;
        }
        if l.start < start {
            out.push(RecordLock {
                end: start - 1,
                ..*l
            });
        }
        if l.end > end {
            out.push(RecordLock {
                start: end + 1,
                ..*l
            });
        }
    }
    if let Some(ty) = ty {
        out.push(RecordLock {
            owner,
            ty,
            start: lo,
            end: hi,
            pid,
        });
    }
    out.sort_by_key(|l| (l.start, l.end));
    out
}

/// The first lock on `key` that blocks `req` (F_GETLK), if any.
pub fn test_record(key: FileKey, req: &RecordLock) -> Option<RecordLock> {
    let t = table();
    t.files
        .get(&key)
        .and_then(|fl| fl.records.iter().find(|l| l.conflicts(req)).copied())
}

/// Sets (`ty = Some`) or removes (`None`) `owner`'s record lock over `[start, end]`.
/// EAGAIN on a conflict; with a `wait` for a POSIX owner, EDEADLK if waiting would deadlock
/// (otherwise the request is recorded as waited for until the [`LockWait`] is dropped or the
/// lock is granted); ENOLCK beyond [`MAX_RECORDS_PER_FILE`].
pub fn set_record(
    key: FileKey,
    owner: Owner,
    ty: Option<LockType>,
    start: u64,
    end: u64,
    pid: i32,
    wait: Option<&LockWait>,
) -> SysResult<()> {
    let mut t = table();
    let req = RecordLock {
        owner,
        ty: ty.unwrap_or(LockType::Read),
        start,
        end,
        pid,
    };
    if ty.is_some()
        && t.files
            .get(&key)
            .is_some_and(|fl| fl.records.iter().any(|l| l.conflicts(&req)))
    {
        if let (Some(w), Owner::Posix(o)) = (wait, owner) {
            if t.would_deadlock(o, key, &req) {
                return Err(Errno::EDEADLK);
            }
            t.waiting.insert(w.id, (o, key, req));
        }
        return Err(Errno::EAGAIN);
    }
    if let Some(w) = wait {
        t.waiting.remove(&w.id);
    }
    if ty.is_none() && !t.files.contains_key(&key) {
        return Ok(());
    }
    t.with_records(key, |fl| {
        let new = apply(&fl.records, owner, ty, start, end, pid);
        if new.len() > MAX_RECORDS_PER_FILE {
            return Err(Errno::ENOLCK);
        }
        if new != fl.records {
            fl.records = new;
            fl.wake();
        }
        Ok(())
    })
}

/// flock(2) on `key` for the description `ofd`: `Some(ty)` locks (converting an existing
/// lock of the other type: the old lock goes first, as on Linux, so a failed conversion
/// leaves none), `None` unlocks. EAGAIN on a conflict. `pid` (the locker's tgid) is what
/// /proc/locks shows.
pub fn flock(key: FileKey, ofd: usize, ty: Option<FlockType>, pid: i32) -> SysResult<()> {
    let mut t = table();
    let fl = t.files.entry(key).or_default();
    let mine = fl.flocks.iter().position(|(o, _, _)| *o == ofd);
    let r = match (mine, ty) {
        (Some(i), Some(want)) if fl.flocks.get(i).is_some_and(|(_, h, _)| *h == want) => Ok(()),
        _ => {
            if let Some(i) = mine {
                fl.flocks.remove(i);
                fl.wake();
            }
            match ty {
                None => Ok(()),
                Some(want) => {
                    let blocked = fl.flocks.iter().any(|(_, h, _)| {
                        *h == FlockType::Exclusive || want == FlockType::Exclusive
                    });
                    if blocked {
                        Err(Errno::EAGAIN)
                    } else {
                        fl.flocks.push((ofd, want, pid));
                        Ok(())
                    }
                }
            }
        }
    };
    t.gc(key);
    r
}

/// Drops every lock the description `ofd` holds on `key` (flock and OFD record locks): its
/// last reference is gone.
pub fn release_ofd(key: FileKey, ofd: usize) {
    let mut t = table();
    if !t.files.contains_key(&key) {
        return;
    }
    t.with_records(key, |fl| {
        let n = fl.records.len() + fl.flocks.len();
        fl.records.retain(|l| l.owner != Owner::Ofd(ofd));
        fl.flocks.retain(|(o, _, _)| *o != ofd);
        if fl.records.len() + fl.flocks.len() != n {
            fl.wake();
        }
    });
}

/// Whether `owner` (an fd table) may hold POSIX locks: the cheap test before
/// [`release_posix`] needs the file's key.
pub fn posix_owner_has_locks(owner: u64) -> bool {
    POSIX_LOCKS.load(Ordering::Relaxed) != 0 && table().posix_owners.contains_key(&owner)
}

/// Drops every POSIX lock fd table `owner` holds on `key`: it closed an fd of the file.
pub fn release_posix(key: FileKey, owner: u64) {
    let mut t = table();
    if !t.files.contains_key(&key) {
        return;
    }
    t.with_records(key, |fl| {
        let n = fl.records.len();
        fl.records.retain(|l| l.owner != Owner::Posix(owner));
        if fl.records.len() != n {
            fl.wake();
        }
    });
}

/// Which kind of lock a [`LockInfo`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockClass {
    Flock,
    Posix,
    Ofd,
}

/// One held lock, for /proc/locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockInfo {
    pub class: LockClass,
    /// Exclusive (write) rather than shared (read).
    pub write: bool,
    /// The locker's tgid (-1 for OFD locks, as Linux shows them).
    pub pid: i32,
    pub key: FileKey,
    pub start: u64,
    /// Last byte ([`OFFSET_MAX`]: to EOF); flock locks cover the whole file.
    pub end: u64,
}

/// Every lock held in the sentry, ordered by file (for /proc/locks).
pub fn snapshot() -> Vec<LockInfo> {
    let t = table();
    let mut keys: Vec<&FileKey> = t.files.keys().collect();
    keys.sort_unstable();
    let mut out = Vec::new();
    for key in keys {
        let Some(fl) = t.files.get(key) else { continue };
        for (_, ty, pid) in &fl.flocks {
            out.push(LockInfo {
                class: LockClass::Flock,
                write: *ty == FlockType::Exclusive,
                pid: *pid,
                key: *key,
                start: 0,
                end: OFFSET_MAX,
            });
        }
        for r in &fl.records {
            let (class, pid) = match r.owner {
                Owner::Posix(_) => (LockClass::Posix, r.pid),
                Owner::Ofd(_) => (LockClass::Ofd, -1),
            };
            out.push(LockInfo {
                class,
                write: r.ty == LockType::Write,
                pid,
                key: *key,
                start: r.start,
                end: r.end,
            });
        }
    }
    out
}

/// A registration to wait for a lock change on one file; while it lives the file's entry
/// stays in the table (so a waker finds the same queue). Dropping it forgets the POSIX
/// owner's recorded wait.
#[derive(Debug)]
pub struct LockWait {
    key: FileKey,
    queue: Arc<WaitQueue>,
    id: u64,
}

impl LockWait {
    /// Starts waiting on `key`.
    pub fn new(key: FileKey) -> LockWait {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let mut t = table();
        let queue = Arc::clone(&t.files.entry(key).or_default().queue);
        LockWait {
            key,
            queue,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The queue every change of the file's locks notifies (with `IN`).
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }
}

impl Drop for LockWait {
    fn drop(&mut self) {
        let mut t = table();
        t.waiting.remove(&self.id);
        // Our Arc still counts: release it first, then collect.
        let q = std::mem::take(&mut self.queue);
        drop(q);
        t.gc(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rl(o: u64, ty: LockType, start: u64, end: u64) -> RecordLock {
        RecordLock {
            owner: Owner::Posix(o),
            ty,
            start,
            end,
            pid: 1,
        }
    }

    #[test]
    fn unlock_in_the_middle_splits() {
        let v = apply(&[], Owner::Posix(1), Some(LockType::Write), 0, 99, 1);
        let v = apply(&v, Owner::Posix(1), None, 10, 19, 1);
        assert_eq!(
            v,
            vec![rl(1, LockType::Write, 0, 9), rl(1, LockType::Write, 20, 99)]
        );
    }

    #[test]
    fn adjacent_same_type_merges_and_other_type_splits() {
        let v = apply(&[], Owner::Posix(1), Some(LockType::Read), 0, 9, 1);
        let v = apply(&v, Owner::Posix(1), Some(LockType::Read), 10, 19, 1);
        assert_eq!(v, vec![rl(1, LockType::Read, 0, 19)]);
        let v = apply(&v, Owner::Posix(1), Some(LockType::Write), 5, 14, 1);
        assert_eq!(
            v,
            vec![
                rl(1, LockType::Read, 0, 4),
                rl(1, LockType::Write, 5, 14),
                rl(1, LockType::Read, 15, 19)
            ]
        );
    }

    #[test]
    fn other_owners_are_untouched_and_conflict() {
        let v = apply(&[], Owner::Posix(1), Some(LockType::Read), 0, 9, 1);
        let v = apply(&v, Owner::Posix(2), Some(LockType::Read), 5, OFFSET_MAX, 1);
        assert_eq!(v.len(), 2);
        let w = rl(3, LockType::Write, 9, 9);
        assert_eq!(v.iter().filter(|l| l.conflicts(&w)).count(), 2);
        let r = rl(3, LockType::Read, 9, 9);
        assert!(!v.iter().any(|l| l.conflicts(&r)));
    }

    #[test]
    fn edges_of_the_offset_range_do_not_overflow() {
        let v = apply(
            &[],
            Owner::Posix(1),
            Some(LockType::Write),
            0,
            OFFSET_MAX,
            1,
        );
        let v = apply(&v, Owner::Posix(1), None, 0, 0, 1);
        assert_eq!(v, vec![rl(1, LockType::Write, 1, OFFSET_MAX)]);
        let v = apply(&v, Owner::Posix(1), None, OFFSET_MAX, OFFSET_MAX, 1);
        assert_eq!(v, vec![rl(1, LockType::Write, 1, OFFSET_MAX - 1)]);
    }

    #[test]
    fn flock_conflicts_and_conversion() {
        let key = (u64::MAX, 1);
        assert_eq!(flock(key, 1, Some(FlockType::Shared), 1), Ok(()));
        assert_eq!(flock(key, 2, Some(FlockType::Shared), 1), Ok(()));
        assert_eq!(
            flock(key, 3, Some(FlockType::Exclusive), 1),
            Err(Errno::EAGAIN)
        );
        // A failed conversion drops the old lock.
        assert_eq!(
            flock(key, 1, Some(FlockType::Exclusive), 1),
            Err(Errno::EAGAIN)
        );
        assert_eq!(flock(key, 2, None, 1), Ok(()));
        assert_eq!(flock(key, 3, Some(FlockType::Exclusive), 1), Ok(()));
        release_ofd(key, 3);
        assert!(!table().files.contains_key(&key));
    }

    #[test]
    fn posix_deadlock_is_detected() {
        let (k1, k2) = ((u64::MAX, 2), (u64::MAX, 3));
        let w = Some(LockType::Write);
        assert_eq!(set_record(k1, Owner::Posix(10), w, 0, 0, 10, None), Ok(()));
        assert_eq!(set_record(k2, Owner::Posix(11), w, 0, 0, 11, None), Ok(()));
        let wait = LockWait::new(k2);
        assert_eq!(
            set_record(k2, Owner::Posix(10), w, 0, 0, 10, Some(&wait)),
            Err(Errno::EAGAIN)
        );
        let wait2 = LockWait::new(k1);
        assert_eq!(
            set_record(k1, Owner::Posix(11), w, 0, 0, 11, Some(&wait2)),
            Err(Errno::EDEADLK)
        );
        drop(wait2);
        drop(wait);
        release_posix(k1, 10);
        release_posix(k2, 11);
        assert!(!posix_owner_has_locks(10));
        assert!(!table().files.contains_key(&k1));
        assert!(!table().files.contains_key(&k2));
    }
}
