//! overlay: a writable filesystem made of a read-only *lower* filesystem (the rootfs served by
//! the gofer) and an in-sentry tmpfs *upper* layer that takes every change, as runsc's
//! `--overlay2=root:memory` and Linux's overlayfs do. The lower filesystem is never written.
//!
//! **Layers.** Each [`OvInode`] wraps the upper inode, the lower inode, or both (a directory
//! present in both is *merged*: its listing is the upper entries followed by the lower ones
//! not hidden). A name is looked up in the upper directory first; an upper non-directory or
//! an *opaque* upper directory hides the lower name, a *whiteout* hides it without replacing
//! it. The upper layer is the record: a whiteout is a character device 0:0 in the upper
//! directory (as Linux's overlayfs stores it; a guest's `mknod c 0 0` therefore makes a name
//! vanish, as there), opaque directories are a set of upper inode numbers kept here, and the
//! lower inode number each copied-up file came from is kept in `origin`. So an `OvInode` is a
//! pure cache that a lookup can rebuild at any time: the VFS's bounded dentry cache may evict
//! overlay dentries that have a lower inode exactly as it evicts p9fs ones (which bounds the
//! fids and gofer fds held), and nothing is lost when it does.
//!
//! **Copy-up.** The first change to a lower file — a write-open, O_TRUNC, setattr (chmod,
//! chown, utimes, truncate), a hard link to it, a rename of it — copies it to the upper layer
//! first (its parent directories too, recursively): type, permission bits, owner, times,
//! symlink target, device number, and the data (skipped when the change truncates to zero).
//! The copy keeps the lower inode number, so `st_ino` never changes under a program. Files
//! only in the upper layer report the upper inode number with bit 62 set, which keeps them
//! apart from lower numbers (host inode numbers on this machine's filesystems are far below).
//! Every file of the overlay has the overlay's own `st_dev`.
//!
//! **Removal.** unlink/rmdir of a name that exists in the lower layer leaves a whiteout;
//! mkdir over a whiteout makes an opaque directory. rmdir of a merged directory checks that
//! the merged listing is empty (ENOTEMPTY) and first deletes the whiteouts its upper copy holds.
//! Renaming a directory that has lower contents fails with EXDEV, as Linux's overlayfs does
//! without `redirect_dir` (`mv` then copies); files and upper-only directories rename freely,
//! leaving a whiteout at the old name when the lower layer had one.
//!
//! Merged directories report 2 plus their merged subdirectories as the link count, as a
//! plain directory would (Linux's overlayfs reports 1 instead, but programs compare with
//! native output): counted from the merged listing once and kept until a directory is
//! created, removed or renamed in it (only the overlay changes the layers it reads).
//!
//! Neighbours: the VFS core (`lookup.rs`, `mount.rs`) calls the [`Inode`] methods after its own
//! permission and type checks; `tmpfs.rs` is the upper layer, `p9fs.rs` the usual lower.
//!
//! Lock order: `Shared::mutate` (one per overlay, held by every namespace change and copy-up:
//! mutations of the overlay are serialized, which keeps copy-up, whiteouts and renames simple;
//! lookups and reads never take it) → an `OvInode`'s `state` → `children` (held briefly; the
//! one call into a layer under `state` is `attr`, whose layers take only leaf locks of their
//! own); `opaque` and `origin` are leaves.
//!
//! # Shortcuts
//! - A file opened read-only before a copy-up reads the upper copy after it (`ReadFile`, as
//!   Linux 4.19+), but mappings made through such a description keep the lower file's pages.
//! - Copy-up breaks hard links between lower files (each name copies separately), as overlayfs
//!   without `index=on` does. A hard link made in the sandbox to a copied-up file reports the
//!   upper inode number (tagged), not the lower one.
//! - Copy-up copies the whole file through a 1 MiB buffer under the overlay's mutation lock.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use abi::file::{self as f, StatFs};
use abi::{Errno, SysResult};

use crate::Creds;
use crate::inode::{
    DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind, RenameFlags, SetAttr, new_anon_dev,
};
use crate::memfile::MemoryFile;
use crate::mount::lock;
use crate::xattr::XattrMode;

/// Bit set in the inode numbers of files that exist only in the upper layer.
const UPPER_INO_TAG: u64 = 1 << 62;
/// Copy-up buffer.
const COPY_CHUNK: usize = 1 << 20;
/// Name of the upper layer's directory for files copied up after their last name was removed
/// (kept outside the merged tree).
const WORK_DIR: &[u8] = b"work";
/// Name of the upper layer's directory that is the merged tree's upper root.
const ROOT_DIR: &[u8] = b"root";

#[derive(Debug)]
struct Shared {
    lower_fs: Arc<dyn Filesystem>,
    /// Keeps the upper tmpfs instance alive.
    _upper_fs: Arc<dyn Filesystem>,
    /// The upper layer's directory for anonymous copy-ups.
    work: Arc<dyn Inode>,
    dev: u64,
    /// Serializes every mutation and copy-up (see the module doc).
    mutate: Mutex<()>,
    /// Upper inode numbers of opaque directories.
    opaque: Mutex<HashSet<u64>>,
    /// Upper inode number → the lower inode number it was copied up from.
    origin: Mutex<HashMap<u64, u64>>,
    /// Counter for names in the work directory.
    work_seq: Mutex<u64>,
}

impl Shared {
    /// The overlay inode number of an upper inode numbered `upper_ino`.
    fn upper_ino(&self, upper_ino: u64) -> u64 {
        lock(&self.origin)
            .get(&upper_ino)
            .copied()
            .unwrap_or(upper_ino | UPPER_INO_TAG)
    }
}

