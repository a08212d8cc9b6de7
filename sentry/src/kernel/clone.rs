//! clone(2)/clone3(2)/fork(2)/vfork(2): a new task, sharing or copying what the flags say.
//!
//! - `CLONE_VM`: the same `MemoryManager`, and a new platform context in the same address
//!   space (on ptrace: a new stub thread in the same stub process); otherwise a new address
//!   space with a copy-on-write copy of the memory (`MemoryManager::fork`).
//! - `CLONE_FILES`/`CLONE_FS`: the same descriptor table / filesystem context, else copies.
//! - `CLONE_THREAD` (needs `CLONE_SIGHAND`, which needs `CLONE_VM`): a new thread of the same
//!   process; otherwise a new process in the caller's process group and session, child of the
//!   caller (or of the caller's parent with `CLONE_PARENT`).
//! - The child's registers are the parent's with rax = 0 (and the new stack / TLS if given);
//!   its FP state is the parent's, read here and loaded by the child's thread before it runs.
//!
//! Shortcuts: `CLONE_SIGHAND` without `CLONE_THREAD` copies the handlers instead of sharing
//! them (no program we know of relies on the sharing); namespace flags are refused (EINVAL);
//! `CLONE_SYSVSEM` is accepted (there are no SysV semaphores yet); `CLONE_PTRACE`/`UNTRACED`
//! are ignored (no ptrace inside the sandbox).

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use abi::Errno;
use abi::clone::CloneFlags;
use abi::signal::{SigAction, Signal};

use super::task::{Task, TaskShared};
use super::thread_group::ThreadGroup;
use super::tree::{ProcRec, ProcState, StopReport};

/// What clone(2)/clone3(2) asked for, decoded.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneOpts {
    pub flags: u64,
    pub exit_signal: i32,
    /// New stack pointer (0: keep the parent's).
    pub stack: u64,
    pub tls: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    /// clone3's separate pidfd pointer (clone(2) stores the pidfd at `parent_tid`).
    pub pidfd: u64,
}

/// A vfork parent's wait for its child to exec or exit.
#[derive(Debug, Default)]
pub struct VforkDone {
    done: Mutex<bool>,
    cv: Condvar,
}

impl VforkDone {
    /// The child exec'd or exited: release the parent.
    pub fn complete(&self) {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }

