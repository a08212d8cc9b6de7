//! inotify(7): watch instances, the sandbox-wide watch registry, and the notification hooks
//! the VFS core calls (`lookup.rs` for name operations, `file.rs` for I/O and close,
//! `VfsPath::{chmod,chown,utimens}` for attributes).
//!
//! # Where events come from
//! Every filesystem's operations pass through the VFS core before reaching `Inode`/`FileOps`,
//! so the hooks sit there, after the operation succeeded, and work for tmpfs, p9fs, devfs and
//! any filesystem that wraps others (the overlay) without per-filesystem code. Events are
//! the ones of changes made *inside* the sandbox: a file changed on the host behind the gofer
//! sends nothing (as with Linux over 9P).
//!
//! # Watches are keyed by inode identity: (`st_dev`, `st_ino`)
//! A watch belongs to an inode, not to a name. The key is the pair `fstat` would show — the
//! filesystem instance's device number and the inode number it reports — and the watch also
//! keeps the location it was added at alive (its `VfsPath`, hence the dentry), as Linux's
//! mark pins the inode. Why the number pair and not the address of the `Arc<dyn Inode>`:
//! inode *objects* are not unique per file. p9fs builds one per looked-up name, so hard links
//! are two objects, and the overlay builds an `OvInode` per name too (and may rebuild one after
//! dentry eviction), while a file keeps its number: the overlay keeps the lower number across
//! copy-up and hard links made in the sandbox share the upper one. A watch on a file
//! therefore hears about it through any of its names and after copy-up, and
//! inotify_add_watch on a second hard link returns the first one's wd, as on Linux. The
//! price is one `attr()` per hooked operation *while some watch exists* (cached for tmpfs,
//! the overlay and p9fs in exclusive mode). Filesystems whose inode numbers are not unique
//! (generated procfs files) could see events of a namesake; nobody watches them.
//!
//! # Fast path
//! [`active`] is one relaxed atomic load of the number of live watches; every hook returns at
//! once when it is zero, so a sandbox that never calls inotify_add_watch pays one load per
//! hooked operation.
//!
//! # Semantics (fs/notify/inotify/inotify_user.c, fs/notify/fsnotify.c, include/linux/fsnotify.h)
//! - "Dentry" events (ACCESS, MODIFY, ATTRIB, OPEN, CLOSE_*) go to the inode's own watches
//!   (no name) and to its parent directory's watches (with the name), the parent first; a
//!   child that was unlinked still reports to its old directory unless that watch has
//!   IN_EXCL_UNLINK. A mount root has no parent here (its `d_parent` is itself).
//! - "Inode" events (ATTRIB for a link-count change, MOVE_SELF, DELETE_SELF) go to the
//!   inode's own watches only; directory events (CREATE, DELETE, MOVED_FROM/TO with one
//!   cookie per rename) to the directory's watches, named.
//! - IN_ISDIR is set on every event whose subject is a directory, IN_IGNORED (never with
//!   IN_ISDIR) follows DELETE_SELF, inotify_rm_watch and an IN_ONESHOT event.
//! - An event identical to the last queued one (wd, mask, cookie, name) is dropped; past
//!   [`MAX_QUEUED_EVENTS`] one IN_Q_OVERFLOW (wd -1) is queued and further events are lost
//!   until the queue is read.
//!
//! Shortcuts: DELETE_SELF is sent when the last link goes, even if the file is still open
//! (Linux waits for the last reference); IN_UNMOUNT is never sent; page faults of mapped
//! files that read through `OpenFile::pread` count as IN_ACCESS.
//!
//! # Lock order
//! An instance's `state`, then `REGISTRY` (adding and removing watches). Delivery takes
//! `REGISTRY` alone to collect the watches of one inode, drops it, then takes each owner's
//! `state` (and notifies its wait queue under it, as pipes do). No VFS lock is held by a hook.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use abi::inotify::*;
use abi::{Errno, SysResult};

use crate::inode::{FileOps, InodeKind};
use crate::mount::{VfsPath, lock};
use crate::waiter::{EventMask, WaitQueue};

/// Live watches in the sandbox (all instances): the fast-path check.
static WATCHES: AtomicUsize = AtomicUsize::new(0);
/// The next rename cookie.
static COOKIE: AtomicU32 = AtomicU32::new(1);

/// Watches by inode key.
static REGISTRY: LazyLock<Mutex<HashMap<Key, Vec<Arc<Watch>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether any watch exists (the cheap check every hook starts with).
#[inline]
pub fn active() -> bool {
    WATCHES.load(Ordering::Relaxed) != 0
}

