//! Permission checks on inode attributes: generic_permission() of fs/namei.c on mode bits (no
//! ACLs), with the capabilities that override them: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
//! and CAP_FOWNER for the sticky-bit rule.

use abi::file::{S_ISVTX, X_OK};
use abi::{Errno, SysResult};

use crate::Creds;
use crate::inode::{InodeAttr, InodeKind};

/// Checks `mask` (R_OK 4 | W_OK 2 | X_OK 1) against `attr` for `creds`: EACCES if denied.
///
/// The mode bits first (owner, else group, else other); then, as generic_permission does,
/// CAP_DAC_OVERRIDE passes everything except executing a non-directory with no x bit at all
/// ("Read/write DACs are always overridable. Executable DACs are overridable when there is at
/// least one exec bit set"), and CAP_DAC_READ_SEARCH passes reading, and searching a
/// directory.
pub fn check(attr: &InodeAttr, creds: &Creds, mask: u32) -> SysResult<()> {
    use abi::cap::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH};
    let mask = mask & 7;
    let bits = if creds.uid == attr.uid {
        attr.perm >> 6
    } else if creds.in_group(attr.gid) {
        attr.perm >> 3
    } else {
        attr.perm
    } & 7;
    if mask & !bits == 0 {
        return Ok(());
    }
    let is_dir = attr.kind == InodeKind::Dir;
    if creds.has_cap(CAP_DAC_OVERRIDE) && (mask & X_OK == 0 || is_dir || attr.perm & 0o111 != 0) {
        return Ok(());
    }
    let read_search = if is_dir { 4 | X_OK } else { 4 };
    if creds.has_cap(CAP_DAC_READ_SEARCH) && mask & !read_search == 0 {
        return Ok(());
    }
    Err(Errno::EACCES)
}

/// The sticky-directory rule for unlink/rmdir/rename (check_sticky in fs/namei.c): in a
/// directory with S_ISVTX, only the file's owner, the directory's owner or a holder of
/// CAP_FOWNER may remove or rename an entry. EPERM otherwise.
pub fn check_sticky(dir: &InodeAttr, victim: &InodeAttr, creds: &Creds) -> SysResult<()> {
    if dir.perm & S_ISVTX == 0
        || creds.has_cap(abi::cap::CAP_FOWNER)
        || creds.uid == victim.uid
        || creds.uid == dir.uid
    {
        return Ok(());
    }
    Err(Errno::EPERM)
}
