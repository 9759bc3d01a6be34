#!/bin/bash
# bench/deid.sh - DICOM de-identification (PS3.15 Annex E Basic Profile),
# files/s and peak RSS, strata against the tools users would otherwise
# pick, on the same DICOM corpus in one run:
#  1. strata deid raw --dataset cur (after an untimed ingest as 'raw');
#  2. a pydicom script applying the Basic Profile column of Table E.1-1
#     (bench/deid_pydicom.py deid);
#  3. gdcmanon -e (GDCM's Basic Profile, throw-away self-signed certificate);
#  4. dcmodify with -ea/-ma/-ep arguments built from the same table.
# Then the share of bytes the curated version stored anew, and what each
# output still holds (planted identifiers, private elements, ...).
# Knobs: STRATA, BENCH_DIR, BENCH_DEID_FILES (default 2000), BENCH_SEED,
# BENCH_DEID_CHECK (files checked per tool, default 300), BENCH_DEID_TRAILING
# (keep: the templates' Data Set Trailing Padding as it is; strip), STRATA_TESTDATA,
# STRATA_ANNEXE_TSV. Prints tables; never gates CI.
set -eu
cd "$(dirname "$0")/.."
STRATA=${STRATA:-build/release/strata}
[ -x "$STRATA" ] || { cmake --preset release >/dev/null && cmake --build --preset release -j2 >/dev/null; }
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench}
N=${BENCH_DEID_FILES:-2000}
SEED=${BENCH_SEED:-1}
TRAILING=${BENCH_DEID_TRAILING:-keep}
NCHECK=${BENCH_DEID_CHECK:-300}
TESTDATA=${STRATA_TESTDATA:-../shared/testdata}
TABLE=${STRATA_ANNEXE_TSV:-../shared/reference/ps3.15-annexE-table-E1-1-2024b.tsv}
PY=/usr/bin/python3 # Debian's python, where python3-pydicom lives
HELPER=bench/deid_pydicom.py
export STRATA_PASSWORD=bench-password PYTHONDONTWRITEBYTECODE=1
W=$BENCH_DIR/deid
log() { printf '[deid] %s\n' "$*" >&2; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
need=()
command -v gdcmanon >/dev/null 2>&1 || need+=(libgdcm-tools)
command -v dcmodify >/dev/null 2>&1 || need+=(dcmtk)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
$PY -c 'import pydicom' 2>/dev/null || need+=(python3-pydicom)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
[ -f "$TABLE" ] || { log "no Table E.1-1 at $TABLE (set STRATA_ANNEXE_TSV)"; exit 1; }

mkdir -p "$W/logs"
load=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load" 'BEGIN {exit !(l > 1)}' && log "load average $load at start: timings may be disturbed by other processes"
rm -rf "$W/out" "$W/repo"

# --- corpus (not timed): reused while its stamp matches ----------------------
stamp="files=$N seed=$SEED trailing=$TRAILING $(grep -m1 '^CORPUS_VERSION' $HELPER) $(grep -m1 '^GEN_VERSION' bench/gen_corpus.py)"
if [ ! -d "$W/corpus" ] || [ "$(cat "$W/corpus.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$W/corpus" "$W/corpus.tmp" "$W/corpus.stamp"
	log "generating $N DICOM files in $W/corpus..."
	$PY -W ignore $HELPER corpus "$W/corpus.tmp" "$W/manifest.json" "$N" "$SEED" "$TESTDATA" "$TRAILING"
	mv "$W/corpus.tmp" "$W/corpus"
	echo "$stamp" >"$W/corpus.stamp"
fi
nfiles=$(find "$W/corpus" -name '*.dcm' | wc -l)
src_bytes=$(find "$W/corpus" -name '*.dcm' -printf '%s\n' | awk '{s += $1} END {print s}')

# run NAME CMD...: one timed command under /usr/bin/time -v; appends
# "NAME wall cpu rss_kib busy" to $W/results, busy = CPU seconds the whole
# machine used meanwhile (/proc/stat), to tell what other processes took
busy() { awk '/^cpu / {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit}' /proc/stat; }
run() {
	local name=$1 t0 t1 b0 b1
	shift
	sync
	b0=$(busy)
	t0=$(date +%s.%N)
	/usr/bin/time -v -o "$W/logs/$name.time" "$@" >"$W/logs/$name.out" 2>"$W/logs/$name.err" ||
		log "$name exited with status $? (see $W/logs/$name.*)"
	t1=$(date +%s.%N)
	b1=$(busy)
	awk -v n="$name" -v t0="$t0" -v t1="$t1" -v b="$b1" -v b0="$b0" -F': ' '
		/User time/ {c += $2} /System time/ {c += $2} /Maximum resident/ {m = $2}
		END {printf "%s %.3f %.2f %d %.2f\n", n, t1 - t0, c, m, b - b0}' "$W/logs/$name.time" >>"$W/results"
}
warm() { find "$W/corpus" -type f -exec cat {} + >/dev/null; } # we time de-identification, not the disk
: >"$W/results"

# --- 1. strata ---------------------------------------------------------------
"$STRATA" init "$W/repo" --kdf-memory 8 >/dev/null
log "strata ingest (not timed as de-identification)..."
"$STRATA" -R "$W/repo" -q ingest "$W/corpus" --dataset raw --json >"$W/logs/strata-ingest.json"
run strata "$STRATA" -R "$W/repo" deid raw --dataset cur --json -q

# --- 2. pydicom ----------------------------------------------------------------
warm
run pydicom $PY -W ignore $HELPER deid "$TABLE" "$W/corpus" "$W/out/pydicom"

# --- 3. gdcmanon -----------------------------------------------------------------
# Its Basic Profile mode (-e) will not run without a certificate: the
# originals go, encrypted, into an Encrypted Attributes Sequence.
[ -f "$W/gdcm-cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/gdcm-key.pem" \
	-out "$W/gdcm-cert.pem" -days 3650 -subj /CN=strata-bench 2>/dev/null
warm
run gdcmanon gdcmanon -e -c "$W/gdcm-cert.pem" -r -i "$W/corpus" -o "$W/out/gdcmanon"

# --- 4. dcmodify (in place, on a copy made untimed) -----------------------------
$PY $HELPER dcmodify-args "$TABLE" >"$W/dcmodify.args"
cp -r "$W/corpus" "$W/out/dcmodify"
# shellcheck disable=SC2016 # expanded by the inner sh
run dcmodify sh -c 'find "$1" -name "*.dcm" -print0 | xargs -0 -n 500 dcmodify "@$2"' sh \
	"$W/out/dcmodify" "$W/dcmodify.args"

# --- report ----------------------------------------------------------------------
"$STRATA" -R "$W/repo" -q restore cur "$W/out/strata" # for the check below
echo
$PY - "$W" "$nfiles" "$src_bytes" "$(wc -l <"$W/dcmodify.args")" <<'PY'
import json, os, sys
w, n, src = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    j = json.load(open(os.path.join(w, "logs", "strata.out")))
except ValueError:
    print("strata deid printed no JSON: see %s/logs/strata.err" % w)
    j = dict.fromkeys(("dicom", "held_back", "skipped", "uids_remapped", "bytes_new", "bytes_total"), 0)
manifest = json.load(open(os.path.join(w, "manifest.json")))
ncpu = os.cpu_count() or 1
rows = {}
for line in open(os.path.join(w, "results")):
    name, wall, cpu, rss, busy = line.split()
    wall, cpu, busy = float(wall), float(cpu), float(busy)
    rows[name] = (wall, cpu, int(rss), max(0.0, 100 * (busy - cpu) / (wall * ncpu)))
def count(d):
    return sum(1 for _, _, fs in os.walk(d) for f in fs if f.endswith(".dcm"))
outs = {"strata": j["dicom"], "pydicom": count(os.path.join(w, "out", "pydicom")),
        "gdcmanon": count(os.path.join(w, "out", "gdcmanon")), "dcmodify": n}
modes = {"strata": "strata deid (Basic Profile, keyed UIDs)",
         "pydicom": "pydicom script, Table E.1-1 (1 process)",
         "gdcmanon": "gdcmanon -e (Basic Profile, cert)",
         "dcmodify": "dcmodify -ea/-ma/-ep/-gin (%s args)" % sys.argv[4]}
s_rate = outs["strata"] / rows["strata"][0]
print("DICOM de-identification: %d files, %.0f MiB (warm cache)" % (n, src / 2**20))
print("%-9s %-42s %6s %8s %9s %8s %7s %9s %7s" % (
    "tool", "mode", "files", "wall s", "files/s", "strata/x", "CPU s", "RSS MiB", "others"))
for t in ("strata", "pydicom", "gdcmanon", "dcmodify"):
    wall, cpu, rss, others = rows[t]
    rate = max(outs[t], 1e-9) / wall
    print("%-9s %-42s %6d %8.2f %9.0f %7.1fx %7.1f %9.1f %6.0f%%" % (
        t, modes[t], outs[t], wall, rate, s_rate / rate, cpu, rss / 1024, others))
noisy = [t for t in rows if rows[t][3] > 10]
if noisy:
    print("others: share of the %d CPUs other processes used meanwhile; over 10%% during %s: not reliable" % (
        ncpu, ", ".join(noisy)))
print("strata: %d de-identified, %d held back, %d skipped, %d UIDs remapped" % (
    j["dicom"], j["held_back"], j["skipped"], j["uids_remapped"]))
print("curated version: %.1f MiB new of %.1f MiB (bytes_total); bytes_new / source bytes = %.2f%% (target < 5%%)" % (
    j["bytes_new"] / 2**20, j["bytes_total"] / 2**20, 100 * j["bytes_new"] / src))
after = [r for r, m in manifest.items() if m["after_pixels"]]
print("  %d of %d source files (%.0f MiB) have elements after Pixel Data (Data Set Trailing Padding, removed)" % (
    len(after), n, sum(os.path.getsize(os.path.join(w, "corpus", r)) for r in after) / 2**20))
PY
echo
strata_out=$(find "$W/out/strata" -mindepth 1 -maxdepth 1 -type d | head -1) # restore keeps the ingested name
$PY -W ignore $HELPER check "$W/corpus" "$W/manifest.json" "$NCHECK" "strata=$strata_out" \
	"pydicom=$W/out/pydicom" "gdcmanon=$W/out/gdcmanon" "dcmodify=$W/out/dcmodify"
