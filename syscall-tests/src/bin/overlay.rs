//! Changes to files that existed before the sandbox started. Under `rvisor do` these files
//! come from the root overlay's lower layer (the gofer-served host directory), so each test
//! here exercises copy-up (writes, O_TRUNC, chmod/chown/utimes, truncate, links), whiteouts
//! (unlink, rmdir, rename away) and merged directory listings; natively they are ordinary
//! host files, and both must behave as Linux does. The runner gives every test a fresh tree
//! (`syscall_tests::fixture`) and checks after the sandbox run that the host copy of the trees
//! did not change at all.
#![deny(unsafe_code)]

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syscall_tests::fixture::{self, BIG_LEN, big_byte};
use syscall_tests::libc;
use syscall_tests::{
    Errno, Fd, Mapping, Outcome, TempDir, check, cstring, ensure, ensure_eq, fails_with, run_tests,
    succeeds, succeeds_with, syscall, tests,
};

/// One test's tree: the runner's, or one made here when run by hand.
struct Tree {
    path: PathBuf,
    _own: Option<TempDir>,
}

impl Tree {
    fn p(&self, rel: &str) -> CString {
        cstring(&format!("{}/{rel}", self.path.display()))
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }
}

fn tree(name: &str) -> Result<Tree, String> {
    if let Some(root) = std::env::var_os(fixture::ENV) {
        let path = Path::new(&root).join(name);
        ensure!(path.is_dir(), "fixture tree {} is missing", path.display());
        return Ok(Tree { path, _own: None });
    }
    let own = TempDir::new()?;
    let path = PathBuf::from(own.path().to_string_lossy().as_ref()).join(name);
    fixture::populate(&path).map_err(|e| format!("populating {}: {e}", path.display()))?;
    Ok(Tree {
        path,
        _own: Some(own),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn meta(path: &Path) -> Result<std::fs::Metadata, String> {
    std::fs::symlink_metadata(path).map_err(|e| format!("lstat {}: {e}", path.display()))
}

fn names(path: &Path) -> Result<BTreeSet<String>, String> {
    let rd = std::fs::read_dir(path).map_err(|e| format!("listing {}: {e}", path.display()))?;
    let mut out = BTreeSet::new();
    for e in rd {
        let e = e.map_err(|e| e.to_string())?;
        out.insert(e.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn open(t: &Tree, rel: &str, flags: i32) -> Result<Fd, String> {
    Fd::open(&t.p(rel), flags | libc::O_CLOEXEC, 0o644)
}

fn existing_file_reads_its_contents() -> Outcome {
    let t = tree("existing_file_reads_its_contents")?;
    ensure_eq!(read(&t.path("file"))?, b"lower file\n".to_vec());
    let big = read(&t.path("big"))?;
    ensure_eq!(big.len(), BIG_LEN);
    ensure!(
        big.iter().enumerate().all(|(i, b)| *b == big_byte(i)),
        "big.iter().enumerate().all(|(i, b)| *b == big_byte(i))"
    );
    Ok(())
}

fn write_to_existing_file_is_read_back() -> Outcome {
    let t = tree("write_to_existing_file_is_read_back")?;
    let fd = open(&t, "file", libc::O_WRONLY)?;
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"LOWER".as_ptr(), 5usize, 0),
        succeeds_with(5)
    );
    drop(fd);
    ensure_eq!(read(&t.path("file"))?, b"LOWER file\n".to_vec());
    Ok(())
}

fn write_keeps_inode_number_and_device() -> Outcome {
    let t = tree("write_keeps_inode_number_and_device")?;
    let before = meta(&t.path("file"))?;
    std::fs::write(t.path("file"), "new").map_err(|e| e.to_string())?;
    let after = meta(&t.path("file"))?;
    ensure_eq!(after.ino(), before.ino());
    ensure_eq!(after.dev(), before.dev());
    ensure_eq!(after.dev(), meta(&t.path("file2"))?.dev());
    Ok(())
}

fn fstat_of_fd_opened_before_write_matches_path() -> Outcome {
    let t = tree("fstat_of_fd_opened_before_write_matches_path")?;
    let fd = open(&t, "file", libc::O_RDWR)?;
    fd.write_all(b"xyz")?;
    let mut st = syscall_tests::zeroed::<libc::stat>();
    check!(
        syscall!(libc::SYS_fstat, fd.raw(), std::ptr::addr_of_mut!(st)),
        succeeds()
    );
    ensure_eq!(st.st_ino, meta(&t.path("file"))?.ino());
    ensure_eq!(st.st_size, 11);
    Ok(())
}

fn o_trunc_empties_existing_file() -> Outcome {
    let t = tree("o_trunc_empties_existing_file")?;
    let fd = open(&t, "big", libc::O_WRONLY | libc::O_TRUNC)?;
    drop(fd);
    ensure_eq!(meta(&t.path("big"))?.len(), 0);
    ensure_eq!(read(&t.path("big"))?, Vec::<u8>::new());
    Ok(())
}

fn append_extends_existing_file() -> Outcome {
    let t = tree("append_extends_existing_file")?;
    let fd = open(&t, "file", libc::O_WRONLY | libc::O_APPEND)?;
    fd.write_all(b"more\n")?;
    drop(fd);
    ensure_eq!(read(&t.path("file"))?, b"lower file\nmore\n".to_vec());
    Ok(())
}

fn big_file_copied_whole_on_partial_write() -> Outcome {
    let t = tree("big_file_copied_whole_on_partial_write")?;
    let fd = open(&t, "big", libc::O_RDWR)?;
    check!(
        syscall!(libc::SYS_pwrite64, fd.raw(), b"!".as_ptr(), 1usize, 5000),
        succeeds_with(1)
    );
    let data = read(&t.path("big"))?;
    ensure_eq!(data.len(), BIG_LEN);
    for (i, b) in data.iter().enumerate() {
        let want = if i == 5000 { b'!' } else { big_byte(i) };
        ensure!(*b == want, "byte {i} is {b}, expected {want}");
    }
    Ok(())
}

fn chmod_existing_file_changes_mode_only() -> Outcome {
    let t = tree("chmod_existing_file_changes_mode_only")?;
    let ino = meta(&t.path("file"))?.ino();
    check!(
        syscall!(
            libc::SYS_fchmodat,
            libc::AT_FDCWD,
            t.p("file").as_c_str(),
            0o600
        ),
        succeeds()
    );
    let m = meta(&t.path("file"))?;
    ensure_eq!(m.mode() & 0o7777, 0o600);
    ensure_eq!(m.ino(), ino);
    ensure_eq!(read(&t.path("file"))?, b"lower file\n".to_vec());
    Ok(())
}

fn chown_existing_file_changes_owner() -> Outcome {
    let t = tree("chown_existing_file_changes_owner")?;
    check!(
        syscall!(
            libc::SYS_fchownat,
            libc::AT_FDCWD,
            t.p("file2").as_c_str(),
            1234,
            4321,
            0
        ),
        succeeds()
    );
    let m = meta(&t.path("file2"))?;
    ensure_eq!((m.uid(), m.gid()), (1234, 4321));
    ensure_eq!(read(&t.path("file2"))?, b"second\n".to_vec());
    Ok(())
}

fn utimensat_existing_file_sets_times() -> Outcome {
    let t = tree("utimensat_existing_file_sets_times")?;
    let times = [
        libc::timespec {
            tv_sec: 1_000_000,
            tv_nsec: 5,
        },
        libc::timespec {
            tv_sec: 2_000_000,
            tv_nsec: 7,
        },
    ];
    check!(
        syscall!(
            libc::SYS_utimensat,
            libc::AT_FDCWD,
            t.p("file").as_c_str(),
            times.as_ptr(),
            0
        ),
        succeeds()
    );
    let m = meta(&t.path("file"))?;
    ensure_eq!((m.atime(), m.atime_nsec()), (1_000_000, 5));
    ensure_eq!((m.mtime(), m.mtime_nsec()), (2_000_000, 7));
    Ok(())
}

fn truncate_existing_file_up_reads_zeros() -> Outcome {
    let t = tree("truncate_existing_file_up_reads_zeros")?;
    check!(
        syscall!(libc::SYS_truncate, t.p("file").as_c_str(), 20),
        succeeds()
    );
    let mut want = b"lower file\n".to_vec();
    want.resize(20, 0);
    ensure_eq!(read(&t.path("file"))?, want);
    check!(
        syscall!(libc::SYS_truncate, t.p("file").as_c_str(), 3),
        succeeds()
    );
    ensure_eq!(read(&t.path("file"))?, b"low".to_vec());
    Ok(())
}

fn unlink_existing_file_removes_name() -> Outcome {
    let t = tree("unlink_existing_file_removes_name")?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            t.p("file2").as_c_str(),
            0
        ),
        succeeds()
    );
    check!(
        syscall!(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            t.p("file2").as_c_str(),
            libc::F_OK
        ),
        fails_with(Errno::ENOENT)
    );
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            t.p("file2").as_c_str(),
            0
        ),
        fails_with(Errno::ENOENT)
    );
    ensure!(
        !names(&t.path(""))?.contains("file2"),
        "!names(&t.path(''))?.contains('file2')"
    );
    Ok(())
}

