#!/usr/bin/env bash
# End-to-end checks of `rvisor do`: busybox output compared with native runs, error paths,
# crash reporting, strace output, and proof that application syscalls never reach the host.
# Needs RVISOR (path to the binary), busybox-static and gcc.
set -uo pipefail
: "${RVISOR:?set RVISOR to the rvisor binary}"
BB=/bin/busybox
work=$(mktemp -d /var/tmp/rvisor-e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0; fail=0
ok()   { echo "ok   $1"; pass=$((pass+1)); }
bad()  { echo "FAIL $1"; fail=$((fail+1)); }

# same NAME CMD...: output and status in the sandbox equal native.
same() {
    local name=$1; shift
    "$@" >"$work/native.out" 2>&1; local ns=$?
    "$RVISOR" do "$@" >"$work/sandbox.out" 2>&1; local ss=$?
    if [ $ns -eq $ss ] && cmp -s "$work/native.out" "$work/sandbox.out"; then ok "$name"
    else bad "$name (native $ns, sandbox $ss)"; diff "$work/native.out" "$work/sandbox.out" | head -20; fi
}

out=$("$RVISOR" do $BB ls -l / 2>&1); st=$?
if [ $st -eq 0 ] && grep -q ' etc$' <<<"$out" && grep -q ' usr$' <<<"$out"; then ok "busybox ls -l /"; else bad "busybox ls -l / ($st): $out"; fi

out=$("$RVISOR" do $BB sh -c 'echo $((6*7))' 2>&1)
[ "$out" = 42 ] && ok "sh arithmetic prints 42" || bad "sh arithmetic: $out"

same "cat /etc/passwd" $BB cat /etc/passwd
same "wc /etc/passwd" $BB wc /etc/passwd
same "head -3 /etc/passwd" $BB head -n 3 /etc/passwd
same "sha256sum busybox" $BB sha256sum $BB
same "uname -a" $BB uname -a
same "ls -laR /etc" $BB ls -laR /etc
same "ls -l /usr/bin" $BB ls -l /usr/bin
# Dynamically linked programs: the loader maps ld.so (PT_INTERP), which maps libc.
same "dynamic /bin/ls -la /etc" /bin/ls -la /etc
if [ -x /usr/bin/python3 ]; then
    out=$("$RVISOR" do /usr/bin/python3 -c 'print(6*7)' 2>&1)
    [ "$out" = 42 ] && ok "dynamic python3 prints 42" || bad "python3: $out"
fi

out=$(echo hello | "$RVISOR" do $BB cat 2>&1)
[ "$out" = hello ] && ok "stdin passes through" || bad "stdin: $out"

# Stdout redirected to a file shares its offset with the shell: output written after the
# sandbox exits lands after the sandbox's, not over it.
{ "$RVISOR" do $BB echo one; echo two; } > "$work/offset.txt"
[ "$(cat "$work/offset.txt")" = "$(printf 'one\ntwo')" ] && ok "stdout file offset is shared with the host" || bad "stdout offset: $(cat "$work/offset.txt")"

"$RVISOR" do $BB sh -c 'exit 7'; st=$?
[ $st -eq 7 ] && ok "exit status passes through" || bad "exit status: $st"

# A missing command: one clear line, non-zero, nothing left running.
before=$(pgrep -fc 'rvisor gofer' || true)
err=$("$RVISOR" do /nonexistent 2>&1 >/dev/null); st=$?
after=$(pgrep -fc 'rvisor gofer' || true)
lines=$(printf '%s\n' "$err" | grep -c .)
if [ $st -ne 0 ] && [ "$lines" -eq 1 ] && grep -q 'nonexistent' <<<"$err" && [ "$before" = "$after" ]; then
    ok "missing command: one error line, exit $st, no stray gofer"
else bad "missing command: exit $st, stderr '$err', gofers $before -> $after"; fi

# A crashing program is reported as killed by SIGSEGV (139); the sentry exits cleanly.
printf '#include <stdio.h>\nint main(void){puts("before");fflush(stdout);*(volatile int*)8=1;return 0;}\n' > "$work/segv.c"
gcc -static -O0 -o "$work/segv" "$work/segv.c"
out=$("$RVISOR" do "$work/segv" 2>&1); st=$?
[ $st -eq 139 ] && grep -q before <<<"$out" && ok "segfault is exit 139" || bad "segfault: status $st, out '$out'"

# Application syscalls never reach the host: an unknown syscall number fails with ENOSYS,
# getpid is the sandbox's pid 1, and a file the application creates in the host's /tmp (seen
# through the root overlay) never appears on the host.
probe="/tmp/rvisor-host-proof-$$"
cat > "$work/proof.c" <<C
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    long r = syscall(777, 0, 0, 0);
    int e = r ? errno : 0;
    int fd = open("$probe", O_CREAT | O_WRONLY, 0600);
    printf("unknown=%ld errno=%d getpid=%ld created=%d\n", r, e, syscall(SYS_getpid), fd >= 0);
    return 0;
}
C
gcc -static -O0 -o "$work/proof" "$work/proof.c"
out=$("$RVISOR" do "$work/proof" 2>&1)
if [ "$out" = "unknown=-1 errno=38 getpid=1 created=1" ] && [ ! -e "$probe" ]; then ok "unknown syscall is ENOSYS; a file created in the sandbox never reaches the host"
else bad "host isolation: '$out', host path exists: $([ -e "$probe" ] && echo yes || echo no)"; rm -f "$probe"; fi

# The root overlay: the host's /tmp is visible (a binary the host just put there runs), a
# change to a host file stays in the sandbox, and the host copy is untouched.
cp "$work/proof" "/tmp/rvisor-e2e-bin-$$"
echo host > "/tmp/rvisor-e2e-file-$$"
out=$("$RVISOR" do $BB sh -c "/tmp/rvisor-e2e-bin-$$ >/dev/null && echo ran; cat /tmp/rvisor-e2e-file-$$; echo sandbox > /tmp/rvisor-e2e-file-$$; cat /tmp/rvisor-e2e-file-$$; rm /tmp/rvisor-e2e-bin-$$ && [ ! -e /tmp/rvisor-e2e-bin-$$ ] && echo gone" 2>&1); st=$?
if [ $st -eq 0 ] && [ "$out" = "$(printf 'ran\nhost\nsandbox\ngone')" ] && [ "$(cat /tmp/rvisor-e2e-file-$$)" = host ] && [ -x "/tmp/rvisor-e2e-bin-$$" ]; then ok "overlay: host /tmp visible, writes and removals stay in the sandbox"
else bad "overlay: status $st, out '$out', host file '$(cat /tmp/rvisor-e2e-file-$$)'"; fi
rm -f "/tmp/rvisor-e2e-bin-$$" "/tmp/rvisor-e2e-file-$$"

