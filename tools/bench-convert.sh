#!/bin/sh
# Benchmark (not a test) of `qtool convert` on a generated model of >= 2 GB.
#
# For each format it prints the conversion's wall time, the I/O floor (reading
# the input + writing the output's size), their ratio (target <= 1.5x) and the
# peak RSS against 1.5 x the largest tensor + 256 MiB.
#
# Fairness: the input is read once beforehand so every conversion and every
# floor measurement runs with the input in the page cache; `sync` before each
# timed step starts each one with no dirty pages; outputs are written to the
# same disk in the same way (a fresh file) by the conversion and by the floor.
# Each is repeated --reps times (default 3) and the fastest run counts (this
# VM's disk writeback makes single runs noisy); the peak RSS is the largest.
# qtool writes its data with O_DIRECT (docs/QTOOL.md), so it ends with the
# bytes on disk, while the floor's are still dirty in the page cache: if
# anything that favours the floor. QTOOL_BUFFERED_IO=1 in the environment
# makes qtool write through the page cache too, for comparison.
#
# usage: tools/bench-convert.sh [--qtool PATH] [--backend B] [--dir DIR]
#            [--blocks N] [--width W] [--dtype bf16|f16|f32] [--reps N] [--keep]
#            [--model M.safetensors (instead of generating one)] [FORMAT...]
set -eu

qtool="" backend=cpu dir="" blocks=4 width=4096 dtype=bf16 keep=0 formats="" reps=3 model=""
while [ $# -gt 0 ]; do
    case "$1" in
    --qtool) qtool=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --blocks) blocks=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    --dtype) dtype=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --reps) reps=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "bench-convert: unknown option $1" >&2; exit 2 ;;
    *) formats="$formats $1"; shift ;;
    esac
done
[ -n "$formats" ] || formats="nvfp4 nf4 nf4:dq float8_e4m3fn mxfp8 int8_tensorwise:row"

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$qtool" ]; then
    for c in "$root"/build/tools/qtool/qtool "$root"/build-*/tools/qtool/qtool; do
        [ -x "$c" ] && { qtool=$c; break; }
    done
fi
[ -n "$qtool" ] && [ -x "$qtool" ] || { echo "bench-convert: no qtool (build first or --qtool)" >&2; exit 2; }

# A real disk, not tmpfs: /var/tmp unless --dir.
if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/var/tmp}/qk-bench-convert.XXXXXX")
    [ "$keep" = 1 ] || trap 'rm -rf "$dir"' EXIT INT TERM
else
    mkdir -p "$dir"
fi

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

# Peak RSS and wall time of a command: GNU time if present, else Python's
# getrusage of the child. Prints "SECONDS KIB" on fd 3.
if [ -x /usr/bin/time ]; then
    measure() {
        t=$(now)
        /usr/bin/time -f "%M" -o "$dir/time.out" "$@" >"$dir/cmd.log" 2>&1 || { cat "$dir/cmd.log" >&2; return 1; }
        echo "$(calc "$(now) - $t") $(tail -n 1 "$dir/time.out")"
    }
else
    measure() {
        QK_LOG="$dir/cmd.log" python3 -c '
import os, resource, subprocess, sys, time
t = time.monotonic()
with open(os.environ["QK_LOG"], "w") as log:
    rc = subprocess.call(sys.argv[1:], stdout=log, stderr=subprocess.STDOUT)
print("%.4f %d" % (time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)' "$@" || { cat "$dir/cmd.log" >&2; return 1; }
    }
fi
size_of() { stat -c %s "$1"; }

avail=$(df -Pk "$dir" | awk 'NR==2 {print $4}')
echo "bench-convert: $qtool, backend $backend, $(nproc) cores, $avail KiB free in $dir"
t0=$(now)
if [ -z "$model" ]; then
    model="$dir/model.safetensors"
    "$qtool" make-model "$model" --blocks "$blocks" --width "$width" --dtype "$dtype" >/dev/null
    made="($blocks blocks, width $width, $dtype) made in $(calc "$(now) - $t0") s"
else
    made="(given)"
fi
in_bytes=$(size_of "$model")
# The largest tensor, from the safetensors header.
largest=$(python3 - "$model" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
print(max(v["data_offsets"][1] - v["data_offsets"][0] for k, v in h.items() if k != "__metadata__"))
EOF
)
printf 'model: %s, %.2f GB %s; largest tensor %.1f MiB\n' \
    "$model" "$(calc "$in_bytes / 1e9")" "$made" "$(calc "$largest / 1048576")"
[ "$in_bytes" -ge 2000000000 ] || echo "bench-convert: warning: the model is under 2 GB (raise --blocks/--width)" >&2
rss_limit=$(( (largest * 3 / 2 + 256 * 1048576) / 1024 ))

cat "$model" >/dev/null # the input stays in the page cache from here on

printf '\n%-24s %9s %9s %9s %7s %11s %11s %s\n' format out_MB convert_s floor_s ratio peak_RSS_MiB limit_MiB verdict
min() { awk "BEGIN { a = $1; b = $2; print (a < b ? a : b) }"; }
for fmt in $formats; do
    out="$dir/out.safetensors"
    conv_s="" floor_s="" rss_kib=0 failed=0 r=0
    while [ "$r" -lt "$reps" ]; do
        r=$((r + 1))
        rm -f "$out" "$dir/floor.bin"
        sync
        cat "$model" >/dev/null
        set -- $(measure "$qtool" convert "$model" -o "$out" --format "$fmt" --backend "$backend" --quiet) ||
            { failed=1; break; }
        conv_s=$(min "$1" "${conv_s:-$1}")
        [ "$2" -le "$rss_kib" ] || rss_kib=$2
        out_bytes=$(size_of "$out")
        # The floor, same cache state: read the input, write a fresh file of
        # the output's size (qtool also writes a fresh file and renames it).
        rm -f "$out"
        sync
        t0=$(now)
        cat "$model" >/dev/null
        head -c "$out_bytes" /dev/zero >"$dir/floor.bin"
        floor_s=$(min "$(calc "$(now) - $t0")" "${floor_s:-1e9}")
        rm -f "$dir/floor.bin"
    done
    if [ "$failed" = 1 ]; then
        echo "bench-convert: convert --format $fmt failed" >&2
        continue
    fi
    ratio=$(calc "$conv_s / $floor_s")
    verdict=ok
    [ "$(calc "$ratio <= 1.5")" = 1 ] || verdict="SLOW"
    [ "$rss_kib" -le "$rss_limit" ] || verdict="$verdict RSS-OVER"
    printf '%-24s %9.1f %9.2f %9.2f %6.2fx %11.1f %11.1f %s\n' "$fmt" \
        "$(calc "$out_bytes / 1e6")" "$conv_s" "$floor_s" "$ratio" \
        "$(calc "$rss_kib / 1024")" "$(calc "$rss_limit / 1024")" "$verdict"
done
