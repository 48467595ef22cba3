#!/usr/bin/env bash
# Makes sure a Docker engine answers on the local socket, for the Docker executor's tests.
#
#   scripts/docker/start-dockerd.sh
#
# Does nothing when an engine already answers (but makes its default bridge again if the host lost it). Otherwise,
# as root: installs Debian's docker.io when dockerd is missing; waits for a dockerd that is already running (one the
# init system started); or starts dockerd in the background, its log in artifacts/docker/dockerd.log (or
# $DOCKERD_LOG), with $DOCKERD_ARGS added to its arguments. Every wait lasts at most $DOCKERD_WAIT_SECS seconds (60
# by default); the script exits non-zero with the reason when no engine can be had. DOCKER_HOST, when it names a
# unix:// socket, says which socket; an engine elsewhere (tcp://) is only checked, never started.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$(pwd)

host=${DOCKER_HOST:-unix:///var/run/docker.sock}
wait_secs=${DOCKERD_WAIT_SECS:-60}
log=${DOCKERD_LOG:-$root/artifacts/docker/dockerd.log}

fail() {
    echo "start-dockerd: $*" >&2
    exit 1
}

# An engine answers when its /_ping says OK. curl speaks to the socket without any Docker client.
answers() {
    case $host in
        unix://*) curl -fsS --max-time 5 --unix-socket "${host#unix://}" http://localhost/_ping >/dev/null 2>&1 ;;
        tcp://*) curl -fsS --max-time 5 "http://${host#tcp://}/_ping" >/dev/null 2>&1 ;;
        *) fail "DOCKER_HOST=$host is neither unix:///path nor tcp://host:port" ;;
    esac
}

if ! command -v curl >/dev/null; then
    [ "$(id -u)" = 0 ] || fail "curl is missing: install it (apt-get install -y curl)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >/dev/null
fi

# The engine's default bridge is a network interface of the host; one deleted from under a running engine (by a
# reset of the host's network) makes every container with network fail to start. It is made again as the engine
# made it.
repair_default_bridge() {
    [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v docker >/dev/null || return 0
    local name subnet network bits a b c d
    name=$(docker network inspect bridge \
        --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null) || return 0
    [ -n "$name" ] && ! ip link show "$name" >/dev/null 2>&1 || return 0

    # The gateway is the subnet's first address, as the engine chose it.
    subnet=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
    network=${subnet%/*}
    bits=${subnet#*/}
    IFS=. read -r a b c d <<<"$network"
    local number=$(((a << 24 | b << 16 | c << 8 | d) + 1))
    local gateway="$((number >> 24 & 255)).$((number >> 16 & 255)).$((number >> 8 & 255)).$((number & 255))"

    echo "The engine's bridge $name is missing: making it again with $gateway/$bits"
    ip link add "$name" type bridge
    ip addr add "$gateway/$bits" dev "$name"
    ip link set "$name" up
}

if answers; then
    [ "${host#unix://}" = "$host" ] || repair_default_bridge
    exit 0
fi

case $host in
    unix://*) socket=${host#unix://} ;;
    *) fail "no Docker engine answers at $host, and one is only started here for a local unix socket" ;;
esac

[ "$(id -u)" = 0 ] || fail "no Docker engine answers at $host; run this as root to install and start one"

wait_for_engine() {
    local seconds=$1
    for ((i = 0; i < seconds; i++)); do
        answers && return 0
        sleep 1
    done
    return 1
}

if ! command -v dockerd >/dev/null; then
    echo "Installing docker.io"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
    command -v dockerd >/dev/null || fail "docker.io was installed but dockerd is still missing"
fi

# An engine started by the init system (as installing the package does) may still be on its way up.
if running=$(pgrep -x dockerd | tr '\n' ' '); [ -n "$running" ]; then
    echo "Waiting for the dockerd already running (pid ${running% })"
    if wait_for_engine "$wait_secs"; then
        repair_default_bridge
        echo "Docker engine ready at $host"
        exit 0
    fi
    fail "a dockerd is running (pid ${running% }) but does not answer at $host after $wait_secs s"
fi

mkdir -p "$(dirname "$log")"
echo "Starting dockerd (log: $log)"
# A session of its own, so that the engine outlives this script and the test run that called it.
# shellcheck disable=SC2086 # DOCKERD_ARGS holds several arguments.
setsid dockerd --host "unix://$socket" ${DOCKERD_ARGS:-} >"$log" 2>&1 </dev/null &
dockerd_pid=$!

for ((i = 0; i < wait_secs; i++)); do
    if answers; then
        echo "Docker engine ready at $host (dockerd pid $dockerd_pid)"
        exit 0
    fi
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 1
done

echo "The last lines of $log:" >&2
tail -n 20 "$log" >&2 2>/dev/null || true
if kill -0 "$dockerd_pid" 2>/dev/null; then
    fail "dockerd (pid $dockerd_pid) did not answer at $host within $wait_secs s"
fi
fail "dockerd exited before it answered at $host"