# --overlay=none writes through to the directory; --read-only refuses (EROFS); --rootfs runs
# over another root and a missing one is one clear line.
mkdir -p "$work/rootfs/bin" "$work/rootfs/data"
cp $BB "$work/rootfs/bin/busybox"
out=$("$RVISOR" do --rootfs "$work/rootfs" /bin/busybox sh -c 'echo layered > /data/f; /bin/busybox cat /data/f' 2>&1); st=$?
[ $st -eq 0 ] && [ "$out" = layered ] && [ ! -e "$work/rootfs/data/f" ] && ok "--rootfs with the default overlay keeps the directory unchanged" || bad "--rootfs overlay: status $st, out '$out'"
out=$("$RVISOR" do --rootfs "$work/rootfs" --overlay=none /bin/busybox sh -c 'echo through > /data/f' 2>&1); st=$?
[ $st -eq 0 ] && [ "$(cat "$work/rootfs/data/f" 2>/dev/null)" = through ] && ok "--overlay=none writes through to the directory" || bad "--overlay=none: status $st, out '$out'"
out=$("$RVISOR" do --rootfs "$work/rootfs" --read-only /bin/busybox sh -c 'echo x > /data/g' 2>&1); st=$?
[ $st -ne 0 ] && grep -q 'Read-only file system' <<<"$out" && [ ! -e "$work/rootfs/data/g" ] && ok "--read-only gives EROFS" || bad "--read-only: status $st, out '$out'"
# --volume: a bind mount served by its own gofer, written through to the host; a read-only
# one refuses writes; a missing mount point is made in the overlay, not on the host.
mkdir -p "$work/vol-rw" "$work/vol-ro" && echo in-ro > "$work/vol-ro/r"
out=$("$RVISOR" do -v "$work/vol-rw:/rvisor-e2e-vol/rw" -v "$work/vol-ro:/rvisor-e2e-vol/ro:ro" $BB sh -c 'echo through > /rvisor-e2e-vol/rw/x; cat /rvisor-e2e-vol/ro/r; { echo no > /rvisor-e2e-vol/ro/y; } 2>/dev/null || echo refused' 2>&1); st=$?
if [ $st -eq 0 ] && [ "$out" = "$(printf 'in-ro\nrefused')" ] && [ "$(cat "$work/vol-rw/x" 2>/dev/null)" = through ] && [ ! -e "$work/vol-ro/y" ] && [ ! -e /rvisor-e2e-vol ]; then ok "--volume rw and ro bind mounts"
else bad "--volume: status $st, out '$out'"; fi

# --memory-limit: a program allocating in a loop is OOM-killed inside the sandbox (or sees
# ENOMEM), tmpfs writes past the limit get ENOSPC, and the sandbox still reports cleanly.
cat > "$work/hog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    size_t total = 0;
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p) { printf("ENOMEM\n"); return 0; }
        memset(p, 1, 1 << 20);
        total += 1 << 20;
        if (total > (1ull << 32)) { printf("no limit\n"); return 1; }
    }
}
C
gcc -static -O1 -o "$work/hog" "$work/hog.c"
out=$("$RVISOR" do --memory-limit 64m "$work/hog" 2>&1); st=$?
if { [ $st -eq 137 ] && grep -q 'out of memory' <<<"$out"; } || { [ $st -eq 0 ] && [ "$out" = ENOMEM ]; }; then ok "--memory-limit: an allocating loop is stopped inside the sandbox (status $st)"
else bad "--memory-limit hog: status $st, out '$out'"; fi
# (Once the tmpfs file holds all of the memory, dd's own next page may cost it an OOM kill
# after it reported the error: status 1 or 137.)
out=$("$RVISOR" do --memory-limit 64m $BB dd if=/dev/zero of=/dev/shm/big bs=1M count=100 2>&1); st=$?
{ [ $st -eq 1 ] || [ $st -eq 137 ]; } && grep -q 'No space left on device' <<<"$out" && ok "--memory-limit: tmpfs writes past it get ENOSPC" || bad "--memory-limit tmpfs: status $st, out '$out'"

# OCI: `rvisor spec` + `rvisor run` of a hand-made busybox bundle; state while running, kill,
# exit statuses; each bad input is one line, a non-zero exit and no state left behind.
oci_root="$work/oci-root"
bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev" "$bundle/rootfs/tmp"
cp $BB "$bundle/rootfs/bin/busybox"
for c in sh sleep hostname id; do ln -sf busybox "$bundle/rootfs/bin/$c"; done
(cd "$bundle" && "$RVISOR" spec) && [ -s "$bundle/config.json" ] && ok "rvisor spec writes config.json" || bad "rvisor spec"
set_args() { python3 - "$bundle/config.json" "$@" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = sys.argv[2:]
json.dump(c, open(p, "w"))
PY
}
set_args sh -c 'hostname; id -u; exit 5'
out=$("$RVISOR" --root "$oci_root" run -b "$bundle" e2e-c1 2>&1); st=$?
[ $st -eq 5 ] && [ "$out" = "$(printf 'rvisor\n0')" ] && [ -z "$(ls -A "$oci_root")" ] && ok "rvisor run: output, exit status 5, no state left" || bad "rvisor run: status $st, out '$out', state '$(ls -A "$oci_root" 2>&1)'"
set_args sleep 30
"$RVISOR" --root "$oci_root" run -b "$bundle" --pid-file "$work/c2.pid" e2e-c2 & rp=$!
for _ in $(seq 50); do [ -s "$work/c2.pid" ] && break; sleep 0.1; done
st_json=$("$RVISOR" --root "$oci_root" state e2e-c2 2>&1)
dup=$("$RVISOR" --root "$oci_root" run -b "$bundle" e2e-c2 2>&1); dst=$?
"$RVISOR" --root "$oci_root" kill e2e-c2 KILL; wait $rp 2>/dev/null; kst=$?
# A foreground run removes the container once it has ended, as `runc run` does.
stopped=$("$RVISOR" --root "$oci_root" state e2e-c2 2>&1)
"$RVISOR" --root "$oci_root" delete --force e2e-c2; delst=$?
if grep -q '"status": "running"' <<<"$st_json" && grep -q "\"pid\": $(cat "$work/c2.pid")" <<<"$st_json" \
    && [ $dst -ne 0 ] && grep -q 'exists' <<<"$dup" && [ $kst -eq 137 ] \
    && grep -q 'does not exist' <<<"$stopped" && [ $delst -eq 0 ] && [ -z "$(ls -A "$oci_root")" ]; then
    ok "rvisor state while running, duplicate id refused, kill KILL → 137, run cleans up, delete --force"
