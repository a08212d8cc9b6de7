#!/usr/bin/env bash
# Acceptance tests of the "Debian userland" issue: ordinary Debian programs (bash, coreutils,
# tar, find, sort, python3, gcc, make, dpkg, useradd/su) run in the sandbox over a Debian
# bookworm root and must behave as they do natively.
#
#   RVISOR=target/release/rvisor bash scripts/debian-tests.sh
#
# Needs root (chroot, mount), the root made by scripts/debian-root.sh ($DEBIAN_ROOT, default
# /var/tmp/rvisor-debian-bookworm-v1) and /bin/busybox (busybox-static) for the scratch roots.
# Optional: DEBIAN_TESTS_ONLY=REGEX runs only the cases whose name matches;
# DEBIAN_TESTS_SELFCHECK=1 runs the native reference a second time in place of the sandbox
# for the --rootfs cases (checks that they are deterministic; the other cases are skipped);
# DEBIAN_TESTS_HOSTROOT=1 previews the --rootfs cases over the host's root (see below);
# DEBIAN_TESTS_CENSUS=1 runs only the native references of the --rootfs cases, under strace,
# and lists per case the syscalls they make that `rvisor syscalls` lacks, or marks error or
# partial (a to-do list, not a test; needs strace);
# DEBIAN_TESTS_VERBOSE=1 prints the native reference's stdout of every --rootfs case;
# RVISOR_DO_FLAGS="--strace ..." adds flags to every `rvisor do`; RVISOR_LOG passes through.
#
# Each case runs twice with the same stdin, natively and in the sandbox, and compares stdout
# and exit status (stderr is shown on failure but not compared: messages may legitimately
# name the program differently):
#   - native: `chroot` into a throwaway overlayfs mount of the root (lower = the cached root,
#     upper = a fresh directory in /var/tmp), with procfs on /proc, sysfs on /sys and the
#     host's /dev bound on /dev, all in a private mount namespace (`unshare -m`) that
#     disappears with the command. The cached root is never written.
#   - sandbox: `$RVISOR do --rootfs ROOT CMD...`, whose default in-sentry overlay keeps
#     writes out of ROOT (checked by the overlay cases below, over a scratch root).
# Both get the same small environment (env -i PATH HOME LC_ALL=C), so output does not depend
# on the caller's locale or variables. Cases feed files in through stdin (a tar stream or a
# single file) because the sandbox over --rootfs sees nothing of the host's filesystem.
#
# Normalisations (everything else is compared byte for byte):
#   - `ls -la /` keeps only mode, owner, group and name (awk inside the guest, before the
#     sort | head, so the same entries are selected): link counts of directories depend on
#     what is mounted below them (procfs/sysfs/devfs have their own), directory sizes are
#     filesystem-specific (ext4 vs tmpfs vs overlay), and the mtimes of /, /tmp, /proc, /dev
#     are the times of the mounts or the last run.
#   - the Python suite is compared by its per-test result lines ("test_x (...) ... ok") from
#     `unittest -v`; the timing line ("Ran N tests in 0.123s") and tracebacks are not compared.
#   - make's command echo is silenced (-s): with -j2 the order of the compiler lines is not
#     deterministic; the built program's output and the list of objects are compared.
# Cases needing `rvisor do --rootfs` (or the host-root overlay, `--overlay`) are reported as
# SKIP, never PASS, when the binary's --help does not list the flag.
set -uo pipefail
: "${RVISOR:?set RVISOR to the rvisor binary}"
RVISOR=$(realpath "$RVISOR")
ROOT=${DEBIAN_ROOT:-/var/tmp/rvisor-debian-bookworm-v1}
ONLY=${DEBIAN_TESTS_ONLY:-}
read -r -a DO_FLAGS <<<"${RVISOR_DO_FLAGS:-}"
here=$(cd "$(dirname "$0")" && pwd)
BB=/bin/busybox
TIMEOUT=180

