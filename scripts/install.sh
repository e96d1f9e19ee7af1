#!/usr/bin/env bash
# Installs an ecg-emotiond release as a systemd service (Debian/Ubuntu, JetPack):
#   tar xzf ecg-emotiond-<version>-linux-<arch>.tar.gz && sudo ecg-emotiond-<version>/install.sh
#   sudo /opt/ecg-emotiond/install.sh --rollback        # back to the release installed before
#
# Each release lives in its own folder under /opt/ecg-emotiond-releases/, and /opt/ecg-emotiond is
# a symlink to the one in use. An install checks the new release first (its architecture, that its
# own Node and onnxruntime run here, that it accepts the existing config), and only then swaps the
# symlink (one rename: a power cut leaves either the old or the new release, never a mix), installs
# the unit, restarts the service and waits for it to report ready. If the new release does not come
# up, the old one is put back and restarted. The release before is kept for --rollback; older ones
# are deleted. Config (/etc/ecg-emotiond) and state (/var/lib/ecg-emotiond) are never touched.
#
#   --root DIR   install under DIR instead of / (an image being built, or a test): no user is
#                created, nothing is started, the unit is enabled with `systemctl --root`.
#   --rollback   make the previous release current again (and restart the service).
#   --restart    with --root, restart the service all the same (tests run it with a stand-in
#                systemctl, since no systemd runs there).
#
# Exit codes: 0 installed (or rolled back); 1 nothing changed: a check failed, or the new release
# did not start and the old one is running again; 2 bad usage, or a release this machine cannot run.
set -euo pipefail
ROOT=""
ROLLBACK=0
RESTART=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --rollback) ROLLBACK=1; shift ;;
    --restart) FORCE_RESTART=1; shift ;;
    *) echo "install.sh: unknown argument $1 (usage: install.sh [--root DIR] [--rollback])" >&2; exit 2 ;;
  esac
done
[ -z "$ROOT" ] || RESTART="${FORCE_RESTART:-0}"
SRC="$(cd "$(dirname "$0")" && pwd -P)"
APP="$ROOT/opt/ecg-emotiond"
RELEASES="$ROOT/opt/ecg-emotiond-releases"
ETC="$ROOT/etc/ecg-emotiond"
UNIT_DIR="$ROOT/etc/systemd/system"

fail() { echo "install.sh: $1" >&2; exit "${2:-1}"; }
[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || fail "run as root (sudo)" 2

# The machine's architecture in Node's words, as release targets name it.
machine_target() {
  case "$(uname -m)" in
    x86_64 | amd64) echo linux-x64 ;;
    aarch64 | arm64) echo linux-arm64 ;;
    *) echo "linux-$(uname -m)" ;;
  esac
}

# A field of a release's RELEASE.json (flat JSON written by scripts/release.mjs).
release_field() {
  sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1/RELEASE.json" | head -n 1
}

# Everything the service needs from outside the release folder: the unit and its device modules,
# the example config (kept if one exists), the MQTT password file, the udev rules.
install_system_files() {
  local release="$1"
  install -d -m 0755 "$ETC" "$UNIT_DIR" "$ROOT/etc/udev/rules.d"
  [ -f "$ETC/config.yaml" ] || install -m 0644 "$release/systemd/ecg-emotiond.example.yaml" "$ETC/config.yaml"
  [ -f "$ETC/mqtt-password" ] || install -m 0600 /dev/null "$ETC/mqtt-password"
  install -m 0644 "$release/systemd/ecg-emotiond.service" "$UNIT_DIR/ecg-emotiond.service"
  install -m 0644 "$release/hw/udev/99-ecg-sensor.rules" "$ROOT/etc/udev/rules.d/99-ecg-sensor.rules"
}

# Points a symlink at a release folder in one rename(2). The link is relative (/opt/ecg-emotiond ->
# ecg-emotiond-releases/<name>), so it resolves the same inside an image and from outside it.
point() {
  local rel
  rel="$(basename "$2")"
  [ "$(dirname "$1")" = "$RELEASES" ] || rel="$(basename "$RELEASES")/$rel"
  rm -f "$1.swap"
  ln -s "$rel" "$1.swap"
  mv -T "$1.swap" "$1"
}

# The release folder a symlink points at (empty if it is not a symlink).
target_of() { [ -L "$1" ] && readlink -f "$1" || true; }

# systemctl restart waits for READY=1 (Type=notify) or for the start to fail.
restart_service() {
  if [ "$RESTART" = 0 ]; then
    systemctl --root="$ROOT" enable ecg-emotiond.service >/dev/null 2>&1
    return 0
  fi
  udevadm control --reload >/dev/null 2>&1 && udevadm trigger >/dev/null 2>&1 || true
  systemctl daemon-reload
  systemctl enable ecg-emotiond.service >/dev/null 2>&1
  systemctl restart ecg-emotiond.service && systemctl is-active --quiet ecg-emotiond.service
}

if [ "$ROLLBACK" = 1 ]; then
  FROM="$(target_of "$APP")"
  TO="$(target_of "$RELEASES/previous")"
  [ -n "$TO" ] && [ -d "$TO" ] || fail "no previous release to roll back to (under $RELEASES)"
  point "$APP" "$TO"
  [ -n "$FROM" ] && point "$RELEASES/previous" "$FROM"
  install_system_files "$TO"
  restart_service || fail "rolled back to $(basename "$TO"), but the service did not start: journalctl -u ecg-emotiond"
  echo "rolled back to $(basename "$TO")${FROM:+ (was $(basename "$FROM"); install.sh --rollback again returns to it)}"
  exit 0
fi

