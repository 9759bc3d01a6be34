# bench/lib.sh - shell helpers the bench scripts share; sourced, after the
# script has defined log().

# apt_install PKG...: install missing Debian packages (root only). Only
# called with packages whose commands are missing, so it is idempotent.
apt_install() {
	if [ "$(id -u)" != 0 ]; then
		log "missing packages: $* -- install them (apt-get needs root)"
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "apt-get install $*"
	if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
		apt-get update -qq || true
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null
	fi
}
