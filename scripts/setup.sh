#!/usr/bin/env bash
# Install what is missing, nothing more: Debian packages, the virtualenv, Python requirements.
# Usage: scripts/setup.sh run|test   (test adds the test and lint tools and the browser)
# A second run with nothing changed touches no network and takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

run_packages="redis-server tesseract-ocr tesseract-ocr-eng poppler-utils libmagic1 fonts-dejavu-core libreoffice-writer-nogui libreoffice-impress-nogui"
test_packages="$run_packages libreoffice-calc-nogui chromium iproute2 util-linux"
packages=$run_packages
[ "$mode" = test ] && packages=$test_packages

if command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
  done
  if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "Installing system packages:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
else
  echo "warning: not a Debian/Ubuntu system; install these yourself: $packages" >&2
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtualenv .venv with $python"
  "$python" -m venv .venv
fi

requirements=requirements.txt
[ "$mode" = test ] && requirements=requirements-dev.txt
# llama.cpp (the CPU model server of the tests, and the CPU fallback) is built from source for any
# x86-64-v3 server rather than for this machine: no -march=native, no AVX-512, no AMX. A native
# build on a CPU that advertises AMX died with a general protection fault on its first completion.
# Built without pip's wheel cache, so an earlier native build is never reused.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
llama=$(grep -E '^llama-cpp-python' requirements-dev.txt | cut -d' ' -f1)
if [ "$mode" = test ] && [ "$(cat .venv/.llama-build 2>/dev/null)" != "$llama $LLAMA_CMAKE_ARGS" ]; then
  echo "Building $llama for any x86-64-v3 CPU (4-8 minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" FORCE_CMAKE=1 .venv/bin/python -m pip install -q --no-cache-dir \
    --force-reinstall --no-deps -c constraints.txt "$llama"
  echo "$llama $LLAMA_CMAKE_ARGS" > .venv/.llama-build
fi
stamp=".venv/.installed-$mode"
digest=$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "Installing Python requirements from $requirements (first time: several minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$requirements"
  echo "$digest" > "$stamp"
fi
