//! placeholder
fn main() -> std::process::ExitCode {
    syscall_tests::run_tests(vec![])
}
