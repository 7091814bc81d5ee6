#!/usr/bin/env bash
# Installs and builds what is missing, runs every lit and unit test, and ends
# with one line "N passed, N failed" counting all of them.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all mlir-doc || exit 1
results=build/test-results.xml
rm -f "$results"
/usr/lib/llvm-22/bin/lit -sv --xunit-xml-output="$results" build/test
status=$?
python3 scripts/count-tests.py "$results" || exit 1
exit $status