fn unlinked_name_can_be_created_again() -> Outcome {
    let t = tree("unlinked_name_can_be_created_again")?;
    std::fs::remove_file(t.path("file")).map_err(|e| e.to_string())?;
    let fd = Fd::open(
        &t.p("file"),
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
        0o600,
    )?;
    fd.write_all(b"fresh")?;
    drop(fd);
    ensure_eq!(read(&t.path("file"))?, b"fresh".to_vec());
    ensure_eq!(meta(&t.path("file"))?.mode() & 0o777, 0o600);
    // The symlink to it follows the new file.
    ensure_eq!(read(&t.path("link"))?, b"fresh".to_vec());
    Ok(())
}

fn o_excl_on_existing_file_fails_eexist() -> Outcome {
    let t = tree("o_excl_on_existing_file_fails_eexist")?;
    check!(
        syscall!(
            libc::SYS_openat,
            libc::AT_FDCWD,
            t.p("file").as_c_str(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o644
        ),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn open_fd_survives_unlink_of_existing_file() -> Outcome {
    let t = tree("open_fd_survives_unlink_of_existing_file")?;
    let fd = open(&t, "file", libc::O_RDONLY)?;
    std::fs::remove_file(t.path("file")).map_err(|e| e.to_string())?;
    ensure_eq!(fd.read_up_to(64)?, b"lower file\n".to_vec());
    check!(syscall!(libc::SYS_fchmod, fd.raw(), 0o600), succeeds());
    ensure!(!t.path("file").exists(), "!t.path('file').exists()");
    Ok(())
}

fn rmdir_of_non_empty_existing_dir_fails_enotempty() -> Outcome {
    let t = tree("rmdir_of_non_empty_existing_dir_fails_enotempty")?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            t.p("dir").as_c_str(),
            libc::AT_REMOVEDIR
        ),
        fails_with(Errno::ENOTEMPTY)
    );
    ensure_eq!(names(&t.path("dir"))?, set(&["a", "b", "sub"]));
    Ok(())
}

fn rmdir_after_emptying_existing_dir_succeeds() -> Outcome {
    let t = tree("rmdir_after_emptying_existing_dir_succeeds")?;
    std::fs::remove_file(t.path("dir/sub/c")).map_err(|e| e.to_string())?;
    ensure_eq!(names(&t.path("dir/sub"))?, BTreeSet::new());
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            t.p("dir/sub").as_c_str(),
            libc::AT_REMOVEDIR
        ),
        succeeds()
    );
    ensure_eq!(names(&t.path("dir"))?, set(&["a", "b"]));
    Ok(())
}

