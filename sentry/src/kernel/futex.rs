//! futex(2): the kernel-wide table of futex waiters, and robust-list cleanup at thread exit.
//!
//! Keys (kernel/futex/core.c get_futex_key): a FUTEX_PRIVATE_FLAG futex is keyed by the
//! address space and the address; a shared one by the MemoryFile page it lives in when the
//! memory is MAP_SHARED (so processes sharing the memory meet), and otherwise by address space
//! and address *as a separate key space* — Linux marks those keys FUT_OFF_MMSHARED, so a
//! private wait is never woken by a shared wake of the same word. glibc relies on the shared
//! kind for `pthread_join` (the kernel's CLONE_CHILD_CLEARTID wake is shared).
//!
//! The table is one mutex over a map from key to waiters in arrival order. A waiter is
//! queued under the table lock after the futex word compared equal, so a waker that changes
//! the word and then wakes cannot slip between the check and the queueing (the futex
//! guarantee). Waking sets the waiter's `woken` flag and kicks its task's waiter.
//!
//! Lock order: the table lock is a leaf except for the task waiter kicks it makes, and the
//! futex word reads/atomics it does through `mm` (mm's lock nests inside it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use abi::{Errno, SysResult};
use vfs::waiter::Waiter;

use super::task::Task;
use crate::mm::FutexKey as MmKey;

/// A futex key (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// FUTEX_PRIVATE_FLAG: (address space, address).
    Private { mm: u64, addr: u64 },
    /// Shared flag on private memory: (address space, address), distinct from `Private`.
    MmShared { mm: u64, addr: u64 },
    /// Shared flag on MAP_SHARED memory: the MemoryFile offset of the word.
    Memory { off: u64 },
}

#[derive(Debug)]
struct FutexWaiter {
    waiter: Arc<Waiter>,
    bitset: u32,
    woken: AtomicBool,
}

/// The futex table of a sandbox.
#[derive(Debug, Default)]
pub struct FutexTable {
    buckets: Mutex<HashMap<FutexKey, Vec<Arc<FutexWaiter>>>>,
}

impl FutexTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<FutexKey, Vec<Arc<FutexWaiter>>>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes up to `n` waiters of `key` whose bitset intersects `bitset`; returns how many.
fn wake_locked(
    tab: &mut HashMap<FutexKey, Vec<Arc<FutexWaiter>>>,
    key: FutexKey,
    n: usize,
    bitset: u32,
) -> usize {
    let Some(q) = tab.get_mut(&key) else {
        return 0;
    };
    let mut woken = 0;
    q.retain(|w| {
        if woken < n && w.bitset & bitset != 0 {
            woken += 1;
            w.woken.store(true, Ordering::SeqCst);
            w.waiter.kick();
            false
        } else {
            true
        }
    });
    if q.is_empty() {
        tab.remove(&key);
    }
    woken
}

impl Task {
    /// The futex key of `addr` for this task (EFAULT if the address is not mapped).
    pub(crate) fn futex_key(&self, addr: u64, private: bool) -> SysResult<FutexKey> {
        match self.mm.futex_key(addr, private)? {
            MmKey::Private { mm, addr } if private => Ok(FutexKey::Private { mm, addr }),
            MmKey::Private { mm, addr } => Ok(FutexKey::MmShared { mm, addr }),
            MmKey::Shared(off) => Ok(FutexKey::Memory { off }),
        }
    }

