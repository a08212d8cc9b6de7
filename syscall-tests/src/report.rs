//! The runner's pure logic: parsing libtest-mimic output and expected-failure lists, and
//! comparing a native run with a sandboxed run. `src/bin/runner.rs` does the process work
//! (spawning, timeouts) and calls these functions, which the unit tests below exercise alone.
//!
//! Rules (gVisor's native/runsc matrix with Asterinas-style blocklists, made stricter):
//! - a test that fails natively is a broken test;
//! - in the sandbox, a test that fails, or never reports an outcome (the binary crashed or
//!   timed out), is a failure — expected if listed in `expected-failures/<platform>/<bin>.txt`;
//! - a listed test that passes is an "unexpected pass": the list can only shrink;
//! - a listed name that the binary does not have is a stale entry, also an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The outcome of one test as printed by libtest-mimic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `test NAME ... ok`
    Passed,
    /// `test NAME ... FAILED`
    Failed,
    /// `test NAME ... ignored`
    Ignored,
    /// `test NAME ... ` with no outcome: the binary died while running it.
    Crashed,
}

impl Status {
    /// True when the binary printed an outcome for the test (it did not die inside it).
    pub fn is_finished(self) -> bool {
        self != Status::Crashed
    }
}

/// Per-test outcomes of one run, by test name.
pub type Results = BTreeMap<String, Status>;

/// Removes ANSI colour sequences (`ESC [ ... m`), in case the binary coloured its output.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip up to and including the final byte of the CSI sequence (a letter).
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses libtest-mimic's pretty output: one `test NAME ... OUTCOME` line per test (the name is
/// padded with spaces to a common width). Other lines (the summary, failure messages, anything
/// the tests printed) are ignored, and parsing stops at the `failures:` section, whose
/// messages are free text.
pub fn parse_libtest_output(stdout: &str) -> Results {
    let mut results = Results::new();
    for raw in stdout.lines() {
        let line = strip_ansi(raw);
        if line == "failures:" {
            break;
        }
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, outcome)) = rest.split_once(" ...") else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            continue;
        }
        let status = match outcome.trim() {
            "ok" => Status::Passed,
            "FAILED" => Status::Failed,
            "" => Status::Crashed,
            o if o.starts_with("ignored") => Status::Ignored,
            // Text the test printed landed after "... ": the outcome is on a later line we
            // cannot attribute reliably, so count the test as failed rather than guess.
            _ => Status::Failed,
        };
        results.insert(name.to_owned(), status);
    }
    results
}

/// Parses libtest-mimic's `--list` output: one `NAME: test` line per test.
pub fn parse_libtest_list(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| strip_ansi(l).strip_suffix(": test").map(str::to_owned))
        .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace))
        .collect()
}

/// Records every test in `names` that `results` has no outcome for as [`Status::Crashed`]:
/// the run ended (hung and was killed, or crashed) before reaching it.
pub fn mark_missing_as_crashed(results: &mut Results, names: &[String]) {
    for name in names {
        results.entry(name.clone()).or_insert(Status::Crashed);
    }
}

/// Parses an expected-failure list: one test name per line; `#` starts a comment (whole line
/// or after the name). Every entry must carry a reason: a trailing comment, or a comment line
/// earlier in the same block (a block is a run of non-blank lines).
pub fn parse_expected(text: &str) -> Result<BTreeSet<String>, String> {
    let mut names = BTreeSet::new();
    let mut block_has_comment = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            block_has_comment = false;
            continue;
        }
        let (entry, comment) = match line.split_once('#') {
            Some((e, c)) => (e.trim(), Some(c)),
            None => (line, None),
        };
        if entry.is_empty() {
            block_has_comment = true;
            continue;
        }
        let lineno = i + 1;
        if entry.contains(char::is_whitespace) {
            return Err(format!(
                "line {lineno}: `{entry}` is not a single test name"
            ));
        }
        if comment.is_none_or(|c| c.trim().is_empty()) && !block_has_comment {
            return Err(format!(
                "line {lineno}: `{entry}` has no reason comment (`NAME  # reason`)"
            ));
        }
        if !names.insert(entry.to_owned()) {
            return Err(format!("line {lineno}: `{entry}` is listed twice"));
        }
    }
    Ok(names)
}

