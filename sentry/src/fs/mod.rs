//! Filesystems that are views of the sentry's own state, and so live in the sentry rather than
//! in `vfs`: [`proc`] (the task table, mm and fd tables) and [`sys`] (a small generated
//! sysfs: the CPU topology the sandbox shows).
//!
//! Neighbours: both implement `vfs`'s `Filesystem`/`Inode`/`FileOps` traits; `runsc-cli`
//! mounts them on /proc and /sys.

pub mod proc;
pub mod sys;
