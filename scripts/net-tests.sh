#!/usr/bin/env bash
# Networking end to end, without Docker: the sandbox's own TCP/IP stack (netstack) on
# loopback and on a container interface that the test wires itself, the way Docker's
# libnetwork or a CNI plugin would.
#
#   RVISOR=target/release/rvisor bash scripts/net-tests.sh
#
# Part 1, `rvisor do` (loopback only): python3 -m http.server serves a file to urllib in the
# same sandbox; `ip addr` / `ip route` show the sandbox's lo.
# Part 2, an OCI container in a network namespace made here (ip netns add): a veth pair, the
# host end 10.123.0.1/24 in the host namespace, the container end eth0 10.123.0.2/24 (and a
# default route) in the namespace, which the bundle's config.json names. `rvisor run` takes
# eth0 over, so: the host reaches busybox httpd and a TCP sink in the sandbox (a 24 MiB transfer
# whose md5 must match each way), a closed port is refused (RST from the sandbox), UDP goes
# both ways, the sandbox reaches a server on the host end, and the host kernel in the
# namespace keeps no address on eth0 and no socket while the sandbox holds a connection.
# Part 3: a spec without a network namespace (the host's) is refused, host addresses intact.
# Needs root and iproute2; /bin/busybox (busybox-static).
set -uo pipefail
: "${RVISOR:?set RVISOR to the rvisor binary}"
RVISOR=$(realpath "$RVISOR")
BB=/bin/busybox
pass=0; fail=0
ok()  { echo "ok   $1"; pass=$((pass+1)); }
bad() { echo "FAIL $1"; fail=$((fail+1)); }
[ "$(id -u)" = 0 ] || { echo "net-tests: needs root" >&2; exit 1; }
command -v ip >/dev/null || { apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; }

work=$(mktemp -d /var/tmp/rvisor-net.XXXXXX)
ns=rvisor-net-$$
root="$work/oci-root"
cleanup() {
    "$RVISOR" --root "$root" delete --force rv-net >/dev/null 2>&1
    jobs -p | xargs -r kill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    ip link del rvh$$ 2>/dev/null
    rm -rf "$work"
}
[ -n "${NET_TESTS_KEEP:-}" ] || trap cleanup EXIT

# --- part 1: loopback in `rvisor do` ---------------------------------------------------------
mkdir -p "$work/www" && echo served-in-the-sandbox > "$work/www/page.txt"
cat > "$work/serve_page.py" <<'PY'
import http.server, os, sys, threading, urllib.request
os.chdir(sys.argv[1])
srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
port = srv.server_address[1]
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/page.txt", timeout=20).read().decode().strip())
PY
out=$(timeout 120 "$RVISOR" do python3 "$work/serve_page.py" "$work/www" 2>/dev/null)
[ "$out" = served-in-the-sandbox ] && ok "python3 http.server serves urllib in the same sandbox" || bad "http.server: '$out'"
out=$(timeout 60 "$RVISOR" do $BB ip addr 2>&1)
grep -q "inet 127.0.0.1/8 scope host lo" <<<"$out" && grep -q "inet6 ::1/128" <<<"$out" \
    && ok "ip addr in the sandbox lists lo with 127.0.0.1/8 and ::1/128" || bad "ip addr: $out"
out=$(timeout 60 "$RVISOR" do $BB ip route show table local 2>&1)
grep -q "^local 127.0.0.1 dev lo" <<<"$out" && ok "ip route show table local" || bad "ip route local: $out"

# --- part 2: a container interface -----------------------------------------------------------
ip netns add "$ns" && ip link add rvh$$ type veth peer name rvc$$ && ip link set rvc$$ netns "$ns" \
    && ip netns exec "$ns" ip link set rvc$$ name eth0 \
    && ip addr add 10.123.0.1/24 dev rvh$$ && ip link set rvh$$ up \
    && ip netns exec "$ns" ip addr add 10.123.0.2/24 dev eth0 \
    && ip netns exec "$ns" ip link set eth0 up && ip netns exec "$ns" ip link set lo up \
    && ip netns exec "$ns" ip route add default via 10.123.0.1 \
    || { bad "wiring a veth into a namespace"; echo "net: $pass passed, $fail failed"; exit 1; }
bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/www" "$bundle/rootfs/proc" "$bundle/rootfs/sys" \
    "$bundle/rootfs/dev" "$bundle/rootfs/tmp"
cp $BB "$bundle/rootfs/bin/busybox"
for a in sh httpd nc md5sum wget ip cat sleep head; do ln -sf busybox "$bundle/rootfs/bin/$a"; done
echo hello-over-the-veth > "$bundle/rootfs/www/index.html"
head -c $((24 << 20)) /dev/urandom > "$bundle/rootfs/data.bin"
cat > "$work/udpecho.c" <<'C'
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    char buf[2048];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n >= 0) sendto(s, buf, n, 0, (struct sockaddr *)&from, fl);
    }
}
C
gcc -static -O2 -o "$bundle/rootfs/bin/udpecho" "$work/udpecho.c" || bad "building udpecho"
want=$(md5sum < "$bundle/rootfs/data.bin" | cut -d' ' -f1)
(cd "$bundle" && "$RVISOR" spec) || bad "rvisor spec"
python3 - "$bundle/config.json" "/var/run/netns/$ns" <<'PY'
import json, sys
p, nspath = sys.argv[1:3]
c = json.load(open(p))
c["process"]["terminal"] = False
c["root"]["readonly"] = False
# The sandbox's services: httpd on 80, a TCP sink that prints the md5 of what it got (port
# 9000), a UDP echo on 9001 and, on request over 9002, the data file sent back.
c["process"]["args"] = ["sh", "-c",
    "httpd -p 80 -h /www; "
    "(sleep 1000 | nc -l -p 9000 | md5sum > /tmp/sink.md5) & "
    "/bin/udpecho 9001 & "
    "(nc -l -p 9002 < /data.bin) & "
    "sleep 1000"]
for n in c["linux"]["namespaces"]:
    if n["type"] == "network":
        n["path"] = nspath
