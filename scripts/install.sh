#!/usr/bin/env bash
# Installs ecg-emotiond as a systemd service on a Jetson (or any systemd Linux):
#   sudo scripts/install.sh            # from a checkout with `npm ci` and `npm run build` done
# Copies the app to /opt/ecg-emotiond, creates the ecg-emotiond user (groups: dialout), installs the
# unit, the example config (kept if one exists), the udev rules, and enables the service.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)"; exit 1; }
SRC="$(cd "$(dirname "$0")/.." && pwd)"
APP=/opt/ecg-emotiond

id ecg-emotiond >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ecg-emotiond
usermod -aG dialout ecg-emotiond

mkdir -p "$APP"
# The app, its production dependencies and the model; no tests, no sources of truth elsewhere.
rsync -a --delete --exclude .git --exclude test --exclude scratch --exclude 'node_modules/.cache' \
  "$SRC"/{package.json,package-lock.json,.npmrc,dist,models,data,schemas,hw,systemd,README.md} "$APP"/
(cd "$APP" && npm ci --omit=dev --no-audit --no-fund)

install -d -m 0755 /etc/ecg-emotiond
[ -f /etc/ecg-emotiond/config.yaml ] || install -m 0644 "$SRC/systemd/ecg-emotiond.example.yaml" /etc/ecg-emotiond/config.yaml
[ -f /etc/ecg-emotiond/mqtt-password ] || install -m 0600 /dev/null /etc/ecg-emotiond/mqtt-password
install -m 0644 "$SRC/systemd/ecg-emotiond.service" /etc/systemd/system/ecg-emotiond.service
install -m 0644 "$SRC/hw/udev/99-ecg-sensor.rules" /etc/udev/rules.d/99-ecg-sensor.rules
udevadm control --reload && udevadm trigger || true

node "$APP/dist/cli/main.js" config /etc/ecg-emotiond/config.yaml >/dev/null # refuses a bad config
systemctl daemon-reload
systemctl enable --now ecg-emotiond
systemctl --no-pager status ecg-emotiond || true
echo "logs: journalctl -u ecg-emotiond -f; reload config: systemctl reload ecg-emotiond"
