#!/usr/bin/python3
"""bench/driver.py — runs the benchmark: prepares the data set and the runc bundle, probes each
runtime, then runs every workload under every runtime, round-robin, and writes the raw figures
to OUT/results.csv (round,workload,runtime,value,unit) plus OUT/meta.json (runtime status and
skip reasons, errors, timing) and OUT/run.log (every command and its stderr).

Called by bench/run.sh after it has installed the tools and built rvisor and the workloads;
bench/report.py turns the CSV into the table and the chart. Interleaving: for each round, for
each workload, for each runtime (the runtime order rotates by one every round), so slow drifts
of the machine (other builds, page cache, thermal) hit every runtime alike.

Three workloads are measured from out here rather than by bench/workloads.c:
  startup      wall time of `RUNTIME DATA/bin/true` from spawn to exit (ms)
  oci_run      wall time of the runtime's OCI `run` of a busybox bundle whose process is
               /bin/true, from spawn to exit (ms; `delete --force` afterwards, not timed);
               native has no OCI run: its cell is "n/a"
  idle_memory  Pss (smaps_rollup) summed over every host process of one sandbox that runs
               `workloads idle`, sampled 1.5 s after the start (KiB)

The network workloads (tcp_loopback, tcp_bridge, nginx_wrk, redis -> rows redis_set and
redis_get) are bench/net.py's: throughputs and request rates (higher is better), with their
servers under a private dockerd for runc, runsc and rvisor-ptrace. A cell that cannot run at all
(no Docker, a missing tool) is written as "skip" with its reason in meta.json's cell_skips.
"""
import argparse
import csv
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

import net
import report

DATA_VERSION = "rvisor-bench-data v1"
BIG_FILE_BYTES = 64 * 1024 * 1024
C_WORKLOADS = [
    "getpid", "clock_gettime", "open_tmp", "open_rootfs", "stat_rootfs", "read_rootfs_64m",
    "read_tmpfs_64m", "write_fsync", "readdir_1000", "fork_exit", "fork_exec", "pipe_pingpong",
    "futex_pingpong", "mmap_1m", "thread_create", "sh_100_true",
]
OUTSIDE_WORKLOADS = ["startup", "oci_run", "idle_memory"]
ALL_WORKLOADS = C_WORKLOADS + OUTSIDE_WORKLOADS + net.NET_WORKLOADS
# --only names that stand for several workloads, or for the run that gives a row.
ALIASES = {"net": net.NET_WORKLOADS, "redis_set": ["redis"], "redis_get": ["redis"]}
ALL_RUNTIMES = ["native", "runc", "runsc", "rvisor-ptrace"]
UNITS = {"startup": "ms", "oci_run": "ms", "idle_memory": "KiB", **net.UNITS}
# The value written for a workload that does not apply to a runtime (native has no OCI run).
NOT_APPLICABLE = "n/a"


