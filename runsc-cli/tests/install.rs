//! `rvisor install` / `rvisor uninstall` run as a binary on a daemon.json in a temporary
//! directory: creating the file, keeping other runtimes and keys, removing only our entry,
//! and refusing invalid JSON without touching it.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn rvisor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rvisor"))
        .args(args)
        .output()
        .expect("running rvisor")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).expect("reading config")).expect("JSON")
}

fn exe() -> String {
    fs::canonicalize(env!("CARGO_BIN_EXE_rvisor"))
        .expect("canonical binary path")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn install_creates_missing_file_and_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("etc/docker/daemon.json");
    let cfg_s = cfg.to_str().expect("utf-8");
    let out = rvisor(&["install", "--config", cfg_s]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("systemctl reload docker"), "{stdout}");
    assert_eq!(
        json(&cfg),
        serde_json::json!({"runtimes": {"rvisor": {"path": exe()}}})
    );
}

#[test]
fn install_keeps_others_and_uninstall_removes_only_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("daemon.json");
    let cfg_s = cfg.to_str().expect("utf-8");
    fs::write(
        &cfg,
        r#"{"storage-driver": "overlay2",
            "runtimes": {"runsc": {"path": "/usr/local/bin/runsc", "runtimeArgs": ["--debug"]}},
            "log-level": "warn"}"#,
    )
    .expect("writing config");
    let out = rvisor(&[
        "install",
        "--runtime",
        "rv-test",
        "--config",
        cfg_s,
        "--",
        "--platform=ptrace",
        "--debug-log=/tmp/x/",
    ]);
    assert!(out.status.success(), "{out:?}");
    let v = json(&cfg);
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["storage-driver", "runtimes", "log-level"]);
    assert_eq!(
        v["runtimes"]["runsc"],
        serde_json::json!({"path": "/usr/local/bin/runsc", "runtimeArgs": ["--debug"]})
    );
    assert_eq!(
        v["runtimes"]["rv-test"],
        serde_json::json!({"path": exe(), "runtimeArgs": ["--platform=ptrace", "--debug-log=/tmp/x/"]})
    );

    let out = rvisor(&["uninstall", "--runtime", "rv-test", "--config", cfg_s]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        json(&cfg),
        serde_json::json!({"storage-driver": "overlay2",
            "runtimes": {"runsc": {"path": "/usr/local/bin/runsc", "runtimeArgs": ["--debug"]}},
            "log-level": "warn"})
    );
    // Absent now: still success, with a note, and the file is left alone.
    let before = fs::read(&cfg).expect("reading config");
    let out = rvisor(&["uninstall", "--runtime", "rv-test", "--config", cfg_s]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to remove"));
    assert_eq!(fs::read(&cfg).expect("reading config"), before);
    // No file at all: also success.
    let missing = dir.path().join("none.json");
    let out = rvisor(&["uninstall", "--config", missing.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{out:?}");
    assert!(!missing.exists());
}

#[test]
fn invalid_json_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("daemon.json");
    let cfg_s = cfg.to_str().expect("utf-8");
    let bad = "{\"runtimes\": {\"runsc\": }\n";
    fs::write(&cfg, bad).expect("writing config");
    for verb in ["install", "uninstall"] {
        let out = rvisor(&[verb, "--config", cfg_s]);
        assert!(!out.status.success(), "{verb}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{verb}: one line: {stderr}");
        assert!(
            stderr.contains("invalid JSON") && stderr.contains(cfg_s),
            "{verb}: {stderr}"
        );
        assert_eq!(fs::read_to_string(&cfg).expect("reading config"), bad);
    }
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("listing")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["daemon.json"], "no temporary file left");
}
