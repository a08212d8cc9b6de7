//! `rvisor install` / `rvisor uninstall`: register this binary as a Docker runtime in
//! `/etc/docker/daemon.json` (or `--config FILE`), or remove that entry, like `runsc install`.
//!
//! The file is edited as JSON with its other keys and runtimes kept in their order
//! (`serde_json`'s `preserve_order`); a file that is not a JSON object is refused and left as
//! it is; the new text replaces the old atomically (a temporary file in the same directory,
//! then rename, keeping the old file's mode). Docker rereads `runtimes` on SIGHUP, so the
//! commands end with one line saying how to reload it.
//!
//! Neighbours: `main.rs` dispatches here; nothing else in the crate is used. Shortcuts: the
//! file is rewritten pretty-printed (two-space indent), so its whitespace and any duplicate
//! keys are not kept.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Map, Value};

/// Where Docker reads its daemon configuration.
const DEFAULT_CONFIG: &str = "/etc/docker/daemon.json";

const RELOAD_HINT: &str =
    "Reload dockerd to apply: systemctl reload docker (or: kill -HUP $(pidof dockerd))";

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The runtime's name in Docker (`docker run --runtime=NAME`).
    #[arg(long, default_value = "rvisor")]
    runtime: String,
    /// Docker's daemon configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Flags Docker passes to rvisor before every command (after `--`).
    #[arg(last = true)]
    runtime_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// The runtime's name in Docker.
    #[arg(long, default_value = "rvisor")]
    runtime: String,
    /// Docker's daemon configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

/// `rvisor install`.
pub fn install(a: &InstallArgs) -> anyhow::Result<i32> {
    if a.runtime.is_empty() {
        bail!("--runtime must not be empty");
    }
    let exe = std::env::current_exe().context("finding this rvisor binary")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let Some(exe_str) = exe.to_str() else {
        bail!("the path of this binary, {}, is not UTF-8", exe.display());
    };
    let old = read_config(&a.config)?;
    let new = add_runtime(old.as_deref(), &a.runtime, exe_str, &a.runtime_args)
        .with_context(|| format!("{}", a.config.display()))?;
    write_atomically(&a.config, &new)?;
    println!(
        "Added runtime {:?} ({exe_str}) to {}.",
        a.runtime,
        a.config.display()
    );
    println!("{RELOAD_HINT}");
    Ok(0)
}

/// `rvisor uninstall`.
pub fn uninstall(a: &UninstallArgs) -> anyhow::Result<i32> {
    let Some(old) = read_config(&a.config)? else {
        println!(
            "{} does not exist: runtime {:?} is not installed.",
            a.config.display(),
            a.runtime
        );
        return Ok(0);
    };
    match remove_runtime(&old, &a.runtime).with_context(|| format!("{}", a.config.display()))? {
        Some(new) => {
            write_atomically(&a.config, &new)?;
            println!(
                "Removed runtime {:?} from {}.",
                a.runtime,
                a.config.display()
            );
            println!("{RELOAD_HINT}");
        }
        None => println!(
            "Runtime {:?} is not in {}: nothing to remove.",
            a.runtime,
            a.config.display()
        ),
    }
    Ok(0)
}

/// The file's text, or `None` if it does not exist.
fn read_config(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => bail!("reading {}: {e}", path.display()),
    }
}

/// Parses a daemon.json: a JSON object (an empty or blank file counts as `{}`).
fn parse_object(text: &str) -> anyhow::Result<Map<String, Value>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => bail!("not a JSON object; left unchanged"),
        Err(e) => bail!("invalid JSON ({e}); left unchanged"),
    }
}

fn render(m: Map<String, Value>) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(&Value::Object(m)).context("encoding JSON")?;
    s.push('\n');
    Ok(s)
}

/// `text` (None: no file yet) with `runtimes.<name>` set to this binary and its arguments;
/// every other key and runtime is kept where it was.
fn add_runtime(
    text: Option<&str>,
    name: &str,
    path: &str,
    args: &[String],
) -> anyhow::Result<String> {
    let mut top = parse_object(text.unwrap_or(""))?;
    let runtimes = top
        .entry("runtimes")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(runtimes) = runtimes else {
        bail!("\"runtimes\" is not a JSON object; left unchanged");
    };
    let mut entry = Map::new();
    entry.insert("path".into(), Value::String(path.into()));
    if !args.is_empty() {
        entry.insert(
            "runtimeArgs".into(),
            Value::Array(args.iter().cloned().map(Value::String).collect()),
        );
    }
    // Replacing an existing entry keeps its place (IndexMap::insert does).
    runtimes.insert(name.into(), Value::Object(entry));
    render(top)
}