fn mkdir_over_removed_dir_is_empty() -> Outcome {
    let t = tree("mkdir_over_removed_dir_is_empty")?;
    std::fs::remove_file(t.path("dir/sub/c")).map_err(|e| e.to_string())?;
    std::fs::remove_dir(t.path("dir/sub")).map_err(|e| e.to_string())?;
    check!(
        syscall!(
            libc::SYS_mkdirat,
            libc::AT_FDCWD,
            t.p("dir/sub").as_c_str(),
            0o700
        ),
        succeeds()
    );
    ensure_eq!(names(&t.path("dir/sub"))?, BTreeSet::new());
    ensure!(
        !t.path("dir/sub/c").exists(),
        "!t.path('dir/sub/c').exists()"
    );
    Ok(())
}

fn rmdir_existing_empty_dir_succeeds() -> Outcome {
    let t = tree("rmdir_existing_empty_dir_succeeds")?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            t.p("empty").as_c_str(),
            libc::AT_REMOVEDIR
        ),
        succeeds()
    );
    ensure!(!t.path("empty").exists(), "!t.path('empty').exists()");
    Ok(())
}

fn rename_existing_file_moves_contents_and_inode() -> Outcome {
    let t = tree("rename_existing_file_moves_contents_and_inode")?;
    let ino = meta(&t.path("file"))?.ino();
    std::fs::rename(t.path("file"), t.path("dir/moved")).map_err(|e| e.to_string())?;
    ensure_eq!(read(&t.path("dir/moved"))?, b"lower file\n".to_vec());
    ensure_eq!(meta(&t.path("dir/moved"))?.ino(), ino);
    ensure!(!t.path("file").exists(), "!t.path('file').exists()");
    ensure_eq!(names(&t.path("dir"))?, set(&["a", "b", "moved", "sub"]));
    Ok(())
}

