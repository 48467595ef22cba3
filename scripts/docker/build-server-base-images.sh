#!/usr/bin/env bash
# Builds, with no registry, two base images that stand in for the official .NET images when the server's
# Dockerfile is built on a machine that cannot pull them:
#
#   crablambda/dotnet-sdk:local   this machine's .NET SDK (for SDK_IMAGE)
#   crablambda/aspnet:local       the ASP.NET Core shared runtime with setsid, python3 and node (for RUNTIME_IMAGE)
#
#   scripts/docker/build-server-base-images.sh             # builds the images the engine does not have yet
#   scripts/docker/build-server-base-images.sh --rebuild   # builds both again
#
# Both are root file systems assembled from host files (see rootfs.sh) with a shell and the few commands the
# Dockerfile runs. The SDK is $DOTNET_ROOT or the folder of the dotnet on PATH; python3 is $CRABLAMBDA_IMAGE_PYTHON
# (default /usr/bin/python3) and node $CRABLAMBDA_IMAGE_NODE (default the node on PATH).
set -euo pipefail

cd "$(dirname "$0")"
# shellcheck source=rootfs.sh
. ./rootfs.sh

rebuild=$(read_rebuild_option "$0" "$@")

dotnet_root=${DOTNET_ROOT:-$(dirname "$(realpath "$(command -v dotnet)")")}
python=${CRABLAMBDA_IMAGE_PYTHON:-/usr/bin/python3}
node=${CRABLAMBDA_IMAGE_NODE:-$(command -v node || true)}
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

trap rootfs_end EXIT

wanted() {
    $rebuild || ! image_exists "$1"
}

# What both images share: a shell and the commands a Dockerfile's RUN lines commonly use, the libraries .NET loads
# by name (ICU for globalization, OpenSSL for TLS, zlib), the certificates, and the dotnet command.
add_common() {
    local command
    rootfs_add_program /bin/sh
    for command in mkdir chown chmod rm ls cat env id; do
        rootfs_add_program "$(command -v "$command")"
    done
    local icu
    icu=$(ldconfig -p | awk '$1 ~ /^libicuuc\.so\.[0-9]+$/ && !found { print $1; found = 1 }')
    rootfs_add_library "$icu" "${icu/uc/i18n}" "${icu/uc/data}" libssl.so.3 libcrypto.so.3 libz.so.1
    rootfs_add_tree /etc/ssl/certs
    rootfs_add /usr/lib/ssl/certs /usr/lib/ssl/cert.pem
    rootfs_add_program "$dotnet_root/dotnet"
    rootfs_add_tree "$dotnet_root/host"
    rootfs_add_program "$dotnet_root"/host/fxr/*/*.so
    mkdir -p "$rootfs/usr/bin"
    [ -e "$rootfs/usr/bin/dotnet" ] || ln -s "$dotnet_root/dotnet" "$rootfs/usr/bin/dotnet"
    # The user the official .NET images define for running apps.
    echo 'app:x:1654:1654:app:/home/app:/usr/sbin/nologin' >>"$rootfs/etc/passwd"
    echo 'app:x:1654:' >>"$rootfs/etc/group"
    install -d -o 1654 -g 1654 "$rootfs/home/app"
}

build_sdk() {
    rootfs_begin
    add_common
    local folder
    for folder in sdk sdk-manifests packs shared; do
        rootfs_add_tree "$dotnet_root/$folder"
    done
    rootfs_add_program "$dotnet_root"/shared/*/*/*.so
    install -d -m 700 "$rootfs/root"
    local changes=("ENV PATH=$image_path" "ENV DOTNET_ROOT=$dotnet_root" "ENV DOTNET_NOLOGO=1"
        "ENV DOTNET_CLI_TELEMETRY_OPTOUT=1" "ENV DOTNET_RUNNING_IN_CONTAINER=true" "ENV NUGET_XMLDOC_MODE=skip")
    # Package signatures are checked as on this machine: where it cannot reach the revocation servers, neither
    # can a build on it.
    if [ -n "${NUGET_CERT_REVOCATION_MODE:-}" ]; then
        changes+=("ENV NUGET_CERT_REVOCATION_MODE=$NUGET_CERT_REVOCATION_MODE")
    fi
    rootfs_import crablambda/dotnet-sdk:local "${changes[@]}" 'CMD ["dotnet", "--info"]'
    rootfs_end
}

build_runtime() {
    rootfs_begin
    add_common
    local framework
    for framework in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
        rootfs_add_tree "$dotnet_root/shared/$framework"
    done
    rootfs_add_program "$dotnet_root"/shared/*/*/*.so
    # The server starts its process workers through setsid.
    rootfs_add_program "$(command -v setsid)"
    rootfs_add_python "$python"
    rootfs_add_node "$node"
    rootfs_import crablambda/aspnet:local "ENV PATH=$image_path" "ENV DOTNET_ROOT=$dotnet_root" \
        "ENV DOTNET_RUNNING_IN_CONTAINER=true" "ENV APP_UID=1654" "ENV LANG=C.UTF-8"
    rootfs_end
}

if wanted crablambda/dotnet-sdk:local; then build_sdk; fi
if wanted crablambda/aspnet:local; then build_runtime; fi

"$docker_cli" run --rm --network none crablambda/dotnet-sdk:local dotnet --version >/dev/null
"$docker_cli" run --rm --network none crablambda/aspnet:local sh -c \
    'case "$(dotnet --list-runtimes)" in *Microsoft.AspNetCore.App*) ;; *) exit 1 ;; esac
    python3 -c "import json, sqlite3, ssl" && node -e "require(\"crypto\")" && echo "server base images ok"'
