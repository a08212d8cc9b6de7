#!/usr/bin/env bash
# Docker and containerd integration of the OCI runtime: starts a private dockerd with rvisor
# registered by `rvisor install`, imports a busybox image (from busybox-static) and a Debian
# image (from the debootstrap root), and checks what a Docker user does with a runtime:
# run, exit codes, exec, logs, top, stop, kill, rm -f, -it through a pty, pause/unpause,
# update --memory, stats, restart policy, --read-only, -v, --tmpfs, --user, Debian programs,
# and `docker build` with rvisor as the default runtime. Then a private containerd runs a
# container through `ctr run --runc-binary rvisor` with `ctr task exec` and `ctr task kill`.
# Needs root. Usage: RVISOR=path DEBIAN_ROOT=dir bash scripts/docker-tests.sh
set -uo pipefail
: "${RVISOR:?set RVISOR to the rvisor binary}"
RVISOR=$(realpath "$RVISOR")
cd "$(dirname "$0")/.."
here=$PWD
if ! command -v dockerd >/dev/null 2>&1 || ! command -v ctr >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq docker.io containerd >/dev/null
fi
# The Debian package's client (a newer static client elsewhere on PATH works as well).
DOCKER=$(command -v docker)
work=$(mktemp -d /var/tmp/rvisor-docker.XXXXXX)
sock=/run/rvisor-dockerd.sock
exec_root=/run/rvisor-dockerd
data_root=/var/tmp/rvisor-dockerd-data
export DOCKER_HOST=unix://$sock
pass=0; fail=0
ok()  { echo "ok   $1"; pass=$((pass+1)); }
bad() { echo "FAIL $1"; fail=$((fail+1)); }
d() { timeout 120 "$DOCKER" "$@"; }
dockerd_pid=
ctrd_pid=

stop_dockerd() {
    if [ -n "$dockerd_pid" ]; then
        "$DOCKER" ps -aq 2>/dev/null | xargs -r timeout 60 "$DOCKER" rm -f >/dev/null 2>&1
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$dockerd_pid" 2>/dev/null
        dockerd_pid=
    fi
}
cleanup() {
    stop_dockerd
    [ -n "$ctrd_pid" ] && { kill "$ctrd_pid" 2>/dev/null; sleep 1; kill -9 "$ctrd_pid" 2>/dev/null; }
    rm -rf "$work"
}
trap cleanup EXIT

start_dockerd() {
    mkdir -p "$exec_root"
    dockerd --config-file "$work/daemon.json" --data-root "$data_root" --exec-root "$exec_root" \
        -H "unix://$sock" --pidfile "$work/dockerd.pid" "$@" >>"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 150); do
        "$DOCKER" version >/dev/null 2>&1 && return 0
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.2
    done
    echo "dockerd did not start:"; tail -20 "$work/dockerd.log"
    return 1
}

# --- rvisor install, then the daemon -------------------------------------------------------
echo '{"log-level": "warn"}' > "$work/daemon.json"
out=$("$RVISOR" install --config "$work/daemon.json" 2>&1); st=$?
if [ $st -eq 0 ] && python3 -c "import json,sys; c=json.load(open('$work/daemon.json')); sys.exit(0 if c['runtimes']['rvisor']['path']=='$RVISOR' and c['log-level']=='warn' else 1)"; then
    ok "rvisor install registers the runtime and keeps other keys"
else bad "rvisor install ($st): $out"; fi
if ! start_dockerd; then bad "dockerd starts"; echo "docker: $pass passed, $fail failed"; exit 1; fi
# A second runtime name, picked up by a reload (SIGHUP), as `rvisor install` tells the user.
"$RVISOR" install --config "$work/daemon.json" --runtime rvisor-debug -- --debug >/dev/null 2>&1
# The reload is asynchronous: wait for it (up to 10 s). The output is captured before grep
# looks at it: under pipefail, `d info | grep -q` fails when grep's early exit makes docker
# die of SIGPIPE.
kill -HUP "$dockerd_pid"
reloaded=0
for _ in $(seq 1 50); do
    info=$(d info 2>&1)
    case "$info" in *rvisor-debug*) reloaded=1; break ;; esac
    sleep 0.2
