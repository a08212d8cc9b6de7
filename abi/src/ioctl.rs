//! ioctl(2) request numbers and argument structures for terminals and generic file ioctls.
//!
//! Sources: include/uapi/asm-generic/ioctls.h (x86-64 uses the generic numbers),
//! include/uapi/asm-generic/termbits.h (`struct termios`, the kernel's 36-byte layout, not
//! glibc's larger one), include/uapi/asm-generic/termios.h (`struct winsize`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub const TCGETS: u32 = 0x5401;
pub const TCSETS: u32 = 0x5402;
pub const TCSETSW: u32 = 0x5403;
pub const TCSETSF: u32 = 0x5404;
pub const TCGETA: u32 = 0x5405;
pub const TCSBRK: u32 = 0x5409;
pub const TCXONC: u32 = 0x540A;
pub const TCFLSH: u32 = 0x540B;
pub const TIOCEXCL: u32 = 0x540C;
pub const TIOCNXCL: u32 = 0x540D;
pub const TIOCSCTTY: u32 = 0x540E;
pub const TIOCGPGRP: u32 = 0x540F;
pub const TIOCSPGRP: u32 = 0x5410;
pub const TIOCOUTQ: u32 = 0x5411;
pub const TIOCSTI: u32 = 0x5412;
pub const TIOCGWINSZ: u32 = 0x5413;
pub const TIOCSWINSZ: u32 = 0x5414;
pub const TIOCMGET: u32 = 0x5415;
pub const TIOCINQ: u32 = FIONREAD;
pub const FIONREAD: u32 = 0x541B;
pub const TIOCLINUX: u32 = 0x541C;
pub const FIONBIO: u32 = 0x5421;
pub const TIOCNOTTY: u32 = 0x5422;
pub const TIOCSETD: u32 = 0x5423;
pub const TIOCGETD: u32 = 0x5424;
pub const TIOCGSID: u32 = 0x5429;
/// `struct termios2` requests (_IOR/_IOW('T', 0x2A..0x2D, struct termios2)).
pub const TCGETS2: u32 = 0x802C_542A;
pub const TCSETS2: u32 = 0x402C_542B;
pub const TCSETSW2: u32 = 0x402C_542C;
pub const TCSETSF2: u32 = 0x402C_542D;
pub const TIOCGPTN: u32 = 0x8004_5430;
pub const TIOCSPTLCK: u32 = 0x4004_5431;
pub const TIOCGPTLCK: u32 = 0x8004_5439;
pub const TIOCGPTPEER: u32 = 0x5441;
pub const FIONCLEX: u32 = 0x5450;
pub const FIOCLEX: u32 = 0x5451;
pub const FIOASYNC: u32 = 0x5452;

/// Number of control characters in the kernel's `struct termios` (termbits.h NCCS).
pub const NCCS: usize = 19;

/// The kernel's `struct termios` (include/uapi/asm-generic/termbits.h), 36 bytes, as TCGETS and
/// TCSETS* copy it. (glibc's `struct termios` is larger; it converts in tcgetattr(3).)
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

/// The kernel's `struct termios2` (termbits.h): `struct termios` plus the input and output
/// speeds, 44 bytes (TCGETS2/TCSETS2).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Termios2 {
    pub termios: Termios,
    pub ispeed: u32,
    pub ospeed: u32,
}

/// `struct winsize` (include/uapi/asm-generic/termios.h).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Winsize {
    pub row: u16,
    pub col: u16,
    pub xpixel: u16,
    pub ypixel: u16,
}

/// `termios.c_iflag` bits (include/uapi/asm-generic/termbits.h).
pub mod iflag {
    pub const IGNBRK: u32 = 0o1;
    pub const BRKINT: u32 = 0o2;
    pub const INLCR: u32 = 0o100;
    pub const IGNCR: u32 = 0o200;
    pub const ICRNL: u32 = 0o400;
    pub const IXON: u32 = 0o2000;
    pub const IXANY: u32 = 0o4000;
    pub const IMAXBEL: u32 = 0o20000;
    pub const IUTF8: u32 = 0o40000;
}

/// `termios.c_oflag` bits.
pub mod oflag {
    pub const OPOST: u32 = 0o1;
    pub const ONLCR: u32 = 0o4;
    pub const OCRNL: u32 = 0o10;
    pub const ONOCR: u32 = 0o20;
    pub const ONLRET: u32 = 0o40;
}

/// `termios.c_cflag` bits.
pub mod cflag {
    pub const B38400: u32 = 0o17;
    pub const CS8: u32 = 0o60;
    pub const CREAD: u32 = 0o200;
    pub const HUPCL: u32 = 0o2000;
}

/// `termios.c_lflag` bits.
pub mod lflag {
    pub const ISIG: u32 = 0o1;
    pub const ICANON: u32 = 0o2;
    pub const ECHO: u32 = 0o10;
    pub const ECHOE: u32 = 0o20;
    pub const ECHOK: u32 = 0o40;
    pub const ECHONL: u32 = 0o100;
    pub const NOFLSH: u32 = 0o200;
    pub const TOSTOP: u32 = 0o400;
    pub const ECHOCTL: u32 = 0o1000;
    pub const ECHOPRT: u32 = 0o2000;
    pub const ECHOKE: u32 = 0o4000;
    pub const IEXTEN: u32 = 0o100000;
}

/// Indexes into `termios.c_cc`.
pub mod cc {
    pub const VINTR: usize = 0;
    pub const VQUIT: usize = 1;
    pub const VERASE: usize = 2;
    pub const VKILL: usize = 3;
    pub const VEOF: usize = 4;
    pub const VTIME: usize = 5;
    pub const VMIN: usize = 6;
    pub const VSTART: usize = 8;
    pub const VSTOP: usize = 9;
    pub const VSUSP: usize = 10;
    pub const VEOL: usize = 11;
    pub const VREPRINT: usize = 12;
    pub const VDISCARD: usize = 13;
    pub const VWERASE: usize = 14;
    pub const VLNEXT: usize = 15;
    pub const VEOL2: usize = 16;
}

/// TCFLSH arguments (include/uapi/asm-generic/termbits-common.h).
pub const TCIFLUSH: u64 = 0;
pub const TCOFLUSH: u64 = 1;
pub const TCIOFLUSH: u64 = 2;

/// The termios a new pty slave starts with: tty_std_termios with the pty driver's c_cflag
/// (drivers/tty/tty_io.c, drivers/tty/pty.c), INIT_C_CC (include/linux/tty.h).
pub fn default_termios() -> Termios {
    Termios {
        iflag: iflag::ICRNL | iflag::IXON,
        oflag: oflag::OPOST | oflag::ONLCR,
        cflag: cflag::B38400 | cflag::CS8 | cflag::CREAD,
        lflag: lflag::ISIG
            | lflag::ICANON
            | lflag::ECHO
            | lflag::ECHOE
            | lflag::ECHOK
            | lflag::ECHOCTL
            | lflag::ECHOKE
            | lflag::IEXTEN,
        line: 0,
        cc: [
            3, 0o34, 0o177, 0o25, 4, 0, 1, 0, 0o21, 0o23, 0o32, 0, 0o22, 0o17, 0o27, 0o26, 0, 0, 0,
        ],
    }
}
