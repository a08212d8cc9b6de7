//! execve(2)/execveat(2): a new program image in the calling process.
//!
//! Steps (fs/exec.c): resolve and open the file (with `#!` interpreters, up to 4 levels, as
//! binfmt_script does), load it into a *fresh* address space — any failure so far is an errno
//! and the old image is untouched — then the point of no return: the other threads of the
//! process are killed and waited for (de_thread; a non-leader exec'ing thread takes the
//! process id as its thread id), the descriptor table is unshared and its close-on-exec
//! descriptors closed, caught signals reset to SIG_DFL (ignored ones stay ignored; the mask
//! and pending signals stay), the alternate stack is cleared, a vfork parent is released, and
//! the task switches to the new address space's context.

use std::sync::{Arc, Mutex};

use abi::signal::{SIG_DFL, SIG_IGN, SigAction};
use abi::{Errno, SysResult};
use platform::Regs;
use vfs::waiter::EventMask;

use super::task::{
    ImageError, RestartBlock, Task, VfsMappedFile, comm_from_path, load_image, open_executable,
};
use crate::mm::MappedFile;

/// binfmt_script's limit on nested interpreters (BINPRM_MAX_RECURSION).
const MAX_INTERP_DEPTH: usize = 4;
/// The longest `#!` line the kernel reads (BINPRM_BUF_SIZE).
const SHEBANG_MAX: usize = 256;

/// A parsed `#!` line: interpreter and optional single argument.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Shebang {
    pub interp: Vec<u8>,
    pub arg: Option<Vec<u8>>,
}

/// What [`resolve_scripts`] found: the binary to load, its path and the argv.
pub(crate) type Resolved = (Arc<vfs::OpenFile>, Vec<u8>, Vec<Vec<u8>>);

/// Follows `#!` lines from `file` (opened from `path`, run with `argv`), up to
/// [`MAX_INTERP_DEPTH`] levels (ELOOP beyond): each level runs `interp [arg] path argv[1..]`,
/// opening the interpreter with `open`. Returns the binary to load, its path and the argv.
pub(crate) fn resolve_scripts(
    mut file: Arc<vfs::OpenFile>,
    mut path: Vec<u8>,
    mut argv: Vec<Vec<u8>>,
    open: impl Fn(&[u8]) -> SysResult<Arc<vfs::OpenFile>>,
) -> SysResult<Resolved> {
    for depth in 0..=MAX_INTERP_DEPTH {
        let mut head = [0u8; SHEBANG_MAX];
        let n = file.pread(&mut head, 0)?;
        let Some(sb) = parse_shebang(head.get(..n).unwrap_or_default()) else {
            break;
        };
        if depth == MAX_INTERP_DEPTH {
            return Err(Errno::ELOOP);
        }
        let sb = sb?;
        // argv becomes: interp [arg] path original-argv[1..]
        let mut new_argv = vec![sb.interp.clone()];
        if let Some(a) = sb.arg {
            new_argv.push(a);
        }
        new_argv.push(path.clone());
        new_argv.extend(argv.into_iter().skip(1));
        argv = new_argv;
        path = sb.interp;
        file = open(&path)?;
    }
    Ok((file, path, argv))
}

/// Parses the first bytes of a file as a `#!` line (binfmt_script.c): the interpreter is the
/// first word after `#!` and optional blanks; everything after it (trimmed) is one argument.
/// ENOEXEC if there is no interpreter name.
pub(crate) fn parse_shebang(head: &[u8]) -> Option<SysResult<Shebang>> {
    let rest = head.strip_prefix(b"#!")?;
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = rest.get(..line_end).unwrap_or_default();
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !is_blank(b)).unwrap_or(line.len());
    let line = line.get(start..).unwrap_or_default();
    let end = line.iter().rposition(|b| !is_blank(b)).map_or(0, |e| e + 1);
    let line = line.get(..end).unwrap_or_default();
    if line.is_empty() {
        return Some(Err(Errno::ENOEXEC));
    }
    let split = line.iter().position(is_blank).unwrap_or(line.len());
    let interp = line.get(..split).unwrap_or_default().to_vec();
    let after = line.get(split..).unwrap_or_default();
    let astart = after.iter().position(|b| !is_blank(b));
    let arg = astart.and_then(|s| after.get(s..)).map(<[u8]>::to_vec);
    Some(Ok(Shebang { interp, arg }))
}