done
[ "$reloaded" = 1 ] && ok "daemon reload picks up a second runtime" \
    || bad "reload: $(printf '%s\n' "$info" | grep -i runtimes)"

# --- images ------------------------------------------------------------------------------
img=$work/bb
mkdir -p "$img/bin" "$img/etc" "$img/tmp" "$img/root"
cp /bin/busybox "$img/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$img/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n' > "$img/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' > "$img/etc/group"
tar -C "$img" -c . | d import -c 'ENV PATH=/bin' - rvisor-test/busybox >/dev/null \
    && ok "docker import of a busybox image" || bad "docker import busybox"
BB=rvisor-test/busybox
if [ -n "${DEBIAN_ROOT:-}" ] && [ -d "$DEBIAN_ROOT" ]; then
    tar -C "$DEBIAN_ROOT" -c . | d import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - rvisor-test/debian >/dev/null && ok "docker import of the Debian root" || bad "docker import debian"
fi
R=--runtime=rvisor

# --- run and exit status -----------------------------------------------------------------
out=$(d run --rm $R $BB echo hi 2>&1)
[ "$out" = hi ] && ok "docker run --rm echo hi" || bad "docker run echo: $out"
d run --rm $R $BB sh -c 'exit 5' >/dev/null 2>&1; st=$?
[ $st -eq 5 ] && ok "exit status 5 propagates" || bad "exit 5 gave $st"
out=$(d run --rm $R $BB sh -c 'cat /etc/hostname; grep -c localhost /etc/hosts; test -s /etc/resolv.conf && echo resolv' 2>&1)
[ "$(echo "$out" | sed -n 3p)" = resolv ] && [ -n "$(echo "$out" | sed -n 1p)" ] \
    && ok "Docker's hostname, hosts and resolv.conf file bind mounts" || bad "file binds: $out"

