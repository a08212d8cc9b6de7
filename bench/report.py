#!/usr/bin/python3
"""bench/report.py — turns OUT/results.csv (written by bench/driver.py) into the scoreboard:
the table on stdout (also saved as OUT/table.txt) and the chart OUT/ratios.png. It reads only
the CSV and, when present, OUT/meta.json (skip reasons, error messages), so it can be re-run
alone: `/usr/bin/python3 bench/report.py --out bench/out`.

Table: for each workload and runtime, "best / median" over the rounds, in the workload's unit
(best = the minimum of a time or size, the maximum of a rate: MB/s, req/s); then each sandbox's
ratio to native and rvisor-ptrace's ratio to runsc, always oriented so that >1 = worse (slower
or bigger): X's median / native's for times and sizes, native's median / X's for rates (a
throughput a third of native's reads 3.00). Cells: "skip" = runtime not available (reason below
the table), "n/a" = the workload does not apply to that runtime (native has no OCI `run`),
"err" = no round gave a number, "*" = some rounds failed (listed below the table).
"""
import argparse
import csv
import json
import os
import statistics
import sys

RUNTIME_ORDER = ["native", "runc", "runsc", "rvisor-ptrace"]
# Column headings: short, so the table fits a terminal.
SHORT = {"rvisor-ptrace": "rvisor"}
# What one operation is, per workload (the C workloads print ns per operation).
PER = {
    "getpid": "syscall",
    "clock_gettime": "call",
    "open_tmp": "open+close",
    "open_rootfs": "open+close",
    "stat_rootfs": "stat",
    "read_rootfs_64m": "64MiB read",
    "read_tmpfs_64m": "64MiB read",
    "write_fsync": "4K write+fsync",
    "readdir_1000": "dir listing",
    "fork_exit": "fork+exit",
    "fork_exec": "fork+exec",
    "pipe_pingpong": "round trip",
    "futex_pingpong": "round trip",
    "mmap_1m": "1MiB map+touch",
    "thread_create": "create+join",
    "sh_100_true": "loop of 100",
    "startup": "run of true",
    "oci_run": "OCI run of true",
    "idle_memory": "sandbox Pss",
    "tcp_loopback": "MB/s, 1 sandbox",
    "tcp_bridge": "MB/s host->ctr",
    "nginx_wrk": "HTTP req/s",
    "redis_set": "SET req/s",
    "redis_get": "GET req/s",
}
# Units of rates: higher is better, so the ratios are taken the other way round.
HIGHER_IS_BETTER = {"MB/s", "req/s"}
# Rows whose server runs under Docker (bench/net.py).
DOCKER_ROWS = {"tcp_bridge", "nginx_wrk", "redis_set", "redis_get"}


def fmt_value(v, unit):
    if unit == "MB/s":
        return f"{v:.3g}" if v < 1000 else f"{v:.0f}"
    if unit == "req/s":
        return f"{v / 1000:.3g}k" if v >= 1000 else f"{v:.3g}"
    if unit == "KiB":
        return f"{v / 1024:.1f}M" if v >= 10240 else f"{v:.0f}K"
    ns = v * 1e6 if unit == "ms" else v
    for scale, suffix in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if ns >= scale:
            x = ns / scale
            return f"{x:.3g}{suffix}" if x < 100 else f"{x:.0f}{suffix}"
    return f"{ns:.3g}ns" if ns < 100 else f"{ns:.0f}ns"


def fmt_ratio(r):
    if r is None:
        return "-"
    if r < 10:
        return f"{r:.2f}"
    if r < 100:
        return f"{r:.1f}"
    return f"{r:.0f}"


def load(out_dir):
    rows = []
    with open(os.path.join(out_dir, "results.csv"), newline="") as f:
        for row in csv.DictReader(f):
            rows.append(row)
    meta = {}
    try:
        with open(os.path.join(out_dir, "meta.json")) as f:
            meta = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    return rows, meta


class Cell:
    def __init__(self):
        self.values, self.errors, self.skipped, self.not_applicable = [], 0, False, False

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None


def summarize(rows):
    workloads, runtimes, units, cells = [], [], {}, {}
    for row in rows:
        w, rt, v = row["workload"], row["runtime"], row["value"]
        if w not in workloads:
            workloads.append(w)
        if rt not in runtimes:
            runtimes.append(rt)
        units[w] = row["unit"]
        cell = cells.setdefault((w, rt), Cell())
        if v == "skip":
            cell.skipped = True
        elif v == "n/a":
            cell.not_applicable = True
        elif v == "err":
            cell.errors += 1
        else:
            cell.values.append(float(v))
    runtimes.sort(key=lambda r: RUNTIME_ORDER.index(r) if r in RUNTIME_ORDER else 99)
    return workloads, runtimes, units, cells


