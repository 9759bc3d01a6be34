#!/bin/bash
# Disk full: a repository on a 40 MiB tmpfs; an ingest of ~80 MB incompressible data
# must fail with a "no space" error and leave the repository intact.
set -eu
. "$(dirname "$0")/lib.sh"

# The repository's objects live on a file system this test fills. On S3 there is
# no such file system (the bucket does not fill up; the local cache is not the store).
if is_s3; then skip "about a local repository on a full file system (not applicable to S3)"; fi
MNT=$WORK/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=40m tmpfs "$MNT" 2>"$WORK/mount.err"; then
    skip "cannot mount a tmpfs ($(cat "$WORK/mount.err")); needs root / CAP_SYS_ADMIN"
fi
at_exit "umount '$MNT' 2>/dev/null || umount -l '$MNT' 2>/dev/null"
R=$MNT/repo

ok init "$R"
# small dataset first (must succeed)
mkdir -p "$WORK/small"
cp -r "$TESTDATA/nifti" "$TESTDATA/vcf" "$WORK/small/"
ok -q -R "$R" ingest "$WORK/small/nifti" "$WORK/small/vcf" --dataset small --json
assert_eq "$(json_get "$OUT" 'j["version"]')" 1 "small ingest"
used_before=$(df -k --output=used "$MNT" | tail -n 1 | tr -d ' ')

# ~80 MB of incompressible data: cannot fit
B=$WORK/big/bulk
mkdir -p "$B"
for i in $(seq -w 1 20); do gen_file "$B/chunk$i.bin" $((4 << 20)) "big$i"; done
run_st -q -R "$R" ingest "$B" --dataset big --json
if [ "$RC" = 0 ]; then show_last ingest big; die "ingest of 80 MiB into a 40 MiB file system succeeded"; fi
[ "$RC" = 1 ] || [ "$RC" = 3 ] || { show_last ingest big; die "ingest on a full disk exited $RC (expected 1)"; }
assert_err_contains 'no space left|disk full|ENOSPC' "ingest on a full disk must say the disk is full"
soft assert_err_contains "$ERR_PREFIX" "runtime error messages must start with 'strata: ' (contract, exit code 1)"
note "disk-full ingest: exit $RC: $(grep -i -m1 -E 'space|full' "$ERR")"

# the repository is intact and the first version restores byte-exact
ok -q -R "$R" check --read-data
ok -R "$R" datasets --json
json_check "$OUT" '[(d["name"], d["versions"]) for d in j if d["versions"] > 0] == [("small", 1)]' \
    "after the failed ingest only dataset 'small' has a version"
ok -q -R "$R" restore small "$WORK/r"
compare_trees "$WORK/small" "$WORK/r" "restore of 'small' after the disk-full ingest"

# Leftover data from the failed ingest is not an error by itself (it may be reused by a
# later ingest), but it is reported; if there is room, another ingest must work.
used_after=$(df -k --output=used "$MNT" | tail -n 1 | tr -d ' ')
avail=$(df -k --output=avail "$MNT" | tail -n 1 | tr -d ' ')
note "tmpfs used: ${used_before} KiB before, ${used_after} KiB after the failed ingest (${avail} KiB free)"
if [ "$avail" -gt 4096 ]; then
    mkdir -p "$WORK/after/more"
    gen_file "$WORK/after/more/m.bin" $((2 << 20)) more
    ok -q -R "$R" ingest "$WORK/after/more" --dataset more --json
    ok -q -R "$R" restore more "$WORK/r2"
    compare_trees "$WORK/after/more" "$WORK/r2/more" "ingest after the disk-full failure"
    ok -q -R "$R" check --read-data
else
    note "failed ingest left the file system full (${avail} KiB free); skipping the follow-up ingest"
fi

# SQLite's temporary directory full (SQLITE_TMPDIR): the catalog rows staged
# while files are read cannot be added in bulk; they are added one by one
# instead, and the version is made with all its metadata, as with room.
T=$WORK/tmpfull
mkdir -p "$T" "$WORK/dcm"
if mount -t tmpfs -o size=64k tmpfs "$T" 2>/dev/null; then
    at_exit "umount '$T' 2>/dev/null || umount -l '$T' 2>/dev/null"
    head -c 65536 /dev/zero >"$T/fill" 2>/dev/null || true
    cp "$TESTDATA"/dicom/*.dcm "$WORK/dcm/"
    for r in roomy full; do
        ok init "$WORK/repo-$r"
        if [ $r = full ]; then
            SQLITE_TMPDIR=$T ok -q -R "$WORK/repo-$r" ingest "$WORK/dcm" --dataset d
            if grep -q "one by one" "$ERR"; then note "full SQLITE_TMPDIR: rows added one by one"; fi
        else
            ok -q -R "$WORK/repo-$r" ingest "$WORK/dcm" --dataset d
        fi
        ok -R "$WORK/repo-$r" find 'format.name = dicom' --dataset d --json
        cp "$OUT" "$WORK/find-$r.json"
    done
    want=$(json_get "$WORK/find-roomy.json" 'len(j)')
    [ "$want" -ge 10 ] || die "expected the DICOM test files to have metadata, found $want"
    json_check "$WORK/find-full.json" "len(j) == $want" \
        "every file has its metadata with SQLite's temporary directory full"
fi

# The catalog's own file system (REPO/local) fills up while the version is
# committed, after its snapshot object is written: the version exists, so the
# ingest says so and succeeds; the catalog takes it in at the next open, once
# there is room. Before, the ingest failed and a retry made a second version.
C=$WORK/repo-cat
ok init "$C"
mkdir -p "$WORK/first" "$WORK/many"
gen_file "$WORK/first/a.bin" 1000 first
ok -q -R "$C" ingest "$WORK/first" --dataset cat
python3 - "$WORK/many" <<'PY'
import os, sys
for i in range(4000):
    d = os.path.join(sys.argv[1], "d%02d" % (i // 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write("file %d of the catalog-full test, %s\n" % (i, os.urandom(8).hex()))
PY
L=$C/local
cp -a "$L" "$WORK/local.bak"
if mount -t tmpfs -o size=8m tmpfs "$L" 2>/dev/null; then
    at_exit "umount '$L' 2>/dev/null || umount -l '$L' 2>/dev/null"
    cp -a "$WORK/local.bak/." "$L/"
    # fill it, then leave 96 KiB: room to open the catalog, not to commit 4,000 rows
    head -c 16M /dev/zero >"$L/fill" 2>/dev/null || true
    truncate -s -98304 "$L/fill"
    ok -q -R "$C" ingest "$WORK/many" --dataset cat --json
    assert_err_contains 'cat@v2 is stored .*Do not ingest it again.*next strata command' \
        "the ingest must say the version is stored and the catalog catches up later"
    assert_eq "$(json_get "$OUT" 'j["version"]')" 2 "the version the ingest reports"
    rm -f "$L/fill"
    ok -R "$C" log cat --json
    json_check "$OUT" '[v["version"] for v in j] == [1, 2]' \
        "the catalog takes in v2 at the next open"
    ok -R "$C" ls cat@v2 --json
    json_check "$OUT" 'sum(1 for e in j if e["type"] == "file") >= 4000' "ls shows v2's files"
    ok -q -R "$C" restore cat@v2 "$WORK/r-cat"
    compare_trees "$WORK/many" "$WORK/r-cat/many" "restore of the version committed while the catalog was full"
    ok -q -R "$C" check --read-data
fi
