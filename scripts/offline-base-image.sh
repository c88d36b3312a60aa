#!/usr/bin/env bash
# offline-base-image.sh TAG: the images' Python base for a machine that reaches no image registry.
#
# Every image here builds FROM ${BASE_IMAGE}, python:3.11-slim wherever Docker Hub answers. Where
# it does not (CI on a machine with only a Debian mirror and PyPI), this builds the same thing
# from Debian's own packages: debootstrap of bookworm (python:3.11-slim's Debian) with Debian's
# Python 3.11, a venv at /opt/python first on PATH (so `python` and `pip` are there, as in
# python:3.11-slim), the host's extra CA certificates (a TLS-inspecting proxy's, which pip and apt
# then trust), imported into the Docker engine of DOCKER_HOST as TAG. Not a copy of the official
# image: Python 3.11 from Debian rather than python.org, in /usr/bin rather than /usr/local.
# It stays in the engine's data root, so a later run finds TAG and returns at once.
# Needs root (debootstrap, chroot), debootstrap and docker. Env: DEBIAN_MIRROR.
set -euo pipefail
tag="${1:?usage: offline-base-image.sh TAG}"

die() { echo "offline-base-image: error: $*" >&2; exit 1; }
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "offline-base-image: $tag is in the engine"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "building $tag needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap not found (Debian: apt-get install debootstrap)"
mirror="${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\{0,1\}$/\1/p' \
  /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}"
mirror="${mirror:-http://deb.debian.org/debian}"

start=$SECONDS
root="$(mktemp -d)"
trap 'rm -rf "$root" "$root.log"' EXIT
echo "offline-base-image: debootstrap bookworm + python3 from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
  "$mirror" >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; die "debootstrap failed"; }
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
chroot "$root" /usr/bin/python3 -m venv /opt/python
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/log/*.log
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "offline-base-image: $tag built in $((SECONDS - start))s ($(docker run --rm "$tag" python --version))"
