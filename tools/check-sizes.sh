#!/usr/bin/env bash
# Compares freshly built static mlc binaries with the size budget recorded in SIZES.md and fails
# when one is over budget. Rows of the budget table look like
#   | static-aarch64 | 1,500,000 | 870,000 | ... |
# where the first cell names the build directory (build/static-aarch64/mlc, made by
# tools/build-static.sh), the second is the budget and the third the last recorded size, in bytes.
#
# Usage: tools/check-sizes.sh [--sizes FILE] [--update] [--require-all]
#   --sizes FILE    budget file (default SIZES.md)
#   --update        write the measured sizes into the "measured" column (budgets are never changed)
#   --require-all   a binary named in the table but not built is an error (default: skipped)
# Exit: 0 all built binaries within budget, 1 over budget (or missing with --require-all), 64 usage.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sizes=$root/SIZES.md
update=0
require_all=0
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) [ $# -ge 2 ] || { echo "check-sizes: --sizes needs a file" >&2; exit 64; }; sizes=$2; shift ;;
        --update) update=1 ;;
        --require-all) require_all=1 ;;
        *) echo "check-sizes: unknown option '$1' (see the usage at the top of $0)" >&2; exit 64 ;;
    esac
    shift
done
[ -r "$sizes" ] || { echo "check-sizes: cannot read $sizes" >&2; exit 64; }

status=0
checked=0
declare -A measured=()
while IFS='|' read -r _ name budget _rest; do
    name=$(echo "$name" | tr -d ' ')
    budget=$(echo "$budget" | tr -d ' ,')
    case "$name" in static-*) ;; *) continue ;; esac
    if ! [[ "$budget" =~ ^[0-9]+$ ]]; then
        echo "check-sizes: $sizes: the budget of $name is not a number of bytes: '$budget'" >&2
        status=1
        continue
    fi
    bin=$root/build/$name/mlc
    if [ ! -f "$bin" ]; then
        if [ "$require_all" -eq 1 ]; then
            echo "check-sizes: $name: $bin is not built (run tools/build-static.sh ${name#static-})" >&2
            status=1
        else
            echo "check-sizes: $name: not built, skipped"
        fi
        continue
    fi
    size=$(stat -c %s "$bin")
    measured[$name]=$size
    checked=$((checked + 1))
    if [ "$size" -gt "$budget" ]; then
        echo "check-sizes: $name: $size bytes is OVER its budget of $budget bytes by $((size - budget));" \
             "find what grew (e.g. a new dependency feature) or raise the budget in $(basename "$sizes") with a reason" >&2
        status=1
    else
        echo "check-sizes: $name: $size bytes, within its budget of $budget ($((budget - size)) to spare)"
    fi
done <"$sizes"

if [ "$checked" -eq 0 ] && [ "$require_all" -eq 0 ]; then
    echo "check-sizes: no static binary is built yet: run tools/build-static.sh ARCH first"
fi

if [ "$update" -eq 1 ] && [ "${#measured[@]}" -gt 0 ]; then
    tmp=$(mktemp "$sizes.XXXXXX")
    while IFS= read -r line; do
        IFS='|' read -r -a cell <<<"$line"
        name=$(echo "${cell[1]:-}" | tr -d ' ')
        if [ -n "$name" ] && [ -n "${measured[$name]:-}" ] && [ "${#cell[@]}" -ge 4 ]; then
            cell[3]=" $(echo "${measured[$name]}" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') "
            line=$(IFS='|'; echo "${cell[*]}|")
        fi
        printf '%s\n' "$line"
    done <"$sizes" >"$tmp"
    mv "$tmp" "$sizes"
    echo "check-sizes: measured sizes written to $sizes"
fi
exit "$status"