#[derive(Debug)]
struct State {
    upper: Option<Arc<dyn Inode>>,
    /// The lower inode; for a directory, only while it is merged (not opaque).
    lower: Option<Arc<dyn Inode>>,
    /// The directory holding this name (None for the root) and the name in it.
    parent: Option<Arc<OvInode>>,
    name: Vec<u8>,
    /// Set when the last name was removed: a copy-up then goes to the work directory.
    unlinked: bool,
}

/// One overlay file (see the module doc).
#[derive(Debug)]
pub struct OvInode {
    shared: Arc<Shared>,
    kind: InodeKind,
    ino: u64,
    /// Whether a lower inode was found when this was built (decides evictability).
    had_lower: bool,
    /// Set once the file has an upper copy (a lock-free check for `ReadFile`).
    has_upper: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    /// Ourselves (the trait's methods get `&self`; children need an `Arc` of their parent).
    me: Weak<OvInode>,
    /// Merged directories: the link count, once counted (see the module doc).
    nlink: Mutex<Option<u64>>,
    /// Directories: children handed out by lookup/create, so rename and unlink can fix their
    /// parent link and name.
    children: Mutex<HashMap<Vec<u8>, Weak<OvInode>>>,
}

fn is_whiteout(a: &InodeAttr) -> bool {
    a.kind == InodeKind::CharDev && a.rdev == 0
}

fn downcast(i: &Arc<dyn Inode>) -> SysResult<&OvInode> {
    i.as_any().downcast_ref::<OvInode>().ok_or(Errno::EXDEV)
}

/// The credentials a copy-up creates with: the original owner, every capability.
fn owner_creds(a: &InodeAttr) -> Creds {
    Creds {
        uid: a.uid,
        gid: a.gid,
        ..Creds::root()
    }
}

impl OvInode {
    fn new(
        shared: &Arc<Shared>,
        kind: InodeKind,
        ino: u64,
        upper: Option<Arc<dyn Inode>>,
        lower: Option<Arc<dyn Inode>>,
        parent: Option<Arc<OvInode>>,
        name: &[u8],
    ) -> Arc<OvInode> {
        let had_lower = lower.is_some();
        let has_upper = std::sync::atomic::AtomicBool::new(upper.is_some());
        Arc::new_cyclic(|me| OvInode {
            shared: Arc::clone(shared),
            kind,
            ino,
            had_lower,
            has_upper,
            state: Mutex::new(State {
                upper,
                lower,
                parent,
                name: name.to_vec(),
                unlinked: false,
            }),
            me: me.clone(),
            nlink: Mutex::new(None),
            children: Mutex::new(HashMap::new()),
        })
    }

    fn arc(&self) -> SysResult<Arc<OvInode>> {
        self.me.upgrade().ok_or(Errno::ESTALE)
    }

    fn upper(&self) -> Option<Arc<dyn Inode>> {
        lock(&self.state).upper.clone()
    }

    fn lower(&self) -> Option<Arc<dyn Inode>> {
        lock(&self.state).lower.clone()
    }

    /// The layer that answers for this file now: upper if copied up.
    fn current(&self) -> SysResult<Arc<dyn Inode>> {
        let st = lock(&self.state);
        st.upper
            .clone()
            .or_else(|| st.lower.clone())
            .ok_or(Errno::ESTALE)
    }

    fn remember_child(&self, name: &[u8], child: &Arc<OvInode>) {
        let mut c = lock(&self.children);
        if c.len() > 64 && c.len().is_power_of_two() {
            c.retain(|_, w| w.strong_count() > 0);
        }
        c.insert(name.to_vec(), Arc::downgrade(child));
    }

    fn take_child(&self, name: &[u8]) -> Option<Arc<OvInode>> {
        lock(&self.children).remove(name).and_then(|w| w.upgrade())
    }

    /// Builds the overlay inode for upper entry `ui` named `name` in this directory, or None
    /// if it is a whiteout.
    fn wrap_upper(
        &self,
        name: &[u8],
        ui: Arc<dyn Inode>,
        lower_dir: Option<&Arc<dyn Inode>>,
    ) -> SysResult<Option<Arc<OvInode>>> {
        let a = ui.attr()?;
        if is_whiteout(&a) {
            return Ok(None);
        }
        let lower = match (a.kind, lower_dir) {
            (InodeKind::Dir, Some(ld)) if !lock(&self.shared.opaque).contains(&a.ino) => ld
                .lookup(name)
                .ok()
                .filter(|l| l.attr().is_ok_and(|la| la.kind == InodeKind::Dir)),
            _ => None,
        };
        let ino = self.shared.upper_ino(a.ino);
        Ok(Some(OvInode::new(
            &self.shared,
            a.kind,
            ino,
            Some(ui),
            lower,
            Some(self.arc()?),
            name,
        )))
    }

