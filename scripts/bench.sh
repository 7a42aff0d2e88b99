#!/usr/bin/env bash
# Benchmark: the post-deploy profile against a reference server in a separate
# process (so the suite's own CPU time and RSS are measured, not the server's),
# with an added per-request latency of 0, 20, 50 and 150 ms (150 ms: a staging
# across the internet); at 0 and 20 ms also the six flows of the tool comparison in
# issue 13 (auth with TOTP, dossier, availability, setlist, invoice PDF, signed-URL
# files; Hurl 8.0.1 --parallel took 2.48 s on them at 20 ms).
#
#   scripts/bench.sh            # builds release binaries, prints a table
#   BENCH_BIN=DIR BENCH_OUT=DIR2 scripts/bench.sh
#                               # measures the stageos-smoke and stageos-reference
#                               # binaries in DIR instead (an older build: "before"),
#                               # reports in DIR2 (default target/bench)
#   BENCH_RUNS=5 scripts/bench.sh
#                               # medians of 5 runs per row (default 1), with the
#                               # wall time's min and max
#
# Reports per latency: wall time, critical path, wall ÷ critical path, CPU time
# (user+sys) and peak RSS of the suite process, launch to first request (from the
# exec of the CLI to the first request's start, by the wall clock the run stamps
# in summary.json), and the end time of each flow (so the wait that sets the pace
# is visible); at 20 ms also the speed-up over --test-threads 1; and the start-up
# cost of `stageos-smoke list`.
# Numbers go in notes, never in assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BENCH_BIN:-target/release}
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build -q --release -p stageos-smoke -p stageos-reference
fi
for b in stageos-smoke stageos-reference; do
  [ -x "$bin/$b" ] || { echo "error: no $bin/$b (hint: BENCH_BIN names a directory holding both binaries)" >&2; exit 2; }
done
out=${BENCH_OUT:-target/bench}
runs=${BENCH_RUNS:-1}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_RUNS=$runs is not a positive whole number (hint: BENCH_RUNS=5 for medians of 5)" >&2; exit 2; }
mkdir -p "$out"

start_reference() {  # $1 = latency ms
  local log="$out/reference-$1.env"
  rm -f "$log"  # the grep below must not read the previous server's file
  "$bin/stageos-reference" --listen 127.0.0.1:0 --fault "latency:*:$1" > "$log" 2>"$out/reference-$1.log" &
  REF_PID=$!
  for _ in $(seq 1 100); do grep -q '^STAGEOS_OWNER_TOTP_SECRET=' "$log" 2>/dev/null && break; sleep 0.1; done
  set -a; . "$log"; set +a
}

# Each run meets a fresh reference: runs back to back against one target would
# meet its login rate limit (429, Retry-After up to 60 s), which the suite waits
# out within the deadline, and the benchmark would measure that wait.
measure() {  # $1 = label, $2 = latency ms, rest = extra args; BENCH_RUNS runs, medians printed
  local label=$1 lat=$2; shift 2
  local dirs=() code i dir
  for i in $(seq 1 "$runs"); do
    dir="$out/$label-$i"
    dirs+=("$dir")
    code=0
    start_reference "$lat"
    date +%s.%N > "$dir.launch"
    /usr/bin/time -f '%e %U %S %M' -o "$dir.time" "$bin/stageos-smoke" run --report-dir "$dir" "$@" > "$dir.out" 2>&1 || code=$?
    kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
    # A benchmark of a red run measures the wrong thing: say so and stop.
    if [ "$code" -ne 0 ]; then
      echo "error: the $label run exited $code (not green); see $dir.out" >&2
      tail -20 "$dir.out" >&2
      exit 1
    fi
  done
  python3 - "$out" "$label" "${dirs[@]}" <<'PY'
import json, statistics, sys
from datetime import datetime
out, label, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = []
for d in dirs:
    s = json.load(open(d + "/summary.json"))
    e, u, sy, rss = open(d + ".time").read().split()
    launch = float(open(d + ".launch").read())
    started = datetime.fromisoformat(s["started_at"].replace("Z", "+00:00")).timestamp()
    starts = [r["start_ms"] for st in s["steps"] for r in st.get("requests", [])]
    ends = {}
    for st in s["steps"]:
        if st["status"] != "skipped":
            ends[st["flow"]] = max(ends.get(st["flow"], 0), st["start_ms"] + st["duration_ms"])
    runs.append({
        "summary": s, "wall": s["wall_ms"], "cp": s["critical_path"]["ms"],
        "cpu": float(u) + float(sy), "rss": int(rss) / 1024, "ends": ends,
        "first": (started + min(starts) / 1000 - launch) * 1000 if starts else float("nan"),
    })
med = lambda k: statistics.median(r[k] for r in runs)
wall, cp = med("wall"), med("cp")
# The flow ends shown are those of the run whose wall time is the median.
mid = sorted(runs, key=lambda r: r["wall"])[(len(runs) - 1) // 2]
s = mid["summary"]
spread = f" (min {min(r['wall'] for r in runs)/1000:.2f}, max {max(r['wall'] for r in runs)/1000:.2f})" if len(runs) > 1 else ""
print(f"{label:<22} verdict={s['verdict']:<7} steps={s['counts']['total']:<4} wall={wall/1000:6.2f}s "
      f"critical={cp/1000:6.2f}s ratio={wall/cp if cp else 0:5.2f} cpu={med('cpu'):5.2f}s rss={med('rss'):6.1f}MB "
      f"first-request={med('first'):5.0f}ms{spread}")
print("    flows end at: " + ", ".join(f"{f} {ms/1000:.2f}s" for f, ms in sorted(mid["ends"].items(), key=lambda x: -x[1])))
open(f"{out}/{label}.wall", "w").write(str(wall))
PY
}

six_flows=(--skip health:: --skip housekeeping:: --skip metrics:: --skip baseline:: --skip release::
  --skip webhooks:: --skip rbac:: --skip totp:: --skip audit:: --skip privacy::)
for lat in 0 20 50 150; do
  measure "latency-${lat}ms" "$lat"
  if [ "$lat" = 20 ]; then measure "latency-20ms-threads1" "$lat" --test-threads 1; fi
  if [ "$lat" = 0 ] || [ "$lat" = 20 ]; then measure "six-flows-${lat}ms" "$lat" "${six_flows[@]}"; fi
done

python3 - "$out" <<'PY'
import json, sys
a = float(open(sys.argv[1] + "/latency-20ms.wall").read())
b = float(open(sys.argv[1] + "/latency-20ms-threads1.wall").read())
print(f"speed-up at 20 ms over --test-threads 1: {b/a:.2f}x ({b/1000:.2f}s -> {a/1000:.2f}s)")
PY

t0=$(date +%s%N); for _ in $(seq 1 20); do "$bin/stageos-smoke" list > /dev/null; done; t1=$(date +%s%N)
echo "stageos-smoke list: $(( (t1 - t0) / 20000000 )) ms per call (mean of 20)"
