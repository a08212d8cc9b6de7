//! Layout tests: the guest ABI structures and constants in `abi::file` / `abi::ioctl` must
//! match the host's `libc` definitions (x86-64 Linux), which mirror the kernel headers.

use std::mem::{offset_of, size_of};

use abi::file::*;
use abi::ioctl::*;

#[test]
fn stat_matches_libc() {
    assert_eq!(size_of::<Stat>(), 144);
    assert_eq!(size_of::<Stat>(), size_of::<libc::stat>());
    assert_eq!(offset_of!(Stat, ino), offset_of!(libc::stat, st_ino));
    assert_eq!(offset_of!(Stat, nlink), offset_of!(libc::stat, st_nlink));
    assert_eq!(offset_of!(Stat, mode), offset_of!(libc::stat, st_mode));
    assert_eq!(offset_of!(Stat, uid), offset_of!(libc::stat, st_uid));
    assert_eq!(offset_of!(Stat, gid), offset_of!(libc::stat, st_gid));
    assert_eq!(offset_of!(Stat, rdev), offset_of!(libc::stat, st_rdev));
    assert_eq!(offset_of!(Stat, size), offset_of!(libc::stat, st_size));
    assert_eq!(
        offset_of!(Stat, blksize),
        offset_of!(libc::stat, st_blksize)
    );
    assert_eq!(offset_of!(Stat, blocks), offset_of!(libc::stat, st_blocks));
    assert_eq!(offset_of!(Stat, atime), offset_of!(libc::stat, st_atime));
    assert_eq!(
        offset_of!(Stat, mtime_nsec),
        offset_of!(libc::stat, st_mtime_nsec)
    );
    assert_eq!(
        offset_of!(Stat, ctime_nsec),
        offset_of!(libc::stat, st_ctime_nsec)
    );
}

#[test]
fn statx_matches_libc() {
    assert_eq!(size_of::<Statx>(), 256);
    assert_eq!(size_of::<Statx>(), size_of::<libc::statx>());
    assert_eq!(offset_of!(Statx, mask), offset_of!(libc::statx, stx_mask));
    assert_eq!(offset_of!(Statx, nlink), offset_of!(libc::statx, stx_nlink));
    assert_eq!(offset_of!(Statx, mode), offset_of!(libc::statx, stx_mode));
    assert_eq!(offset_of!(Statx, ino), offset_of!(libc::statx, stx_ino));
    assert_eq!(offset_of!(Statx, size), offset_of!(libc::statx, stx_size));
    assert_eq!(offset_of!(Statx, atime), offset_of!(libc::statx, stx_atime));
    assert_eq!(offset_of!(Statx, mtime), offset_of!(libc::statx, stx_mtime));
    assert_eq!(
        offset_of!(Statx, rdev_major),
        offset_of!(libc::statx, stx_rdev_major)
    );
    assert_eq!(
        offset_of!(Statx, dev_minor),
        offset_of!(libc::statx, stx_dev_minor)
    );
    assert_eq!(
        offset_of!(Statx, mnt_id),
        offset_of!(libc::statx, stx_mnt_id)
    );
    assert_eq!(
        size_of::<StatxTimestamp>(),
        size_of::<libc::statx_timestamp>()
    );
}

#[test]
fn statfs_matches_libc() {
    assert_eq!(size_of::<StatFs>(), 120);
    assert_eq!(size_of::<StatFs>(), size_of::<libc::statfs>());
    assert_eq!(offset_of!(StatFs, bsize), offset_of!(libc::statfs, f_bsize));
    assert_eq!(
        offset_of!(StatFs, blocks),
        offset_of!(libc::statfs, f_blocks)
    );
    assert_eq!(offset_of!(StatFs, ffree), offset_of!(libc::statfs, f_ffree));
    assert_eq!(offset_of!(StatFs, fsid), offset_of!(libc::statfs, f_fsid));
    assert_eq!(
        offset_of!(StatFs, namelen),
        offset_of!(libc::statfs, f_namelen)
    );
    assert_eq!(
        offset_of!(StatFs, frsize),
        offset_of!(libc::statfs, f_frsize)
    );
}