    /// FUTEX_WAIT(_BITSET): sleeps while `*addr == val` until woken, `deadline` or a signal.
    pub(crate) fn futex_wait(
        &self,
        addr: u64,
        private: bool,
        val: u32,
        bitset: u32,
        deadline: Option<Instant>,
    ) -> SysResult<()> {
        let key = self.futex_key(addr, private)?;
        let fw = Arc::new(FutexWaiter {
            waiter: self.waiter(),
            bitset,
            woken: AtomicBool::new(false),
        });
        {
            let mut tab = self.kernel.futexes.lock();
            let cur = self.mm.load_u32(addr)?;
            if cur != val {
                return Err(Errno::EAGAIN);
            }
            tab.entry(key).or_default().push(Arc::clone(&fw));
        }
        loop {
            self.prepare_wait();
            if fw.woken.load(Ordering::SeqCst) {
                return Ok(());
            }
            if let Err(e) = self.wait(deadline) {
                let mut tab = self.kernel.futexes.lock();
                if fw.woken.load(Ordering::SeqCst) {
                    return Ok(());
                }
                // A requeue may have moved us: search every queue (rare path).
                for q in tab.values_mut() {
                    q.retain(|w| !Arc::ptr_eq(w, &fw));
                }
                tab.retain(|_, q| !q.is_empty());
                // A futex wait interrupted by a handler is never restarted transparently with
                // a relative timeout; Linux returns ERESTARTSYS without timeout and
                // ERESTART_RESTARTBLOCK with one, which both become EINTR when a handler runs.
                return Err(e);
            }
        }
    }

    /// FUTEX_WAKE(_BITSET).
    pub(crate) fn futex_wake(
        &self,
        addr: u64,
        private: bool,
        n: usize,
        bitset: u32,
    ) -> SysResult<usize> {
        let key = self.futex_key(addr, private)?;
        let mut tab = self.kernel.futexes.lock();
        Ok(wake_locked(&mut tab, key, n, bitset))
    }

    /// FUTEX_REQUEUE / FUTEX_CMP_REQUEUE: wakes `n_wake` waiters of `addr` and moves up to
    /// `n_requeue` of the rest to `addr2`; with `cmp`, EAGAIN unless `*addr == cmp`.
    pub(crate) fn futex_requeue(
        &self,
        addr: u64,
        addr2: u64,
        private: bool,
        n_wake: usize,
        n_requeue: usize,
        cmp: Option<u32>,
    ) -> SysResult<usize> {
        let key = self.futex_key(addr, private)?;
        let key2 = self.futex_key(addr2, private)?;
        let mut tab = self.kernel.futexes.lock();
        if let Some(c) = cmp
            && self.mm.load_u32(addr)? != c
        {
            return Err(Errno::EAGAIN);
        }
        let woken = wake_locked(&mut tab, key, n_wake, u32::MAX);
        if key == key2 {
            return Ok(woken);
        }
        let moved: Vec<Arc<FutexWaiter>> = match tab.get_mut(&key) {
            Some(q) => {
                let k = n_requeue.min(q.len());
                q.drain(..k).collect()
            }
            None => Vec::new(),
        };
        if tab.get(&key).is_some_and(Vec::is_empty) {
            tab.remove(&key);
        }
        let nmoved = moved.len();
        if !moved.is_empty() {
            tab.entry(key2).or_default().extend(moved);
        }
        Ok(woken + nmoved)
    }

    /// FUTEX_WAKE_OP: atomically applies `op` to `*addr2`, wakes `n` on `addr`, and `n2` on
    /// `addr2` if the old value of `*addr2` passes the encoded comparison.
    pub(crate) fn futex_wake_op(
        &self,
        addr: u64,
        addr2: u64,
        private: bool,
        n: usize,
        n2: usize,
        encoded: u32,
    ) -> SysResult<usize> {
        let key = self.futex_key(addr, private)?;
        let key2 = self.futex_key(addr2, private)?;
        let op = (encoded >> 28) & 0x7;
        let oparg_shift = (encoded >> 28) & 0x8 != 0;
        let cmp = (encoded >> 24) & 0xf;
        let mut oparg = (encoded >> 12) & 0xfff;
        let cmparg = encoded & 0xfff;
        if oparg_shift {
            if oparg > 31 {
                // Linux warns and clamps to 31 bits.
                oparg &= 31;
            }
            oparg = 1u32 << oparg;
        }
        let aop = match op {
            0 => crate::mm::AtomicOp::Set(oparg),
            1 => crate::mm::AtomicOp::Add(oparg),
            2 => crate::mm::AtomicOp::Or(oparg),
            3 => crate::mm::AtomicOp::AndN(oparg),
            4 => crate::mm::AtomicOp::Xor(oparg),
            _ => return Err(Errno::ENOSYS),
        };
        let mut tab = self.kernel.futexes.lock();
        let old = self.mm.atomic_op_u32(addr2, aop)?;
        let mut woken = wake_locked(&mut tab, key, n, u32::MAX);
        // Comparisons on the old value as a signed int (futex_atomic_op_inuser).
        let (o, a) = (old.cast_signed(), sign_extend_12(cmparg));
        let pass = match cmp {
            0 => o == a,
            1 => o != a,
            2 => o < a,
            3 => o <= a,
            4 => o > a,
            5 => o >= a,
            _ => return Err(Errno::ENOSYS),
        };
        if pass {
            woken += wake_locked(&mut tab, key2, n2, u32::MAX);
        }
        Ok(woken)
    }

