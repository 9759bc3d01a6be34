#!/bin/bash
# golden_fastq.sh - checks the FASTQ reader against independent tools: for
# every FASTQ in $STRATA_TESTDATA/fastq, 'strata debug meta --json' must
# agree with zcat|wc -l (read count), awk (first read length) and python3
# (read name fields, mate, quality range and encoding, GC). Then a ~24 MiB
# generated FASTQ.gz checks the sampled count estimate (within 5%).
set -eu

: "${STRATA:?set STRATA to the strata binary}"
here=$(cd "$(dirname "$0")" && pwd)
data=${STRATA_TESTDATA:-$here/../../../shared/testdata}
for tool in python3 zcat awk wc; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "golden_fastq: $tool not installed, skipping"
		exit 77
	}
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/golden-fastq-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# Independent expectations for one file, as JSON, from python3 alone.
cat >"$tmp/expect.py" <<'EOF'
import gzip, json, re, sys

path = sys.argv[1]
opener = gzip.open if open(path, 'rb').read(2) == b'\x1f\x8b' else open
with opener(path, 'rb') as f:
    lines = f.read().decode('latin-1').split('\n')
hdr = lines[0].rstrip('\r')
name, _, comment = hdr[1:].partition(' ')
comment = comment.strip()
exp = {}
target, style = name, None
srr = re.match(r'^[SED]RR\d+\.\d+', name)
if srr:
    exp['seq.accession'] = name.split('.')[0]
    style = 'srr'
    target = comment.split()[0] if comment else ''
mate = None
m = re.search(r'/([12])$', target)
if m:
    mate = int(m.group(1))
    target = target[:-2]
casava = re.match(r'^([!-9;-~]+):(\d+):([!-9;-~]+):(\d+):(\d+):(\d+):(\d+)'
                  r'(:[!-9;-~]+)?$', target)
old = re.match(r'^([!-9;-~]+):(\d+):(\d+):(\d+):(\d+)(#\S*)?$', target)
if casava:
    style = style or 'casava1.8'
    exp['seq.instrument'] = casava.group(1)
    exp['seq.run'] = int(casava.group(2))
    exp['seq.flowcell'] = casava.group(3)
    exp['seq.lane'] = int(casava.group(4))
    c = re.match(r'^(\d+):[YN]:\d+:\s*([A-Z0-9+]*)', comment)
    if c and not srr:
        exp['seq.read_number'] = int(c.group(1))
        if c.group(2):
            exp['seq.index'] = c.group(2)
        if int(c.group(1)) in (1, 2):
            mate = int(c.group(1))
elif old:
    style = style or 'illumina-old'
    exp['seq.instrument'] = old.group(1)
    exp['seq.lane'] = int(old.group(2))
    if old.group(6) and old.group(6) != '#0':
        exp['seq.index'] = old.group(6)[1:]
else:
    style = style or 'other'
    m = re.search(r'/([12])$', name)
    if m:
        mate = int(m.group(1))
exp['seq.read_name_style'] = style
if casava or old:
    exp['seq.platform'] = 'ILLUMINA'
src = 'header'
if mate is None:
    base = path.rsplit('/', 1)[-1]
    m = re.search(r'_R([12])[._]', base) or re.search(r'_([12])\.f', base)
    mate, src = (int(m.group(1)), 'file name') if m else (None, None)
if mate:
    exp['seq.mate'] = mate
    exp['seq.mate_source'] = src

seqs = [l.rstrip('\r') for l in lines[1::4]]
quals = ''.join(l.rstrip('\r') for l in lines[3::4])
lo, hi = min(map(ord, quals)), max(map(ord, quals))
exp['seq.quality_min'] = lo
exp['seq.quality_max'] = hi
# The documented rule: +64 only when nothing is below ';' and something is
# at 'L' or above; Solexa when the lowest is below '@'.
if lo < 59 or hi < 76:
    exp['seq.quality_encoding'] = 'phred33'
else:
    exp['seq.quality_encoding'] = 'solexa64' if lo < 64 else 'phred64'
bases = ''.join(seqs).upper()
gc = bases.count('G') + bases.count('C')
exp['seq.gc_percent'] = 100.0 * gc / (gc + bases.count('A') + bases.count('T'))
lens = [len(s) for s in seqs]
exp['seq.read_length_min'] = min(lens)
exp['seq.read_length_max'] = max(lens)
exp['seq.read_count_method'] = 'exact'
json.dump(exp, sys.stdout)
EOF

# Compare: expect.json (python), the tool values given as key=value
# arguments, and strata's JSON on stdin.
cat >"$tmp/compare.py" <<'EOF'
import json, sys

got = json.load(sys.stdin)[0]
exp = json.load(open(sys.argv[1]))
for kv in sys.argv[2:]:
    k, v = kv.split('=', 1)
    exp[k] = int(v)
bad = []
if got['error'] or got['format'] != 'fastq':
    bad.append('format %s, error %s' % (got['format'], got['error']))
attrs = got['attrs']
for k, v in exp.items():
    g = attrs.get(k)
    # strata's JSON prints reals to 6 significant digits
    ok = (abs(g - v) <= 1e-5 * abs(v) if isinstance(v, float) and g is not None
          else g == v)
    if not ok:
        bad.append('%s: strata %r, expected %r' % (k, g, v))
keys = ('seq.instrument', 'seq.run', 'seq.flowcell', 'seq.lane', 'seq.index',
        'seq.mate', 'seq.accession', 'seq.platform', 'seq.read_number')
