//! inotify(7): event bits, watch flags and the record header read(2) returns
//! (include/uapi/linux/inotify.h, include/linux/inotify.h).

/// File was accessed (read).
pub const IN_ACCESS: u32 = 0x0000_0001;
/// File was modified.
pub const IN_MODIFY: u32 = 0x0000_0002;
/// Metadata changed.
pub const IN_ATTRIB: u32 = 0x0000_0004;
/// A writable file was closed.
pub const IN_CLOSE_WRITE: u32 = 0x0000_0008;
/// An unwritable file was closed.
pub const IN_CLOSE_NOWRITE: u32 = 0x0000_0010;
/// File was opened.
pub const IN_OPEN: u32 = 0x0000_0020;
/// A file was moved out of the watched directory.
pub const IN_MOVED_FROM: u32 = 0x0000_0040;
/// A file was moved into the watched directory.
pub const IN_MOVED_TO: u32 = 0x0000_0080;
/// A file was created in the watched directory.
pub const IN_CREATE: u32 = 0x0000_0100;
/// A file was deleted from the watched directory.
pub const IN_DELETE: u32 = 0x0000_0200;
/// The watched file itself was deleted.
pub const IN_DELETE_SELF: u32 = 0x0000_0400;
/// The watched file itself was moved.
pub const IN_MOVE_SELF: u32 = 0x0000_0800;
/// The filesystem holding the watched file was unmounted.
pub const IN_UNMOUNT: u32 = 0x0000_2000;
/// The event queue overflowed (wd -1).
pub const IN_Q_OVERFLOW: u32 = 0x0000_4000;
/// The watch was removed.
pub const IN_IGNORED: u32 = 0x0000_8000;
/// Both close events.
pub const IN_CLOSE: u32 = IN_CLOSE_WRITE | IN_CLOSE_NOWRITE;
/// Both move events.
pub const IN_MOVE: u32 = IN_MOVED_FROM | IN_MOVED_TO;
/// Every event a watch can ask for.
pub const IN_ALL_EVENTS: u32 = 0x0000_0fff;
/// Only watch the path if it is a directory.
pub const IN_ONLYDIR: u32 = 0x0100_0000;
/// Do not follow a final symlink.
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
/// No events for children after they are unlinked from the watched directory.
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
/// Fail with EEXIST if the inode is already watched.
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
/// Add to the mask of an existing watch instead of replacing it.
pub const IN_MASK_ADD: u32 = 0x2000_0000;
/// The subject of the event is a directory.
pub const IN_ISDIR: u32 = 0x4000_0000;
/// Remove the watch after one event.
pub const IN_ONESHOT: u32 = 0x8000_0000;
/// Every bit inotify_add_watch(2) understands (ALL_INOTIFY_BITS).
pub const ALL_INOTIFY_BITS: u32 = IN_ALL_EVENTS
    | IN_UNMOUNT
    | IN_Q_OVERFLOW
    | IN_IGNORED
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ISDIR
    | IN_ONESHOT;
/// inotify_init1(2) flag: the same bit as O_NONBLOCK.
pub const IN_NONBLOCK: u32 = crate::file::O_NONBLOCK;
/// inotify_init1(2) flag: the same bit as O_CLOEXEC.
pub const IN_CLOEXEC: u32 = crate::file::O_CLOEXEC;
/// `sizeof(struct inotify_event)` without the name: wd, mask, cookie, len.
pub const EVENT_HEADER_SIZE: usize = 16;
/// /proc/sys/fs/inotify/max_queued_events default.
pub const MAX_QUEUED_EVENTS: usize = 16384;
/// /proc/sys/fs/inotify/max_user_instances default.
pub const MAX_USER_INSTANCES: usize = 128;
/// Watches one sandbox may hold (max_user_watches; Linux scales its default with memory,
/// 8192 at least).
pub const MAX_USER_WATCHES: usize = 65536;