impl Task {
    /// execve with the given path (resolved from `dirfd`), argv and envp. `Ok` means the new
    /// image is in place (registers set); `Err` leaves the caller as it was.
    pub(crate) fn do_execve(
        &mut self,
        dirfd: i32,
        path: Vec<u8>,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        empty_path: bool,
    ) -> SysResult<()> {
        let file = if empty_path {
            let f = self.fds().file(dirfd)?;
            let p = f.path().cloned().ok_or(Errno::EACCES)?;
            let st = p.stat()?;
            if st.mode & abi::file::S_IFMT != abi::file::S_IFREG {
                return Err(Errno::EACCES);
            }
            p.check_access(&self.creds.fs_creds(), 1)?;
            // The descriptor may be O_PATH: read the image through a description of our own.
            self.with_lookup(abi::file::AT_FDCWD, b"", |l| {
                l.open_resolved(p.clone(), abi::file::O_RDONLY)
            })?
        } else {
            self.with_lookup(dirfd, &path, |l| open_executable(l, &path))?
        };
        // comm names the file asked for, a script's own name too (bprm->filename).
        let comm = comm_from_path(&path);
        // `#!` interpreters.
        let (file, path, argv) = resolve_scripts(file, path, argv, |p| {
            self.with_lookup(abi::file::AT_FDCWD, p, |l| open_executable(l, p))
        })?;

        // Who the new image runs as (set-user-ID/set-group-ID bits of the binary that is
        // loaded: for a script, its interpreter's, as Linux ignores them on scripts).
        let st = file.stat()?;
        let new_creds = self
            .creds
            .after_exec((st.uid, st.gid), st.mode, self.no_new_privs);
        let kernel = Arc::clone(&self.kernel);
        let (ctx, mm, image) = {
            let open_interp = |p: &[u8]| -> SysResult<Arc<dyn MappedFile>> {
                let f = self.with_lookup(abi::file::AT_FDCWD, p, |l| open_executable(l, p))?;
                Ok(Arc::new(VfsMappedFile(f, None)) as Arc<dyn MappedFile>)
            };
            let creds = new_creds.clone();
            load_image(
                &kernel,
                file,
                path.clone(),
                argv,
                envp,
                &creds,
                &open_interp,
            )
            .map_err(|e| match e {
                ImageError::Platform(p) => self.platform_err(&p),
                ImageError::Load(errno) => errno,
            })?
        };

        // ---- point of no return ----
        self.de_thread();
        if let Some(rec) = self.kernel.tree().proc_mut(self.tgid()) {
            rec.did_exec = true;
        }
        // Unshare and close close-on-exec descriptors.
        let mut table = self.fds().split_for_exec();
        table.close_on_exec();
        self.fds = Arc::new(Mutex::new(table));
        // A private copy of the filesystem context (CLONE_FS sharing ends at exec too).
        let fsc = self.fs().clone();
        self.fs = Arc::new(Mutex::new(fsc));
        {
            let mut g = self.shared.tg.sig();
            for a in g.actions.iter_mut() {
                if a.handler != SIG_IGN && a.handler != SIG_DFL {
                    *a = SigAction::default();
                } else if a.handler == SIG_IGN {
                    *a = SigAction {
                        handler: SIG_IGN,
                        ..SigAction::default()
                    };
                }
            }
        }
        // POSIX timers do not survive execve (timer_create(2)); interval timers do.
        self.shared.tg.timers().posix.clear();
        self.altstack = abi::time::StackT {
            flags: abi::time::SS_DISABLE,
            ..abi::time::StackT::default()
        };
        self.clear_child_tid = 0;
        self.robust_list = (0, 0);
        self.restart = None;
        self.restart_block = None::<RestartBlock>;
        *self
            .shared
            .comm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = comm;
        let old_ctx = match self.replace_context(ctx) {
            Ok(old) => old,
            Err(e) => {
                self.kernel.platform_failed(&e);
                return Err(Errno::ENOMEM);
            }
        };
        drop(old_ctx);
        // A new program starts with the initial FP state (fpu__clear_user_states): an XSAVE
        // image with every component in its init state (XSTATE_BV = 0) and MXCSR's default.
        match self.ctx.fpstate() {
            Ok(cur) => {
                let mut init = vec![0u8; cur.0.len()];
                if let Some(mxcsr) = init.get_mut(24..28) {
                    mxcsr.copy_from_slice(&0x1f80u32.to_le_bytes());
                }
                if let Err(e) = self.ctx.set_fpstate(&platform::FpState(init)) {
                    self.kernel.platform_failed(&e);
                }
            }
            Err(e) => self.kernel.platform_failed(&e),
        }
        self.mm = mm;
        if (new_creds.euid, new_creds.egid) != (self.creds.euid, self.creds.egid) {
            // A set-ID program is not dumpable (/proc and core dumps), as on Linux.
            self.dumpable = false;
        }
        self.creds = new_creds;
        crate::fs::proc::set_current(self);
        self.regs = Regs::new_user(image.entry, image.stack_pointer);
        if let Some(v) = self.vfork_parent.take() {
            v.complete();
        }
        Ok(())
    }

