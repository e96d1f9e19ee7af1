#!/usr/bin/env bash
# Builds onnxruntime-node with the CUDA and TensorRT execution providers on a Jetson AGX Orin /
# Orin NX (JetPack 6.x: L4T r36, CUDA 12.x, cuDNN 9, TensorRT 10), and installs it over the CPU-only
# binding of an installed ecg-emotiond release (or a checkout). Run ON THE JETSON (onnxruntime's
# Node binding has no cross build). Takes 1.5-3 hours on an AGX Orin with 8 parallel jobs and 32 GB.
#
#   sudo /opt/ecg-emotiond/scripts/jetson/build-onnxruntime-node.sh /opt/ecg-emotiond
#
# A release carries its own Node but no npm, which onnxruntime's --build_nodejs step runs: the
# script then fetches npm from the npm registry (as the release fetched Node) and runs it on the
# release's Node. The binding it builds is marked as built here, and install.sh carries it into
# later releases that pin the same onnxruntime-node version.
#
# NOT RUN ON HARDWARE by this project yet: see hw/jetson/README.md for what has been verified.
set -euo pipefail
APP="$(readlink -f "${1:?usage: $0 <ecg-emotiond install dir>}")"
[ -f "$APP/package.json" ] || { echo "$0: $APP is not an ecg-emotiond install (no package.json)" >&2; exit 2; }
WORK="${WORK:-$HOME/ecg-emotiond-ort-build}"
mkdir -p "$WORK"

# Node: the release's own, else the PATH's.
if [ -x "$APP/node/bin/node" ]; then export PATH="$APP/node/bin:$PATH"; fi
command -v node >/dev/null || { echo "$0: no node (the release's node/bin/node or Node 22 on the PATH)" >&2; exit 1; }
# npm: the PATH's, else npm 10 (what Node 22 ships) from the npm registry, run on that Node.
if ! command -v npm >/dev/null; then
  NPM_DIR="$WORK/npm"
  if [ ! -f "$NPM_DIR/bin/npm-cli.js" ]; then
    url="$(curl -fsSL https://registry.npmjs.org/npm/10 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).dist.tarball))')"
    mkdir -p "$NPM_DIR"
    curl -fsSL "$url" | tar -xz -C "$NPM_DIR" --strip-components=1
  fi
  mkdir -p "$WORK/bin"
  printf '#!/bin/sh\nexec node "%s/bin/npm-cli.js" "$@"\n' "$NPM_DIR" > "$WORK/bin/npm"
  printf '#!/bin/sh\nexec node "%s/bin/npx-cli.js" "$@"\n' "$NPM_DIR" > "$WORK/bin/npx"
  chmod +x "$WORK/bin/npm" "$WORK/bin/npx"
  export PATH="$WORK/bin:$PATH"
fi

# The same version as package.json's onnxruntime-node: the JS API and the native binding must match.
ORT_VERSION="${ORT_VERSION:-$(node -p "require('$APP/package.json').dependencies['onnxruntime-node']")}"
SRC="${SRC:-$WORK/onnxruntime-$ORT_VERSION}"
JOBS="${JOBS:-$(nproc)}"

for need in git cmake python3 curl nvcc; do
  command -v "$need" >/dev/null || { echo "missing: $need (JetPack; sudo apt install git cmake python3-pip curl)" >&2; exit 1; }
done
[ -f /usr/include/aarch64-linux-gnu/NvInfer.h ] || { echo "TensorRT headers missing: sudo apt install nvidia-tensorrt-dev" >&2; exit 1; }

if [ ! -d "$SRC" ]; then
  git clone --depth 1 --branch "v$ORT_VERSION" --recursive https://github.com/microsoft/onnxruntime "$SRC"
fi
cd "$SRC"
# sm_87 = Orin's Ampere GPU. --build_nodejs builds js/node and its native addon against this build.
./build.sh --config Release --update --build --parallel "$JOBS" --skip_tests \
  --build_shared_lib --build_nodejs \
  --use_cuda --cuda_home /usr/local/cuda --cudnn_home /usr/lib/aarch64-linux-gnu \
  --use_tensorrt --tensorrt_home /usr/lib/aarch64-linux-gnu \
  --cmake_extra_defines CMAKE_CUDA_ARCHITECTURES=87 onnxruntime_BUILD_UNIT_TESTS=OFF

# Replace the prebuilt CPU binding's native part with this build's, and mark it as built here.
BIN="$APP/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64"
mkdir -p "$BIN"
cp -v js/node/bin/napi-v6/linux/arm64/* "$BIN/"
cp -v build/Linux/Release/libonnxruntime_providers_{shared,cuda,tensorrt}.so "$BIN/"
echo "$ORT_VERSION" > "$BIN/BUILT-HERE"
echo "installed into $BIN; check with: ecg-emotiond model inspect $APP/models/driver-stress-drivedb --providers tensorrt,cuda,cpu"