#[test]
fn termios_matches_kernel_termios2_prefix() {
    // libc::termios is glibc's; termios2 is the kernel's struct termios plus two speeds.
    assert_eq!(size_of::<Termios>(), 36);
    assert_eq!(size_of::<Termios>(), offset_of!(libc::termios2, c_ispeed));
    assert_eq!(
        offset_of!(Termios, lflag),
        offset_of!(libc::termios2, c_lflag)
    );
    assert_eq!(
        offset_of!(Termios, line),
        offset_of!(libc::termios2, c_line)
    );
    assert_eq!(offset_of!(Termios, cc), offset_of!(libc::termios2, c_cc));
    assert_eq!(NCCS, 19);
    assert_eq!(size_of::<Termios2>(), size_of::<libc::termios2>());
    assert_eq!(
        offset_of!(Termios2, ospeed),
        offset_of!(libc::termios2, c_ospeed)
    );
    assert_eq!(libc::TCGETS2 as u32, TCGETS2);
    assert_eq!(libc::TCSETSF2 as u32, TCSETSF2);
}

#[test]
fn winsize_matches_libc() {
    assert_eq!(size_of::<Winsize>(), size_of::<libc::winsize>());
    assert_eq!(offset_of!(Winsize, col), offset_of!(libc::winsize, ws_col));
    assert_eq!(
        offset_of!(Winsize, ypixel),
        offset_of!(libc::winsize, ws_ypixel)
    );
}

#[test]
fn dirent64_header_is_19_bytes() {
    assert_eq!(size_of::<LinuxDirent64>(), DIRENT64_NAME_OFFSET);
    assert_eq!(offset_of!(libc::dirent64, d_name), DIRENT64_NAME_OFFSET);
    assert_eq!(
        offset_of!(LinuxDirent64, reclen),
        offset_of!(libc::dirent64, d_reclen)
    );
    assert_eq!(
        offset_of!(LinuxDirent64, ty),
        offset_of!(libc::dirent64, d_type)
    );
}

fn u(x: libc::c_int) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

#[test]
fn open_flags_match_libc() {
    assert_eq!(O_ACCMODE, u(libc::O_ACCMODE));
    assert_eq!(O_WRONLY, u(libc::O_WRONLY));
    assert_eq!(O_RDWR, u(libc::O_RDWR));
    assert_eq!(O_CREAT, u(libc::O_CREAT));
    assert_eq!(O_EXCL, u(libc::O_EXCL));
    assert_eq!(O_NOCTTY, u(libc::O_NOCTTY));
    assert_eq!(O_TRUNC, u(libc::O_TRUNC));
    assert_eq!(O_APPEND, u(libc::O_APPEND));
    assert_eq!(O_NONBLOCK, u(libc::O_NONBLOCK));
    assert_eq!(O_DSYNC, u(libc::O_DSYNC));
    assert_eq!(O_ASYNC, u(libc::O_ASYNC));
    assert_eq!(O_DIRECT, u(libc::O_DIRECT));
    // glibc defines O_LARGEFILE as 0 on 64-bit targets; the kernel's value is what the app may pass.
    assert_eq!(O_LARGEFILE, 0o100000);
    assert_eq!(O_DIRECTORY, u(libc::O_DIRECTORY));
    assert_eq!(O_NOFOLLOW, u(libc::O_NOFOLLOW));
    assert_eq!(O_NOATIME, u(libc::O_NOATIME));
    assert_eq!(O_CLOEXEC, u(libc::O_CLOEXEC));
    assert_eq!(O_SYNC, u(libc::O_SYNC));
    assert_eq!(O_PATH, u(libc::O_PATH));
    assert_eq!(O_TMPFILE, u(libc::O_TMPFILE));
}

