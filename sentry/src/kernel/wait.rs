//! The two ends of a process's life: a thread leaving (`Task::exit`: clear_child_tid, robust
//! futexes, releasing the stub thread, the last thread turning the process into a zombie and
//! telling its parent) and a parent collecting it (`wait4`/`waitid`).
//!
//! A zombie's children go to the nearest subreaper or to init. A parent that ignores SIGCHLD
//! (SIG_IGN or SA_NOCLDWAIT) never sees zombies: the child is reaped at once. When init (pid 1)
//! exits the sandbox ends (`Kernel::init_exited`); every other process is killed.

use std::sync::Arc;

use abi::Errno;
use abi::clone::{CLD_EXITED, CLD_KILLED, WCLONE};
use abi::signal::{SA_NOCLDWAIT, SIG_IGN, SigInfo, Signal};
use vfs::waiter::EventMask;

use super::signal::{Target, send};
use super::task::{RunState, Task, TaskExit};
use super::tree::ProcState;
use super::{ExitStatus, Kernel};

/// Which children a wait selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitSel {
    Any,
    Pid(i32),
    Pgid(i32),
}

/// What a wait may report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitWant {
    pub exited: bool,
    pub stopped: bool,
    pub continued: bool,
    /// WNOWAIT: report but leave the child waitable.
    pub peek: bool,
    /// __WCLONE / __WALL selection of "clone" children (exit signal other than SIGCHLD).
    pub clone_children: CloneSel,
}

/// __WCLONE/__WALL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneSel {
    /// Only children that signal SIGCHLD at exit.
    Normal,
    /// Only "clone" children (__WCLONE).
    Clone,
    /// Both (__WALL).
    All,
}

impl CloneSel {
    /// From the wait options.
    pub fn from_options(options: u32) -> CloneSel {
        if options & abi::clone::WALL != 0 {
            CloneSel::All
        } else if options & WCLONE != 0 {
            CloneSel::Clone
        } else {
            CloneSel::Normal
        }
    }
}

/// What a wait found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitResult {
    pub pid: i32,
    /// si_code for waitid (CLD_*).
    pub code: i32,
    /// si_status for waitid: exit code or signal.
    pub status: i32,
    /// The wait4 status word.
    pub wstatus: i32,
    /// The child's usage with its reaped descendants' (wait4's rusage), zero for stops.
    pub usage: super::tree::Usage,
}

impl Task {
    /// One wait(2)-family search over the caller's children; blocks unless `nohang`.
    /// `Ok(None)` only with `nohang` when no child is ready.
    pub(crate) fn do_wait(
        &mut self,
        sel: WaitSel,
        want: WaitWant,
        nohang: bool,
    ) -> Result<Option<WaitResult>, Errno> {
        let tg = Arc::clone(&self.shared.tg);
        let waiter = self.waiter();
        let _reg = tg.child_events.register(waiter, EventMask::IN);
        loop {
            self.prepare_wait();
            if let Some(r) = self.try_wait(sel, want)? {
                return Ok(Some(r));
            }
            if nohang {
                return Ok(None);
            }
            if let Err(e) = self.wait(None) {
                // A child that changed state as the signal came still counts (its SIGCHLD is
                // often the very signal): the result beats the interruption.
                if let Some(r) = self.try_wait(sel, want)? {
                    return Ok(Some(r));
                }
                return Err(e);
            }
        }
    }

