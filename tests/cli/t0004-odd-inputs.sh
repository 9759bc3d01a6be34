#!/bin/bash
# Odd inputs: missing path, fifo, socket, symlinks, empty files/dirs, non-UTF-8 names,
# 255-byte names, deep paths, files vanishing during the walk.
set -eu
. "$(dirname "$0")/lib.sh"

init_repo
versions_of() { # DATASET -> number of versions (0 if unknown)
    "$STRATA" -q -R "$REPO" datasets --json >"$WORK/ds.json" 2>/dev/null || die "datasets --json failed"
    json_get "$WORK/ds.json" "([d['versions'] for d in j if d['name'] == '$1'] or [0])[0]"
}

# --- missing path ------------------------------------------------------------------
run_st -q -R "$REPO" ingest "$WORK/does-not-exist_Q1" --dataset odd
[ "$RC" != 0 ] || die "ingest of a missing path succeeded"
assert_err_contains 'does-not-exist_Q1' "ingest of a missing path: error must name the path"
assert_eq "$(versions_of odd)" 0 "ingest of a missing path must not create a version"

mkdir -p "$WORK/okdir"; printf 'x\n' >"$WORK/okdir/x"
run_st -q -R "$REPO" ingest "$WORK/okdir" "$WORK/does-not-exist_Q2" --dataset odd
[ "$RC" != 0 ] || die "ingest of an existing plus a missing path succeeded"
assert_err_contains 'does-not-exist_Q2' "ingest with one missing path: error must name it"
assert_eq "$(versions_of odd)" 0 "ingest with a missing path among others must not create a version"

