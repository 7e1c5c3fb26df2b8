#!/usr/bin/env bash
# scripts/setup.sh: install every build, test and benchmark dependency of convnet
# from Debian 12 packages. Idempotent: installs only what is missing, and runs
# `apt-get update` only when something must be installed.
#   scripts/setup.sh           install what is missing (as root, or through sudo)
#   scripts/setup.sh --check   exit 1 and list what is missing; install nothing
#   scripts/setup.sh --bench   also PyTorch (python3-torch), which `make bench`
#                              compares with (both flags may be given)
set -euo pipefail

PACKAGES=(
    build-essential pkg-config      # gcc, make, pkg-config
    clang libomp-dev                # the second compiler, with its OpenMP runtime
    libopenblas-dev                 # CBLAS GEMM (BLAS=openblas, the default)
    zlib1g-dev                      # gzip-compressed IDX files
    libstb-dev                      # stb_image_write (PNG grids), stb_image
    libjansson-dev                  # JSON output of the CLI, test fixtures
    libcriterion-dev                # the test framework
    dataset-fashion-mnist           # the default dataset
    python3-numpy                   # bench/knn.sh compares with numpy
    chromium                        # the report test renders report.html headless
)

CHECK=0
for a in "$@"; do
    case "$a" in
        --check) CHECK=1 ;;
        --bench) PACKAGES+=(python3-torch) ;;  # bench/run.sh: the PyTorch side
        *) echo "setup: unknown flag '$a' (--check, --bench)" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if [ "$CHECK" = 1 ]; then
    if [ ${#missing[@]} -gt 0 ]; then
        echo "missing packages: ${missing[*]}"
        exit 1
    fi
    exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all dependencies are installed" >&2
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
