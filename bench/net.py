#!/usr/bin/python3
"""bench/net.py — the network workloads of the benchmark, driven by bench/driver.py (which calls
prepare() once, run() once per round, workload and runtime, and close() at the end).

  tcp_loopback  MB/s   `workloads tcp_loopback MIB` run by the runtime like the other C
                       workloads (server and client in ONE sandbox, over 127.0.0.1)
  tcp_bridge    MB/s   the server `workloads tcp_recv 5201` in a container on a Docker bridge;
                       the host sends MIB MiB to the container's address (`workloads tcp_send`)
  nginx_wrk     req/s  nginx serving a 1 KiB page in a container published on 127.0.0.1:28080;
                       the host runs `wrk -t2 -c32 -d5s` against it
  redis_set,    req/s  redis-server in a container published on 127.0.0.1:26379; the host runs
  redis_get            `redis-benchmark -t set,get -q -n N` once: one run gives both rows

tcp_bridge, nginx_wrk and redis run their server under Docker for runc, runsc and rvisor-ptrace:
a private dockerd (socket /run/rvisor-bench-dockerd.sock, exec-root /run/rvisor-bench-dockerd,
data-root /var/tmp/rvisor-bench/dockerd-data, no default bridge: its own bridge network
`rvisor-bench` on the Linux bridge rvbench0, 172.31.251.0/24), so it shares nothing with
scripts/docker-tests.sh (/run/rvisor-dockerd.sock, docker0) and either can run after the other.
It is started by prepare() and stopped by close(); its image store is kept between runs.
Runtimes: Docker's runc, `runsc --network=host` (Debian's runsc 20221219 refuses its own
netstack on this kernel: it takes any netns for the root one, because
/proc/sys/net/core/rmem_default is now per-namespace; --network=host is gVisor's host network
inside the container's netns) and rvisor (`rvisor install` into the daemon's config). The image
is imported (`docker import`, no registry) from a tarball built here: busybox, the static
workloads binary, the host's nginx and redis-server with their shared libraries (ldd) and a
minimal config; its tag is the hash of that tarball, so it is imported once per change.
"native" runs the same servers directly on the host, on other 127.0.0.1 ports (28081, 26380,
25201), with the same client.

A container is started per run (`docker run -d`, not timed), the driver waits until its server
answers (an HTTP GET, a redis PING, an empty tcp_recv exchange; through the published port for
nginx and redis, i.e. docker-proxy), then runs the client, then `docker rm -f`. A server that
never answers within the ready timeout (5 s quick, 15 s full) is an error of that run, not an
abort. Cells that cannot run at all (no dockerd, no wrk...) are skips with a reason.
Sizes: 1 GiB per TCP run (at a few GB/s a shorter one is mostly slow start and noise),
wrk for 5 s, redis-benchmark -n 50000 (default 50 clients);
--quick: 8 MiB, 1 s, 2000.
"""
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time

NET_WORKLOADS = ["tcp_loopback", "tcp_bridge", "nginx_wrk", "redis"]
# Workloads whose one run gives several rows of the table.
ROWS = {"redis": ["redis_set", "redis_get"]}
UNITS = {"tcp_loopback": "MB/s", "tcp_bridge": "MB/s", "nginx_wrk": "req/s",
         "redis_set": "req/s", "redis_get": "req/s"}
DOCKER_WORKLOADS = ["tcp_bridge", "nginx_wrk", "redis"]
# driver runtime name -> Docker runtime name.
DOCKER_RUNTIMES = {"runc": "runc", "runsc": "runsc-bench", "rvisor-ptrace": "rvisor"}
RUNSC_DOCKER_ARGS = ["--network=host"]

SOCK = "/run/rvisor-bench-dockerd.sock"
EXEC_ROOT = "/run/rvisor-bench-dockerd"
NETWORK, BRIDGE, SUBNET = "rvisor-bench", "rvbench0", "172.31.251.0/24"
IMAGE = "rvisor-bench/net"
CONTAINER_PREFIX = "rvisor-bench-net-"
# Ports: in the container, published on the host (127.0.0.1), and of the native servers.
TCP_PORT, NATIVE_TCP_PORT = 5201, 25201
NGINX_HOST_PORT, NATIVE_NGINX_PORT = 28080, 28081
REDIS_HOST_PORT, NATIVE_REDIS_PORT = 26379, 26380

