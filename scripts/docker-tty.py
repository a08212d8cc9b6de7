#!/usr/bin/env python3
"""Drives an interactive shell through a pty, as a user at a terminal would:
`docker-tty.py CMD...` runs CMD (e.g. `docker run -it IMG sh`) on a new pty, waits for a
prompt, runs `echo`, starts `sleep 100` and interrupts it with ^C (the shell must survive and
run the next command), then exits with status 3. Exit 0 when all of it happened, else 1 with
the transcript."""
import os
import pty
import select
import sys
import time

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])

out = b""


def read_until(token, timeout):
    global out
    end = time.time() + timeout
    while time.time() < end:
        if token is not None and token in out:
            return True
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return token is None
            if not data:
                return token is None
            out += data
    return token is not None and token in out


def fail(why):
    sys.stderr.write(f"{why}\ntranscript: {out!r}\n")
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    sys.exit(1)


if not read_until(b"# ", 30):
    fail("no prompt")
os.write(fd, b"echo hi-$((1+2))\r")
if not read_until(b"hi-3", 10):
    fail("echo did not run")
os.write(fd, b"sleep 100; echo NOT-$((1+1))\r")
time.sleep(1.0)
os.write(fd, b"\x03")
time.sleep(0.5)
os.write(fd, b"echo after-$((2+2))\r")
if not read_until(b"after-4", 10):
    fail("the shell did not come back after ^C")
if b"NOT-2" in out:
    fail("^C did not interrupt sleep")
os.write(fd, b"exit 3\r")
read_until(None, 10)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code != 3:
    fail(f"exit status {code}, expected 3")
sys.exit(0)
