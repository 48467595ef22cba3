#!/usr/bin/env bash
# Builds the images the Docker executor's tests run workers in, from this machine's own interpreters, with no
# registry:
#
#   crablambda/python:local   python3 with its standard library (no test suite, no IDLE, no Tk, no site packages)
#   crablambda/node:local     node
#   crablambda/base:local     no program at all: Rust workers are static binaries mounted by the server
#
#   scripts/docker/build-runtime-images.sh             # builds the images the engine does not have yet
#   scripts/docker/build-runtime-images.sh --rebuild   # builds all three again
#
# Each image is a root file system assembled from host files (the interpreter, the shared libraries it loads, the
# dynamic loader, /etc/passwd and /etc/group with nobody) and imported with docker import. The interpreters are
# $CRABLAMBDA_IMAGE_PYTHON (default /usr/bin/python3) and $CRABLAMBDA_IMAGE_NODE (default the node on PATH).
set -euo pipefail

cd "$(dirname "$0")"
# shellcheck source=rootfs.sh
. ./rootfs.sh

rebuild=$(read_rebuild_option "$0" "$@")

python=${CRABLAMBDA_IMAGE_PYTHON:-/usr/bin/python3}
node=${CRABLAMBDA_IMAGE_NODE:-$(command -v node || true)}
image_path=/usr/local/bin:/usr/bin:/bin

trap rootfs_end EXIT

# Whether an image is to be built: missing, or asked for again.
wanted() {
    $rebuild || ! image_exists "$1"
}

build_python() {
    rootfs_begin
    rootfs_add_python "$python"
    rootfs_import crablambda/python:local "ENV PATH=$image_path" "ENV LANG=C.UTF-8" 'CMD ["python3"]'
    rootfs_end
}

build_node() {
    rootfs_begin
    rootfs_add_node "$node"
    rootfs_import crablambda/node:local "ENV PATH=$image_path" "ENV LANG=C.UTF-8" 'CMD ["node"]'
    rootfs_end
}

build_base() {
    rootfs_begin
    rootfs_import crablambda/base:local "ENV PATH=$image_path" "ENV LANG=C.UTF-8"
    rootfs_end
}

if wanted crablambda/python:local; then build_python; fi
if wanted crablambda/node:local; then build_node; fi
if wanted crablambda/base:local; then build_base; fi

# A quick proof that each interpreter starts in its image as the executor runs it.
"$docker_cli" run --rm --network none --user 65534:65534 --read-only crablambda/python:local \
    python3 -I -c 'import json, socket, ssl, asyncio, ctypes, sqlite3, zlib; print("python ok")'
"$docker_cli" run --rm --network none --user 65534:65534 --read-only crablambda/node:local \
    node -e 'require("net"); require("crypto"); console.log("node ok")'