/// The comparison for one test binary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinReport {
    /// Tests that passed natively.
    pub native_passed: usize,
    /// Tests that failed (or crashed) natively: broken tests.
    pub native_failures: Vec<String>,
    /// Tests that passed in the sandbox (0 when there was no sandbox run).
    pub sandbox_passed: usize,
    /// Listed tests that failed in the sandbox, as expected.
    pub expected_failures: Vec<String>,
    /// Unlisted tests that failed, crashed or were missing in the sandbox.
    pub unexpected_failures: Vec<String>,
    /// Listed tests that passed in the sandbox.
    pub unexpected_passes: Vec<String>,
    /// Listed names that the binary does not define.
    pub stale_entries: Vec<String>,
}

impl BinReport {
    /// The number of problems that fail the run.
    pub fn failed(&self) -> usize {
        self.native_failures.len()
            + self.unexpected_failures.len()
            + self.unexpected_passes.len()
            + self.stale_entries.len()
    }

    /// The number of passes reported in the final line: sandbox passes when there was a
    /// sandbox run, native passes otherwise.
    pub fn passed(&self, has_sandbox: bool) -> usize {
        if has_sandbox {
            self.sandbox_passed
        } else {
            self.native_passed
        }
    }

    /// Human-readable lines describing every problem, one per test.
    pub fn problems(&self) -> String {
        let mut out = String::new();
        for (list, what) in [
            (&self.native_failures, "FAILED natively (broken test)"),
            (&self.unexpected_failures, "unexpected failure"),
            (
                &self.unexpected_passes,
                "unexpected pass (remove it from the list)",
            ),
            (
                &self.stale_entries,
                "listed as expected failure but no such test (remove it from the list)",
            ),
        ] {
            for name in list {
                let _ = writeln!(out, "  {name}: {what}");
            }
        }
        out
    }
}

/// Compares the native run (the oracle) with the sandboxed run, if any, given the
/// expected-failure list of the sandbox's platform. Tests ignored natively are skipped.
pub fn compare(
    native: &Results,
    sandbox: Option<&Results>,
    expected: &BTreeSet<String>,
) -> BinReport {
    let mut report = BinReport::default();
    for (name, status) in native {
        match status {
            Status::Passed => report.native_passed += 1,
            Status::Ignored => continue,
            Status::Failed | Status::Crashed => report.native_failures.push(name.clone()),
        }
        let Some(sandbox) = sandbox else { continue };
        let passed = sandbox.get(name) == Some(&Status::Passed);
        let listed = expected.contains(name);
        match (passed, listed) {
            (true, false) => report.sandbox_passed += 1,
            (true, true) => report.unexpected_passes.push(name.clone()),
            (false, true) => report.expected_failures.push(name.clone()),
            (false, false) => report.unexpected_failures.push(name.clone()),
        }
    }
    if sandbox.is_some() {
        report.stale_entries = expected
            .iter()
            .filter(|n| !native.contains_key(*n))
            .cloned()
            .collect();
    }
    report
}

