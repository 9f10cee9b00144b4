#!/usr/bin/env bash
# Installs a built sam3rt into a temporary prefix and builds the consumers in examples/
# against it, as a user would: examples/click with find_package(sam3rt) (CMake), and
# examples/click_c.c with pkg-config (C). Runs both on a tiny checkpoint and the installed
# Python module on the same clicks; all three must print the same lines. Also checks the
# installed files (SONAME, headers, vocabulary).
# Usage: scripts/install_test.sh BUILD_DIR   (ctest: Install.ConsumerExamples)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: install_test.sh BUILD_DIR}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
libdir=$(sed -n 's/^libdir=\${prefix}\///p' "$prefix"/lib*/pkgconfig/sam3rt.pc)
soname=$(objdump -p "$prefix/$libdir/libsam3rt.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libsam3rt.so.0" ] || { echo "SONAME is '$soname', expected libsam3rt.so.0" >&2; exit 1; }
for f in include/sam3rt/sam3rt.h include/sam3rt/sam3rt_c.h share/sam3rt/bpe_simple_vocab_16e6.txt.gz \
         "$libdir/cmake/sam3rt/sam3rtConfig.cmake" bin/sam3rt; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done

model=$root/tests/data/sam3-tiny-seed0/sam3_tracker
image=$root/tests/data/images/oven.jpg
clicks=(120,200 60,400 300,30)

# C++: the CMake package.
gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi
cmake -S "$root/examples/click" -B "$work/click" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log"
cmake --build "$work/click" >"$work/build.log"
"$work/click/click" "$model" "$image" "${clicks[@]}" >"$work/cpp.txt"

# C: pkg-config.
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
# The .pc file names the configured prefix; this install went elsewhere.
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$root/examples/click_c.c" $(pkg-config --define-variable=prefix="$prefix" --cflags --libs sam3rt) \
  -Wl,-rpath,"$prefix/$libdir" -o "$work/click_c"
"$work/click_c" "$model" "$image" "${clicks[@]}" >"$work/c.txt"

# Python: the installed module (it loads the installed library).
python=/usr/bin/python3
PYTHONPATH=$(ls -d "$prefix"/lib/python3/dist-packages) "$python" - "$model" "$image" "${clicks[@]}" >"$work/py.txt" <<'PY'
import sys
import sam3rt
model = sam3rt.Model(sys.argv[1])
session = model.image(sys.argv[2])
for c in sys.argv[3:]:
    x, y = (float(v) for v in c.split(","))
    r = session.predict(points=[(x, y)])
    b = r.best
    x1, y1, x2, y2 = (float(v) for v in r.boxes[b])
    print(f"click {x:g},{y:g}: {len(r)} candidates, best {r.ids[b]} iou {r.scores[b]:.4f} area {r.areas[b]} "
          f"box {x1:g},{y1:g},{x2:g},{y2:g}")
PY
grep -q "$prefix" <(PYTHONPATH=$(ls -d "$prefix"/lib/python3/dist-packages) "$python" -c \
  'import sam3rt._library as l; print(l.PATH)') || { echo "the installed module does not load the installed library" >&2; exit 1; }

cat "$work/cpp.txt"
[ "$(wc -l <"$work/cpp.txt")" -eq ${#clicks[@]} ] || { echo "expected ${#clicks[@]} lines" >&2; exit 1; }
diff "$work/cpp.txt" "$work/c.txt" || { echo "C and C++ consumers differ" >&2; exit 1; }
diff "$work/cpp.txt" "$work/py.txt" || { echo "Python and C++ consumers differ" >&2; exit 1; }
echo "install_test: C++ (CMake package), C (pkg-config) and Python consumers agree"
