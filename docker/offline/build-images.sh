#!/usr/bin/env bash
# Build the project's images where no container registry is reachable (our CI machines): start
# a Docker engine if none answers, make a Python 3.11 base from Debian's packages, download the
# pinned wheels on the host (pip cannot reach the index inside a build here), and build
# docker/*.Dockerfile with them. The Dockerfiles are the ones a user with a registry builds;
# only their build arguments differ (PYTHON_IMAGE, PIP_NO_INDEX, PIP_FIND_LINKS).
#
# Usage: docker/offline/build-images.sh [image ...]      (default: every image)
#        docker/offline/build-images.sh --prepare        (engine, base and wheelhouse only)
# Environment: DOCKER_HOST (an engine to use, else one is started), CALLCENTERAI_DOCKER_DIR
# (engine state, base file system, wheelhouse; default build/docker), REGISTRY and IMAGE_TAG
# (image names, as docker-compose.yml names them), DEBIAN_MIRROR.
# Writes one JSON line per image (name, tag, build seconds, size in bytes) to
# $CALLCENTERAI_DOCKER_DIR/images.jsonl, and prints the DOCKER_HOST to use afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

state=${CALLCENTERAI_DOCKER_DIR:-$PWD/build/docker}
registry=${REGISTRY:-ghcr.io/callcenterai}
tag=${IMAGE_TAG:-latest}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
python_image=callcenterai-python:3.11-bookworm
python=${PYTHON:-.venv/bin/python}
prepare_only=false
if [ "${1:-}" = "--prepare" ]; then
    prepare_only=true
    shift
