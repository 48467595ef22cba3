# Helpers for making Docker images from this machine's own files, with no registry: a root file system is
# assembled in a temporary folder from host files (programs with the shared libraries they load, folders, a few
# /etc files) and imported as an image. Sourced by the build-*-images.sh scripts; needs bash, coreutils, ldd, tar.

# The Docker client: the first on PATH.
docker_cli=${DOCKER_CLI:-docker}

# A failing step says which, even inside a function or a command substitution.
set -E
trap 'echo "${BASH_SOURCE[0]##*/}: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR

# Starts an empty root file system in a new temporary folder, named by $rootfs, with the folders every image has
# and the users root and nobody (65534).
rootfs_begin() {
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/crablambda-rootfs.XXXXXX")
    mkdir -p "$rootfs"/{etc,proc,sys,dev,run,var/task,opt/crablambda,usr/local/bin}
    install -d -m 1777 "$rootfs/tmp"
    printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
        'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$rootfs/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"
    printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
    # The engine mounts its own over these; they exist so that the image is complete without it.
    : >"$rootfs/etc/hosts"
    : >"$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/hostname"
    # A merged /usr (/bin -> usr/bin and the like) is kept as the host has it.
    local folder
    for folder in /bin /sbin /lib /lib32 /lib64 /libx32; do
        if [ -L "$folder" ]; then
            rootfs_add "$folder"
        fi
    done
}

# Removes the root file system.
rootfs_end() {
    if [ -n "${rootfs:-}" ] && [ -d "$rootfs" ]; then
        rm -rf "$rootfs"
    fi
    rootfs=
}

# Copies host paths into the root file system at the same place. A symbolic link, in the path itself or in a
# folder above it, stays a link and what it points to is copied too, so /lib -> usr/lib and
# python3 -> python3.11 look as they do on the host. A folder is made, not filled: see rootfs_add_tree.
rootfs_add() {
    local path
    for path in "$@"; do
        _rootfs_mirror "$path"
    done
}

