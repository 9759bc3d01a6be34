#!/bin/bash
# Passwords: wrong / missing password is refused by every command with a message about
# the password; --password-file works; names and contents are not stored in plaintext.
set -eu
. "$(dirname "$0")/lib.sh"

GOOD=$STRATA_PASSWORD
BAD='not the right passphrase 123'

# distinctive names that must never appear in plaintext in the repository
SRC=$WORK/src/patient_Zq7x
mkdir -p "$SRC/visit_Kp3m"
cp "$TESTDATA/dicom/MR_small.dcm" "$SRC/visit_Kp3m/scan_patient_Zq7x.dcm"
python3 -c 'import sys; open(sys.argv[1], "w").write("CONTENT_MARKER_Hq3k plain text line\n" * 200)' "$SRC/notes_Wd8r.txt"

init_repo
ok -q -R "$REPO" ingest "$SRC" --dataset cohort_Jv5n -m "message_Tb2y" --json
assert_eq "$(json_get "$OUT" 'j["version"]')" 1 "first ingest"

# --- no plaintext names / contents / password in the repository ---------------------
# S3: every object, downloaded with the independent client (its key is its path
# there), and the repository's local directory (catalog, audit log)
SCAN=$REPO
if is_s3; then
    repo_pull "$WORK/objects"
    [ -f "$WORK/objects/config" ] || die "no 'config' among the objects of $REPO"
    SCAN="$WORK/objects $(state_dir)"
fi
for needle in patient_Zq7x visit_Kp3m scan_patient notes_Wd8r cohort_Jv5n \
              CONTENT_MARKER_Hq3k "$GOOD"; do
    # shellcheck disable=SC2086
    if grep -rlaF -- "$needle" $SCAN >"$WORK/hits"; then
        die "repository contains '$needle' in plaintext in: $(tr '\n' ' ' <"$WORK/hits")"
    fi
done
# also no file or directory (object key) in the repository is named after them
# shellcheck disable=SC2086
if find $SCAN | grep -E 'patient_Zq7x|cohort_Jv5n|visit_Kp3m' >&2; then
    die "repository path names contain a dataset or file name"
fi

# --- wrong password: every command refuses ----------------------------------------
export STRATA_PASSWORD=$BAD
check_bad() {
    run_st "$@"
    if [ "$RC" = 0 ]; then show_last "$@"; die "wrong password accepted by: strata $*"; fi
    if [ "$RC" = 2 ]; then show_last "$@"; die "wrong password reported as a usage error (exit 2) by: strata $*"; fi
    assert_err_contains 'password|passphrase' "wrong password: message of 'strata $*' must mention the password"
}
check_bad -q -R "$REPO" datasets
check_bad -q -R "$REPO" datasets --json
check_bad -q -R "$REPO" log cohort_Jv5n
check_bad -q -R "$REPO" ls cohort_Jv5n
check_bad -q -R "$REPO" cat "cohort_Jv5n:patient_Zq7x/notes_Wd8r.txt"
[ ! -s "$OUT" ] || die "cat with a wrong password wrote data to stdout"
check_bad -q -R "$REPO" restore cohort_Jv5n "$WORK/rbad"
if [ -e "$WORK/rbad" ] && [ -n "$(find "$WORK/rbad" -type f)" ]; then
    die "restore with a wrong password wrote files"
fi
check_bad -q -R "$REPO" check
check_bad -q -R "$REPO" check --read-data
check_bad -q -R "$REPO" diff cohort_Jv5n@v1 cohort_Jv5n@v1
check_bad -q -R "$REPO" ingest "$SRC" --dataset cohort_Jv5n

# --- --password-file ---------------------------------------------------------------
unset STRATA_PASSWORD
printf '%s\n' "$GOOD" >"$WORK/pw"
printf '%s\n' "$BAD" >"$WORK/badpw"
ok -q --password-file "$WORK/pw" -R "$REPO" log cohort_Jv5n --json
json_check "$OUT" '[e["version"] for e in j] == [1]' "after the refused ingest there is still only version 1"
ok -q --password-file "$WORK/pw" -R "$REPO" cat "cohort_Jv5n:patient_Zq7x/notes_Wd8r.txt"
cmp "$OUT" "$SRC/notes_Wd8r.txt" || die "cat via --password-file returned wrong bytes"
ok -q --password-file "$WORK/pw" -R "$REPO" restore cohort_Jv5n "$WORK/rgood"
compare_trees "$SRC" "$WORK/rgood/patient_Zq7x" "restore via --password-file"
printf '%s' "$GOOD" >"$WORK/pw-nonl"
ok -q --password-file "$WORK/pw-nonl" -R "$REPO" datasets --json
json_check "$OUT" '[d["name"] for d in j] == ["cohort_Jv5n"]' "datasets via --password-file without trailing newline"
check_bad -q --password-file "$WORK/badpw" -R "$REPO" datasets
run_st -q --password-file "$WORK/no-such-pw-file" -R "$REPO" datasets
[ "$RC" != 0 ] || die "a missing --password-file was accepted"
assert_err_contains 'no-such-pw-file' "missing --password-file must be named in the error"
# an ingest via --password-file works
ok -q --password-file "$WORK/pw" -R "$REPO" ingest "$SRC" --dataset cohort_Jv5n --json
assert_eq "$(json_get "$OUT" 'j["version"]')" 2 "ingest via --password-file"

# --- missing password ---------------------------------------------------------------
for args in "datasets" "log cohort_Jv5n" "check"; do
    set +e
    # shellcheck disable=SC2086
    timeout 20 "$STRATA" -q -R "$REPO" $args </dev/null >"$OUT" 2>"$ERR"; RC=$?
    set -e
    [ "$RC" != 124 ] || die "strata $args without a password hangs (waiting for input?)"
    [ "$RC" != 0 ] || die "strata $args without any password succeeded"
    assert_err_contains 'password' "strata $args without a password: message must mention the password"
done
set +e; timeout 20 "$STRATA" init "$(new_repo repo2)" </dev/null >"$OUT" 2>"$ERR"; RC=$?; set -e
[ "$RC" != 0 ] || die "init without a password succeeded"
assert_err_contains 'password' "init without a password: message must mention the password"

# the repository is still fine with the right password
export STRATA_PASSWORD=$GOOD
ok -q -R "$REPO" check --read-data
ok -q -R "$REPO" log cohort_Jv5n --json
json_check "$OUT" 'sorted(e["version"] for e in j) == [1, 2] and [e["message"] for e in j if e["version"] == 1] == ["message_Tb2y"]' \
    "log after the password tests"
