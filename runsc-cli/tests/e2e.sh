#!/usr/bin/env bash
# End-to-end checks of `rvisor do`: busybox output compared with native runs, error paths,
# crash reporting, strace output, and proof that application syscalls never reach the host.
# Needs RVISOR (path to the binary), busybox-static and gcc.
set -uo pipefail
: "${RVISOR:?set RVISOR to the rvisor binary}"
BB=/bin/busybox
# Not under /tmp (wherever the checkout is): the sandbox's /tmp is its own tmpfs.
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

# Application syscalls never reach the host: an unimplemented call with a visible host effect
# (mknodat of a FIFO in the host's /tmp) must fail with ENOSYS and leave no trace on the host,
# and getpid must be the sandbox's pid 1.
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
    long r = syscall(SYS_mknodat, AT_FDCWD, "$probe", S_IFIFO | 0600, 0);
    printf("mknodat=%ld errno=%d getpid=%ld\n", r, r ? errno : 0, syscall(SYS_getpid));
    return 0;
}
C
gcc -static -O0 -o "$work/proof" "$work/proof.c"
out=$("$RVISOR" do "$work/proof" 2>&1)
if [ "$out" = "mknodat=-1 errno=38 getpid=1" ] && [ ! -e "$probe" ]; then ok "unimplemented syscall is ENOSYS and never runs on the host"
else bad "host isolation: '$out', host path exists: $([ -e "$probe" ] && echo yes || echo no)"; rm -f "$probe"; fi

# Writes land in the sandbox's /tmp, not the host's.
out=$("$RVISOR" do $BB sh -c "echo private > /tmp/rvisor-tmp-proof-$$ && read l < /tmp/rvisor-tmp-proof-$$ && echo \$l" 2>&1); st=$?
[ $st -eq 0 ] && [ "$out" = private ] && [ ! -e "/tmp/rvisor-tmp-proof-$$" ] && ok "sandbox /tmp is writable and private" || bad "sandbox /tmp: status $st, out '$out'"

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

# The syscall table is printed.
"$RVISOR" syscalls --format=markdown | grep -q '| 0 | read | full |' && ok "rvisor syscalls" || bad "rvisor syscalls"

echo "e2e: $pass passed, $fail failed"
[ $fail -eq 0 ]
