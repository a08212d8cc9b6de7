//! Task threads: every task runs on a host thread of its own (the platform's rule: a
//! context is driven by the thread that attached it), and threads whose task ended wait a
//! while for the next one instead of exiting, so clone(2) and fork(2) in the sandbox reuse a
//! host thread rather than create one (pthread_create plus a 2 MiB stack mapping and its
//! teardown cost tens of µs on our hosts).
//!
//! Owns the idle-thread pool ([`TaskThreads`]); its neighbour is `Kernel::start_task`, which
//! hands tasks here and counts live tasks. An idle thread holds only the pool (not the
//! kernel), waits at most [`IDLE_FOR`], and at most [`MAX_IDLE`] threads wait at once; the
//! rest exit as before. Thread-local state a task leaves behind (procfs's current task, the
//! platform's tracer pinning and cached tid) is either reset by the next task's start or
//! valid for any task.
//!
//! Lock order: `Pool` is a leaf.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::Task;

/// Idle threads kept at most.
const MAX_IDLE: usize = 16;
/// How long an idle thread waits for a task before exiting.
const IDLE_FOR: Duration = Duration::from_secs(2);
/// Stack of a task thread. Virtual size only: untouched stack pages cost nothing. Path walks,
/// 9P round trips and instruction decoding run on it.
const STACK_SIZE: usize = 2 << 20;

#[derive(Debug, Default)]
struct Pool {
    /// Tasks handed to idle threads, not yet picked up.
    queue: VecDeque<Task>,
    /// Threads waiting for a task.
    idle: usize,
}

/// The sandbox's idle task threads.
#[derive(Debug, Default)]
pub(crate) struct TaskThreads {
    pool: Mutex<Pool>,
    cv: Condvar,
}

fn lock(m: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TaskThreads {
    /// Runs `task` on an idle thread, or on a new one; after each task its thread tells the
    /// task's kernel (`Kernel::thread_finished`). Fails only if no thread could be created.
    pub(crate) fn run(self: &Arc<Self>, task: Task) -> std::io::Result<()> {
        {
            let mut p = lock(&self.pool);
            if p.idle > p.queue.len() {
                p.queue.push_back(task);
                self.cv.notify_one();
                return Ok(());
            }
        }
        let pool = Arc::clone(self);
        let name = format!("task-{}", task.tid());
        std::thread::Builder::new()
            .name(name)
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let mut next = Some(task);
                while let Some(task) = next.take() {
                    set_thread_name(task.tid());
                    let kernel = Arc::clone(&task.kernel);
                    task.run();
                    kernel.thread_finished();
                    drop(kernel);
                    next = pool.wait_for_task();
                }
            })
            .map(|_| ())
    }

    /// Waits up to [`IDLE_FOR`] for a task (None: exit the thread).
    fn wait_for_task(&self) -> Option<Task> {
        let mut p = lock(&self.pool);
        if p.idle >= MAX_IDLE {
            return None;
        }
        p.idle += 1;
        let (mut p, _) = self
            .cv
            .wait_timeout_while(p, IDLE_FOR, |p| p.queue.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        p.idle -= 1;
        p.queue.pop_front()
    }
}

/// The thread's name in host tools (`task-TID`), as a new thread would have been named.
fn set_thread_name(tid: i32) {
    if let Ok(name) = std::ffi::CString::new(format!("task-{tid}")) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}