/// The last line the runner prints.
pub fn summary_line(passed: usize, failed: usize) -> String {
    format!("{passed} passed, {failed} failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\nrunning 4 tests\n\
        test read_closed_fd_fails_ebadf       ... ok\n\
        test open_missing_fails_enoent        ... FAILED\n\
        test skipped_one                      ... ignored\n\
        test mmap_zero_length_fails_einval    ... \n\
        \n\
        failures:\n\
        \n\
        ---- open_missing_fails_enoent ----\n\
        test x ... ok (message text, not a result)\n\
        \n\
        test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out\n";

    fn results(pairs: &[(&str, Status)]) -> Results {
        pairs.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parse_reads_padded_lines_and_crash() {
        let r = parse_libtest_output(OUTPUT);
        assert_eq!(r.get("read_closed_fd_fails_ebadf"), Some(&Status::Passed));
        assert_eq!(r.get("open_missing_fails_enoent"), Some(&Status::Failed));
        assert_eq!(r.get("skipped_one"), Some(&Status::Ignored));
        assert_eq!(
            r.get("mmap_zero_length_fails_einval"),
            Some(&Status::Crashed)
        );
        assert_eq!(r.len(), 4, "{r:?}");
    }

    #[test]
    fn parse_strips_colours() {
        let r = parse_libtest_output("test a ... \u{1b}[32mok\u{1b}[0m\n");
        assert_eq!(r.get("a"), Some(&Status::Passed));
    }

    #[test]
    fn parse_ignores_summary_line() {
        let r = parse_libtest_output("test result: ok. 1 passed; 0 failed\n");
        assert!(r.is_empty());
    }

    #[test]
    fn list_output_gives_test_names() {
        let out = "a_test: test\nb_test: test\n\n2 tests, 0 benchmarks\n";
        assert_eq!(parse_libtest_list(out), vec!["a_test", "b_test"]);
    }

    #[test]
    fn missing_tests_count_as_crashed() {
        let mut r = results(&[("ran", Status::Passed)]);
        mark_missing_as_crashed(&mut r, &["ran".to_owned(), "never_ran".to_owned()]);
        assert_eq!(r.get("ran"), Some(&Status::Passed));
        assert_eq!(r.get("never_ran"), Some(&Status::Crashed));
    }

    #[test]
    fn expected_accepts_trailing_and_block_comments() {
        let text = "# header\n\n\
                    a_test  # needs /proc\n\
                    \n\
                    # mremap is not implemented yet\n\
                    b_test\n\
                    c_test\n";
        assert_eq!(
            parse_expected(text),
            Ok(names(&["a_test", "b_test", "c_test"]))
        );
    }

    #[test]
    fn expected_rejects_entry_without_reason() {
        let err = parse_expected("# header\n\nlonely_test\n").err();
        assert_eq!(
            err.as_deref(),
            Some("line 3: `lonely_test` has no reason comment (`NAME  # reason`)")
        );
    }

    #[test]
    fn expected_rejects_duplicates() {
        assert_eq!(
            parse_expected("a # x\na # y\n").err().as_deref(),
            Some("line 2: `a` is listed twice")
        );
    }

    #[test]
    fn compare_native_only_counts_native_failures() {
        let native = results(&[("a", Status::Passed), ("b", Status::Crashed)]);
        let r = compare(&native, None, &BTreeSet::new());
        assert_eq!(r.native_passed, 1);
        assert_eq!(r.native_failures, vec!["b".to_owned()]);
        assert_eq!(r.failed(), 1);
        assert_eq!(r.passed(false), 1);
    }

    #[test]
    fn compare_classifies_sandbox_outcomes() {
        let native = results(&[
            ("pass", Status::Passed),
            ("exp_fail", Status::Passed),
            ("unexp_fail", Status::Passed),
            ("unexp_pass", Status::Passed),
            ("missing", Status::Passed),
            ("ign", Status::Ignored),
        ]);
        let sandbox = results(&[
            ("pass", Status::Passed),
            ("exp_fail", Status::Failed),
            ("unexp_fail", Status::Crashed),
            ("unexp_pass", Status::Passed),
        ]);
        let expected = names(&["exp_fail", "unexp_pass", "gone"]);
        let r = compare(&native, Some(&sandbox), &expected);
        assert_eq!(r.sandbox_passed, 1);
        assert_eq!(r.expected_failures, vec!["exp_fail".to_owned()]);
        assert_eq!(
            r.unexpected_failures,
            vec!["missing".to_owned(), "unexp_fail".to_owned()]
        );
        assert_eq!(r.unexpected_passes, vec!["unexp_pass".to_owned()]);
        assert_eq!(r.stale_entries, vec!["gone".to_owned()]);
        assert_eq!(r.failed(), 4);
        assert!(
            r.problems()
                .contains("unexp_pass: unexpected pass (remove it from the list)")
        );
    }

    #[test]
    fn summary_line_has_exact_form() {
        assert_eq!(summary_line(70, 2), "70 passed, 2 failed");
    }
}
