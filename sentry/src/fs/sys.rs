//! sysfs: a minimal, read-only, generated /sys — the CPU topology files that libc and language
//! runtimes read to count CPUs (`/sys/devices/system/cpu/{online,possible,present}` and one
//! `cpuN` directory per CPU, which glibc's get_nprocs_conf counts).
//!
//! The tree is built once, at mount time, from the sandbox's CPU count (`Kernel::ncpus`); it
//! holds no kernel state, and nothing in it changes. Neighbours: `runsc-cli` mounts it on
//! /sys; the file text comes from `proc::format::cpu_list`. No locks.
//!
//! Shortcut: everything else under /sys (class/, fs/cgroup/, kernel/...) is absent (ENOENT).

use std::any::Any;
use std::sync::Arc;

use abi::file::{self as f, StatFs};
use abi::{Errno, SysResult};
use vfs::{DirEntry, FileOps, Filesystem, Inode, InodeAttr, InodeKind};

use super::proc::format::cpu_list;

/// A node of the fixed tree.
#[derive(Debug)]
enum Content {
    Dir(Vec<(Vec<u8>, Arc<SysInode>)>),
    File(Vec<u8>),
}

#[derive(Debug)]
struct SysInode {
    ino: u64,
    content: Content,
}

#[derive(Debug)]
struct SysFs {
    dev: u64,
    root: Arc<SysInode>,
}

/// Builds directories and files with increasing inode numbers.
struct Builder {
    next_ino: u64,
}

impl Builder {
    fn node(&mut self, content: Content) -> Arc<SysInode> {
        let ino = self.next_ino;
        self.next_ino = self.next_ino.saturating_add(1);
        Arc::new(SysInode { ino, content })
    }
    fn dir(&mut self, entries: Vec<(&str, Arc<SysInode>)>) -> Arc<SysInode> {
        let mut e: Vec<(Vec<u8>, Arc<SysInode>)> = entries
            .into_iter()
            .map(|(n, i)| (n.as_bytes().to_vec(), i))
            .collect();
        e.sort_by(|a, b| a.0.cmp(&b.0));
        self.node(Content::Dir(e))
    }
    fn file(&mut self, text: String) -> Arc<SysInode> {
        self.node(Content::File(text.into_bytes()))
    }
}

/// A new /sys for a sandbox with `ncpus` CPUs.
pub fn new_filesystem(ncpus: usize) -> Arc<dyn Filesystem> {
    let mut b = Builder { next_ino: 2 };
    let list = format!("{}\n", cpu_list(ncpus));
    let mut cpu_entries = vec![
        ("online", b.file(list.clone())),
        ("possible", b.file(list.clone())),
        ("present", b.file(list)),
    ];
    let names: Vec<String> = (0..ncpus.max(1)).map(|i| format!("cpu{i}")).collect();
    for n in &names {
        let d = b.dir(Vec::new());
        cpu_entries.push((n.as_str(), d));
    }
    let cpu = b.dir(cpu_entries);
    let system = b.dir(vec![("cpu", cpu)]);
    let devices = b.dir(vec![("system", system)]);
    let root = b.dir(vec![("devices", devices)]);
    Arc::new(SysFs {
        dev: vfs::new_anon_dev(),
        root,
    })
}

impl Filesystem for SysFs {
    fn root(&self) -> Arc<dyn Inode> {
        Arc::clone(&self.root) as Arc<dyn Inode>
    }
    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs {
            ty: f::SYSFS_MAGIC,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            ..StatFs::default()
        })
    }
    fn dev(&self) -> u64 {
        self.dev
    }
    fn is_readonly(&self) -> bool {
        true
    }
}

impl Inode for SysInode {
    fn attr(&self) -> SysResult<InodeAttr> {
        let (kind, perm, nlink) = match &self.content {
            Content::Dir(_) => (InodeKind::Dir, 0o555, 2),
            Content::File(_) => (InodeKind::Regular, 0o444, 1),
        };
        Ok(InodeAttr {
            kind,
            perm,
            ino: self.ino,
            nlink,
            uid: 0,
            gid: 0,
            // sysfs attribute files report 4096 whatever they hold.
            size: if kind == InodeKind::Regular { 4096 } else { 0 },
            blocks: 0,
            blksize: 4096,
            rdev: 0,
            atime: abi::time::Timespec::default(),
            mtime: abi::time::Timespec::default(),
            ctime: abi::time::Timespec::default(),
        })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        match &self.content {
            Content::Dir(e) => e
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, i)| Arc::clone(i) as Arc<dyn Inode>)
                .ok_or(Errno::ENOENT),
            Content::File(_) => Err(Errno::ENOTDIR),
        }
    }
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        match &self.content {
            Content::Dir(e) => Ok(e
                .iter()
                .map(|(n, i)| DirEntry {
                    name: n.clone(),
                    ino: i.ino,
                    kind: match i.content {
                        Content::Dir(_) => InodeKind::Dir,
                        Content::File(_) => InodeKind::Regular,
                    },
                })
                .collect()),
            Content::File(_) => Err(Errno::ENOTDIR),
        }
    }
    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        match &self.content {
            Content::File(d) if flags & f::O_ACCMODE == f::O_RDONLY => {
                Ok(Box::new(super::proc::ProcFile { data: d.clone() }))
            }
            Content::File(_) => Err(Errno::EACCES),
            Content::Dir(_) => Err(Errno::EISDIR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfs::{Creds, Lookup, MountNamespace};

    #[test]
    fn cpu_files_list_the_sandbox_cpus() {
        let ns = MountNamespace::new(new_filesystem(4));
        let root = ns.root();
        let c = Creds::root();
        let l = Lookup {
            root: &root,
            start: &root,
            creds: &c,
        };
        let file = l
            .open(b"/devices/system/cpu/online", f::O_RDONLY, 0)
            .unwrap();
        let mut buf = [0u8; 16];
        let n = file.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"0-3\n");
        assert!(
            l.resolve(b"/devices/system/cpu/cpu3", true)
                .unwrap()
                .is_dir()
        );
        assert_eq!(
            l.open(b"/devices/system/cpu/present", f::O_WRONLY, 0)
                .unwrap_err(),
            Errno::EROFS
        );
    }
}