for k in keys:
    if k in attrs and k not in exp:
        bad.append('%s: strata %r, expected none' % (k, attrs[k]))
for b in bad:
    print('  ' + b)
sys.exit(1 if bad else 0)
EOF

check() { # name, strata's JSON output file, then compare.py arguments
	local name=$1 out=$2
	shift 2
	if python3 "$tmp/compare.py" "$@" <"$out"; then
		echo "ok: $name"
		pass=$((pass + 1))
	else
		echo "FAIL: $name"
		fail=$((fail + 1))
	fi
}

nfiles=0
for f in "$data"/fastq/*.fastq "$data"/fastq/*.fq "$data"/fastq/*.fastq.gz \
	"$data"/fastq/*.fq.gz; do
	[ -e "$f" ] || continue
	nfiles=$((nfiles + 1))
	lines=$(zcat -f "$f" | wc -l)
	len=$(zcat -f "$f" | awk 'NR == 2 { sub(/\r$/, ""); print length($0); exit }')
	python3 "$tmp/expect.py" "$f" >"$tmp/expect.json"
	"$STRATA" debug meta "$f" --json >"$tmp/out.json"
	check "$(basename "$f")" "$tmp/out.json" "$tmp/expect.json" \
		seq.read_count=$((lines / 4)) seq.read_length="$len"
	# a lower exact limit still counts exactly what fits in the sample
	STRATA_FASTQ_EXACT_MAX_BYTES=1000 "$STRATA" debug meta "$f" --json \
		>"$tmp/out.json"
	check "$(basename "$f") (limit 1000)" "$tmp/out.json" \
		"$tmp/expect.json" seq.read_count=$((lines / 4))
done
if [ "$nfiles" -lt 5 ]; then
	echo "FAIL: expected 5 sample FASTQ files in $data/fastq, found $nfiles"
	fail=$((fail + 1))
fi

# The estimate: ~24 MiB of gzip (beyond the 4 MiB exact limit) of
# random reads; a 4096-read pool is cycled but spans more than gzip's
# 32 KiB window, so the file compresses like real data.
cat >"$tmp/gen.py" <<'EOF'
import gzip, random, sys
out, target = sys.argv[1], int(sys.argv[2])
rng = random.Random(20240601)
pool = []
for _ in range(4096):
    seq = ''.join(rng.choice('ACGT') for _ in range(150))
    qual = ''.join(chr(33 + min(41, max(2, int(rng.gauss(34, 6)))))
                   for _ in range(150))
    pool.append('\n' + seq + '\n+\n' + qual + '\n')
count = 0
with open(out, 'wb') as raw:
    with gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=1, mtime=0) as gz:
        while raw.tell() < target:
            gz.write(''.join(
                '@A00123:8:HFLOWXXYY:2:%d:%d:%d 1:N:0:ACGTACGT+TTGACCAA'
                % (1101 + i // 500000, i % 30000 + 1000, i // 30000 + 1000)
                + pool[(i * 7 + i // 4096) % 4096]
                for i in range(count, count + 20000)).encode())
            count += 20000
print(count)
EOF
big=$tmp/big_R1.fastq.gz
python3 "$tmp/gen.py" "$big" $((24 << 20)) >/dev/null
true_count=$(($(zcat "$big" | wc -l) / 4))
python3 - "$tmp/big.json" <<'EOF'
import json, sys
json.dump({'seq.read_name_style': 'casava1.8', 'seq.instrument': 'A00123',
           'seq.run': 8, 'seq.flowcell': 'HFLOWXXYY', 'seq.lane': 2,
           'seq.index': 'ACGTACGT+TTGACCAA', 'seq.read_number': 1,
           'seq.mate': 1, 'seq.mate_source': 'header',
           'seq.platform': 'ILLUMINA', 'seq.read_length': 150,
           'seq.quality_encoding': 'phred33'}, open(sys.argv[1], 'w'))
json.dump(dict(json.load(open(sys.argv[1])), **{
    'seq.read_count_method': 'exact'}), open(sys.argv[1] + '.exact', 'w'))
EOF
"$STRATA" debug meta "$big" --json >"$tmp/big.out"
check "generated 24 MiB: fields" "$tmp/big.out" "$tmp/big.json"
cat >"$tmp/estimate.py" <<'EOF'
import json, sys
a = json.load(sys.stdin)[0]['attrs']
n, est = int(sys.argv[1]), a['seq.read_count']
how = a['seq.read_count_method']
print('  %d reads, estimated %d (%+.2f%%), method "%s"'
      % (n, est, 100.0 * (est - n) / n, how))
sys.exit(0 if how.startswith('estimated from first 4 MiB (')
         and abs(est - n) <= 0.05 * n else 1)
EOF
if python3 "$tmp/estimate.py" "$true_count" <"$tmp/big.out"; then
	echo "ok: generated 24 MiB: estimate"
	pass=$((pass + 1))
else
	echo "FAIL: generated 24 MiB: estimate"
	fail=$((fail + 1))
fi
# raising the limit makes the same file exact
STRATA_FASTQ_EXACT_MAX_BYTES=$((200 << 20)) "$STRATA" debug meta "$big" \
	--json >"$tmp/out.json"
check "generated 24 MiB: exact when under the limit" "$tmp/out.json" \
	"$tmp/big.json.exact" seq.read_count="$true_count"

echo "golden_fastq: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
