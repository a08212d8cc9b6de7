//! `Clocks` against the real host: host mode, calibration, continuity across updates, and
//! what reaches the time page. (The arithmetic alone is tested in `params`.)

use std::sync::Arc;
use std::time::Duration;

use vfs::memfile::MemoryFile;

use super::*;
use crate::loader::vdso::SpecialPages;

fn page() -> (Arc<SpecialPages>, Arc<MemoryFile>) {
    let mf = Arc::new(MemoryFile::with_size(1 << 20).expect("memfd"));
    let p = Arc::new(SpecialPages::new(&mf, &[0xaa; 64], "[vvar]").expect("page"));
    (p, mf)
}

fn host_mono() -> u64 {
    host_ns(ClockId::CLOCK_MONOTONIC).expect("host clock")
}

/// A calibrated `Clocks` (needs an invariant TSC, which the project machines have).
fn calibrated(page: Option<Arc<SpecialPages>>) -> Clocks {
    let c = Clocks::new(page, true);
    std::thread::sleep(CALIBRATION);
    c.update();
    assert!(c.params().is_some(), "calibration did not happen");
    c
}

#[test]
fn host_mode_reads_the_host_clocks() {
    let c = Clocks::new(None, false);
    c.update(); // Nothing to do without a usable TSC.
    assert_eq!(c.params(), None);
    let before = host_mono();
    let m = c.now_ns(PageClock::Monotonic);
    let after = host_mono();
    assert!(before <= m && m <= after);
    let coarse = c.now_ns(PageClock::MonotonicCoarse);
    assert_eq!(coarse % params::COARSE_NS, 0);
    assert!(coarse <= c.now_ns(PageClock::Monotonic));
}

#[test]
fn a_new_page_is_published_disabled() {
    let (p, _mf) = page();
    let c = Clocks::new(Some(Arc::clone(&p)), true);
    let bytes = c.page.as_ref().expect("page").read_back();
    assert_eq!(bytes.get(4..8), Some(&[0u8; 4][..]), "flags: disabled");
    assert_eq!(bytes.first().map(|b| b % 2), Some(0), "seq even");
}

#[test]
fn calibration_switches_to_the_tsc_and_publishes_the_page() {
    let (p, _mf) = page();
    let c = calibrated(Some(p));
    let params = c.params().expect("calibrated");
    let bytes = c.page.as_ref().expect("page").read_back();
    let mut want = Vvar::of(Some(&params));
    want.seq = u32::from_le_bytes(bytes.get(..4).and_then(|b| b.try_into().ok()).expect("4"));
    assert_eq!(want.seq % 2, 0, "complete");
    assert_eq!(bytes.as_slice(), zerocopy::IntoBytes::as_bytes(&want));
}

#[test]
fn calibrated_clocks_agree_with_the_host() {
    let c = calibrated(None);
    let before = host_mono();
    let m = c.now_ns(PageClock::Monotonic);
    let after = host_mono();
    // Within a millisecond of the host's clock after a 20 ms calibration.
    assert!(
        m + 1_000_000 >= before && m <= after + 1_000_000,
        "{before} {m} {after}"
    );
    let rt = c.now_ns(PageClock::Realtime);
    let host_rt = host_ns(ClockId::CLOCK_REALTIME).expect("host");
    assert!(rt.abs_diff(host_rt) < 1_000_000, "{rt} vs {host_rt}");
}

#[test]
fn monotonic_never_goes_back_across_updates() {
    let (p, _mf) = page();
    let c = calibrated(Some(p));
    let mut last = 0u64;
    for _ in 0..20 {
        for _ in 0..1000 {
            let now = c.now_ns(PageClock::Monotonic);
            assert!(now >= last, "went back: {last} -> {now}");
            last = now;
        }
        std::thread::sleep(Duration::from_millis(2));
        c.update();
    }
}

#[test]
fn timespec_of_splits_seconds_and_nanoseconds() {
    assert_eq!(
        timespec_of(3 * NANOS_PER_SEC + 42),
        Timespec { sec: 3, nsec: 42 }
    );
}
