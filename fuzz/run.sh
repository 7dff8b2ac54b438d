#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 20) from its seed corpus; exit 1
# on the first crash. Needs a nightly toolchain and cargo-fuzz. The fuzz
# build directory can be kept between runs with FUZZ_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-20}"
TARGETS="filter_parse patch_path patch_apply normalize okta_hook generic_webhook config_load"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
cargo +nightly fuzz build -O
for t in $TARGETS; do
    mkdir -p "corpus/$t" "${CARGO_TARGET_DIR}/corpus/$t"
    # Run on a copy so the committed seeds stay small; new inputs stay in the build dir.
    cp -n corpus/$t/* "${CARGO_TARGET_DIR}/corpus/$t/" 2>/dev/null || true
    echo "== fuzz $t for ${SECONDS_EACH}s"
    cargo +nightly fuzz run -O "$t" "${CARGO_TARGET_DIR}/corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
        | grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added|==[0-9]+==|SUMMARY|thread .* panicked)|#[0-9]+\s+DONE" || true
    if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
        echo "fuzz $t: FAILED: $(ls "artifacts/$t" | head -3) (see fuzz/artifacts/$t)"; exit 1
    fi
    echo "fuzz $t: 0 crashes"
done
