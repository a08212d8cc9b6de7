//! The task tree: the sandbox's pid namespace. Thread and process ids, the parent/child
//! relation, process groups and sessions, and zombies, all under one lock (`Kernel::tree`),
//! the way Linux keeps them under tasklist_lock.
//!
//! Processes are kept as records keyed by tgid ([`ProcRec`]) that name each other by id, so
//! the tree holds no reference cycles; a record lives from fork until its zombie is reaped.
//! Live threads are kept by tid. Ids are allocated from one counter per namespace (init is 1,
//! like the first process of a fresh pid namespace) and are not reused until the counter wraps
//! at `PID_MAX` and the id is free.
//!
//! Shortcut: one pid namespace per sandbox; containers of one pod will get one each later.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::task::TaskShared;
use super::thread_group::ThreadGroup;
use super::{ExitStatus, MAX_TASKS};

/// /proc/sys/kernel/pid_max default (include/linux/threads.h PID_MAX_DEFAULT).
pub const PID_MAX: i32 = 32768;

/// CPU time and peak memory of a process, for rusage (getrusage, wait4, times).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub user: std::time::Duration,
    pub system: std::time::Duration,
    /// Largest resident set seen, in KiB (ru_maxrss).
    pub maxrss_kb: i64,
}

impl Usage {
    /// Adds a reaped child's usage (times add up, maxrss is the largest, as Linux keeps it).
    pub fn absorb(&mut self, o: &Usage) {
        self.user = self.user.saturating_add(o.user);
        self.system = self.system.saturating_add(o.system);
        self.maxrss_kb = self.maxrss_kb.max(o.maxrss_kb);
    }

    /// The usage of the application code running in `mm` now: the platform's CPU clock of its
    /// address space and its resident set (zero CPU time where the platform cannot tell).
    pub fn of_mm(mm: &crate::mm::MemoryManager) -> Usage {
        let cpu = mm.address_space().cpu_time().unwrap_or_default();
        Usage {
            user: cpu.user,
            system: cpu.system,
            maxrss_kb: i64::try_from(mm.resident_bytes() / 1024).unwrap_or(i64::MAX),
        }
    }

    /// As `struct rusage`.
    pub fn to_rusage(&self) -> abi::clone::Rusage {
        let tv = |d: std::time::Duration| abi::time::Timeval {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            usec: i64::from(d.subsec_micros()),
        };
        abi::clone::Rusage {
            utime: tv(self.user),
            stime: tv(self.system),
            maxrss: self.maxrss_kb,
            ..abi::clone::Rusage::default()
        }
    }
}

/// The process-side state of a thread group's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// At least one thread is alive.
    Alive,
    /// Every thread exited; the parent has not reaped it yet.
    Zombie(ExitStatus),
}

/// What a parent may collect about a child with wait(2) besides its death.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopReport {
    /// The child entered a group stop with this signal; not yet reported (WUNTRACED).
    pub stopped: Option<i32>,
    /// The child was continued; not yet reported (WCONTINUED).
    pub continued: bool,
}

/// One process (thread group) in the tree.
#[derive(Debug)]
pub struct ProcRec {
    pub tg: Arc<ThreadGroup>,
    /// Parent's tgid (0 for init).
    pub parent: i32,
    pub children: Vec<i32>,
    pub pgid: i32,
    pub sid: i32,
    pub state: ProcState,
    pub report: StopReport,
    /// Signal sent to the parent at exit (SIGCHLD for fork; 0 for none; clone's low byte).
    pub exit_signal: i32,
    /// PR_SET_CHILD_SUBREAPER.
    pub is_subreaper: bool,
    /// Live thread ids of the group (the leader first while it lives).
    pub threads: Vec<i32>,
    /// The process has called execve since fork (setpgid(2) then refuses its parent: EACCES).
    pub did_exec: bool,
    /// The process's own usage, recorded when it exited.
    pub usage: Usage,
    /// What its reaped children (and their reaped descendants) used (RUSAGE_CHILDREN).
    pub children_usage: Usage,
}

/// The pid namespace. See the module doc.
#[derive(Debug)]
pub struct TaskTree {
    next_id: i32,
    /// The most live threads (`KernelConfig::max_tasks`).
    max_tasks: usize,
    /// Live threads by tid.
    pub tasks: BTreeMap<i32, Arc<TaskShared>>,
    /// Processes by tgid, until reaped.
    pub procs: BTreeMap<i32, ProcRec>,
}

impl TaskTree {
    /// Changes the most live threads (`rvisor update --pids-limit`); existing ones stay.
    pub(crate) fn set_max_tasks(&mut self, n: usize) {
        self.max_tasks = n.clamp(1, MAX_TASKS);
    }

