#!/usr/bin/env python3
"""End-to-end check of the console bridge (`rvisor do --console-socket`).

Listens on an AF_UNIX console socket, runs `rvisor do --console-socket S busybox sh -i`,
receives the host pty master over SCM_RIGHTS (as a containerd shim would), and drives the
shell through it: `echo` works, ^C interrupts a foreground `sleep 100` while the shell
survives, /dev/console reaches the console, ^Z stops one and `fg` resumes it, the window size set on the master reaches the
sandbox, and `exit 7` ends the run with status 7. Every wait is bounded; a failure prints what the terminal showed.

    RVISOR=target/release/rvisor python3 scripts/console-e2e.py
"""

import array
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time

RVISOR = os.environ.get("RVISOR", "target/release/rvisor")
SHELL = ["/bin/busybox", "sh", "-i"]
PROMPT = b"PTYE2E> "


def fail(msg, seen=b""):
    print(f"console-e2e: FAIL: {msg}", file=sys.stderr)
    if seen:
        print(f"console-e2e: terminal output so far: {seen!r}", file=sys.stderr)
    sys.exit(1)


class Term:
    def __init__(self, fd):
        self.fd = fd
        self.seen = b""

    def send(self, data):
        os.write(self.fd, data)

    def expect(self, needle, timeout=10.0):
        """Reads until `needle` shows up after what earlier expects consumed."""
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"timed out waiting for {needle!r}", self.seen)
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError as e:
                fail(f"reading the console: {e}", self.seen)
            if not chunk:
                fail(f"console closed while waiting for {needle!r}", self.seen)
            self.seen += chunk
        i = self.seen.index(needle) + len(needle)
        self.seen = self.seen[i:]


def receive_master(listener, proc):
    listener.settimeout(20)
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        proc.kill()
        fail("rvisor never connected to the console socket")
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_LEN(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    conn.close()
    if len(fds) != 1:
        fail(f"expected one fd over SCM_RIGHTS, got {len(fds)}")
    if msg != b"/dev/ptmx":
        fail(f"payload {msg!r}, expected b'/dev/ptmx' (runc's convention)")
    return fds[0]


def main():
    with tempfile.TemporaryDirectory(prefix="rvisor-console-") as d:
        path = os.path.join(d, "console.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        env = dict(os.environ, PS1=PROMPT.decode(), ENV="/dev/null")
        proc = subprocess.Popen(
            [RVISOR, "do", "--console-socket", path, *SHELL],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        try:
            master = receive_master(listener, proc)
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
            t = Term(master)
            t.expect(PROMPT, 20)
            # The shell's own line editing may echo differently; only the results matter.
            t.send(b"echo $((6*7))\r")
            t.expect(b"42")
            t.expect(PROMPT)
            t.send(b"tty; stty size\r")
            t.expect(b"/dev/pts/")
            t.expect(b"33 111")
            t.expect(PROMPT)
            # /dev/console is the console's slave, as runc makes it.
            t.send(b"echo via-$((2+3)) > /dev/console\r")
            t.expect(b"via-5")
            t.expect(PROMPT)
            t.send(b"sleep 100\r")
            time.sleep(1.0)
            t.send(b"\x03")
            t.expect(PROMPT, 10)
            # ^Z stops the foreground job (SIGTSTP), the shell takes the terminal back, `fg`
            # gives it to the job again and ^C ends it.
            t.send(b"sleep 100\r")
            time.sleep(1.0)
            t.send(b"\x1a")
            t.expect(PROMPT, 10)
            t.send(b"jobs\r")
            t.expect(b"sleep 100")
            t.expect(PROMPT)
            t.send(b"fg\r")
            time.sleep(1.0)
            t.send(b"\x03")
            t.expect(PROMPT, 10)
            t.send(b"echo alive-$((1+1))\r")
            t.expect(b"alive-2")
            t.expect(PROMPT)
            t.send(b"exit 7\r")
            try:
                status = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                fail("rvisor did not exit after `exit 7`", t.seen)
            if status != 7:
                fail(f"exit status {status}, expected 7", t.seen)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print("console-e2e: ok (echo, ttyname, window size, /dev/console, ^C and ^Z/fg of the foreground job, exit status)")


if __name__ == "__main__":
    main()
