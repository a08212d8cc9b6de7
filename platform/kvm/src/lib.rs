//! The KVM platform: application code in guest ring 3. Not built yet; `new` reports that at run
//! time so `--platform=kvm` fails with a clear message.
#![forbid(unsafe_code)]

use platform::PlatformError;

/// Placeholder for the KVM platform.
#[derive(Debug)]
pub struct KvmPlatform;

impl KvmPlatform {
    /// Always fails for now: the KVM platform is not implemented yet.
    pub fn new() -> Result<KvmPlatform, PlatformError> {
        Err(PlatformError::Unavailable(
            "the kvm platform is not implemented yet; use --platform=ptrace".into(),
        ))
    }
}
