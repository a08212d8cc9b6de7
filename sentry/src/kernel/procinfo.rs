//! Read-only views of task state for /proc (`crate::fs::proc`): small accessors on [`Task`],
//! [`TaskShared`], [`ThreadGroup`] and [`TaskTree`], so procfs reads kernel state without
//! reaching into fields, and the kernel's own files need no procfs-specific code.
//!
//! Lock order is the kernel's (mod.rs): the tree accessors run under `Kernel::tree`; the
//! signal accessors take `ThreadGroup::sig`, then `TaskShared::sig`, with the tree *not* held
//! (callers copy what they need out of the tree first).

use std::sync::{Arc, Mutex, Weak};

use abi::signal::{SIG_DFL, SIG_IGN, SigSet};

use super::task::{Credentials, FsContext, RunState, Task, TaskShared};
use super::thread_group::ThreadGroup;
use super::tree::{ProcState, TaskTree};
use super::{ExitStatus, FdTable};
use crate::mm::MemoryManager;

/// What /proc keeps of a task's thread-owned half: weak handles (a dead task's state is not
/// kept alive by /proc) and a copy of its credentials as of the last `set_current`.
#[derive(Clone, Debug)]
pub struct ProcHandles {
    pub mm: Weak<MemoryManager>,
    pub fds: Weak<Mutex<FdTable>>,
    pub fs: Weak<Mutex<FsContext>>,
    pub creds: Credentials,
    /// prctl(PR_SET_NO_NEW_PRIVS) as of the snapshot.
    pub no_new_privs: bool,
}

/// The tree's view of one process.
#[derive(Clone, Debug)]
pub struct ProcIds {
    pub tgid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// `None` while alive, the status once a zombie.
    pub zombie: Option<ExitStatus>,
    pub exit_signal: i32,
    pub tg: Arc<ThreadGroup>,
    /// Live threads, the leader first while it lives.
    pub threads: Vec<Arc<TaskShared>>,
}

/// A process's signal dispositions and shared pending set, as /proc/[pid]/status shows them.
#[derive(Clone, Copy, Debug, Default)]
pub struct GroupSigInfo {
    pub shared_pending: SigSet,
    pub ignored: SigSet,
    pub caught: SigSet,
}

impl Task {
    /// The handles /proc keeps for this task (see [`ProcHandles`]).
    pub(crate) fn proc_handles(&self) -> ProcHandles {
        ProcHandles {
            mm: Arc::downgrade(&self.mm),
            fds: Arc::downgrade(&self.fds),
            fs: Arc::downgrade(&self.fs),
            creds: self.creds.clone(),
            no_new_privs: self.no_new_privs,
        }
    }
}

impl TaskShared {
    /// `comm` without its NUL padding.
    pub fn comm_name(&self) -> Vec<u8> {
        let c = *self
            .comm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = c.iter().position(|&b| b == 0).unwrap_or(c.len());
        c.get(..n).unwrap_or_default().to_vec()
    }

    /// The /proc state letter of this thread (fs/proc/array.c): R, S, T, or X once dead.
    pub fn state_letter(&self) -> char {
        match self.run_state() {
            RunState::Running => 'R',
            RunState::Blocked => 'S',
            RunState::Stopped => 'T',
            RunState::Dead => 'X',
        }
    }

    /// (blocked mask, thread-directed pending set).
    pub fn signal_masks(&self) -> (SigSet, SigSet) {
        let s = self.sig();
        (s.mask, s.pending.set())
    }
}

impl ThreadGroup {
    /// Ignored and caught signals and the process-wide pending set.
    pub fn signal_info(&self) -> GroupSigInfo {
        let g = self.sig();
        let mut out = GroupSigInfo {
            shared_pending: g.pending.set(),
            ..GroupSigInfo::default()
        };
        for (i, a) in g.actions.iter().enumerate() {
            let bit = 1u64
                .checked_shl(u32::try_from(i).unwrap_or(64))
                .unwrap_or(0);
            if a.handler == SIG_IGN {
                out.ignored.0 |= bit;
            } else if a.handler != SIG_DFL {
                out.caught.0 |= bit;
            }
        }
        out
    }
}

impl TaskTree {
    /// The process `tgid` (alive or zombie) with its live threads.
    pub fn proc_ids(&self, tgid: i32) -> Option<ProcIds> {
        let p = self.procs.get(&tgid)?;
        Some(ProcIds {
            tgid,
            ppid: p.parent,
            pgid: p.pgid,
            sid: p.sid,
            zombie: match p.state {
                ProcState::Alive => None,
                ProcState::Zombie(s) => Some(s),
            },
            exit_signal: p.exit_signal,
            tg: Arc::clone(&p.tg),
            threads: p
                .threads
                .iter()
                .filter_map(|t| self.tasks.get(t).cloned())
                .collect(),
        })
    }

    /// Process ids (alive and zombie), ascending.
    pub fn tgids(&self) -> Vec<i32> {
        self.procs.keys().copied().collect()
    }

    /// The live thread `tid`.
    pub fn task(&self, tid: i32) -> Option<Arc<TaskShared>> {
        self.tasks.get(&tid).cloned()
    }

    /// The highest id in use (the "last pid" of /proc/loadavg, near enough).
    pub fn last_id(&self) -> i32 {
        let t = self.tasks.keys().next_back().copied().unwrap_or(0);
        let p = self.procs.keys().next_back().copied().unwrap_or(0);
        t.max(p)
    }
}
