#!/usr/bin/env bash
# Installs the Debian packages lofi needs. Idempotent: installs only what is missing.
# Runs as root, or through sudo otherwise. Used by `make setup` and by the container build
# (deploy/Dockerfile), which passes --runtime to leave out what only the tests need.
set -euo pipefail

PACKAGES=(
  mma              # renders human-written jazz, bossa, ballad and soul grooves: the corpus accompaniment
  openttd-openmsx  # GPL-2 game music in MIDI: part of the default corpus
  python3-venv
  libfluidsynth3      # the synthesizer pyfluidsynth drives
  fluid-soundfont-gm  # the General MIDI SoundFont every part is rendered with
  ffmpeg              # video encoding (and ffprobe, which the tests use)
  fonts-dejavu-core   # the title font on covers, thumbnails and videos
)
TEST_PACKAGES=(
  postgresql          # the catalog at scale; tests start their own server on loopback
  redis-server        # the queue broker and cache at scale; tests start their own on loopback
  chromium            # the dashboard's browser test (driven by Playwright, no browser download)
  prometheus          # promtool checks the alert rules; tests scrape a real `lofi serve` with it
  wrk                 # `make bench`: the load generator of bench/api.py
  nginx-light         # with the RTMP module below: the loopback server `lofi radio --rtmp` is tested against
  libnginx-mod-rtmp
)
case "${1:-}" in
  --runtime) ;;  # a server or worker image: the tests' servers and browser stay out
  "") PACKAGES+=("${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  echo "system packages: all present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "installing system packages: ${missing[*]}"
$SUDO apt-get update -q
# Debian's prometheus package tries to start its service; without systemd (a container) that is
# refused by policy-rc.d or fails harmlessly, and the tests start their own server anyway.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# nginx is here for the RTMP tests, which start their own on loopback: the system service Debian starts
# on port 80 when systemd runs is not wanted, so it is stopped and left off
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
