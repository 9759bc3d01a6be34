#!/bin/bash
# run_on_s3.sh - the CLI end-to-end tests (tNNNN-*.sh) against S3 repositories:
# starts one throw-away Ceph RGW (tests/services/ceph-rgw.sh), runs every test
# with STRATA_TEST_S3=1 one after the other (lib.sh then puts $REPO at
# s3://$S3_BUCKET/<test>-<random>), reports each, and always stops RGW.
# Exits 1 if any test failed (77 = skipped is not a failure) or RGW did not start.
#   STRATA=build/strata tests/cli/run_on_s3.sh [tNNNN ...]   # default: all
set -u
here=$(cd "$(dirname "$0")" && pwd)
rgw=$here/../services/ceph-rgw.sh
# the crash loop of t0006 is the slowest test over S3; fewer rounds keep this
# run short (with its delays still >= 3 kills, the test's own minimum)
export STRATA_KILL_ITERATIONS=${STRATA_KILL_ITERATIONS:-8}
# RGW and all its objects are thrown away at the end: the tests need not
# delete theirs (1-2 s of awscli each); memstore keeps them in RAM
export STRATA_TEST_S3_KEEP=1 MEMSTORE_BYTES=${MEMSTORE_BYTES:-$((4 << 30))}

CEPH_STATE=$(mktemp -d "${TMPDIR:-/tmp}/strata-ceph.XXXXXX")
export CEPH_STATE
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/strata-s3-suite.XXXXXX")
trap '"$rgw" stop >/dev/null 2>&1 || true; rm -rf "$CEPH_STATE" "$LOGS"' EXIT
trap 'exit 1' INT TERM HUP

now() { date +%s.%N; }
secs() { awk "BEGIN { printf \"%.1f\", $(now) - $1 }"; }

t0=$(now)
if ! env_lines=$("$rgw" start); then
	echo "run_on_s3.sh: Ceph RGW did not start (see above)" >&2
	exit 1
fi
eval "$env_lines"
echo "run_on_s3.sh: RGW up at $AWS_ENDPOINT_URL in $(secs "$t0") s" >&2
AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE STRATA_TEST_S3=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_ENDPOINT_URL_S3 \
	STRATA_S3_ADDRESSING STRATA_S3_RETRIES STRATA_CACHE_DIR || true

tests=()
for t in "$here"/t[0-9][0-9][0-9][0-9]-*.sh; do
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		want=0
		for p in "$@"; do case $name in "$p"*) want=1 ;; esac; done
		[ $want = 1 ] || continue
	fi
	tests+=("$t")
done
[ ${#tests[@]} -gt 0 ] || { echo "run_on_s3.sh: no test matches $*" >&2; exit 1; }

failed=() skipped=() passed=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	ts=$(now)
	(cd "$here" && bash "$t") >"$LOGS/$name.log" 2>&1 </dev/null
	rc=$?
	case $rc in
	0) passed=$((passed + 1)); echo "PASS $name ($(secs "$ts") s)" ;;
	77) skipped+=("$name")
	    echo "SKIP $name ($(secs "$ts") s): $(grep -m1 '^SKIP' "$LOGS/$name.log")" ;;
	*) failed+=("$name")
	   echo "FAIL $name (exit $rc, $(secs "$ts") s); last lines of its output:"
	   tail -n 40 "$LOGS/$name.log" | sed 's/^/    /' ;;
	esac
done
echo "run_on_s3.sh: ${#tests[@]} tests on S3 in $(secs "$t0") s: $passed passed," \
	"${#skipped[@]} skipped${skipped:+ (${skipped[*]})}, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} = 0 ]
