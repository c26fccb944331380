#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/layers.sh — the folder dependency graph of the built library, from
# its object files: for every folder (floor), which other folders define the
# functions and variables its objects use.  Fails (exit 1) if any arrow runs
# from a floor to one above it, or to one it does not list below it.
#   scripts/layers.sh [BUILD_DIR]     (default build/release)
# The floors, bottom first, as docs/DESIGN.md ("Layers") states them:
floors=(lockfree src reclaim weak control malloc)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
declare -A rank defined_in
for i in "${!floors[@]}"; do rank[${floors[$i]}]=$i; done
objs() { find "$build/CMakeFiles/ebra_$1.dir" -name '*.o' | sort; }
for f in "${floors[@]}"; do
  [[ -d $build/CMakeFiles/ebra_$f.dir ]] || { echo "layers.sh: no objects of $f in $build" >&2; exit 2; }
  while read -r sym; do defined_in[$sym]=$f; done < <(objs "$f" | xargs nm --defined-only |
    awk 'NF == 3 && $2 ~ /^[TDBR]$/ { print $3 }')
done
bad=0
for f in "${floors[@]}"; do
  uses=$(objs "$f" | xargs nm --undefined-only | awk 'NF >= 2 { print $NF }' | sort -u |
         while read -r sym; do
           to=${defined_in[$sym]:-}
           if [[ -n $to && $to != "$f" ]]; then echo "$to"; fi
         done | sort -u | tr '\n' ' ')
  printf '%-9s -> %s\n' "$f" "${uses:-(no other floor)}"
  for to in $uses; do
    if (( rank[$to] > rank[$f] )); then
      echo "  UP: $f uses $to, a floor above it" >&2
      bad=1
    fi
  done
done
((bad == 0)) && echo "every arrow points down"
exit $bad
