//! The sentry: rvisor's application kernel. (Crate docs and lock order: see below, filled in by
//! the kernel work.)
#![deny(unsafe_code)]

pub mod loader;
pub mod mm;
