#!/bin/sh
# with_rgw.sh - run a command against a throw-away Ceph RGW: start one on
# loopback (tests/services/ceph-rgw.sh), export its endpoint, bucket and
# keys (AWS_ENDPOINT_URL, S3_BUCKET, AWS_ACCESS_KEY_ID, ...), run the
# command, and always stop RGW. Fails if RGW cannot start.
#   with_rgw.sh ./test_backend_s3
set -eu
rgw="$(cd "$(dirname "$0")/../services" && pwd)/ceph-rgw.sh"
CEPH_STATE=$(mktemp -d "${TMPDIR:-/tmp}/strata-ceph.XXXXXX")
export CEPH_STATE
trap '"$rgw" stop >/dev/null 2>&1 || true; rm -rf "$CEPH_STATE"' EXIT
trap 'exit 1' INT TERM HUP
t0=$(date +%s.%N)
if ! env_lines=$("$rgw" start); then
	echo "with_rgw.sh: Ceph RGW did not start (see above)" >&2
	exit 1
fi
eval "$env_lines"
echo "with_rgw.sh: RGW up at $AWS_ENDPOINT_URL in $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }") s" >&2
# the aws client must not read a user's ~/.aws or pick a profile
AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION STRATA_S3_ADDRESSING STRATA_S3_RETRIES || true
"$@"
