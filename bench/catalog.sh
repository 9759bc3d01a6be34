#!/bin/bash
# bench/catalog.sh - the catalog's figures, side by side with the tools
# users would otherwise pick:
#  1. DICOM header extraction, files/s: strata's reader vs pydicom
#     (dcmread(stop_before_pixels=True)) vs dcmtk's dcmdump, same files;
#  2. 'find' latency on a synthetic catalog of BENCH_FIND_FILES (default
#     1,000,000) files, with SQLite's query plans;
#  3. what metadata extraction costs an ingest: with everything, without
#     the DICOM pixel-data cut (STRATA_NO_CUTS=1), without extraction
#     (STRATA_NO_EXTRACT=1).
# Knobs: STRATA (binary), BENCH_DIR (work dir), BENCH_FIND_FILES,
# BENCH_DICOM_FILES (default 5000). Prints a table; never gates CI.
set -eu
cd "$(dirname "$0")/.."
STRATA=${STRATA:-build/release/strata}
[ -x "$STRATA" ] || { cmake --preset release >/dev/null && cmake --build --preset release -j2 >/dev/null; }
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench}
NFIND=${BENCH_FIND_FILES:-1000000}
NDCM=${BENCH_DICOM_FILES:-5000}
PY=/usr/bin/python3 # Debian's python, where python3-pydicom lives
export STRATA_PASSWORD=bench-password
W=$BENCH_DIR/catalog
mkdir -p "$W"

now() { date +%s.%N; }
rate() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$@"; }

# --- 1. DICOM header extraction ------------------------------------------
if [ ! -d "$BENCH_DIR/corpus/imaging" ]; then
	echo "no corpus in $BENCH_DIR: run bench/run.sh first (BENCH_GIB=0.2 is enough)" >&2
	exit 1
fi
find "$BENCH_DIR/corpus/imaging" -type f -name '*.dcm' | head -n "$NDCM" >"$W/dicom.list"
n=$(wc -l <"$W/dicom.list")
cat $(cat "$W/dicom.list") >/dev/null # warm the cache: we time parsing
t0=$(now)
xargs -a "$W/dicom.list" -n 5000 "$STRATA" -q debug meta >/dev/null # one process, as pydicom
t1=$(now)
$PY -W ignore - "$W/dicom.list" <<'PY'
import sys, pydicom
for p in open(sys.argv[1]).read().split():
    pydicom.dcmread(p, stop_before_pixels=True, force=True)
PY
t2=$(now)
xargs -a "$W/dicom.list" -n 500 dcmdump -q +P 0008,0060 >/dev/null 2>&1 || true
t3=$(now)
s_rate=$(rate "$n" "$t0" "$t1"); p_rate=$(rate "$n" "$t1" "$t2"); d_rate=$(rate "$n" "$t2" "$t3")

# --- 2. find on a synthetic catalog ----------------------------------------
R=$W/find-repo
# A catalog of an older schema is rebuilt from the store at open, which
# drops the synthetic version (it has no snapshot object): build again.
# the marker names the synthetic data's version (src/repo/synth.c)
SYNTH=2
if [ ! -f "$W/find.$NFIND.$SYNTH" ] ||
	! "$STRATA" -R "$R" -q datasets 2>/dev/null | grep -q '^synth'; then
	rm -rf "$R" "$W"/find.*
	"$STRATA" init "$R" --kdf-memory 8 >/dev/null
	echo "building a catalog of $NFIND files..." >&2
	"$STRATA" -R "$R" debug synth synth "$NFIND"
	touch "$W/find.$NFIND.$SYNTH"