_rootfs_mirror() {
    local path=$1 current="" rest part target
    [ -e "$path" ] || [ -L "$path" ] || {
        echo "rootfs: $path does not exist on this machine" >&2
        return 1
    }
    rest=${path#/}
    while [ -n "$rest" ]; do
        part=${rest%%/*}
        if [ "$part" = "$rest" ]; then rest=""; else rest=${rest#*/}; fi
        [ -n "$part" ] || continue
        current="$current/$part"

        if [ -L "$current" ]; then
            if [ ! -L "$rootfs$current" ] && [ ! -e "$rootfs$current" ]; then
                cp -P "$current" "$rootfs$current"
            fi
            target=$(readlink "$current")
            case $target in
                /*) ;;
                *) target="$(dirname "$current")/$target" ;;
            esac
            # The folders above are real (the walk got here), so a lexical clean-up of .. is exact.
            _rootfs_mirror "$(realpath -s -m "$target")"
            [ -n "$rest" ] && _rootfs_mirror "$(realpath "$current")/$rest"
            return 0
        elif [ -d "$current" ]; then
            [ -d "$rootfs$current" ] || mkdir -p "$rootfs$current"
        elif [ ! -e "$rootfs$current" ]; then
            cp -p "$current" "$rootfs$current"
        fi
    done
}

# Copies programs or shared libraries with every shared library they load, and the dynamic loader.
rootfs_add_program() {
    local program library
    for program in "$@"; do
        rootfs_add "$program"
        # ldd lists "name => /path (address)" and the loader as "/path (address)"; a static program, nothing.
        for library in $(ldd "$program" 2>/dev/null \
            | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
            rootfs_add "$library"
        done
    done
}

# Copies a folder with its contents, leaving out the entries matching the given tar --exclude patterns. A link in
# it whose target is not copied yet gets its target copied as rootfs_add does; a link dangling on the host stays
# dangling.
rootfs_add_tree() {
    local folder=$1 pattern link target
    shift
    local excludes=()
    for pattern in "$@"; do
        excludes+=("--exclude=$pattern")
    done

    rootfs_add "$(dirname "$folder")"
    tar -C / "${excludes[@]}" -cf - "${folder#/}" | tar -C "$rootfs" -xf -

    while IFS= read -r -d '' link; do
        link=${link#"$rootfs"}
        target=$(readlink "$link")
        case $target in
            /*) ;;
            *) target=$(realpath -s -m "$(dirname "$link")/$target") ;;
        esac
        if [ -e "$target" ] && [ ! -e "$rootfs$target" ]; then
            rootfs_add "$target"
        fi
    done < <(find "$rootfs$folder" -type l -print0)
}

# Copies a Python interpreter with its standard library and the libraries of its extension modules. The test
# suite, IDLE, Tk, the build configuration and the installers are most of the size and no function's; site and
# dist packages are left out too.
rootfs_add_python() {
    local python=$1 stdlib dynload name
    [ -x "$python" ] || { echo "rootfs: no python3 at '$python'" >&2; return 1; }
    stdlib=$("$python" -I -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
    dynload=$("$python" -I -c 'import sysconfig; print(sysconfig.get_path("platstdlib") + "/lib-dynload")')
    name=$(basename "$stdlib")

    rootfs_add_program "$python" "$(realpath "$python")"
    rootfs_add_tree "$stdlib" "$name/test" "$name/idlelib" "$name/tkinter" "$name/turtledemo" \
        "$name/lib2to3" "$name/ensurepip" "$name/distutils" "$name/pydoc_data" "$name/config-*" \
        "$name/site-packages" "$name/dist-packages"
    if [ -d "$dynload" ]; then
        rootfs_add_tree "$dynload"
        rootfs_add_program "$dynload"/*.so
    fi
    # ssl's default certificate file.
    if [ -e /usr/lib/ssl/cert.pem ]; then
        rootfs_add /usr/lib/ssl/cert.pem
    fi
}

# Copies node with its libraries, reachable as node on /usr/local/bin:/usr/bin:/bin whatever its host name.
rootfs_add_node() {
    local node=$1
    [ -n "$node" ] && [ -x "$node" ] || { echo "rootfs: no node at '$node'" >&2; return 1; }
    rootfs_add_program "$node" "$(realpath "$node")"
    if [ ! -e "$rootfs/usr/bin/node" ] && [ ! -e "$rootfs/usr/local/bin/node" ]; then
        ln -s "$(realpath "$node")" "$rootfs/usr/local/bin/node"
    fi
}

# Copies the shared libraries that are loaded by name at run time rather than linked (so ldd does not list
# them), as the cache of the dynamic loader finds them: e.g. rootfs_add_library libssl.so.3.
rootfs_add_library() {
    local name path
    for name in "$@"; do
        path=$(ldconfig -p \
            | awk -v name="$name" '$1 == name && $NF ~ /^\// && !found { print $NF; found = 1 }')
        [ -n "$path" ] || { echo "rootfs: the library $name is not on this machine" >&2; return 1; }
        rootfs_add_program "$path"
    done
}

# Prints true when the arguments are --rebuild and false when there are none; anything else is a usage error.
read_rebuild_option() {
    local script=$1 rebuild=false argument
    shift
    for argument in "$@"; do
        case $argument in
            --rebuild) rebuild=true ;;
            *)
                echo "usage: $script [--rebuild]" >&2
                exit 2
                ;;
        esac
    done
    echo "$rebuild"
}

# Whether the engine has the image.
image_exists() {
    "$docker_cli" image inspect "$1" >/dev/null 2>&1
}

# Imports the root file system as the image $1; the remaining arguments are Dockerfile instructions for
# docker import --change (ENV, USER, CMD, WORKDIR, ...).
rootfs_import() {
    local image=$1 change previous
    shift
    local changes=()
    for change in "$@"; do
        changes+=(--change "$change")
    done
    previous=$("$docker_cli" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    tar -C "$rootfs" --numeric-owner -cf - . | "$docker_cli" import "${changes[@]}" - "$image" >/dev/null
    # The image it replaces is removed, unless a container still uses it.
    if [ -n "$previous" ]; then
        "$docker_cli" rmi "$previous" >/dev/null 2>&1 || true
    fi
    echo "Built $image ($(du -sh "$rootfs" | cut -f1) on disk)"
}