    /// Kills the other threads of the process and waits until they are gone (fs/exec.c
    /// de_thread). A non-leader takes the process id as its thread id.
    fn de_thread(&mut self) {
        let tg = Arc::clone(&self.shared.tg);
        let me = self.tid();
        {
            let mut g = tg.sig();
            g.exec_tid = Some(me);
            for m in &g.members {
                if m.tid() != me {
                    m.sig().killed = true;
                    m.kick();
                }
            }
        }
        let _reg = tg.member_events.register(self.waiter(), EventMask::IN);
        loop {
            self.prepare_wait();
            if tg.sig().members.len() <= 1 {
                break;
            }
            // Not interruptible: the others are already dying (a SIGKILL for us is seen when
            // we return to the run loop).
            self.shared.waiter.wait(None);
        }
        tg.sig().exec_tid = None;
        if me != tg.tgid {
            let tree = &mut *self.kernel.tree();
            tree.tasks.remove(&me);
            self.shared.set_tid(tg.tgid);
            tree.tasks.insert(tg.tgid, Arc::clone(&self.shared));
            if let Some(rec) = tree.procs.get_mut(&tg.tgid) {
                rec.threads = vec![tg.tgid];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_with_argument() {
        let sb = parse_shebang(b"#! /bin/sh -e  \nrest").and_then(Result::ok);
        assert_eq!(
            sb,
            Some(Shebang {
                interp: b"/bin/sh".to_vec(),
                arg: Some(b"-e".to_vec())
            })
        );
    }

    #[test]
    fn shebang_without_argument_and_without_newline() {
        let sb = parse_shebang(b"#!/usr/bin/env").and_then(Result::ok);
        assert_eq!(
            sb,
            Some(Shebang {
                interp: b"/usr/bin/env".to_vec(),
                arg: None
            })
        );
    }

    #[test]
    fn shebang_argument_keeps_inner_spaces() {
        let sb = parse_shebang(b"#!/usr/bin/env python3 -u\n").and_then(Result::ok);
        assert_eq!(sb.and_then(|s| s.arg), Some(b"python3 -u".to_vec()));
    }

    #[test]
    fn empty_shebang_is_enoexec() {
        assert_eq!(parse_shebang(b"#!   \n"), Some(Err(Errno::ENOEXEC)));
    }

    #[test]
    fn elf_is_not_a_script() {
        assert_eq!(parse_shebang(b"\x7fELF"), None);
    }
}
