#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/fuzz_targets for N seconds each (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# cargo-fuzz needs nightly-only flags; on the stable toolchain RUSTC_BOOTSTRAP=1 enables them.
# Install it with `cargo install cargo-fuzz` if missing. The committed seeds in
# fuzz/corpus/<target>/ are read but not modified: new inputs go to fuzz/target/corpus/<target>/.
# Crashes are written to fuzz/artifacts/<target>/; the script exits non-zero if any target fails.
set -euo pipefail

secs="${1:-60}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
  exit 2
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
  done
fi

status=0
for t in "${targets[@]}"; do
  work="target/corpus/$t"
  seeds="corpus/$t"
  mkdir -p "$work" "$seeds"
  echo "== fuzzing $t for ${secs}s"
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "$work" "$seeds" -- \
      -max_total_time="$secs" -print_final_stats=1; then
    echo "!! $t failed; see fuzz/artifacts/$t/" >&2
    status=1
  fi
done
exit "$status"
