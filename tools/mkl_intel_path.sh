#!/usr/bin/env bash
# Run a command with Intel MKL on its AVX-512 code path on a non-Intel (AMD) CPU.
#
# MKL checks the CPU vendor and takes a generic, slower GEMM path on AMD; oneDNN (the convolutions)
# does not. The IA blocks are GEMMs, so on AMD they look slow per multiply-add for a reason that
# is not in our code. This diagnostic preloads a one-line library that answers MKL's vendor check.
# Used only for benchmarks/RESULTS.md; the package never needs it.
#
#   bash tools/mkl_intel_path.sh python -m benchmarks.cpu_latency --tag mkl-intel-path --write
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: bash tools/mkl_intel_path.sh COMMAND [ARGS...]" >&2; exit 2; }
command -v gcc >/dev/null || { echo "gcc is needed to build the shim (apt-get install gcc)" >&2; exit 1; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
echo 'int mkl_serv_intel_cpu_true(void) { return 1; }' > "$dir/shim.c"
gcc -shared -fPIC -O2 -o "$dir/libmkl_intel_path.so" "$dir/shim.c"
LD_PRELOAD="$dir/libmkl_intel_path.so${LD_PRELOAD:+:$LD_PRELOAD}" "$@"