fi
queries=(
	"dicom.PatientID = 'PAT-000123'"
	"dicom.StudyInstanceUID = '1.2.826.0.1.3680043.8.498.77'"
	"dicom.Modality = MR and dicom.BodyPartExamined = KNEE and dicom.SliceThickness <= 1"
	"genome.build = T2T-CHM13 and seq.platform = PACBIO and seq.read_length > 150"
	"dicom.Manufacturer ~ 'TOSH*' and dicom.Rows = 256 and dicom.InstanceNumber = 7"
)
printf '\n%-88s %8s %8s\n' "find query ($NFIND files)" "hits" "ms"
for q in "${queries[@]}"; do
	"$STRATA" -R "$R" find "$q" >/dev/null 2>&1 # warm
	t0=$(now)
	hits=$("$STRATA" -R "$R" -q find "$q" | wc -l)
	t1=$(now)
	ms=$(python3 -c "print('%.0f' % ((float('$t1') - float('$t0')) * 1000))")
	printf '%-88s %8s %8s\n' "$q" "$hits" "$ms"
	STRATA_EXPLAIN=1 "$STRATA" -R "$R" -q find "$q" 2>&1 >/dev/null | grep -E '^  [0-9]' | sed 's/^/      plan: /'
done

# --- 3. extraction cost on ingest -------------------------------------------
# On the whole corpus of run.sh (what the target names) and on its imaging
# part alone (DICOM only: the most metadata per byte). Each mode runs
# BENCH_ROUNDS times (default 3), interleaved, each from a cold cache;
# medians are compared. Wall time is what "slows ingest" means (the
# target); CPU time (user + sys) is printed beside it.
ROUNDS=${BENCH_ROUNDS:-3}
ingest_time() { # SRC ENV=VALUE...: "wall cpu" of one cold ingest
	local src=$1
	shift
	rm -rf "$W/ingest-repo"
	"$STRATA" init "$W/ingest-repo" --kdf-memory 8 >/dev/null
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	{ env "$@" /usr/bin/time -f '%e %U %S' "$STRATA" -R "$W/ingest-repo" -q \
		ingest "$src" --dataset x >/dev/null; } 2>&1 | tail -1 |
		awk '{ printf "%s %.2f", $1, $2 + $3 }'
}
costs=()
for src in "$BENCH_DIR/corpus" "$BENCH_DIR/corpus/imaging"; do
	t_with=; t_nocut=; t_without=
	for _ in $(seq "$ROUNDS"); do
		t_with="$t_with,$(ingest_time "$src" STRATA_X=1)"
		t_nocut="$t_nocut,$(ingest_time "$src" STRATA_NO_CUTS=1)"
		t_without="$t_without,$(ingest_time "$src" STRATA_NO_EXTRACT=1)"
	done
	costs+=("$src" "$t_with" "$t_nocut" "$t_without")
done

printf '\n%-52s %12s\n' "DICOM header extraction ($n files)" "files/s"
printf '%-52s %12s\n' "strata (debug meta)" "$s_rate" "pydicom dcmread(stop_before_pixels=True)" "$p_rate" "dcmdump" "$d_rate"
python3 - "$s_rate" "$p_rate" "$d_rate" "$ROUNDS" "${costs[@]}" <<'PY'
import statistics, sys
s, p, d = map(float, sys.argv[1:4])
rounds = sys.argv[4]
def parse(v):  # ",wall cpu,wall cpu,...": medians
    runs = [tuple(map(float, r.split())) for r in v.split(",") if r]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
pct = lambda a, b: 100 * (a - b) / b
print("strata / pydicom: %.1fx (target >= 20x)   strata / dcmdump: %.1fx" % (s / p, s / d))
args = sys.argv[5:]
for i in range(0, len(args), 4):
    src = args[i]
    w, n, o = (parse(v) for v in args[i + 1:i + 4])
    target = i == 0
    print("ingest of %s%s, median of %s cold runs (wall s / CPU s):"
          % (src, " (the target's corpus)" if target else "", rounds))
    print("  no extraction       %6.2f / %6.2f" % o)
    print("  extraction, no cut  %6.2f / %6.2f   %+.1f%% wall%s, %+.1f%% CPU"
          % (n + (pct(n[0], o[0]), " (target <= +10%)" if target else "", pct(n[1], o[1]))))
    print("  extraction and cut  %6.2f / %6.2f   %+.1f%% wall%s, %+.1f%% CPU"
          % (w + (pct(w[0], o[0]), " (target <= +10%)" if target else "", pct(w[1], o[1]))))
PY
