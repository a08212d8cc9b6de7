//! The file descriptor table: fd number → open file description plus the close-on-exec flag.
//! Descriptions are `Arc`s; dropping the last reference closes them.

use std::sync::Arc;

use abi::{Errno, SysResult};
use vfs::OpenFile;

/// One slot of the table.
#[derive(Clone, Debug)]
pub struct FdEntry {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

/// A task's descriptor table.
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
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
        Ok(slot.replace(FdEntry { file, cloexec }))
    }

    /// Removes `fd`; EBADF if it was not open. The caller drops the entry (outside any lock).
    pub fn remove(&mut self, fd: i32) -> SysResult<FdEntry> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .ok_or(Errno::EBADF)?;
        let e = slot.take().ok_or(Errno::EBADF)?;
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
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|e| e.cloexec) {
                *slot = None;
            }
        }
    }
}
