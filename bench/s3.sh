#!/usr/bin/env bash
# bench/s3.sh - strata on S3 against the tool users would pick instead, the
# AWS CLI (Debian's /usr/bin/aws), on the same throw-away Ceph RGW and the
# same bytes: `aws s3 cp --recursive` up and down versus `strata ingest` into
# and `strata restore` from s3://BUCKET/repo. Prints MiB/s, the ratios and
# peak RSS (/usr/bin/time -v). Not a test; never gates CI.
# Usage: bash bench/s3.sh            (run as root: ceph-rgw.sh needs it)
# Knobs: STRATA (default build/release/strata), S3B_MIB (corpus size, 1024),
#   S3B_LARGE (large incompressible files, 4; the rest of the bytes go into
#   small files of 4-256 KiB, half text-like), S3B_DIR (work dir, a new one
#   below ${TMPDIR:-/var/tmp}, removed at the end unless S3B_KEEP=1),
#   STRATA_RESTORE_THREADS (passed through to strata restore).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STRATA=${STRATA:-$ROOT/build/release/strata}
MIB=${S3B_MIB:-1024}
LARGE=${S3B_LARGE:-4}
AWS=/usr/bin/aws
log() { printf '[s3 bench] %s\n' "$*" >&2; }
[ -x "$STRATA" ] || { log "no strata binary at $STRATA (set STRATA)"; exit 1; }
[ -x "$AWS" ] || { log "no $AWS (apt-get install awscli)"; exit 1; }
[ -x /usr/bin/time ] || { log "no /usr/bin/time (apt-get install time)"; exit 1; }

