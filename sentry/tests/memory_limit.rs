//! The sandbox memory limit end to end: a sentry `Kernel` on the ptrace platform runs
//! `programs/memhog.c` (compiled here with the system gcc, static) as init over a tmpfs root,
//! with a 48 MiB limit on the MemoryFile. The program checks the errnos itself (ENOMEM for
//! mmap/brk larger than the limit, ENOSPC for tmpfs write/fallocate past it) and that the
//! OOM killer SIGKILLs the process with the largest resident set so that another allocator
//! can finish; the test checks init's exit status and that the sentry (this process) goes on.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use abi::file as f;
use sentry::kernel::{Credentials, ExitStatus, Kernel, KernelConfig, Spawn, Task};
use sentry::strace::Strace;
use vfs::memfile::MemoryFile;
use vfs::{Creds, Lookup, MountNamespace, OpenFile};

const LIMIT: u64 = 48 << 20;

fn build_memhog() -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/memhog.c");
    let out = std::env::temp_dir().join(format!("rvisor-memhog-{}", std::process::id()));
    let st = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("running gcc");
    assert!(st.success(), "gcc failed to build memhog.c");
    out
}

fn uts() -> abi::uts::Utsname {
    let fld = abi::uts::Utsname::field;
    abi::uts::Utsname {
        sysname: fld(b"Linux"),
        nodename: fld(b"rvisor-test"),
        release: fld(b"6.1.0"),
        version: fld(b"#1 SMP"),
        machine: fld(b"x86_64"),
        domainname: fld(b"(none)"),
    }
}

/// Runs `memhog MODE` as init in a fresh sandbox; returns its exit status and output.
fn run(elf: &[u8], mode: &str) -> (ExitStatus, String) {
    let memfile = Arc::new(MemoryFile::new().expect("memory file"));
    let creds = Creds::root();
    let mounts = MountNamespace::new(vfs::tmpfs::new_filesystem(
        0o755,
        &creds,
        Arc::clone(&memfile),
    ));
    let root = mounts.root();
    let l = Lookup {
        root: &root,
        start: &root,
        creds: &creds,
    };
    l.mkdir(b"/tmp", 0o1777).unwrap();
    let tmp = l.resolve(b"/tmp", true).unwrap();
    mounts
        .mount(
            &tmp,
            vfs::tmpfs::new_filesystem(0o1777, &creds, Arc::clone(&memfile)),
        )
        .unwrap();
    let exe = l.open(b"/memhog", f::O_CREAT | f::O_WRONLY, 0o755).unwrap();
    exe.write(elf).unwrap();
    drop(exe);
    let stdin = l.open(b"/in", f::O_CREAT | f::O_RDONLY, 0o644).unwrap();
    let out: Arc<OpenFile> = l.open(b"/out", f::O_CREAT | f::O_WRONLY, 0o644).unwrap();
    // The limit is set after the binary is in place: it counts too, as any tmpfs file.
    memfile.set_limit(Some(LIMIT));
    let platform = platform_ptrace::PtracePlatform::new(memfile.fd()).expect("ptrace platform");
    let kernel = Kernel::new(
        platform,
        Arc::clone(&memfile),
        Arc::clone(&mounts),
        KernelConfig {
            uts: uts(),
            strace: Strace::disabled(),
            max_tasks: 64,
        },
    );
    assert_eq!(kernel.memory_limit(), Some(LIMIT));
    let spawn = Spawn {
        path: b"/memhog".to_vec(),
        argv: vec![b"/memhog".to_vec(), mode.as_bytes().to_vec()],
        envp: Vec::new(),
        cwd: b"/".to_vec(),
        stdio: [stdin, Arc::clone(&out), Arc::clone(&out)],
        creds: Credentials::root(),
        umask: 0o022,
        no_new_privs: false,
        rlimits: Vec::new(),
        ctty: None,
    };
    let task = Task::new_init(&kernel, spawn).expect("loading memhog");
    let status = kernel.run_init(task).expect("the sandbox ran to its end");
    drop(out);
    memfile.set_limit(None);
    let mut text = Vec::new();
    let rd = l.open(b"/out", f::O_RDONLY, 0).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = rd.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    (status, String::from_utf8_lossy(&text).into_owned())
}

#[test]
fn memory_limit_gives_enomem_enospc_and_oom_kills_the_largest_process() {
    let path = build_memhog();
    let elf = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    for mode in ["limits", "oom", "self"] {
        let (status, out) = run(&elf, mode);
        eprintln!("memhog {mode}: {status:?}\n{out}");
        assert_eq!(status, ExitStatus::Exited(0), "memhog {mode} said:\n{out}");
    }
    // The sentry (this test process) is alive and can run another sandbox.
    let (status, _) = run(&elf, "limits");
    assert_eq!(status, ExitStatus::Exited(0));
}