json.dump(c, open(p, "w"))
PY
"$RVISOR" --root "$root" run -d -b "$bundle" rv-net </dev/null >/dev/null 2>&1 || bad "rvisor run -d in the namespace"
hget() { curl -s -m 10 "$1" 2>/dev/null; }
for _ in $(seq 1 50); do [ -n "$(hget http://10.123.0.2/)" ] && break; sleep 0.2; done
out=$(hget http://10.123.0.2/index.html)
[ "$out" = hello-over-the-veth ] && ok "the host reaches the sandbox's httpd on its interface" || bad "httpd over the veth: '$out'"
out=$("$RVISOR" --root "$root" exec rv-net ip -4 -o addr show eth0 2>&1)
grep -q "inet 10.123.0.2/24" <<<"$out" && ok "ip addr in the sandbox shows eth0's address" || bad "ip addr eth0: $out"
out=$("$RVISOR" --root "$root" exec rv-net ip route 2>&1)
grep -q "^default via 10.123.0.1 dev eth0" <<<"$out" && grep -q "^10.123.0.0/24 dev eth0" <<<"$out" \
    && ok "ip route in the sandbox shows the default and the connected route" || bad "ip route: $out"
python3 -c "import socket,time; s=socket.create_connection(('10.123.0.2',80)); time.sleep(3)" &
holder=$!
sleep 1
host_addrs=$(ip netns exec "$ns" ip -4 -o addr show dev eth0 2>&1)
host_socks=$(ip netns exec "$ns" ss -Htanu 2>&1)
inside=$("$RVISOR" --root "$root" exec rv-net cat /proc/net/tcp /proc/net/tcp6 2>&1 | awk '$4=="01"' | wc -l)
packet=$(ip netns exec "$ns" cat /proc/net/packet | awk 'NR>1' | wc -l)
wait $holder
[ -z "$host_addrs" ] && ok "the host kernel keeps no address on the namespace's eth0" || bad "host addresses: $host_addrs"
[ -z "$host_socks" ] && [ "$inside" -ge 1 ] && [ "$packet" -ge 1 ] \
    && ok "no host TCP/UDP socket in the namespace while the sandbox holds a connection (only a packet socket)" \
    || bad "host sockets '$host_socks', established inside $inside, packet sockets $packet"
out=$(python3 - <<'PY'
import socket
try:
    socket.create_connection(("10.123.0.2", 81), timeout=10)
    print("connected")
except ConnectionRefusedError:
    print("refused")
except Exception as e:
    print(type(e).__name__)
PY
)
[ "$out" = refused ] && ok "a closed port of the sandbox refuses the host's connect (RST)" || bad "closed port: $out"
python3 - "$bundle/rootfs/data.bin" <<'PY' || bad "host -> sandbox transfer"
import socket, sys
s = socket.create_connection(("10.123.0.2", 9000), timeout=20)
s.sendall(open(sys.argv[1], "rb").read())
s.close()
PY
for _ in $(seq 1 50); do
    got=$("$RVISOR" --root "$root" exec rv-net cat /tmp/sink.md5 2>/dev/null | cut -d' ' -f1)
    [ -n "$got" ] && break; sleep 0.2
done
[ "$got" = "$want" ] && ok "24 MiB host -> sandbox arrive intact (md5)" || bad "host -> sandbox md5 '$got' want '$want'"
got=$(python3 - <<'PY'
import hashlib, socket
s = socket.create_connection(("10.123.0.2", 9002), timeout=20)
h = hashlib.md5()
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    h.update(b)
print(h.hexdigest())
PY
)
[ "$got" = "$want" ] && ok "24 MiB sandbox -> host arrive intact (md5)" || bad "sandbox -> host md5 '$got'"
out=$(python3 - <<'PY'
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
u.sendto(b"udp-ping", ("10.123.0.2", 9001))
try:
    data, frm = u.recvfrom(100)
    print(data.decode(), frm[0], frm[1])
except Exception as e:
    print(type(e).__name__)
PY
)
[ "$out" = "udp-ping 10.123.0.2 9001" ] && ok "UDP to the sandbox and back" || bad "udp echo: $out"
echo from-the-host > "$work/www/host.txt"
(cd "$work/www" && exec timeout 60 python3 -m http.server 18090 --bind 10.123.0.1 >/dev/null 2>&1) &
for _ in $(seq 1 50); do hget http://10.123.0.1:18090/host.txt >/dev/null && break; sleep 0.2; done
out=$("$RVISOR" --root "$root" exec rv-net wget -q -O - http://10.123.0.1:18090/host.txt 2>&1)
[ "$out" = from-the-host ] && ok "the sandbox reaches a server on the host end of the veth" || bad "sandbox -> host: $out"
[ -n "${NET_TESTS_KEEP:-}" ] && { echo "kept: $work, namespace $ns"; exit 1; }
"$RVISOR" --root "$root" delete --force rv-net >/dev/null 2>&1
[ -z "$(pgrep -f "boot --bundle $bundle rv-net")" ] && ok "delete --force ends the networked sandbox" || bad "sandbox left"

# A spec without a network namespace of its own (Docker's --network host) is refused: taking
# over the host's namespace would strip the host's addresses.
before=$(ip -4 -o addr | awk '{print $2, $4}' | sort)
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
c["process"]["args"] = ["sh", "-c", "true"]
json.dump(c, open(p, "w"))
PY
out=$("$RVISOR" --root "$root" run -b "$bundle" rv-hostnet </dev/null 2>&1); st=$?
after=$(ip -4 -o addr | awk '{print $2, $4}' | sort)
[ $st -ne 0 ] && grep -q "host's network namespace" <<<"$out" && [ "$before" = "$after" ] \
    && [ -z "$(ls -A "$root" 2>/dev/null)" ] \
    && ok "a spec sharing the host's network namespace is refused with one line, host addresses untouched" \
    || bad "host namespace: $st '$out'"

echo "net: $pass passed, $fail failed"
[ $fail -eq 0 ]