/// A fresh cookie tying one rename's MOVED_FROM and MOVED_TO together (never 0).
pub(crate) fn new_cookie() -> u32 {
    loop {
        let c = COOKIE.fetch_add(1, Ordering::Relaxed);
        if c != 0 {
            return c;
        }
    }
}

/// A watched file: (`st_dev`, `st_ino`) as the filesystem reports them (see the module doc).
type Key = (u64, u64);

/// The key of the file at `path`, and whether it is a directory.
fn key_of(path: &VfsPath) -> Option<(Key, bool)> {
    let a = path.attr().ok()?;
    Some(((path.mount.fs.dev(), a.ino), a.kind == InodeKind::Dir))
}

/// One watch as the registry sees it.
#[derive(Debug)]
struct Watch {
    owner: Weak<Shared>,
    wd: i32,
    /// Event bits plus IN_ONESHOT / IN_EXCL_UNLINK.
    mask: AtomicU32,
}

/// One queued event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// The padded name length (`len`): NUL included, rounded up to the header size.
    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            self.name
                .len()
                .saturating_add(1)
                .next_multiple_of(EVENT_HEADER_SIZE)
        }
    }

    fn size(&self) -> usize {
        EVENT_HEADER_SIZE.saturating_add(self.name_len())
    }
}

/// A watch as its instance sees it.
#[derive(Debug)]
struct Slot {
    key: Key,
    rec: Arc<Watch>,
    /// Keeps the dentry, hence the inode object and its key, alive.
    _pin: VfsPath,
}

#[derive(Debug, Default)]
struct State {
    events: VecDeque<Event>,
    /// Sum of the queued records' sizes (FIONREAD).
    bytes: usize,
    overflow_queued: bool,
    watches: BTreeMap<i32, Slot>,
    by_key: HashMap<Key, i32>,
    last_wd: i32,
}

impl State {
    fn push(&mut self, ev: Event) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            if !self.overflow_queued {
                self.overflow_queued = true;
                let ov = Event {
                    wd: -1,
                    mask: IN_Q_OVERFLOW,
                    cookie: 0,
                    name: Vec::new(),
                };
                self.bytes = self.bytes.saturating_add(ov.size());
                self.events.push_back(ov);
            }
            return;
        }
        if self.events.back() == Some(&ev) {
            return;
        }
        self.bytes = self.bytes.saturating_add(ev.size());
        self.events.push_back(ev);
    }
}

/// An inotify instance's shared part (the registry points at it weakly).
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    queue: WaitQueue,
}

impl Shared {
    /// Queues `ev` for watch `rec` if it is still this instance's watch `ev.wd`; handles
    /// IN_ONESHOT. Returns whether the watch was removed (oneshot).
    fn deliver(&self, rec: &Arc<Watch>, ev: Event) {
        let mut st = lock(&self.state);
        let Some(slot) = st.watches.get(&rec.wd) else {
            return;
        };
        if !Arc::ptr_eq(&slot.rec, rec) {
            return;
        }
        let oneshot = rec.mask.load(Ordering::Relaxed) & IN_ONESHOT != 0;
        st.push(ev);
        let removed = if oneshot {
            self.remove_locked(&mut st, rec.wd)
        } else {
            None
        };
        self.queue.notify(EventMask::IN | EventMask::RDNORM);
        drop(st);
        drop(removed);
    }

    /// Removes watch `wd` (queueing IN_IGNORED); the slot is returned so that its pin is
    /// dropped after the lock.
    fn remove_locked(&self, st: &mut State, wd: i32) -> Option<Slot> {
        let slot = st.watches.remove(&wd)?;
        st.by_key.remove(&slot.key);
        unregister(slot.key, &slot.rec);
        st.push(Event {
            wd,
            mask: IN_IGNORED,
            cookie: 0,
            name: Vec::new(),
        });
        Some(slot)
    }
}

fn unregister(key: Key, rec: &Arc<Watch>) {
    let mut reg = lock(&REGISTRY);
    if let Some(list) = reg.get_mut(&key) {
        let before = list.len();
        list.retain(|w| !Arc::ptr_eq(w, rec));
        if list.len() < before {
            WATCHES.fetch_sub(1, Ordering::Relaxed);
        }
        if list.is_empty() {
            reg.remove(&key);
        }
    }
}

/// The watches on `inode` (cloned out of the registry).
fn watches_of(key: Key) -> Vec<Arc<Watch>> {
    lock(&REGISTRY).get(&key).cloned().unwrap_or_default()
}

