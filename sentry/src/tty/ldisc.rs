//! The line discipline of one pty pair, as Linux's n_tty does it for the common flags: input
//! processing of what the master writes (ICRNL/INLCR/IGNCR, ISIG, canonical editing with
//! VERASE/VKILL/VWERASE/VEOF/VEOL/VLNEXT, echo with ECHOE/ECHOK/ECHOKE/ECHONL/ECHOCTL), output
//! processing of what the slave writes (OPOST: ONLCR, OCRNL, ONOCR, ONLRET), and the two
//! bounded queues. Pure data: no locks, no signals (a signal character is returned to the
//! caller, which sends it), no blocking (a full queue is `EAGAIN`).
//!
//! Shortcuts: IXON flow control swallows VSTART/VSTOP but never stops output; ECHOPRT,
//! VREPRINT, VDISCARD, IUCLC/OLCUC, parity and break handling are not built; a tab erased
//! with ECHOE backs up one column.

use std::collections::VecDeque;

use abi::Errno;
use abi::ioctl::{Termios, cc, iflag, lflag, oflag};
use abi::signal::Signal;

/// The input queue's size (N_TTY_BUF_SIZE); a canonical line holds one byte less.
pub const INPUT_CAP: usize = 4096;
/// What the slave may have written that the master has not read yet.
pub const OUTPUT_CAP: usize = 65536;
/// A control character disabled in c_cc (`_POSIX_VDISABLE`).
const DISABLED: u8 = 0;

/// The line discipline state. See the module doc.
#[derive(Debug)]
pub struct Ldisc {
    pub termios: Termios,
    /// Input the slave can read: complete lines in canonical mode, everything otherwise.
    cooked: VecDeque<u8>,
    /// Canonical mode: the lengths of the complete lines in `cooked`, oldest first (0 = an
    /// end-of-file mark).
    lines: VecDeque<usize>,
    /// Canonical mode: the line being edited.
    line: Vec<u8>,
    /// The previous character was VLNEXT.
    lnext: bool,
    /// Output for the master to read (slave writes and echoes, after output processing).
    out: VecDeque<u8>,
    /// Output column, for ONOCR.
    column: usize,
}

impl Default for Ldisc {
    fn default() -> Ldisc {
        Ldisc::new()
    }
}

