#!/usr/bin/env bash
# tests/run.sh DIR: run every Criterion test binary under DIR (float and double
# builds), show each binary's output, and end with one summary line
# "tests: N passed, N failed". Exits non-zero if any test failed or crashed.
set -u
dir=${1:?usage: tests/run.sh BUILD_TESTS_DIR}
passed=0 failed=0 bad_bins=()
for bin in $(find "$dir" -type f -perm -u+x -name 'test_*' | sort); do
    name=${bin#"$dir"/}
    out=$("$bin" --jobs 2 2>&1)
    rc=$?
    syn=$(printf '%s\n' "$out" | grep -a 'Synthesis:' | tail -n 1)
    p=$(printf '%s' "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    f=$(printf '%s' "$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
    c=$(printf '%s' "$syn" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
    p=${p:-0} f=${f:-0} c=${c:-0}
    if [ "$rc" -ne 0 ] || [ -z "$syn" ]; then
        printf '%s\n' "$out"
        [ "$f$c" = "00" ] && f=1
        bad_bins+=("$name")
    else
        printf '%-28s %4d passed\n' "$name" "$p"
    fi
    passed=$((passed + p))
    failed=$((failed + f + c))
done
if [ ${#bad_bins[@]} -gt 0 ]; then
    echo "failing binaries: ${bad_bins[*]}"
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "no test binaries ran under $dir"
    failed=1
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#bad_bins[@]} -eq 0 ]