/// Sends `mask` (an event bit plus IN_ISDIR) with `name` to every watch on `inode` that asks
/// for it; `skip_excl_unlink`: the subject was unlinked from this directory.
fn send(key: Key, mask: u32, cookie: u32, name: &[u8], skip_excl_unlink: bool) {
    for w in watches_of(key) {
        let wmask = w.mask.load(Ordering::Relaxed);
        if wmask & mask & IN_ALL_EVENTS == 0 {
            continue;
        }
        if skip_excl_unlink && wmask & IN_EXCL_UNLINK != 0 {
            continue;
        }
        let Some(owner) = w.owner.upgrade() else {
            continue;
        };
        owner.deliver(
            &w,
            Event {
                wd: w.wd,
                mask,
                cookie,
                name: name.to_vec(),
            },
        );
    }
}

fn isdir(is_dir: bool) -> u32 {
    if is_dir { IN_ISDIR } else { 0 }
}

/// A dentry event (ACCESS, MODIFY, ATTRIB, OPEN, CLOSE_*) on the file at `path`: to its
/// parent directory's watches with its name, then to its own.
pub(crate) fn path_event(path: &VfsPath, mask: u32) {
    if !active() {
        return;
    }
    let Some((key, is_dir)) = key_of(path) else {
        return;
    };
    let mask = mask | isdir(is_dir);
    if !Arc::ptr_eq(&path.dentry, &path.mount.root) {
        let (parent, name) = {
            let l = lock(&path.dentry.link);
            (l.0.upgrade(), l.1.clone())
        };
        if let Some(p) = parent {
            let unlinked = !lock(&p.children)
                .get(&name)
                .is_some_and(|c| Arc::ptr_eq(c, &path.dentry));
            let dir = VfsPath {
                mount: Arc::clone(&path.mount),
                dentry: p,
            };
            if let Some((dkey, _)) = key_of(&dir) {
                send(dkey, mask, 0, &name, unlinked);
            }
        }
    }
    send(key, mask, 0, &[], false);
}

/// An inode event (ATTRIB for a link count, MOVE_SELF) to the own watches of the file at
/// `path`.
pub(crate) fn inode_event(path: &VfsPath, mask: u32) {
    if !active() {
        return;
    }
    if let Some((key, is_dir)) = key_of(path) {
        send(key, mask | isdir(is_dir), 0, &[], false);
    }
}

/// A directory event (CREATE, DELETE, MOVED_FROM, MOVED_TO) on `dir` about child `name`.
pub(crate) fn dir_event(dir: &VfsPath, mask: u32, name: &[u8], is_dir: bool, cookie: u32) {
    if !active() {
        return;
    }
    if let Some((key, _)) = key_of(dir) {
        send(key, mask | isdir(is_dir), cookie, name, false);
    }
}

/// The file at `path` lost its last link (unlink, rmdir, replaced by rename): DELETE_SELF to
/// its watches, which then go away with IN_IGNORED.
pub(crate) fn inode_removed(path: &VfsPath, is_dir: bool) {
    if !active() {
        return;
    }
    let Some((key, _)) = key_of(path) else {
        return;
    };
    send(key, IN_DELETE_SELF | isdir(is_dir), 0, &[], false);
    for w in watches_of(key) {
        if let Some(owner) = w.owner.upgrade() {
            let mut st = lock(&owner.state);
            let mine = st
                .watches
                .get(&w.wd)
                .is_some_and(|s| Arc::ptr_eq(&s.rec, &w));
            let slot = if mine {
                owner.remove_locked(&mut st, w.wd)
            } else {
                None
            };
            owner.queue.notify(EventMask::IN | EventMask::RDNORM);
            drop(st);
            drop(slot);
        }
    }
}

/// Live instances in the sandbox (max_user_instances: the sandbox is one user here).
static INSTANCES: AtomicUsize = AtomicUsize::new(0);

/// An inotify instance: the `FileOps` of the file inotify_init1(2) returns.
#[derive(Debug)]
pub struct Inotify {
    shared: Arc<Shared>,
}