    /// Walks the robust futex list at thread exit (Documentation/locking/robust-futexes):
    /// every futex still owned by this thread gets FUTEX_OWNER_DIED and one waiter is woken.
    pub(crate) fn robust_list_cleanup(&self) {
        const FUTEX_WAITERS: u32 = 0x8000_0000;
        const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
        const ROBUST_LIST_LIMIT: usize = 2048;
        let (head, _len) = self.robust_list;
        if head == 0 {
            return;
        }
        let Ok(words) = self.mm.copy_in_obj::<[u64; 3]>(head) else {
            return;
        };
        let [first, offset, pending] = words;
        let offset = offset.cast_signed();
        let tid = u32::try_from(self.tid()).unwrap_or(0);
        let handle = |entry: u64| {
            let word = entry.wrapping_add_signed(offset);
            let Ok(val) = self.mm.load_u32(word) else {
                return;
            };
            if val & FUTEX_TID_MASK != tid {
                return;
            }
            let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
            if let Ok(Ok(_)) = self.mm.compare_exchange_u32(word, val, new)
                && val & FUTEX_WAITERS != 0
            {
                let _ = self.futex_wake(word, false, 1, u32::MAX);
            }
        };
        let mut entry = first;
        let mut n = 0;
        // The list is circular through `head`; the low bit of each pointer marks PI futexes.
        while entry & !1 != head && n < ROBUST_LIST_LIMIT {
            let e = entry & !1;
            let Ok(next) = self.mm.copy_in_obj::<u64>(e) else {
                break;
            };
            if e != pending & !1 {
                handle(e);
            }
            entry = next;
            n += 1;
        }
        if pending != 0 {
            handle(pending & !1);
        }
    }
}

/// Wakes one waiter on `addr` from the task's own exit path (CLONE_CHILD_CLEARTID).
pub(crate) fn wake_address(t: &Task, addr: u64, n: usize) -> SysResult<usize> {
    t.futex_wake(addr, false, n, u32::MAX)
}

fn sign_extend_12(v: u32) -> i32 {
    ((v << 20).cast_signed()) >> 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_op_cmparg_is_sign_extended() {
        assert_eq!(sign_extend_12(0xfff), -1);
        assert_eq!(sign_extend_12(0x7ff), 0x7ff);
    }

    #[test]
    fn wake_respects_count_and_bitset() {
        let mut tab = HashMap::new();
        let key = FutexKey::Private { mm: 1, addr: 8 };
        for bits in [1u32, 2, 1] {
            tab.entry(key)
                .or_insert_with(Vec::new)
                .push(Arc::new(FutexWaiter {
                    waiter: Waiter::new(),
                    bitset: bits,
                    woken: AtomicBool::new(false),
                }));
        }
        assert_eq!(wake_locked(&mut tab, key, 5, 1), 2);
        assert_eq!(tab.get(&key).map(Vec::len), Some(1));
        assert_eq!(wake_locked(&mut tab, key, 1, u32::MAX), 1);
        assert!(!tab.contains_key(&key));
    }
}