# --- a detached container ----------------------------------------------------------------
cid=$(d run -d --name c1 $R $BB sh -c 'echo started; trap "echo got-term; exit 143" TERM; while :; do sleep 1; done')
sleep 1
out=$(d exec c1 echo from-exec 2>&1)
[ "$out" = from-exec ] && ok "docker exec" || bad "docker exec: $out"
d exec c1 sh -c 'exit 7'; st=$?
[ $st -eq 7 ] && ok "docker exec exit status" || bad "docker exec status $st"
out=$(d exec -u 1000:1000 -w /tmp -e FOO=bar c1 sh -c 'id -u; id -g; pwd; echo $FOO' 2>&1 | tr '\n' ' ')
[ "$out" = "1000 1000 /tmp bar " ] && ok "docker exec -u -w -e" || bad "exec -u -w -e: $out"
out=$(d logs c1 2>&1)
[ "$out" = started ] && ok "docker logs" || bad "docker logs: $out"
out=$(d top c1 2>&1)
if [ "$(echo "$out" | grep -vc '^UID')" -ge 1 ]; then ok "docker top lists the container's processes"; else bad "docker top: $out"; fi
out=$(d exec c1 ps -o pid,comm 2>&1)
grep -q 'sleep' <<<"$out" && ok "ps inside sees the container's processes" || bad "ps inside: $out"
# Pause: a counter stops moving; resume: it moves again.
d exec -d c1 sh -c 'while :; do echo x >> /tmp/count; done'
sleep 0.5
d pause c1 >/dev/null && ok "docker pause" || bad "docker pause"
st=$(d inspect -f '{{.State.Status}}' c1)
[ "$st" = paused ] && ok "paused container reports paused" || bad "status while paused: $st"
d unpause c1 >/dev/null && ok "docker unpause" || bad "docker unpause"
a=$(d exec c1 sh -c 'wc -l < /tmp/count'); sleep 0.5; b=$(d exec c1 sh -c 'wc -l < /tmp/count')
[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] && ok "container runs again after unpause" || bad "counter after unpause: $a -> $b"
d pause c1 >/dev/null; sleep 0.3
host_stub=$(d top c1 | awk 'NR>1 {print $2}' | head -1)
a=$(awk '{print $14+$15}' "/proc/$host_stub/stat" 2>/dev/null); sleep 1
b=$(awk '{print $14+$15}' "/proc/$host_stub/stat" 2>/dev/null)
d unpause c1 >/dev/null
[ -n "$a" ] && [ "$a" = "$b" ] && ok "a paused container uses no CPU" || bad "cpu while paused: $a -> $b"
# update --memory and stats
d update --memory 300m --memory-swap 400m c1 >/dev/null 2>&1 && ok "docker update --memory" || bad "docker update"
lim=$(cat "/sys/fs/cgroup/memory/docker/$cid/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup/docker/$cid/memory.max" 2>/dev/null)
[ "$lim" = 314572800 ] && ok "update reaches the container's cgroup" || bad "cgroup limit after update: $lim"
mt=$(d exec c1 sh -c "grep MemTotal /proc/meminfo | awk '{print \$2}'")
[ "$mt" = 307200 ] && ok "update reaches the sentry (MemTotal 300 MiB)" || bad "MemTotal after update: $mt"
out=$(d stats --no-stream --format '{{.MemUsage}}' c1 2>&1)
grep -q 'MiB / 300MiB' <<<"$out" && ok "docker stats shows memory use and limit" || bad "docker stats: $out"
# stop: TERM handled
start=$(date +%s)
d stop -t 20 c1 >/dev/null
st=$(d inspect -f '{{.State.ExitCode}}' c1); took=$(( $(date +%s) - start ))
[ "$st" = 143 ] && [ $took -lt 10 ] && ok "docker stop: TERM handled by init (143, ${took}s)" || bad "docker stop handled: $st in ${took}s"
[ "$(d logs c1 2>&1 | tail -1)" = got-term ] && ok "init's TERM handler ran" || bad "logs after stop: $(d logs c1 2>&1 | tail -2)"
d rm c1 >/dev/null
# stop: TERM ignored by an init without a handler -> killed after the timeout
d run -d --name c2 $R $BB sleep 1000 >/dev/null; sleep 0.5
start=$(date +%s)
d stop -t 2 c2 >/dev/null
st=$(d inspect -f '{{.State.ExitCode}}' c2); took=$(( $(date +%s) - start ))
[ "$st" = 137 ] && [ $took -ge 2 ] && ok "docker stop: TERM ignored by pid 1, killed after the timeout (137)" || bad "docker stop ignored: $st in ${took}s"
d rm c2 >/dev/null
d run -d --name c3 $R $BB sleep 1000 >/dev/null; sleep 0.5
d kill c3 >/dev/null; sleep 0.5
st=$(d inspect -f '{{.State.ExitCode}}' c3)
[ "$st" = 137 ] && ok "docker kill (137)" || bad "docker kill: $st"
d rm c3 >/dev/null
d run -d --name c4 $R $BB sleep 1000 >/dev/null; sleep 0.5
d rm -f c4 >/dev/null && ok "docker rm -f of a running container" || bad "docker rm -f"
left=$(pgrep -fc "$RVISOR" || true)
[ "$left" = 0 ] && ok "no rvisor process left after the containers ended" || bad "rvisor processes left: $(pgrep -fa "$RVISOR")"

# --- terminals ---------------------------------------------------------------------------
out=$(timeout 60 python3 "$here/scripts/docker-tty.py" "$DOCKER" run -it --rm $R $BB sh 2>&1); st=$?
[ $st -eq 0 ] && ok "docker run -it: prompt, ^C interrupts the foreground command, exit status" || bad "docker run -it: $out"
d run -d --name t1 $R $BB sleep 1000 >/dev/null; sleep 0.5
out=$(timeout 60 python3 "$here/scripts/docker-tty.py" "$DOCKER" exec -it t1 sh 2>&1); st=$?
[ $st -eq 0 ] && ok "docker exec -it through a pty" || bad "docker exec -it: $out"
d rm -f t1 >/dev/null

# --- restart policy, mounts, users ---------------------------------------------------------
d run -d --name rp $R --restart on-failure:2 $BB sh -c 'exit 3' >/dev/null
for _ in $(seq 1 60); do
    [ "$(d inspect -f '{{.RestartCount}} {{.State.Status}}' rp)" = "2 exited" ] && break; sleep 0.5