impl Inotify {
    /// A new instance with no watches; EMFILE past [`MAX_USER_INSTANCES`] live ones
    /// (inotify_init(2)).
    pub fn new() -> SysResult<Inotify> {
        INSTANCES
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_USER_INSTANCES).then_some(n.saturating_add(1))
            })
            .map_err(|_| Errno::EMFILE)?;
        Ok(Inotify {
            shared: Arc::default(),
        })
    }

    /// inotify_add_watch(2) on the resolved `path` (the syscall resolved it with IN_DONT_FOLLOW
    /// and IN_ONLYDIR and checked read permission): the watch descriptor. EEXIST for
    /// IN_MASK_CREATE on a watched inode, ENOSPC past [`MAX_USER_WATCHES`].
    pub fn add_watch(&self, path: &VfsPath, mask: u32) -> SysResult<i32> {
        let (key, _) = key_of(path).ok_or(Errno::ENOENT)?;
        let bits = mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK);
        let mut st = lock(&self.shared.state);
        if let Some(&wd) = st.by_key.get(&key) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            if let Some(slot) = st.watches.get(&wd) {
                if mask & IN_MASK_ADD != 0 {
                    slot.rec.mask.fetch_or(bits, Ordering::Relaxed);
                } else {
                    slot.rec.mask.store(bits, Ordering::Relaxed);
                }
            }
            return Ok(wd);
        }
        if WATCHES.load(Ordering::Relaxed) >= MAX_USER_WATCHES {
            return Err(Errno::ENOSPC);
        }
        // Watch descriptors count up and are not reused (Linux allocates them cyclically).
        let wd = st.last_wd.checked_add(1).ok_or(Errno::ENOSPC)?;
        st.last_wd = wd;
        let rec = Arc::new(Watch {
            owner: Arc::downgrade(&self.shared),
            wd,
            mask: AtomicU32::new(bits),
        });
        {
            let mut reg = lock(&REGISTRY);
            reg.entry(key).or_default().push(Arc::clone(&rec));
            WATCHES.fetch_add(1, Ordering::Relaxed);
        }
        st.watches.insert(
            wd,
            Slot {
                key,
                rec,
                _pin: path.clone(),
            },
        );
        st.by_key.insert(key, wd);
        Ok(wd)
    }

    /// inotify_rm_watch(2): EINVAL for a wd this instance does not have.
    pub fn rm_watch(&self, wd: i32) -> SysResult<()> {
        let mut st = lock(&self.shared.state);
        let slot = self
            .shared
            .remove_locked(&mut st, wd)
            .ok_or(Errno::EINVAL)?;
        self.shared.queue.notify(EventMask::IN | EventMask::RDNORM);
        drop(st);
        drop(slot);
        Ok(())
    }

    /// Bytes of the queued events (FIONREAD).
    pub fn queued_bytes(&self) -> usize {
        lock(&self.shared.state).bytes
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        INSTANCES.fetch_sub(1, Ordering::Relaxed);
        let slots = std::mem::take(&mut lock(&self.shared.state).watches);
        for slot in slots.values() {
            unregister(slot.key, &slot.rec);
        }
    }
}

