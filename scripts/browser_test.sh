#!/usr/bin/env bash
# Browser test of the `sam3rt serve` web page: starts the server on a free loopback port
# with a tiny random-weight checkpoint (tests/server/tiny_config.json), drives the page
# in Debian's chromium with playwright-core (tests/browser/page_test.mjs: click, shift-
# click, drag, text, candidate choice, downloads) and leaves screenshots in
# ${BUILD_DIR:-build}/browser-test/. Installs chromium, nodejs and npm from Debian when
# missing; playwright-core comes from tests/browser/package-lock.json (npm ci), without
# any browser download. Expects a built tree (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
out=${SAM3RT_BROWSER_OUT:-$build/browser-test}
chromium=${CHROMIUM:-/usr/bin/chromium}

missing=()
[ -x "$chromium" ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "browser test: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -x "$build/sam3rt" ] || { echo "browser test: $build/sam3rt missing: run scripts/build.sh" >&2; exit 1; }

(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

rm -rf "$out"
mkdir -p "$out"
"$build/sam3rt" make-random-checkpoint --config tests/server/tiny_config.json --out "$out/model" --seed 7 >/dev/null

"$build/sam3rt" serve --model "$out/model" --host 127.0.0.1 --port 0 --log >"$out/serve.out" 2>"$out/serve.log" &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
}
trap stop_server EXIT
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$out/serve.out" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "browser test: the server did not start" >&2; cat "$out/serve.log" >&2; exit 1; }

SAM3RT_URL="http://127.0.0.1:$port/" CHROMIUM="$chromium" \
  node tests/browser/page_test.mjs --image tests/data/images/oven.jpg --out "$out"

# A clean stop: SIGTERM ends the server with status 0.
trap - EXIT
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
[ "$status" -eq 0 ] || { echo "browser test: the server exited with $status on SIGTERM" >&2; exit 1; }
echo "browser test: passed (screenshots in $out)"