[ -f "$SRC/RELEASE.json" ] || fail "run it from an unpacked release (npm run release builds one)" 2
VERSION="$(release_field "$SRC" version)"
TARGET="$(release_field "$SRC" target)"
COMMIT="$(release_field "$SRC" commit)"
HERE="$(machine_target)"
[ "$TARGET" = "$HERE" ] || fail "this release is for $TARGET, this machine is $HERE ($(uname -m)): install ecg-emotiond-$VERSION-$HERE.tar.gz" 2

mkdir -p "$RELEASES"
# An install before releases had folders of their own: that folder becomes a release like the others.
if [ -d "$APP" ] && [ ! -L "$APP" ]; then
  legacy="$RELEASES/$(release_field "$APP" version || true)-legacy"
  mv -T "$APP" "$legacy"
  point "$APP" "$legacy"
fi
OLD="$(target_of "$APP")"

# The new release is staged beside the others, then checked as it will run.
NAME="$VERSION-${COMMIT:0:7}-$(date -u +%Y%m%dT%H%M%S%NZ)"
NEW="$RELEASES/$NAME"
STAGE="$NEW.partial"
rm -rf "$STAGE"
cp -a "$SRC" "$STAGE"
trap 'rm -rf "$STAGE"' EXIT

# An onnxruntime binding built on this machine (scripts/jetson/build-onnxruntime-node.sh: TensorRT
# and CUDA) goes along to a release that pins the same onnxruntime-node version.
ORT_BIN="node_modules/onnxruntime-node/bin/napi-v6/linux/${TARGET#linux-}"
ort_version() { sed -n 's/.*"onnxruntime-node": *"\([^"]*\)".*/\1/p' "$1/package.json" | head -n 1; }
if [ -n "$OLD" ] && [ -f "$OLD/$ORT_BIN/BUILT-HERE" ]; then
  if [ "$(cat "$OLD/$ORT_BIN/BUILT-HERE")" = "$(ort_version "$STAGE")" ]; then
    cp -a "$OLD/$ORT_BIN/." "$STAGE/$ORT_BIN/"
    echo "install.sh: kept this machine's own onnxruntime build ($(cat "$OLD/$ORT_BIN/BUILT-HERE"))"
  else
    echo "install.sh: warning: this machine's onnxruntime build is $(cat "$OLD/$ORT_BIN/BUILT-HERE"), the new release pins $(ort_version "$STAGE"): it runs on the CPU until scripts/jetson/build-onnxruntime-node.sh is run again" >&2
  fi
fi

# Checks, before the installed release is touched: its Node runs here (a wrong libc or a truncated
# download fails now, not at boot), its onnxruntime loads each shipped model and gives its fp32
# reference answers on this CPU, and it accepts the config in use (the example one on a first install).
check() {
  local what="$1"
  shift
  local out
  out="$("$@" 2>&1 >/dev/null)" || fail "the new release $VERSION fails a check ($what): $(printf '%s' "$out" | tail -n 1); nothing was changed"
}
if [ -x "$STAGE/node/bin/node" ]; then
  check "its Node runs here" "$STAGE/node/bin/node" -e 'process.exit(0)'
else
  # A release built with --no-node runs on the system's Node.
  command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' \
    || fail "this release has no Node of its own and needs Node >= 22.12 on the PATH" 2
fi
check "ecg-emotiond --version" "$STAGE/bin/ecg-emotiond" --version
CONFIG="$ETC/config.yaml"
[ -f "$CONFIG" ] || CONFIG="$STAGE/systemd/ecg-emotiond.example.yaml"
check "config $CONFIG" "$STAGE/bin/ecg-emotiond" config "$CONFIG"
for model in "$STAGE"/models/*/; do
  check "model inspect $(basename "$model")" "$STAGE/bin/ecg-emotiond" model inspect "$model"
done
mv -T "$STAGE" "$NEW"
trap - EXIT

if [ -z "$ROOT" ]; then
  id ecg-emotiond >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ecg-emotiond
  usermod -aG dialout ecg-emotiond
fi

OLD_PREVIOUS="$(target_of "$RELEASES/previous")"
point "$APP" "$NEW"
[ -n "$OLD" ] && point "$RELEASES/previous" "$OLD"
install_system_files "$NEW"

if ! restart_service; then
  echo "install.sh: ecg-emotiond $VERSION did not start; putting ${OLD:+$(basename "$OLD")}${OLD:-nothing} back" >&2
  journalctl -u ecg-emotiond -n 5 --no-pager >&2 2>/dev/null || true
  if [ -n "$OLD" ]; then
    point "$APP" "$OLD"
    if [ -n "$OLD_PREVIOUS" ]; then point "$RELEASES/previous" "$OLD_PREVIOUS"; else rm -f "$RELEASES/previous"; fi
    install_system_files "$OLD"
    restart_service || echo "install.sh: the previous release did not start either: journalctl -u ecg-emotiond" >&2
  else
    rm -f "$APP"
  fi
  rm -rf "$NEW"
  fail "the upgrade to $VERSION failed and was undone"
fi

# Keep the release in use and the one before it.
for dir in "$RELEASES"/*; do
  [ -L "$dir" ] || [ "$dir" = "$NEW" ] || [ "$dir" = "$OLD" ] || rm -rf "$dir"
done
echo "installed ecg-emotiond $VERSION ($TARGET) as ${APP#"$ROOT"} -> $NAME${OLD:+; previous: $(basename "$OLD") (install.sh --rollback)}"
[ -n "$ROOT" ] || echo "logs: journalctl -u ecg-emotiond -f; reload config: systemctl reload ecg-emotiond"
