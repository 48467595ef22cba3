#!/usr/bin/env bash
# Runs the whole test suite, with the services and tools it needs, and ends with one line "N passed, N failed".
#
#   scripts/test.sh                 # everything
#   scripts/test.sh --filter Name   # extra arguments go to dotnet test
#
# Installs missing Debian packages when run as root (bubblewrap, the serde_json and serde_derive crates,
# PostgreSQL, Ruby for the custom-runtime sample), so it works on a fresh machine. PostgreSQL is started by the
# tests themselves in a temporary folder, unless CRABLAMBDA_TEST_POSTGRES names a server to use. For the Docker
# tests it makes sure a Docker engine runs (installing docker.io), builds the runtime images from this machine's
# interpreters, and installs docker-compose when no Compose is there; when that fails the Docker tests fail.
set -uo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

need_packages=()
command -v bwrap >/dev/null || need_packages+=(bubblewrap)
[ -d /usr/share/cargo/registry/serde_json-1.0.87 ] || ls -d /usr/share/cargo/registry/serde_json-* >/dev/null 2>&1 \
    || need_packages+=(librust-serde-json-dev)
# Rust functions may derive serde's traits; Debian only suggests the derive crate.
ls -d /usr/share/cargo/registry/serde_derive-* >/dev/null 2>&1 || need_packages+=(librust-serde+serde-derive-dev)
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_packages+=(postgresql)
command -v python3 >/dev/null || need_packages+=(python3)
command -v node >/dev/null || need_packages+=(nodejs)
# The custom-runtime sample runs Ruby functions.
command -v ruby >/dev/null || need_packages+=(ruby)

if [ ${#need_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "Installing ${need_packages[*]}"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_packages[@]}" >/dev/null
    else
        echo "Missing packages: ${need_packages[*]} (install them, or run as root to have them installed)" >&2
    fi
fi

# The Docker executor's tests: an engine, and the images their workers run in. A failure here is reported by every
# Docker test, with its reason.
if bash scripts/docker/start-dockerd.sh; then
    bash scripts/docker/build-runtime-images.sh || echo "The runtime images could not be built" >&2
else
    echo "No Docker engine could be started" >&2
fi
# The compose file is checked with Compose itself.
if ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing docker-compose"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose; } >/dev/null \
        || echo "docker-compose could not be installed" >&2
fi

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

dotnet build CrabLambda.sln -c Release -nologo -v quiet || { echo "0 passed, 1 failed"; exit 1; }

status=0
dotnet test CrabLambda.sln -c Release --no-build --nologo \
    --logger "trx" --results-directory "$results" "$@" || status=$?

# Sum the counters of every test run's trx file.
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
if passed + failed == 0:
    failed = 1
print(f"{passed} passed, {failed} failed")
PY
exit $status