fi
# The project's images (docker/*.Dockerfile), then the two that docker-compose.yml would pull,
# made here from Debian's packages (docker/offline/*.Dockerfile, for compose.offline.yml).
if [ $# -gt 0 ]; then images=("$@"); else images=(mlflow trainer tfidf transformer agent postgres prometheus); fi
mkdir -p "$state"

say() { echo "[images] $*"; }
fail() {
    echo "[images] error: $*" >&2
    exit 1
}

start_engine() {
    if [ -n "${DOCKER_HOST:-}" ] && docker info >/dev/null 2>&1; then return; fi
    command -v dockerd >/dev/null || fail "no Docker engine here: apt-get install docker.io"
    export DOCKER_HOST="unix://$state/docker.sock"
    if docker info >/dev/null 2>&1; then return; fi
    say "starting dockerd (state in $state, log $state/dockerd.log)"
    # No systemd and no iptables here: no default bridge; builds use the host's network and a
    # compose project gets its own network.
    dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
        --data-root="$state/data" --exec-root=/run/callcenterai-docker \
        --pidfile="$state/dockerd.pid" -H "$DOCKER_HOST" >"$state/dockerd.log" 2>&1 &
    for _ in $(seq 60); do
        if docker info >/dev/null 2>&1; then return; fi
        sleep 1
    done
    fail "dockerd did not answer within 60 s; its log ends with: $(tail -3 "$state/dockerd.log")"
}

# Debian 12 with its own Python 3.11 (python3.11, venv, CA certificates), made by debootstrap
# and imported as an image: `python` is Python 3.11 with venv, as in the official image.
build_base() {
    if docker image inspect "$python_image" >/dev/null 2>&1; then return; fi
    command -v debootstrap >/dev/null || fail "debootstrap missing: apt-get install debootstrap"
    local rootfs="$state/rootfs"
    rm -rf "$rootfs"
    say "Python 3.11 base from Debian 12's packages at $mirror (debootstrap, about a minute)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 ||
        fail "debootstrap failed; its log ends with: $(tail -3 "$state/debootstrap.log")"
    # Python with apt's own dependency resolution (debootstrap's --include misses some).
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    {
        chroot "$rootfs" apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -q \
                --no-install-recommends python3.11 python3.11-venv ca-certificates
    } >>"$state/debootstrap.log" 2>&1 ||
        fail "installing Python in the base failed; the log ends with: $(tail -3 "$state/debootstrap.log")"
    : >"$rootfs/etc/resolv.conf"
    ln -s /usr/bin/python3.11 "$rootfs/usr/local/bin/python"
    ln -s /usr/bin/python3.11 "$rootfs/usr/local/bin/python3"
    # Slim, as Debian's own -slim images are: no apt lists or package cache, and no
    # documentation (but the copyright files), manual pages or translations, now or from the
    # packages installed later.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
    find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/info/*
SLIM
    tar -C "$rootfs" -c . | docker import --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python"]' - "$python_image" >/dev/null
    rm -rf "$rootfs"
}

# The pinned versions of pyproject.toml (and the few pins the Dockerfiles add), as wheels for
# this platform, downloaded again only when one of those files changed.
fill_wheelhouse() {
    wheels="$state/wheelhouse"
    mkdir -p "$wheels"
    local sum
    sum=$(cat pyproject.toml docker/*.Dockerfile | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$wheels/.inputs.sha256" 2>/dev/null)" = "$sum" ]; then return; fi
    local extra_pins
    extra_pins=$(grep -ho '[a-z0-9-]*==[0-9][0-9.]*' docker/*.Dockerfile | sort -u)
    say "downloading the pinned wheels into $wheels"
    # pip wheel: the wheels of PyPI, and a wheel built here for the few sdist-only packages.
    # shellcheck disable=SC2086 # one argument per pin
    "$python" -m pip wheel --quiet --wheel-dir "$wheels" \
        ".[pipeline,transformer,serving,serving-transformer,agent]" "setuptools>=77" wheel \
        $extra_pins >"$state/wheelhouse.log" 2>&1 ||
        fail "pip wheel failed; its log ends with: $(tail -3 "$state/wheelhouse.log")"
    rm -f "$wheels"/callcenterai-*.whl # the project is built from its sources in each image
    echo "$sum" >"$wheels/.inputs.sha256"
}

serve_wheelhouse() {
    port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$python" -m http.server --bind 127.0.0.1 --directory "$wheels" "$port" >/dev/null 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null || true' EXIT
    for _ in $(seq 20); do
        if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null; then
            return
        fi
        sleep 0.5
    done
    fail "the wheelhouse server did not start"
}

build_image() {
    local image=$1 started log="$state/build-$1.log" name dockerfile args
    if [ -f "docker/$image.Dockerfile" ]; then
        name="$registry/callcenterai-$image:$tag" dockerfile="docker/$image.Dockerfile"
        args=(--build-arg PYTHON_IMAGE="$python_image" --build-arg PIP_NO_INDEX=1
            --build-arg PIP_FIND_LINKS="http://127.0.0.1:$port/" --build-arg PIP_TRUSTED_HOST=127.0.0.1)
    elif [ -f "docker/offline/$image.Dockerfile" ]; then
        name="$registry/callcenterai-offline-$image:$tag" dockerfile="docker/offline/$image.Dockerfile"
        args=(--build-arg BASE_IMAGE="$python_image")
    else
        fail "no docker/$image.Dockerfile or docker/offline/$image.Dockerfile"
    fi
    started=$(date +%s)
    say "building $name (log $log)"
    docker build --network host -f "$dockerfile" -t "$name" "${args[@]}" . >"$log" 2>&1 ||
        fail "$image: the build failed; its log ends with:
$(tail -8 "$log")"
    local seconds=$(($(date +%s) - started)) size
    size=$(docker image inspect -f '{{.Size}}' "$name")
    say "$name: $((size / 1000000)) MB, built in $seconds s"
    printf '{"image": "%s", "name": "%s", "build_s": %d, "size_bytes": %d}\n' \
        "$image" "$name" "$seconds" "$size" >>"$state/images.jsonl"
}

start_engine
build_base
fill_wheelhouse
if $prepare_only; then
    say "prepared; use this engine with: export DOCKER_HOST=$DOCKER_HOST"
    exit 0
fi
serve_wheelhouse
: >"$state/images.jsonl"
for image in "${images[@]}"; do
    build_image "$image"
done
say "done; use this engine with: export DOCKER_HOST=$DOCKER_HOST"