def best(values, unit):
    return max(values) if unit in HIGHER_IS_BETTER else min(values)


def ratio(cells, units, w, a, b):
    """How many times worse a is than b (medians): a/b for times and sizes, b/a for rates."""
    ca, cb = cells.get((w, a)), cells.get((w, b))
    if not ca or not cb or not ca.median or not cb.median:
        return None
    if units.get(w) in HIGHER_IS_BETTER:
        return cb.median / ca.median
    return ca.median / cb.median


def table(workloads, runtimes, units, cells, meta):
    header = ["workload", "per"] + [f"{SHORT.get(rt, rt)} best/med" for rt in runtimes]
    others = [rt for rt in runtimes if rt != "native"]
    has_native = "native" in runtimes
    if has_native:
        header += [f"{SHORT.get(rt, rt)}/nat" for rt in others]
    has_pair = "rvisor-ptrace" in runtimes and "runsc" in runtimes
    if has_pair:
        header.append("rvisor/runsc")
    lines = [header]
    for w in workloads:
        unit = units[w]
        line = [w, PER.get(w, unit)]
        for rt in runtimes:
            c = cells.get((w, rt))
            if c is None:
                line.append("-")
            elif c.skipped:
                line.append("skip")
            elif c.not_applicable:
                line.append("n/a")
            elif not c.values:
                line.append("err")
            else:
                text = f"{fmt_value(best(c.values, unit), unit)}/{fmt_value(c.median, unit)}"
                line.append(text + ("*" if c.errors else ""))
        if has_native:
            line += [fmt_ratio(ratio(cells, units, w, rt, "native")) for rt in others]
        if has_pair:
            line.append(fmt_ratio(ratio(cells, units, w, "rvisor-ptrace", "runsc")))
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = []
    for n, line in enumerate(lines):
        cols = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        cols += [c.rjust(widths[i + 2]) for i, c in enumerate(line[2:])]
        text.append("  ".join(cols).rstrip())
        if n == 0:
            text.append("  ".join("-" * wd for wd in widths))
    rounds = meta.get("rounds", "?")
    quick = " (QUICK: tiny iteration counts, not meaningful)" if meta.get("quick") else ""
    notes = [
        f"{rounds} round(s){quick}; cells are best/median over the rounds, per 'per' column"
        " (best: the lowest time or size, the highest rate); rvisor = rvisor-ptrace.",
        "X/nat = X's median / native's median (>1: slower, or more memory, than native);"
        " rvisor/runsc = rvisor's median / runsc's median (<1: rvisor is better).",
    ]
    if any(u in HIGHER_IS_BETTER for u in units.values()):
        notes.append("Rates (MB/s, req/s: higher is better) have their ratios inverted, native/X"
                     " and runsc/rvisor, so >1 still means worse (3.00 = a third of the rate).")
    if any(w in DOCKER_ROWS for w in workloads):
        notes.append("tcp_bridge, nginx_wrk, redis_*: the server runs under Docker for runc,"
                     " runsc (--network=host) and rvisor, natively on the host; client on the"
                     " host (bench/README.md).")
    if any(c.not_applicable for c in cells.values()):
        notes.append("n/a: the workload does not apply to that runtime (native has no OCI run).")
    for rt, st in meta.get("runtime_status", {}).items():
        if st.get("status") == "skip":
            notes.append(f"skip {rt}: {st.get('reason', '')}")
    for s in meta.get("cell_skips", []):
        notes.append(f"skip {s['workload']} under {s['runtime']}: {s['reason']}")
    seen = set()
    for e in meta.get("errors", []):
        key = (e["workload"], e["runtime"], e["problem"])
        if key in seen:
            continue
        seen.add(key)
        n = sum(1 for x in meta["errors"]
                if (x["workload"], x["runtime"], x["problem"]) == key)
        notes.append(f"err {e['workload']} under {e['runtime']} ({n}x): {e['problem']}")
    return "\n".join(text + [""] + notes) + "\n"