WORK=${S3B_DIR:-$(mktemp -d "${TMPDIR:-/var/tmp}/strata-s3-bench.XXXXXX")}
mkdir -p "$WORK"
export CEPH_STATE=$WORK/ceph
# memstore keeps objects in RAM: room for both copies of the corpus
export MEMSTORE_BYTES=$(((MIB * 3 + 1024) << 20))
rgw=$ROOT/tests/services/ceph-rgw.sh
cleanup() {
	"$rgw" stop >/dev/null 2>&1 || true
	[ "${S3B_KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- corpus: a few large incompressible files and many small ones -------------------
log "corpus: $MIB MiB in $WORK/corpus ($LARGE large files + small files)"
python3 - "$WORK/corpus" "$MIB" "$LARGE" <<'PY'
import os, random, sys
root, mib, nlarge = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total = mib << 20
small_total = total // 4
large = (total - small_total) // max(nlarge, 1)
os.makedirs(os.path.join(root, 'large'), exist_ok=True)
for i in range(nlarge):
    r = random.Random('large-%d' % i)
    with open(os.path.join(root, 'large', 'scan%02d.raw' % i), 'wb') as f:
        left = large
        while left:
            k = min(left, 8 << 20); f.write(r.randbytes(k)); left -= k
r = random.Random('small')
words = [bytes(r.choice(b'ACGT') for _ in range(8)) for _ in range(512)] + \
        [b'sample', b'chr1', b'PASS', b'\t', b'\n', b'0.95', b'GRCh38']
left, i = small_total, 0
while left > 0:
    n = min(left, r.randrange(4 << 10, 256 << 10))
    d = os.path.join(root, 'small', 'd%03d' % (i // 100))
    os.makedirs(d, exist_ok=True)
    if i % 2:
        data = r.randbytes(n)
    else:
        data = b' '.join(r.choices(words, k=n // 6 + 1))[:n]
    with open(os.path.join(d, 'f%05d.dat' % i), 'wb') as f:
        f.write(data)
    left -= n; i += 1
PY
BYTES=$(find "$WORK/corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
FILES=$(find "$WORK/corpus" -type f | wc -l)
log "corpus: $FILES files, $BYTES bytes"

# --- RGW ------------------------------------------------------------------------------
env_lines=$("$rgw" start)
eval "$env_lines"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION STRATA_S3_ADDRESSING || true
export STRATA_CACHE_DIR=$WORK/cache STRATA_PASSWORD='bench passphrase, not a secret'
log "RGW at $AWS_ENDPOINT_URL, bucket $S3_BUCKET"

# run NAME CMD...: time CMD with /usr/bin/time -v; records seconds and peak RSS
declare -A SECS RSS
run() {
	local name=$1
	shift
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	if ! /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
		log "$name failed: $*"
		tail -n 20 "$WORK/$name.err" >&2
		exit 1
	fi
	SECS[$name]=$(awk -F': ' '/Elapsed \(wall/ {n = split($2, t, ":"); s = 0;
		for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$WORK/$name.time")
	RSS[$name]=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$WORK/$name.time")
	log "$name: ${SECS[$name]} s, peak RSS ${RSS[$name]} MiB"
}
same() { # DIR: byte-exact copy of the corpus?
	diff -r -q "$WORK/corpus" "$1" >/dev/null || { log "$1 differs from the corpus"; exit 1; }
}

# --- the AWS CLI --------------------------------------------------------------------
run aws_upload "$AWS" --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --recursive --quiet \
	"$WORK/corpus" "s3://$S3_BUCKET/aws-copy/"
run aws_download "$AWS" --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --recursive --quiet \
	"s3://$S3_BUCKET/aws-copy/" "$WORK/out-aws/"
same "$WORK/out-aws"
rm -rf "$WORK/out-aws"

# --- strata -----------------------------------------------------------------------
REPO=s3://$S3_BUCKET/repo
"$STRATA" -q init "$REPO" >/dev/null
run strata_ingest "$STRATA" -q -R "$REPO" ingest "$WORK/corpus" --dataset bench --json
STORED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_stored"])' \
	"$WORK/strata_ingest.out" 2>/dev/null || echo "?")

# ---- PUSH: `strata push` to a remote goes here (someone else adds it) ----------------
# e.g. a second repository s3://$S3_BUCKET/remote (strata init, strata remote add),
# then: run strata_push "$STRATA" -q -R "$REPO" push bench REMOTE --json
# and a line for it in the table below (MiB/s against aws_upload).
# ---- end of PUSH -----------------------------------------------------------------------

run strata_restore "$STRATA" -q -R "$REPO" restore bench "$WORK/out-strata"
same "$WORK/out-strata/corpus"
rm -rf "$WORK/out-strata"

# --- report -----------------------------------------------------------------------
python3 - "$BYTES" "$FILES" "$STORED" \
	"${SECS[aws_upload]}" "${RSS[aws_upload]}" "${SECS[aws_download]}" "${RSS[aws_download]}" \
	"${SECS[strata_ingest]}" "${RSS[strata_ingest]}" "${SECS[strata_restore]}" "${RSS[strata_restore]}" <<'PY'
import sys
b, files, stored = int(sys.argv[1]), sys.argv[2], sys.argv[3]
v = sys.argv[4:]
rows = [('aws s3 cp --recursive (upload)', float(v[0]), v[1]),
        ('aws s3 cp --recursive (download)', float(v[2]), v[3]),
        ('strata ingest into s3://', float(v[4]), v[5]),
        ('strata restore from s3://', float(v[6]), v[7])]
mib = b / 2**20
print('\nS3 bench: %.0f MiB in %s files (strata stored %s bytes)' % (mib, files, stored))
print('%-34s %9s %9s %14s' % ('phase', 'seconds', 'MiB/s', 'peak RSS MiB'))
for name, s, rss in rows:
    print('%-34s %9.2f %9.1f %14s' % (name, s, mib / s if s else float('inf'), rss))
def ratio(a, b):
    return (rows[b][1] / rows[a][1]) if rows[a][1] else float('inf')
print('\nstrata ingest  / aws upload   speed: %.2fx' % ratio(2, 0))
print('strata restore / aws download speed: %.2fx' % ratio(3, 1))
PY
