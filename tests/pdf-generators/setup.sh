#!/usr/bin/env bash
# Install fpdf2 (pinned) into the venv $1 once; tests/pdf_generators.rs calls this.
set -euo pipefail
venv="$1"
stamp="$venv/.fpdf2-2.8.9"
[ -f "$stamp" ] && exit 0
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
[ -f "$stamp" ] && exit 0
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "fpdf2==2.8.9"
touch "$stamp"
