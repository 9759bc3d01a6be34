#!/usr/bin/env bash
# ceph-rgw.sh - a throw-away single-node Ceph 16 (Debian packages) with
# RadosGW (beast) on 127.0.0.1, for the S3 backend's tests (tests/unit/with_rgw.sh).
# Adapted from a tested shared script: each run gets its own state directory
# and free ports, so parallel test runs do not collide.
# mon.a + osd.0 (memstore by default, or bluestore on a sparse file) + client.rgw.a
# (+ mgr.x with CEPH_MGR=1). Every daemon binds 127.0.0.1 only.
# cephx is disabled (auth none) -- S3 access still needs the RGW user's SigV4 keys.
#
#   eval "$(./ceph-rgw.sh start)"   # prints export S3_ENDPOINT=... AWS_ACCESS_KEY_ID=... CEPH_STATE=...
#   ./ceph-rgw.sh stop              # with CEPH_STATE from start: kills rgw, osd, mgr, mon by PID;
#                                   # removes the dir
#
# Env knobs: CEPH_STATE (default: a new /tmp/strata-ceph.XXXXXX per start; stop needs it),
#            RGW_PORT, MON_PORT, MON_PORT_V1 (default: free ports picked at random),
#            OSD_STORE (memstore|bluestore),
#            CEPH_MGR (0 = default: no ceph-mgr, saves ~300 MB RSS and its apt deps; RGW and
#            S3 work without it, only `ceph -s` usage stats stay empty; 1 = start mgr.x),
#            S3_BUCKET (bucket to create, default ci-bucket), S3_ACCESS_KEY / S3_SECRET_KEY,
#            MEMSTORE_BYTES (memstore capacity, default 2 GiB; data lives in RAM).
set -euo pipefail
case "${1:-}" in
  start) D=${CEPH_STATE:-$(mktemp -d /tmp/strata-ceph.XXXXXX)} ;;
  *) D=${CEPH_STATE:-} ;;
esac
OSD_STORE=${OSD_STORE:-memstore}
CEPH_MGR=${CEPH_MGR:-0}
BUCKET=${S3_BUCKET:-ci-bucket}
AK=${S3_ACCESS_KEY:-ci-access-key}
SK=${S3_SECRET_KEY:-ci-secret-key-0123456789}
CONF=$D/ceph.conf
C=(-c "$CONF")

log() { echo "[ceph-rgw.sh] $(date +%T) $*" >&2; }
# alive PID: true while PID runs (a zombie counts as dead: PID 1 here reaps slowly)
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $st != Z* ]]; }
# port_free PORT...: fail early if something already listens there
port_free() { local p; for p in "$@"; do
  if ss -Hltn "sport = :$p" | grep -q .; then log "port $p already in use"; return 1; fi; done; }