else bad "rvisor state/kill: state '$st_json', dup $dst '$dup', kill status $kst, after '$stopped', delete $delst"; fi
# create/start: create returns with init loaded (state "created"), start runs it, the pid-file
# process exits with the container's status; run --detach is create + start.
set_args sh -c 'echo started; sleep 1; exit 3'
"$RVISOR" --root "$oci_root" create -b "$bundle" --pid-file "$work/cc.pid" e2e-cc </dev/null > "$work/cc.out" 2>&1; cst=$?
created=$("$RVISOR" --root "$oci_root" state e2e-cc 2>&1)
"$RVISOR" --root "$oci_root" start e2e-cc; sst=$?
running=$("$RVISOR" --root "$oci_root" state e2e-cc 2>&1)
again=$("$RVISOR" --root "$oci_root" start e2e-cc 2>&1); ast=$?
ccpid=$(cat "$work/cc.pid" 2>/dev/null)
for _ in $(seq 100); do kill -0 "$ccpid" 2>/dev/null || break; sleep 0.05; done
stopped=$("$RVISOR" --root "$oci_root" state e2e-cc 2>&1)
"$RVISOR" --root "$oci_root" delete e2e-cc; dst=$?
if [ $cst -eq 0 ] && grep -q '"status": "created"' <<<"$created" && [ $sst -eq 0 ] && grep -q '"status": "running"' <<<"$running" \
    && [ $ast -ne 0 ] && grep -q 'already running' <<<"$again" && grep -q '"status": "stopped"' <<<"$stopped" \
    && [ "$(cat "$work/cc.out")" = started ] && [ $dst -eq 0 ] && [ -z "$(ls -A "$oci_root")" ]; then
    ok "create → created, start → running, second start refused, stopped, delete"
else bad "create/start: create $cst, '$created', start $sst, '$running', again $ast '$again', '$stopped', out '$(cat "$work/cc.out")', delete $dst"; fi
set_args sleep 30
# (Detached sandboxes keep the caller's stdio: never the test's own output pipe.)
"$RVISOR" --root "$oci_root" run -d -b "$bundle" e2e-rd </dev/null >/dev/null 2>&1; rdst=$?
rd=$("$RVISOR" --root "$oci_root" state e2e-rd 2>&1)
"$RVISOR" --root "$oci_root" delete --force e2e-rd; fdst=$?
[ $rdst -eq 0 ] && grep -q '"status": "running"' <<<"$rd" && [ $fdst -eq 0 ] && [ -z "$(ls -A "$oci_root")" ] \
    && [ "$(pgrep -fc "boot --bundle $bundle e2e-rd")" -eq 0 ] && ok "run --detach, then delete --force" || bad "run -d: $rdst '$rd', delete --force $fdst"
# exec, ps, pause/resume, events, update, hooks on a running container.
python3 - "$bundle/config.json" "$work" <<'PY'
import json, sys
p, work = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["args"] = ["sleep", "30"]
hook = lambda name: {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {work}/hook-{name}.json"]}
c["hooks"] = {"createRuntime": [hook("createRuntime")], "poststart": [hook("poststart")], "poststop": [hook("poststop")]}
json.dump(c, open(p, "w"))
PY
O() { "$RVISOR" --root "$oci_root" "$@"; }
O run -d -b "$bundle" --pid-file "$work/ex.pid" e2e-ex </dev/null >/dev/null 2>&1
out=$(O exec e2e-ex sh -c 'echo in-$((20+22)); exit 4' 2>&1); est=$?
[ "$out" = in-42 ] && [ $est -eq 4 ] && ok "exec: output and exit status" || bad "exec: $est '$out'"
out=$(O exec --cwd /tmp -e X=y --user 1000:1000 e2e-ex sh -c 'pwd; echo $X; id -u' 2>&1 | tr '\n' ' ')
[ "$out" = "/tmp y 1000 " ] && ok "exec --cwd --env --user" || bad "exec flags: '$out'"
printf '{"args":["sh","-c","echo via-process"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]}' > "$work/proc.json"
out=$(O exec --process "$work/proc.json" e2e-ex 2>&1)
[ "$out" = via-process ] && ok "exec --process FILE" || bad "exec --process: '$out'"
O exec -d --pid-file "$work/exd.pid" e2e-ex sh -c 'sleep 0.3; exit 6' </dev/null >/dev/null 2>&1; dst=$?
wpid=$(cat "$work/exd.pid" 2>/dev/null)
# The waiter is our child's child: poll until it is gone, then its status is not ours to
# read; check it ran by its lifetime instead.
alive_then=$(kill -0 "$wpid" 2>/dev/null && echo yes)
for _ in $(seq 50); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.05; done
[ $dst -eq 0 ] && [ "$alive_then" = yes ] && ! kill -0 "$wpid" 2>/dev/null && ok "exec --detach: a waiter in --pid-file lives as long as the process" || bad "exec -d: $dst, waiter $wpid alive_then=$alive_then"
ps_json=$(O ps --format json e2e-ex 2>&1)
python3 -c 'import json,sys; p=json.loads(sys.argv[1]); assert p and all(isinstance(x,int) and x>1 for x in p)' "$ps_json" \
    && ok "ps --format json lists host pids" || bad "ps json: '$ps_json'"
O ps e2e-ex | grep -q ' sleep$' && ok "ps table shows the sandbox's processes" || bad "ps table: $(O ps e2e-ex 2>&1)"
O pause e2e-ex && paused=$(O state e2e-ex) && O resume e2e-ex && resumed=$(O state e2e-ex)
grep -q '"status": "paused"' <<<"$paused" && grep -q '"status": "running"' <<<"$resumed" && ok "pause/resume show in state" || bad "pause/resume: '$paused' '$resumed'"
ev=$(O events --stats e2e-ex 2>&1)
python3 -c 'import json,sys; e=json.loads(sys.argv[1]); assert e["type"]=="stats" and e["data"]["memory"]["usage"]["usage"]>0 and e["data"]["pids"]["current"]>=1' "$ev" \
    && ok "events --stats: runc's stats JSON from the sentry" || bad "events: '$ev'"
O update --memory 100m e2e-ex && mt=$(O exec e2e-ex sh -c "grep MemTotal /proc/meminfo")
grep -q ' 102400 kB' <<<"$mt" && ok "update --memory reaches the sentry" || bad "update: '$mt'"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["id"]=="e2e-ex" and s["pid"]==int(open(sys.argv[2]).read())' "$work/hook-createRuntime.json" "$work/ex.pid" \
    && [ -s "$work/hook-poststart.json" ] && ok "createRuntime and poststart hooks get the state on stdin" || bad "hooks: $(cat "$work"/hook-*.json 2>&1)"
expid=$(cat "$work/ex.pid")
# An exec waiter, reaped by a subreaper (as containerd's shim is) to read its status.
python3 - "$RVISOR" --root "$oci_root" exec -d e2e-ex sleep 100 > "$work/waiter.status" <<'PY' &
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL, check=True)
_, st = os.wait()
print(os.waitstatus_to_exitcode(st))
PY
waiter_reaper=$!
sleep 0.5
kill -9 "$expid"; wait $waiter_reaper; sleep 0.3
after=$(O state e2e-ex 2>&1)
err=$(O exec e2e-ex true 2>&1); xst=$?
left=$(pgrep -fc "boot --bundle $bundle e2e-ex"; pgrep -f rvisor-stub | xargs -r ps -o ppid= -p | grep -cw "$expid"; pgrep -fc "exec -d e2e-ex sleep")
O delete --force e2e-ex; fst=$?
grep -q '"status": "stopped"' <<<"$after" && [ $xst -ne 0 ] && grep -q 'stopped container' <<<"$err" && [ $fst -eq 0 ] \
    && [ -s "$work/hook-poststop.json" ] && [ -z "$(ls -A "$oci_root")" ] && [ "$(cat "$work/waiter.status")" = 137 ] \
    && [ "$(echo $left | tr -d ' 0')" = "" ] \
    && ok "kill -9 of the sandbox process: exec waiter exits 137, nothing left, exec refused, delete --force runs poststop" \
    || bad "after kill -9: '$after', exec $xst '$err', delete $fst, left '$left', waiter '$(cat "$work/waiter.status")'"
