#!/bin/sh
# Builds test/native/switch_aarch64.cc with the AArch64 switch, with Debian's
# cross compiler, and runs it under qemu-user. Exit code: the test's.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${TMPDIR:-/tmp}/stackful-switch-aarch64.$$"
trap 'rm -f "$out"' EXIT
aarch64-linux-gnu-g++ -O2 -Wall -o "$out" "$root/test/native/switch_aarch64.cc" "$root/native/arch/switch_aarch64_aapcs64.S"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out"
