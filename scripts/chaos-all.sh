#!/usr/bin/env bash
# Runs every scenario in scenarios/ at full length on spof and ha; prints a Markdown table
# (docs/chaos.md holds the last one). A scenario is as expected when it FAILS on spof and PASSES
# on ha. Exit status 0 only if every scenario is as expected.
set -uo pipefail
cd "$(dirname "$0")/.."
CAIRN=${1:-.build/debug/cairn}
EXTRA=${CHAOS_ARGS:-}
mkdir -p chaos-reports
table="| scenario | spof | ha | as expected |\n|---|---|---|---|\n"
status=0
for file in ${CHAOS_SCENARIOS:-scenarios/*.toml}; do
  name=$(basename "$file" .toml)
  declare -A result
  for topology in spof ha; do
    dir="chaos-reports/$name-$topology"
    if $CAIRN chaos run "$file" --topology "$topology" --report "$dir" $EXTRA > "chaos-reports/$name-$topology.log" 2>&1; then
      result[$topology]="PASS"
    else
      rc=$?
      if [ "$rc" -eq 1 ]; then result[$topology]="FAIL ($(grep -c '^- \*\*FAIL' "$dir/summary.md") checks)"; else result[$topology]="ERROR (exit $rc)"; fi
    fi
    echo "$name on $topology: ${result[$topology]}"
  done
  expected="no"
  if [[ "${result[spof]}" == FAIL* && "${result[ha]}" == PASS ]]; then expected="yes"; else status=1; fi
  table+="| $name | ${result[spof]} | ${result[ha]} | $expected |\n"
done
printf "\n$table"
printf "$table" > chaos-reports/table.md
exit $status