[ "$(id -u)" = 0 ] || { echo "debian-tests: needs root (chroot, mount)" >&2; exit 1; }
[ -x "$ROOT/usr/bin/python3" ] || { echo "debian-tests: no root at $ROOT (run scripts/debian-root.sh)" >&2; exit 1; }

# Not under /tmp: the host's /tmp is the sandbox's concern in some cases below.
work=$(mktemp -d /var/tmp/rvisor-debtests.XXXXXX)
host_tmp_files=()
cleanup() {
    rm -rf --one-file-system "$work"
    local f
    for f in "${host_tmp_files[@]}"; do rm -rf --one-file-system "$f"; done
}
trap cleanup EXIT

help=$("$RVISOR" do --help 2>&1)
has_rootfs=0; grep -q -- '--rootfs' <<<"$help" && has_rootfs=1
has_overlay=0; grep -q -- '--overlay' <<<"$help" && has_overlay=1
CENSUS=${DEBIAN_TESTS_CENSUS:-}
[ -n "${DEBIAN_TESTS_SELFCHECK:-}${CENSUS}" ] && has_rootfs=1

pass=0; fail=0; skip=0
failed=()
report_pass() { echo "PASS $1"; pass=$((pass+1)); }
report_fail() { echo "FAIL $1${2:+ ($2)}"; fail=$((fail+1)); failed+=("$1"); }
report_skip() { echo "SKIP $1 ($2)"; skip=$((skip+1)); }
selected() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }

GUEST_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
    LC_ALL=C TERM=dumb)
[ -n "${RVISOR_LOG:-}" ] && LOG_ENV=(RVISOR_LOG="$RVISOR_LOG") || LOG_ENV=()

# DEBIAN_TESTS_HOSTROOT=1: a preview of the --rootfs cases with the binaries of the host,
# for an rvisor without --rootfs: "native" is the host with a private tmpfs on /tmp (as the
# sandbox has), "sandbox" is `rvisor do` over the host's read-only root. Cases that write
# outside /tmp (dpkg, useradd) are skipped in this mode.
HOSTROOT=${DEBIAN_TESTS_HOSTROOT:-}
if [ -n "$HOSTROOT" ]; then has_rootfs=1; fi

