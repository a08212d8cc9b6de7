//! Pre-existing file trees for tests about files the sandbox did not create: under `rvisor
//! do` they are read through the root overlay's lower layer, so writing, renaming or removing
//! them exercises copy-up and whiteouts; natively they are plain host files. The runner makes
//! a fresh tree per test name (`populate`) under the directory named by [`ENV`] before each
//! run (native, then sandbox) and checks after the sandbox run that nothing of it changed on
//! the host ([`snapshot`] before and after). A test binary run by hand without the variable
//! builds its trees itself under /tmp.

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The environment variable naming the directory that holds one tree per test.
pub const ENV: &str = "SYSCALL_TESTS_FIXTURE";

/// Files in `many/`.
pub const MANY: usize = 300;

/// Bytes of `big` (several pages, a recognisable pattern).
pub const BIG_LEN: usize = 3 * 4096 + 100;

/// The contents of `big` at byte `i`.
pub fn big_byte(i: usize) -> u8 {
    u8::try_from(i % 251).unwrap_or(0)
}

/// Creates one tree in `dir` (which must not exist):
/// `file` ("lower file\n", 0644), `file2` ("second\n"), `big` ([`BIG_LEN`] pattern bytes),
/// `dir/a` ("a"), `dir/b` ("b"), `dir/sub/c` ("c"), `empty/` (empty directory), `link` ->
/// `file`, `hard1` and `hard2` (one file, "hard\n"), `exec.sh` (0755 shell script printing
/// "script ran"), `fifo`, and `many/` holding [`MANY`] empty files `f000`...
pub fn populate(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir.join("dir/sub"))?;
    std::fs::create_dir(dir.join("empty"))?;
    std::fs::create_dir(dir.join("many"))?;
    for i in 0..MANY {
        std::fs::write(dir.join(format!("many/f{i:03}")), "")?;
    }
    std::fs::write(dir.join("file"), "lower file\n")?;
    std::fs::write(dir.join("file2"), "second\n")?;
    let big: Vec<u8> = (0..BIG_LEN).map(big_byte).collect();
    std::fs::write(dir.join("big"), big)?;
    std::fs::write(dir.join("dir/a"), "a")?;
    std::fs::write(dir.join("dir/b"), "b")?;
    std::fs::write(dir.join("dir/sub/c"), "c")?;
    std::os::unix::fs::symlink("file", dir.join("link"))?;
    std::fs::write(dir.join("hard1"), "hard\n")?;
    std::fs::hard_link(dir.join("hard1"), dir.join("hard2"))?;
    std::fs::write(dir.join("exec.sh"), "#!/bin/sh\necho script ran\n")?;
    std::fs::set_permissions(dir.join("exec.sh"), std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(dir.join("file"), std::fs::Permissions::from_mode(0o644))?;
    let fifo = std::ffi::CString::new(dir.join("fifo").as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let r = crate::syscall!(
        libc::SYS_mknodat,
        libc::AT_FDCWD,
        fifo.as_c_str(),
        libc::S_IFIFO | 0o644,
        0
    );
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A text description of everything under `dir` (names, types, modes, sizes, owners, link
/// counts, mtimes, symlink targets and file contents), for comparing before and after.
pub fn snapshot(dir: &Path) -> io::Result<String> {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(p) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&p)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            if e.file_type()?.is_dir() {
                stack.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    for p in paths {
        let m = std::fs::symlink_metadata(&p)?;
        let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
        let _ = write!(
            out,
            "{rel} mode={:o} size={} uid={} gid={} nlink={} mtime={}.{}",
            m.mode(),
            m.size(),
            m.uid(),
            m.gid(),
            m.nlink(),
            m.mtime(),
            m.mtime_nsec()
        );
        if m.file_type().is_symlink() {
            let _ = write!(out, " -> {}", std::fs::read_link(&p)?.display());
        } else if m.file_type().is_file() {
            let data = std::fs::read(&p)?;
            let sum = data
                .iter()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
            let _ = write!(out, " sum={sum:x}");
        }
        out.push('\n');
    }
    Ok(out)
}
