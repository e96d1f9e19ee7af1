#!/usr/bin/env bash
# Installs an ecg-emotiond release as a systemd service (Debian/Ubuntu, JetPack):
#   tar xzf ecg-emotiond-<version>-linux-<arch>.tar.gz && sudo ecg-emotiond-<version>/install.sh
# Copies the release to /opt/ecg-emotiond (an upgrade replaces it; config and state stay), creates
# the ecg-emotiond user (groups: dialout), installs the unit, the example config (kept if one
# exists), an empty MQTT password file and the udev rules, checks the config, enables and starts
# the service.
#   --root DIR   install under DIR instead of / (an image being built, or a test): no user is
#                created, nothing is started, the unit is enabled with `systemctl --root`.
set -euo pipefail
ROOT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    *) echo "install.sh: unknown argument $1 (usage: install.sh [--root DIR])" >&2; exit 2 ;;
  esac
done
SRC="$(cd "$(dirname "$0")" && pwd)"
[ -f "$SRC/RELEASE.json" ] || { echo "install.sh: run it from an unpacked release (npm run release builds one)" >&2; exit 2; }
[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
APP="$ROOT/opt/ecg-emotiond"
ETC="$ROOT/etc/ecg-emotiond"

if [ ! -x "$SRC/node/bin/node" ]; then
  # A release built with --no-node runs on the system's Node.
  command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' \
    || { echo "install.sh: this release has no Node of its own and needs Node >= 22.12 on the PATH" >&2; exit 1; }
fi

if [ -z "$ROOT" ]; then
  id ecg-emotiond >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ecg-emotiond
  usermod -aG dialout ecg-emotiond
fi

# The app: replaced as a whole, so no file of an older version stays behind.
mkdir -p "$(dirname "$APP")"
rm -rf "$APP.new"
cp -a "$SRC" "$APP.new"
rm -f "$APP.new/install.sh"
if [ -d "$APP" ]; then mv "$APP" "$APP.old"; fi
mv "$APP.new" "$APP"
rm -rf "$APP.old"

install -d -m 0755 "$ETC" "$ROOT/etc/systemd/system" "$ROOT/etc/udev/rules.d"
[ -f "$ETC/config.yaml" ] || install -m 0644 "$APP/systemd/ecg-emotiond.example.yaml" "$ETC/config.yaml"
[ -f "$ETC/mqtt-password" ] || install -m 0600 /dev/null "$ETC/mqtt-password"
install -m 0644 "$APP/systemd/ecg-emotiond.service" "$ROOT/etc/systemd/system/ecg-emotiond.service"
install -m 0644 "$APP/hw/udev/99-ecg-sensor.rules" "$ROOT/etc/udev/rules.d/99-ecg-sensor.rules"

"$APP/bin/ecg-emotiond" config "$ETC/config.yaml" >/dev/null # refuses a bad config, in one line

if [ -n "$ROOT" ]; then
  systemctl --root="$ROOT" enable ecg-emotiond.service
  echo "installed $(cat "$APP/RELEASE.json" | tr -d '\n ') under $ROOT"
  exit 0
fi
udevadm control --reload && udevadm trigger || true
systemctl daemon-reload
systemctl enable --now ecg-emotiond
systemctl --no-pager status ecg-emotiond || true
echo "logs: journalctl -u ecg-emotiond -f; reload config: systemctl reload ecg-emotiond"