# free_port [EXCLUDE...]: a random port nothing listens on
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    case " $* " in *" $p "*) continue ;; esac
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
  done
  return 1
}
wait_for() {  # wait_for SECONDS CMD...
  local t=$1; shift
  for _ in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

install_ceph() {
  local pkgs="ceph-mon ceph-osd radosgw ceph-common"
  [ "$CEPH_MGR" = 1 ] && pkgs="$pkgs ceph-mgr"
  if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v ceph-mon >/dev/null \
     || { [ "$CEPH_MGR" = 1 ] && ! command -v ceph-mgr >/dev/null; }; then
    log "installing $pkgs from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $pkgs >/dev/null
  fi
}

pidof_file() { cat "$D/run/$1.pid"; }
# fail MSG [LOG]: report, show the log tail, stop whatever was started, exit 1
fail() { log "start failed: $1"; [ -n "${2:-}" ] && tail -n 30 "$2" >&2; trap - ERR; stop; exit 1; }

start() {
  [ "$(id -u)" = 0 ] || { log "run as root"; exit 1; }
  install_ceph
  [ -d "$D/run" ] && { log "$D exists: already running? ($0 stop first)"; exit 1; }
  MON_PORT=${MON_PORT:-$(free_port)}
  MON_PORT_V1=${MON_PORT_V1:-$(free_port "$MON_PORT")}
  RGW_PORT=${RGW_PORT:-$(free_port "$MON_PORT" "$MON_PORT_V1")}
  port_free "$MON_PORT" "$MON_PORT_V1" "$RGW_PORT" || exit 1
  trap 'fail "command failed at line $LINENO (rc=$?)"' ERR
  mkdir -p "$D"/{run,log,mon/a,mgr/x,osd/0,rgw}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT_V1]
mon initial members = a
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
run dir = $D/run
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
keyring = $D/keyring
osd pool default size = 1
osd pool default min size = 1
# test-only speed-ups: 1 PG per pool, fast paxos commits (RGW start 12 s -> 2 s)
osd pool default pg num = 1
osd pool default pgp num = 1
paxos propose interval = 0.1
paxos min wait = 0.01
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 1
mon data avail crit = 1
[mon]
mon data = $D/mon/\$id
[mgr]
mgr data = $D/mgr/\$id
mgr initial modules = restful
[osd]
osd data = $D/osd/\$id
osd objectstore = $OSD_STORE
memstore device bytes = ${MEMSTORE_BYTES:-2147483648}
bluestore block path = $D/osd/block-\$id.img
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mount = false
osd memory target = 939524096
osd max object name len = 256
osd max object namespace len = 64
osd check max object name len on startup = false
osd op num shards = 1
osd op num threads per shard = 2
[client.rgw.a]
# radosgw's built-in default is ms_mon_client_mode=secure, which auth=none cannot satisfy
# (symptom: "send_auth_request get_initial_auth_request returned -13" forever)
ms mon client mode = crc
# tcp_nodelay: without it beast writes the headers and then a small body as two
# segments and Nagle holds the second until the client's delayed ACK (40 ms per
# small GET, which AWS S3 does not have)
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $D/rgw
rgw dns name = localhost
rgw thread pool size = 64
EOF
  : > "$D/keyring"

  log "mon"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT_V1]" "$D/monmap" >/dev/null
  ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap"
  ceph-mon "${C[@]}" -i a
  wait_for 30 ceph "${C[@]}" --connect-timeout 2 mon stat || fail "mon not up" "$D/log/mon.a.log"

  if [ "$CEPH_MGR" = 1 ]; then
    log "mgr"
    ceph-mgr "${C[@]}" -i x
  fi

  log "osd ($OSD_STORE)"
  local ouuid; ouuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(ceph "${C[@]}" osd new "$ouuid")
  [ "$id" = 0 ] || fail "unexpected osd id $id"
  ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$ouuid" >"$D/log/osd-mkfs.log" 2>&1
  ceph-osd "${C[@]}" -i 0 2>>"$D/log/osd-start.log"
  wait_for 60 bash -c "ceph ${C[*]} osd dump | grep -q '^osd.0 up'" || fail "osd not up" "$D/log/osd.0.log"

  log "rgw"
  radosgw "${C[@]}" -n client.rgw.a
  wait_for 60 bash -c "curl -sf -o /dev/null http://127.0.0.1:$RGW_PORT/ && [ -s $D/run/client.rgw.a.pid ]" || fail "rgw not answering" "$D/log/client.rgw.a.log"
  radosgw-admin "${C[@]}" user create --uid=ci --display-name="CI user" \
      --access-key="$AK" --secret-key="$SK" >/dev/null 2>&1
  # create the bucket with curl's SigV4 signer (no extra client needed)
  curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
       -X PUT "http://127.0.0.1:$RGW_PORT/$BUCKET" >/dev/null
  trap - ERR
  log "up: mon $(pidof_file mon.a) osd $(pidof_file osd.0) rgw $(pidof_file client.rgw.a)$([ "$CEPH_MGR" = 1 ] && echo " mgr $(pidof_file mgr.x)")"
  cat <<EOF
export S3_ENDPOINT=http://127.0.0.1:$RGW_PORT AWS_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT S3_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
export CEPH_CONF=$CONF CEPH_STATE=$D RGW_PORT=$RGW_PORT
EOF
}

stop() {
  [ -n "$D" ] || { log "set CEPH_STATE to the directory start printed"; return 1; }
  [ -d "$D/run" ] || { log "not running"; rmdir "$D" 2>/dev/null; return 0; }
  for n in client.rgw.a osd.0 mgr.x mon.a; do
    f=$D/run/$n.pid; [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid"
    log "stopped $n pid $pid"
  done
  rm -rf "$D"
}

# gw-stop / gw-start: only the gateway, for tests of a server that goes away
# mid-request; mon and osd (and so the stored objects) stay.
gw_stop() {
  [ -n "$D" ] && [ -f "$D/run/client.rgw.a.pid" ] || { log "no gateway running"; return 1; }
  local pid; pid=$(cat "$D/run/client.rgw.a.pid")
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  rm -f "$D/run/client.rgw.a.pid"
  log "gateway stopped (pid $pid)"
}
gw_start() {
  [ -n "$D" ] && [ -f "$CONF" ] || { log "set CEPH_STATE to the directory start printed"; return 1; }
  local port; port=$(sed -n 's/.*endpoint=127.0.0.1:\([0-9]*\).*/\1/p' "$CONF" | head -1)
  radosgw "${C[@]}" -n client.rgw.a
  wait_for 60 bash -c "curl -sf -o /dev/null http://127.0.0.1:$port/ && [ -s $D/run/client.rgw.a.pid ]" ||
    { log "gateway not answering"; return 1; }
  log "gateway up again (pid $(pidof_file client.rgw.a))"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  gw-stop) gw_stop ;;
  gw-start) gw_start ;;
  *) echo "usage: $0 start|stop|gw-stop|gw-start" >&2; exit 2 ;;
esac