# native_root CMD...: CMD chrooted into a throwaway overlay of $ROOT (see the header).
native_root() {
    if [ -n "$HOSTROOT" ]; then
        (cd / && timeout -k 5 "$TIMEOUT" unshare -m --propagation private sh -c '
            mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 125; exec "$@"' sh "${GUEST_ENV[@]}" "$@")
        return
    fi
    local ovl rc
    ovl=$(mktemp -d "$work/ovl.XXXXXX")
    mkdir "$ovl/u" "$ovl/w" "$ovl/m"
    census=${CENSUS:+$work/census.strace} timeout -k 5 "$TIMEOUT" unshare -m --propagation private sh -c '
        root=$1 ovl=$2; shift 2
        mount -t overlay overlay -o "lowerdir=$root,upperdir=$ovl/u,workdir=$ovl/w" "$ovl/m" &&
        mount -t proc proc "$ovl/m/proc" && mount -t sysfs sysfs "$ovl/m/sys" &&
        mount --rbind /dev "$ovl/m/dev" || { echo "native_root: mounts failed" >&2; exit 125; }
        exec ${census:+strace -f -qq -o "$census"} chroot "$ovl/m" "$@"' sh "$ROOT" "$ovl" "${GUEST_ENV[@]}" "$@"
    rc=$?
    rm -rf --one-file-system "$ovl"
    return $rc
}

# sandbox_root CMD...: CMD in the sandbox over $ROOT (default overlay).
sandbox_root() {
    if [ -n "${DEBIAN_TESTS_SELFCHECK:-}" ]; then native_root "$@"; return; fi
    if [ -n "$HOSTROOT" ]; then
        (cd / && timeout -k 5 "$TIMEOUT" env -i "${GUEST_ENV[@]:2}" "${LOG_ENV[@]}" \
            "$RVISOR" do "${DO_FLAGS[@]}" "$@")
        return
    fi
    (cd / && timeout -k 5 "$TIMEOUT" env -i "${GUEST_ENV[@]:2}" "${LOG_ENV[@]}" \
        "$RVISOR" do "${DO_FLAGS[@]}" --rootfs "$ROOT" "$@")
}

# show_failure: the diff of the two stdouts and the sandbox's stderr, abridged (for the Python
# suite: the failing tests' error lines instead).
show_failure() {
    diff "$work/native.out" "$work/sandbox.out" | head -20 | sed 's/^/    diff: /'
    if grep -q '^Ran [0-9]* tests\? in' "$work/sandbox.raw" "$work/sandbox.err" 2>/dev/null; then
        cat "$work/sandbox.raw" "$work/sandbox.err" 2>/dev/null \
            | grep -E '^(ERROR|FAIL): |^[A-Za-z0-9_.]*(Error|Exception)\b' | head -40 | sed 's/^/    sandbox: /'
    else
        head -c 3000 "$work/sandbox.err" | tail -n 25 | sed 's/^/    sandbox stderr: /'
    fi
}

# Known sandbox failures of the Python suite (scripts/py-tests/expected-failures.txt).
py_expected=$here/py-tests/expected-failures.txt
# Native against native: nothing is expected to fail.
[ -n "${DEBIAN_TESTS_SELFCHECK:-}" ] && py_expected=/dev/null
# py_compare NAME: compares the suite's result lines in $work/native.out and
# $work/sandbox.out, accepting the listed failures; reports NAME.
py_compare() {
    local name=$1 ns=$2 ss=$3 t reason line bad=0 unexpected=()
    if [ "$ns" != 0 ]; then report_fail "$name" "the suite fails natively (status $ns)"; show_failure; return; fi
    cp "$work/sandbox.out" "$work/sandbox.cmp"
    while read -r t reason; do
        case $t in ''|'#'*) continue ;; esac
        line=$(grep -E "^$t \(" "$work/sandbox.out" || true)
        if [[ $line == *' ... ok' ]]; then unexpected+=("$t"); bad=1
        elif [ -n "$line" ]; then
            echo "    expected failure: $t: $reason"
            # Accepted: compare it as if it had passed.
            grep -E "^$t \(" "$work/native.out" >"$work/line" || true
            awk -v t="$t" -v repl="$(cat "$work/line")" \
                'index($0, t " (") == 1 { print repl; next } { print }' "$work/sandbox.cmp" >"$work/sandbox.tmp"
            mv "$work/sandbox.tmp" "$work/sandbox.cmp"
        fi
    done <"$py_expected"
    if [ $bad = 1 ]; then
        report_fail "$name" "listed in expected-failures.txt but passes now: ${unexpected[*]} (remove them from the list)"
    elif cmp -s "$work/native.out" "$work/sandbox.cmp" && [ "$(grep -c . "$work/native.out")" -ge 20 ]; then
        # The sandbox's status is 1 when only the listed tests failed; any other failure shows
        # in the result lines.
        report_pass "$name"
    else
        report_fail "$name" "native status $ns, sandbox status $ss"
        cp "$work/sandbox.cmp" "$work/sandbox.out"
        show_failure
    fi
}

