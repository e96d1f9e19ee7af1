#!/usr/bin/env bash
# Builds onnxruntime-node with the CUDA and TensorRT execution providers on a Jetson AGX Orin /
# Orin NX (JetPack 6.x: L4T r36, CUDA 12.x, cuDNN 9, TensorRT 10), and installs it over the CPU-only
# binding in an ecg-emotiond checkout. Run ON THE JETSON (a cross build is not supported by
# onnxruntime's Node binding). Takes 1.5-3 hours on an AGX Orin with 8 parallel jobs and 32 GB.
#
#   scripts/jetson/build-onnxruntime-node.sh /opt/ecg-emotiond
#
# NOT RUN ON HARDWARE by this project yet: see hw/jetson/README.md for what has been verified.
set -euo pipefail
APP="${1:?usage: $0 <ecg-emotiond install dir>}"
# The same version as package.json's onnxruntime-node: the JS API and the native binding must match.
ORT_VERSION="${ORT_VERSION:-$(node -p "require('$APP/package.json').dependencies['onnxruntime-node']")}"
SRC="${SRC:-$HOME/onnxruntime-$ORT_VERSION}"
JOBS="${JOBS:-$(nproc)}"

for need in git cmake python3 node npm nvcc; do
  command -v "$need" >/dev/null || { echo "missing: $need (JetPack + apt install cmake python3-pip; Node 22 with npm for the build)"; exit 1; }
done
[ -f /usr/include/aarch64-linux-gnu/NvInfer.h ] || { echo "TensorRT headers missing: sudo apt install nvidia-tensorrt-dev"; exit 1; }

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

# Replace the prebuilt CPU binding's native part with this build's.
BIN="$APP/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64"
mkdir -p "$BIN"
cp -v js/node/bin/napi-v6/linux/arm64/* "$BIN/"
cp -v build/Linux/Release/libonnxruntime_providers_{shared,cuda,tensorrt}.so "$BIN/"
echo "installed into $BIN; check with: ecg-emotiond bench model --model $APP/models/driver-stress-drivedb"
