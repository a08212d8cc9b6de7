//! Extended-attribute syscalls: setxattr/lsetxattr/fsetxattr, getxattr/lgetxattr/fgetxattr,
//! listxattr/llistxattr/flistxattr, removexattr/lremovexattr/fremovexattr.
//!
//! This file decodes the arguments in fs/xattr.c's order (flags EINVAL, then the name —
//! ERANGE when empty or longer than 255 bytes —, then the value size, E2BIG past 64 KiB,
//! then the path or fd), resolves the file (the `l` variants do not follow a final symlink;
//! the `f` variants take the fd's location, EBADF for O_PATH descriptions), and sizes the
//! user's buffer for get/list (size 0 asks for the length; a smaller buffer is ERANGE, E2BIG
//! when the buffer was already the maximum). Namespaces, permissions and the store are the
//! VFS's (`vfs::xattr`). Files without a VFS location (pipes, sockets, host fds) have no
//! attributes: an empty list, and after the permission rules EOPNOTSUPP
//! (`vfs::xattr::pathless_error`).

use abi::Errno;
use abi::file as f;
use vfs::VfsPath;
use vfs::xattr::{self, XATTR_LIST_MAX, XATTR_NAME_MAX, XATTR_SIZE_MAX, XattrMode};

use super::{SyscallArgs, SyscallResult, ok_usize, ok_zero};
use crate::kernel::Task;

/// Which file a call names.
enum Target {
    /// A path, following a final symlink or not.
    Path { addr: u64, follow: bool },
    /// An open file description.
    Fd(i32),
}

impl Target {
    fn path(args: &SyscallArgs, follow: bool) -> Target {
        Target::Path {
            addr: args.ptr(0),
            follow,
        }
    }

    /// The location; for an fd without one, `Err(Pathless(mode))` with its fstat mode.
    fn resolve(&self, t: &Task) -> Result<VfsPath, Resolved> {
        match *self {
            Target::Path { addr, follow } => {
                let path = t.copy_in_path(addr)?;
                Ok(t.with_lookup(f::AT_FDCWD, &path, |l| l.resolve(&path, follow))?)
            }
            Target::Fd(fd) => {
                let file = t.fds().file(fd)?;
                if file.is_path_only() {
                    return Err(Errno::EBADF.into());
                }
                match file.path() {
                    Some(p) => Ok(p.clone()),
                    None => Err(Resolved::Pathless(file.stat().map_or(0, |st| st.mode))),
                }
            }
        }
    }
}

/// Why [`Target::resolve`] found no location.
enum Resolved {
    /// The errno the call fails with.
    Err(Errno),
    /// An fd without a VFS location, with its fstat mode.
    Pathless(u32),
}

impl From<Errno> for Resolved {
    fn from(e: Errno) -> Resolved {
        Resolved::Err(e)
    }
}

/// The location `target` names, or the errno the call fails with (`name`, `is_write`: what a
/// pathless file answers, `vfs::xattr::pathless_error`).
fn resolve_for(t: &Task, target: &Target, name: &[u8], is_write: bool) -> abi::SysResult<VfsPath> {
    match target.resolve(t) {
        Ok(p) => Ok(p),
        Err(Resolved::Err(e)) => Err(e),
        Err(Resolved::Pathless(mode)) => Err(xattr::pathless_error(
            mode,
            &t.creds.fs_creds(),
            name,
            is_write,
        )),
    }
}

/// The attribute name at `addr` (import_xattr_name).
fn copy_in_name(t: &Task, addr: u64) -> abi::SysResult<Vec<u8>> {
    let name = match t.mm.copy_in_cstring(addr, XATTR_NAME_MAX.saturating_add(1)) {
        Ok(n) => n,
        Err(e) if e == Errno::ENAMETOOLONG => return Err(Errno::ERANGE),
        Err(e) => return Err(e),
    };
    xattr::check_name(&name)?;
    Ok(name)
}