# census_report NAME: the syscalls of the last native run (strace -f) that rvisor lacks or
# supports only partly (see DEBIAN_TESTS_CENSUS).
census_report() {
    [ -s "$work/syscalls.txt" ] || "$RVISOR" syscalls 2>/dev/null | awk '{print $2, $3}' | sort >"$work/syscalls.txt"
    grep -oE '^[0-9]+ +[a-z0-9_]+\(' "$work/census.strace" | awk '{print $2}' | tr -d '(' | sort -u \
        | grep -vx chroot >"$work/used.txt"
    echo "CENSUS $1"
    echo "    missing: $(join -v1 "$work/used.txt" <(cut -d' ' -f1 "$work/syscalls.txt") | tr '\n' ' ')"
    echo "    error:   $(join "$work/used.txt" "$work/syscalls.txt" | awk '$2 == "error" {print $1}' | tr '\n' ' ')"
    echo "    partial: $(join "$work/used.txt" "$work/syscalls.txt" | awk '$2 == "partial" {print $1}' | tr '\n' ' ')"
    echo "    fcntl locks: $(grep -oE 'fcntl\([0-9]+, F_(SETLKW?|GETLK|OFD_[A-Z]+)' "$work/census.strace" | awk '{print $2}' | sort -u | tr '\n' ' ')"
}

# root_case NAME STDIN FILTER CMD...: CMD natively in the root and in the sandbox over it,
# stdin from file STDIN for both, stdout through FILTER (a command) before comparing.
root_case() {
    local name=$1 stdin=$2 filter=$3 ns ss; shift 3
    selected "$name" || return 0
    if [ $has_rootfs = 0 ]; then report_skip "$name" "rvisor do has no --rootfs"; return 0; fi
    if [ -n "$HOSTROOT" ] && [[ $name =~ dpkg|useradd ]]; then
        report_skip "$name" "writes outside /tmp: not in the host-root preview"; return 0
    fi
    : >"$work/sandbox.raw"
    native_root "$@" <"$stdin" 2>"$work/native.err" | $filter >"$work/native.out"
    ns=${PIPESTATUS[0]}
    [ -n "${DEBIAN_TESTS_VERBOSE:-}" ] && sed "s/^/    native: /" "$work/native.out"
    if [ -n "$CENSUS" ]; then census_report "$name"; return 0; fi
    if [ "$ns" != 0 ]; then
        report_fail "$name" "the native reference failed with status $ns"
        head -c 2000 "$work/native.err" | sed 's/^/    native stderr: /'
        return 0
    fi
    sandbox_root "$@" <"$stdin" 2>"$work/sandbox.err" | tee "$work/sandbox.raw" | $filter >"$work/sandbox.out"
    ss=${PIPESTATUS[0]}
    if [ "$filter" = py_results ]; then
        py_compare "$name" "$ns" "$ss"
    elif [ "$ss" = "$ns" ] && cmp -s "$work/native.out" "$work/sandbox.out"; then
        report_pass "$name"
    else
        report_fail "$name" "native status $ns, sandbox status $ss"
        show_failure
    fi
}

# ---------------------------------------------------------------------------------------
# Fixtures (fed to the guest on stdin).
fx=$work/fx
mkdir -p "$fx/hello" "$fx/proj" "$fx/deb/pkg/DEBIAN" "$fx/deb/pkg/usr/bin" "$fx/py"
cat >"$fx/hello/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { printf("hello from gcc %d, %s\n", __GNUC__, __FILE__); return 0; }
EOF
cat >"$fx/proj/ops.h" <<'EOF'
long add(long a, long b);
long mul(long a, long b);
long fib(int n);
const char *greet(void);
EOF
cat >"$fx/proj/add.c" <<'EOF'
#include "ops.h"
long add(long a, long b) { return a + b; }
EOF
cat >"$fx/proj/mul.c" <<'EOF'
#include "ops.h"
long mul(long a, long b) { return a * b; }
EOF
cat >"$fx/proj/fib.c" <<'EOF'
#include "ops.h"
long fib(int n) { long a = 0, b = 1; while (n-- > 0) { long t = add(a, b); a = b; b = t; } return a; }
EOF
cat >"$fx/proj/greet.c" <<'EOF'
#include "ops.h"
const char *greet(void) { return "made with make -j2"; }
EOF
cat >"$fx/proj/main.c" <<'EOF'
#include <stdio.h>
#include "ops.h"
int main(void) { printf("%ld %ld %ld %s\n", add(40, 2), mul(6, 7), fib(50), greet()); return 0; }
EOF
printf '%s\n' 'CFLAGS = -O2 -Wall -Werror' 'OBJS = main.o add.o mul.o fib.o greet.o' '' \
    'prog: $(OBJS)' '	$(CC) -o $@ $(OBJS)' '' '%.o: %.c ops.h' '	$(CC) $(CFLAGS) -c $<' \
    '' 'clean:' '	rm -f prog $(OBJS)' >"$fx/proj/Makefile"