done
out=$(d inspect -f '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}' rp)
[ "$out" = "2 exited 3" ] && ok "restart policy on-failure:2" || bad "restart policy: $out"
d rm -f rp >/dev/null
out=$(d run --rm $R --read-only $BB sh -c 'touch /x 2>&1; echo rc=$?' 2>&1)
grep -q 'Read-only file system' <<<"$out" && grep -q 'rc=1' <<<"$out" && ok "docker run --read-only" || bad "--read-only: $out"
mkdir -p "$work/vol" && echo from-host > "$work/vol/in"
out=$(d run --rm $R -v "$work/vol:/data" $BB sh -c 'cat /data/in; echo from-container > /data/out' 2>&1)
[ "$out" = from-host ] && [ "$(cat "$work/vol/out" 2>/dev/null)" = from-container ] \
    && ok "-v hostdir:/data read and write" || bad "-v: $out / $(cat "$work/vol/out" 2>&1)"
out=$(d run --rm $R --tmpfs /scratch $BB sh -c 'echo x > /scratch/a && cat /scratch/a && grep " /scratch " /proc/mounts | cut -d" " -f3' 2>&1)
[ "$out" = "$(printf 'x\ntmpfs')" ] && ok "--tmpfs /scratch" || bad "--tmpfs: $out"
out=$(d run --rm $R --user 1000:1000 $BB sh -c 'id -u; id -g; touch /root/x 2>/dev/null && echo wrote || echo denied' 2>&1 | tr '\n' ' ')
[ "$out" = "1000 1000 denied " ] && ok "--user 1000:1000" || bad "--user: $out"
out=$(d run --rm $R --pids-limit 8 $BB sh -c 'for i in $(seq 20); do sleep 1 & done; wait' 2>&1); st=$?
[ $st -ne 0 ] && grep -q "can't fork" <<<"$out" && ok "--pids-limit stops a fork loop inside the sandbox" || bad "--pids-limit: $st '$out'"
out=$(d run --rm $R --network none $BB sh -c 'cat /proc/net/dev >/dev/null 2>&1; echo ok' 2>&1)
[ "$out" = ok ] && ok "--network none starts" || bad "--network none: $out"

# --- Debian image --------------------------------------------------------------------------
if d image inspect rvisor-test/debian >/dev/null 2>&1; then
    out=$(d run --rm $R rvisor-test/debian apt-get --version 2>&1 | head -1)
    grep -q '^apt ' <<<"$out" && ok "Debian: apt-get --version" || bad "apt-get --version: $out"
    out=$(d run --rm $R rvisor-test/debian bash -c 'a=(x y z); echo ${#a[@]} $((6*7))' 2>&1)
    [ "$out" = "3 42" ] && ok "Debian: bash -c" || bad "bash -c: $out"
    out=$(d run --rm $R rvisor-test/debian python3 -c 'import json,subprocess; print(json.dumps(subprocess.run(["echo","x"],capture_output=True).stdout.decode()))' 2>&1)
    [ "$out" = '"x\n"' ] && ok "Debian: python3 with a subprocess" || bad "python3: $out"
else
    echo "skip Debian image checks (no DEBIAN_ROOT)"
fi

# --- networking: the sandbox's own stack on Docker's bridges --------------------------------
# Server: busybox httpd in the sandbox. The host reaches it through a published port
# (docker-proxy / DNAT) and directly; the host kernel in the container's namespace has no
# address and no TCP socket for it (the sentry moves frames over AF_PACKET).
hget() { curl -s -m 10 "$1" 2>/dev/null; }
d rm -f rv-web >/dev/null 2>&1
d run -d --name rv-web -p 127.0.0.1:18080:80 $R $BB sh -c \
    'mkdir -p /www && echo hello-from-the-sandbox > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
