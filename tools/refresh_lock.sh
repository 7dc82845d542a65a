#!/usr/bin/env bash
# Check the newest releases that pyproject.toml allows, and refresh the lock file when they pass.
#
#   bash tools/refresh_lock.sh            # fresh venv, newest versions, full test suite, diff vs the lock
#   bash tools/refresh_lock.sh --write    # the same, then rewrite requirements-lock.txt if the tests pass
#
# The README's commands and .ci/run install with `-c requirements-lock.txt`, the set the suite last
# passed with, so an upstream release cannot turn CI red overnight; this script is how a maintainer
# sees such a break first (run it before a release, or weekly).
set -euo pipefail
cd "$(dirname "$0")/.."
write=0
[ "${1:-}" = "--write" ] && write=1
venv="${VENV:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q -e ".[test]"
"$venv/bin/pip" freeze --exclude-editable | grep -iv '^defect-synth' | sort -f > "$venv/newest.txt"
echo "== newest versions that differ from requirements-lock.txt:"
diff <(grep -v '^#' requirements-lock.txt | sort -f) "$venv/newest.txt" | grep '^[<>]' || echo "(none)"
if "$venv/bin/python" -m pytest -q -p no:cacheprovider; then
    echo "== the suite passes with the newest versions"
    if [ "$write" = 1 ]; then
        { sed -n '1,/^# ---/p' requirements-lock.txt; cat "$venv/newest.txt"; } > requirements-lock.txt.new
        mv requirements-lock.txt.new requirements-lock.txt
        echo "== requirements-lock.txt rewritten; commit it"
    fi
else
    echo "== the suite FAILS with the newest versions: keep the lock, add an upper bound in pyproject.toml" >&2
    exit 1
fi