cat >"$fx/deb/pkg/DEBIAN/control" <<'EOF'
Package: rvisor-hello
Version: 1.0-1
Architecture: all
Maintainer: rvisor tests <rvisor@example.invalid>
Description: rvisor userland test package
 A tiny package built and installed inside the sandbox.
EOF
printf '#!/bin/sh\nset -e\nmkdir -p /var/lib/rvisor-hello\necho "postinst $1" > /var/lib/rvisor-hello/postinst-ran\n' \
    >"$fx/deb/pkg/DEBIAN/postinst"
printf '#!/bin/sh\necho "rvisor-hello runs"\n' >"$fx/deb/pkg/usr/bin/rvisor-hello"
chmod 0755 "$fx/deb/pkg/DEBIAN" "$fx/deb/pkg/DEBIAN/postinst" "$fx/deb/pkg/usr/bin/rvisor-hello"
cp "$here/py-tests/test_userland.py" "$fx/py/"
tar -C "$fx/proj" -cf "$fx/proj.tar" .
tar -C "$fx/deb" -cf "$fx/deb.tar" .
tar -C "$fx/py" -cf "$fx/py.tar" .

# Result lines of `python3 -m unittest -v` (see the normalisations above).
py_results() {
    grep -oE '^test_[A-Za-z0-9_]+ \([A-Za-z0-9_.]+\) \.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)$' || true
}

PYPROG='
import os, json, hashlib, sqlite3, subprocess, threading, socket, mmap, tempfile
d = tempfile.mkdtemp()
p = os.path.join(d, "doc.json")
with open(p, "w") as f:
    json.dump({"a": [1, 2, 3], "b": {"c": None}}, f)
with open(p) as f:
    print("json", json.load(f))