PAGE = ("<!doctype html><title>rvisor bench</title>\n<p>"
        + "a small static page for the nginx workload. " * 22 + "</p>\n")


def rows_of(workload):
    return ROWS.get(workload, [workload])


class Unavailable(Exception):
    """A workload x runtime cell that cannot run on this machine; the message says why."""


def nginx_conf(listen, root, tmp, pid):
    """One nginx configuration for the host and the image: one worker, no access log, a static
    root, temporary files under `tmp` (which must exist: nginx creates only the last level)."""
    return f"""user nobody nogroup;
worker_processes 1;
daemon off;
pid {pid};
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/html;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {listen};
        root {root};
    }}
}}
"""


def redis_args(bind, port, data_dir):
    return ["--bind", bind, "--port", str(port), "--protected-mode", "no", "--save", "",
            "--appendonly", "no", "--dir", data_dir, "--logfile", ""]


# --- readiness probes: True once the server answers properly ----------------------------------

def _exchange(host, port, payload, want_prefix, shut_wr=False):
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall(payload)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
            data = b""
            while len(data) < len(want_prefix):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            return data.startswith(want_prefix)
    except OSError:
        return False


def http_ready(host, port):
    return _exchange(host, port, b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n", b"HTTP/1.1 200")


def redis_ready(host, port):
    return _exchange(host, port, b"PING\r\n", b"+PONG")


def tcp_recv_ready(host, port):
    # tcp_recv answers an empty connection with its byte count, "0\n".
    return _exchange(host, port, b"", b"0\n", shut_wr=True)


# --- client output ---------------------------------------------------------------------------

def parse_number(out):
    """The one positive, finite number a workload printed (the C workloads' ns per operation,
    tcp_loopback's and tcp_send's MB/s), or (None, why not)."""
    try:
        value = float(out.strip())
    except ValueError:
        return None, f"printed no number: {out.strip()[:80]!r}"
    if not value > 0 or value == float("inf"):
        return None, f"printed a nonsense number: {value}"
    return value, None


def parse_wrk(out):
    m = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    if not m:
        return None, f"wrk printed no Requests/sec: {out.strip()[-120:]!r}"
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if bad:
        return None, f"wrk saw {bad.group(1)} non-2xx responses"
    total = re.search(r"(\d+) requests in", out)
    if not total or int(total.group(1)) == 0 or float(m.group(1)) <= 0:
        return None, f"wrk completed no request: {out.strip()[-120:]!r}"
    return float(m.group(1)), None


def parse_redis_benchmark(out):
    # -q prints progress lines ending in \r and one final line per test.
    found = {}
    for line in re.split(r"[\r\n]+", out):
        m = re.match(r"\s*(SET|GET): ([0-9.]+) requests per second", line)
        if m:
            found["redis_" + m.group(1).lower()] = float(m.group(2))
    missing = [r for r in ROWS["redis"] if not found.get(r)]
    if missing:
        return None, f"redis-benchmark gave no figure for {missing}: {out.strip()[-120:]!r}"
    return found, None


# --- the image ---------------------------------------------------------------------------------

def shared_libs(exe):
    """The shared libraries `exe` loads, with the dynamic loader, as ldd lists them."""
    out = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def build_image_tar(bin_path, nginx, redis):
    """The image's root as a deterministic tarball (sorted, mtime 0, root-owned), in memory."""
    files = {}  # path in the image -> (host file or None, bytes or None, mode)

    def add_file(dst, src=None, data=None, mode=0o755):
        files[dst] = (src, data, mode)

    add_file("bin/busybox", "/bin/busybox")
    add_file("bench/workloads", bin_path)
    for exe, dst in ((nginx, "usr/sbin/nginx"), (redis, "usr/bin/redis-server")):
        add_file(dst, exe)
        for lib in shared_libs(exe):
            add_file(lib.lstrip("/"), lib)
    add_file("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
             b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", mode=0o644)
    add_file("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n", mode=0o644)
    add_file("srv/nginx/nginx.conf", data=nginx_conf(80, "/srv/nginx/www", "/tmp",
                                                     "/tmp/nginx.pid").encode(), mode=0o644)
    add_file("srv/nginx/www/index.html", data=PAGE.encode(), mode=0o644)

    dirs = {"tmp", "root"}
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def info(name, kind, mode, size=0):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.size, ti.mtime = kind, mode, size, 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti

        for d in sorted(dirs):
            tar.addfile(info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755))
        for applet in ("sh", "cat", "ls", "sleep"):
            ti = info(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
            ti.linkname = "busybox"
            tar.addfile(ti)
        for path in sorted(files):
            src, data, mode = files[path]
            if data is None:
                with open(src, "rb") as f:
                    data = f.read()
            tar.addfile(info(path, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
    return buf.getvalue()


# --- dockerd -----------------------------------------------------------------------------------

class Dockerd:
    """The private dockerd: started once, stopped at the end; its data-root is kept."""

    def __init__(self, work, logf, rvisor):
        self.dir = os.path.join(work, "dockerd")
        self.data_root = os.path.join(work, "dockerd-data")
        self.logf, self.rvisor = logf, rvisor
        self.proc = None
        self.docker = shutil.which("docker")
        # Runtime name -> why Docker cannot use it (e.g. `rvisor install` failed).
        self.runtime_problems = {}

    def cmd(self, *args, timeout=120, check=False):
        argv = [self.docker, "-H", f"unix://{SOCK}"] + list(args)
        self.logf.write(f"$ {' '.join(argv)}\n")
        self.logf.flush()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"docker {args[0]} timed out after {timeout} s") from None
        if r.stderr:
            self.logf.write(r.stderr if r.stderr.endswith("\n") else r.stderr + "\n")
        if check and r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["no stderr"])[-1]
            raise Unavailable(f"docker {args[0]} failed: {last}")
        return r

    def _stop_stale(self):
        # A dockerd of an earlier, interrupted run: only ours (its pidfile, our socket).
        try:
            with open(os.path.join(EXEC_ROOT, "dockerd.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if SOCK.encode() not in f.read():
                    return
        except (OSError, ValueError):
            return
        self.logf.write(f"stopping the dockerd of an earlier run, pid {pid}\n")
        self._terminate(pid)

    @staticmethod
    def _terminate(pid, wait_s=20):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def start(self, docker_runtimes):
        if not shutil.which("dockerd") or not self.docker:
            raise Unavailable("dockerd or docker is not installed (apt-get install docker.io)")
        self._stop_stale()
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(EXEC_ROOT, exist_ok=True)
        config = os.path.join(self.dir, "daemon.json")
        runtimes = {}
        if "runsc" in docker_runtimes:
            runsc = shutil.which("runsc")
            if runsc:
                runtimes[DOCKER_RUNTIMES["runsc"]] = {"path": runsc,
                                                      "runtimeArgs": RUNSC_DOCKER_ARGS}
            else:
                self.runtime_problems["runsc"] = "runsc is not installed"
        with open(config, "w") as f:
            json.dump({"log-level": "warn", "bridge": "none", "runtimes": runtimes}, f,
                      indent=2)
        if "rvisor-ptrace" in docker_runtimes:
            r = subprocess.run([self.rvisor, "install", "--config", config,
                                "--runtime", DOCKER_RUNTIMES["rvisor-ptrace"]],
                               capture_output=True, text=True)
            if r.returncode != 0:
                self.runtime_problems["rvisor-ptrace"] = (
                    f"rvisor install failed: {r.stderr.strip()[-200:]}")
        log = open(os.path.join(self.dir, "dockerd.log"), "w")
        argv = ["dockerd", "--config-file", config, "--data-root", self.data_root,
                "--exec-root", EXEC_ROOT, "-H", f"unix://{SOCK}",
                "--pidfile", os.path.join(EXEC_ROOT, "dockerd.pid")]
        self.logf.write(f"$ {' '.join(argv)}\n")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.cmd("version", timeout=10).returncode == 0:
                break
            time.sleep(0.3)
        else:
            self.close()
            raise Unavailable("dockerd did not answer within 60 s (see dockerd/dockerd.log)")
        if self.proc.poll() is not None:
            with open(os.path.join(self.dir, "dockerd.log")) as f:
                tail = f.read().strip().splitlines()[-1:] or ["no output"]
            self.proc = None
            raise Unavailable(f"dockerd exited: {tail[0][-200:]}")
        # Containers of an interrupted earlier run.
        stale = self.cmd("ps", "-aq", "--filter", f"name=^{CONTAINER_PREFIX}").stdout.split()
        if stale:
            self.cmd("rm", "-f", *stale)
        if self.cmd("network", "inspect", NETWORK).returncode != 0:
            self.cmd("network", "create", "--driver", "bridge", "--subnet", SUBNET,
                     "-o", f"com.docker.network.bridge.name={BRIDGE}", NETWORK, check=True)

    def ensure_image(self, tar_bytes):
        tag = f"{IMAGE}:{hashlib.sha256(tar_bytes).hexdigest()[:16]}"
        if self.cmd("image", "inspect", tag).returncode != 0:
            path = os.path.join(self.dir, "image.tar")
            with open(path, "wb") as f:
                f.write(tar_bytes)
            self.cmd("import", "-c", "ENV PATH=/bin:/usr/bin:/usr/sbin", path, tag,
                     timeout=300, check=True)
            os.unlink(path)
        # Older builds of the image: not needed any more.
        old = self.cmd("images", IMAGE, "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        for other in old:
            if other != tag:
                self.cmd("rmi", other)
        return tag

    def close(self):
        if self.proc is None:
            return
        try:
            ours = self.cmd("ps", "-aq", "--filter", f"name=^{CONTAINER_PREFIX}",
                            timeout=30).stdout.split()
            if ours:
                self.cmd("rm", "-f", *ours, timeout=60)
        except Unavailable:
            pass
        self._terminate(self.proc.pid)
        self.proc.wait()
        self.proc = None


# --- the workloads -----------------------------------------------------------------------------

class NetWorkloads:
    def __init__(self, runner, args):
        self.runner, self.args = runner, args
        self.logf = runner.logf
        self.quick = args.quick
        self.mib = 8 if args.quick else 1024
        self.wrk_seconds = 1 if args.quick else 5
        self.redis_requests = 2000 if args.quick else 50000
        self.ready_timeout = 5.0 if args.quick else 15.0
        self.native_dir = os.path.join(args.work, "net-native")
        self.dockerd = None
        self.image = None
        self.tools = {}
        self.seq = 0

    # prepare() returns {(workload, runtime): reason} for the cells that cannot run.
    def prepare(self, workloads, runtimes):
        skips = {}
        wanted = [w for w in workloads if w in NET_WORKLOADS]
        if not wanted:
            return skips
        for tool, package in (("wrk", "wrk"), ("nginx", "nginx-light"),
                              ("redis-server", "redis-server"),
                              ("redis-benchmark", "redis-tools")):
            self.tools[tool] = shutil.which(tool) or shutil.which(tool, path="/usr/sbin")
        needs = {"nginx_wrk": ("wrk", "nginx"), "redis": ("redis-server", "redis-benchmark")}
        for w in wanted:
            for tool in needs.get(w, ()):
                if not self.tools[tool]:
                    for rt in runtimes:
                        skips.setdefault((w, rt), f"{tool} is not installed")
        docker_cells = [(w, rt) for w in wanted if w in DOCKER_WORKLOADS
                        for rt in runtimes if rt in DOCKER_RUNTIMES and (w, rt) not in skips]
        if docker_cells:
            try:
                self.dockerd = Dockerd(self.args.work, self.logf, self.args.rvisor)
                self.dockerd.start({rt for _, rt in docker_cells})
                if not (self.tools["nginx"] and self.tools["redis-server"]):
                    raise Unavailable("the image needs nginx and redis-server on the host")
                self.image = self.dockerd.ensure_image(
                    build_image_tar(self.args.bin, self.tools["nginx"],
                                    self.tools["redis-server"]))
            except (Unavailable, OSError, subprocess.CalledProcessError) as e:
                if self.dockerd:
                    self.dockerd.close()
                self.dockerd = None
                for cell in docker_cells:
                    skips[cell] = f"no Docker: {e}"
        if "nginx_wrk" in wanted and "native" in runtimes and ("nginx_wrk", "native") not in skips:
            www = os.path.join(self.native_dir, "nginx/www")
            os.makedirs(www, exist_ok=True)
            os.makedirs(os.path.join(self.native_dir, "nginx/tmp"), exist_ok=True)
            with open(os.path.join(www, "index.html"), "w") as f:
                f.write(PAGE)
            with open(os.path.join(self.native_dir, "nginx/nginx.conf"), "w") as f:
                f.write(nginx_conf(f"127.0.0.1:{NATIVE_NGINX_PORT}", www,
                                   os.path.join(self.native_dir, "nginx/tmp"),
                                   os.path.join(self.native_dir, "nginx/nginx.pid")))
        if "redis" in wanted:
            os.makedirs(os.path.join(self.native_dir, "redis"), exist_ok=True)
        return skips

    def close(self):
        if self.dockerd:
            self.dockerd.close()
            self.dockerd = None

    def run(self, rt, workload):
        """(value, problem): value is a float, or a dict row -> float for redis."""
        if workload == "tcp_loopback":
            return self._tcp_loopback(rt)
        try:
            if rt.name == "native":
                return self._native(workload)
            return self._in_docker(rt.name, workload)
        except Unavailable as e:
            return None, str(e)

    def _tcp_loopback(self, rt):
        r = self.runner
        proc, run_id, start = r._spawn(rt, [self.args.bin, "tcp_loopback", str(self.mib)])
        out, _, problem = r._finish(rt, proc, run_id, start)
        if problem:
            return None, problem
        return parse_number(out)

    # The client, run on the host against host:port.
    def _client(self, workload, host, port):
        if workload == "tcp_bridge":
            argv = [self.args.bin, "tcp_send", host, str(port), str(self.mib)]
        elif workload == "nginx_wrk":
            argv = [self.tools["wrk"], "-t2", "-c32", f"-d{self.wrk_seconds}s",
                    f"http://{host}:{port}/"]
        else:
            argv = [self.tools["redis-benchmark"], "-h", host, "-p", str(port), "-t", "set,get",
                    "-q", "-n", str(self.redis_requests)]
        self.logf.write(f"$ {' '.join(argv)}\n")
        self.logf.flush()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                               timeout=self.runner.timeout, cwd="/")
        except subprocess.TimeoutExpired:
            return None, f"{os.path.basename(argv[0])} timed out after {self.runner.timeout} s"
        self.logf.write(r.stdout + r.stderr)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["no stderr"])[-1]
            return None, f"{os.path.basename(argv[0])}: exit status {r.returncode}: {last}"
        if workload == "tcp_bridge":
            return parse_number(r.stdout)
        if workload == "nginx_wrk":
            return parse_wrk(r.stdout)
        return parse_redis_benchmark(r.stdout)

    @staticmethod
    def _probe(workload):
        return {"tcp_bridge": tcp_recv_ready, "nginx_wrk": http_ready,
                "redis": redis_ready}[workload]

    def _wait_ready(self, workload, host, port, alive):
        """Polls the server until it answers; `alive()` returns None or why it is gone."""
        probe = self._probe(workload)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if probe(host, port):
                return None
            gone = alive()
            if gone:
                return gone
            if time.monotonic() > deadline:
                return (f"the server did not answer on {host}:{port} within"
                        f" {self.ready_timeout:.0f} s")
            time.sleep(0.1)

    def _native(self, workload):
        nd = self.native_dir
        if workload == "tcp_bridge":
            argv = [self.args.bin, "tcp_recv", str(NATIVE_TCP_PORT), "127.0.0.1"]
            port = NATIVE_TCP_PORT
        elif workload == "nginx_wrk":
            conf = os.path.join(nd, "nginx/nginx.conf")
            argv = [self.tools["nginx"], "-p", os.path.join(nd, "nginx"), "-c", conf,
                    "-e", "stderr"]
            port = NATIVE_NGINX_PORT
        else:
            argv = [self.tools["redis-server"]] + redis_args(
                "127.0.0.1", NATIVE_REDIS_PORT, os.path.join(nd, "redis"))
            port = NATIVE_REDIS_PORT
        self.logf.write(f"$ {' '.join(argv)} &\n")
        self.logf.flush()
        err_path = os.path.join(nd, "server.log")
        os.makedirs(nd, exist_ok=True)
        with open(err_path, "w") as err:
            server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                      cwd="/", start_new_session=True)

        def alive():
            if server.poll() is None:
                return None
            with open(err_path) as f:
                tail = (f.read().strip().splitlines() or ["no output"])[-1]
            return f"the server exited with status {server.returncode}: {tail[-160:]}"

        try:
            problem = self._wait_ready(workload, "127.0.0.1", port, alive)
            if problem:
                return None, problem
            return self._client(workload, "127.0.0.1", port)
        finally:
            # Its own session: the group holds the server and (nginx) its worker.
            try:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            with open(err_path) as f:
                self.logf.write(f.read())

    def _in_docker(self, rt_name, workload):
        d = self.dockerd
        if d is None:
            raise Unavailable("no Docker")
        if rt_name in d.runtime_problems:
            raise Unavailable(d.runtime_problems[rt_name])
        self.seq += 1
        name = f"{CONTAINER_PREFIX}{os.getpid()}-{self.seq}"
        run = ["run", "-d", "--name", name, "--runtime", DOCKER_RUNTIMES[rt_name],
               "--network", NETWORK]
        if workload == "tcp_bridge":
            cmd = ["/bench/workloads", "tcp_recv", str(TCP_PORT)]
        elif workload == "nginx_wrk":
            run += ["-p", f"127.0.0.1:{NGINX_HOST_PORT}:80"]
            cmd = ["/usr/sbin/nginx", "-p", "/srv/nginx", "-c", "/srv/nginx/nginx.conf",
                   "-e", "stderr"]
        else:
            run += ["-p", f"127.0.0.1:{REDIS_HOST_PORT}:6379"]
            cmd = ["/usr/bin/redis-server"] + redis_args("0.0.0.0", 6379, "/tmp")
        try:
            r = d.cmd(*run, self.image, *cmd, timeout=120)
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or ["no stderr"])[-1]
                return None, f"docker run failed: {last[-200:]}"
            if workload == "tcp_bridge":
                ip = d.cmd("inspect", "-f",
                           "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                           name).stdout.strip()
                if not ip:
                    return None, "the container has no address on the bridge"
                host, port = ip, TCP_PORT
            else:
                host = "127.0.0.1"
                port = NGINX_HOST_PORT if workload == "nginx_wrk" else REDIS_HOST_PORT

            last_check = [0.0]

            def alive():
                # docker inspect is slow-ish: once a second.
                if time.monotonic() - last_check[0] < 1.0:
                    return None
                last_check[0] = time.monotonic()
                st = d.cmd("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
                if st == "true":
                    return None
                logs = d.cmd("logs", "--tail", "3", name)
                tail = (logs.stdout + logs.stderr).strip().replace("\n", " | ")
                return f"the container is not running ({st or 'gone'}): {tail[-200:]}"

            problem = self._wait_ready(workload, host, port, alive)
            if problem:
                return None, problem
            return self._client(workload, host, port)
        finally:
            d.cmd("rm", "-f", name, timeout=60)