impl FileOps for Inotify {
    /// Whole `struct inotify_event` records, as many as fit; EINVAL if the first does not;
    /// EAGAIN while the queue is empty (the syscall layer blocks).
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        let mut st = lock(&self.shared.state);
        if st.events.is_empty() {
            return Err(Errno::EAGAIN);
        }
        let mut done = 0usize;
        while let Some(ev) = st.events.front() {
            let size = ev.size();
            let end = done.checked_add(size).ok_or(Errno::EINVAL)?;
            let Some(dst) = buf.get_mut(done..end) else {
                if done == 0 {
                    return Err(Errno::EINVAL);
                }
                break;
            };
            let len = u32::try_from(ev.name_len()).map_err(|_| Errno::EINVAL)?;
            // The record: wd, mask, cookie, len, then the name NUL-padded to `len`.
            let mut rec = Vec::with_capacity(size);
            rec.extend_from_slice(&ev.wd.to_ne_bytes());
            rec.extend_from_slice(&ev.mask.to_ne_bytes());
            rec.extend_from_slice(&ev.cookie.to_ne_bytes());
            rec.extend_from_slice(&len.to_ne_bytes());
            rec.extend_from_slice(&ev.name);
            rec.resize(size, 0);
            dst.copy_from_slice(&rec);
            done = end;
            if ev.mask == IN_Q_OVERFLOW {
                st.overflow_queued = false;
            }
            st.bytes = st.bytes.saturating_sub(size);
            st.events.pop_front();
        }
        Ok(done)
    }

    /// inotify files have no write operation: EINVAL (vfs_write without f_op->write).
    fn write_at(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn ioctl(&self, mem: &dyn crate::UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        if cmd != abi::ioctl::FIONREAD {
            return Err(Errno::ENOTTY);
        }
        let n = i32::try_from(self.queued_bytes()).unwrap_or(i32::MAX);
        mem.copy_out(arg, &n.to_ne_bytes())?;
        Ok(0)
    }

    fn stat(&self) -> SysResult<abi::file::Stat> {
        Ok(crate::anon_inode_stat())
    }

    fn readiness(&self, mask: EventMask) -> EventMask {
        EventMask::readable_if(!lock(&self.shared.state).events.is_empty(), mask)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.shared.queue)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Creds;
    use abi::file as f;

    /// (wd, mask, cookie, name) of every queued event.
    fn events(ino: &Inotify) -> Vec<(i32, u32, u32, Vec<u8>)> {
        let mut buf = vec![0u8; 4096];
        let Ok(n) = ino.read_at(&mut buf, 0) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut rest = &buf[..n];
        while rest.len() >= EVENT_HEADER_SIZE {
            let w = |i: usize| u32::from_ne_bytes(rest[i..i + 4].try_into().unwrap());
            let len = w(12) as usize;
            let name: Vec<u8> = rest[16..16 + len]
                .iter()
                .copied()
                .take_while(|b| *b != 0)
                .collect();
            out.push((w(0).cast_signed(), w(4), w(8), name));
            rest = &rest[16 + len..];
        }
        out
    }

    #[test]
    fn vfs_operations_on_tmpfs_report_to_watches() {
        let (_ns, root) = crate::lookup::test_util::ns();
        let c = Creds::root();
        let l = crate::lookup::test_util::lk(&root, &c);
        l.mkdir(b"/d", 0o755).unwrap();
        l.mkdir(b"/e", 0o755).unwrap();
        let ino = Inotify::new().unwrap();
        let wd = ino
            .add_watch(&l.resolve(b"/d", true).unwrap(), IN_ALL_EVENTS)
            .unwrap();
        let we = ino
            .add_watch(&l.resolve(b"/e", true).unwrap(), IN_MOVED_TO)
            .unwrap();
        let fl = l.open(b"/d/f", f::O_CREAT | f::O_RDWR, 0o644).unwrap();
        fl.write(b"x").unwrap();
        drop(fl);
        let wf = ino
            .add_watch(
                &l.resolve(b"/d/f", true).unwrap(),
                IN_MOVE_SELF | IN_DELETE_SELF,
            )
            .unwrap();
        l.rename(b"/d/f", &l, b"/e/g").unwrap();
        l.unlink(b"/e/g").unwrap();
        let ev = events(&ino);
        let names: Vec<(i32, u32, &[u8])> = ev.iter().map(|e| (e.0, e.1, e.3.as_slice())).collect();
        assert_eq!(
            names,
            vec![
                (wd, IN_CREATE, &b"f"[..]),
                (wd, IN_OPEN, b"f"),
                (wd, IN_MODIFY, b"f"),
                (wd, IN_CLOSE_WRITE, b"f"),
                (wd, IN_MOVED_FROM, b"f"),
                (we, IN_MOVED_TO, b"g"),
                (wf, IN_MOVE_SELF, b""),
                (wf, IN_DELETE_SELF, b""),
                (wf, IN_IGNORED, b""),
            ]
        );
        assert_ne!(ev[4].2, 0);
        assert_eq!(ev[4].2, ev[5].2);
        assert_eq!(ino.queued_bytes(), 0);
        ino.rm_watch(wd).unwrap();
        assert_eq!(ino.rm_watch(wd), Err(Errno::EINVAL));
        assert_eq!(events(&ino), vec![(wd, IN_IGNORED, 0, Vec::new())]);
    }

    #[test]
    fn record_sizes_pad_names_to_16() {
        let ev = |n: &[u8]| Event {
            wd: 1,
            mask: IN_CREATE,
            cookie: 0,
            name: n.to_vec(),
        };
        assert_eq!(ev(b"").size(), 16);
        assert_eq!(ev(b"a").size(), 32);
        assert_eq!(ev(&[b'x'; 15]).size(), 32);
        assert_eq!(ev(&[b'x'; 16]).size(), 48);
    }

    #[test]
    fn identical_consecutive_events_coalesce_and_overflow_is_queued_once() {
        let mut st = State::default();
        let ev = |m| Event {
            wd: 1,
            mask: m,
            cookie: 0,
            name: Vec::new(),
        };
        st.push(ev(IN_MODIFY));
        st.push(ev(IN_MODIFY));
        assert_eq!(st.events.len(), 1);
        for i in 0..MAX_QUEUED_EVENTS + 10 {
            st.push(ev(if i % 2 == 0 { IN_OPEN } else { IN_MODIFY }));
        }
        assert_eq!(st.events.len(), MAX_QUEUED_EVENTS + 1);
        assert_eq!(st.events.back().map(|e| e.mask), Some(IN_Q_OVERFLOW));
    }
}