print("sha256", hashlib.sha256(b"rvisor" * 1000).hexdigest())
db = sqlite3.connect(":memory:")
db.execute("create table t (x integer)")
db.executemany("insert into t values (?)", [(i,) for i in range(100)])
print("sqlite", db.execute("select count(*), sum(x) from t").fetchone())
print("subprocess", subprocess.run(["sh", "-c", "echo sub; exit 4"], capture_output=True).stdout, subprocess.call(["false"]))
out = []
lock = threading.Lock()
def work(i):
    with lock:
        out.append(i * i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print("threads", sorted(out))
a, b = socket.socketpair()
a.sendall(b"over a socketpair")
print("socket", b.recv(100))
with open(os.path.join(d, "m"), "wb") as f:
    f.write(b"\0" * 4096)
with open(os.path.join(d, "m"), "r+b") as f:
    m = mmap.mmap(f.fileno(), 4096)
    m[:6] = b"mapped"
    m.flush()
with open(os.path.join(d, "m"), "rb") as f:
    print("mmap", f.read(6))
with tempfile.NamedTemporaryFile(dir=d) as t:
    t.write(b"tmp")
    t.flush()
    print("tempfile", sorted(os.listdir(d)) == sorted(["doc.json", "m", os.path.basename(t.name)]))
'

# ---------------------------------------------------------------------------------------
echo "== Debian root $ROOT ($(cat "$ROOT/etc/debian_version")); rvisor --rootfs: $has_rootfs, --overlay: $has_overlay"

root_case "bash: ls -la / | sort | head; BASH_VERSION" /dev/null cat \
    bash -c 'ls -la / | awk "{print \$1, \$3, \$4, \$9, \$10, \$11}" | sort | head; echo $BASH_VERSION'
root_case "sh: create, cp, mv, cat, ln -s, readlink, rm, ls in /tmp" /dev/null cat \
    sh -c 'cd /tmp && echo hi > f && cp f g && mv g h && cat h && ln -s h l && readlink l && rm h l && ls'
root_case "tar czf /etc, tar tzf | wc -l" /dev/null cat \
    sh -c 'tar czf /tmp/x.tgz /etc 2>/dev/null && tar tzf /tmp/x.tgz | wc -l && tar xzf /tmp/x.tgz -C /tmp && diff -r --no-dereference /etc /tmp/etc && echo same &&
        find /tmp/etc -newer /tmp/x.tgz | wc -l'
root_case "find /usr -name '*.so*' | wc -l" /dev/null cat \
    sh -c "find /usr -name '*.so*' | wc -l"
root_case "grep -r root /etc/passwd" /dev/null cat \
    grep -r root /etc/passwd
root_case "sort -S 1M of 50 MB (temp files), md5" /dev/null cat \
    sh -c 'awk "BEGIN{srand(1); for(i=0;i<3000000;i++) printf \"%08d %d\n\", int(rand()*100000000), i}" > /tmp/big &&
        wc -c < /tmp/big && md5sum < /tmp/big && sort -S 1M -T /tmp -o /tmp/sorted /tmp/big &&
        md5sum < /tmp/sorted && sort -c /tmp/sorted && echo sorted'
root_case "python3: os json hashlib sqlite3 subprocess threading socket mmap tempfile" /dev/null cat \
    python3 -c "$PYPROG"
root_case "gcc -O2 hello.c && run it" "$fx/hello/hello.c" cat \
    sh -c 'cat > /tmp/hello.c && cd /tmp && gcc -O2 -o /tmp/h hello.c && /tmp/h'
root_case "make -j2 of a multi-file C project" "$fx/proj.tar" cat \
    sh -c 'mkdir /tmp/p && cd /tmp/p && tar xmf - && make -s -j2 && ./prog && ls *.o prog && make -s clean && ls'
root_case "dpkg-deb --build, dpkg -i, dpkg -l" "$fx/deb.tar" cat \
    sh -c 'mkdir /tmp/d && cd /tmp/d && tar xmf - && dpkg-deb --root-owner-group --build pkg /tmp/rvisor-hello.deb &&
        dpkg -i /tmp/rvisor-hello.deb && dpkg -l | grep rvisor-hello && rvisor-hello &&
        cat /var/lib/rvisor-hello/postinst-ran && dpkg -L rvisor-hello && dpkg -r rvisor-hello >/dev/null &&
        [ ! -e /usr/bin/rvisor-hello ] && dpkg -l rvisor-hello | tail -n 1 && echo removed'
root_case "useradd -m, su to the new user" /dev/null cat \
    sh -c 'useradd -m -u 1234 -s /bin/sh rvtest && id rvtest && grep ^rvtest: /etc/passwd &&
        ls -ld /home/rvtest | cut -d" " -f1,3,4 &&
        su rvtest -c "id; cd && pwd && touch mine && ls -l mine | cut -d\" \" -f1,3,4"'
root_case "su nobody and setpriv drop credentials" /dev/null cat \
    sh -c 'su nobody -s /bin/sh -c id &&
        setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "id; cat /etc/shadow 2>&1 >/dev/null; touch /root/x 2>&1; exit 0" &&
        setpriv --reuid=65534 --regid=65534 --init-groups grep -E "^(Uid|Gid|Groups|CapEff):" /proc/self/status'
root_case "python3 -m unittest test_userland (Debian python)" "$fx/py.tar" py_results \
    sh -c 'mkdir /tmp/py && cd /tmp/py && tar xmf - && python3 -B -m unittest -v test_userland 2>&1'

summary() {
    echo "== Debian userland: $pass passed, $fail failed, $skip skipped"
    local n
    for n in "${failed[@]}"; do echo "   failed: $n"; done
    [ $fail = 0 ]
}
if [ -n "${DEBIAN_TESTS_SELFCHECK:-}${HOSTROOT}${CENSUS}" ]; then summary; exit; fi

# --read-only: writes fail with EROFS, reads work.
name="--read-only: writes fail with EROFS"
if selected "$name"; then
    if [ $has_rootfs = 0 ]; then report_skip "$name" "rvisor do has no --rootfs"
    else
        out=$(sandbox_root --read-only sh -c 'cat /etc/debian_version >/dev/null && echo read; echo x > /rvisor-ro 2>&1; echo "status $?"; mkdir /etc/rvisor-ro 2>&1' 2>&1)
        if grep -q '^read$' <<<"$out" && grep -q 'Read-only file system' <<<"$out" && grep -q '^status 2$' <<<"$out" \
            && [ ! -e "$ROOT/rvisor-ro" ]; then report_pass "$name"
        else report_fail "$name" "$(tr '\n' '|' <<<"$out")"; fi
    fi
fi

# ---------------------------------------------------------------------------------------
# The overlay over a --rootfs directory: a scratch root (static busybox, a file to delete),
# so a broken overlay cannot dirty the Debian root.
scratch() {
    local d
    d=$(mktemp -d "$work/scratch.XXXXXX")
    mkdir -p "$d/bin" "$d/etc" "$d/tmp" "$d/proc" "$d/dev" "$d/sys"
    chmod 1777 "$d/tmp"
    cp "$BB" "$d/bin/busybox"
    ln -s busybox "$d/bin/sh"
    echo victim >"$d/etc/victim"
    echo "$d"
}
sandbox_scratch() {
    local d=$1; shift
    (cd / && timeout -k 5 60 env -i PATH=/bin "${LOG_ENV[@]}" "$RVISOR" do "${DO_FLAGS[@]}" --rootfs "$d" "$@")
}
OVL_SCRIPT='echo x > /marker && /bin/busybox cat /marker && echo y > /etc/new && /bin/busybox rm /etc/victim &&
    /bin/busybox ls /etc && /bin/busybox mkdir /newdir && echo ok'
name="--rootfs default overlay: writes stay out of the directory"
if selected "$name"; then
    if [ $has_rootfs = 0 ]; then report_skip "$name" "rvisor do has no --rootfs"
    elif [ ! -x "$BB" ]; then report_fail "$name" "no $BB (apt-get install busybox-static)"
    else
        d=$(scratch)
        out=$(sandbox_scratch "$d" /bin/sh -c "$OVL_SCRIPT" 2>&1); st=$?
        if [ $st = 0 ] && [ "$out" = "$(printf 'x\nnew\nok')" ] && [ ! -e "$d/marker" ] && [ ! -e "$d/etc/new" ] \
            && [ "$(cat "$d/etc/victim")" = victim ] && [ ! -e "$d/newdir" ]; then report_pass "$name"
        else report_fail "$name" "status $st, output $(tr '\n' '|' <<<"$out"), dir now: $(cd "$d" && find . | sort | tr '\n' ' ')"; fi
    fi
fi
name="--rootfs --overlay=none: writes reach the directory"
if selected "$name"; then
    if [ $has_rootfs = 0 ] || [ $has_overlay = 0 ]; then report_skip "$name" "rvisor do has no --rootfs/--overlay"
    elif [ ! -x "$BB" ]; then report_fail "$name" "no $BB (apt-get install busybox-static)"
    else
        d=$(scratch)
        out=$(sandbox_scratch "$d" --overlay=none /bin/sh -c "$OVL_SCRIPT" 2>&1); st=$?
        if [ $st = 0 ] && [ "$out" = "$(printf 'x\nnew\nok')" ] && [ "$(cat "$d/marker" 2>/dev/null)" = x ] \
            && [ "$(cat "$d/etc/new" 2>/dev/null)" = y ] && [ ! -e "$d/etc/victim" ] && [ -d "$d/newdir" ]; then
            report_pass "$name"
        else report_fail "$name" "status $st, output $(tr '\n' '|' <<<"$out"), dir now: $(cd "$d" && find . | sort | tr '\n' ' ')"; fi
    fi
fi

# ---------------------------------------------------------------------------------------
# Over the host's root (no --rootfs).
uniq=rvisor-debtests-$$-$RANDOM
name="host root: a binary the host just put in /tmp runs in the sandbox"
if selected "$name"; then
    if [ $has_overlay = 0 ]; then report_skip "$name" "rvisor do has no host-root overlay (--overlay); /tmp is private"
    else
        f=/tmp/$uniq-true; host_tmp_files+=("$f"); cp /bin/true "$f"
        # busybox picks its applet from argv[0]'s name: keep the name, in a unique directory.
        mkdir "/tmp/$uniq"; host_tmp_files+=("/tmp/$uniq"); g=/tmp/$uniq/busybox; cp "$BB" "$g"
        out=$(cd / && "$RVISOR" do "${DO_FLAGS[@]}" "$g" echo from-host-tmp 2>&1); st=$?
        "$RVISOR" do "${DO_FLAGS[@]}" "$f" 2>"$work/true.err"; st2=$?
        if [ $st = 0 ] && [ "$out" = from-host-tmp ] && [ $st2 = 0 ]; then report_pass "$name"
        else report_fail "$name" "busybox status $st output $out; /bin/true copy status $st2 $(head -c 300 "$work/true.err")"; fi
    fi
fi
name="host root: a write to /tmp in the sandbox never reaches the host's /tmp"
if selected "$name"; then
    f=/tmp/$uniq-w; host_tmp_files+=("$f")
    out=$(cd / && "$RVISOR" do "${DO_FLAGS[@]}" /bin/sh -c "echo x > $f && cat $f" 2>&1); st=$?
    if [ $st = 0 ] && [ "$out" = x ] && [ ! -e "$f" ]; then report_pass "$name"
    else report_fail "$name" "status $st, output $out, host file exists: $([ -e "$f" ] && echo yes || echo no)"; fi
fi
name="host root: a write under the default overlay (/var/tmp) never reaches the host"
if selected "$name"; then
    if [ $has_overlay = 0 ]; then report_skip "$name" "rvisor do has no host-root overlay (--overlay); the root is read-only"
    else
        f=$work/$uniq-w
        out=$(cd / && "$RVISOR" do "${DO_FLAGS[@]}" /bin/sh -c "echo x > $f && cat $f && rm $work/fx/hello/hello.c && echo removed" 2>&1); st=$?
        if [ $st = 0 ] && [ "$out" = "$(printf 'x\nremoved')" ] && [ ! -e "$f" ] && [ -e "$work/fx/hello/hello.c" ]; then report_pass "$name"
        else report_fail "$name" "status $st, output $(tr '\n' '|' <<<"$out"), host file exists: $([ -e "$f" ] && echo yes || echo no)"; fi
    fi
fi
name="python3 -m unittest test_userland (host python, host root)"
if selected "$name"; then
    # From a directory outside /tmp (the suite's own files go to TMPDIR, /tmp).
    (cd "$fx/py" && timeout -k 5 "$TIMEOUT" python3 -B -m unittest -v test_userland 2>&1) | py_results >"$work/native.out"
    ns=${PIPESTATUS[0]}
    (cd "$fx/py" && timeout -k 5 "$TIMEOUT" "$RVISOR" do "${DO_FLAGS[@]}" python3 -B -m unittest -v test_userland 2>"$work/sandbox.err") \
        >/dev/null
    ss=$?
    py_results <"$work/sandbox.err" >"$work/sandbox.out"
    : >"$work/sandbox.raw"
    py_compare "$name" "$ns" "$ss"
fi

summary
