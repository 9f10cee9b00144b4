#!/usr/bin/env bash
# Load test of `sam3rt serve` (not part of ctest: about a minute or more). Starts the
# server on a free loopback port with a tiny random-weight checkpoint, caches two
# images, then runs ROUNDS rounds of wrk with CLIENTS connections until CLIENTS x
# REQUESTS answers (tests/server/load.lua: concept and object segmentation, uploads that
# make the LRU cache evict, health / model / page reads). Fails unless every answer is a
# 200 with no socket error, and unless the server's peak RSS (VmHWM) after the last round
# is within RSS_SLACK_PERCENT of the peak after the first. Installs wrk and curl from
# Debian when missing; targets 127.0.0.1 only. Expects a built tree (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
out=${SAM3RT_LOAD_OUT:-$build/load-test}
clients=${CLIENTS:-50}
requests=${REQUESTS:-200}
rounds=${ROUNDS:-2}
wrk_threads=${WRK_THREADS:-2}
slack=${RSS_SLACK_PERCENT:-2}

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "load test: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -x "$build/sam3rt" ] || { echo "load test: $build/sam3rt missing: run scripts/build.sh" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
"$build/sam3rt" make-random-checkpoint --config tests/server/tiny_config.json --out "$out/model" --seed 7 >/dev/null
"$build/sam3rt" serve --model "$out/model" --port 0 --threads 1 --inference-slots 2 --cache-mb 64 \
  >"$out/serve.out" 2>"$out/serve.log" &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$out/serve.out" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "load test: the server did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"

upload() {
  curl -sf -H "Content-Type: $2" --data-binary "@$1" "$base/v1/images" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'
}
image_a=$(upload tests/data/images/oven.jpg image/jpeg)         # 332 x 500
image_b=$(upload tests/data/images/progressive.jpg image/jpeg)  # 64 x 48
[ -n "$image_a" ] && [ -n "$image_b" ] || { echo "load test: upload failed" >&2; exit 1; }

rss_kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$server_pid/status"; }
echo "load test: $rounds rounds of $clients clients x $requests requests against $base (server pid $server_pid)"
echo "load test: before: VmRSS $(rss_kb VmRSS) kB, VmHWM $(rss_kb VmHWM) kB"
failed=0
first_hwm=""
hwm=""
for round in $(seq 1 "$rounds"); do
  started=$(date +%s.%N)
  wrk -t"$wrk_threads" -c"$clients" -d"${MAX_SECONDS:-1800}s" --timeout 60s -s tests/server/load.lua "$base" -- \
    "$image_a" "$image_b" tests/data/images/rgba.png "$requests" "$clients" "$wrk_threads" >"$out/wrk_$round.txt" &
  wrk_pid=$!
  # wrk's worker threads exit once they have their answers, but its main thread sleeps
  # for the whole -d: interrupt it (it then reports) when only the main thread is left.
  workers_seen=0
  while kill -0 "$wrk_pid" 2>/dev/null; do
    tasks=$(ls "/proc/$wrk_pid/task" 2>/dev/null | wc -l)
    if [ "$tasks" -gt 1 ]; then workers_seen=1; fi
    if [ "$workers_seen" -eq 1 ] && [ "$tasks" -eq 1 ]; then kill -INT "$wrk_pid" 2>/dev/null || true; break; fi
    sleep 0.2
  done
  wait "$wrk_pid" || true
  wall=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  result=$(grep '^RESULT' "$out/wrk_$round.txt" | sed 's/ seconds=[0-9.]* rps=[0-9.]*//' || true)
  hwm=$(rss_kb VmHWM)
  [ -n "$first_hwm" ] || first_hwm=$hwm
  answered=$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' <<<"$result")
  rps=$(awk -v n="${answered:-0}" -v w="$wall" 'BEGIN { printf "%.1f", n / w }')
  echo "load test: round $round: ${result#RESULT } wall_s=$wall rps=$rps VmRSS_kB=$(rss_kb VmRSS) VmHWM_kB=$hwm"
  grep '^FIRST_FAILURE' "$out/wrk_$round.txt" || true
  errors=$(sed -n 's/.*non200=\([0-9]*\) connect=\([0-9]*\) read=\([0-9]*\) write=\([0-9]*\) timeout=\([0-9]*\).*/\1 \2 \3 \4 \5/p' <<<"$result")
  if [ -z "$answered" ] || [ "$answered" -lt $((clients * requests)) ]; then
    echo "load test: round $round answered ${answered:-0} of $((clients * requests))" >&2
    failed=1
  fi
  if [ "$errors" != "0 0 0 0 0" ]; then
    echo "load test: round $round had errors (non-200 connect read write timeout): $errors" >&2
    failed=1
  fi
done
health=$(curl -sf "$base/v1/health")
echo "load test: health after: $health"
if [ $((hwm * 100)) -gt $((first_hwm * (100 + slack))) ]; then
  echo "load test: peak RSS grew from $first_hwm kB after round 1 to $hwm kB (more than $slack%)" >&2
  failed=1
fi

trap - EXIT
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
if [ "$status" -ne 0 ]; then
  echo "load test: the server exited with $status on SIGTERM" >&2
  failed=1
fi
[ "$failed" -eq 0 ] || exit 1
echo "load test: passed"
