# Shared helpers for the strata end-to-end CLI tests.  Source from a tNNNN-*.sh script:
#     . "$(dirname "$0")/lib.sh"
# Provides: $STRATA, $TESTDATA, $WORK (scratch dir, removed on exit), $REPO,
# die/skip/assert_* helpers, run_st (captures rc/stdout/stderr), json_get,
# tree_sums / tree_manifest comparison helpers.

set -eu

TEST_NAME=$(basename "$0" .sh)
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$TESTS_DIR/../.." && pwd)
TESTDATA=${STRATA_TESTDATA:-$REPO_ROOT/../shared/testdata}

die()  { echo "FAIL [$TEST_NAME]: $*" >&2; exit 1; }
skip() { echo "SKIP [$TEST_NAME]: $*" >&2; exit 77; }
note() { echo "[$TEST_NAME] $*" >&2; }

if [ -z "${STRATA:-}" ]; then
    for c in "$REPO_ROOT"/build/strata "$REPO_ROOT"/build/*/strata; do
        if [ -x "$c" ]; then STRATA=$c; break; fi
    done
fi
[ -n "${STRATA:-}" ] || die "env STRATA (path to the strata binary) is not set"
[ -x "$STRATA" ] || die "STRATA=$STRATA is not an executable"
case $STRATA in /*) ;; *) STRATA=$(cd "$(dirname "$STRATA")" && pwd)/$(basename "$STRATA") ;; esac
[ -d "$TESTDATA" ] || die "test data directory $TESTDATA not found (set STRATA_TESTDATA)"
TESTDATA=$(cd "$TESTDATA" && pwd)
export LC_ALL=C

# Scratch directory; extra cleanup steps can be registered with at_exit.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-$TEST_NAME.XXXXXX")
_CLEANUP=""
SOFT_FAILS=0
at_exit() { _CLEANUP="$1; $_CLEANUP"; }
_on_exit() {
    rc=$?
    set +e
    if [ $rc -eq 0 ] && [ "$SOFT_FAILS" -gt 0 ]; then
        echo "FAIL [$TEST_NAME]: $SOFT_FAILS check(s) failed, see the FAIL lines above" >&2
        rc=1
    fi
    eval "$_CLEANUP"
    chmod -R u+rwx "$WORK" 2>/dev/null
    rm -rf "$WORK"
    if [ $rc -eq 0 ]; then echo "PASS [$TEST_NAME]" >&2; fi
    exit $rc
}
trap _on_exit EXIT
trap 'exit 130' INT TERM

# Repository used by most tests and its passphrase (never a real secret).
REPO=$WORK/repo
export STRATA_PASSWORD='correct horse battery staple 7731'
unset STRATA_REPO STRATA_KEY_FILE 2>/dev/null || true

# S3 mode: with STRATA_TEST_S3=1 (run_on_s3.sh starts Ceph RGW and exports
# AWS_ENDPOINT_URL, S3_BUCKET and the keys) the repositories are
# s3://$S3_BUCKET/<test>-<random>[-NAME] and their local directories (catalog,
# audit log) live below $WORK/cache (STRATA_CACHE_DIR). Checks that look into a
# repository go through the helpers below, which work in both modes.
TEST_S3=${STRATA_TEST_S3:-0}
is_s3() { [ "$TEST_S3" = 1 ]; }
if is_s3; then
    [ -n "${AWS_ENDPOINT_URL:-}" ] && [ -n "${S3_BUCKET:-}" ] &&
        [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] ||
        die "STRATA_TEST_S3=1 needs AWS_ENDPOINT_URL, S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (tests/cli/run_on_s3.sh sets them)"
    export STRATA_CACHE_DIR=$WORK/cache
    # the aws client must not read a user's ~/.aws or pick a profile
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    unset AWS_PROFILE 2>/dev/null || true
    S3_RUN=$TEST_NAME-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
    REPO=s3://$S3_BUCKET/$S3_RUN
    # the objects go with the test, unless the whole service does
    # (run_on_s3.sh: STRATA_TEST_S3_KEEP=1, RGW is thrown away after the run)
    if [ "${STRATA_TEST_S3_KEEP:-0}" != 1 ]; then
        at_exit 's3_cli s3 rm --quiet --recursive "s3://$S3_BUCKET/$S3_RUN" >/dev/null 2>&1'
    fi
fi

# new_repo NAME: the location for a further repository of this test.
new_repo() {
    if is_s3; then echo "s3://$S3_BUCKET/$S3_RUN-$1"; else echo "$WORK/$1"; fi
}
# s3_cli ARGS...: the independent client (Debian's awscli) against the endpoint.
s3_cli() { /usr/bin/aws --endpoint-url "${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}" "$@"; }
# s3_path [REPO]: "bucket/prefix" of an s3:// location (no slashes at the ends).
s3_path() {
    local r=${1:-$REPO} b p
    r=${r#s3://}; b=${r%%/*}; p=${r#"$b"}
    while [ "${p#/}" != "$p" ]; do p=${p#/}; done
    while [ "${p%/}" != "$p" ]; do p=${p%/}; done
    echo "$b${p:+/$p}"
}
# state_dir [REPO]: the repository's local directory (catalog, spool): REPO/local,
# or for S3 $STRATA_CACHE_DIR/HASH as docs/s3.md (FILES) defines it.
state_dir() {
    local r=${1:-$REPO} ep b p
    case $r in
    s3://*)
        ep=${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}
        while [ "${ep%/}" != "$ep" ]; do ep=${ep%/}; done
        p=$(s3_path "$r"); b=${p%%/*}; p=${p#"$b"}; p=${p#/}
        echo "$STRATA_CACHE_DIR/$(printf '%s\n%s\n%s' "$ep" "$b" "${p:+$p/}" |
            sha256sum | cut -c1-32)" ;;
    *) echo "$r/local" ;;
    esac
}
# audit_dir [REPO]: where the audit log of REPO is (REPO/audit; for S3 in its
# local directory, see repo__audit_open).
audit_dir() {
    case ${1:-$REPO} in
    s3://*) echo "$(state_dir "${1:-$REPO}")/audit" ;;
    *) echo "${1:-$REPO}/audit" ;;
    esac
}
# repo_exists [REPO]: the repository is there (a directory, or an S3 'config' object).
repo_exists() {
    local r=${1:-$REPO}
    case $r in
    s3://*) s3_cli s3 ls "s3://$(s3_path "$r")/config" 2>/dev/null | grep -q ' config$' ;;
    *) [ -d "$r" ] ;;
    esac
}
# repo_pull DIR [REPO]: copy every object of an S3 repository into DIR with its
# name as path (the layout of a local repository), via the independent client.
repo_pull() {
    mkdir -p "$1"
    s3_cli s3 cp --quiet --recursive "s3://$(s3_path "${2:-$REPO}")/" "$1/" >"$WORK/.s3.err" 2>&1 ||
        { cat "$WORK/.s3.err" >&2; die "aws s3 cp --recursive s3://$(s3_path "${2:-$REPO}")/ failed"; }
}
# repo_put FILE NAME [REPO]: replace object NAME of an S3 repository with FILE.
repo_put() {
    s3_cli s3 cp --quiet "$1" "s3://$(s3_path "${3:-$REPO}")/$2" >"$WORK/.s3.err" 2>&1 ||
        { cat "$WORK/.s3.err" >&2; die "aws s3 cp $1 s3://$(s3_path "${3:-$REPO}")/$2 failed"; }
}

# soft CMD...: run a check in a subshell; if it fails (die), record the failure and
# continue, so one test run reports every independent failing check. The script then
# exits 1 at the end.  Variables set inside CMD do not survive.
soft() {
    if ! ( "$@" ); then SOFT_FAILS=$((SOFT_FAILS + 1)); fi
}
# Error messages on stderr start with "strata: " (cli-contract.md, exit codes).
ERR_PREFIX='^strata: '

OUT=$WORK/.out   # stdout of the last run_st
ERR=$WORK/.err   # stderr of the last run_st
RC=0

# run_st ARGS...: run strata, never aborting the script; sets RC, $OUT, $ERR.
run_st() {
    set +e
    "$STRATA" "$@" >"$OUT" 2>"$ERR" </dev/null
    RC=$?
    set -e
}

show_last() {
    echo "--- command: strata $*" >&2
    echo "--- exit code: $RC" >&2
    echo "--- stdout (first 40 lines):" >&2; head -n 40 "$OUT" >&2
    echo "--- stderr (first 40 lines):" >&2; head -n 40 "$ERR" >&2
}

# expect RC ARGS...: run strata and require exit code RC.
expect() {
    want=$1; shift
    run_st "$@"
    if [ "$RC" != "$want" ]; then
        show_last "$@"
        die "expected exit $want from: strata $*  (got $RC)"
    fi
}
# ok ARGS...: run strata and require exit 0.
ok() { expect 0 "$@"; }
# fails ARGS...: run strata and require a non-zero exit code and a non-empty stderr.
fails() {
    run_st "$@"
    if [ "$RC" = 0 ]; then show_last "$@"; die "expected failure from: strata $*  (exit 0)"; fi
    if [ ! -s "$ERR" ]; then show_last "$@"; die "no error message on stderr from: strata $*"; fi
}

assert_eq() { # ACTUAL EXPECTED MESSAGE
    [ "$1" = "$2" ] || die "$3: expected [$2], got [$1]"
}
assert_file_contains() { # FILE REGEX(ERE, case-insensitive) MESSAGE
    if ! grep -Eqi -- "$2" "$1"; then
        echo "--- contents of $(basename "$1"):" >&2; head -n 40 "$1" >&2
        die "$3 (no match for /$2/)"
    fi
}
assert_file_lacks() { # FILE REGEX MESSAGE
    if grep -Eqi -- "$2" "$1"; then
        echo "--- contents of $(basename "$1"):" >&2; head -n 40 "$1" >&2
        die "$3 (unexpected match for /$2/)"
    fi
}
assert_err_contains() { assert_file_contains "$ERR" "$1" "$2"; }
assert_fixed_in() { # FILE STRING MESSAGE  (fixed-string, case-sensitive)
    if ! grep -Fq -- "$2" "$1"; then
        echo "--- contents of $(basename "$1"):" >&2; head -n 40 "$1" >&2
        die "$3 (missing: $2)"
    fi
}

# json_get FILE EXPR: evaluate python EXPR with j = parsed JSON of FILE; prints the
# result (strings raw, everything else as JSON).  Fails if FILE is not valid JSON.
json_get() {
    python3 - "$1" "$2" <<'PY'
import json, sys
try:
    with open(sys.argv[1], 'rb') as f:
        j = json.loads(f.read().decode('utf-8', 'surrogateescape'))
except Exception as e:
    sys.stderr.write("invalid JSON in %s: %s\n" % (sys.argv[1], e))
    sys.exit(1)
r = eval(sys.argv[2], {'j': j, 'json': json})
if isinstance(r, str):
    print(r)
elif isinstance(r, bool):
    print('true' if r else 'false')
else:
    print(json.dumps(r, sort_keys=True))
PY
}
# json_check FILE PYTHON-BOOL-EXPR MESSAGE
json_check() {
    v=$(json_get "$1" "$2") || { head -c 2000 "$1" >&2; die "$3: stdout is not valid JSON"; }
    if [ "$v" != true ]; then
        echo "--- JSON ($(basename "$1")):" >&2; head -c 3000 "$1" >&2; echo >&2
        die "$3 (check failed: $2 -> $v)"
    fi
}

# tree_sums DIR: sha256 of every regular file, paths relative to DIR, sorted.
tree_sums() {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}
# tree_manifest DIR: one line per entry below DIR (sorted, bytes-safe):
#   file PATH MODE SHA256 / dir PATH MODE / symlink PATH -> TARGET
# MODE is included only with MODES=1 in the environment.
tree_manifest() {
    python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = os.fsencode(sys.argv[1])
withmode = os.environ.get('MODES') == '1'
out = []
def esc(b):
    return b.decode('utf-8', 'backslashreplace')
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        rel = esc(os.path.relpath(p, root))
        st = os.lstat(p)
        m = (' %04o' % stat.S_IMODE(st.st_mode)) if withmode else ''
        if stat.S_ISLNK(st.st_mode):
            out.append('symlink %s -> %s' % (rel, esc(os.readlink(p))))
        elif stat.S_ISDIR(st.st_mode):
            out.append('dir %s%s' % (rel, m))
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, 'rb') as f:
                for blk in iter(lambda: f.read(1 << 20), b''):
                    h.update(blk)
            out.append('file %s%s %d %s' % (rel, m, st.st_size, h.hexdigest()))
        else:
            out.append('other %s' % rel)
for l in sorted(out):
    print(l)
PY
}
# compare_trees EXPECTED_DIR ACTUAL_DIR LABEL: file list + sha256 + types + link targets.
compare_trees() {
    tree_sums "$1" >"$WORK/.sums.exp"
    tree_sums "$2" >"$WORK/.sums.act"
    if ! cmp -s "$WORK/.sums.exp" "$WORK/.sums.act"; then
        diff "$WORK/.sums.exp" "$WORK/.sums.act" | head -n 30 >&2
        die "$3: file list or sha256 differ between $1 and $2"
    fi
    tree_manifest "$1" >"$WORK/.man.exp"
    tree_manifest "$2" >"$WORK/.man.act"
    if ! cmp -s "$WORK/.man.exp" "$WORK/.man.act"; then
        diff "$WORK/.man.exp" "$WORK/.man.act" | head -n 30 >&2
        die "$3: tree structure (dirs/symlinks/files) differs between $1 and $2"
    fi
}

# init_repo [PATH]: create a repository (default $REPO).
init_repo() {
    ok init "${1:-$REPO}"
}

# gen_file PATH SIZE SEED: deterministic incompressible bytes.
gen_file() {
    python3 -c '
import random, sys
r = random.Random(sys.argv[3]); n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    while n > 0:
        k = min(n, 1 << 20); f.write(r.randbytes(k)); n -= k
' "$1" "$2" "$3"
}

# sum of sizes of regular files below DIR (like du -b over the files only)
bytes_of_files() {
    find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d\n", s}'
}
count_of() { # DIR TYPE(f|d|l)
    find "$1" -type "$2" | wc -l | tr -d ' '
}