# --- build the odd tree -------------------------------------------------------------
T=$WORK/src/odd
mkdir -p "$T/emptydir" "$T/a/b/c/emptyleaf" "$T/links"
: >"$T/empty.file"
: >"$T/a/b/c/empty2"
printf 'target text\n' >"$T/target.txt"
printf '#!/bin/sh\necho hi\n' >"$T/script.sh"; chmod 0755 "$T/script.sh"
printf 'secret\n' >"$T/private.txt"; chmod 0600 "$T/private.txt"
ln -s ../target.txt "$T/links/rel"
ln -s /nonexistent/dangling/target_Vq "$T/links/dangling"
ln -s ../a/b "$T/links/todir"
BADNAME=$(printf 'bad\377\376name')
printf 'non-utf8 name\n' >"$T/$BADNAME"
LONG=$(python3 -c 'print("L" * 251 + ".dat")')
assert_eq "${#LONG}" 255 "long name length"
printf 'long name\n' >"$T/$LONG"
# deep path: 12 levels of 100-byte directory names (> 1200 bytes)
D=$T
for i in $(seq -w 1 12); do D=$D/$(printf "d$i%.0s" $(seq 1 33) | head -c 100); done
mkdir -p "$D"
printf 'deep file\n' >"$D/deep.txt"
DEEPREL=${D#"$T"/}/deep.txt
[ "${#DEEPREL}" -gt 1024 ] || die "deep path only ${#DEEPREL} bytes"
# fifo and unix socket (must be skipped with a warning)
mkfifo "$T/fifo_Rk2"
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/sock_Mz4"
[ -S "$T/sock_Mz4" ] || die "could not create a unix socket for the test"

set +e
timeout 60 "$STRATA" -q -R "$REPO" ingest "$T" --dataset odd --json >"$OUT" 2>"$ERR" </dev/null; RC=$?
set -e
[ "$RC" != 124 ] || die "ingest hangs on a fifo (opened it for reading?)"
if [ "$RC" != 0 ]; then show_last ingest "$T"; die "ingest of the odd tree: exit $RC (fifo/socket must be skipped, not fail)"; fi
cp "$OUT" "$WORK/i.json"
assert_err_contains 'fifo_Rk2' "fifo must be skipped with a warning naming it"
assert_err_contains 'sock_Mz4' "socket must be skipped with a warning naming it"
assert_eq "$(json_get "$WORK/i.json" 'j["skipped"]')" 2 "ingest --json skipped (fifo + socket)"
assert_eq "$(json_get "$WORK/i.json" 'j["errors"]')" 0 "ingest --json errors"
assert_eq "$(json_get "$WORK/i.json" 'j["symlinks"]')" 3 "ingest --json symlinks"
NF=$(find "$T" -type f | wc -l)
assert_eq "$(json_get "$WORK/i.json" 'j["files"]')" "$NF" "ingest --json files"

# --- restore and compare ------------------------------------------------------------
ok -q -R "$REPO" restore odd "$WORK/r"
rm -f "$T/fifo_Rk2" "$T/sock_Mz4"      # not expected in the restored tree
compare_trees "$T" "$WORK/r/odd" "odd tree round trip"
for l in rel dangling todir; do
    [ -L "$WORK/r/odd/links/$l" ] || die "links/$l was not restored as a symlink"
    assert_eq "$(readlink "$WORK/r/odd/links/$l")" "$(readlink "$T/links/$l")" "target of restored links/$l"
done
[ -f "$WORK/r/odd/empty.file" ] && [ ! -s "$WORK/r/odd/empty.file" ] || die "empty file not restored"
[ -d "$WORK/r/odd/emptydir" ] || die "empty directory not restored"
[ -d "$WORK/r/odd/a/b/c/emptyleaf" ] || die "nested empty directory not restored"
cmp "$WORK/r/odd/$BADNAME" "$T/$BADNAME" || die "non-UTF-8 file name not restored"
cmp "$WORK/r/odd/$LONG" "$T/$LONG" || die "255-byte file name not restored"
cmp "$WORK/r/odd/$DEEPREL" "$T/$DEEPREL" || die "deep path (${#DEEPREL} bytes) not restored"
assert_eq "$(stat -c %a "$WORK/r/odd/script.sh")" 755 "mode of restored script.sh"
assert_eq "$(stat -c %a "$WORK/r/odd/private.txt")" 600 "mode of restored private.txt"

# ls shows the links with their targets; cat works with the odd names
ok -R "$REPO" ls odd --json
cp "$OUT" "$WORK/ls.json"
json_check "$WORK/ls.json" '{e["path"]: e.get("target") for e in j if e["type"] == "symlink"} == {"odd/links/rel": "../target.txt", "odd/links/dangling": "/nonexistent/dangling/target_Vq", "odd/links/todir": "../a/b"}' \
    "ls --json symlink entries and targets"
json_check "$WORK/ls.json" 'not any("fifo_Rk2" in e["path"] or "sock_Mz4" in e["path"] for e in j)' "fifo/socket must not be listed"
json_check "$WORK/ls.json" '[e["size"] for e in j if e["path"] == "odd/empty.file"] == [0]' "empty file listed with size 0"
json_check "$WORK/ls.json" '[e["type"] for e in j if e["path"] == "odd/emptydir"] == ["dir"]' "empty dir listed"
ok -R "$REPO" ls odd
assert_fixed_in "$OUT" "odd/links/rel -> ../target.txt" "ls text shows 'PATH -> TARGET' for symlinks"
ok -q -R "$REPO" cat "odd:odd/$LONG"
cmp "$OUT" "$T/$LONG" || die "cat of the 255-byte name"
ok -q -R "$REPO" cat "odd:odd/$DEEPREL"
cmp "$OUT" "$T/$DEEPREL" || die "cat of the deep path"
ok -q -R "$REPO" cat "odd:odd/$BADNAME"
cmp "$OUT" "$T/$BADNAME" || die "cat of the non-UTF-8 name"
ok -q -R "$REPO" check --read-data

# --- a single file and a path with a trailing slash are stored under their basename ---
mkdir -p "$WORK/single/dirslash"
printf 'one file\n' >"$WORK/single/lone_file.txt"
printf 'in dir\n' >"$WORK/single/dirslash/in.txt"
ok -q -R "$REPO" ingest "$WORK/single/lone_file.txt" "$WORK/single/dirslash/" --dataset single --json
assert_eq "$(json_get "$OUT" '[j["files"], j["dirs"]]')" "[2, 1]" "ingest of a file and a dir/ : files, dirs"
ok -R "$REPO" ls single --json
json_check "$OUT" 'sorted((e["path"], e["type"]) for e in j) == [("dirslash", "dir"), ("dirslash/in.txt", "file"), ("lone_file.txt", "file")]' \
    "a file PATH is stored as its basename, 'dir/' as 'dir'"
ok -q -R "$REPO" restore single "$WORK/rsingle"
compare_trees "$WORK/single" "$WORK/rsingle" "restore of a single file and dir/"

# --- files vanishing during the walk -------------------------------------------------
# As root, permissions do not make files unreadable, so instead delete files while the
# ingest walks them.  The race is not deterministic; whatever happens, strata must exit
# 0 (file deleted before it was seen) or 3 (file named on stderr), never crash, and the
# version it records must be internally consistent.
V=$WORK/src/vanish
mkdir -p "$V"
python3 - "$V" <<'PY'
import os, random, sys
r = random.Random(7)
for i in range(1500):
    with open(os.path.join(sys.argv[1], 'f%04d.bin' % i), 'wb') as f:
        f.write(r.randbytes(r.randrange(1, 20000)))
PY
"$STRATA" -q -R "$REPO" ingest "$V" --dataset vanish --json >"$WORK/v.json" 2>"$WORK/v.err" </dev/null &
pid=$!
( cd "$V" && for f in $(ls | sort -r); do rm -f "$f"; done ) 
set +e; wait $pid; rc=$?; set -e
case $rc in
    0) ;;
    3) grep -Eq 'f[0-9]{4}\.bin' "$WORK/v.err" || { cat "$WORK/v.err" >&2; die "ingest exit 3 without naming the failed files"; }
       assert_eq "$(json_get "$WORK/v.json" 'j["errors"] > 0')" true "exit 3 must report errors > 0" ;;
    *) cat "$WORK/v.err" >&2; die "ingest with files vanishing during the walk: exit $rc (expected 0 or 3)" ;;
