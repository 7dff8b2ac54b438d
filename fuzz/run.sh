#!/usr/bin/env bash
# Run every fuzz target from its seed corpus; exit 1 on the first crash.
#   fuzz/run.sh SECONDS   each target for SECONDS of random fuzzing
#   fuzz/run.sh ci        each target for a fixed number of runs with a fixed
#                         seed: deterministic, so a CI run says the same as the
#                         run before it (the long runs are done by hand)
# Needs a nightly toolchain and cargo-fuzz. The build directory can be kept
# between runs with FUZZ_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")"
MODE="${1:-20}"
if [ "$MODE" = "ci" ]; then
    LIMIT="-seed=1 -runs=${FUZZ_CI_RUNS:-30000}"
else
    LIMIT="-max_total_time=$MODE"
fi
TARGETS="filter_parse patch_path patch_apply normalize okta_hook generic_webhook config_load"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
cargo +nightly fuzz build -O
for t in $TARGETS; do
    # Fuzz a copy of the seeds (the committed corpus stays small).
    work="${CARGO_TARGET_DIR}/corpus-run/$t"
    rm -rf "$work"; mkdir -p "$work"
    cp corpus/"$t"/* "$work/" 2>/dev/null || true
    echo "== fuzz $t ($LIMIT)"
    # shellcheck disable=SC2086
    cargo +nightly fuzz run -O "$t" "$work" -- $LIMIT -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
        | grep -E "^(stat::number_of_executed_units|stat::new_units_added)|panicked|==[0-9]+== ERROR|SUMMARY" || true
    if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
        echo "fuzz $t: FAILED: $(ls "artifacts/$t" | head -3) (see fuzz/artifacts/$t)"; exit 1
    fi
    echo "fuzz $t: 0 crashes"
done