/// A `size_t` argument as a length, saturating (every caller clamps it to a small maximum).
fn size_arg(args: &SyscallArgs, i: usize) -> usize {
    usize::try_from(args.size(i)).unwrap_or(usize::MAX)
}

/// Copies `data` out to a user buffer of `size` bytes (already clamped to `max`) as
/// getxattr/listxattr do: size 0 returns the length only.
fn copy_out_sized(t: &Task, buf: u64, size: usize, max: usize, data: &[u8]) -> SyscallResult {
    if size == 0 {
        return ok_usize(data.len());
    }
    if data.len() > size {
        return Err(if size >= max {
            Errno::E2BIG
        } else {
            Errno::ERANGE
        });
    }
    t.mm.copy_out(buf, data)?;
    ok_usize(data.len())
}

fn do_setxattr(t: &mut Task, target: Target, args: &SyscallArgs) -> SyscallResult {
    let mode = XattrMode::from_flags(args.uint(4))?;
    let name = copy_in_name(t, args.ptr(1))?;
    let size = size_arg(args, 3);
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let mut value = vec![0u8; size];
    if size > 0 {
        t.mm.copy_in(args.ptr(2), &mut value)?;
    }
    let p = resolve_for(t, &target, &name, true)?;
    p.setxattr(&t.creds.fs_creds(), &name, &value, mode)?;
    ok_zero()
}

fn do_getxattr(t: &mut Task, target: Target, args: &SyscallArgs) -> SyscallResult {
    let name = copy_in_name(t, args.ptr(1))?;
    let p = resolve_for(t, &target, &name, false)?;
    let value = p.getxattr(&t.creds.fs_creds(), &name)?;
    let size = size_arg(args, 3).min(XATTR_SIZE_MAX);
    copy_out_sized(t, args.ptr(2), size, XATTR_SIZE_MAX, &value)
}

fn do_listxattr(t: &mut Task, target: Target, args: &SyscallArgs) -> SyscallResult {
    let list = match target.resolve(t) {
        Ok(p) => p.listxattr(&t.creds.fs_creds())?,
        Err(Resolved::Pathless(_)) => Vec::new(),
        Err(Resolved::Err(e)) => return Err(e),
    };
    let size = size_arg(args, 2).min(XATTR_LIST_MAX);
    copy_out_sized(t, args.ptr(1), size, XATTR_LIST_MAX, &list)
}

fn do_removexattr(t: &mut Task, target: Target, args: &SyscallArgs) -> SyscallResult {
    let name = copy_in_name(t, args.ptr(1))?;
    let p = resolve_for(t, &target, &name, true)?;
    p.removexattr(&t.creds.fs_creds(), &name)?;
    ok_zero()
}

/// setxattr(2).
pub fn sys_setxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_setxattr(t, Target::path(args, true), args)
}

/// lsetxattr(2).
pub fn sys_lsetxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_setxattr(t, Target::path(args, false), args)
}

/// fsetxattr(2).
pub fn sys_fsetxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_setxattr(t, Target::Fd(args.fd(0)), args)
}

/// getxattr(2).
pub fn sys_getxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_getxattr(t, Target::path(args, true), args)
}

/// lgetxattr(2).
pub fn sys_lgetxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_getxattr(t, Target::path(args, false), args)
}

/// fgetxattr(2).
pub fn sys_fgetxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_getxattr(t, Target::Fd(args.fd(0)), args)
}

/// listxattr(2).
pub fn sys_listxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_listxattr(t, Target::path(args, true), args)
}

/// llistxattr(2).
pub fn sys_llistxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_listxattr(t, Target::path(args, false), args)
}

/// flistxattr(2).
pub fn sys_flistxattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_listxattr(t, Target::Fd(args.fd(0)), args)
}

/// removexattr(2).
pub fn sys_removexattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_removexattr(t, Target::path(args, true), args)
}

/// lremovexattr(2).
pub fn sys_lremovexattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_removexattr(t, Target::path(args, false), args)
}

/// fremovexattr(2).
pub fn sys_fremovexattr(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_removexattr(t, Target::Fd(args.fd(0)), args)
}
