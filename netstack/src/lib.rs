//! The userspace TCP/IP stack (smoltcp glue). Empty until the networking issue.
#![forbid(unsafe_code)]