for _ in $(seq 1 50); do [ -n "$(hget http://127.0.0.1:18080/)" ] && break; sleep 0.2; done
out=$(hget http://127.0.0.1:18080/index.html)
[ "$out" = hello-from-the-sandbox ] && ok "-p 127.0.0.1:18080:80 serves the sandbox's httpd to curl on the host" \
    || bad "published port: '$out' $(d logs rv-web 2>&1 | tail -3)"
ip=$(d inspect -f '{{.NetworkSettings.IPAddress}}' rv-web 2>/dev/null)
out=$(hget "http://$ip/index.html")
[ -n "$ip" ] && [ "$out" = hello-from-the-sandbox ] && ok "the host reaches the container's bridge address $ip" \
    || bad "bridge address '$ip': '$out'"
out=$(d exec rv-web ip -4 -o addr show eth0 2>&1)
grep -q "inet $ip/" <<<"$out" && ok "ip addr in the sandbox shows Docker's address on eth0" || bad "ip addr: $out"
out=$(d exec rv-web ip route 2>&1)
grep -q "^default via" <<<"$out" && ok "ip route in the sandbox shows the default route" || bad "ip route: $out"
pid=$(d inspect -f '{{.State.Pid}}' rv-web 2>/dev/null)
# A client that holds a connection open while the namespace is inspected.
python3 -c "import socket,time; s=socket.create_connection(('$ip',80)); time.sleep(3)" &
holder=$!
sleep 1
host_addrs=$(nsenter -t "$pid" -n ip -4 -o addr show dev eth0 2>&1)
host_socks=$(nsenter -t "$pid" -n ss -Htanup 2>&1)
inside=$(d exec rv-web cat /proc/net/tcp /proc/net/tcp6 2>&1 | awk '$4=="01"' | wc -l)
wait $holder
[ -n "$pid" ] && [ -z "$host_addrs" ] && ok "the host kernel keeps no address on the container's eth0" \
    || bad "host addresses in the namespace: $host_addrs"
[ -n "$pid" ] && [ -z "$host_socks" ] && [ "$inside" -ge 1 ] \
    && ok "no host TCP/UDP socket in the namespace while the sandbox holds a connection ($inside established inside)" \
    || bad "host sockets: '$host_socks', established inside: $inside"
gw=$(d network inspect bridge -f '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null)
mkdir -p "$work/www" && echo hello-from-the-host > "$work/www/file"
(cd "$work/www" && exec timeout 60 python3 -m http.server 18081 --bind "$gw" >/dev/null 2>&1) &
srv=$!
for _ in $(seq 1 50); do hget "http://$gw:18081/file" >/dev/null && break; sleep 0.2; done
out=$(d run --rm $R $BB wget -q -O - "http://$gw:18081/file" 2>&1)
[ "$out" = hello-from-the-host ] && ok "a sandboxed container reaches a server on the host's bridge address $gw" \
    || bad "container -> host $gw: $out"
kill $srv 2>/dev/null
d rm -f rv-web >/dev/null 2>&1
d network rm rv-net >/dev/null 2>&1
d network create rv-net >/dev/null
d run -d --name rv-n1 --network rv-net $R $BB sh -c \
    'mkdir -p /www && echo hello-by-name > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
out=$(d run --rm --network rv-net $R $BB sh -c 'nslookup rv-n1 127.0.0.11 >/dev/null && wget -q -O - http://$(nslookup rv-n1 | awk "/^Address/ && !/127.0.0.11/ {print \$NF}" | tail -1)/index.html' 2>&1)
[ "$out" = hello-by-name ] && ok "user-defined bridge: a container finds another by name (Docker's DNS) and talks to it" \
    || bad "by name (busybox): $out"
if d image inspect rvisor-test/debian >/dev/null 2>&1; then
    out=$(d run --rm --network rv-net $R rvisor-test/debian python3 -c \
        'import urllib.request; print(urllib.request.urlopen("http://rv-n1/index.html", timeout=10).read().decode().strip())' 2>&1)
    [ "$out" = hello-by-name ] && ok "user-defined bridge: glibc's resolver and urllib reach rv-n1 by name" \
        || bad "by name (glibc): $out"
fi
d rm -f rv-n1 >/dev/null 2>&1
d network rm rv-net >/dev/null 2>&1
before=$(ip -4 -o addr | awk '{print $2, $4}' | sort)
out=$(d run --rm --network host $R $BB true 2>&1); st=$?
after=$(ip -4 -o addr | awk '{print $2, $4}' | sort)
[ $st -ne 0 ] && grep -q "host's network namespace" <<<"$out" && [ "$before" = "$after" ] \
    && ok "--network host is refused with a clear error (host networking is not built)" \
    || bad "--network host: $st '$out'"
out=$(d run --rm $R --user 1000:1000 $BB sh -c 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start; httpd -p 80 -h /tmp && echo bound' 2>&1 | tr '\n' ' ')
[ "$out" = "0 bound " ] && ok "Docker's ip_unprivileged_port_start=0 lets a non-root user bind port 80" \
    || bad "unprivileged port 80: '$out'"

# For the containerd checks (no registry: a `docker save` archive, which ctr imports).
d save -o "$work/bb-docker.tar" $BB || bad "docker save"

# --- docker build with rvisor as the default runtime ---------------------------------------
stop_dockerd
start_dockerd --default-runtime=rvisor || bad "dockerd with --default-runtime=rvisor starts"
mkdir -p "$work/build"
cat > "$work/build/Dockerfile" <<EOF
FROM $BB
RUN echo built > /built && mkdir -p /opt/x
RUN cat /built > /opt/x/copy && test "\$(cat /proc/1/comm)" = sh
CMD ["cat", "/opt/x/copy"]
EOF
: > "$work/calls"
if DOCKER_BUILDKIT=0 d build --no-cache -q -t rvisor-test/built "$work/build" >"$work/build.out" 2>&1; then
    out=$(d run --rm rvisor-test/built 2>&1)
    [ "$out" = built ] && ok "docker build with RUN steps under --default-runtime=rvisor" || bad "built image: $out"
else bad "docker build: $(tail -5 "$work/build.out")"; fi
stop_dockerd

# --- containerd + ctr ----------------------------------------------------------------------
if command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1; then
    croot=$work/ctrd; csock=/run/rvisor-ctrd.sock
    mkdir -p "$croot"
    cat > "$croot/config.toml" <<EOF
version = 2
root = "$croot/root"
state = "/run/rvisor-ctrd-state"
[grpc]
  address = "$csock"
EOF
    containerd --config "$croot/config.toml" >"$croot/log" 2>&1 &
    ctrd_pid=$!
    for _ in $(seq 1 100); do ctr -a "$csock" version >/dev/null 2>&1 && break; sleep 0.2; done
    C() { timeout 60 ctr -a "$csock" -n rvisor-test "$@"; }
    CI=docker.io/rvisor-test/busybox:latest
    C images import "$work/bb-docker.tar" >/dev/null 2>&1 && ok "ctr images import" || bad "ctr import: $(C images import "$work/bb-docker.tar" 2>&1 | tail -2)"
    out=$(C run --rm --runtime io.containerd.runc.v2 --runc-binary "$RVISOR" $CI k1 /bin/echo hi-ctr 2>&1)
    [ "$out" = hi-ctr ] && ok "ctr run --runc-binary rvisor" || bad "ctr run: $out"
    C run -d --runtime io.containerd.runc.v2 --runc-binary "$RVISOR" $CI k2 /bin/sleep 1000 >/dev/null 2>&1
    sleep 1
    out=$(C task exec --exec-id e1 k2 /bin/sh -c 'echo in-$((1+1))' 2>&1)
    [ "$out" = in-2 ] && ok "ctr task exec" || bad "ctr task exec: $out"
    C task kill -s SIGKILL k2 >/dev/null 2>&1
    for _ in $(seq 1 50); do
        tasks=$(C task ls 2>&1)
        grep -q 'k2.*STOPPED' <<<"$tasks" && break
        sleep 0.2
    done
    grep -q 'k2.*STOPPED' <<<"$tasks" && ok "ctr task kill" || bad "ctr task kill: $tasks"
    C task delete k2 >/dev/null 2>&1; C container delete k2 >/dev/null 2>&1
else
    echo "skip containerd checks (no containerd/ctr)"
fi

echo "docker: $pass passed, $fail failed"
[ $fail -eq 0 ]