class Skip(Exception):
    """A runtime that cannot run on this machine; the message says why."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- data set -----------------------------------------------------------------------------------

def prepare_data(data):
    """Creates DATA once; a stamp file marks a complete set, so a later run reuses it."""
    stamp = os.path.join(data, ".complete")
    try:
        with open(stamp) as f:
            if f.read().strip() == DATA_VERSION:
                log(f"data: reusing {data}")
                return
    except FileNotFoundError:
        pass
    log(f"data: creating {data}")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(os.path.join(data, "bin"))
    with open(os.path.join(data, "small.txt"), "w") as f:
        f.write("a small rootfs file for open+close\n")
    deep = os.path.join(data, "deep/a/b/c/d")
    os.makedirs(deep)
    with open(os.path.join(deep, "leaf"), "w") as f:
        f.write("leaf\n")
    block = bytes(range(256)) * 4096  # 1 MiB
    with open(os.path.join(data, "big-64m"), "wb") as f:
        for _ in range(BIG_FILE_BYTES // len(block)):
            f.write(block)
    d = os.path.join(data, "dir1000")
    os.makedirs(d)
    for i in range(1000):
        open(os.path.join(d, f"f{i:04d}"), "w").close()
    # Copies (not links) of the static busybox: they work in the bare runc rootfs too, and
    # busybox picks its applet from the basename of argv[0].
    for name in ("true", "sh"):
        shutil.copy2("/bin/busybox", os.path.join(data, "bin", name))
    with open(stamp, "w") as f:
        f.write(DATA_VERSION + "\n")


# --- the OCI bundle for oci_run -----------------------------------------------------------------

def busybox_rootfs(rootfs):
    """A rootfs with busybox as /bin/busybox, sh, true and sleep, and an empty /tmp (on disk,
    as under Docker)."""
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy2("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    for applet in ("sh", "true", "sleep"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    os.makedirs(os.path.join(rootfs, "tmp"))
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)


def prepare_oci_bundle(work, rvisor):
    """WORK/oci-bundle: a busybox rootfs and a config.json running /bin/true, from `runc spec`
    (or `rvisor spec` without runc) with no terminal, cwd /, and a writable root. One bundle
    for every runtime's `run`, so they start the same container."""
    bundle = os.path.join(work, "oci-bundle")
    shutil.rmtree(bundle, ignore_errors=True)
    os.makedirs(bundle)
    busybox_rootfs(os.path.join(bundle, "rootfs"))
    spec = [shutil.which("runc") or rvisor, "spec"]
    r = subprocess.run(spec, cwd=bundle, capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip(f"{' '.join(spec)} failed: {r.stderr.strip()}")
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": "rootfs", "readonly": False}
    config["process"]["terminal"] = False
    config["process"]["cwd"] = "/"
    config["process"]["env"] = ["PATH=/bin:/usr/bin"]
    config["process"]["args"] = ["/bin/true"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return bundle


# --- runtimes -----------------------------------------------------------------------------------

class Native:
    name = "native"

    def prepare(self):
        pass

    def argv(self, cmd, run_id):
        return cmd

    def cleanup(self, run_id):
        pass

    # No OCI run: oci_run is not applicable.
    oci_run_argv = None

    def counts_for_memory(self, pid):
        return True


class Runc:
    """runc over a bundle whose rootfs holds busybox and bind-mounts (read-only) the data set
    and the workloads binary at their host paths."""
    name = "runc"

    def __init__(self, work, bin_dir, data):
        self.bundle = os.path.join(work, "runc-bundle")
        self.state = "/var/run/rvisor-bench-runc"
        self.oci_state = "/var/run/rvisor-bench-oci-runc"
        self.bin_dir, self.data = bin_dir, data
        self.config = None
        self.exe = shutil.which("runc")

    def prepare(self):
        if not self.exe:
            raise Skip("runc is not installed (apt-get install runc)")
        shutil.rmtree(self.bundle, ignore_errors=True)
        busybox_rootfs(os.path.join(self.bundle, "rootfs"))
        os.makedirs(self.state, exist_ok=True)
        os.makedirs(self.oci_state, exist_ok=True)
        r = subprocess.run([self.exe, "spec"], cwd=self.bundle, capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip(f"runc spec failed: {r.stderr.strip()}")
        with open(os.path.join(self.bundle, "config.json")) as f:
            config = json.load(f)
        config["root"] = {"path": "rootfs", "readonly": False}
        config["process"]["terminal"] = False
        config["process"]["cwd"] = "/"
        config["process"]["env"] = ["PATH=/bin:/usr/bin"]
        for m in config["mounts"]:
            if m["destination"] == "/dev/shm":
                # The default 64 MiB tmpfs cannot hold the 64 MiB read_tmpfs file.
                m["options"] = [o for o in m["options"] if not o.startswith("size=")]
                m["options"].append("size=256m")
        for path in (self.bin_dir, self.data):
            config["mounts"].append({"destination": path, "type": "bind", "source": path,
                                     "options": ["rbind", "ro"]})
        self.config = config

    def argv(self, cmd, run_id):
        self.config["process"]["args"] = cmd
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)
        return [self.exe, "--root", self.state, "run", "--bundle", self.bundle, run_id]

    def cleanup(self, run_id):
        subprocess.run([self.exe, "--root", self.state, "delete", "--force", run_id],
                       capture_output=True)

    def oci_run_argv(self, bundle, run_id):
        return [self.exe, "--root", self.oci_state, "run", "--bundle", bundle, run_id]

    def oci_cleanup(self, run_id):
        subprocess.run([self.exe, "--root", self.oci_state, "delete", "--force", run_id],
                       capture_output=True)

    def counts_for_memory(self, pid):
        # The container's processes only: not `runc run` itself, which waits in the foreground
        # (under containerd the shim does that job and runc has exited).
        try:
            return os.path.realpath(f"/proc/{pid}/exe") != os.path.realpath(self.exe)
        except OSError:
            return True


class Runsc:
    """gVisor's `runsc do` (ptrace platform, the default), over the host root."""
    name = "runsc"

    def __init__(self):
        self.exe = shutil.which("runsc")
        self.state = "/var/run/rvisor-bench-runsc"
        self.oci_state = "/var/run/rvisor-bench-oci-runsc"

    def prepare(self):
        if not self.exe:
            raise Skip("runsc is not installed (apt-get install runsc)")
        os.makedirs(self.state, exist_ok=True)
        os.makedirs(self.oci_state, exist_ok=True)

    def argv(self, cmd, run_id):
        return [self.exe, "--ignore-cgroups", "--network=none", "--root", self.state, "do"] + cmd

    def cleanup(self, run_id):
        pass

    def oci_run_argv(self, bundle, run_id):
        return [self.exe, "--ignore-cgroups", "--network=none", "--root", self.oci_state, "run",
                "--bundle", bundle, run_id]

    def oci_cleanup(self, run_id):
        subprocess.run([self.exe, "--root", self.oci_state, "delete", "--force", run_id],
                       capture_output=True)

    def counts_for_memory(self, pid):
        return True


class Rvisor:
    name = "rvisor-ptrace"

    def __init__(self, exe):
        self.exe = exe
        self.oci_state = "/var/run/rvisor-bench-oci-rvisor"

    def prepare(self):
        if not (self.exe and os.access(self.exe, os.X_OK)):
            raise Skip(f"no rvisor binary at {self.exe} (cargo build --release -p runsc-cli)")
        os.makedirs(self.oci_state, exist_ok=True)

    def argv(self, cmd, run_id):
        return [self.exe, "do"] + cmd

    def cleanup(self, run_id):
        pass

    def oci_run_argv(self, bundle, run_id):
        return [self.exe, "--root", self.oci_state, "run", "--bundle", bundle, run_id]

    def oci_cleanup(self, run_id):
        subprocess.run([self.exe, "--root", self.oci_state, "delete", "--force", run_id],
                       capture_output=True)

    def counts_for_memory(self, pid):
        return True


# --- running one command ------------------------------------------------------------------------

def process_tree(root):
    """The pids of `root` and all its descendants, from the ppid field of /proc/PID/stat."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The comm field may hold spaces and parentheses: the ppid is the 2nd field after ')'.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def pss_kib(pid):
    """Pss of one process in KiB (VmRSS when smaps_rollup is missing), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Runner:
    def __init__(self, args):
        self.args = args
        self.seq = 0
        self.logf = open(os.path.join(args.out, "run.log"), "w")
        self.timeout = 30 if args.quick else 180
        # Set by main() once the runtimes are probed.
        self.net = None

    def _spawn(self, rt, cmd, oci_bundle=None):
        self.seq += 1
        run_id = f"rvisor-bench-{os.getpid()}-{self.seq}"
        argv = rt.oci_run_argv(oci_bundle, run_id) if oci_bundle else rt.argv(cmd, run_id)
        self.logf.write(f"$ {' '.join(argv)}\n")
        # stdout must be a pipe: `runsc do` writes at its own file offset into a regular-file
        # stdout and overwrites what came before. cwd "/" exists in every runtime's view.
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd="/", start_new_session=True)
        return proc, run_id, start

    def _finish(self, rt, proc, run_id, start, oci=False):
        try:
            out, err = proc.communicate(timeout=self.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            # Kill what we started, by pid: the whole tree under the runtime command.
            for pid in reversed(process_tree(proc.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            out, err = proc.communicate()
            timed_out = True
        wall = time.monotonic() - start
        if oci:
            rt.oci_cleanup(run_id)
        else:
            rt.cleanup(run_id)
        out = out.decode(errors="replace")
        err = err.decode(errors="replace")
        if err:
            self.logf.write(err if err.endswith("\n") else err + "\n")
        self.logf.flush()
        problem = None
        if timed_out:
            problem = f"timed out after {self.timeout} s"
        elif proc.returncode != 0:
            last = err.strip().splitlines()[-1] if err.strip() else "no stderr"
            problem = f"exit status {proc.returncode}: {last}"
        return out, wall, problem

    def run_c_workload(self, rt, name):
        cmd = [self.args.bin, "-s", str(self.args.scale), "-d", self.args.data, name]
        proc, run_id, start = self._spawn(rt, cmd)
        out, _, problem = self._finish(rt, proc, run_id, start)
        if problem:
            return None, problem
        return net.parse_number(out)

    def run_startup(self, rt):
        proc, run_id, start = self._spawn(rt, [os.path.join(self.args.data, "bin/true")])
        _, wall, problem = self._finish(rt, proc, run_id, start)
        return (None, problem) if problem else (wall * 1000.0, None)

    def run_oci_run(self, rt):
        if rt.oci_run_argv is None:
            return NOT_APPLICABLE, None
        if self.args.oci_bundle is None:
            return None, self.args.oci_bundle_problem
        proc, run_id, start = self._spawn(rt, None, oci_bundle=self.args.oci_bundle)
        _, wall, problem = self._finish(rt, proc, run_id, start, oci=True)
        return (None, problem) if problem else (wall * 1000.0, None)

    def run_idle_memory(self, rt):
        idle_s, sample_at_s = (1.0, 0.5) if self.args.quick else (3.0, 1.5)
        proc, run_id, start = self._spawn(rt, [self.args.bin, "idle", str(idle_s)])
        # Sample 1.5 s after the start, but never before the idle workload has said "ready"
        # (the sandbox is then fully up); inside a sandbox it is not visible by name on the host.
        ready = select.select([proc.stdout], [], [], self.timeout)[0]
        line = proc.stdout.readline() if ready else b""
        total = None
        if line.strip() == b"ready":
            time.sleep(max(0.0, start + sample_at_s - time.monotonic()))
            tree = process_tree(proc.pid)
            sizes = [pss_kib(p) for p in tree if rt.counts_for_memory(p)]
            total = sum(s for s in sizes if s is not None)
            self.logf.write(f"  memory sample: pids {tree}, {total} KiB\n")
        _, _, problem = self._finish(rt, proc, run_id, start)
        if problem:
            return None, problem
        if total is None:
            return None, f"the idle workload did not print 'ready' (printed {line[:80]!r})"
        return float(total), None

    def run(self, rt, workload):
        if workload == "startup":
            return self.run_startup(rt)
        if workload == "oci_run":
            return self.run_oci_run(rt)
        if workload == "idle_memory":
            return self.run_idle_memory(rt)
        if workload in net.NET_WORKLOADS:
            return self.net.run(rt, workload)
        return self.run_c_workload(rt, workload)


def fmt_short(v, unit):
    if v == NOT_APPLICABLE:
        return v
    return "err" if v is None else report.fmt_value(v, unit)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True, help="/var/tmp/rvisor-bench")
    ap.add_argument("--bin", required=True, help="the static workloads binary")
    ap.add_argument("--rvisor", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="",
                    help="workloads, comma-separated; 'net' = the network workloads")
    ap.add_argument("--runtimes", default="")
    ap.add_argument("--require", default="",
                    help="runtimes that must not be skipped (exit status 1 if they are)")
    args = ap.parse_args()
    args.data = os.path.join(args.work, "data")
    args.scale = 0.01 if args.quick else 1.0
    if args.quick:
        args.rounds = 1
    if args.rounds < 1:
        sys.exit("--rounds must be at least 1")

    workloads = []
    for w in [w.strip() for w in args.only.split(",") if w.strip()] or ALL_WORKLOADS:
        for x in ALIASES.get(w, [w]):
            if x not in workloads:
                workloads.append(x)
    names = [r.strip() for r in args.runtimes.split(",") if r.strip()] or ALL_RUNTIMES
    for w in workloads:
        if w not in ALL_WORKLOADS:
            sys.exit(f"unknown workload {w!r}; known: {', '.join(ALL_WORKLOADS)}")
    for r in names:
        if r not in ALL_RUNTIMES:
            sys.exit(f"unknown runtime {r!r}; known: {', '.join(ALL_RUNTIMES)}")

    os.makedirs(args.out, exist_ok=True)
    prepare_data(args.data)
    args.oci_bundle, args.oci_bundle_problem = None, None
    if "oci_run" in workloads:
        try:
            args.oci_bundle = prepare_oci_bundle(args.work, args.rvisor)
        except Skip as e:
            args.oci_bundle_problem = f"no OCI bundle: {e}"
    all_rts = {
        "native": Native(),
        "runc": Runc(args.work, os.path.dirname(args.bin), args.data),
        "runsc": Runsc(),
        "rvisor-ptrace": Rvisor(args.rvisor),
    }
    runner = Runner(args)
    runner.net = net.NetWorkloads(runner, args)
    # A TERM (a timeout around the run) still stops the private dockerd, in measure's finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    status = {}
    active = []
    for name in names:
        rt = all_rts[name]
        try:
            rt.prepare()
            # Probe: the runtime must run the static true binary.
            _, problem = runner.run_startup(rt)
            if problem:
                raise Skip(f"cannot run {args.data}/bin/true: {problem}")
            status[name] = {"status": "ok"}
            active.append(rt)
        except Skip as e:
            log(f"runtime {name}: SKIP: {e}")
            status[name] = {"status": "skip", "reason": str(e)}

    try:
        measure(args, workloads, names, runner, status, active)
    finally:
        runner.net.close()


def measure(args, workloads, names, runner, status, active):
    # Cells that cannot run here at all (no Docker, a missing tool): skipped with the reason.
    cell_skips = runner.net.prepare(workloads, [rt.name for rt in active])
    for (w, rt), reason in cell_skips.items():
        log(f"{w} under {rt}: SKIP: {reason}")
    csv_path = os.path.join(args.out, "results.csv")
    errors = []
    started = time.time()
    t0 = time.monotonic()

    def write_meta(finished):
        # Written before measuring too, so a report of an interrupted run still has the skip
        # reasons; "finished" tells the two apart.
        meta = {
            "rounds": args.rounds, "quick": args.quick, "scale": args.scale,
            "workloads": workloads, "runtimes": names, "runtime_status": status,
            # The table's rows in order (skip rows come first in the CSV).
            "rows": [row for w in workloads for row in net.rows_of(w)],
            "required_runtimes": [r.strip() for r in args.require.split(",") if r.strip()],
            "cell_skips": [{"workload": row, "runtime": rt, "reason": reason}
                           for (w, rt), reason in cell_skips.items()
                           for row in net.rows_of(w)],
            "errors": errors, "started_unix": started, "finished": finished,
            "measure_seconds": round(time.monotonic() - t0, 1),
            "host": os.uname().release, "cpus": os.cpu_count(),
        }
        with open(os.path.join(args.out, "meta.json"), "w") as mf:
            json.dump(meta, mf, indent=2)

    write_meta(False)
    with open(csv_path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["round", "workload", "runtime", "value", "unit"])
        for name in names:
            for w in workloads:
                if status[name]["status"] == "skip" or (w, name) in cell_skips:
                    for row in net.rows_of(w):
                        out.writerow([0, row, name, "skip", UNITS.get(row, "ns")])
        for rnd in range(1, args.rounds + 1):
            shift = (rnd - 1) % max(1, len(active))
            order = active[shift:] + active[:shift]
            for w in workloads:
                line = []
                for rt in order:
                    if (w, rt.name) in cell_skips:
                        continue
                    value, problem = runner.run(rt, w)
                    # One run may give several rows (redis: SET and GET): value is then a dict.
                    for row in net.rows_of(w):
                        v = value.get(row) if isinstance(value, dict) else value
                        unit = UNITS.get(row, "ns")
                        if v == NOT_APPLICABLE:
                            cell = v
                        else:
                            cell = "err" if v is None else f"{v:.1f}"
                        out.writerow([rnd, row, rt.name, cell, unit])
                        if problem:
                            errors.append({"round": rnd, "workload": row, "runtime": rt.name,
                                           "problem": problem})
                        label = rt.name if row == w else f"{rt.name} {row}"
                        line.append(f"{label} {fmt_short(v, unit)}")
                    f.flush()
                    if problem:
                        log(f"  error: {w} under {rt.name}: {problem}")
                log(f"[round {rnd}/{args.rounds}] {w}: " + ", ".join(line))
    elapsed = time.monotonic() - t0
    write_meta(True)
    log(f"measured in {elapsed:.0f} s; raw figures in {csv_path}")


if __name__ == "__main__":
    main()
