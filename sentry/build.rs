//! Builds the vDSO (vdso/vdso.c, linked with vdso/vdso.lds) with the system C compiler into
//! `$OUT_DIR/vdso.so`, which `loader::vdso` embeds with `include_bytes!`.
//!
//! The image is position independent and must need no relocation: the flags below keep the
//! compiler from emitting anything that would (stack protector and its TLS canary, PLT/GOT
//! calls, unwind tables, CET notes), and the linker script discards writable sections. The
//! sentry's unit tests parse the result (symbols, versions, no relocations) and run it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let src = manifest.join("vdso/vdso.c");
    let lds = manifest.join("vdso/vdso.lds");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", lds.display());
    println!("cargo:rerun-if-env-changed=RVISOR_VDSO_CC");
    // Not $CC: a cross or wrapper compiler set for the Rust build may not take these flags.
    let cc = std::env::var("RVISOR_VDSO_CC").unwrap_or_else(|_| "gcc".into());
    let so = out.join("vdso.so");
    let status = Command::new(&cc)
        .args([
            "-O2",
            "-std=gnu11",
            "-fPIC",
            "-shared",
            "-nostdlib",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-stack-clash-protection",
            "-fno-asynchronous-unwind-tables",
            "-fno-unwind-tables",
            "-fcf-protection=none",
            "-fno-plt",
            "-mgeneral-regs-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wl,--hash-style=both",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--no-undefined",
            "-Wl,-z,max-page-size=4096",
            "-Wl,-z,noexecstack",
            "-Wl,--build-id=none",
        ])
        .arg(format!("-Wl,-T,{}", lds.display()))
        .arg("-o")
        .arg(&so)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("building the vDSO with {cc} failed ({s}); see the compiler output above"),
        Err(e) => {
            panic!("cannot run {cc} to build the vDSO ({e}); install gcc (scripts/setup.sh does)")
        }
    }
}