def chart(workloads, runtimes, units, cells, meta, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"report: no chart ({e}); apt-get install python3-matplotlib", file=sys.stderr)
        return False
    others = [rt for rt in runtimes if rt != "native"]
    if "native" not in runtimes or not others:
        print("report: no chart (it needs native and at least one sandbox)", file=sys.stderr)
        return False
    # A ratio to native needs a native figure: leave out workloads native has none of (oci_run).
    workloads = [w for w in workloads
                 if not (cells.get((w, "native")) and cells[(w, "native")].not_applicable)]
    colors = {"runc": "#4c72b0", "runsc": "#dd8452", "rvisor-ptrace": "#55a868"}
    fig, ax = plt.subplots(figsize=(max(14, 0.95 * len(workloads) + 4), 8), dpi=110)
    width = 0.8 / len(others)
    for i, rt in enumerate(others):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            r = ratio(cells, units, w, rt, "native")
            if r is not None and r > 0:
                xs.append(j + (i - (len(others) - 1) / 2) * width)
                ys.append(r)
        ax.bar(xs, ys, width=width, label=rt, color=colors.get(rt), edgecolor="black",
               linewidth=0.4)
        # A missing bar says why: the runtime was skipped or the workload failed under it.
        for j, w in enumerate(workloads):
            c = cells.get((w, rt))
            if ratio(cells, units, w, rt, "native") is None and c is not None:
                label = "skip" if c.skipped else "n/a" if c.not_applicable else "err"
                ax.text(j + (i - (len(others) - 1) / 2) * width, 1.0, label,
                        rotation=90, ha="center", va="bottom",
                        fontsize=9, fontweight="bold", color="black")
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=1.2, linestyle="--", label="native = 1")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels([f"{w}\n({PER.get(w, units[w])})" + ("\n[rate: native/X]" if units[w]
                        in HIGHER_IS_BETTER else "") for w in workloads], rotation=40,
                       ha="right", fontsize=9)
    ax.set_xlim(-0.6, len(workloads) - 0.4)
    ax.set_ylabel("median / native median, rates inverted (log scale; higher = worse)")
    rounds = meta.get("rounds", "?")
    ax.set_title(f"rvisor benchmark: ratio to native, {rounds} round(s)"
                 + (" — QUICK (not meaningful)" if meta.get("quick") else ""))
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def load_expected_errors(path):
    """Known gaps: `RUNTIME WORKLOAD  # reason` lines of bench/expected-errors.txt."""
    expected = set()
    try:
        with open(path) as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if len(words) == 2:
                    expected.add((words[0], words[1]))
    except FileNotFoundError:
        pass
    return expected


def verdict(workloads, runtimes, cells, meta, expected_path):
    """Prints the health of the run and returns the exit status: 1 when a workload crashed,
    errored or printed no number under some runtime (unless that pair is listed in
    expected-errors.txt), when a listed pair works, or when a runtime the caller required was
    skipped. Timings never count.
    Ends with a `bench: N passed, N failed, N skipped` line (one per workload x runtime cell)."""
    expected = load_expected_errors(expected_path)
    passed = failed = skipped = 0
    for w in workloads:
        for rt in runtimes:
            c = cells.get((w, rt))
            if c is None:
                continue
            if c.not_applicable:
                continue
            if c.skipped:
                skipped += 1
            elif c.errors == 0:
                passed += 1
            elif (rt, w) in expected:
                print(f"expected error: {w} under {rt} (listed in {expected_path})")
                skipped += 1
            else:
                print(f"FAIL: {w} under {rt} gave no number in {c.errors} round(s)"
                      " (see run.log)")
                failed += 1
    for rt, w in sorted(expected):
        c = cells.get((w, rt))
        if c is not None and not c.skipped and c.values and c.errors == 0:
            # As with the conformance suite's lists: an unexpected pass fails the run, so the
            # list only shrinks.
            print(f"FAIL: {w} under {rt} works now: remove it from {expected_path}")
            failed += 1
    status = meta.get("runtime_status", {})
    for rt in meta.get("required_runtimes", []):
        if status.get(rt, {}).get("status") != "ok":
            print(f"FAIL: required runtime {rt} was skipped:"
                  f" {status.get(rt, {}).get('reason', 'not run')}")
            failed += 1
    print(f"bench: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"),
                    help="directory holding results.csv (default bench/out)")
    ap.add_argument("--expected-errors",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "expected-errors.txt"),
                    help="known (runtime, workload) failures that do not fail the run")
    args = ap.parse_args()
    rows, meta = load(args.out)
    workloads, runtimes, units, cells = summarize(rows)
    # The driver's order, not the CSV's (whose skipped cells come first).
    order = meta.get("rows", [])
    workloads.sort(key=lambda w: order.index(w) if w in order else len(order))
    text = table(workloads, runtimes, units, cells, meta)
    print(text, end="")
    with open(os.path.join(args.out, "table.txt"), "w") as f:
        f.write(text)
    png = os.path.join(args.out, "ratios.png")
    if chart(workloads, runtimes, units, cells, meta, png):
        print(f"chart: {png}")
    return verdict(workloads, runtimes, cells, meta, args.expected_errors)


if __name__ == "__main__":
    sys.exit(main())
