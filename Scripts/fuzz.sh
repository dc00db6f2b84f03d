#!/usr/bin/env bash
# Fuzzes one of mpq's parsers with libFuzzer for a number of seconds.
#
#   Scripts/fuzz.sh TARGET SECONDS      TARGET: xml | pickle | safetensors | jpeg | quantized
#
# Builds Fuzz/ (a separate package: `swift build --sanitize fuzzer --sanitize address`) when needed, runs libFuzzer
# under `nice -n 19` on the committed seeds (Fuzz/seeds/TARGET) plus the growing corpus in .fuzz/TARGET/corpus
# (not committed), with the format's dictionary (Fuzz/dict/TARGET.dict). Exit 0 when no crash, timeout or
# out-of-memory was found; otherwise non-zero, printing the crasher's path (.fuzz/TARGET/crashes/...).
# Environment: FUZZ_ARGS (extra libFuzzer flags), FUZZ_NO_BUILD=1 (skip the build).
set -euo pipefail

usage() { echo "usage: Scripts/fuzz.sh xml|pickle|safetensors|jpeg|quantized SECONDS" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
target=$1 seconds=$2
case $target in xml|pickle|safetensors|jpeg|quantized) ;; *) usage ;; esac
[[ $seconds =~ ^[0-9]+$ ]] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/.build-fuzz"
if [[ "${FUZZ_NO_BUILD:-0}" != 1 ]]; then
    nice -n 19 swift build --package-path "$root/Fuzz" --build-path "$build" -c debug \
        --sanitize fuzzer --sanitize address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
        --product mpq-fuzz >&2
fi
built="$build/debug/mpq-fuzz"
[[ -x $built ]] || { echo "fuzz.sh: $built was not built" >&2; exit 2; }

work="$root/.fuzz/$target"
mkdir -p "$work/corpus" "$work/crashes" "$work/scratch"
# Run a copy, so a rebuild while this target runs cannot replace the executable under it.
binary="$work/mpq-fuzz"
cp "$built" "$binary"
seeds="$root/Fuzz/seeds/$target"
log="$work/fuzz-$(date -u +%Y%m%dT%H%M%SZ).log"
before=$(ls "$work/crashes" | wc -l)

# Leak checks off: the Swift runtime keeps metadata caches alive on purpose. 2 GiB RSS and 10 s per input are the
# failure thresholds (an input that needs more is a finding).
set +e
ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=0:handle_abort=1" FUZZ_TARGET=$target \
FUZZ_SCRATCH="$work/scratch" nice -n 19 "$binary" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
    -print_final_stats=1 -dict="$root/Fuzz/dict/$target.dict" -artifact_prefix="$work/crashes/" \
    ${FUZZ_ARGS:-} \
    "$work/corpus" "$seeds" 2>&1 | tee "$log" >&2
status=${PIPESTATUS[0]}
set -e
after=$(ls "$work/crashes" | wc -l)
echo "fuzz.sh: $target ran ${seconds}s, corpus $(ls "$work/corpus" | wc -l) files, log $log" >&2
if [[ $status -ne 0 || $after -gt $before ]]; then
    crasher=$(ls -t "$work/crashes"/* 2>/dev/null | head -1)
    echo "fuzz.sh: $target found a problem (libFuzzer exit $status): ${crasher:-see $log}"
    exit 1
fi
exit 0
