#!/bin/sh
# install-deps.sh - install what strata needs to build, test, demo and
# benchmark, from Debian 12 packages. Idempotent; never removes anything.
set -eu
PKGS="build-essential cmake pkg-config libssl-dev libsodium-dev libzstd-dev
libsqlite3-dev libcmocka-dev libhts-dev libtiff-dev zlib1g-dev liburing-dev
clang-format git dcmtk libdcmtk17 samtools bcftools nifti-bin libtiff-tools python3 python3-pydicom htslib-test zstd time
restic borgbackup libgdcm-tools
libcurl4-gnutls-dev
ceph-mon ceph-osd radosgw ceph-common awscli"
# libcurl (the S3 backend): the GnuTLS flavour of the -dev package, because
# libhts-dev depends on it and libcurl4-openssl-dev conflicts with it (apt
# would remove libhts-dev). Either provides libcurl.pc and AWS SigV4.
# restic borgbackup libgdcm-tools: peers of the benchmarks (bench/run.sh,
# bench/deid.sh: gdcmanon).
# ceph-mon ceph-osd radosgw ceph-common: the throw-away RGW the S3 tests run
# against (tests/services/ceph-rgw.sh); awscli: /usr/bin/aws, the
# independent client they cross-check with.
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