    /// The merged lookup, without the children bookkeeping.
    fn lookup_layers(&self, name: &[u8]) -> SysResult<Arc<OvInode>> {
        let (upper, lower) = {
            let st = lock(&self.state);
            (st.upper.clone(), st.lower.clone())
        };
        if let Some(u) = &upper {
            match u.lookup(name) {
                Ok(ui) => {
                    return self
                        .wrap_upper(name, ui, lower.as_ref())?
                        .ok_or(Errno::ENOENT);
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(l) = lower else {
            return Err(Errno::ENOENT);
        };
        let li = l.lookup(name)?;
        let a = li.attr()?;
        Ok(OvInode::new(
            &self.shared,
            a.kind,
            a.ino,
            None,
            Some(li),
            Some(self.arc()?),
            name,
        ))
    }

    /// The child `name` as the VFS holds it (the object lookup handed out, if still alive, so
    /// a copy-up through it is seen by everyone), else a fresh lookup.
    fn child(&self, name: &[u8]) -> SysResult<Arc<OvInode>> {
        if let Some(c) = lock(&self.children).get(name).and_then(Weak::upgrade) {
            return Ok(c);
        }
        let c = self.lookup_layers(name)?;
        self.remember_child(name, &c);
        Ok(c)
    }

    /// Whether the lower layer has `name` in this directory (so removing it needs a whiteout).
    fn lower_has(&self, name: &[u8]) -> bool {
        self.lower().is_some_and(|l| l.lookup(name).is_ok())
    }

    /// Ensures this file has an upper copy and returns it; `data`: copy a regular file's
    /// contents too. Caller holds `Shared::mutate`.
    fn copy_up(&self, data: bool) -> SysResult<Arc<dyn Inode>> {
        let (parent, name, lower, unlinked) = {
            let st = lock(&self.state);
            if let Some(u) = &st.upper {
                return Ok(Arc::clone(u));
            }
            (
                st.parent.clone(),
                st.name.clone(),
                st.lower.clone().ok_or(Errno::ESTALE)?,
                st.unlinked,
            )
        };
        let a = lower.attr()?;
        let (dir, name) = if unlinked {
            let mut seq = lock(&self.shared.work_seq);
            *seq = seq.wrapping_add(1);
            (
                Arc::clone(&self.shared.work),
                format!("c{}", *seq).into_bytes(),
            )
        } else {
            // The root always has an upper directory, so only non-roots get here.
            let parent = parent.ok_or(Errno::ESTALE)?;
            (parent.copy_up(false)?, name)
        };
        let creds = owner_creds(&a);
        let upper = match a.kind {
            InodeKind::Dir => dir.mkdir(&name, a.perm, &creds)?,
            InodeKind::Regular => {
                let u = dir.create(&name, a.perm, &creds)?;
                if data
                    && a.size > 0
                    && let Err(e) = copy_data(&lower, &u)
                {
                    let _ = dir.unlink(&name);
                    return Err(e);
                }
                u
            }
            InodeKind::Symlink => dir.symlink(&name, &lower.readlink()?, &creds)?,
            k => dir.mknod(&name, k, a.perm, a.rdev, &creds)?,
        };
        let _ = upper.setattr(&SetAttr {
            perm: Some(a.perm),
            uid: Some(a.uid),
            gid: Some(a.gid),
            atime: Some(a.atime),
            mtime: Some(a.mtime),
            ..SetAttr::default()
        });
        if unlinked {
            let _ = dir.unlink(&name);
        }
        if let Ok(ua) = upper.attr() {
            lock(&self.shared.origin).insert(ua.ino, self.ino);
        }
        lock(&self.state).upper = Some(Arc::clone(&upper));
        self.has_upper
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(upper)
    }

    /// Removes a whiteout `name` from this directory's upper copy if there is one; returns
    /// whether there was.
    fn clear_whiteout(&self, upper: &Arc<dyn Inode>, name: &[u8]) -> SysResult<bool> {
        match upper.lookup(name) {
            Ok(ui) if ui.attr().is_ok_and(|a| is_whiteout(&a)) => {
                upper.unlink(name)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn whiteout(&self, upper: &Arc<dyn Inode>, name: &[u8]) -> SysResult<()> {
        upper.mknod(name, InodeKind::CharDev, 0, 0, &Creds::root())?;
        Ok(())
    }

    /// The shared part of create/mkdir/mknod/symlink: `make` creates the upper entry.
    fn create_with(
        &self,
        name: &[u8],
        make: impl FnOnce(&Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>>,
    ) -> SysResult<Arc<dyn Inode>> {
        let _m = lock(&self.shared.mutate);
        let upper = self.copy_up(false)?;
        let had_whiteout = self.clear_whiteout(&upper, name)?;
        let ui = match make(&upper) {
            Ok(ui) => ui,
            Err(e) => {
                if had_whiteout {
                    let _ = self.whiteout(&upper, name);
                }
                return Err(e);
            }
        };
        let a = ui.attr()?;
        if a.kind == InodeKind::Dir {
            self.dirs_changed();
            if had_whiteout || self.lower_has(name) {
                lock(&self.shared.opaque).insert(a.ino);
            }
        }
        let child = OvInode::new(
            &self.shared,
            a.kind,
            a.ino | UPPER_INO_TAG,
            Some(ui),
            None,
            Some(self.arc()?),
            name,
        );
        self.remember_child(name, &child);
        Ok(child)
    }

    /// The merged listing (whiteouts removed, upper first).
    fn merged_entries(&self) -> SysResult<Vec<DirEntry>> {
        let (upper, lower) = {
            let st = lock(&self.state);
            (st.upper.clone(), st.lower.clone())
        };
        let mut out = Vec::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        if let Some(u) = &upper {
            for mut e in u.readdir()? {
                let whiteout = e.kind == InodeKind::CharDev
                    && u.lookup(&e.name)
                        .and_then(|c| c.attr())
                        .is_ok_and(|a| is_whiteout(&a));
                seen.insert(e.name.clone());
                if whiteout {
                    continue;
                }
                e.ino = self.shared.upper_ino(e.ino);
                out.push(e);
            }
        }
        if let Some(l) = &lower {
            for e in l.readdir()? {
                if !seen.contains(&e.name) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Makes `upper` (an upper directory about to be removed or replaced) empty of whiteouts.
    fn purge_whiteouts(upper: &Arc<dyn Inode>) -> SysResult<()> {
        for e in upper.readdir()? {
            if e.kind == InodeKind::CharDev
                && upper
                    .lookup(&e.name)
                    .and_then(|c| c.attr())
                    .is_ok_and(|a| is_whiteout(&a))
            {
                upper.unlink(&e.name)?;
            }
        }
        Ok(())
    }

    /// The link count of a merged directory (cached, see the module doc).
    fn merged_nlink(&self) -> SysResult<u64> {
        if let Some(n) = *lock(&self.nlink) {
            return Ok(n);
        }
        let dirs = self
            .merged_entries()?
            .iter()
            .filter(|e| e.kind == InodeKind::Dir)
            .count();
        let n = 2u64.saturating_add(u64::try_from(dirs).unwrap_or(u64::MAX));
        *lock(&self.nlink) = Some(n);
        Ok(n)
    }

    /// Forgets the counted link count (a directory came or went here).
    fn dirs_changed(&self) {
        *lock(&self.nlink) = None;
    }

    fn mark_unlinked(&self, name: &[u8]) {
        if let Some(c) = self.take_child(name) {
            lock(&c.state).unlinked = true;
        }
    }
}

/// A read-only open of a lower regular file. Once the file is copied up (by another open,
/// a chmod...), its data calls go to the upper copy, opened lazily with the same flags, so the
/// description sees later writes as on Linux 4.19+ (which reopens the real file per call).
/// Mapping calls stay with the lower file: mappings made through this description keep the
/// pages they started with (mixing the two layers' pages in one mapping would be worse).
#[derive(Debug)]
struct ReadFile {
    inode: Arc<OvInode>,
    flags: u32,
    lower: Box<dyn FileOps>,
    upper: std::sync::OnceLock<Box<dyn FileOps>>,
}

impl ReadFile {
    /// Where data calls go now.
    fn data(&self) -> &dyn FileOps {
        if let Some(u) = self.upper.get() {
            return u.as_ref();
        }
        if self
            .inode
            .has_upper
            .load(std::sync::atomic::Ordering::Acquire)
            && let Some(up) = self.inode.upper()
            && let Ok(ops) = up.open(self.flags)
        {
            return self.upper.get_or_init(|| ops).as_ref();
        }
        self.lower.as_ref()
    }
}

impl FileOps for ReadFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        self.data().read_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        self.data().write_at(buf, off)
    }
    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        self.data().append(buf)
    }
    fn size(&self) -> SysResult<u64> {
        self.data().size()
    }
    fn ioctl(&self, mem: &dyn crate::UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        self.data().ioctl(mem, cmd, arg)
    }
    fn fsync(&self, datasync: bool) -> SysResult<()> {
        self.data().fsync(datasync)
    }
    fn has_direct_io(&self) -> bool {
        self.data().has_direct_io()
    }
    fn read_into_memfile(
        &self,
        mf: &MemoryFile,
        dst: u64,
        len: usize,
        off: u64,
    ) -> SysResult<usize> {
        self.data().read_into_memfile(mf, dst, len, off)
    }
    fn write_from_memfile(
        &self,
        mf: &MemoryFile,
        src: u64,
        len: usize,
        off: u64,
    ) -> SysResult<usize> {
        self.data().write_from_memfile(mf, src, len, off)
    }
    fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        self.data().fallocate(mode, off, len)
    }
    fn seek_data_hole(&self, off: u64, hole: bool) -> Option<SysResult<u64>> {
        self.data().seek_data_hole(off, hole)
    }
    fn memfile_page(&self, index: u64) -> Option<SysResult<u64>> {
        self.lower.memfile_page(index)
    }
    fn memfile_pages(&self, index: u64, max: u64) -> Option<SysResult<(u64, u64)>> {
        self.lower.memfile_pages(index, max)
    }
    fn has_memfile_pages(&self) -> bool {
        self.lower.has_memfile_pages()
    }
    fn writable_map_token(&self) -> Option<SysResult<crate::inode::MapToken>> {
        self.lower.writable_map_token()
    }
    fn page_cached(&self, index: u64) -> bool {
        self.lower.page_cached(index)
    }
    fn sync_mappings(&self) -> SysResult<()> {
        self.lower.sync_mappings()
    }
}

/// Copies a regular file's bytes from `src` to `dst` (both just opened for it).
fn copy_data(src: &Arc<dyn Inode>, dst: &Arc<dyn Inode>) -> SysResult<()> {
    let r = src.open(f::O_RDONLY)?;
    let w = dst.open(f::O_WRONLY)?;
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut off = 0u64;
    loop {
        let n = r.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok(());
        }
        let chunk = buf.get(..n).ok_or(Errno::EIO)?;
        let mut done = 0;
        while done < n {
            let rest = chunk.get(done..).ok_or(Errno::EIO)?;
            let at = off.checked_add(done as u64).ok_or(Errno::EFBIG)?;
            let m = w.write_at(rest, at)?;
            if m == 0 {
                return Err(Errno::EIO);
            }
            done += m;
        }
        off = off.checked_add(n as u64).ok_or(Errno::EFBIG)?;
    }
}

/// Whether open flags can change the file (so the open copies it up first).
fn open_writes(flags: u32) -> bool {
    flags & f::O_ACCMODE != f::O_RDONLY || flags & f::O_TRUNC != 0
}

impl Inode for OvInode {
    fn attr(&self) -> SysResult<InodeAttr> {
        // The hot path of every walk (permission checks read each directory's attributes):
        // no reference-count traffic, the layer asked under our state lock (a layer's attr
        // takes only its own leaf locks).
        let (mut a, merged) = {
            let st = lock(&self.state);
            let layer = st
                .upper
                .as_ref()
                .or(st.lower.as_ref())
                .ok_or(Errno::ESTALE)?;
            (layer.attr()?, st.upper.is_some() && st.lower.is_some())
        };
        a.ino = self.ino;
        if a.kind == InodeKind::Dir && merged && a.nlink != 0 {
            a.nlink = self.merged_nlink()?;
        }
        Ok(a)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn is_evictable(&self) -> bool {
        self.had_lower
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if self.kind != InodeKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        let child = self.lookup_layers(name)?;
        self.remember_child(name, &child);
        Ok(child)
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        self.merged_entries()
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        self.current()?.readlink()
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        if open_writes(flags) && self.upper().is_none() {
            let _m = lock(&self.shared.mutate);
            self.copy_up(flags & f::O_TRUNC == 0)?;
        }
        let (upper, lower) = {
            let st = lock(&self.state);
            (st.upper.clone(), st.lower.clone())
        };
        match (upper, lower) {
            (Some(u), _) => u.open(flags),
            // A read-only open of a lower regular file follows a later copy-up (ReadFile).
            (None, Some(l)) if self.kind == InodeKind::Regular => Ok(Box::new(ReadFile {
                inode: self.arc()?,
                flags,
                lower: l.open(flags)?,
                upper: std::sync::OnceLock::new(),
            })),
            (None, Some(l)) => l.open(flags),
            (None, None) => Err(Errno::ESTALE),
        }
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        let upper = match self.upper() {
            Some(u) => u,
            None => {
                let _m = lock(&self.shared.mutate);
                self.copy_up(attr.size != Some(0))?
            }
        };
        upper.setattr(attr)
    }

    fn create(&self, name: &[u8], perm: u32, creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        self.create_with(name, |u| u.create(name, perm, creds))
    }

    fn mkdir(&self, name: &[u8], perm: u32, creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        self.create_with(name, |u| u.mkdir(name, perm, creds))
    }

    /// O_TMPFILE: an unnamed file of the upper layer (the directory is copied up first, as
    /// Linux's ovl_tmpfile does); linkat(2) then names it in the upper directory.
    fn tmpfile(&self, perm: u32, creds: &Creds, linkable: bool) -> SysResult<Arc<dyn Inode>> {
        if self.kind != InodeKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        let _m = lock(&self.shared.mutate);
        let upper = self.copy_up(false)?;
        let ui = upper.tmpfile(perm, creds, linkable)?;
        let a = ui.attr()?;
        let child = OvInode::new(
            &self.shared,
            a.kind,
            a.ino | UPPER_INO_TAG,
            Some(ui),
            None,
            Some(self.arc()?),
            b"",
        );
        lock(&child.state).unlinked = true;
        Ok(child)
    }

    fn mknod(
        &self,
        name: &[u8],
        kind: InodeKind,
        perm: u32,
        rdev: u64,
        creds: &Creds,
    ) -> SysResult<Arc<dyn Inode>> {
        self.create_with(name, |u| u.mknod(name, kind, perm, rdev, creds))
    }

    fn symlink(&self, name: &[u8], target: &[u8], creds: &Creds) -> SysResult<Arc<dyn Inode>> {
        self.create_with(name, |u| u.symlink(name, target, creds))
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<()> {
        let target = downcast(target)?;
        let _m = lock(&self.shared.mutate);
        let tu = target.copy_up(true)?;
        let upper = self.copy_up(false)?;
        let had_whiteout = self.clear_whiteout(&upper, name)?;
        if let Err(e) = upper.link(name, &tu) {
            if had_whiteout {
                let _ = self.whiteout(&upper, name);
            }
            return Err(e);
        }
        Ok(())
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        let _m = lock(&self.shared.mutate);
        let upper = self.copy_up(false)?;
        let lower_has = self.lower_has(name);
        match upper.lookup(name) {
            Ok(ui) if ui.attr().is_ok_and(|a| is_whiteout(&a)) => return Err(Errno::ENOENT),
            Ok(ui) => {
                if let Ok(a) = ui.attr()
                    && a.nlink <= 1
                {
                    lock(&self.shared.origin).remove(&a.ino);
                }
                upper.unlink(name)?;
            }
            Err(Errno::ENOENT) if lower_has => {}
            Err(e) => return Err(e),
        }
        if lower_has {
            self.whiteout(&upper, name)?;
        }
        self.mark_unlinked(name);
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        let _m = lock(&self.shared.mutate);
        let victim = self.child(name)?;
        if victim.kind != InodeKind::Dir {
            return Err(Errno::ENOTDIR);
        }
        if !victim.merged_entries()?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let upper = self.copy_up(false)?;
        let lower_has = self.lower_has(name);
        if let Some(vu) = victim.upper() {
            Self::purge_whiteouts(&vu)?;
            let vino = vu.attr().map(|a| a.ino).ok();
            upper.rmdir(name)?;
            if let Some(ino) = vino {
                lock(&self.shared.opaque).remove(&ino);
                lock(&self.shared.origin).remove(&ino);
            }
        }
        if lower_has {
            self.whiteout(&upper, name)?;
        }
        self.dirs_changed();
        self.mark_unlinked(name);
        Ok(())
    }

    fn rename(&self, old_name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8]) -> SysResult<()> {
        let new_dir = downcast(new_dir)?;
        let _m = lock(&self.shared.mutate);
        self.rename_locked(old_name, new_dir, new_name, false)
    }

    fn rename2(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
        flags: RenameFlags,
        _creds: &Creds,
    ) -> SysResult<()> {
        if flags.whiteout {
            return Err(Errno::EINVAL);
        }
        let new_dir = downcast(new_dir)?;
        let _m = lock(&self.shared.mutate);
        if flags.exchange {
            return self.exchange_locked(old_name, new_dir, new_name);
        }
        self.rename_locked(old_name, new_dir, new_name, flags.noreplace)
    }

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        self.current()?.getxattr(name)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], mode: XattrMode) -> SysResult<()> {
        let upper = match self.upper() {
            Some(u) => u,
            None => {
                let _m = lock(&self.shared.mutate);
                self.copy_up(true)?
            }
        };
        upper.setxattr(name, value, mode)
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        self.current()?.listxattr()
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        let upper = match self.upper() {
            Some(u) => u,
            None => {
                let _m = lock(&self.shared.mutate);
                self.copy_up(true)?
            }
        };
        upper.removexattr(name)
    }
}

impl OvInode {
    /// rename(2) (RENAME_NOREPLACE with `noreplace`), with `Shared::mutate` held.
    fn rename_locked(
        &self,
        old_name: &[u8],
        new_dir: &OvInode,
        new_name: &[u8],
        noreplace: bool,
    ) -> SysResult<()> {
        let src = self.child(old_name)?;
        if src.kind == InodeKind::Dir && src.lower().is_some() {
            // A directory with lower contents cannot move (no redirect_dir): mv copies.
            return Err(Errno::EXDEV);
        }
        let target = match new_dir.child(new_name) {
            Ok(t) => Some(t),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        if noreplace && target.is_some() {
            return Err(Errno::EEXIST);
        }
        if let Some(t) = &target
            && t.kind == InodeKind::Dir
            && !t.merged_entries()?.is_empty()
        {
            return Err(Errno::ENOTEMPTY);
        }
        let su = src.copy_up(true)?;
        let old_upper = self.copy_up(false)?;
        let new_upper = new_dir.copy_up(false)?;
        let old_lower_has = self.lower_has(old_name);
        let new_lower_has = new_dir.lower_has(new_name);
        // Make the upper target replaceable by the upper rename: no whiteout in the way of a
        // directory, no whiteouts inside a directory being replaced.
        match &target {
            Some(t) => {
                if let Some(tu) = t.upper()
                    && t.kind == InodeKind::Dir
                {
                    Self::purge_whiteouts(&tu)?;
                }
            }
            None => {
                new_dir.clear_whiteout(&new_upper, new_name)?;
            }
        }
        let new_upper_dyn: Arc<dyn Inode> = Arc::clone(&new_upper);
        old_upper.rename(old_name, &new_upper_dyn, new_name)?;
        if old_lower_has {
            self.whiteout(&old_upper, old_name)?;
        }
        if src.kind == InodeKind::Dir
            && new_lower_has
            && let Ok(a) = su.attr()
        {
            lock(&self.shared.opaque).insert(a.ino);
        }
        new_dir.mark_unlinked(new_name);
        self.dirs_changed();
        new_dir.dirs_changed();
        if let Some(child) = self.take_child(old_name) {
            new_dir.adopt(new_name, &child)?;
        }
        Ok(())
    }

    /// Makes `child` (moved here by a rename) this directory's `name`.
    fn adopt(&self, name: &[u8], child: &Arc<OvInode>) -> SysResult<()> {
        {
            let mut st = lock(&child.state);
            st.parent = Some(self.arc()?);
            st.name = name.to_vec();
        }
        self.remember_child(name, child);
        Ok(())
    }

    /// renameat2(RENAME_EXCHANGE), with `Shared::mutate` held: both files are copied up and
    /// swapped in the upper layer (a directory with lower contents cannot move: EXDEV).
    fn exchange_locked(
        &self,
        old_name: &[u8],
        new_dir: &OvInode,
        new_name: &[u8],
    ) -> SysResult<()> {
        let a = self.child(old_name)?;
        let b = new_dir.child(new_name)?;
        for c in [&a, &b] {
            if c.kind == InodeKind::Dir && c.lower().is_some() {
                return Err(Errno::EXDEV);
            }
        }
        let (au, bu) = (a.copy_up(true)?, b.copy_up(true)?);
        let old_upper = self.copy_up(false)?;
        let new_upper: Arc<dyn Inode> = new_dir.copy_up(false)?;
        old_upper.rename2(
            old_name,
            &new_upper,
            new_name,
            RenameFlags {
                exchange: true,
                ..RenameFlags::default()
            },
            &Creds::root(),
        )?;
        // A directory now at a name the lower layer also has must hide it.
        for (c, u, dir, name) in [(&a, &au, new_dir, new_name), (&b, &bu, self, old_name)] {
            if c.kind == InodeKind::Dir
                && dir.lower_has(name)
                && let Ok(attr) = u.attr()
            {
                lock(&self.shared.opaque).insert(attr.ino);
            }
        }
        self.dirs_changed();
        new_dir.dirs_changed();
        let (ta, tb) = (self.take_child(old_name), new_dir.take_child(new_name));
        if let Some(c) = ta {
            new_dir.adopt(new_name, &c)?;
        }
        if let Some(c) = tb {
            self.adopt(old_name, &c)?;
        }
        Ok(())
    }
}

/// The overlay filesystem instance.
#[derive(Debug)]
pub struct OverlayFs {
    shared: Arc<Shared>,
    root: Arc<OvInode>,
}

impl Filesystem for OverlayFs {
    fn root(&self) -> Arc<dyn Inode> {
        Arc::clone(&self.root) as Arc<dyn Inode>
    }

    fn statfs(&self) -> SysResult<StatFs> {
        // The lower layer's numbers (what `df` of the rootfs means), under overlayfs's magic.
        let mut s = self.shared.lower_fs.statfs()?;
        s.ty = f::OVERLAYFS_SUPER_MAGIC;
        s.flags &= !1; // ST_RDONLY: the overlay is writable
        Ok(s)
    }

    fn dev(&self) -> u64 {
        self.shared.dev
    }
}

/// An overlay of `lower` (never written) under a fresh tmpfs upper layer whose pages come from
/// `mf`. The upper root copies the lower root's permission bits, owner and times.
pub fn new_filesystem(
    lower: Arc<dyn Filesystem>,
    mf: Arc<MemoryFile>,
) -> SysResult<Arc<OverlayFs>> {
    let upper_fs = crate::tmpfs::new_filesystem(0o755, &Creds::root(), mf);
    let top = upper_fs.root();
    let lroot = lower.root();
    let la = lroot.attr()?;
    let creds = owner_creds(&la);
    let uroot = top.mkdir(ROOT_DIR, la.perm, &creds)?;
    uroot.setattr(&SetAttr {
        perm: Some(la.perm),
        uid: Some(la.uid),
        gid: Some(la.gid),
        atime: Some(la.atime),
        mtime: Some(la.mtime),
        ..SetAttr::default()
    })?;
    let work = top.mkdir(WORK_DIR, 0o700, &Creds::root())?;
    let shared = Arc::new(Shared {
        lower_fs: lower,
        _upper_fs: upper_fs,
        work,
        dev: new_anon_dev(),
        mutate: Mutex::new(()),
        opaque: Mutex::new(HashSet::new()),
        origin: Mutex::new(HashMap::new()),
        work_seq: Mutex::new(0),
    });
    if let Ok(ua) = uroot.attr() {
        lock(&shared.origin).insert(ua.ino, la.ino);
    }
    let root = OvInode::new(
        &shared,
        InodeKind::Dir,
        la.ino,
        Some(uroot),
        Some(lroot),
        None,
        b"",
    );
    Ok(Arc::new(OverlayFs { shared, root }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::test_util::{lk, read_all, write_file};
    use crate::mount::MountNamespace;
    use crate::{Lookup, VfsPath, tmpfs};

    fn names(l: &Lookup<'_>, path: &[u8]) -> Vec<String> {
        let p = l.resolve(path, true).unwrap();
        let mut v: Vec<String> = p
            .inode()
            .readdir()
            .unwrap()
            .into_iter()
            .map(|e| String::from_utf8(e.name).unwrap())
            .collect();
        v.sort();
        v
    }

    /// A lower tmpfs with /etc/passwd, /d/{a,b}, /d/sub/x, /link -> d/a; and an overlay over it.
    struct Fixture {
        lower_ns: Arc<MountNamespace>,
        lower_root: VfsPath,
        _ns: Arc<MountNamespace>,
        root: VfsPath,
        c: Creds,
    }

    fn fixture() -> Fixture {
        let mf = tmpfs::test_memfile();
        let lower = tmpfs::new_filesystem(0o755, &Creds::root(), Arc::clone(&mf));
        let lower_ns = MountNamespace::new(Arc::clone(&lower));
        let lower_root = lower_ns.root();
        let c = Creds::root();
        {
            let l = lk(&lower_root, &c);
            l.mkdir(b"/etc", 0o755).unwrap();
            write_file(&l, b"/etc/passwd", b"root:x:0:0\n");
            l.mkdir(b"/d", 0o755).unwrap();
            write_file(&l, b"/d/a", b"A");
            write_file(&l, b"/d/b", b"B");
            l.mkdir(b"/d/sub", 0o755).unwrap();
            write_file(&l, b"/d/sub/x", b"X");
            l.symlink(b"d/a", b"/link").unwrap();
        }
        let ov = new_filesystem(lower, mf).unwrap();
        let ns = MountNamespace::new(ov);
        let root = ns.root();
        Fixture {
            lower_ns,
            lower_root,
            _ns: ns,
            root,
            c,
        }
    }

    impl Fixture {
        fn l(&self) -> Lookup<'_> {
            lk(&self.root, &self.c)
        }
        fn lower(&self) -> Lookup<'_> {
            let _ = &self.lower_ns;
            lk(&self.lower_root, &self.c)
        }
    }

    #[test]
    fn writes_copy_up_and_never_reach_the_lower_layer() {
        let fx = fixture();
        let l = fx.l();
        assert_eq!(read_all(&l, b"/etc/passwd"), b"root:x:0:0\n");
        let ino = l.resolve(b"/etc/passwd", true).unwrap().stat().unwrap().ino;
        let f = l
            .open(b"/etc/passwd", f::O_WRONLY | f::O_APPEND, 0)
            .unwrap();
        f.write(b"me:x:1:1\n").unwrap();
        assert_eq!(read_all(&l, b"/etc/passwd"), b"root:x:0:0\nme:x:1:1\n");
        assert_eq!(read_all(&fx.lower(), b"/etc/passwd"), b"root:x:0:0\n");
        // The copy keeps the inode number; every file has the overlay's device.
        let st = l.resolve(b"/etc/passwd", true).unwrap().stat().unwrap();
        assert_eq!(st.ino, ino);
        assert_eq!(
            st.dev,
            l.resolve(b"/d/a", true).unwrap().stat().unwrap().dev
        );
        // O_TRUNC of a lower file: empty above, intact below.
        write_file(&l, b"/d/a", b"");
        assert_eq!(read_all(&l, b"/d/a"), b"");
        assert_eq!(read_all(&fx.lower(), b"/d/a"), b"A");
        // New files exist only above.
        write_file(&l, b"/d/new", b"N");
        assert_eq!(read_all(&l, b"/d/new"), b"N");
        assert_eq!(
            fx.lower().resolve(b"/d/new", true).unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(names(&l, b"/d"), ["a", "b", "new", "sub"]);
        // A merged directory counts its merged subdirectories.
        assert_eq!(l.resolve(b"/d", true).unwrap().stat().unwrap().nlink, 3);
        l.mkdir(b"/d/sub2", 0o755).unwrap();
        assert_eq!(l.resolve(b"/d", true).unwrap().stat().unwrap().nlink, 4);
        l.rmdir(b"/d/sub2").unwrap();
        assert_eq!(l.resolve(b"/d", true).unwrap().stat().unwrap().nlink, 3);
    }

    #[test]
    fn unlink_leaves_a_whiteout_and_the_name_can_come_back() {
        let fx = fixture();
        let l = fx.l();
        l.unlink(b"/d/a").unwrap();
        assert_eq!(l.resolve(b"/d/a", true).unwrap_err(), Errno::ENOENT);
        assert_eq!(l.unlink(b"/d/a").unwrap_err(), Errno::ENOENT);
        assert_eq!(names(&l, b"/d"), ["b", "sub"]);
        assert_eq!(read_all(&fx.lower(), b"/d/a"), b"A");
        // The symlink to it now dangles.
        assert_eq!(l.resolve(b"/link", true).unwrap_err(), Errno::ENOENT);
        write_file(&l, b"/d/a", b"again");
        assert_eq!(read_all(&l, b"/link"), b"again");
        assert_eq!(names(&l, b"/d"), ["a", "b", "sub"]);
        // Removing the recreated name hides the lower one again.
        l.unlink(b"/d/a").unwrap();
        assert_eq!(l.resolve(b"/d/a", true).unwrap_err(), Errno::ENOENT);
    }

    #[test]
    fn rmdir_checks_the_merged_listing_and_mkdir_over_it_is_opaque() {
        let fx = fixture();
        let l = fx.l();
        assert_eq!(l.rmdir(b"/d/sub").unwrap_err(), Errno::ENOTEMPTY);
        l.unlink(b"/d/sub/x").unwrap();
        assert!(names(&l, b"/d/sub").is_empty());
        l.rmdir(b"/d/sub").unwrap();
        assert_eq!(l.resolve(b"/d/sub", true).unwrap_err(), Errno::ENOENT);
        l.mkdir(b"/d/sub", 0o700).unwrap();
        // The new directory does not show the lower one's contents.
        assert!(names(&l, b"/d/sub").is_empty());
        assert_eq!(l.resolve(b"/d/sub/x", true).unwrap_err(), Errno::ENOENT);
        assert_eq!(read_all(&fx.lower(), b"/d/sub/x"), b"X");
    }

    #[test]
    fn rename_moves_files_and_refuses_lower_directories() {
        let fx = fixture();
        let l = fx.l();
        let ino = l.resolve(b"/d/a", true).unwrap().stat().unwrap().ino;
        l.rename(b"/d/a", &l, b"/etc/moved").unwrap();
        assert_eq!(read_all(&l, b"/etc/moved"), b"A");
        assert_eq!(
            l.resolve(b"/etc/moved", true).unwrap().stat().unwrap().ino,
            ino
        );
        assert_eq!(l.resolve(b"/d/a", true).unwrap_err(), Errno::ENOENT);
        assert_eq!(names(&l, b"/d"), ["b", "sub"]);
        // Over an existing lower file.
        l.rename(b"/etc/moved", &l, b"/d/b").unwrap();
        assert_eq!(read_all(&l, b"/d/b"), b"A");
        assert_eq!(l.rename(b"/d/sub", &l, b"/sub2").unwrap_err(), Errno::EXDEV);
        // Upper-only directories move, with their contents.
        l.mkdir(b"/new", 0o755).unwrap();
        write_file(&l, b"/new/f", b"F");
        l.rename(b"/new", &l, b"/d/new2").unwrap();
        assert_eq!(read_all(&l, b"/d/new2/f"), b"F");
        // The moved directory's children copy up into its new place.
        write_file(&l, b"/d/new2/g", b"G");
        assert_eq!(names(&l, b"/d/new2"), ["f", "g"]);
        assert_eq!(read_all(&fx.lower(), b"/d/a"), b"A");
        assert_eq!(read_all(&fx.lower(), b"/d/b"), b"B");
    }

    #[test]
    fn metadata_changes_copy_up_without_touching_the_lower_file() {
        let fx = fixture();
        let l = fx.l();
        let p = l.resolve(b"/d/sub/x", true).unwrap();
        p.chmod(&fx.c, 0o600).unwrap();
        assert_eq!(
            l.resolve(b"/d/sub/x", true).unwrap().stat().unwrap().mode & 0o777,
            0o600
        );
        assert_eq!(read_all(&l, b"/d/sub/x"), b"X");
        assert_eq!(
            fx.lower()
                .resolve(b"/d/sub/x", true)
                .unwrap()
                .stat()
                .unwrap()
                .mode
                & 0o777,
            0o644
        );
        l.truncate(b"/d/b", 0).unwrap();
        assert_eq!(read_all(&l, b"/d/b"), b"");
        // Hard links to a lower file.
        l.link(b"/etc/passwd", &l, b"/etc/passwd2", false).unwrap();
        assert_eq!(read_all(&l, b"/etc/passwd2"), b"root:x:0:0\n");
        // Symlinks read through.
        assert_eq!(l.readlink(b"/link").unwrap(), b"d/a");
    }

    #[test]
    fn a_read_only_description_follows_a_later_copy_up() {
        let fx = fixture();
        let l = fx.l();
        let r = l.open(b"/etc/passwd", f::O_RDONLY, 0).unwrap();
        let w = l
            .open(b"/etc/passwd", f::O_WRONLY | f::O_APPEND, 0)
            .unwrap();
        w.write(b"new:x:2:2\n").unwrap();
        let mut buf = vec![0u8; 64];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"root:x:0:0\nnew:x:2:2\n");
        assert_eq!(read_all(&fx.lower(), b"/etc/passwd"), b"root:x:0:0\n");
    }

    #[test]
    fn an_open_unlinked_lower_file_copies_up_outside_the_tree() {
        let fx = fixture();
        let l = fx.l();
        let p = l.resolve(b"/d/a", true).unwrap();
        let f = l.open(b"/d/a", f::O_RDONLY, 0).unwrap();
        l.unlink(b"/d/a").unwrap();
        p.chmod(&fx.c, 0o600).unwrap();
        assert_eq!(l.resolve(b"/d/a", true).unwrap_err(), Errno::ENOENT);
        assert_eq!(names(&l, b"/d"), ["b", "sub"]);
        drop(f);
    }
}
