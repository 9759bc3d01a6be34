#!/bin/bash
# Corruption: a flipped byte in a pack is found by check --read-data, which names the
# affected dataset@vN:path; cat/restore of affected files fail instead of returning
# wrong bytes; a truncated index file and a damaged snapshot object are reported.
set -eu
. "$(dirname "$0")/lib.sh"

init_repo
mkdir -p "$WORK/src"
cp -r "$TESTDATA/dicom" "$TESTDATA/wsi" "$WORK/src/"
mkdir -p "$WORK/src/b/nifti"; cp "$TESTDATA"/nifti/* "$WORK/src/b/nifti/"
chmod -R u+w "$WORK/src"
ok -q -R "$REPO" ingest "$WORK/src/dicom" "$WORK/src/wsi" --dataset a --json
SNAP_A1=$(json_get "$OUT" 'j["snapshot"]')
cp -a "$WORK/src" "$WORK/src-a1"
gen_file "$WORK/src/dicom/added.bin" 300000 a2
ok -q -R "$REPO" ingest "$WORK/src/dicom" "$WORK/src/wsi" --dataset a --json
cp -a "$WORK/src" "$WORK/src-a2"
ok -q -R "$REPO" ingest "$WORK/src/b/nifti" --dataset b --json
SNAP_B1=$(json_get "$OUT" 'j["snapshot"]')
ok -q -R "$REPO" check --read-data
# The damage is done to files in RDIR: the repository itself, or for S3 a copy of
# its objects (downloaded with the independent client, key = path) from which
# `changed FILE` uploads an edited object back over the original.
if is_s3; then
    RDIR=$WORK/objects
    repo_pull "$RDIR"
    changed() { repo_put "$1" "${1#"$RDIR"/}"; }
    cp -a "$RDIR" "$WORK/repo.pristine"
    cp -a "$(state_dir)" "$WORK/state.pristine"
    restore_pristine() { # put back the objects that differ, and the local directory
        (cd "$WORK/repo.pristine" && find . -type f | sed 's|^\./||') | while IFS= read -r f; do
            cmp -s "$WORK/repo.pristine/$f" "$RDIR/$f" || repo_put "$WORK/repo.pristine/$f" "$f"
        done
        rm -rf "$RDIR" "$(state_dir)"
        cp -a "$WORK/repo.pristine" "$RDIR"; cp -a "$WORK/state.pristine" "$(state_dir)"
    }
else
    RDIR=$REPO
    changed() { :; }
    cp -a "$REPO" "$WORK/repo.pristine"
    restore_pristine() { rm -rf "$REPO"; cp -a "$WORK/repo.pristine" "$REPO"; }
fi

# original bytes of every (dataset, version, path)
origin() { # DATASET VERSION PATH -> original file
    case $1@$2 in
        a@1) echo "$WORK/src-a1/$3" ;;
        a@2) echo "$WORK/src-a2/$3" ;;
        b@1) echo "$WORK/src-a2/b/$3" ;;
    esac
}

flip_byte() { # FILE OFFSET
    python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xFF]))
PY
}

# --- 1. flipped byte in a pack -----------------------------------------------------
[ -d "$RDIR/data" ] || die "repository has no data/ directory (layout: $(ls "$RDIR" | tr '\n' ' '))"
PACK=$(find "$RDIR/data" -type f -size +1k -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
[ -n "$PACK" ] || die "no pack file (> 1 KiB) under $RDIR/data"
PSIZE=$(stat -c %s "$PACK")
PACKID=$(basename "$PACK"); PACKID=${PACKID%%.*}
note "corrupting $PACK ($PSIZE bytes) at offset $((PSIZE / 2))"
flip_byte "$PACK" $((PSIZE / 2))
changed "$PACK"

run_st -q -R "$REPO" check          # structure only: may pass or fail, must not crash
case $RC in 0|1) ;; *) show_last check; die "check (structure) after pack corruption: exit $RC" ;; esac

run_st -q -R "$REPO" check --read-data
[ "$RC" = 1 ] || { show_last check --read-data; die "check --read-data after flipping a byte in a pack: exit $RC, expected 1"; }
cat "$OUT" "$ERR" >"$WORK/check.txt"
assert_fixed_in "$WORK/check.txt" "$PACKID" "check --read-data must name the damaged pack"

run_st -q -R "$REPO" check --read-data --json
[ "$RC" = 1 ] || { show_last check --read-data --json; die "check --read-data --json: exit $RC, expected 1"; }
cp "$OUT" "$WORK/check.json"
json_check "$WORK/check.json" 'j["ok"] is False and len(j["errors"]) >= 1 and len(j["damaged"]) >= 1' \
    "check --read-data --json after corruption: ok=false, errors and damaged non-empty"
json_get "$WORK/check.json" '"\n".join("%s@v%d:%s" % (d["dataset"], d["version"], d["path"]) for d in j["damaged"])' >"$WORK/damaged.txt"
note "damaged: $(tr '\n' ' ' <"$WORK/damaged.txt")"
while IFS= read -r d; do
    assert_fixed_in "$WORK/check.txt" "$d" "check --read-data text must name every affected dataset@vN:path"
done <"$WORK/damaged.txt"

# Every file of every version: cat must return the original bytes if it is not listed
# as damaged, and must fail if it is.
for dv in a@1 a@2 b@1; do
    ds=${dv%@*}; v=${dv#*@}
    ok -R "$REPO" ls "$ds@v$v" --json
    json_get "$OUT" '"\n".join(e["path"] for e in j if e["type"] == "file")' >"$WORK/files.txt"
    while IFS= read -r f; do
        set +e; "$STRATA" -q -R "$REPO" cat "$ds@v$v:$f" >"$WORK/cat.out" 2>"$WORK/cat.err"; rc=$?; set -e
        if grep -qxF "$ds@v$v:$f" "$WORK/damaged.txt"; then
            [ "$rc" != 0 ] || die "cat $ds@v$v:$f succeeded although check lists it as damaged"
            [ -s "$WORK/cat.err" ] || die "cat $ds@v$v:$f failed without a message"
        else
            [ "$rc" = 0 ] || die "cat $ds@v$v:$f failed (exit $rc: $(head -c 300 "$WORK/cat.err")) but check does not list it as damaged"
            cmp -s "$WORK/cat.out" "$(origin "$ds" "$v" "$f")" || die "cat $ds@v$v:$f returned wrong bytes"
        fi
    done <"$WORK/files.txt"
done

# restore of an affected version fails, names the file, and writes no wrong bytes
# for any other file
first=$(head -n 1 "$WORK/damaged.txt")
dv=${first%%:*}; dpath=${first#*:}; ds=${dv%@v*}; v=${dv#*@v}
run_st -q -R "$REPO" restore "$dv" "$WORK/rbad"
[ "$RC" != 0 ] || die "restore $dv exited 0 although $dpath is damaged"
assert_fixed_in "$ERR" "$dpath" "restore $dv must name the damaged file"
if [ -d "$WORK/rbad" ]; then
    while IFS= read -r f; do
        grep -qxF "$dv:$f" "$WORK/damaged.txt" && continue
        cmp -s "$WORK/rbad/$f" "$(origin "$ds" "$v" "$f")" || die "restore $dv wrote wrong bytes to undamaged $f"
    done < <(cd "$WORK/rbad" && find . -type f | sed 's|^\./||')
fi
# the same restore limited to an unaffected file (if any) still works
ok -R "$REPO" ls "$dv" --json
good=$(python3 -c '
import json, sys
dam = set(open(sys.argv[1]).read().split("\n"))
for e in json.load(open(sys.argv[3])):
    if e["type"] == "file" and "%s:%s" % (sys.argv[2], e["path"]) not in dam:
        print(e["path"]); break' "$WORK/damaged.txt" "$dv" "$OUT")
if [ -n "$good" ]; then
    ok -q -R "$REPO" restore "$dv" "$WORK/rgood" --include "$good"
    cmp "$WORK/rgood/$good" "$(origin "$ds" "$v" "$good")" || die "restore --include of undamaged $good"
fi

# --- 2. truncated index file --------------------------------------------------------
restore_pristine
IDX=$(find "$RDIR" -path "$RDIR/index*" -type f | head -n 1)
if [ -z "$IDX" ]; then
    IDX=$(find "$RDIR" -type f \( -iname '*index*' -o -iname '*.idx' \) | head -n 1)
fi
[ -n "$IDX" ] || die "no index file found in the repository (layout: $(cd "$RDIR" && find . -maxdepth 2 | tr '\n' ' '))"
ISIZE=$(stat -c %s "$IDX")
note "truncating $IDX from $ISIZE to $((ISIZE / 2)) bytes"
truncate -s $((ISIZE / 2)) "$IDX"
changed "$IDX"
run_st -q -R "$REPO" check
[ "$RC" = 1 ] || { show_last check; die "check after truncating index file $IDX: exit $RC, expected 1"; }
cat "$OUT" "$ERR" >"$WORK/check2.txt"
IDXNAME=$(basename "$IDX"); IDXNAME=${IDXNAME%%.*}
assert_fixed_in "$WORK/check2.txt" "$IDXNAME" "check must name the truncated index file"
run_st -q -R "$REPO" check --json
[ "$RC" = 1 ] || { show_last check --json; die "check --json after truncating $IDX: exit $RC, expected 1"; }
soft json_check "$OUT" 'j["ok"] is False and len(j["errors"]) >= 1' "check --json after index truncation must still print the JSON report"
run_st -q -R "$REPO" check --read-data
[ "$RC" = 1 ] || { show_last check --read-data; die "check --read-data after truncating $IDX: exit $RC, expected 1"; }

# --- 3. damaged snapshot object ------------------------------------------------------
restore_pristine
SNAPF=$(find "$RDIR" -type f -name "$SNAP_A1*" | head -n 1)
if [ -z "$SNAPF" ]; then
    SNAPF=$(find "$RDIR" -type f -path "*snapshot*" -name "*${SNAP_A1:0:16}*" | head -n 1)
fi
[ -n "$SNAPF" ] || die "no file named after snapshot $SNAP_A1 (a@v1) in the repository (layout: $(cd "$RDIR" && find . -maxdepth 2 | tr '\n' ' '))"
SSIZE=$(stat -c %s "$SNAPF")
note "corrupting snapshot object $SNAPF ($SSIZE bytes)"
flip_byte "$SNAPF" $((SSIZE / 2))
changed "$SNAPF"
run_st -q -R "$REPO" check
[ "$RC" = 1 ] || { show_last check; die "check after damaging snapshot object of a@v1: exit $RC, expected 1"; }
cat "$OUT" "$ERR" >"$WORK/check3.txt"
grep -Fq "${SNAP_A1:0:8}" "$WORK/check3.txt" || grep -Fq "a@v1" "$WORK/check3.txt" ||
    { cat "$WORK/check3.txt" >&2; die "check must name the damaged snapshot (id $SNAP_A1 or a@v1)"; }
run_st -q -R "$REPO" restore a@v1 "$WORK/rsnap"
[ "$RC" != 0 ] || die "restore a@v1 with a damaged snapshot object exited 0"
[ -s "$ERR" ] || die "restore a@v1 with a damaged snapshot object: no message"
# unaffected versions still restore
ok -q -R "$REPO" restore b@v1 "$WORK/rb"
compare_trees "$WORK/src-a2/b/nifti" "$WORK/rb/nifti" "b@v1 after a@v1's snapshot was damaged"
ok -q -R "$REPO" restore a@v2 "$WORK/ra2"
compare_trees "$WORK/src-a2/dicom" "$WORK/ra2/dicom" "a@v2 after a@v1's snapshot was damaged"

# --- 4. flipped byte in a pack's trailer ----------------------------------------------
# A pack is named by the SHA-256 of its trailer, not of all its bytes (docs/FORMAT.md
# §6): a changed byte there must still be found, and every file in the pack named.
restore_pristine
ok -q -R "$REPO" check --read-data
PACK=$(find "$RDIR/data" -type f -size +1k -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
PSIZE=$(stat -c %s "$PACK")
PACKID=$(basename "$PACK")
note "corrupting the trailer of $PACK at offset $((PSIZE - 13))"
flip_byte "$PACK" $((PSIZE - 13))
changed "$PACK"
run_st -q -R "$REPO" check --read-data --json
[ "$RC" = 1 ] || { show_last check --read-data --json; die "check --read-data after flipping a byte in a pack trailer: exit $RC, expected 1"; }
json_check "$OUT" "any('$PACKID' in e for e in j['errors']) and len(j['damaged']) >= 1" \
    "check --read-data names the pack whose trailer changed, and the files in it"

# --- 5. several damaged packs, checked by several threads ------------------------------
# Packs are checked in parallel; problems are still reported in the order of the packs,
# so the report is the same whatever the number of threads.
restore_pristine
NPACKS=0
while IFS= read -r p; do
    flip_byte "$p" $(($(stat -c %s "$p") / 2))
    changed "$p"
    NPACKS=$((NPACKS + 1))
done < <(find "$RDIR/data" -type f -size +1k | sort | head -n 3)
[ "$NPACKS" -ge 2 ] || die "need at least 2 packs to damage, found $NPACKS"
for t in 1 4; do
    set +e
    STRATA_CHECK_THREADS=$t "$STRATA" -q -R "$REPO" check --read-data >"$WORK/par$t.out" 2>"$WORK/par$t.err"
    rc=$?; set -e
    [ "$rc" = 1 ] || { cat "$WORK/par$t.err" >&2; die "check --read-data with $t threads after damaging $NPACKS packs: exit $rc, expected 1"; }
    STRATA_CHECK_THREADS=$t "$STRATA" -q -R "$REPO" check --read-data --json >"$WORK/par$t.json" 2>/dev/null || true
done
n=$(grep -c "fails authentication" "$WORK/par1.err" "$WORK/par1.out" | awk -F: '{s += $2} END {print s}')
[ "$n" -ge "$NPACKS" ] || die "check --read-data reported $n damaged blobs for $NPACKS damaged packs"
cmp -s "$WORK/par1.err" "$WORK/par4.err" && cmp -s "$WORK/par1.out" "$WORK/par4.out" ||
    { diff "$WORK/par1.err" "$WORK/par4.err" >&2; die "check --read-data reports differ between 1 and 4 threads"; }
cmp -s "$WORK/par1.json" "$WORK/par4.json" || die "check --read-data --json differs between 1 and 4 threads"
