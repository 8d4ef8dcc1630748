#!/bin/sh
# run.sh SECONDS NAME...: run each build/fuzz/fuzz_NAME for SECONDS, starting
# from its checked-in corpus (every input there is replayed first, so an old
# crash that comes back fails at once). New coverage goes to
# build/fuzz/corpus/NAME/ (promote interesting inputs to tests/fuzz/corpus by
# hand; an input of playback, pbdiff or history also needs its golden output,
# see tests/fuzz/golden/README.md), a crash's input to
# build/fuzz/NAME-crash-<sha1>. Fails on any crash, leak, timeout or sanitizer
# report.
set -u
secs=$1
shift
failed=""
for name in "$@"; do
    bin=build/fuzz/fuzz_$name
    work=build/fuzz/corpus/$name
    mkdir -p "$work" "tests/fuzz/corpus/$name"
    log=build/fuzz/$name.log
    echo "fuzz: $name for ${secs}s (corpus tests/fuzz/corpus/$name, $(ls "tests/fuzz/corpus/$name" | wc -l) inputs)"
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -print_final_stats=1 -artifact_prefix="build/fuzz/$name-" \
            "$work" "tests/fuzz/corpus/$name" > "$log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::new_units_added|cov:" "$log" | tail -3 | sed 's/^/  /'
    else
        tail -40 "$log"
        echo "fuzz: $name FAILED (log $log; input in build/fuzz/$name-*)"
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
echo "fuzz: all passed"
