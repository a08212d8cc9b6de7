//! The file descriptor table: fd number → open file description plus the close-on-exec flag.
//! Descriptions are `Arc`s; dropping the last reference closes them.
//!
//! A table is also the owner of its process's POSIX record locks (`vfs::lock`, as Linux's
//! `files_struct`): it has an id (a copy made by fork or unshare gets a new one), and every
//! way an fd leaves the table (close, dup2/dup3 over it, close-on-exec, dropping the table at
//! exit) releases the table's POSIX locks on that file. A table through which no POSIX lock
//! was ever taken pays one flag test per close. execve's private copy keeps the owner id
//! ([`FdTable::split_for_exec`]): locks survive exec except on close-on-exec files. (Linux
//! leaves them with the old table when a CLONE_FILES sibling process still shares it; here
//! the exec'ing process keeps them.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use abi::{Errno, SysResult};
use vfs::OpenFile;

/// One slot of the table.
#[derive(Clone, Debug)]
pub struct FdEntry {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

/// A task's descriptor table.
#[derive(Debug)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
    /// The POSIX lock owner id (`vfs::lock::Owner::Posix`).
    lock_owner: u64,
    /// A POSIX lock was taken through this table (so closes must look in the lock table).
    posix_locks: bool,
}

fn next_lock_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Default for FdTable {
    fn default() -> FdTable {
        FdTable {
            slots: Vec::new(),
            lock_owner: next_lock_owner(),
            posix_locks: false,
        }
    }
}

impl Clone for FdTable {
    /// A copy (fork, unshare) is a new lock owner: POSIX locks are not inherited.
    fn clone(&self) -> FdTable {
        FdTable {
            slots: self.slots.clone(),
            lock_owner: next_lock_owner(),
            posix_locks: false,
        }
    }
}

impl FdTable {
    /// The private copy execve switches to: it keeps this table's POSIX locks (they survive
    /// exec), while this table, which dying threads or a CLONE_FILES sharer may still hold,
    /// becomes a new owner of nothing — so its eventual drop releases none of them.
    pub fn split_for_exec(&mut self) -> FdTable {
        let copy = FdTable {
            slots: self.slots.clone(),
            lock_owner: self.lock_owner,
            posix_locks: self.posix_locks,
        };
        self.lock_owner = next_lock_owner();
        self.posix_locks = false;
        copy
    }
}

impl Drop for FdTable {
    fn drop(&mut self) {
        if self.posix_locks && vfs::lock::posix_owner_has_locks(self.lock_owner) {
            for e in self.slots.iter().flatten() {
                release_posix(self.lock_owner, &e.file);
            }
        }
    }
}

/// The fd table `owner` closed an fd of `file`: its POSIX locks on the file go.
fn release_posix(owner: u64, file: &OpenFile) {
    if vfs::lock::posix_owner_has_locks(owner)
        && let Ok(key) = file.lock_key()
    {
        vfs::lock::release_posix(key, owner);
    }
}

impl FdTable {
    /// This table closed an fd of `file`.
    fn closed(&self, file: &OpenFile) {
        if self.posix_locks {
            release_posix(self.lock_owner, file);
        }
    }

    /// The id that owns this table's POSIX record locks, for a lock about to be taken:
    /// from now on closes look for locks to release.
    pub fn posix_lock_owner(&mut self) -> u64 {
        self.posix_locks = true;
        self.lock_owner
    }
}

impl FdTable {
    /// The entry for `fd`, or EBADF.
    pub fn get(&self, fd: i32) -> SysResult<&FdEntry> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    /// The open file for `fd`, or EBADF.
    pub fn file(&self, fd: i32) -> SysResult<Arc<OpenFile>> {
        self.get(fd).map(|e| Arc::clone(&e.file))
    }

    /// Sets the close-on-exec flag of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> SysResult<()> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)?;
        slot.cloexec = cloexec;
        Ok(())
    }

    /// Installs `file` at the lowest free fd >= `min_fd`, below `limit` (RLIMIT_NOFILE):
    /// EMFILE if none.
    pub fn insert_from(
        &mut self,
        min_fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: u64,
    ) -> SysResult<i32> {
        let start = usize::try_from(min_fd).map_err(|_| Errno::EINVAL)?;
        let limit = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(i32::MAX as usize);
        if start >= limit {
            return Err(Errno::EMFILE);
        }
        let free =
            (start..self.slots.len()).find(|&i| self.slots.get(i).is_some_and(Option::is_none));
        let idx = free.unwrap_or_else(|| self.slots.len().max(start));
        if idx >= limit {
            return Err(Errno::EMFILE);
        }
        if idx >= self.slots.len() {
            self.slots.resize_with(idx + 1, || None);
        }
        let slot = self.slots.get_mut(idx).ok_or(Errno::EMFILE)?;
        *slot = Some(FdEntry { file, cloexec });
        i32::try_from(idx).map_err(|_| Errno::EMFILE)
    }

    /// Installs `file` at exactly `fd`, replacing (and returning) what was there.
    pub fn insert_at(
        &mut self,
        fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: u64,
    ) -> SysResult<Option<FdEntry>> {
        let idx = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if u64::try_from(idx).unwrap_or(u64::MAX) >= limit {
            return Err(Errno::EBADF);
        }
        if idx >= self.slots.len() {
            self.slots.resize_with(idx + 1, || None);
        }
        let slot = self.slots.get_mut(idx).ok_or(Errno::EBADF)?;
        let old = slot.replace(FdEntry { file, cloexec });
        if let Some(e) = &old {
            self.closed(&e.file);
        }
        Ok(old)
    }

    /// Removes `fd`; EBADF if it was not open. The caller drops the entry (outside any lock).
    pub fn remove(&mut self, fd: i32) -> SysResult<FdEntry> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .ok_or(Errno::EBADF)?;
        let e = slot.take().ok_or(Errno::EBADF)?;
        self.closed(&e.file);
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Ok(e)
    }

    /// Open fds, ascending.
    pub fn fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .filter_map(|(i, _)| i32::try_from(i).ok())
    }
}

impl FdTable {
    /// Closes every close-on-exec descriptor (execve).
    pub fn close_on_exec(&mut self) {
        let (owner, posix) = (self.lock_owner, self.posix_locks);
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|e| e.cloexec)
                && let Some(e) = slot.take()
                && posix
            {
                release_posix(owner, &e.file);
            }
        }
    }
}