/// `text` without `runtimes.<name>` (and without `runtimes` if that was its last entry), or
/// `None` if there was no such runtime.
fn remove_runtime(text: &str, name: &str) -> anyhow::Result<Option<String>> {
    let mut top = parse_object(text)?;
    let Some(runtimes) = top.get_mut("runtimes") else {
        return Ok(None);
    };
    let Value::Object(rt) = runtimes else {
        bail!("\"runtimes\" is not a JSON object; left unchanged");
    };
    if rt.shift_remove(name).is_none() {
        return Ok(None);
    }
    if rt.is_empty() {
        top.shift_remove("runtimes");
    }
    render(top).map(Some)
}

/// Replaces `path` with `text` in one rename (making the directory if needed), keeping the
/// old file's permissions (0644 for a new file).
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "daemon.json".into());
    let tmp = dir.join(format!(".{file_name}.rvisor-{}", std::process::id()));
    let res = (|| -> anyhow::Result<()> {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.set_permissions(fs::Permissions::from_mode(mode)))
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn adds_to_a_missing_or_empty_file() {
        for old in [None, Some(""), Some("  \n"), Some("{}")] {
            let new = add_runtime(old, "rvisor", "/usr/bin/rvisor", &[]).unwrap();
            assert_eq!(
                parse(&new),
                serde_json::json!({"runtimes": {"rvisor": {"path": "/usr/bin/rvisor"}}})
            );
        }
    }

    #[test]
    fn keeps_other_keys_and_runtimes_in_order() {
        let old = r#"{"zeta": 1, "runtimes": {"runsc": {"path": "/usr/bin/runsc"}},
                      "alpha": {"x": [1, 2]}, "debug": true}"#;
        let args = vec!["--platform=ptrace".to_string(), "--debug".to_string()];
        let new = add_runtime(Some(old), "rv", "/opt/rvisor", &args).unwrap();
        let v = parse(&new);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["zeta", "runtimes", "alpha", "debug"]);
        let rts: Vec<&String> = v["runtimes"].as_object().unwrap().keys().collect();
        assert_eq!(rts, ["runsc", "rv"]);
        assert_eq!(v["runtimes"]["runsc"]["path"], "/usr/bin/runsc");
        assert_eq!(v["runtimes"]["rv"]["path"], "/opt/rvisor");
        assert_eq!(
            v["runtimes"]["rv"]["runtimeArgs"],
            serde_json::json!(["--platform=ptrace", "--debug"])
        );
        assert_eq!(v["alpha"], serde_json::json!({"x": [1, 2]}));
        // Installing again replaces the entry in place.
        let again = add_runtime(Some(&new), "runsc", "/new/runsc", &[]).unwrap();
        let v = parse(&again);
        let rts: Vec<&String> = v["runtimes"].as_object().unwrap().keys().collect();
        assert_eq!(rts, ["runsc", "rv"]);
        assert_eq!(
            v["runtimes"]["runsc"],
            serde_json::json!({"path": "/new/runsc"})
        );
    }

    #[test]
    fn removes_only_that_runtime() {
        let old = r#"{"a": 1, "runtimes": {"x": {"path": "/x"}, "rvisor": {"path": "/r"}}}"#;
        let new = remove_runtime(old, "rvisor").unwrap().unwrap();
        assert_eq!(
            parse(&new),
            serde_json::json!({"a": 1, "runtimes": {"x": {"path": "/x"}}})
        );
        assert_eq!(remove_runtime(&new, "rvisor").unwrap(), None);
        let last = remove_runtime(&new, "x").unwrap().unwrap();
        assert_eq!(parse(&last), serde_json::json!({"a": 1}));
        assert_eq!(remove_runtime("{}", "x").unwrap(), None);
    }

    #[test]
    fn refuses_what_is_not_a_json_object() {
        for bad in ["{", "[1]", "{\"runtimes\": 3}", "nope"] {
            let e = add_runtime(Some(bad), "r", "/r", &[]).unwrap_err();
            assert!(format!("{e}").contains("left unchanged"), "{bad}: {e}");
        }
        remove_runtime("{\"runtimes\": []}", "r").unwrap_err();
        remove_runtime("{,}", "r").unwrap_err();
    }

    #[test]
    fn atomic_write_keeps_mode_and_makes_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/docker/daemon.json");
        write_atomically(&path, "{}\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&path, "{\"a\": 1}\n").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["daemon.json"]);
    }
}