    pub(crate) fn new(max_tasks: usize) -> TaskTree {
        TaskTree {
            next_id: 1,
            max_tasks,
            tasks: BTreeMap::new(),
            procs: BTreeMap::new(),
        }
    }

    /// A free id (tid or tgid: one space), or None if the namespace is full or the sandbox
    /// holds MAX_TASKS threads.
    pub fn alloc_id(&mut self) -> Option<i32> {
        // Zombies count too: like a pids cgroup, an unreaped child still holds its task, so a
        // parent that never waits cannot fill the id space.
        let zombies = self
            .procs
            .values()
            .filter(|p| matches!(p.state, ProcState::Zombie(_)))
            .count();
        if self.tasks.len().saturating_add(zombies) >= self.max_tasks.min(MAX_TASKS) {
            return None;
        }
        for _ in 0..PID_MAX {
            let id = self.next_id;
            self.next_id = if id >= PID_MAX - 1 { 300 } else { id + 1 };
            // An id stays taken while any thread, process, group or session uses it.
            let in_use = self.tasks.contains_key(&id)
                || self.procs.contains_key(&id)
                || self.procs.values().any(|p| p.pgid == id || p.sid == id);
            if !in_use {
                return Some(id);
            }
        }
        None
    }

    /// The process record of `tgid`.
    pub fn proc(&self, tgid: i32) -> Option<&ProcRec> {
        self.procs.get(&tgid)
    }

    /// Mutable process record.
    pub fn proc_mut(&mut self, tgid: i32) -> Option<&mut ProcRec> {
        self.procs.get_mut(&tgid)
    }

    /// Where the children of exiting process `tgid` go: the nearest living subreaper among its
    /// ancestors, else init (prctl(2) PR_SET_CHILD_SUBREAPER).
    pub fn reaper_for(&self, tgid: i32) -> i32 {
        let mut cur = self.procs.get(&tgid).map_or(0, |p| p.parent);
        while cur != 0 {
            match self.procs.get(&cur) {
                Some(p) if p.is_subreaper && p.state == ProcState::Alive => return cur,
                Some(p) => cur = p.parent,
                None => break,
            }
        }
        1
    }

    /// Number of live threads.
    pub fn nr_threads(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::signal::SigAction;

    fn rec(tgid: i32, state: ProcState) -> ProcRec {
        ProcRec {
            tg: ThreadGroup::new(
                tgid,
                [SigAction::default(); 64],
                [abi::time::Rlimit { cur: 0, max: 0 }; abi::time::RLIM_NLIMITS],
            ),
            parent: 1,
            children: Vec::new(),
            pgid: tgid,
            sid: tgid,
            state,
            report: StopReport::default(),
            exit_signal: 17,
            is_subreaper: false,
            threads: Vec::new(),
            did_exec: false,
            usage: Usage::default(),
            children_usage: Usage::default(),
        }
    }

    #[test]
    fn ids_start_at_one_and_skip_used_groups() {
        let mut t = TaskTree::new(10);
        assert_eq!(t.alloc_id(), Some(1));
        let mut r = rec(5, ProcState::Alive);
        r.pgid = 2;
        t.procs.insert(5, r);
        // 2 is a process group id in use, 5 a process: both are skipped.
        assert_eq!(t.alloc_id(), Some(3));
        assert_eq!(t.alloc_id(), Some(4));
        assert_eq!(t.alloc_id(), Some(6));
    }

    #[test]
    fn zombies_count_against_the_task_limit() {
        let mut t = TaskTree::new(2);
        t.procs
            .insert(7, rec(7, ProcState::Zombie(ExitStatus::Exited(0))));
        t.procs
            .insert(8, rec(8, ProcState::Zombie(ExitStatus::Exited(0))));
        assert_eq!(t.alloc_id(), None);
        t.procs.remove(&8);
        assert!(t.alloc_id().is_some());
    }

    #[test]
    fn orphans_go_to_the_nearest_live_subreaper_else_init() {
        let mut t = TaskTree::new(10);
        let mut a = rec(2, ProcState::Alive);
        a.is_subreaper = true;
        t.procs.insert(2, a);
        let mut b = rec(3, ProcState::Alive);
        b.parent = 2;
        t.procs.insert(3, b);
        let mut c = rec(4, ProcState::Alive);
        c.parent = 3;
        t.procs.insert(4, c);
        assert_eq!(t.reaper_for(4), 2);
        if let Some(a) = t.procs.get_mut(&2) {
            a.is_subreaper = false;
        }
        assert_eq!(t.reaper_for(4), 1);
    }
}