#[test]
fn at_flags_and_modes_match_libc() {
    assert_eq!(AT_FDCWD, libc::AT_FDCWD);
    assert_eq!(AT_SYMLINK_NOFOLLOW, u(libc::AT_SYMLINK_NOFOLLOW));
    assert_eq!(AT_REMOVEDIR, u(libc::AT_REMOVEDIR));
    assert_eq!(AT_EACCESS, u(libc::AT_EACCESS));
    assert_eq!(AT_SYMLINK_FOLLOW, u(libc::AT_SYMLINK_FOLLOW));
    assert_eq!(AT_NO_AUTOMOUNT, u(libc::AT_NO_AUTOMOUNT));
    assert_eq!(AT_EMPTY_PATH, u(libc::AT_EMPTY_PATH));
    assert_eq!(S_IFMT, libc::S_IFMT);
    assert_eq!(S_IFSOCK, libc::S_IFSOCK);
    assert_eq!(S_IFLNK, libc::S_IFLNK);
    assert_eq!(S_IFREG, libc::S_IFREG);
    assert_eq!(S_IFBLK, libc::S_IFBLK);
    assert_eq!(S_IFDIR, libc::S_IFDIR);
    assert_eq!(S_IFCHR, libc::S_IFCHR);
    assert_eq!(S_IFIFO, libc::S_IFIFO);
    assert_eq!(DT_DIR, libc::DT_DIR);
    assert_eq!(DT_REG, libc::DT_REG);
    assert_eq!(DT_LNK, libc::DT_LNK);
    assert_eq!(DT_CHR, libc::DT_CHR);
    assert_eq!(F_DUPFD_CLOEXEC, u(libc::F_DUPFD_CLOEXEC));
    assert_eq!(F_GETPIPE_SZ, u(libc::F_GETPIPE_SZ));
    assert_eq!(F_OFD_SETLKW, u(libc::F_OFD_SETLKW));
    assert_eq!(u64::from(TCGETS), libc::TCGETS);
    assert_eq!(u64::from(TIOCGWINSZ), libc::TIOCGWINSZ);
    assert_eq!(u64::from(TIOCSPGRP), libc::TIOCSPGRP);
    assert_eq!(u64::from(FIONREAD), libc::FIONREAD);
    assert_eq!(u64::from(TIOCGPTN), libc::TIOCGPTN);
}

#[test]
fn makedev_round_trips_like_libc() {
    let dev = makedev(136, 300_000);
    assert_eq!(dev, libc::makedev(136, 300_000));
    assert_eq!(dev_major(dev), 136);
    assert_eq!(dev_minor(dev), 300_000);
}

#[test]
fn socket_structs_match_libc() {
    use abi::socket as s;
    assert_eq!(size_of::<s::MsgHdr>(), size_of::<libc::msghdr>());
    assert_eq!(
        offset_of!(s::MsgHdr, iov),
        offset_of!(libc::msghdr, msg_iov)
    );
    assert_eq!(
        offset_of!(s::MsgHdr, controllen),
        offset_of!(libc::msghdr, msg_controllen)
    );
    assert_eq!(
        offset_of!(s::MsgHdr, flags),
        offset_of!(libc::msghdr, msg_flags)
    );
    assert_eq!(size_of::<s::CmsgHdr>(), size_of::<libc::cmsghdr>());
    assert_eq!(size_of::<s::Ucred>(), size_of::<libc::ucred>());
    assert_eq!(s::SOCKADDR_UN_SIZE, size_of::<libc::sockaddr_un>());
    assert_eq!(s::SCM_RIGHTS, libc::SCM_RIGHTS);
    assert_eq!(s::SO_PEERCRED, libc::SO_PEERCRED);
    assert_eq!(s::SO_RCVTIMEO, libc::SO_RCVTIMEO);
    assert_eq!(s::MSG_CMSG_CLOEXEC, u(libc::MSG_CMSG_CLOEXEC));
    assert_eq!(s::SOCK_CLOEXEC, libc::SOCK_CLOEXEC);
}
