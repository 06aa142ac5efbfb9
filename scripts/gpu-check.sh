#!/usr/bin/env bash
# Checks footprint against nvidia-smi on a machine with NVIDIA GPUs: runs `footprint doctor`, then the
# daemon for a window (60 s), sampling both every few seconds, and compares per GPU the mean power
# (within 5%) and the energy over the window (within 1%). Prints a table; exits 1 on a miss, 2 when
# it cannot run. Extra arguments go to footprint (e.g. --nvml-library PATH).
#   GPU_CHECK_WINDOW_S (60)  GPU_CHECK_SAMPLE_S (5)  GPU_CHECK_PORT (19464)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# How footprint is run: the one place to change when the package gains a build step.
FOOTPRINT=(node "$ROOT/bin/footprint.js")

WINDOW_S="${GPU_CHECK_WINDOW_S:-60}"
SAMPLE_S="${GPU_CHECK_SAMPLE_S:-5}"
PORT="${GPU_CHECK_PORT:-19464}"
POWER_TOLERANCE=0.05
ENERGY_TOLERANCE=0.01
# footprint ticks every 200 ms, so a scrape is at most 200 ms older than the nvidia-smi call after it
# (0.3% of a 60 s window at constant power).
INTERVAL=200ms

die() { echo "gpu-check: $*" >&2; exit 2; }
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: run this on a machine with an NVIDIA GPU and its driver"
command -v curl >/dev/null || die "curl not found"

echo "== footprint doctor"
doctor="$("${FOOTPRINT[@]}" doctor "$@")" || die "footprint doctor failed"
echo "$doctor"
grep -q '^GPU-' <<<"$doctor" || die "footprint doctor lists no NVIDIA GPU"

# nvidia-smi labels the unit in the CSV header: `total_energy_consumption [mJ]` (NVML's unit) or `[J]`.
energy_header="$(nvidia-smi --query-gpu=total_energy_consumption --format=csv | head -n 1)"
case "$energy_header" in
  *'[mJ]'*) SMI_ENERGY_JOULES=0.001 ;;
  *'[J]'*) SMI_ENERGY_JOULES=1 ;;
  *) die "unexpected nvidia-smi energy header: $energy_header" ;;
esac

work="$(mktemp -d)"
daemon_pid=""
cleanup() {
  if [[ -n "$daemon_pid" ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== footprint start for ${WINDOW_S}s (samples every ${SAMPLE_S}s)"
"${FOOTPRINT[@]}" start --listen "127.0.0.1:$PORT" --ingest-listen 127.0.0.1:0 --ingest-grpc-listen 127.0.0.1:0 --interval "$INTERVAL" --log-level warn "$@" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
# Read the page whole before matching: `grep -q` quitting early would fail curl's write under pipefail.
gpu_series() { grep -c '^hw_energy_joules_total{.*hw_type="gpu"' <<<"$(curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null)"; }
ready=""
for _ in $(seq 1 150); do
  if [[ "$(gpu_series)" -gt 0 ]]; then ready=1; break; fi
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; die "the daemon exited"; }
  sleep 0.2
done
[[ -n "$ready" ]] || die "no GPU series on /metrics after 30 s"

# One sample: `<sample> footprint <uuid> <joules> <watts>` lines, then `<sample> smi <uuid> <joules> <watts>` lines.
sample() {
  local index="$1"
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v s="$index" '
    /^hw_(energy_joules_total|power_watts)\{.*hw_type="gpu"/ {
      match($0, /hw_id="[^"]*"/); id = substr($0, RSTART + 7, RLENGTH - 8)
      if ($0 ~ /^hw_energy/) energy[id] = $NF; else power[id] = $NF
    }
    END { for (id in energy) print s, "footprint", id, energy[id], power[id] }'
  nvidia-smi --query-gpu=uuid,power.draw,total_energy_consumption --format=csv,noheader,nounits |
    awk -F', *' -v s="$index" -v unit="$SMI_ENERGY_JOULES" '{ print s, "smi", $1, $3 * unit, $2 }'
}

samples=$(( WINDOW_S / SAMPLE_S ))
for index in $(seq 0 "$samples"); do
  sample "$index" >>"$work/samples"
  if [[ "$index" -lt "$samples" ]]; then sleep "$SAMPLE_S"; fi
done

echo "== per GPU over ${WINDOW_S}s (power: mean of $((samples + 1)) samples; energy: last minus first)"
awk -v last="$samples" -v pt="$POWER_TOLERANCE" -v et="$ENERGY_TOLERANCE" '
  { key = $2 SUBSEP $3; gpus[$3] = 1; watts[key] += $5; count[key]++
    if ($1 == 0) first[key] = $4
    if ($1 == last) final[key] = $4 }
  function off(a, b) { return b == 0 ? (a == 0 ? 0 : 1) : (a - b) / b }
  END {
    printf "%-40s %10s %10s %7s %12s %12s %7s  %s\n", "GPU", "fp W", "smi W", "dW", "fp J", "smi J", "dJ", "result"
    misses = 0
    for (id in gpus) {
      f = "footprint" SUBSEP id; s = "smi" SUBSEP id
      if (!(f in count) || !(s in count)) { printf "%-40s missing from %s\n", id, (f in count) ? "nvidia-smi" : "footprint"; misses++; continue }
      fw = watts[f] / count[f]; sw = watts[s] / count[s]
      fj = final[f] - first[f]; sj = final[s] - first[s]
      dw = off(fw, sw); dj = off(fj, sj)
      ok = (dw <= pt && dw >= -pt && dj <= et && dj >= -et)
      if (!ok) misses++
      printf "%-40s %10.2f %10.2f %6.2f%% %12.3f %12.3f %6.3f%%  %s\n", id, fw, sw, 100 * dw, fj, sj, 100 * dj, ok ? "ok" : "MISS"
    }
    exit misses > 0 ? 1 : 0
  }' "$work/samples"