    fn try_wait(&self, sel: WaitSel, want: WaitWant) -> Result<Option<WaitResult>, Errno> {
        let me = self.tgid();
        let tree = &mut *self.kernel.tree();
        let children: Vec<i32> = tree
            .proc(me)
            .map(|p| p.children.clone())
            .unwrap_or_default();
        let mut any = false;
        for c in children {
            let Some(rec) = tree.procs.get_mut(&c) else {
                continue;
            };
            let selected = match sel {
                WaitSel::Any => true,
                WaitSel::Pid(p) => p == c,
                WaitSel::Pgid(g) => rec.pgid == g,
            };
            let is_clone = rec.exit_signal != Signal::SIGCHLD.0;
            let kind_ok = match want.clone_children {
                CloneSel::All => true,
                CloneSel::Clone => is_clone,
                CloneSel::Normal => !is_clone,
            };
            if !selected || !kind_ok {
                continue;
            }
            any = true;
            if let ProcState::Zombie(st) = rec.state
                && want.exited
            {
                let mut total = rec.usage;
                total.absorb(&rec.children_usage);
                let r = WaitResult {
                    usage: total,
                    ..exit_result(c, st)
                };
                if !want.peek {
                    tree.procs.remove(&c);
                    if let Some(p) = tree.procs.get_mut(&me) {
                        p.children.retain(|&x| x != c);
                        p.children_usage.absorb(&total);
                    }
                }
                return Ok(Some(r));
            }
            if want.stopped
                && let Some(s) = rec.report.stopped
            {
                if !want.peek {
                    rec.report.stopped = None;
                }
                return Ok(Some(WaitResult {
                    pid: c,
                    code: abi::clone::CLD_STOPPED,
                    status: s,
                    wstatus: (s << 8) | 0x7f,
                    usage: super::tree::Usage::default(),
                }));
            }
            if want.continued && rec.report.continued {
                if !want.peek {
                    rec.report.continued = false;
                }
                return Ok(Some(WaitResult {
                    pid: c,
                    code: abi::clone::CLD_CONTINUED,
                    status: Signal::SIGCONT.0,
                    wstatus: 0xffff,
                    usage: super::tree::Usage::default(),
                }));
            }
        }
        if any { Ok(None) } else { Err(Errno::ECHILD) }
    }

    /// Releases the task (module doc). Consumes it: this is the end of its host thread's work.
    pub(crate) fn exit(mut self, how: TaskExit) {
        let kernel = Arc::clone(&self.kernel);
        let tg = Arc::clone(&self.shared.tg);
        let tid = self.tid();
        // clear_child_tid: write 0 and wake one futex waiter (set_tid_address(2)); this is how
        // pthread_join learns that the thread is gone.
        if self.clear_child_tid != 0 {
            let addr = self.clear_child_tid;
            if self.mm.copy_out_obj(addr, &0u32).is_ok() {
                let _ = super::futex::wake_address(&self, addr, 1);
            }
        }
        self.robust_list_cleanup();
        if let Some(v) = self.vfork_parent.take() {
            v.complete();
        }
        self.shared.set_run_state(RunState::Dead);
        // Measured while the address space still exists; kept if this is the last thread.
        let usage = super::tree::Usage::of_mm(&self.mm);
        // Files go before the exit is reported (a parent that waits and then reads a pipe
        // must see the child's end closed). The platform context and the memory go after it:
        // nothing the application can observe depends on them, and tearing down a stub (kill
        // and reap, page frees) would otherwise delay the parent's wait4. The stub thread is
        // released on this host thread (the platform's rule), before the memory.
        let Task {
            ctx, mm, fds, fs, ..
        } = self;
        drop(fds);
        drop(fs);

        let mut guard = kernel.tree();
        let tree = &mut *guard;
        tree.tasks.remove(&tid);
        let (last, status) = {
            let mut g = tg.sig();
            g.members.retain(|m| m.tid() != tid);
            let last = g.members.is_empty();
            let status = g.exiting.unwrap_or(match how {
                TaskExit::Thread(code) => ExitStatus::Exited(code & 0xff),
                TaskExit::Group(st) => st,
            });
            if last {
                g.exiting = Some(status);
            }
            (last, status)
        };
        if let Some(rec) = tree.procs.get_mut(&tg.tgid) {
            rec.threads.retain(|&t| t != tid);
            if last {
                rec.usage = usage;
            }
        }
        tg.member_events.notify(EventMask::IN);
        if !last {
            return;
        }
        tracing::debug!(target: "sentry::task", pid = tg.tgid, ?status, "process exited");
        // Timers refer back to the process: drop them, which also disarms them.
        *tg.timers() = super::thread_group::ProcTimers::default();
        let leader = tree.proc(tg.tgid).is_some_and(|p| p.sid == tg.tgid);
        let notice = process_exit(&kernel, tree, tg.tgid, status);
        drop(guard);
        if leader {
            crate::tty::session_leader_exited(&kernel, tg.tgid);
        }
        // Signalled with the tree unlocked: a SIGCONT-style side effect of sending may need it.
        if let Some((ptg, si)) = notice {
            let _ = send(&kernel, &Target::Process(Arc::clone(&ptg)), si);
            ptg.child_events.notify(EventMask::IN);
        }
        tg.member_events.notify(EventMask::IN | EventMask::HUP);
        drop(ctx);
        drop(mm);
    }
}

