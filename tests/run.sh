#!/usr/bin/env bash
# Runs the test suites and counts their "PASS name" / "FAIL name: why" lines.
# A suite that dies without saying FAIL (a crash, a sanitizer report, a
# timeout) counts as one failure. The last line is "N passed, N failed".
#   tests/run.sh            unit, unit under ASan+UBSan, fuzz corpora, end to end
#   tests/run.sh unit|asan|fuzz|e2e
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_suite() { # label timeout cmd...
	local label=$1 limit=$2 rc p f
	shift 2
	timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	grep -E '^(PASS|FAIL) ' "$log"
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $label: exited with status $rc${rc:+ (124 = timed out after ${limit}s)}"
		grep -vE '^(PASS|FAIL) ' "$log" | tail -n 20 | sed 's/^/    /'
		f=1
	elif [ "$f" -gt 0 ]; then
		# Context for the failures: what the suite said besides its verdicts.
		grep -vE '^(PASS|FAIL) ' "$log" | tail -n 20 | sed 's/^/    /'
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

if [ "$what" = all ] || [ "$what" = unit ]; then
	echo "== unit tests"
	for t in build/unit/test_*; do
		[ -x "$t" ] && run_suite "unit/${t##*/}" 120 "$t"
	done
fi
if [ "$what" = all ] || [ "$what" = asan ]; then
	echo "== unit tests under ASan+UBSan"
	for t in build/unit-asan/test_*; do
		[ -x "$t" ] && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_suite "asan/${t##*/}" 300 "$t"
	done
fi
if [ "$what" = all ] || [ "$what" = fuzz ]; then
	echo "== fuzz corpora, replayed once (libFuzzer builds, ASan+UBSan)"
	for t in build/fuzz/fuzz_*; do
		[ -x "$t" ] || continue
		n=${t##*/}
		# Each input once, no mutation: a regression in a decoder fails here.
		if compgen -G "tests/fuzz/corpus/$n/*" >/dev/null; then
			run_suite "fuzz/$n" 120 bash -c 'bin=$1; shift; "$bin" "$@" && echo "PASS fuzz.$0"' \
				"$n" "$t" tests/fuzz/corpus/"$n"/*
		else
			echo "FAIL fuzz/$n: no seed corpus in tests/fuzz/corpus/$n"
			failed=$((failed + 1))
		fi
	done
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
	echo "== end to end (network namespaces, real sshd and nftables)"
	for t in tests/e2e/test_*.sh; do
		run_suite "e2e/${t##*/}" 900 bash "$t"
	done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
