#!/usr/bin/env bash
# Benchmark: the post-deploy profile against a reference server in a separate
# process (so the suite's own CPU time and RSS are measured, not the server's),
# with an added per-request latency of 0, 20, 50 and 150 ms (150 ms: a staging
# across the internet); at 0 and 20 ms also the six flows of the tool comparison in
# issue 13 (auth with TOTP, dossier, availability, setlist, invoice PDF, signed-URL
# files; Hurl 8.0.1 --parallel took 2.48 s on them at 20 ms).
#
#   scripts/bench.sh            # builds release binaries, prints a table
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
cargo build -q --release -p stageos-smoke -p stageos-reference
out=target/bench
mkdir -p "$out"

start_reference() {  # $1 = latency ms
  local log="$out/reference-$1.env"
  target/release/stageos-reference --listen 127.0.0.1:0 --fault "latency:*:$1" > "$log" 2>"$out/reference-$1.log" &
  REF_PID=$!
  for _ in $(seq 1 100); do grep -q '^STAGEOS_OWNER_TOTP_SECRET=' "$log" 2>/dev/null && break; sleep 0.1; done
  set -a; . "$log"; set +a
}

measure() {  # $1 = label, rest = extra args
  local label=$1; shift
  local dir="$out/$label"
  local code=0
  date +%s.%N > "$dir.launch"
  /usr/bin/time -f '%e %U %S %M' -o "$dir.time" target/release/stageos-smoke run --report-dir "$dir" "$@" > "$dir.out" 2>&1 || code=$?
  # A benchmark of a red run measures the wrong thing: say so and stop.
  if [ "$code" -ne 0 ]; then
    echo "error: the $label run exited $code (not green); see $dir.out" >&2
    tail -20 "$dir.out" >&2
    exit 1
  fi
  python3 - "$dir" "$label" <<'PY'
import json, sys
from datetime import datetime
d, label = sys.argv[1], sys.argv[2]
s = json.load(open(d + "/summary.json"))
e, u, sy, rss = open(d + ".time").read().split()
cp = s["critical_path"]["ms"]
launch = float(open(d + ".launch").read())
started = datetime.fromisoformat(s["started_at"].replace("Z", "+00:00")).timestamp()
starts = [r["start_ms"] for st in s["steps"] for r in st.get("requests", [])]
first = (started + min(starts) / 1000 - launch) * 1000 if starts else float("nan")
ends = {}
for st in s["steps"]:
    end = st["start_ms"] + st["duration_ms"]
    if st["status"] != "skipped":
        ends[st["flow"]] = max(ends.get(st["flow"], 0), end)
print(f"{label:<22} verdict={s['verdict']:<7} steps={s['counts']['total']:<4} wall={s['wall_ms']/1000:6.2f}s "
      f"critical={cp/1000:6.2f}s ratio={s['wall_ms']/cp if cp else 0:5.2f} cpu={float(u)+float(sy):5.2f}s rss={int(rss)/1024:6.1f}MB "
      f"first-request={first:5.0f}ms")
print("    flows end at: " + ", ".join(f"{f} {ms/1000:.2f}s" for f, ms in sorted(ends.items(), key=lambda x: -x[1])))
PY
}

six_flows=(--skip health:: --skip housekeeping:: --skip metrics:: --skip baseline:: --skip release::
  --skip webhooks:: --skip rbac:: --skip totp:: --skip audit:: --skip privacy::)
for lat in 0 20 50 150; do
  start_reference "$lat"
  measure "latency-${lat}ms"
  if [ "$lat" = 20 ]; then measure "latency-20ms-threads1" --test-threads 1; fi
  if [ "$lat" = 0 ] || [ "$lat" = 20 ]; then measure "six-flows-${lat}ms" "${six_flows[@]}"; fi
  kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
done

python3 - <<'PY'
import json
a = json.load(open("target/bench/latency-20ms/summary.json"))["wall_ms"]
b = json.load(open("target/bench/latency-20ms-threads1/summary.json"))["wall_ms"]
print(f"speed-up at 20 ms over --test-threads 1: {b/a:.2f}x ({b/1000:.2f}s -> {a/1000:.2f}s)")
PY

t0=$(date +%s%N); for _ in $(seq 1 20); do target/release/stageos-smoke list > /dev/null; done; t1=$(date +%s%N)
echo "stageos-smoke list: $(( (t1 - t0) / 20000000 )) ms per call (mean of 20)"
