#!/usr/bin/env bash
# `cargo nextest run --test smoke` against `cargo test --test smoke`: the same
# verdict, the same failed trials and the same requests (within 5 %), for a
# passing run and for a failing one (fault me-wrong-role). Called by .ci/run.
#
# nextest runs every trial in a process of its own; tests/smoke.rs has the first
# process of a nextest run do the run once and the others read their step's
# outcome from it, so the two runners judge from one run each. The request count
# is the total of summary.json's per-step requests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
# Latency is not what is compared here: a loaded CI machine must not turn one
# runner's latency step red and not the other's.
export STAGEOS_LATENCY_BUDGET_MS="${STAGEOS_LATENCY_BUDGET_MS:-10000}"
out=target/nextest-parity
rm -rf "$out"
mkdir -p "$out"

failed_trials() { # the number of failed trials in a libtest or nextest log
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
m = re.search(r"test result: \w+\. \d+ passed; (\d+) failed", text)  # libtest
n = re.search(r"\d+ tests? run: \d+ passed(?:, (\d+) failed)?", text)  # nextest
print(int(m.group(1)) if m else int(n.group(1) or 0) if n else -1)
PY
}

for case in pass fail; do
    faults=""
    [[ "$case" == fail ]] && faults="me-wrong-role"
    for runner in libtest nextest; do
        dir="$out/$case/$runner"
        mkdir -p "$dir"
        cmd=(cargo test --test smoke)
        [[ "$runner" == nextest ]] && cmd=(cargo nextest run --test smoke --no-fail-fast)
        set +e
        STAGEOS_REPORT_DIR="$dir/reports" STAGEOS_REFERENCE_FAULTS="$faults" "${cmd[@]}" >"$dir/log" 2>&1
        echo $? >"$dir/rc"
        set -e
        echo "$(failed_trials "$dir/log")" >"$dir/failed"
    done
    python3 - "$out/$case" "$case" <<'PY'
import json, sys
base, case = sys.argv[1], sys.argv[2]
def load(runner):
    s = json.load(open(f"{base}/{runner}/reports/summary.json"))
    rc = int(open(f"{base}/{runner}/rc").read())
    failed = int(open(f"{base}/{runner}/failed").read())
    requests = sum(len(step["requests"]) for step in s["steps"])
    statuses = {f'{x["flow"]}::{x["step"]}': x["status"] for x in s["steps"]}
    return s["verdict"], rc, failed, requests, statuses
lv, lrc, lf, lreq, ls = load("libtest")
nv, nrc, nf, nreq, ns = load("nextest")
print(f"{case}: libtest verdict {lv} (exit {lrc}, {lf} failed trials, {lreq} requests); "
      f"nextest verdict {nv} (exit {nrc}, {nf} failed trials, {nreq} requests)")
problems = []
if lv != nv:
    problems.append(f"verdicts differ: {lv} vs {nv}")
if (lrc == 0) != (nrc == 0):
    problems.append(f"exit codes disagree: libtest {lrc}, nextest {nrc}")
if lf != nf or lf < 0:
    problems.append(f"failed trials differ: libtest {lf}, nextest {nf}")
if ls != ns:
    diff = sorted(k for k in set(ls) | set(ns) if ls.get(k) != ns.get(k))
    problems.append(f"step outcomes differ: {diff[:10]}")
if abs(lreq - nreq) > 0.05 * max(lreq, nreq):
    problems.append(f"request counts differ by more than 5 %: {lreq} vs {nreq}")
if (case == "pass") != (lv == "passed"):
    problems.append(f"the {case} case has verdict {lv}")
for p in problems:
    print(f"error: nextest parity ({case}): {p}")
sys.exit(1 if problems else 0)
PY
done
echo "nextest parity: same verdicts, failed trials and requests (within 5 %)"