set_args sleep 30
python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c.pop('hooks',None); json.dump(c,open(p,'w'))" "$bundle/config.json"
# linux.maskedPaths / readonlyPaths: a masked file reads empty, a read-only path refuses writes.
mkdir -p "$bundle/rootfs/etc" && echo secret > "$bundle/rootfs/etc/secret"
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["root"]["readonly"] = False
c["process"]["args"] = ["sh", "-c", "wc -c < /etc/secret; touch /tmp/ro-test 2>&1; echo rc=$?"]
c["linux"]["maskedPaths"] = ["/etc/secret", "/no/such/path"]
c["linux"]["readonlyPaths"] = ["/tmp"]
json.dump(c, open(p, "w"))
PY
out=$("$RVISOR" --root "$oci_root" run -b "$bundle" e2e-mask 2>&1 | tr '\n' ' ')
grep -q '^0 .*Read-only file system rc=1 $' <<<"$out" && [ ! -e "$bundle/rootfs/tmp/ro-test" ] && [ "$(cat "$bundle/rootfs/etc/secret")" = secret ] && ok "maskedPaths and readonlyPaths" || bad "masked/readonly paths: '$out'"
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["linux"].pop("maskedPaths"); c["linux"].pop("readonlyPaths")
json.dump(c, open(p, "w"))
PY
set_args sleep 30
# process.terminal on the caller's own terminal (a foreground run without a console socket):
# init gets a sandbox pty, and the caller's terminal settings come back afterwards.
ln -sf busybox "$bundle/rootfs/bin/tty"
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = True
c["process"]["args"] = ["sh", "-c", "tty; exit 3"]
json.dump(c, open(p, "w"))
PY
out=$(timeout 60 python3 - "$RVISOR" "$oci_root" "$bundle" <<'PY'
import os, pty, select, sys, time
rv, root, bundle = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", f'"{rv}" --root "{root}" run -b "{bundle}" e2e-tty; echo "rc=$?"; stty -a | grep -o -- "-\\?icanon"'])
out, end = b"", time.time() + 30
while time.time() < end:
    if select.select([fd], [], [], 0.2)[0]:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
print(out.decode(errors="replace").replace("\r", ""))
PY
)
grep -q '^/dev/pts/0$' <<<"$out" && grep -q '^rc=3$' <<<"$out" && grep -qx 'icanon' <<<"$out" && [ -z "$(ls -A "$oci_root")" ] \
    && ok "process.terminal on the caller's terminal: a sandbox pty, exit status, terminal restored" || bad "terminal run: '$out'"
