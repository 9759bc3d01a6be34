#!/bin/sh
# install-deps.sh - install what strata needs to build, test, demo and
# benchmark, from Debian 12 packages. Idempotent; never removes anything.
set -eu
PKGS="build-essential cmake pkg-config libssl-dev libsodium-dev libzstd-dev
libsqlite3-dev libcmocka-dev libhts-dev libtiff-dev zlib1g-dev
clang-format git dcmtk samtools bcftools nifti-bin libtiff-tools python3 python3-pydicom htslib-test zstd time
restic borgbackup"
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