fn rename_existing_file_over_another_replaces_it() -> Outcome {
    let t = tree("rename_existing_file_over_another_replaces_it")?;
    std::fs::rename(t.path("file2"), t.path("file")).map_err(|e| e.to_string())?;
    ensure_eq!(read(&t.path("file"))?, b"second\n".to_vec());
    ensure!(!t.path("file2").exists(), "!t.path('file2').exists()");
    Ok(())
}

fn rename_existing_dir_moves_its_contents() -> Outcome {
    let t = tree("rename_existing_dir_moves_its_contents")?;
    std::fs::rename(t.path("dir"), t.path("dir2")).map_err(|e| e.to_string())?;
    ensure_eq!(read(&t.path("dir2/sub/c"))?, b"c".to_vec());
    ensure!(!t.path("dir").exists(), "!t.path('dir').exists()");
    Ok(())
}

fn rename_new_dir_over_existing_empty_dir_replaces_it() -> Outcome {
    let t = tree("rename_new_dir_over_existing_empty_dir_replaces_it")?;
    std::fs::create_dir(t.path("newdir")).map_err(|e| e.to_string())?;
    std::fs::write(t.path("newdir/x"), "x").map_err(|e| e.to_string())?;
    std::fs::rename(t.path("newdir"), t.path("empty")).map_err(|e| e.to_string())?;
    ensure_eq!(names(&t.path("empty"))?, set(&["x"]));
    ensure!(!t.path("newdir").exists(), "!t.path('newdir').exists()");
    Ok(())
}

fn rename_over_non_empty_existing_dir_fails() -> Outcome {
    let t = tree("rename_over_non_empty_existing_dir_fails")?;
    std::fs::create_dir(t.path("newdir")).map_err(|e| e.to_string())?;
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            t.p("newdir").as_c_str(),
            libc::AT_FDCWD,
            t.p("dir").as_c_str()
        ),
        fails_with(Errno::ENOTEMPTY)
    );
    Ok(())
}

fn hard_link_to_existing_file_shares_data() -> Outcome {
    let t = tree("hard_link_to_existing_file_shares_data")?;
    std::fs::hard_link(t.path("file"), t.path("dir/file-link")).map_err(|e| e.to_string())?;
    ensure_eq!(meta(&t.path("dir/file-link"))?.nlink(), 2);
    std::fs::write(t.path("dir/file-link"), "via link").map_err(|e| e.to_string())?;
    ensure_eq!(read(&t.path("file"))?, b"via link".to_vec());
    Ok(())
}