fn exit_result(pid: i32, st: ExitStatus) -> WaitResult {
    match st {
        ExitStatus::Exited(c) => WaitResult {
            pid,
            code: CLD_EXITED,
            status: c & 0xff,
            wstatus: st.wait_status(),
            usage: super::tree::Usage::default(),
        },
        ExitStatus::Signaled(s) => WaitResult {
            pid,
            code: CLD_KILLED,
            status: s.0,
            wstatus: st.wait_status(),
            usage: super::tree::Usage::default(),
        },
    }
}

/// The last thread of `tgid` is gone: zombie, reparent the children, and say which signal the
/// parent gets (sent by the caller once the tree is unlocked).
fn process_exit(
    kernel: &Kernel,
    tree: &mut super::TaskTree,
    tgid: i32,
    status: ExitStatus,
) -> Option<(Arc<super::ThreadGroup>, SigInfo)> {
    let reaper = tree.reaper_for(tgid);
    let (parent, children, exit_signal) = match tree.procs.get_mut(&tgid) {
        Some(rec) => {
            rec.state = ProcState::Zombie(status);
            (
                rec.parent,
                std::mem::take(&mut rec.children),
                rec.exit_signal,
            )
        }
        None => return None,
    };
    // Orphans go to the reaper (init when nothing else); a zombie among them is waitable there.
    let reaper = if reaper == tgid { 1 } else { reaper };
    if tgid != 1 {
        for c in &children {
            if let Some(crec) = tree.procs.get_mut(c) {
                crec.parent = reaper;
            }
        }
        if let Some(r) = tree.procs.get_mut(&reaper) {
            r.children.extend(children.iter().copied());
            r.tg.child_events.notify(EventMask::IN);
        }
    }
    if tgid == 1 {
        kernel.init_exited(status);
        return None;
    }
    let Some(prec) = tree.procs.get(&parent) else {
        // No parent in the sandbox (a process the runtime added): reaped at once, its status
        // goes to the runtime's waiter.
        tree.procs.remove(&tgid);
        kernel.orphan_exited(tgid, status);
        return None;
    };
    let ptg = Arc::clone(&prec.tg);
    let act = ptg.sig().action(Signal::SIGCHLD);
    let autoreap = exit_signal == Signal::SIGCHLD.0
        && (act.handler == SIG_IGN || act.flags & SA_NOCLDWAIT != 0);
    if autoreap {
        tree.procs.remove(&tgid);
        if let Some(p) = tree.procs.get_mut(&parent) {
            p.children.retain(|&c| c != tgid);
        }
    } else if exit_signal != 0 {
        let r = exit_result(tgid, status);
        let mut si = SigInfo::new(Signal(exit_signal), r.code);
        si.set_chld(tgid, 0, r.status);
        return Some((ptg, si));
    }
    ptg.child_events.notify(EventMask::IN);
    None
}
