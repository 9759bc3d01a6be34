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


run strata_restore "$STRATA" -q -R "$REPO" restore bench "$WORK/out-strata"
same "$WORK/out-strata/corpus"
rm -rf "$WORK/out-strata"

# ---- PUSH: a de-identified version from a local repository to an S3 remote --------
# (zone cloud), then a version that differs by 5% of its bytes: how fast the
# first push is against aws s3 cp, and what share of the bytes the second sends.
LOCAL=$WORK/local
REMOTE=s3://$S3_BUCKET/remote
"$STRATA" -q init "$LOCAL" --kdf-memory 8 >/dev/null
"$STRATA" -q -R "$LOCAL" ingest "$WORK/corpus" --dataset bench --class deid >/dev/null
"$STRATA" -q -R "$LOCAL" consent set bench GRU
STRATA_PASSWORD=remote-pass "$STRATA" -q init "$REMOTE" --zone cloud \
	--allow deid,aggregate,public --kdf-memory 8 >/dev/null
"$STRATA" -q -R "$LOCAL" remote add cloud "$REMOTE" --zone cloud
export STRATA_REMOTE_PASSWORD=remote-pass
run strata_push "$STRATA" -q -R "$LOCAL" --purpose GRU push bench cloud --json
python3 - "$WORK/corpus" <<'PY'
import os, sys
# rewrite whole small files, then a slice of a large one, until 5% of the bytes changed
root = sys.argv[1]
files = sorted((os.path.getsize(os.path.join(d, f)), os.path.join(d, f))
               for d, _, fs in os.walk(root) for f in fs)
total = sum(s for s, _ in files)
goal, done = total // 20, 0
for size, path in files:
    if done >= goal:
        break
    n = min(size, goal - done)
    with open(path, 'r+b') as f:
        f.write(os.urandom(n))
    done += n
print("changed %d of %d bytes" % (done, total), file=sys.stderr)
PY
"$STRATA" -q -R "$LOCAL" ingest "$WORK/corpus" --dataset bench --class deid >/dev/null
run strata_push2 "$STRATA" -q -R "$LOCAL" --purpose GRU push bench cloud --json
PUSH1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_sent"])' "$WORK/strata_push.out")
PUSH2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_sent"])' "$WORK/strata_push2.out")
STRATA_PASSWORD=remote-pass run strata_remote_restore "$STRATA" -q -R "$REMOTE" restore bench "$WORK/out-remote"
same "$WORK/out-remote/corpus"
rm -rf "$WORK/out-remote"
# ---- end of PUSH -----------------------------------------------------------------------

# --- report -----------------------------------------------------------------------
python3 - "$BYTES" "$FILES" "$STORED" \
	"${SECS[aws_upload]}" "${RSS[aws_upload]}" "${SECS[aws_download]}" "${RSS[aws_download]}" \
	"${SECS[strata_ingest]}" "${RSS[strata_ingest]}" "${SECS[strata_restore]}" "${RSS[strata_restore]}" \
	"${SECS[strata_push]}" "${RSS[strata_push]}" "${SECS[strata_push2]}" "${RSS[strata_push2]}" \
	"$PUSH1" "$PUSH2" <<'PY'
import sys
b, files, stored = int(sys.argv[1]), sys.argv[2], sys.argv[3]
v = sys.argv[4:]
rows = [('aws s3 cp --recursive (upload)', float(v[0]), v[1]),
        ('aws s3 cp --recursive (download)', float(v[2]), v[3]),
        ('strata ingest into s3://', float(v[4]), v[5]),
        ('strata restore from s3://', float(v[6]), v[7]),
        ('strata push to an s3:// remote', float(v[8]), v[9]),
        ('strata push, 5% changed', float(v[10]), v[11])]
push1, push2 = int(v[12]), int(v[13])
mib = b / 2**20
print('\nS3 bench: %.0f MiB in %s files (strata stored %s bytes)' % (mib, files, stored))
print('%-34s %9s %9s %14s' % ('phase', 'seconds', 'MiB/s', 'peak RSS MiB'))
for name, s, rss in rows:
    print('%-34s %9.2f %9.1f %14s' % (name, s, mib / s if s else float('inf'), rss))
def ratio(a, b):
    return (rows[b][1] / rows[a][1]) if rows[a][1] else float('inf')
print('\nstrata ingest  / aws upload   speed: %.2fx' % ratio(2, 0))
print('strata restore / aws download speed: %.2fx' % ratio(3, 1))
print('strata push    / aws upload   speed: %.2fx (target >= 0.8)' % ratio(4, 0))
print('second push sent %d of %d bytes: %.2f%% of the version (target <= 7%%)'
      % (push2, b, 100.0 * push2 / b))
PY