    fn wait(&self) {
        let mut d = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        while !*d {
            d = self.cv.wait(d).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Checks the flag combinations Linux refuses (kernel/fork.c copy_process).
fn validate(f: CloneFlags) -> Result<(), Errno> {
    if f.contains(CloneFlags::THREAD) && !f.contains(CloneFlags::SIGHAND) {
        return Err(Errno::EINVAL);
    }
    if f.contains(CloneFlags::SIGHAND) && !f.contains(CloneFlags::VM) {
        return Err(Errno::EINVAL);
    }
    if f.contains(CloneFlags::FS) && f.contains(CloneFlags::NEWNS) {
        return Err(Errno::EINVAL);
    }
    if f.contains(CloneFlags::PIDFD) && f.contains(CloneFlags::DETACHED) {
        return Err(Errno::EINVAL);
    }
    if f.contains(CloneFlags::PIDFD) && f.contains(CloneFlags::THREAD) {
        return Err(Errno::EINVAL);
    }
    let namespaces = CloneFlags::NEWNS
        | CloneFlags::NEWCGROUP
        | CloneFlags::NEWUTS
        | CloneFlags::NEWIPC
        | CloneFlags::NEWUSER
        | CloneFlags::NEWPID
        | CloneFlags::NEWNET;
    if f.intersects(namespaces) {
        tracing::info!(target: "sentry::unimplemented", flags = f.bits(), "clone with namespace flags");
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl Task {
    /// Creates the child and starts it; returns its tid (as seen by the parent).
    pub(crate) fn do_clone(&mut self, o: CloneOpts) -> Result<i32, Errno> {
        let flags = CloneFlags::from_bits(o.flags).ok_or(Errno::EINVAL)?;
        validate(flags)?;
        let is_thread = flags.contains(CloneFlags::THREAD);
        if self.shared.tg.is_exiting() {
            return Err(Errno::EAGAIN);
        }
        let nproc = self.rlimit_cur(abi::time::RLIMIT_NPROC);

        // Memory and the platform context.
        let fp = self.ctx.fpstate().map_err(|e| self.platform_err(&e))?;
        let (mm, ctx) = if flags.contains(CloneFlags::VM) {
            let ctx = self
                .mm
                .address_space()
                .new_context()
                .map_err(|e| self.platform_err(&e))?;
            (Arc::clone(&self.mm), ctx)
        } else {
            let asp = self
                .kernel
                .platform
                .new_address_space()
                .map_err(|e| self.platform_err(&e))?;
            let ctx = asp.new_context().map_err(|e| self.platform_err(&e))?;
            let mm = self.mm.fork(asp)?;
            if let Some(e) = self.mm.take_platform_error() {
                self.kernel.platform_failed(&e);
                return Err(Errno::ENOMEM);
            }
            (Arc::new(mm), ctx)
        };

        let fds = if flags.contains(CloneFlags::FILES) {
            Arc::clone(&self.fds)
        } else {
            Arc::new(Mutex::new(self.fds().clone()))
        };
        let fs = if flags.contains(CloneFlags::FS) {
            Arc::clone(&self.fs)
        } else {
            Arc::new(Mutex::new(self.fs().clone()))
        };

        let mut regs = self.regs;
        regs.rax = 0;
        if o.stack != 0 {
            regs.rsp = o.stack;
        }
        if flags.contains(CloneFlags::SETTLS) {
            // The same check as arch_prctl(ARCH_SET_FS): a base the host would refuse.
            if o.tls >= super::super::syscalls::process::TASK_SIZE_MAX {
                return Err(Errno::EPERM);
            }
            regs.fs_base = o.tls;
        }

        let mask = self.shared.sig().mask;
        let comm = *self
            .shared
            .comm
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let vfork = flags
            .contains(CloneFlags::VFORK)
            .then(|| Arc::new(VforkDone::default()));

        // Ids, thread group, tree records: all under the tree lock.
        let (tid, shared) = {
            let tree = &mut *self.kernel.tree();
            // RLIMIT_NPROC counts the tasks of the caller's user; CAP_SYS_RESOURCE and
            // CAP_SYS_ADMIN are exempt, as in kernel/fork.c. Everyone meets the sandbox-wide
            // task limit in alloc_id.
            if !self.creds.has_cap(abi::cap::CAP_SYS_RESOURCE)
                && !self.creds.has_cap(abi::cap::CAP_SYS_ADMIN)
            {
                let tasks = tree.tasks.len();
                if u64::try_from(tasks).unwrap_or(u64::MAX) >= nproc {
                    return Err(Errno::EAGAIN);
                }
            }
            let tid = tree.alloc_id().ok_or(Errno::EAGAIN)?;
            let tg = if is_thread {
                Arc::clone(&self.shared.tg)
            } else {
                let actions: [SigAction; 64] = self.shared.tg.sig().actions;
                ThreadGroup::new(tid, actions, self.shared.tg.limits())
            };
            let shared = TaskShared::new(tid, Arc::clone(&tg), mask, comm);
            shared.set_nice(self.shared.nice());
            {
                let mut g = tg.sig();
                if g.exiting.is_some() {
                    return Err(Errno::EAGAIN);
                }
                g.members.push(Arc::clone(&shared));
            }
            tree.tasks.insert(tid, Arc::clone(&shared));
            let me = self.tgid();
            if is_thread {
                if let Some(rec) = tree.procs.get_mut(&me) {
                    rec.threads.push(tid);
                }
            } else {
                let (my_parent, pgid, sid) = tree
                    .proc(me)
                    .map_or((0, me, me), |p| (p.parent, p.pgid, p.sid));
                let parent = if flags.contains(CloneFlags::PARENT) && my_parent != 0 {
                    my_parent
                } else {
                    me
                };
                tree.procs.insert(
                    tid,
                    ProcRec {
                        tg,
                        parent,
                        children: Vec::new(),
                        pgid,
                        sid,
                        state: ProcState::Alive,
                        report: StopReport::default(),
                        exit_signal: o.exit_signal,
                        is_subreaper: false,
                        threads: vec![tid],
                        did_exec: false,
                        usage: super::tree::Usage::default(),
                        children_usage: super::tree::Usage::default(),
                    },
                );
                if let Some(p) = tree.procs.get_mut(&parent) {
                    p.children.push(tid);
                }
            }
            (tid, shared)
        };

        let child = Task {
            kernel: Arc::clone(&self.kernel),
            shared,
            mm,
            ctx,
            regs,
            fds,
            fs,
            creds: self.creds.clone(),
            // A new thread starts without an alternate stack unless it shares the VM without
            // being a thread (vfork keeps it: copy_process clears it only for CLONE_VM
            // without CLONE_VFORK).
            altstack: if flags.contains(CloneFlags::VM) && !flags.contains(CloneFlags::VFORK) {
                abi::time::StackT {
                    flags: abi::time::SS_DISABLE,
                    ..abi::time::StackT::default()
                }
            } else {
                self.altstack
            },
            clear_child_tid: if flags.contains(CloneFlags::CHILD_CLEARTID) {
                o.child_tid
            } else {
                0
            },
            robust_list: (0, 0),
            dumpable: self.dumpable,
            no_new_privs: self.no_new_privs,
            pdeath_signal: 0,
            restart: None,
            restart_block: None,
            saved_mask: None,
            initial_fp: Some(fp),
            set_child_tid: if flags.contains(CloneFlags::CHILD_SETTID) {
                o.child_tid
            } else {
                0
            },
            vfork_parent: vfork.clone(),
        };

        if flags.contains(CloneFlags::PARENT_SETTID) && o.parent_tid != 0 {
            // Written in the parent's memory, as kernel_clone's put_user does; a fault there
            // does not undo the clone (Linux ignores it too).
            let _ = self.copy_out_obj(o.parent_tid, &tid);
        }
        if flags.contains(CloneFlags::PIDFD) {
            let fd = super::pipe::new_pidfd(self, tid)?;
            let at = if o.pidfd != 0 { o.pidfd } else { o.parent_tid };
            if self.copy_out_obj(at, &fd).is_err() {
                let _ = self.fds().remove(fd);
                return Err(Errno::EFAULT);
            }
        }
        self.kernel.start_task(child)?;
        if let Some(v) = vfork {
            // The parent sleeps until the child execs or exits (vfork(2)). Not interruptible,
            // as on Linux (which only lets fatal signals through).
            v.wait();
        }
        Ok(tid)
    }

    /// Records a platform failure (the sandbox ends) and gives the app an errno meanwhile.
    pub(crate) fn platform_err(&self, e: &platform::PlatformError) -> Errno {
        self.kernel.platform_failed(e);
        Errno::ENOMEM
    }
}

/// `fork()`'s options.
pub fn fork_opts() -> CloneOpts {
    CloneOpts {
        exit_signal: Signal::SIGCHLD.0,
        ..CloneOpts::default()
    }
}

/// `vfork()`'s options.
pub fn vfork_opts() -> CloneOpts {
    CloneOpts {
        flags: (CloneFlags::VM | CloneFlags::VFORK).bits(),
        exit_signal: Signal::SIGCHLD.0,
        ..CloneOpts::default()
    }
}
