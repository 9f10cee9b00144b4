#!/usr/bin/env bash
# Compiles every source of sam3rt against the headers of a LibTorch 2.x (syntax and types
# only, nothing links or runs), so that code written on this machine's LibTorch 1.13 is
# known to build on the GPU machines' 2.x before device time is spent there.
#
#   scripts/check_torch2.sh [SUITE...]     # default: trixie (2.6) and sid (newest)
#
# Downloads Debian's libtorch-dev of each suite (headers only) into
# ${TMPDIR:-/tmp}/sam3rt-torch2/<suite>, then runs each compile command of build/'s
# compile_commands.json with -fsyntax-only and those headers first on the include path.
# Needs a configured build/ (scripts/build.sh) and apt access to deb.debian.org.
set -euo pipefail
cd "$(dirname "$0")/.."
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(trixie sid)
[ -f build/compile_commands.json ] || { echo "check_torch2: configure build/ first (scripts/build.sh)" >&2; exit 2; }
root=${TMPDIR:-/tmp}/sam3rt-torch2
status=0
for suite in "${suites[@]}"; do
  dir=$root/$suite
  if [ ! -d "$dir/usr/include/ATen" ]; then
    mkdir -p "$dir/lists/partial" "$dir/debs"
    echo "deb [trusted=yes] http://deb.debian.org/debian $suite main" > "$dir/sources.list"
    o=(-oDir::Etc::SourceList="$dir/sources.list" -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists="$dir/lists"
       -oAPT::Architecture=amd64 -oDebug::NoLocking=1)
    apt-get "${o[@]}" update >/dev/null
    (cd "$dir/debs" && apt-get "${o[@]}" download libtorch-dev >/dev/null 2>&1)
    dpkg -x "$dir"/debs/libtorch-dev_*.deb "$dir"
  fi
  version=$(ls "$dir"/debs/libtorch-dev_*.deb | sed 's/.*libtorch-dev_\([^+_]*\).*/\1/')
  # torch/version.h as the pip and CMake packages put it on the include path.
  inc=(-isystem "$dir/usr/include" -isystem "$dir/usr/include/torch/csrc/api/include")
  log=$root/$suite.log
  : > "$log"
  rc=0
  python3 - "$log" "${inc[@]}" <<'PY' || rc=$?
import json, shlex, subprocess, sys, os
from concurrent.futures import ThreadPoolExecutor
log, inc = sys.argv[1], sys.argv[2:]
cmds = json.load(open("build/compile_commands.json"))
def run(c):
    args = shlex.split(c["command"])
    out = []
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a == "-c":
            continue
        out.append(a)
    cmd = [args[0]] + inc + ["-fsyntax-only", "-w"] + out
    r = subprocess.run(cmd, cwd=c["directory"], capture_output=True, text=True)
    return c["file"], r.returncode, r.stderr
bad = 0
with ThreadPoolExecutor(os.cpu_count() or 2) as ex, open(log, "a") as f:
    for file, rc, err in ex.map(run, cmds):
        if rc:
            bad += 1
            f.write(f"== {file}\n{err}\n")
print(f"{len(cmds) - bad}/{len(cmds)} sources compile")
sys.exit(1 if bad else 0)
PY
  echo "check_torch2: LibTorch $version ($suite): $( [ $rc = 0 ] && echo ok || echo "errors in $log")"
  [ $rc = 0 ] || status=1
done
exit $status