python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['process']['terminal']=False; json.dump(c,open(p,'w'))" "$bundle/config.json"
set_args sleep 30
"$RVISOR" --root "$oci_root" create -b "$bundle" e2e-ck </dev/null >/dev/null 2>&1
"$RVISOR" --root "$oci_root" kill e2e-ck KILL; sleep 0.3
killed=$("$RVISOR" --root "$oci_root" state e2e-ck 2>&1)
"$RVISOR" --root "$oci_root" delete e2e-ck
sleep 0.2
grep -q '"status": "stopped"' <<<"$killed" && [ -z "$(ls -A "$oci_root")" ] && [ "$(pgrep -fc "boot --bundle $bundle e2e-ck")" -eq 0 ] && ok "a created container can be killed and deleted" || bad "kill of a created container: '$(ls -A "$oci_root")', $(pgrep -fc "boot --bundle $bundle e2e-ck") sandbox processes"
"$RVISOR" --root "$oci_root" create -b "$bundle" e2e-cd </dev/null >/dev/null 2>&1 && "$RVISOR" --root "$oci_root" delete e2e-cd; sleep 0.2
[ -z "$(ls -A "$oci_root")" ] && [ "$(pgrep -fc "boot --bundle $bundle e2e-cd")" -eq 0 ] && ok "delete of a created container ends its sandbox process" || bad "delete of a created container"
bad_case() { # NAME EXPECTED-TEXT CMD...
    local name=$1 want=$2; shift 2
    local err st
    err=$("$@" 2>&1 >/dev/null); st=$?
    if [ $st -ne 0 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -qi -- "$want" <<<"$err" && [ -z "$(ls -A "$oci_root" 2>/dev/null)" ]; then ok "oci bad input: $name"
    else bad "oci bad input: $name: status $st, '$err'"; fi
}
bad_case "unknown id (state)" "does not exist" "$RVISOR" --root "$oci_root" state no-such
bad_case "unknown id (kill)" "does not exist" "$RVISOR" --root "$oci_root" kill no-such
bad_case "missing bundle" "not a directory" "$RVISOR" --root "$oci_root" run -b "$work/no-bundle" x1
mkdir -p "$work/badjson" && echo '{not json' > "$work/badjson/config.json"
bad_case "invalid JSON" "invalid" "$RVISOR" --root "$oci_root" run -b "$work/badjson" x2
set_args ""
bad_case "missing args[0]" "process.args" "$RVISOR" --root "$oci_root" run -b "$bundle" x3
set_args sh -c true
python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['process']['cwd']='relative'; json.dump(c,open(p,'w'))" "$bundle/config.json"
bad_case "relative cwd" "absolute" "$RVISOR" --root "$oci_root" run -b "$bundle" x4
bad_case "unknown signal" "unknown signal" "$RVISOR" --root "$oci_root" kill x5 NOPE
set_args /no/such/program
python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['process']['cwd']='/'; json.dump(c,open(p,'w'))" "$bundle/config.json"
bad_case "create with a missing program" "no such file" "$RVISOR" --root "$oci_root" create -b "$bundle" x6
bad_case "unknown id (exec)" "does not exist" "$RVISOR" --root "$oci_root" exec no-such true
bad_case "unknown id (ps)" "does not exist" "$RVISOR" --root "$oci_root" ps no-such
"$RVISOR" --root "$oci_root" delete --force no-such && ok "delete --force of an unknown id exits 0" || bad "delete --force of an unknown id"
"$RVISOR" --root "$oci_root" --log "$work/oci.log" --log-format json state no-such 2>/dev/null
python3 -c 'import json,sys; l=json.loads(open(sys.argv[1]).read().splitlines()[-1]); assert l["level"]=="error" and "no-such" in l["msg"] and l["time"].endswith("Z")' "$work/oci.log" \
    && ok "--log-format json writes the error as a JSON line" || bad "--log-format json: '$(cat "$work/oci.log" 2>&1)'"
"$RVISOR" features | python3 -c 'import json,sys; f=json.load(sys.stdin); assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"] and "poststop" in f["hooks"]' \
    && ok "rvisor features prints runc's JSON shape" || bad "rvisor features"

# Writable MAP_SHARED of a gofer file (--overlay=none): mapped writes reach the host file
# (at msync and munmap), read(2)/write(2) and the mapping see each other, and a forked child
# shares the pages; the file ends up byte for byte as natively.
cat > "$work/wb.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDWR);
    char *m = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd < 0 || m == MAP_FAILED) { perror("map"); return 1; }
    memcpy(m + 10, "MAPPED", 6);
    char buf[8] = {0};
    if (pread(fd, buf, 6, 10) != 6) return 2;
    if (pwrite(fd, "WRITTEN", 7, 100) != 7) return 3;
    printf("%s %.7s", buf, m + 100);
    pid_t p = fork();
    if (p == 0) { memcpy(m + 4096, "CHILD", 5); _exit(0); }
    waitpid(p, 0, 0);
    printf(" %.5s\n", m + 4096);
    if (msync(m, 8192, MS_SYNC)) return 4;
    memcpy(m + 200, "UNMAPPED", 8);
    return munmap(m, 8192);
}
C
gcc -static -O1 -o "$work/wb" "$work/wb.c"
head -c 8192 /dev/zero | tr '\0' . > "$work/wb-native"; cp "$work/wb-native" "$work/wb-sandbox"
nout=$("$work/wb" "$work/wb-native" 2>&1); nst=$?
sout=$("$RVISOR" do --overlay=none "$work/wb" "$work/wb-sandbox" 2>&1); sst=$?
if [ $sst -eq $nst ] && [ "$sout" = "$nout" ] && cmp -s "$work/wb-native" "$work/wb-sandbox"; then ok "writable MAP_SHARED of a gofer file writes back (--overlay=none)"
else bad "shared file mapping write-back: native $nst '$nout', sandbox $sst '$sout', files $(cmp "$work/wb-native" "$work/wb-sandbox" 2>&1)"; fi
err=$("$RVISOR" do --rootfs "$work/no-such-root" /bin/true 2>&1 >/dev/null); st=$?
[ $st -ne 0 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -q 'no-such-root' <<<"$err" && ok "missing --rootfs: one error line" || bad "missing --rootfs: status $st, '$err'"

# --strace shows decoded syscalls with results.
out=$("$RVISOR" do --strace $BB true 2>&1)
if grep -qE 'X arch_prctl\(0x1002, 0x[0-9a-f]+\) = 0' <<<"$out" && grep -q 'E exit_group(0)' <<<"$out"; then ok "--strace decodes syscalls"
else bad "--strace output:"; echo "$out" | head; fi

# /proc is the sandbox's own: pids, fds, mappings and the executable of the sandbox.
out=$("$RVISOR" do $BB sh -c 'echo $$; grep "^Pid:" /proc/self/status; grep "^Pid:" /proc/$$/status' 2>&1)
set -- $out
if [ "$#" -eq 5 ] && [ "$2" = Pid: ] && [ "$4" = Pid: ] && [ "$1" = 1 ] && [ "$5" = "$1" ] && [ "$3" != "$1" ]; then
    ok "/proc/self/status Pid: is the reader, /proc/\$\$ is the shell"
else bad "/proc status pids: '$out'"; fi

out=$("$RVISOR" do $BB sh -c 'exec 5</etc/passwd; ls /proc/self/fd; readlink /proc/$$/fd/5' 2>&1 | tr '\n' ' ')
[ "$out" = "0 1 2 3 5 /etc/passwd " ] && ok "ls /proc/self/fd lists 0 1 2, the dir fd and an inherited fd" || bad "ls /proc/self/fd: '$out'"

out=$("$RVISOR" do $BB readlink /proc/self/exe 2>&1)
[ "$out" = "$(readlink -f $BB)" ] && ok "readlink /proc/self/exe" || bad "readlink /proc/self/exe: '$out'"

out=$("$RVISOR" do $BB cat /proc/self/maps 2>&1)
if grep -qE "^[0-9a-f]+-[0-9a-f]+ r-xp [0-9a-f]{8} [0-9a-f]{2}:[0-9a-f]{2} [0-9]+ +$(readlink -f $BB)\$" <<<"$out" \
    && grep -qE '^[0-9a-f]+-[0-9a-f]+ rw-p 00000000 00:00 0 +\[stack\]$' <<<"$out"; then ok "/proc/self/maps has the busybox text and the stack"
else bad "/proc/self/maps:"; echo "$out" | head; fi

out=$("$RVISOR" do $BB cat /proc/self/cmdline 2>&1 | tr '\0' ' ')
[ "$out" = "$BB cat /proc/self/cmdline " ] && ok "/proc/self/cmdline" || bad "/proc/self/cmdline: '$out'"

# A ps-like listing of /proc: the shell (pid 1, comm "busybox" as invoked) and its background
# child once it has exec'd sleep (waited for, boundedly).
out=$("$RVISOR" do $BB sh -c 'sleep 3 & i=0; while [ $i -lt 200 ] && ! grep -qx sleep /proc/$!/comm; do i=$((i+1)); done
    for d in /proc/[0-9]*; do read c < $d/comm; echo "${d#/proc/} $c"; done; kill $!' 2>&1)
if grep -qx '1 busybox' <<<"$out" && grep -qE '^[0-9]+ sleep$' <<<"$out"; then ok "listing /proc shows the shell and its child"
else bad "/proc listing: '$out'"; fi

# busybox sh runs applets by exec'ing /proc/self/exe.
# (stdout only: sh's "Terminated" goes to stderr, as natively.)
out=$("$RVISOR" do $BB sh -c 'timeout 1 sleep 5; echo $?' 2>/dev/null)
[ "$out" = 143 ] && ok "timeout applet via /proc/self/exe" || bad "timeout 1 sleep 5: '$out'"

out=$("$RVISOR" do $BB cat /sys/devices/system/cpu/online /proc/sys/kernel/pid_max 2>&1 | tr '\n' ' ')
grep -qE '^0(-[0-9]+)? 32768 $' <<<"$out" && ok "/sys cpu online and /proc/sys/kernel/pid_max" || bad "sysfs/procfs sys: '$out'"

out=$("$RVISOR" do $BB cat /proc/self/stat 2>&1)
set -- $out
[ "$#" -eq 52 ] && [ "$2" = "(busybox)" ] && ok "/proc/self/stat has 52 fields" || bad "/proc/self/stat ($# fields): $out"

# ---- processes, threads, signals and blocking ----

# same_sh NAME SCRIPT: a busybox sh script gives native output and status in the sandbox.
same_sh() { same "$1" $BB sh -c "$2"; }
same_sh "pipelines, subshell, background job, wait" \
    'for i in 1 2 3; do echo $i | cat; done; (sleep 0.1; echo sub) & wait; echo done'
same_sh "command substitution and nested subshells" 'a=$(echo x $(echo y)); echo "$a"; (exit 4); echo $?'
same_sh "trap on a signal to self" 'trap "echo got" USR1; kill -USR1 $$; echo after'
# (The shell's "Killed" notice depends on when it reaps the job, natively too: stderr is dropped.)
same_sh "kill -9 of a background job" 'exec 2>/dev/null; sleep 10 & kill -9 $!; wait $!; echo $?'
same_sh "kill -9 of a busy loop" 'exec 2>/dev/null; while :; do :; done & kill -9 $!; wait $!; echo $?'
same_sh "timeout" 'timeout 1 sleep 5; echo $?'
same_sh "xargs" 'echo a b c | xargs -n1 echo'
same_sh "yes | head (SIGPIPE)" 'yes | head -3; echo ${PIPESTATUS:-done}'
same_sh "exit status of a pipeline and of a signalled child" 'false | true; echo $?; sh -c "kill -TERM \$\$"; echo $?'
same "env -i (execve with a new environment)" /usr/bin/env -i A=1 B=2 /usr/bin/env

if [ -x /usr/bin/python3 ]; then
    cat > "$work/py1.py" <<'PY'
import threading, subprocess, os, signal, time
from concurrent.futures import ThreadPoolExecutor
r = []
lock = threading.Lock()
def f(i):
    with lock: r.append(i * i)
ts = [threading.Thread(target=f, args=(i,)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print("threads", sorted(r))
print("subprocess", subprocess.run(["/bin/busybox", "echo", "sub"], capture_output=True).stdout)
pid = os.fork()
if pid == 0:
    os._exit(3)
print("fork status", os.waitpid(pid, 0)[1] >> 8)
fired = []
signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
signal.setitimer(signal.ITIMER_REAL, 0.05)
time.sleep(0.5)
print("setitimer fired", len(fired))
with ThreadPoolExecutor(4) as ex:
    print("pool", list(ex.map(lambda x: x + 1, range(5))))
PY
    same "python3 threading, subprocess, fork, setitimer, ThreadPoolExecutor" /usr/bin/python3 "$work/py1.py"
    cat > "$work/py2.py" <<'PY'
import multiprocessing as mp
ctx = mp.get_context("fork")
with ctx.Pool(2) as p:
    print("pool", p.map(abs, [-1, -2, 3]))
v = ctx.Value("i", 0)
def add(v):
    for _ in range(200):
        with v.get_lock():
            v.value += 1
ps = [ctx.Process(target=add, args=(v,)) for _ in range(3)]
[p.start() for p in ps]; [p.join() for p in ps]
print("value", v.value, "exit codes", [p.exitcode for p in ps])
PY
    same "python3 multiprocessing (fork context): Pool, shared Value with a lock" /usr/bin/python3 "$work/py2.py"
fi

# Unix domain sockets (sentry/src/socket): a socketpair, an AF_UNIX server thread on a path
# under /tmp and a client, a datagram pair.
if [ -x /usr/bin/python3 ]; then
    unix_py=$(cat <<'PY'
import os, socket, tempfile, threading
a, b = socket.socketpair()
a.sendall(b"pair")
print(b.recv(16))
d = tempfile.mkdtemp()
p = os.path.join(d, "s")
srv = socket.socket(socket.AF_UNIX)
srv.bind(p)
srv.listen(1)
def serve():
    c, _ = srv.accept()
    with c:
        c.sendall(c.recv(64).upper())
t = threading.Thread(target=serve)
t.start()
cl = socket.socket(socket.AF_UNIX)
cl.connect(p)
cl.sendall(b"hello over a path")
print(cl.recv(64))
cl.close()
t.join()
print(os.path.exists(p), srv.getsockname() == p)
os.unlink(p)
os.rmdir(d)
x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
x.send(b"one"); x.send(b"two")
print(y.recv(10), y.recv(10))
PY
)
    same "python3 -c AF_UNIX: socketpair, path server thread + client, dgram pair" /usr/bin/python3 -c "$unix_py"
fi

# A static multi-threaded Rust program: same output natively and in the sandbox.
if rustc -O -C target-feature=+crt-static -o "$work/threads" "$(dirname "$0")/programs/threads.rs" 2>"$work/rustc.err"; then
    same "static Rust: 8 threads, mutex/condvar/channels, TLS, caught panic, Command" "$work/threads"
else bad "building the threads program: $(head -3 "$work/rustc.err")"; fi

# SIGKILL ends a multi-threaded process whose threads block in futex, read and poll; the
# sandbox then exits at once (a hang would be caught by the 20 s bound).
cat > "$work/blocked.py" <<'PY'
import os, threading, select, time
r, w = os.pipe()
threading.Thread(target=lambda: os.read(r, 1), daemon=True).start()
threading.Thread(target=lambda: select.poll().poll(), daemon=True).start()
threading.Thread(target=lambda: threading.Event().wait(), daemon=True).start()
time.sleep(0.3)
os.kill(os.getpid(), 9)
PY
# (Run under sh: the sandbox's init ignores signals it has no handler for, SIGKILL included,
# like the init of any pid namespace.)
if [ -x /usr/bin/python3 ]; then
    out=$(timeout 20 "$RVISOR" do $BB sh -c "/usr/bin/python3 $work/blocked.py; echo \$?" 2>/dev/null); st=$?
    [ $st -eq 0 ] && [ "$out" = 137 ] && ok "SIGKILL ends a process with threads blocked in read/poll/futex" || bad "SIGKILL of blocked threads: status $st, '$out'"
fi

# A read of the runtime's stdin (a host pipe) sleeps on the host poller, so a trapped signal
# interrupts it as natively, and data arriving later is read.
S='trap "echo int" USR1; (sleep 0.3; kill -USR1 $$) & read x; echo "read=$?"'
native=$(sleep 2 | $BB sh -c "$S" 2>&1); sandbox=$(sleep 2 | timeout 10 "$RVISOR" do $BB sh -c "$S" 2>&1)
[ "$native" = "$sandbox" ] && ok "a signal interrupts a read of the host's stdin" || bad "interrupted stdin read: native '$native', sandbox '$sandbox'"
out=$( (sleep 0.5; echo data) | timeout 10 "$RVISOR" do $BB sh -c 'read x; echo got $x' 2>&1)
[ "$out" = "got data" ] && ok "a read of the host's stdin waits for data" || bad "stdin wait: '$out'"

# A signal to the runtime reaches init as from outside the pid namespace: SIGTERM ends an init
# without a handler (143) and runs an init's handler; no stub or gofer process is left behind.
procs_of() { pgrep -f "$1" | wc -l; }
before_gofers=$(procs_of 'rvisor gofer')
"$RVISOR" do $BB sleep 30 & rp=$!
sleep 0.5; kill -TERM $rp; wait $rp; st=$?
[ $st -eq 143 ] && ok "SIGTERM to rvisor ends an init without a handler (143)" || bad "SIGTERM to init: status $st"
"$RVISOR" do $BB sh -c 'trap "echo TERM; exit 3" TERM; sleep 30 & wait' > "$work/term.out" 2>&1 & rp=$!
sleep 0.5; kill -TERM $rp; wait $rp; st=$?
[ $st -eq 3 ] && grep -qx TERM "$work/term.out" && ok "SIGTERM to rvisor runs init's handler" || bad "SIGTERM handler in init: status $st, '$(cat "$work/term.out")'"
"$RVISOR" do $BB sh -c 'sleep 30 & sleep 30 & wait' & rp=$!
sleep 0.5
# The runtime's children (the master stub, the gofer) and grandchildren (the stubs forked
# from the master): none may survive the runtime.
desc=$(pgrep -P $rp); for c in $desc; do desc="$desc $(pgrep -P $c)"; done
stubs=$(echo $desc | wc -w)
kill -KILL $rp; wait $rp 2>/dev/null
sleep 0.5
# A zombie (reparented to a pid 1 that has not reaped it yet) runs nothing and is not counted.
left=0; for p in $desc; do
    grep -qs '^State:[[:space:]]*[^Z[:space:]]' /proc/$p/status && left=$((left + 1))
done
[ "$stubs" -gt 3 ] && [ "$left" -eq 0 ] && [ "$(procs_of 'rvisor gofer')" -eq "$before_gofers" ] \
    && ok "kill -9 of rvisor leaves no stub or gofer process ($stubs descendants before)" \
    || bad "leftovers after kill -9 of rvisor: $left children, gofers $(procs_of 'rvisor gofer') (before $before_gofers)"

# A fork bomb meets the sandbox's task limit (EAGAIN), and the sandbox survives it.
if [ -x /usr/bin/python3 ]; then
    cat > "$work/forkbomb.py" <<'PY'
import os, signal
pids = []
try:
    while True:
        p = os.fork()
        if p == 0:
            signal.pause(); os._exit(0)
        pids.append(p)
except OSError as e:
    print("fork failed:", os.strerror(e.errno))
for p in pids: os.kill(p, 9)
for p in pids: os.waitpid(p, 0)
print("reaped", len(pids))
PY
    out=$(timeout 60 "$RVISOR" do --pids-limit 64 /usr/bin/python3 "$work/forkbomb.py" 2>&1); st=$?
    [ $st -eq 0 ] && grep -q "fork failed: Resource temporarily unavailable" <<<"$out" && grep -q "reaped 63" <<<"$out" \
        && ok "fork bomb ends with EAGAIN at --pids-limit" || bad "fork bomb: status $st, '$out'"
fi

# int 0x80 from 64-bit code is not the 64-bit syscall of the same number: eax=1 would be
# write(2) there. With no IA32 emulation the sandbox answers SIGSEGV, like such a kernel.
cat > "$work/int80.c" <<'C'
#include <stdio.h>
int main(void) {
    static const char msg[] = "WRONG: int 0x80 ran the 64-bit write\n";
    long ret;
    fflush(stdout);
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(1), "D"(1), "S"(msg), "d"(sizeof msg - 1) : "memory");
    printf("int 0x80 returned %ld\n", ret);
    return 0;
}
C
gcc -static -O0 -o "$work/int80" "$work/int80.c"
out=$("$RVISOR" do "$work/int80" 2>&1); st=$?
! grep -q WRONG <<<"$out" && [ $st -eq 139 ] && ok "int 0x80 never runs the 64-bit syscall (SIGSEGV)" || bad "int 0x80: status $st, '$out'"

# A call into the vsyscall page (old static binaries) is emulated, not fatal.
cat > "$work/vsys.c" <<'C'
#include <stdio.h>
#include <time.h>
int main(void) {
    time_t (*vtime)(time_t *) = (time_t (*)(time_t *))0xffffffffff600400UL;
    time_t t = vtime(0);
    printf("%s\n", (t > 1600000000 && t - time(0) < 5 && time(0) - t < 5) ? "vsyscall time ok" : "bad");
    return 0;
}
C
gcc -static -O0 -o "$work/vsys" "$work/vsys.c"
same "vsyscall time() is emulated" "$work/vsys"

# The vDSO: clock_gettime, gettimeofday and time never trap into the sentry, in static and
# dynamic glibc programs alike (glibc finds the vDSO through AT_SYSINFO_EHDR in both), and
# /proc/self/maps names its pages as Linux does.
cat > "$work/clocks.c" <<'C'
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/time.h>
#include <time.h>
int main(void) {
    struct timespec a, b;
    struct timeval tv;
    long back = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        back += b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec);
        a = b;
        gettimeofday(&tv, 0);
        time(0);
    }
    printf("%s %s\n", getauxval(AT_SYSINFO_EHDR) ? "vdso" : "no-vdso", back ? "went-back" : "monotonic");
    return 0;
}
C
gcc -static -O2 -o "$work/clocks-static" "$work/clocks.c"
gcc -O2 -o "$work/clocks-dynamic" "$work/clocks.c"
for kind in static dynamic; do
    out=$("$RVISOR" do --strace "$work/clocks-$kind" 2>&1); st=$?
    traps=$(grep -cE '\] E (clock_gettime|gettimeofday|time)\(' <<<"$out")
    if [ $st -eq 0 ] && grep -q '^vdso monotonic$' <<<"$out" && [ "$traps" -eq 0 ]; then
        ok "$kind glibc reads the clocks through the vDSO (no trapped clock_gettime/gettimeofday/time)"
    else bad "$kind vDSO clocks: status $st, $traps trapped time calls"; grep -E 'clock_gettime|gettimeofday|time\(|vdso' <<<"$out" | head -5; fi
done
out=$("$RVISOR" do $BB cat /proc/self/maps 2>&1)
if grep -qE '^[0-9a-f]+-[0-9a-f]+ r--p 00000000 00:00 0 +\[vvar\]$' <<<"$out" \
    && grep -qE '^[0-9a-f]+-[0-9a-f]+ r-xp 00000000 00:00 0 +\[vdso\]$' <<<"$out"; then ok "/proc/self/maps shows [vvar] and [vdso]"
else bad "/proc/self/maps vDSO lines:"; echo "$out" | tail -4; fi

# More host files than the gofer may hold fds (one per cached dentry): the dentry cache stays
# within the fd limit, so every lookup still succeeds (it used to end in EMFILE).
mkdir -p "$work/many"
for d in $(seq 0 9); do mkdir "$work/many/d$d"; for i in $(seq 0 79); do : >"$work/many/d$d/f$i"; done; done
out=$(ulimit -n 256; "$RVISOR" do $BB sh -c "ls $work/many/d*/* | wc -l; for f in $work/many/d*/*; do [ -e \$f ] || echo missing \$f; done" 2>&1)
[ "$out" = 800 ] && ok "800 host files under ulimit -n 256 all resolve (bounded dentry cache)" \
    || bad "800 host files under ulimit -n 256: $(head -3 <<<"$out")"

# Rootfs data through donated fds and through 9P Tread alike.
head -c 3000000 /dev/urandom >"$work/blob"
want=$(md5sum <"$work/blob")
for dn in true false; do
    got2=$("$RVISOR" do --fd-donation=$dn $BB sh -c "$BB md5sum <$work/blob" 2>&1)
    [ "$got2" = "$want" ] && ok "rootfs file read with --fd-donation=$dn" || bad "--fd-donation=$dn: '$got2' want '$want'"
done

# A `#!` script as the sandbox's first process, and its comm (the script's name, as Linux
# sets it from the file asked for, also after execve).
printf '#!%s sh\nread c </proc/$$/comm; echo "$c $1"\n' "$BB" >"$work/comm-test.sh"
chmod +x "$work/comm-test.sh"
same "#! script as init, comm is the script's name" "$work/comm-test.sh" arg1
same "#! script through execve, comm is the script's name" $BB sh -c "exec $work/comm-test.sh arg2"

# Credentials: a user runs a set-user-ID-root program, which runs with euid 0 and its
# capabilities (and without the bit it runs as the user); the same natively and sandboxed.
cat > "$work/ids.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "drop") == 0) {
        if (syscall(SYS_setgid, 1000) || syscall(SYS_setuid, 1000)) { perror("setuid"); return 1; }
        execv(argv[2], (char *[]){argv[2], NULL});
        perror("execv");
        return 1;
    }
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    printf("uid %u euid %u suid %u\n", r, e, s);
    return 0;
}
C
gcc -static -O0 -o "$work/ids" "$work/ids.c"
cp "$work/ids" "$work/ids-setuid" && chown 0:0 "$work/ids-setuid" && chmod 4755 "$work/ids-setuid"
cp "$work/ids" "$work/ids-plain" && chmod 755 "$work/ids-plain"
same "set-user-ID root program run by a user gets euid 0" "$work/ids" drop "$work/ids-setuid"
same "ordinary program run by a user keeps the user's ids" "$work/ids" drop "$work/ids-plain"

# The syscall table is printed.
"$RVISOR" syscalls --format=markdown | grep -q '| 0 | read | full |' && ok "rvisor syscalls" || bad "rvisor syscalls"

echo "e2e: $pass passed, $fail failed"
[ $fail -eq 0 ]