fn is_ctl(c: u8) -> bool {
    (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f
}

impl Ldisc {
    /// A fresh discipline with the pty slave's default termios.
    pub fn new() -> Ldisc {
        Ldisc {
            termios: abi::ioctl::default_termios(),
            cooked: VecDeque::new(),
            lines: VecDeque::new(),
            line: Vec::new(),
            lnext: false,
            out: VecDeque::new(),
            column: 0,
        }
    }

    fn l(&self, f: u32) -> bool {
        self.termios.lflag & f != 0
    }

    fn i(&self, f: u32) -> bool {
        self.termios.iflag & f != 0
    }

    fn cc(&self, i: usize) -> u8 {
        self.termios.cc.get(i).copied().unwrap_or(DISABLED)
    }

    fn is_cc(&self, c: u8, i: usize) -> bool {
        let v = self.cc(i);
        v != DISABLED && v == c
    }

    fn canon(&self) -> bool {
        self.l(lflag::ICANON)
    }

    /// New termios (TCSETS*): switching canonical mode off makes the line being edited
    /// readable; switching it on makes what is readable one line.
    pub fn set_termios(&mut self, t: Termios) {
        let was = self.canon();
        self.termios = t;
        let now = self.canon();
        if was && !now {
            self.cooked.extend(self.line.drain(..));
            self.lines.clear();
        } else if !was && now {
            self.lines.clear();
            if !self.cooked.is_empty() {
                self.lines.push_back(self.cooked.len());
            }
        }
    }

    /// Bytes a read could return now (FIONREAD on the slave).
    pub fn readable(&self) -> usize {
        if self.canon() {
            self.lines.iter().sum()
        } else {
            self.cooked.len()
        }
    }

    /// Whether poll reports the slave readable: a complete line, or in raw mode VMIN bytes
    /// when VTIME is 0 and one byte otherwise (n_tty_poll's input_available_p(tty, 1)).
    pub fn read_ready(&self) -> bool {
        if self.canon() {
            return !self.lines.is_empty();
        }
        let (vmin, vtime) = (usize::from(self.cc(cc::VMIN)), self.cc(cc::VTIME));
        let need = if vtime == 0 && vmin > 0 { vmin } else { 1 };
        self.cooked.len() >= need
    }

    /// Whether any input can be read at all (a hung-up slave returns it before EOF).
    pub fn has_input(&self) -> bool {
        if self.canon() {
            !self.lines.is_empty()
        } else {
            !self.cooked.is_empty()
        }
    }

    /// The slave's read: a line at most in canonical mode (Ok(0) for an end-of-file mark),
    /// EAGAIN when nothing is complete; in raw mode VMIN bytes (or `buf.len()` if fewer) or
    /// EAGAIN, and with VMIN = 0 what there is, maybe nothing. (VTIME's timers are the
    /// caller's: `tty::timed_read`.)
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.canon() {
            let Some(first) = self.lines.front_mut() else {
                return Err(Errno::EAGAIN);
            };
            if *first == 0 {
                self.lines.pop_front();
                return Ok(0);
            }
            let n = (*first).min(buf.len());
            *first -= n;
            if *first == 0 {
                self.lines.pop_front();
            }
            for (d, s) in buf.iter_mut().zip(self.cooked.drain(..n)) {
                *d = s;
            }
            return Ok(n);
        }
        let vmin = usize::from(self.cc(cc::VMIN));
        let need = vmin.min(buf.len());
        if self.cooked.len() < need || (need > 0 && self.cooked.is_empty()) {
            return Err(Errno::EAGAIN);
        }
        let n = self.cooked.len().min(buf.len());
        for (d, s) in buf.iter_mut().zip(self.cooked.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }

    /// Raw mode's VMIN and VTIME, `None` in canonical mode.
    pub fn raw_params(&self) -> Option<(usize, u8)> {
        (!self.canon()).then(|| (usize::from(self.cc(cc::VMIN)), self.cc(cc::VTIME)))
    }

    /// Raw mode: whatever is there, up to `buf.len()` (VMIN not considered).
    pub fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = self.cooked.len().min(buf.len());
        for (d, s) in buf.iter_mut().zip(self.cooked.drain(..n)) {
            *d = s;
        }
        n
    }

    /// Room for the master's writes: what the input queue has left (complete lines and the
    /// line being edited count). A canonical queue with no complete line always takes one more
    /// byte, so a newline (or an erase) can end an overlong line whose extra characters were
    /// dropped (n_tty's receive_room).
    pub fn input_room(&self) -> usize {
        let used = self.cooked.len().saturating_add(self.line.len());
        let room = INPUT_CAP.saturating_sub(used);
        if room == 0 && self.canon() && self.lines.is_empty() {
            1
        } else {
            room
        }
    }

    /// Discards all input (TCIFLUSH on the slave, a signal character without NOFLSH).
    pub fn flush_input(&mut self) {
        self.cooked.clear();
        self.lines.clear();
        self.line.clear();
        self.lnext = false;
    }

    /// Discards pending output (TCOFLUSH on the slave).
    pub fn flush_output(&mut self) {
        self.out.clear();
    }

    /// Bytes the master may read.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// The master's read.
    pub fn read_output(&mut self, buf: &mut [u8]) -> usize {
        let n = self.out.len().min(buf.len());
        for (d, s) in buf.iter_mut().zip(self.out.drain(..n)) {
            *d = s;
        }
        n
    }

    /// Queues `c` for the master as is (TIOCSTI on the master).
    pub fn push_output_raw(&mut self, c: u8) {
        if self.output_room() > 0 {
            self.out.push_back(c);
        }
    }

    /// Room left in the output queue.
    pub fn output_room(&self) -> usize {
        OUTPUT_CAP.saturating_sub(self.out.len())
    }

    /// One output character through OPOST processing into the output queue.
    fn put_out(&mut self, c: u8) {
        let o = self.termios.oflag;
        if o & oflag::OPOST == 0 {
            self.out.push_back(c);
            return;
        }
        match c {
            b'\n' => {
                if o & oflag::ONLCR != 0 {
                    self.out.push_back(b'\r');
                    self.out.push_back(b'\n');
                    self.column = 0;
                    return;
                }
                if o & oflag::ONLRET != 0 {
                    self.column = 0;
                }
                self.out.push_back(b'\n');
            }
            b'\r' => {
                if o & oflag::ONOCR != 0 && self.column == 0 {
                    return;
                }
                if o & oflag::OCRNL != 0 {
                    self.out.push_back(b'\n');
                    if o & oflag::ONLRET != 0 {
                        self.column = 0;
                    }
                    return;
                }
                self.column = 0;
                self.out.push_back(b'\r');
            }
            b'\t' => {
                self.column = (self.column | 7).saturating_add(1);
                self.out.push_back(c);
            }
            8 => {
                self.column = self.column.saturating_sub(1);
                self.out.push_back(c);
            }
            _ => {
                if !is_ctl(c) {
                    self.column = self.column.saturating_add(1);
                }
                self.out.push_back(c);
            }
        }
    }

    /// The slave's write: as many bytes as fit (each can grow to two), EAGAIN if none does.
    pub fn write(&mut self, buf: &[u8]) -> Result<usize, Errno> {
        let mut n = 0;
        for &c in buf {
            if self.output_room() < 2 {
                break;
            }
            self.put_out(c);
            n += 1;
        }
        if n == 0 && !buf.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok(n)
    }

    /// Echoes `c` (as ^X for control characters with ECHOCTL). Echoes that do not fit are
    /// dropped.
    fn echo(&mut self, c: u8) {
        if self.output_room() < 4 {
            return;
        }
        if self.l(lflag::ECHOCTL) && is_ctl(c) && !self.is_cc(c, cc::VSTART) {
            self.out.push_back(b'^');
            self.out.push_back(c ^ 0x40);
            self.column = self.column.saturating_add(2);
        } else {
            self.put_out(c);
        }
    }

    /// The echo width of `c` on the terminal, for erasing it.
    fn width(&self, c: u8) -> usize {
        if is_ctl(c) && self.l(lflag::ECHOCTL) {
            2
        } else if is_ctl(c) {
            0
        } else {
            1
        }
    }

    fn rub_out(&mut self, c: u8) {
        if self.output_room() < 8 {
            return;
        }
        for _ in 0..self.width(c) {
            self.out.extend(b"\x08 \x08");
            self.column = self.column.saturating_sub(1);
        }
    }

    /// VERASE, VWERASE (`word`) or VKILL (`kill`) in canonical mode (n_tty eraser()).
    fn erase(&mut self, c: u8, word: bool, kill: bool) {
        if self.line.is_empty() {
            return;
        }
        let echo = self.l(lflag::ECHO);
        if kill {
            if !echo {
                self.line.clear();
                return;
            }
            if !self.l(lflag::ECHOK) || !self.l(lflag::ECHOKE) || !self.l(lflag::ECHOE) {
                self.line.clear();
                self.echo(c);
                if self.l(lflag::ECHOK) {
                    self.put_out(b'\n');
                }
                return;
            }
        }
        let mut seen_word = false;
        while let Some(&last) = self.line.last() {
            if word {
                let space = last == b' ' || last == b'\t';
                if space && seen_word {
                    break;
                }
                if !space {
                    seen_word = true;
                }
            }
            self.line.pop();
            if echo {
                if self.l(lflag::ECHOE) {
                    self.rub_out(last);
                } else {
                    self.echo(c);
                }
            }
            if !word && !kill {
                break;
            }
        }
    }

    /// Ends the line being edited (with `term` appended unless it is an end-of-file mark).
    fn end_line(&mut self, term: Option<u8>) {
        let mut len = self.line.len();
        self.cooked.extend(self.line.drain(..));
        if let Some(t) = term {
            self.cooked.push_back(t);
            len += 1;
        }
        self.lines.push_back(len);
    }

    /// The master's write: input processing of each byte, as many as there is room for
    /// (EAGAIN if none). Returns the count and the signals the bytes raised, in order, for
    /// the caller to send to the foreground process group.
    pub fn input(&mut self, buf: &[u8]) -> Result<(usize, Vec<Signal>), Errno> {
        let mut sigs = Vec::new();
        let mut n = 0;
        for &b in buf {
            if self.input_room() == 0 {
                break;
            }
            if let Some(s) = self.input_char(b) {
                sigs.push(s);
            }
            n += 1;
        }
        if n == 0 && !buf.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok((n, sigs))
    }

    /// One input character (n_tty_receive_char).
    pub fn input_char(&mut self, b: u8) -> Option<Signal> {
        let mut c = b;
        let canon = self.canon();
        if self.lnext {
            self.lnext = false;
            if canon && self.l(lflag::ECHO) {
                self.rub_out(b'^');
            }
            self.literal(c);
            return None;
        }
        if c == b'\r' {
            if self.i(iflag::IGNCR) {
                return None;
            }
            if self.i(iflag::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && self.i(iflag::INLCR) {
            c = b'\r';
        }
        if self.i(iflag::IXON) && (self.is_cc(c, cc::VSTART) || self.is_cc(c, cc::VSTOP)) {
            return None;
        }
        if self.l(lflag::ISIG) {
            let sig = if self.is_cc(c, cc::VINTR) {
                Some(Signal::SIGINT)
            } else if self.is_cc(c, cc::VQUIT) {
                Some(Signal::SIGQUIT)
            } else if self.is_cc(c, cc::VSUSP) {
                Some(Signal::SIGTSTP)
            } else {
                None
            };
            if let Some(s) = sig {
                if !self.l(lflag::NOFLSH) {
                    self.flush_input();
                    self.flush_output();
                }
                if self.l(lflag::ECHO) {
                    self.echo(c);
                }
                return Some(s);
            }
        }
        if canon {
            if self.is_cc(c, cc::VERASE) {
                self.erase(c, false, false);
                return None;
            }
            if self.is_cc(c, cc::VKILL) {
                self.erase(c, false, true);
                return None;
            }
            if self.l(lflag::IEXTEN) {
                if self.is_cc(c, cc::VWERASE) {
                    self.erase(c, true, false);
                    return None;
                }
                if self.is_cc(c, cc::VLNEXT) {
                    self.lnext = true;
                    if self.l(lflag::ECHO) && self.output_room() >= 2 {
                        self.out.extend(b"^\x08");
                    }
                    return None;
                }
            }
            if c == b'\n' || self.is_cc(c, cc::VEOL) || self.is_cc(c, cc::VEOL2) {
                if self.l(lflag::ECHO) || (c == b'\n' && self.l(lflag::ECHONL)) {
                    self.echo(c);
                }
                self.end_line(Some(c));
                return None;
            }
            if self.is_cc(c, cc::VEOF) {
                self.end_line(None);
                return None;
            }
        }
        self.literal(c);
        None
    }

    /// Stores `c` as data (echoing it).
    fn literal(&mut self, c: u8) {
        if self.canon() {
            if self.line.len() >= INPUT_CAP - 1 {
                return;
            }
            if self.l(lflag::ECHO) {
                self.echo(c);
            }
            self.line.push(c);
        } else {
            if self.l(lflag::ECHO) {
                self.echo(c);
            }
            self.cooked.push_back(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(l: &mut Ldisc, s: &[u8]) -> Vec<Signal> {
        l.input(s).map(|(_, s)| s).unwrap_or_default()
    }

    fn out(l: &mut Ldisc) -> Vec<u8> {
        let mut b = vec![0u8; 1024];
        let n = l.read_output(&mut b);
        b.truncate(n);
        b
    }

    fn rd(l: &mut Ldisc) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; 8192];
        let n = l.read(&mut b)?;
        b.truncate(n);
        Ok(b)
    }

    #[test]
    fn canonical_line_with_echo_and_erase() {
        let mut l = Ldisc::new();
        feed(&mut l, b"abx\x7fc");
        assert_eq!(rd(&mut l), Err(Errno::EAGAIN));
        feed(&mut l, b"\r");
        assert_eq!(rd(&mut l).unwrap(), b"abc\n");
        assert_eq!(out(&mut l), b"abx\x08 \x08c\r\n");
    }

    #[test]
    fn kill_word_erase_and_eof() {
        let mut l = Ldisc::new();
        feed(&mut l, b"one two\x17three\n");
        assert_eq!(rd(&mut l).unwrap(), b"one three\n");
        feed(&mut l, b"junk\x15ok\x04");
        assert_eq!(rd(&mut l).unwrap(), b"ok");
        feed(&mut l, b"\x04");
        assert_eq!(rd(&mut l).unwrap(), b"");
    }

    #[test]
    fn signals_flush_and_echo() {
        let mut l = Ldisc::new();
        let s = feed(&mut l, b"abc\x03");
        assert_eq!(s, vec![Signal::SIGINT]);
        assert_eq!(l.readable(), 0);
        assert_eq!(out(&mut l), b"^C");
        assert_eq!(
            feed(&mut l, b"\x1c\x1a"),
            vec![Signal::SIGQUIT, Signal::SIGTSTP]
        );
    }

    #[test]
    fn raw_mode_vmin() {
        let mut l = Ldisc::new();
        let mut t = l.termios;
        t.lflag &= !(lflag::ICANON | lflag::ECHO);
        t.cc[cc::VMIN] = 2;
        l.set_termios(t);
        feed(&mut l, b"a");
        assert_eq!(rd(&mut l), Err(Errno::EAGAIN));
        feed(&mut l, b"b");
        assert_eq!(rd(&mut l).unwrap(), b"ab");
        t.cc[cc::VMIN] = 0;
        l.set_termios(t);
        assert_eq!(rd(&mut l).unwrap(), b"");
    }

    #[test]
    fn onlcr_and_raw_output() {
        let mut l = Ldisc::new();
        l.write(b"a\nb").unwrap();
        assert_eq!(out(&mut l), b"a\r\nb");
        let mut t = l.termios;
        t.oflag &= !oflag::OPOST;
        l.set_termios(t);
        l.write(b"a\nb").unwrap();
        assert_eq!(out(&mut l), b"a\nb");
    }

    #[test]
    fn unread_lines_fill_the_queue() {
        let mut l = Ldisc::new();
        let line = [b'y'; 99];
        let mut total = 0;
        loop {
            match l.input(&line) {
                Ok((n, _)) => total += n,
                Err(e) => {
                    assert_eq!(e, Errno::EAGAIN);
                    break;
                }
            }
            if l.input(b"\n").is_err() {
                break;
            }
            total += 1;
            assert!(total <= INPUT_CAP + 100, "unbounded");
        }
        assert!(l.readable() <= INPUT_CAP);
        assert_eq!(l.input_room(), 0);
    }

    #[test]
    fn canonical_line_limit() {
        let mut l = Ldisc::new();
        let mut t = l.termios;
        t.lflag &= !lflag::ECHO;
        l.set_termios(t);
        let long = vec![b'x'; 5000];
        let mut fed = 0;
        while fed < long.len() {
            fed += l.input(&long[fed..]).unwrap().0;
        }
        feed(&mut l, b"\n");
        assert_eq!(rd(&mut l).unwrap().len(), 4096);
    }
}