fn existing_hard_links_report_link_count() -> Outcome {
    let t = tree("existing_hard_links_report_link_count")?;
    let (a, b) = (meta(&t.path("hard1"))?, meta(&t.path("hard2"))?);
    ensure_eq!(a.nlink(), 2);
    ensure_eq!(a.ino(), b.ino());
    Ok(())
}

fn symlink_to_existing_file_reads_target() -> Outcome {
    let t = tree("symlink_to_existing_file_reads_target")?;
    ensure_eq!(
        std::fs::read_link(t.path("link")).map_err(|e| e.to_string())?,
        PathBuf::from("file")
    );
    ensure_eq!(read(&t.path("link"))?, b"lower file\n".to_vec());
    check!(
        syscall!(
            libc::SYS_fchownat,
            libc::AT_FDCWD,
            t.p("link").as_c_str(),
            55,
            66,
            libc::AT_SYMLINK_NOFOLLOW
        ),
        succeeds()
    );
    let m = meta(&t.path("link"))?;
    ensure_eq!((m.uid(), m.gid()), (55, 66));
    ensure_eq!(
        std::fs::read_link(t.path("link")).map_err(|e| e.to_string())?,
        PathBuf::from("file")
    );
    Ok(())
}

fn listing_merges_existing_and_new_names_once() -> Outcome {
    let t = tree("listing_merges_existing_and_new_names_once")?;
    std::fs::write(t.path("dir/new"), "n").map_err(|e| e.to_string())?;
    std::fs::write(t.path("dir/a"), "changed").map_err(|e| e.to_string())?;
    std::fs::remove_file(t.path("dir/b")).map_err(|e| e.to_string())?;
    let rd = std::fs::read_dir(t.path("dir")).map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    for e in rd {
        all.push(
            e.map_err(|e| e.to_string())?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    all.sort();
    ensure_eq!(all, vec!["a", "new", "sub"]);
    Ok(())
}

fn dir_link_count_follows_mkdir_and_rmdir() -> Outcome {
    let t = tree("dir_link_count_follows_mkdir_and_rmdir")?;
    ensure_eq!(meta(&t.path("dir"))?.nlink(), 3);
    std::fs::create_dir(t.path("dir/sub2")).map_err(|e| e.to_string())?;
    ensure_eq!(meta(&t.path("dir"))?.nlink(), 4);
    std::fs::remove_dir(t.path("dir/sub2")).map_err(|e| e.to_string())?;
    ensure_eq!(meta(&t.path("dir"))?.nlink(), 3);
    Ok(())
}

fn shared_mapping_of_existing_file_writes_through() -> Outcome {
    let t = tree("shared_mapping_of_existing_file_writes_through")?;
    let fd = open(&t, "big", libc::O_RDWR)?;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let ret = check!(
        syscall!(
            libc::SYS_mmap,
            0usize,
            4096usize,
            rw,
            libc::MAP_SHARED,
            fd.raw(),
            4096usize
        ),
        succeeds()
    );
    let mut m = Mapping::adopt(ret, 4096, rw)?;
    ensure_eq!(m.read(1, 1)?, vec![big_byte(4097)]);
    m.write(1, b"M")?;
    let mut b = [0u8; 1];
    check!(
        syscall!(libc::SYS_pread64, fd.raw(), b.as_mut_ptr(), 1usize, 4097),
        succeeds_with(1)
    );
    ensure_eq!(b[0], b'M');
    Ok(())
}

fn existing_fifo_keeps_its_type() -> Outcome {
    let t = tree("existing_fifo_keeps_its_type")?;
    let m = meta(&t.path("fifo"))?;
    ensure!(
        m.mode() & libc::S_IFMT == libc::S_IFIFO,
        "mode {:o}",
        m.mode()
    );
    check!(
        syscall!(
            libc::SYS_fchmodat,
            libc::AT_FDCWD,
            t.p("fifo").as_c_str(),
            0o600
        ),
        succeeds()
    );
    let m = meta(&t.path("fifo"))?;
    ensure_eq!(m.mode(), libc::S_IFIFO | 0o600);
    Ok(())
}

fn existing_script_runs_after_chmod() -> Outcome {
    let t = tree("existing_script_runs_after_chmod")?;
    std::fs::set_permissions(t.path("exec.sh"), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let out = std::process::Command::new(t.path("exec.sh"))
        .output()
        .map_err(|e| format!("running exec.sh: {e}"))?;
    ensure_eq!(out.stdout, b"script ran\n".to_vec());
    Ok(())
}

fn access_write_on_existing_file_succeeds_for_root() -> Outcome {
    let t = tree("access_write_on_existing_file_succeeds_for_root")?;
    check!(
        syscall!(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            t.p("file").as_c_str(),
            libc::W_OK
        ),
        succeeds()
    );
    Ok(())
}

fn read_only_fd_sees_a_later_write_through_another_fd() -> Outcome {
    let t = tree("read_only_fd_sees_a_later_write_through_another_fd")?;
    let r = open(&t, "file", libc::O_RDONLY)?;
    let w = open(&t, "file", libc::O_WRONLY | libc::O_APPEND)?;
    w.write_all(b"appended\n")?;
    ensure_eq!(r.read_up_to(64)?, b"lower file\nappended\n".to_vec());
    let mut st = syscall_tests::zeroed::<libc::stat>();
    check!(
        syscall!(libc::SYS_fstat, r.raw(), std::ptr::addr_of_mut!(st)),
        succeeds()
    );
    ensure_eq!(st.st_size, 20);
    Ok(())
}

/// (name, d_off) of each getdents64 record in `buf`.
fn dirents(buf: &[u8]) -> Result<Vec<(String, i64)>, String> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        let hdr = buf.get(off..off + 19).ok_or("truncated dirent")?;
        let d_off = i64::from_ne_bytes(hdr[8..16].try_into().map_err(|_| "d_off")?);
        let reclen = usize::from(u16::from_ne_bytes([hdr[16], hdr[17]]));
        let rec = buf
            .get(off..off + reclen)
            .filter(|_| reclen > 19)
            .ok_or("bad d_reclen")?;
        let name = &rec[19..];
        let end = name.iter().position(|b| *b == 0).ok_or("unterminated")?;
        out.push((String::from_utf8_lossy(&name[..end]).into_owned(), d_off));
        off += reclen;
    }
    Ok(out)
}

/// One getdents64 call with a `len`-byte buffer.
fn getdents(fd: &Fd, len: usize) -> Result<Vec<(String, i64)>, String> {
    let mut buf = vec![0u8; len];
    let n = check!(
        syscall!(libc::SYS_getdents64, fd.raw(), buf.as_mut_ptr(), len),
        succeeds()
    );
    buf.truncate(usize::try_from(n).map_err(|e| e.to_string())?);
    dirents(&buf)
}

/// Lists `dir` in small steps, unlinking each batch of names right after it was returned:
/// every entry is still returned exactly once.
fn listing_survives_unlinking_what_it_returned(dir: &Path, expect: usize) -> Outcome {
    let fd = Fd::open(
        &cstring(&dir.display().to_string()),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )?;
    let mut seen = BTreeSet::new();
    loop {
        let batch = getdents(&fd, 512)?;
        if batch.is_empty() {
            break;
        }
        for (name, _) in batch {
            ensure!(seen.insert(name.clone()), "{name} returned twice");
            if name != "." && name != ".." {
                std::fs::remove_file(dir.join(&name)).map_err(|e| format!("unlink {name}: {e}"))?;
            }
        }
    }
    ensure_eq!(seen.len(), expect + 2);
    ensure_eq!(names(dir)?, BTreeSet::new());
    Ok(())
}

fn large_existing_dir_listing_survives_unlinks() -> Outcome {
    let t = tree("large_existing_dir_listing_survives_unlinks")?;
    listing_survives_unlinking_what_it_returned(&t.path("many"), fixture::MANY)
}

fn large_new_dir_listing_survives_unlinks() -> Outcome {
    let t = tree("large_new_dir_listing_survives_unlinks")?;
    let dir = t.path("many2");
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    for i in 0..fixture::MANY {
        std::fs::write(dir.join(format!("n{i:03}")), "").map_err(|e| e.to_string())?;
    }
    listing_survives_unlinking_what_it_returned(&dir, fixture::MANY)
}

/// lseek to a d_off getdents64 returned resumes right after that entry.
fn getdents_resumes_at_a_saved_offset() -> Outcome {
    let t = tree("getdents_resumes_at_a_saved_offset")?;
    let path = cstring(&t.path("many").display().to_string());
    let fd = Fd::open(
        &path,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )?;
    let mut all = Vec::new();
    loop {
        let b = getdents(&fd, 4096)?;
        if b.is_empty() {
            break;
        }
        all.extend(b);
    }
    ensure_eq!(all.len(), fixture::MANY + 2);
    let (_, off) = all.get(100).cloned().ok_or("short listing")?;
    check!(
        syscall!(libc::SYS_lseek, fd.raw(), off, libc::SEEK_SET),
        succeeds_with(off)
    );
    let next = getdents(&fd, 4096)?;
    let want: Vec<String> = all.iter().skip(101).map(|(n, _)| n.clone()).collect();
    let got: Vec<String> = next.into_iter().map(|(n, _)| n).collect();
    ensure!(!got.is_empty(), "nothing after the saved offset");
    ensure_eq!(got, want.get(..got.len()).unwrap_or_default().to_vec());
    Ok(())
}

fn fsync_of_written_existing_file_succeeds() -> Outcome {
    let t = tree("fsync_of_written_existing_file_succeeds")?;
    let fd = open(&t, "file", libc::O_WRONLY)?;
    fd.write_all(b"x")?;
    check!(syscall!(libc::SYS_fsync, fd.raw()), succeeds());
    check!(syscall!(libc::SYS_fdatasync, fd.raw()), succeeds());
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        existing_file_reads_its_contents,
        write_to_existing_file_is_read_back,
        write_keeps_inode_number_and_device,
        fstat_of_fd_opened_before_write_matches_path,
        o_trunc_empties_existing_file,
        append_extends_existing_file,
        big_file_copied_whole_on_partial_write,
        chmod_existing_file_changes_mode_only,
        chown_existing_file_changes_owner,
        utimensat_existing_file_sets_times,
        truncate_existing_file_up_reads_zeros,
        unlink_existing_file_removes_name,
        unlinked_name_can_be_created_again,
        o_excl_on_existing_file_fails_eexist,
        open_fd_survives_unlink_of_existing_file,
        rmdir_of_non_empty_existing_dir_fails_enotempty,
        rmdir_after_emptying_existing_dir_succeeds,
        mkdir_over_removed_dir_is_empty,
        rmdir_existing_empty_dir_succeeds,
        rename_existing_file_moves_contents_and_inode,
        rename_existing_file_over_another_replaces_it,
        rename_existing_dir_moves_its_contents,
        rename_new_dir_over_existing_empty_dir_replaces_it,
        rename_over_non_empty_existing_dir_fails,
        hard_link_to_existing_file_shares_data,
        existing_hard_links_report_link_count,
        symlink_to_existing_file_reads_target,
        listing_merges_existing_and_new_names_once,
        dir_link_count_follows_mkdir_and_rmdir,
        shared_mapping_of_existing_file_writes_through,
        existing_fifo_keeps_its_type,
        existing_script_runs_after_chmod,
        access_write_on_existing_file_succeeds_for_root,
        fsync_of_written_existing_file_succeeds,
        read_only_fd_sees_a_later_write_through_another_fd,
        large_existing_dir_listing_survives_unlinks,
        large_new_dir_listing_survives_unlinks,
        getdents_resumes_at_a_saved_offset,
    ])
}
