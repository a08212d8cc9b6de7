//! The sentry's virtual filesystem. (Module docs to be written by the vfs owner.)
#![deny(unsafe_code)]

pub mod memfile;
pub mod p9client;
