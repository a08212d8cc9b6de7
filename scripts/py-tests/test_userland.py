"""Userland acceptance tests for rvisor: what ordinary Python programs do with processes,
threads, files, sockets, shared memory, locks and signals.

Run natively first, then in the sandbox (scripts/debian-tests.sh does both, over the host's
root and over the Debian root):

    python3 -B -m unittest -v test_userland          # from scripts/py-tests

Every test is self-contained (its files live in a fresh temporary directory, which honours
TMPDIR) and quick (well under a second, except the alarm test, which waits one second).
Forked children always leave through os._exit, so a failing child can never run the rest of
the suite a second time; a child reports failure through its exit status.
"""

import errno
import fcntl
import hashlib
import json
import mmap
import multiprocessing
import os
import queue
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

# Long enough for a slow sandbox, short enough that a hang fails the suite in reasonable time.
WAIT = 10.0


def fork_call(fn):
    """Runs fn() in a forked child; returns the child's pid. The child exits 0 if fn returns,
    1 if it raises (printing the traceback to stderr)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait_ok(test, pid):
    """Reaps pid and asserts it exited with status 0."""
    _, status = os.waitpid(pid, 0)
    test.assertTrue(os.WIFEXITED(status), f"child status {status:#x}")
    test.assertEqual(os.WEXITSTATUS(status), 0, "child failed (traceback above)")


class TmpDirTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="rvisor-py-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)


class SubprocessTests(TmpDirTest):
    def test_exit_status_and_output(self):
        r = subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 3"],
                           capture_output=True, timeout=WAIT)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, b"out\n")
        self.assertEqual(r.stderr, b"err\n")

    def test_large_stdin_stdout_roundtrip(self):
        # 2 MiB through cat and back: more than a pipe holds, so both sides must interleave.
        data = os.urandom(2 << 20)
        r = subprocess.run(["cat"], input=data, capture_output=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), hashlib.sha256(data).hexdigest())

    def test_env_and_cwd(self):
        r = subprocess.run(["sh", "-c", 'pwd; echo "$RVISOR_PY_VAR"'], cwd=self.dir,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                "RVISOR_PY_VAR": "v42"},
                           capture_output=True, timeout=WAIT)
        self.assertEqual(r.stdout.decode().split("\n")[:2],
                         [os.path.realpath(self.dir), "v42"])

    def test_pipeline_of_processes(self):
        p1 = subprocess.Popen(["printf", "c\\nb\\na\\n"], stdout=subprocess.PIPE)
        p2 = subprocess.Popen(["sort"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        out, _ = p2.communicate(timeout=WAIT)
        self.assertEqual(p1.wait(timeout=WAIT), 0)
        self.assertEqual(p2.returncode, 0)
        self.assertEqual(out, b"a\nb\nc\n")

    def test_killed_child_reports_signal(self):
        p = subprocess.Popen(["sleep", "30"])
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT), -signal.SIGTERM)


    def test_pass_fds_and_cloexec(self):
        r, w = os.pipe()  # non-inheritable (O_CLOEXEC) by default
        r2, w2 = os.pipe()
        code = "import os; os.write(%d, b'via pass_fds')" % w
        res = subprocess.run([sys.executable, "-c", code], pass_fds=[w], timeout=WAIT)
        self.assertEqual(res.returncode, 0)
        self.assertEqual(os.read(r, 100), b"via pass_fds")
        # w2 was not passed: the child cannot write to it (EBADF).
        code = "import os\ntry:\n os.write(%d, b'x')\nexcept OSError as e:\n print(e.errno)" % w2
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=WAIT)
        self.assertEqual(res.stdout.strip(), str(errno.EBADF).encode())
        for fd in (r, w, r2, w2):
            os.close(fd)

    def test_fork_exec_exit_status(self):
        pid = os.fork()
        if pid == 0:
            try:
                os.execv("/bin/sh", ["sh", "-c", "exit 5"])
            finally:
                os._exit(127)
        _, status = os.waitpid(pid, 0)
        self.assertTrue(os.WIFEXITED(status))
        self.assertEqual(os.WEXITSTATUS(status), 5)


def _square(x):
    return x * x


class MultiprocessingTests(unittest.TestCase):
    def test_pool_map(self):
        # Pool uses semaphores (sem_open: /dev/shm) and pipes between the processes.
        with multiprocessing.get_context("fork").Pool(2) as pool:
            self.assertEqual(pool.map(_square, range(20)), [x * x for x in range(20)])

    def test_proc_self(self):
        fd = os.open(sys.executable, os.O_RDONLY)
        try:
            self.assertEqual(os.readlink("/proc/self/fd/%d" % fd), os.path.realpath(sys.executable))
            self.assertEqual(os.path.realpath("/proc/self/exe"), os.path.realpath(sys.executable))
            with open("/proc/self/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            self.assertEqual(int(fields["Pid"]), os.getpid())
            self.assertEqual(int(fields["PPid"]), os.getppid())
        finally:
            os.close(fd)


class ThreadTests(unittest.TestCase):
    def test_lock_protected_counter(self):
        count = 0
        lock = threading.Lock()

        def work():
            nonlocal count
            for _ in range(2000):
                with lock:
                    count += 1

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        self.assertEqual(count, 16000)

    def test_producer_consumer_queue(self):
        q = queue.Queue(maxsize=4)
        got = []

        def consume():
            while (item := q.get(timeout=WAIT)) is not None:
                got.append(item)

        c = threading.Thread(target=consume)
        c.start()
        for i in range(200):
            q.put(i, timeout=WAIT)
        q.put(None)
        c.join(WAIT)
        self.assertFalse(c.is_alive())
        self.assertEqual(got, list(range(200)))

    def test_event_wait_times_out(self):
        ev = threading.Event()
        t0 = time.monotonic()
        self.assertFalse(ev.wait(0.05))
        self.assertGreaterEqual(time.monotonic() - t0, 0.045)
        threading.Timer(0.01, ev.set).start()
        self.assertTrue(ev.wait(WAIT))

    def test_thread_ids_and_barrier(self):
        ids = set()
        barrier = threading.Barrier(4, timeout=WAIT)

        def work():
            ids.add(threading.get_native_id())
            barrier.wait()

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        barrier.wait()
        for t in threads:
            t.join(WAIT)
        self.assertEqual(len(ids), 3)
        self.assertNotIn(os.getpid(), ids)


class FileTests(TmpDirTest):
    def test_named_temporary_file(self):
        with tempfile.NamedTemporaryFile(dir=self.dir) as f:
            f.write(b"hello world")
            f.flush()
            self.assertTrue(os.path.exists(f.name))
            f.seek(6)
            self.assertEqual(f.read(), b"world")
            with open(f.name, "rb") as g:
                self.assertEqual(g.read(), b"hello world")
            name = f.name
        self.assertFalse(os.path.exists(name))

    def test_tree_walk_rename_remove(self):
        os.makedirs(self.path("a/b/c"))
        for rel in ("a/x", "a/b/y", "a/b/c/z"):
            with open(self.path(rel), "w") as f:
                f.write(rel)
        os.rename(self.path("a/b"), self.path("a/d"))
        found = sorted(os.path.relpath(os.path.join(r, n), self.dir)
                       for r, _, names in os.walk(self.path("a")) for n in names)
        self.assertEqual(found, ["a/d/c/z", "a/d/y", "a/x"])
        with self.assertRaises(OSError) as cm:
            os.rmdir(self.path("a"))
        self.assertEqual(cm.exception.errno, errno.ENOTEMPTY)

    def test_json_hashlib_file(self):
        doc = {"n": list(range(100)), "s": "\u00e9t\u00e9", "nested": {"t": True}}
        with open(self.path("d.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f)
        with open(self.path("d.json"), "rb") as f:
            raw = f.read()
        self.assertEqual(json.loads(raw), doc)
        self.assertEqual(hashlib.md5(raw).hexdigest(), hashlib.md5(json.dumps(doc).encode()).hexdigest())

    def test_sqlite3_file_database(self):
        # sqlite takes POSIX (fcntl) locks on its file.
        db = sqlite3.connect(self.path("t.db"))
        db.execute("create table t (k integer primary key, v text)")
        db.executemany("insert into t values (?, ?)", [(i, str(i * i)) for i in range(500)])
        db.commit()
        db.close()
        db = sqlite3.connect(self.path("t.db"))
        self.assertEqual(db.execute("select count(*), sum(k) from t").fetchone(), (500, 124750))
        self.assertEqual(db.execute("select v from t where k = 12").fetchone(), ("144",))
        db.close()


class SocketTests(TmpDirTest):
    def test_socketpair_stream(self):
        a, b = socket.socketpair()
        with a, b:
            a.sendall(b"ping")
            self.assertEqual(b.recv(10), b"ping")
            b.sendall(b"pong")
            self.assertEqual(a.recv(10), b"pong")
            a.shutdown(socket.SHUT_WR)
            self.assertEqual(b.recv(10), b"")

    def test_socketpair_dgram_keeps_boundaries(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with a, b:
            for m in (b"one", b"two2", b"three"):
                a.send(m)
            self.assertEqual([b.recv(100) for _ in range(3)], [b"one", b"two2", b"three"])

    def test_unix_server_several_clients(self):
        addr = self.path("srv.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(addr)
        srv.listen(8)
        srv.settimeout(WAIT)
        nclients = 6

        def serve_one(conn):
            with conn:
                f = conn.makefile("rb")
                line = f.readline()
                conn.sendall(line.upper())

        def server():
            handlers = []
            for _ in range(nclients):
                conn, _ = srv.accept()
                t = threading.Thread(target=serve_one, args=(conn,))
                t.start()
                handlers.append(t)
            for t in handlers:
                t.join(WAIT)

        replies = {}

        def client(i):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(WAIT)
                c.connect(addr)
                c.sendall(b"hello %d\n" % i)
                data = b""
                while chunk := c.recv(100):
                    data += chunk
                replies[i] = data

        st = threading.Thread(target=server)
        st.start()
        clients = [threading.Thread(target=client, args=(i,)) for i in range(nclients)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(WAIT)
        st.join(WAIT)
        srv.close()
        self.assertEqual(replies, {i: b"HELLO %d\n" % i for i in range(nclients)})

    def test_send_fds_pipe(self):
        a, b = socket.socketpair()
        r, w = os.pipe()
        with a, b:
            socket.send_fds(a, [b"fd"], [r])
            msg, fds, _, _ = socket.recv_fds(b, 10, 4)
            self.assertEqual(msg, b"fd")
            self.assertEqual(len(fds), 1)
            self.assertNotEqual(fds[0], r)
            os.write(w, b"through the passed fd")
            self.assertEqual(os.read(fds[0], 100), b"through the passed fd")
            for fd in (r, w, fds[0]):
                os.close(fd)

    def test_send_fds_to_another_process(self):
        # The parent opens a file the child never names and passes the fd; the child writes
        # through it at the shared offset.
        a, b = socket.socketpair()
        fd = os.open(self.path("passed"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"parent;")

        def child():
            a.close()
            _, fds, _, _ = socket.recv_fds(b, 10, 1)
            os.write(fds[0], b"child")

        pid = fork_call(child)
        b.close()
        socket.send_fds(a, [b"x"], [fd])
        a.close()
        wait_ok(self, pid)
        os.lseek(fd, 0, os.SEEK_SET)
        self.assertEqual(os.read(fd, 100), b"parent;child")
        os.close(fd)

    def test_selector_readiness(self):
        a, b = socket.socketpair()
        with a, b, selectors.DefaultSelector() as sel:
            sel.register(b, selectors.EVENT_READ)
            self.assertEqual(sel.select(0), [])
            a.send(b"x")
            ready = sel.select(WAIT)
            self.assertEqual([(k.fileobj, ev) for k, ev in ready], [(b, selectors.EVENT_READ)])


class MmapTests(TmpDirTest):
    def test_shared_anonymous_mapping_across_fork(self):
        m = mmap.mmap(-1, 8192, flags=mmap.MAP_SHARED)

        def child():
            m[4096:4101] = b"child"

        wait_ok(self, fork_call(child))
        self.assertEqual(m[4096:4101], b"child")
        m.close()

    def test_shared_file_mapping_two_processes(self):
        size = 3 * mmap.PAGESIZE
        with open(self.path("shared"), "wb") as f:
            f.truncate(size)
        fd = os.open(self.path("shared"), os.O_RDWR)
        m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        m[0:6] = b"parent"
        r, w = os.pipe()

        def child():
            os.close(r)
            cfd = os.open(self.path("shared"), os.O_RDWR)
            cm = mmap.mmap(cfd, size, flags=mmap.MAP_SHARED)
            if cm[0:6] != b"parent":
                raise AssertionError(f"child saw {cm[0:6]!r}")
            cm[2 * mmap.PAGESIZE:2 * mmap.PAGESIZE + 5] = b"child"
            os.write(w, b"1")

        pid = fork_call(child)
        os.close(w)
        self.assertEqual(os.read(r, 1), b"1")
        os.close(r)
        wait_ok(self, pid)
        off = 2 * mmap.PAGESIZE
        self.assertEqual(m[off:off + 5], b"child")
        self.assertEqual(os.pread(fd, 5, off), b"child")
        m.close()
        os.close(fd)

    def test_private_mapping_is_copy_on_write(self):
        m = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)
        m[0:6] = b"before"

        def child():
            m[0:6] = b"childw"

        wait_ok(self, fork_call(child))
        self.assertEqual(m[0:6], b"before")
        m.close()


class LockTests(TmpDirTest):
    """Advisory locks between processes (flock(2) and fcntl(2) record locks)."""

    def _fd(self):
        fd = os.open(self.path("lockfile"), os.O_RDWR | os.O_CREAT, 0o600)
        os.write(fd, b"\0" * 100)
        return fd

    def test_flock_excludes_another_process(self):
        fd = self._fd()
        fcntl.flock(fd, fcntl.LOCK_EX)

        def child():
            cfd = os.open(self.path("lockfile"), os.O_RDWR)
            try:
                fcntl.flock(cfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                raise AssertionError("second exclusive flock succeeded")

        wait_ok(self, fork_call(child))
        fcntl.flock(fd, fcntl.LOCK_UN)

        def child2():
            cfd = os.open(self.path("lockfile"), os.O_RDWR)
            fcntl.flock(cfd, fcntl.LOCK_EX | fcntl.LOCK_NB)

        wait_ok(self, fork_call(child2))
        os.close(fd)

    def test_lockf_record_lock_conflict(self):
        fd = self._fd()
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)  # bytes 0..9

        def child():
            cfd = os.open(self.path("lockfile"), os.O_RDWR)
            try:
                fcntl.lockf(cfd, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 5)
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
            else:
                raise AssertionError("overlapping record lock succeeded")
            # A range that does not overlap is free.
            fcntl.lockf(cfd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 10)

        wait_ok(self, fork_call(child))
        os.close(fd)

    def test_lockf_waiter_wakes_on_unlock(self):
        fd = self._fd()
        fcntl.lockf(fd, fcntl.LOCK_EX)
        r, w = os.pipe()

        def child():
            os.close(r)
            cfd = os.open(self.path("lockfile"), os.O_RDWR)
            os.write(w, b"w")
            fcntl.lockf(cfd, fcntl.LOCK_EX)  # blocks until the parent unlocks
            os.write(w, b"g")

        pid = fork_call(child)
        os.close(w)
        self.assertEqual(os.read(r, 1), b"w")
        sel = selectors.DefaultSelector()
        sel.register(r, selectors.EVENT_READ)
        self.assertEqual(sel.select(0.2), [], "child got the lock while the parent held it")
        fcntl.lockf(fd, fcntl.LOCK_UN)
        self.assertTrue(sel.select(WAIT), "child never got the lock")
        self.assertEqual(os.read(r, 1), b"g")
        sel.close()
        os.close(r)
        wait_ok(self, pid)
        os.close(fd)


class SignalTests(unittest.TestCase):
    def setUp(self):
        self._saved = {s: signal.getsignal(s)
                       for s in (signal.SIGUSR1, signal.SIGALRM, signal.SIGCHLD)}

    def tearDown(self):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.alarm(0)
        for s, h in self._saved.items():
            signal.signal(s, h)

    def test_handler_runs_on_kill(self):
        got = []
        signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
        os.kill(os.getpid(), signal.SIGUSR1)
        self.assertEqual(got, [signal.SIGUSR1])

    def test_alarm_interrupts_sleep(self):
        got = []
        signal.signal(signal.SIGALRM, lambda s, f: got.append(time.monotonic()))
        t0 = time.monotonic()
        signal.alarm(1)
        while not got and time.monotonic() - t0 < WAIT:
            signal.pause() if hasattr(signal, "pause") else time.sleep(0.01)
        self.assertEqual(len(got), 1)
        self.assertGreaterEqual(got[0] - t0, 0.9)

    def test_setitimer_repeats(self):
        got = []
        signal.signal(signal.SIGALRM, lambda s, f: got.append(s))
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        t0 = time.monotonic()
        while len(got) < 3 and time.monotonic() - t0 < WAIT:
            time.sleep(0.005)
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.assertGreaterEqual(len(got), 3)

    def test_sigchld_and_kill_child(self):
        got = []
        signal.signal(signal.SIGCHLD, lambda s, f: got.append(s))
        pid = os.fork()
        if pid == 0:
            try:
                while True:
                    signal.pause()
            finally:
                os._exit(7)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        self.assertTrue(os.WIFSIGNALED(status), f"status {status:#x}")
        self.assertEqual(os.WTERMSIG(status), signal.SIGTERM)
        t0 = time.monotonic()
        while not got and time.monotonic() - t0 < WAIT:
            time.sleep(0.005)
        self.assertIn(signal.SIGCHLD, got)

    def test_blocked_signal_is_pending_then_delivered(self):
        got = []
        signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            self.assertEqual(got, [])
            self.assertIn(signal.SIGUSR1, signal.sigpending())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
        self.assertEqual(got, [signal.SIGUSR1])


class PipeTests(unittest.TestCase):
    def test_pipe_between_processes_large(self):
        r, w = os.pipe()
        data = bytes(range(256)) * (16 << 10)  # 4 MiB

        def child():
            os.close(r)
            view = memoryview(data)
            while view:
                n = os.write(w, view)
                view = view[n:]

        pid = fork_call(child)
        os.close(w)
        h = hashlib.sha256()
        total = 0
        while chunk := os.read(r, 1 << 16):
            h.update(chunk)
            total += len(chunk)
        os.close(r)
        wait_ok(self, pid)
        self.assertEqual(total, len(data))
        self.assertEqual(h.hexdigest(), hashlib.sha256(data).hexdigest())

    def test_nonblocking_pipe_eagain(self):
        r, w = os.pipe()
        os.set_blocking(r, False)
        with self.assertRaises(BlockingIOError):
            os.read(r, 1)
        os.write(w, b"z")
        self.assertEqual(os.read(r, 1), b"z")
        os.close(r)
        os.close(w)


if __name__ == "__main__":
    unittest.main()
