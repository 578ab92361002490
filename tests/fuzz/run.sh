#!/usr/bin/env bash
# run.sh SECONDS: every libFuzzer target for SECONDS, starting from its seed
# corpus (tests/fuzz/corpus/NAME, never written to), new inputs in
# build/fuzz/corpus/NAME, crash inputs in build/fuzz/crash/. Prints what each
# ran (executions, coverage) and exits non-zero on any finding.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
failed=0
mkdir -p build/fuzz/crash
for bin in build/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/}
	mkdir -p "build/fuzz/corpus/$name"
	log=build/fuzz/$name.log
	"$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=build/fuzz/crash/"$name"- \
		"build/fuzz/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	if [ $rc = 0 ]; then
		echo "PASS fuzz.$name: ${execs:-?} runs in ${secs}s, ${cov:-cov ?}"
	else
		echo "FAIL fuzz.$name: exit $rc; $(grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -n 3 | tr '\n' ' ')"
		failed=$((failed + 1))
	fi
done
[ $failed = 0 ]
