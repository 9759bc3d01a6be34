#!/bin/bash
# Help and usage errors for every command; --json output of every command parses.
set -eu
. "$(dirname "$0")/lib.sh"

CMDS="init ingest datasets log ls cat diff restore check"

# --- -h for every command: exit 0, usage naming the command, no repo/password needed --
for c in $CMDS; do
    set +e
    env -u STRATA_PASSWORD -u STRATA_REPO timeout 10 "$STRATA" "$c" -h >"$OUT" 2>"$ERR" </dev/null; RC=$?
    set -e
    [ "$RC" = 0 ] || { show_last "$c" -h; die "strata $c -h exited $RC"; }
    grep -qi 'usage' "$OUT" || { show_last "$c" -h; die "strata $c -h: stdout has no 'usage'"; }
    grep -Eq "(^|[^a-z])$c([^a-z]|\$)" "$OUT" || { show_last "$c" -h; die "strata $c -h: usage does not name '$c'"; }
done
# debug speed
set +e; env -u STRATA_PASSWORD "$STRATA" debug speed -h >"$OUT" 2>"$ERR" </dev/null; RC=$?; set -e
[ "$RC" = 0 ] || { show_last debug speed -h; die "strata debug speed -h exited $RC"; }
grep -q 'speed' "$OUT" || die "strata debug speed -h: usage does not name 'speed'"
# global help
for h in -h --help; do
    set +e; env -u STRATA_PASSWORD "$STRATA" $h >"$OUT" 2>"$ERR" </dev/null; RC=$?; set -e
    [ "$RC" = 0 ] || { show_last $h; die "strata $h exited $RC"; }
    for c in $CMDS; do grep -qw "$c" "$OUT" || die "strata $h does not list command '$c'"; done
done

# --- usage errors: exit 2 ---------------------------------------------------------
init_repo
mkdir -p "$WORK/src/d"; printf 'hello\n' >"$WORK/src/d/a.txt"
usage_err() { soft _usage_err "$@"; }
_usage_err() { # ARGS...
    run_st "$@"
    [ "$RC" = 2 ] || { show_last "$@"; die "expected usage error (exit 2) from: strata $*"; }
    [ -s "$ERR" ] || die "usage error without a message: strata $*"
    [ ! -s "$OUT" ] || { show_last "$@"; die "usage error printed to stdout: strata $*"; }
}
usage_err
usage_err frobnicate
usage_err -R "$REPO" frobnicate
assert_err_contains 'frobnicate' "unknown command must be named"
usage_err --no-such-global -R "$REPO" datasets
usage_err -R "$REPO" datasets --no-such-option
assert_err_contains 'no-such-option' "unknown option must be named"
usage_err -R "$REPO" ingest "$WORK/src/d" --dataset d --bogus-flag
usage_err -R "$REPO" ingest "$WORK/src/d"                  # no --dataset
usage_err -R "$REPO" ingest --dataset d                    # no PATH
usage_err -R "$REPO" ingest "$WORK/src/d" --dataset d --layer bronze
usage_err -R "$REPO" ingest "$WORK/src/d" --dataset d --class secret
usage_err -R "$REPO" log                                   # no NAME
usage_err -R "$REPO" cat                                   # no NAME:PATH
usage_err -R "$REPO" diff d@v1                             # one version only
usage_err -R "$REPO" restore d                             # no DEST
usage_err -R "$REPO" check --read-data --frob
usage_err init                                             # no REPO
usage_err debug speed "$WORK/src/d/a.txt" --zstd-level 0  # levels are -7..19, not 0
assert_err_contains 'zstd-level' "a bad --zstd-level must be named"
usage_err debug speed "$WORK/src/d/a.txt" --zstd-level 20
# nothing was created by the rejected ingests
ok -R "$REPO" datasets --json
json_check "$OUT" 'j == []' "rejected ingests must not create datasets"

# --- --json parses for every command, after the command and as a global option ------
jcheck() { # DESCRIPTION PYTHON-EXPR ARGS...
    desc=$1; expr=$2; shift 2
    ok "$@"
    json_check "$OUT" "$expr" "$desc"
}
jcheck "ingest --json" 'isinstance(j, dict) and j["version"] == 1 and j["files"] == 1' \
    -q -R "$REPO" ingest "$WORK/src/d" --dataset d --json
printf 'hello again\n' >"$WORK/src/d/a.txt"; printf 'b\n' >"$WORK/src/d/b.txt"
jcheck "global --json ingest" 'isinstance(j, dict) and j["version"] == 2 and j["files"] == 2' \
    -q --json -R "$REPO" ingest "$WORK/src/d" --dataset d
jcheck "datasets --json" '[(x["name"], x["versions"]) for x in j] == [("d", 2)]' -R "$REPO" datasets --json
jcheck "global --json datasets" '[(x["name"], x["versions"]) for x in j] == [("d", 2)]' --json -R "$REPO" datasets
jcheck "log --json" 'sorted(e["version"] for e in j) == [1, 2]' -R "$REPO" log d --json
jcheck "global --json log" 'sorted(e["version"] for e in j) == [1, 2]' --json -R "$REPO" log d
jcheck "ls --json" 'sorted((e["path"], e["type"]) for e in j) == [("d", "dir"), ("d/a.txt", "file"), ("d/b.txt", "file")]' \
    -R "$REPO" ls d --json
jcheck "global --json ls" 'sorted(e["path"] for e in j) == ["d", "d/a.txt", "d/b.txt"]' --json -R "$REPO" ls d@v2
jcheck "ls --json of v1" 'sorted(e["path"] for e in j) == ["d", "d/a.txt"]' -R "$REPO" ls d@v1 --json
jcheck "diff --json" 'sorted((e["path"], e["change"]) for e in j) == [("d/a.txt", "modified"), ("d/b.txt", "added")]' \
    -R "$REPO" diff d@v1 d@v2 --json
jcheck "global --json diff" 'isinstance(j, list) and len(j) == 2' --json -R "$REPO" diff d@v1 d@v2
jcheck "check --json" 'j["ok"] is True and j["snapshots"] == 2 and j["errors"] == [] and j["damaged"] == []' \
    -q -R "$REPO" check --json
jcheck "check --read-data --json" 'j["ok"] is True and j["snapshots"] == 2' -q -R "$REPO" check --read-data --json
jcheck "global --json check" 'j["ok"] is True' -q --json -R "$REPO" check
jcheck "debug speed --json" 'j["bytes"] == 12 and j["threads"] >= 1 and j["seconds"] >= 0 and "mib_per_s" in j and j["zstd_level"] == 1' \
    -q debug speed "$WORK/src/d/a.txt" --json
jcheck "debug speed --zstd-level --json" 'j["bytes"] == 12 and j["zstd_level"] == -3' \
    -q debug speed "$WORK/src/d/a.txt" --zstd-level -3 --json