esac
note "vanishing-files race: ingest exit $rc, errors=$(json_get "$WORK/v.json" 'j["errors"]' 2>/dev/null || echo '?')"
ok -q -R "$REPO" check --read-data
ok -R "$REPO" ls vanish --json
cp "$OUT" "$WORK/vls.json"
ok -q -R "$REPO" restore vanish "$WORK/rv"
python3 - "$WORK/vls.json" "$WORK/rv" <<'PY' || die "restored 'vanish' version does not match its own ls --json"
import hashlib, json, os, sys
ents = [e for e in json.load(open(sys.argv[1])) if e['type'] == 'file']
for e in ents:
    p = os.path.join(sys.argv[2], e['path'])
    b = open(p, 'rb').read()
    if len(b) != e['size'] or hashlib.sha256(b).hexdigest() != e['sha256']:
        sys.exit('%s: restored bytes do not match ls (size %d vs %d)' % (e['path'], len(b), e['size']))
n = sum(len(fs) for _, _, fs in os.walk(sys.argv[2]))
if n != len(ents):
    sys.exit('restored %d files, ls lists %d' % (n, len(ents)))
PY

# a file that keeps changing while it is read: noticed (size, mtime or
# ctime moved between the first fstat and the last), tried 3 times, left
# out with a warning naming it; the rest of the version is stored
B=$WORK/busy
mkdir -p "$B"
head -c 16777216 /dev/urandom >"$B/growing.bin"
echo steady >"$B/steady.txt"
( while :; do printf x >>"$B/growing.bin"; sleep 0.002; done ) &
writer=$!
at_exit "kill $writer 2>/dev/null || true"
expect 3 -q -R "$REPO" ingest "$B" --dataset busy --json
kill $writer 2>/dev/null || true
assert_err_contains "growing\.bin' changed while it was read \(3 attempts\)" "a changing file is named"
json_check "$OUT" 'j["errors"] == 1 and j["files"] == 1' "one file stored, one error"
ok -R "$REPO" ls busy --json
json_check "$OUT" '[e["path"] for e in j if e["type"] == "file"] == ["busy/steady.txt"]' \
    "the changing file is left out, the steady one kept"
ok -q -R "$REPO" check --read-data
