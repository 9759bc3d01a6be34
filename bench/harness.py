#!/usr/bin/env python3
"""strata benchmark harness: strata vs restic vs borg on a generated corpus.

Normally started by bench/run.sh (which installs the peers and builds strata first).
Configuration comes from environment variables; see bench/README.md.
"""

import datetime
import hashlib
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_corpus  # noqa: E402

MiB = 1 << 20
BENCH_ROOT = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_ROOT)
PASSWORD = "strata-bench-not-a-secret"
TIME = "/usr/bin/time"


def say(msg=""):
    print(msg, flush=True)


def loud(msg):
    bar = "!" * 78
    say(f"{bar}\n!!! {msg}\n{bar}")


def env_float(name, default):
    v = os.environ.get(name, "")
    return float(v) if v.strip() else default


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(float(v)) if v.strip() else default


def fmt_bytes(n):
    if n is None:
        return "n/a"
    for unit, div in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------- config


class Config:
    def __init__(self):
        self.gib = env_float("BENCH_GIB", 2.0)
        default_small = 100000 if self.gib >= 2 else max(2000, int(round(100000 * self.gib / 2 / 1000)) * 1000)
        self.small_files = env_int("BENCH_SMALL_FILES", default_small)
        self.dir = os.path.abspath(os.environ.get("BENCH_DIR") or "/var/tmp/strata-bench")
        self.seed = os.environ.get("BENCH_SEED") or "1"
        self.threads = env_int("BENCH_THREADS", os.cpu_count() or 2)
        self.tools = [t.strip() for t in (os.environ.get("BENCH_TOOLS") or "strata,restic,borg").split(",") if t.strip()]
        self.small_tools = [t.strip() for t in (os.environ.get("BENCH_SMALL_TOOLS") or "strata,restic").split(",")
                            if t.strip()]
        # 0: the whole corpus if it fits in a quarter of the memory, else 1 GiB (see run_speed)
        self.speed_sample = env_int("BENCH_SPEED_SAMPLE_MIB", 0) * MiB
        self.restore_rounds = max(1, env_int("BENCH_RESTORE_ROUNDS", 3))
        self.borg_compression = os.environ.get("BENCH_BORG_COMPRESSION") or "zstd,3"
        self.borg_encryption = os.environ.get("BENCH_BORG_ENCRYPTION") or "repokey-blake2"
        self.strata = os.path.abspath(os.environ.get("STRATA") or os.path.join(REPO_ROOT, "build", "release", "strata"))
        self.testdata = os.path.abspath(os.environ.get("STRATA_TESTDATA") or os.path.join(REPO_ROOT, "..", "shared", "testdata"))
        self.results = os.path.abspath(os.environ.get("BENCH_RESULTS") or os.path.join(BENCH_ROOT, "results", "latest.json"))
        self.keep = os.environ.get("BENCH_KEEP", "0") not in ("", "0", "no", "false")
        self.strict = os.environ.get("BENCH_STRICT", "0") not in ("", "0", "no", "false")
        self.gen_jobs = env_int("BENCH_GEN_JOBS", os.cpu_count() or 2)

    def as_dict(self):
        return dict(self.__dict__)


# --------------------------------------------------------------------------- helpers


def tree_manifest(root):
    """{relative path: (size, sha256)} for every regular file below root, plus symlink/dir info."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                files[rel] = ("symlink", os.readlink(p))
                continue
            h = hashlib.sha256()
            size = 0
            with open(p, "rb") as f:
                while True:
                    b = f.read(4 * MiB)
                    if not b:
                        break
                    h.update(b)
                    size += len(b)
            files[rel] = (size, h.hexdigest())
    return files


def manifest_digest(files):
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(json.dumps([rel, files[rel]]).encode() + b"\n")
    return h.hexdigest()


def read_tree(root):
    """Read every regular file below root once and throw the bytes away; returns seconds taken."""
    t0 = time.monotonic()
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            with open(p, "rb", buffering=0) as f:
                while f.read(4 * MiB):
                    pass
    return time.monotonic() - t0


def drop_caches():
    subprocess.run(["sync"], check=False)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def cpu_busy_seconds():
    """Non-idle CPU time of the whole machine so far (from /proc/stat), in seconds."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    busy = sum(v[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def du_sb(path):
    try:
        out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout
        return int(out.split()[0])
    except (subprocess.CalledProcessError, ValueError, IndexError):
        return None


def tool_version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def parse_json_output(text):
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


# --------------------------------------------------------------------------- tools


class Tool:
    name = "?"
    threads_note = ""

    def __init__(self, bench, repo):
        self.bench = bench
        self.repo = repo

    def env(self):
        e = dict(self.bench.base_env)
        e.update(self.extra_env())
        return e

    def extra_env(self):
        return {}


class Strata(Tool):
    name = "strata"

    def extra_env(self):
        return {"STRATA_PASSWORD": PASSWORD}

    def init(self):
        return [self.bench.cfg.strata, "init", self.repo], None

    def ingest(self, src, dataset):
        return [self.bench.cfg.strata, "-R", self.repo, "ingest", src, "--dataset", dataset,
                "--threads", str(self.bench.cfg.threads), "-q", "--json"], None

    def restore(self, dataset, dest):
        return [self.bench.cfg.strata, "-R", self.repo, "restore", dataset, dest, "-q"], None

    def check(self):
        return [self.bench.cfg.strata, "-R", self.repo, "check", "--read-data", "-q"], None


class Restic(Tool):
    name = "restic"

    def extra_env(self):
        return {"RESTIC_PASSWORD": PASSWORD, "RESTIC_REPOSITORY": self.repo, "GOMAXPROCS": str(self.bench.cfg.threads),
                "RESTIC_CACHE_DIR": os.path.join(self.bench.cfg.dir, "cache", "restic")}

    def init(self):
        return ["restic", "init", "--repository-version", "2", "-q"], None

    def ingest(self, src, dataset):
        return (["restic", "backup", "--compression", "auto", "-q", "--host", "bench", "--tag", dataset,
                 os.path.basename(src)], os.path.dirname(src))

    def restore(self, dataset, dest):
        return ["restic", "restore", "latest", "--target", dest, "-q"], None

    def check(self):
        return ["restic", "check", "--read-data", "-q"], None


class Borg(Tool):
    name = "borg"

    def __init__(self, bench, repo):
        super().__init__(bench, repo)
        self.archives = 0

    def extra_env(self):
        return {"BORG_PASSPHRASE": PASSWORD, "BORG_BASE_DIR": os.path.join(self.bench.cfg.dir, "cache", "borg"),
                "BORG_DISPLAY_PASSPHRASE": "no"}

    def init(self):
        return ["borg", "init", "-e", self.bench.cfg.borg_encryption, self.repo], None

    def ingest(self, src, dataset):
        self.archives += 1
        return (["borg", "create", "--compression", self.bench.cfg.borg_compression,
                 f"{self.repo}::{dataset}-{self.archives}", os.path.basename(src)], os.path.dirname(src))

    def restore(self, dataset, dest):
        return ["borg", "extract", f"{self.repo}::{dataset}-{self.archives}"], dest

    def check(self):
        return ["borg", "check", "--verify-data", self.repo], None


TOOLS = {"strata": Strata, "restic": Restic, "borg": Borg}


# --------------------------------------------------------------------------- bench


class Bench:
    def __init__(self, cfg):
        self.cfg = cfg
        self.failures = []
        self.phases = []
        self.cache_dropped = None
        self.busy_phases = []
        self.base_env = {k: v for k, v in os.environ.items()
                         if not k.startswith(("RESTIC_", "BORG_", "STRATA_", "GOMAXPROCS"))}
        self.base_env["XDG_CACHE_HOME"] = os.path.join(cfg.dir, "cache", "xdg")
        self.base_env["LC_ALL"] = "C"
        self.logdir = os.path.join(cfg.dir, "logs")
        self.repos = os.path.join(cfg.dir, "repos")
        self.restores = os.path.join(cfg.dir, "restore")

    def fail(self, msg):
        self.failures.append(msg)
        loud(msg)

    def timed(self, tool, phase, spec, drop=True, items=None, nbytes=None):
        """Run argv under /usr/bin/time -v; returns the phase record."""
        argv, cwd = spec
        if drop:
            self.cache_dropped = drop_caches()
        label = f"{tool.name}-{phase}"
        base = os.path.join(self.logdir, label)
        busy0 = cpu_busy_seconds()
        t0 = time.monotonic()
        with open(base + ".out", "wb") as out, open(base + ".err", "wb") as err:
            try:
                p = subprocess.run([TIME, "-v", "-o", base + ".time"] + argv, stdout=out, stderr=err,
                                   env=tool.env(), cwd=cwd)
                rc = p.returncode
            except OSError as e:
                err.write(str(e).encode())
                rc = 127
        secs = time.monotonic() - t0
        busy = cpu_busy_seconds() - busy0
        rss = None
        cpu = None
        try:
            with open(base + ".time") as f:
                report = f.read()
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
            rss = int(m.group(1)) * 1024 if m else None
            u = re.search(r"User time \(seconds\): ([\d.]+)", report)
            s = re.search(r"System time \(seconds\): ([\d.]+)", report)
            cpu = float(u.group(1)) + float(s.group(1)) if u and s else None
        except OSError:
            pass
        # CPU used by everything else on the machine while the phase ran, as a share of capacity
        other = max(0.0, busy - cpu) / (secs * (os.cpu_count() or 1)) if cpu is not None and secs > 0 else None
        with open(base + ".out", errors="replace") as f:
            stdout = f.read()
        with open(base + ".err", errors="replace") as f:
            stderr = f.read()
        rec = {"tool": tool.name, "phase": phase, "argv": argv, "cwd": cwd, "rc": rc, "seconds": round(secs, 3),
               "peak_rss_bytes": rss, "cache_dropped": bool(drop and self.cache_dropped),
               "cpu_seconds": cpu, "other_cpu_share": round(other, 3) if other is not None else None}
        if other is not None and other > 0.10 and secs >= 1:
            self.busy_phases.append(label)
        if nbytes is not None:
            rec["bytes"] = nbytes
            rec["mib_per_s"] = round(nbytes / MiB / secs, 2) if secs > 0 else None
        if items is not None:
            rec["files"] = items
            rec["files_per_s"] = round(items / secs, 1) if secs > 0 else None
        rec["stdout_json"] = parse_json_output(stdout) if tool.name == "strata" else None
        self.phases.append(rec)
        rate = ""
        if rec.get("mib_per_s") is not None:
            rate = f"{rec['mib_per_s']:8.1f} MiB/s"
        if rec.get("files_per_s") is not None:
            rate += f" {rec['files_per_s']:9.0f} files/s"
        rss_s = f"{rss / MiB:7.1f} MiB" if rss else "    n/a"
        say(f"  {tool.name:7s} {phase:18s} {secs:8.2f} s {rate:28s} peak RSS {rss_s}  rc={rc}")
        if rc != 0:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            self.fail(f"{tool.name} {phase} failed (exit {rc}): {' '.join(argv[:6])} ...\n{tail}")
            rec["stderr_tail"] = tail
        return rec

    # ------------------------------------------------------------------ corpus

    def prepare(self):
        cfg = self.cfg
        say(f"== corpus ({cfg.gib:g} GiB, seed {cfg.seed}) in {cfg.dir}")
        t0 = time.monotonic()
        self.corpus, self.small = gen_corpus.generate(cfg.dir, cfg.gib, cfg.small_files, cfg.seed, cfg.testdata,
                                                      cfg.gen_jobs, log=lambda m: say("  " + m))
        self.gen_seconds = time.monotonic() - t0
        stamp = open(os.path.join(cfg.dir, "corpus.stamp")).read()
        mpath = os.path.join(cfg.dir, "corpus.manifest.json")
        self.manifest = None
        try:
            with open(mpath) as f:
                m = json.load(f)
            if m.get("stamp") == stamp:
                self.manifest = {k: tuple(v) for k, v in m["files"].items()}
        except (OSError, ValueError, KeyError):
            pass
        if self.manifest is None:
            t1 = time.monotonic()
            self.manifest = tree_manifest(self.corpus)
            with open(mpath, "w") as f:
                json.dump({"stamp": stamp, "files": self.manifest}, f)
            say(f"  hashed corpus for restore verification in {time.monotonic() - t1:.1f}s")
        self.corpus_bytes = sum(v[0] for v in self.manifest.values() if isinstance(v[0], int))
        self.corpus_files = len(self.manifest)
        kinds = {}
        for rel, (size, _) in self.manifest.items():
            k = rel.split(os.sep)[0]
            n, b = kinds.get(k, (0, 0))
            kinds[k] = (n + 1, b + size)
        self.corpus_kinds = {k: {"files": n, "bytes": b} for k, (n, b) in sorted(kinds.items())}
        say(f"  corpus: {self.corpus_files} files, {fmt_bytes(self.corpus_bytes)}")
        for k, v in self.corpus_kinds.items():
            say(f"    {k:11s} {v['files']:7d} files {fmt_bytes(v['bytes']):>12s} "
                f"({100.0 * v['bytes'] / self.corpus_bytes:4.1f}%)")
        self.small_bytes = 0
        if self.small:
            for dirpath, _, names in os.walk(self.small):
                for n in names:
                    self.small_bytes += os.path.getsize(os.path.join(dirpath, n))
            say(f"  small-files tree: {cfg.small_files} files, {fmt_bytes(self.small_bytes)}")

    # ------------------------------------------------------------------ verification

    def verify(self, tool, dest):
        """Compare the restored tree with the corpus manifest; loud on any difference."""
        name = os.path.basename(self.corpus)
        candidates = [os.path.join(dest, name), os.path.join(dest, self.corpus.lstrip("/"))]
        root = next((c for c in candidates if os.path.isdir(c)), None)
        if root is None:
            for dirpath, dirnames, _ in os.walk(dest):
                if name in dirnames:
                    root = os.path.join(dirpath, name)
                    break
        if root is None:
            self.fail(f"RESTORE MISMATCH ({tool.name}): no '{name}' directory found under {dest}")
            return {"ok": False, "reason": "corpus directory not found"}
        t0 = time.monotonic()
        got = tree_manifest(root)
        missing = sorted(set(self.manifest) - set(got))
        extra = sorted(set(got) - set(self.manifest))
        differ = sorted(k for k in set(got) & set(self.manifest) if tuple(got[k]) != tuple(self.manifest[k]))
        ok = not (missing or extra or differ)
        res = {"ok": ok, "files": len(got), "missing": len(missing), "extra": len(extra), "differ": len(differ),
               "digest": manifest_digest(got), "seconds": round(time.monotonic() - t0, 2)}
        if ok:
            say(f"  {tool.name:7s} restore verified byte-exact: {len(got)} files, sha256 manifest "
                f"{res['digest'][:16]}… ({res['seconds']}s)")
        else:
            examples = [f"missing {p}" for p in missing[:5]] + [f"extra {p}" for p in extra[:5]] + \
                       [f"differs {p}" for p in differ[:5]]
            res["examples"] = examples
            self.fail(f"RESTORE MISMATCH ({tool.name}): {len(missing)} missing, {len(extra)} extra, "
                      f"{len(differ)} differing files\n" + "\n".join(examples))
        return res

    # ------------------------------------------------------------------ phases

    def available(self, name):
        if name == "strata":
            ok = os.path.isfile(self.cfg.strata) and os.access(self.cfg.strata, os.X_OK)
            if not ok:
                self.fail(f"strata binary not found at {self.cfg.strata}: strata phases skipped")
            return ok
        ok = shutil.which(name) is not None
        if not ok:
            self.fail(f"{name} not installed: its phases are skipped")
        return ok

    def run_tool(self, name):
        tool = TOOLS[name](self, os.path.join(self.repos, name))
        say(f"== {name}")
        r = {"tool": name}
        rec = self.timed(tool, "init", tool.init(), drop=False)
        if rec["rc"] != 0:
            return r
        b = self.corpus_bytes
        r["ingest1"] = self.timed(tool, "ingest-first", tool.ingest(self.corpus, "bench"), nbytes=b)
        if r["ingest1"]["rc"] != 0:
            return r
        r["ingest2"] = self.timed(tool, "ingest-unchanged", tool.ingest(self.corpus, "bench"), nbytes=b)
        if name == "strata":
            self.check_strata_ingest(r["ingest1"], r["ingest2"])
        r["stored_bytes"] = du_sb(tool.repo)
        say(f"  {name:7s} repository size (du -sb): {r['stored_bytes']} bytes = {fmt_bytes(r['stored_bytes'])} "
            f"({100.0 * r['stored_bytes'] / b:.1f}% of corpus)")
        dest = os.path.join(self.restores, name)
        # Restores are timed BENCH_RESTORE_ROUNDS times, each from a cold cache into an empty directory, and
        # the median counts: on a shared VM one restore's time varies by half from run to run. The first round
        # is checked byte for byte; the peak RSS is the highest of all rounds.
        # ext4 will not reuse an inode freed in the last 5 s, or in the last 300 s once the inode's table
        # block is dirty again (recently_deleted): a restore started within minutes of deleting a tree of
        # thousands of files scans past those inodes for every file it creates (10-20% of strata's restore
        # CPU). So every round restores into a directory of its own and all of them are deleted at the end
        # of the run, when the disk has room for that; otherwise each is deleted at once.
        rounds = []
        for i in range(self.cfg.restore_rounds):
            phase = "restore" if i == 0 else f"restore-r{i + 1}"
            out = dest if i == 0 else f"{dest}-r{i + 1}"
            if name == "borg":  # borg extracts into its working directory
                os.makedirs(out, exist_ok=True)
            rec = self.timed(tool, phase, tool.restore("bench", out), nbytes=b)
            rounds.append(rec)
            if i == 0:
                r["verify"] = self.verify(tool, out) if rec["rc"] == 0 else {"ok": False,
                                                                              "reason": "restore failed"}
            if self.keep_restores:
                self.kept.append(out)
            else:
                shutil.rmtree(out, ignore_errors=True)
                time.sleep(6)  # past the 5 s window at least
            if rec["rc"] != 0:
                break
        ok = [x for x in rounds if x["rc"] == 0]
        if len(ok) == len(rounds) and len(ok) > 1:
            med = dict(sorted(ok, key=lambda x: x["seconds"])[len(ok) // 2])
            med["rounds_seconds"] = [x["seconds"] for x in rounds]
            rss = [x["peak_rss_bytes"] for x in ok if x.get("peak_rss_bytes")]
            med["peak_rss_bytes"] = max(rss) if rss else None
            say(f"  {name:7s} restore: median of {len(ok)} rounds {med['seconds']:.2f} s "
                f"({', '.join(f'{x:.2f}' for x in med['rounds_seconds'])})")
            r["restore"] = med
        else:
            r["restore"] = rounds[-1]
        # proving the repository intact: every stored byte read and verified (not a target; the issue's
        # "why" asks for it faster than restic or borg). Rated over the corpus size, like the restores.
        r["check"] = self.timed(tool, "check-read-data", tool.check(), nbytes=b)
        return r

    def check_strata_ingest(self, first, second):
        """Cross-check strata's --json ingest summaries against the corpus (contract fields)."""
        keys = ["dataset", "version", "snapshot", "files", "dirs", "symlinks", "files_unchanged", "bytes_read",
                "bytes_total", "bytes_new", "bytes_stored", "errors", "skipped", "seconds"]
        for rec, label in ((first, "first"), (second, "unchanged")):
            j = rec.get("stdout_json")
            if not isinstance(j, dict):
                loud(f"strata ingest ({label}) printed no JSON object on stdout (contract: --json summary)")
                continue
            missing = [k for k in keys if k not in j]
            if missing:
                loud(f"strata ingest ({label}) JSON lacks contract fields: {missing}")
            if j.get("files") != self.corpus_files:
                loud(f"strata ingest ({label}) reports files={j.get('files')}, corpus has {self.corpus_files}")
            if j.get("bytes_total") not in (None, self.corpus_bytes):
                loud(f"strata ingest ({label}) reports bytes_total={j.get('bytes_total')}, "
                     f"corpus has {self.corpus_bytes}")
            if label == "unchanged" and j.get("files_unchanged") != self.corpus_files:
                loud(f"strata unchanged re-ingest: files_unchanged={j.get('files_unchanged')} "
                     f"(expected {self.corpus_files}), bytes_read={j.get('bytes_read')}")

    def run_small(self, name):
        tool = TOOLS[name](self, os.path.join(self.repos, name + "-small"))
        rec = self.timed(tool, "small-init", tool.init(), drop=False)
        if rec["rc"] != 0:
            return None
        return self.timed(tool, "small-ingest", tool.ingest(self.small, "small"), items=self.cfg.small_files,
                          nbytes=self.small_bytes)

    def run_speed(self):
        # The target compares the ingest with the same bytes in memory, so the whole corpus when it fits:
        # a sample of whole files drawn until 1 GiB was mostly DICOM, which compresses and so runs
        # slower than the corpus's mix (507-543 MiB/s against 609 over the whole 2 GiB corpus).
        cap = self.cfg.speed_sample
        if not cap:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            cap = self.corpus_bytes if self.corpus_bytes <= ram // 4 else 1024 * MiB
        rng = random.Random(f"speed-sample/{self.cfg.seed}")
        paths = sorted(self.manifest)
        rng.shuffle(paths)
        sample, total = [], 0
        for rel in paths:
            size = self.manifest[rel][0]
            if total + size <= cap:
                sample.append(os.path.join(self.corpus, rel))
                total += size
        if not sample:
            sample, total = [os.path.join(self.corpus, paths[0])], self.manifest[paths[0]][0]
        say(f"== strata debug speed over a {fmt_bytes(total)} sample ({len(sample)} files, "
            f"--threads {self.cfg.threads})")
        tool = Strata(self, None)
        # --max-mib: debug speed stops reading 1 MiB short of its cap (1024 by default)
        max_mib = str(total // MiB + 2)
        rec = self.timed(tool, "debug-speed", ([self.cfg.strata, "debug", "speed"] + sample +
                                               ["--threads", str(self.cfg.threads), "--max-mib", max_mib,
                                                "--json"], None), drop=False)
        j = rec.get("stdout_json")
        if rec["rc"] == 0 and not (isinstance(j, dict) and isinstance(j.get("mib_per_s"), (int, float))):
            self.fail("strata debug speed --json printed no {\"mib_per_s\":...} object")
            return None
        if isinstance(j, dict) and j.get("bytes") not in (None, total):
            loud(f"strata debug speed reports bytes={j.get('bytes')}, sample has {total}")
        rec["sample_bytes"] = total
        rec["sample_files"] = len(sample)
        if isinstance(j, dict):
            say(f"  strata  debug speed: {j.get('mib_per_s')} MiB/s ({j.get('threads')} threads, "
                f"{j.get('bytes')} bytes in {j.get('seconds')} s)")
        return rec

    # ------------------------------------------------------------------ main

    def run(self):
        cfg = self.cfg
        started = time.monotonic()
        for d in ("repos", "restore", "cache", "logs"):
            shutil.rmtree(os.path.join(cfg.dir, d), ignore_errors=True)
        os.makedirs(cfg.dir, exist_ok=True)
        for d in (self.repos, self.restores, self.logdir, os.path.join(cfg.dir, "cache")):
            os.makedirs(d, exist_ok=True)

        say("== strata benchmark")
        self.start_load = os.getloadavg()
        if self.start_load[0] > 1.0:
            loud(f"machine is busy (load average {self.start_load[0]:.2f} {self.start_load[1]:.2f} "
                 f"{self.start_load[2]:.2f} before the benchmark started): timings will be noisy")
        say(f"  host: {platform.node()} {platform.platform()}, {os.cpu_count()} CPUs, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / (1 << 30):.1f} GiB RAM")
        self.versions = {
            "strata": self.cfg.strata if os.path.exists(self.cfg.strata) else None,
            "restic": tool_version(["restic", "version"]),
            "borg": tool_version(["borg", "--version"]),
        }
        say(f"  strata: {self.versions['strata'] or 'MISSING (' + cfg.strata + ')'}")
        say(f"  restic: {self.versions['restic']}  (repo v2, --compression auto, AES-256-CTR+Poly1305, "
            f"GOMAXPROCS={cfg.threads})")
        say(f"  borg:   {self.versions['borg']}  (-e {cfg.borg_encryption}, --compression {cfg.borg_compression}, "
            f"single-threaded by design)")
        self.prepare()
        need = (self.corpus_bytes * 1.1 * cfg.restore_rounds * len(cfg.tools) + 4 * (1 << 30))
        free = shutil.disk_usage(self.restores).free
        self.keep_restores, self.kept = free > need, []
        if not self.keep_restores:
            say(f"  restores: {fmt_bytes(free)} free, {fmt_bytes(need)} needed to keep every round until the end: "
                "each round's tree is deleted at once and the next waits 6 s")
        self.cache_dropped = drop_caches()
        if self.cache_dropped:
            say("  page cache: dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every timed phase, "
                "so every tool reads the corpus / its repository cold")
        else:
            say("  page cache: COULD NOT be dropped (not root?): read speeds below may be warm-cache figures")

        # The page cache of this machine is dropped before every timed phase, but a VM's disk has a
        # cache of its own on the host, out of reach. Without this read the first tool to read a tree
        # (strata, always) paid for filling it: 5.9 s against 3.3 s for the next reader of the corpus
        # (measured 2026-11-26). Read once here, every tool starts from the same state.
        say(f"  host cache: corpus read once, untimed ({read_tree(self.corpus):.1f}s), so that every tool "
            "finds the host's cache of the VM's disk in the same state")
        results = {}
        for name in cfg.tools:
            if name not in TOOLS:
                loud(f"unknown tool in BENCH_TOOLS: {name}")
                continue
            if self.available(name):
                results[name] = self.run_tool(name)
        small = {}
        if self.small:
            say(f"== small files: {cfg.small_files} files, {fmt_bytes(self.small_bytes)}")
            say(f"  host cache: small-files tree read once, untimed ({read_tree(self.small):.1f}s)")
            for name in cfg.small_tools:
                if name in TOOLS and name in results:
                    small[name] = self.run_small(name)
        speed = self.run_speed() if "strata" in results and "ingest1" in results["strata"] else None
        for out in self.kept:
            shutil.rmtree(out, ignore_errors=True)
        if not cfg.keep:
            shutil.rmtree(self.repos, ignore_errors=True)
            shutil.rmtree(os.path.join(cfg.dir, "cache"), ignore_errors=True)
        total = time.monotonic() - started
        metrics = self.metrics(results, small, speed)
        self.print_tables(results, small, metrics)
        self.write_json(results, small, speed, metrics, total)
        say(f"\nbenchmark finished in {total / 60:.1f} min; results in {cfg.results}")
        if self.failures:
            loud(f"{len(self.failures)} failure(s): " + " | ".join(f.splitlines()[0] for f in self.failures))
            return 1
        if cfg.strict and any(m["status"] == "MISS" for m in metrics):
            say("BENCH_STRICT=1 and some targets were missed")
            return 1
        return 0

    # ------------------------------------------------------------------ reporting

    def metrics(self, results, small, speed):
        def get(tool, phase, key):
            rec = results.get(tool, {}).get(phase)
            if not isinstance(rec, dict) or rec.get("rc") != 0:
                return None
            return rec.get(key)

        rows = []

        def row(metric, value, unit, target=None, ok=None, fmt="{:.2f}"):
            if value is None:
                status = "N/A"
                shown = "n/a"
            else:
                shown = fmt.format(value)
                status = "INFO" if ok is None else ("PASS" if ok else "MISS")
            rows.append({"metric": metric, "value": value, "shown": shown, "unit": unit, "target": target or "",
                         "status": status})

        def ratio(a, b):
            return a / b if a is not None and b else None

        for t in ("strata", "restic", "borg"):
            row(f"first ingest throughput: {t}", get(t, "ingest1", "mib_per_s"), "MiB/s", fmt="{:.1f}")
        s1 = get("strata", "ingest1", "mib_per_s")
        r = ratio(s1, get("restic", "ingest1", "mib_per_s"))
        row("first ingest: strata / restic", r, "x", ">= 2.0", r is not None and r >= 2.0)
        r = ratio(s1, get("borg", "ingest1", "mib_per_s"))
        row("first ingest: strata / borg", r, "x", ">= 3.0", r is not None and r >= 3.0)
        for t in ("strata", "restic", "borg"):
            sp = ratio(get(t, "ingest1", "seconds"), get(t, "ingest2", "seconds"))
            if t == "strata":
                row(f"unchanged re-ingest speed-up: {t}", sp, "x", ">= 10", sp is not None and sp >= 10, "{:.1f}")
            else:
                row(f"unchanged re-ingest speed-up: {t}", sp, "x", fmt="{:.1f}")
        for t in ("strata", "restic", "borg"):
            row(f"restore throughput: {t}", get(t, "restore", "mib_per_s"), "MiB/s", fmt="{:.1f}")
        r = ratio(get("strata", "restore", "mib_per_s"), get("restic", "restore", "mib_per_s"))
        row("restore: strata / restic", r, "x", ">= 2.0", r is not None and r >= 2.0)
        r = ratio(get("strata", "restore", "mib_per_s"), get("borg", "restore", "mib_per_s"))
        row("restore: strata / borg", r, "x")
        for t in ("strata", "restic", "borg"):
            row(f"check, all data read: {t}", get(t, "check", "seconds"), "s", fmt="{:.2f}")
        sc = get("strata", "check", "seconds")
        row("check: restic / strata time", ratio(get("restic", "check", "seconds"), sc), "x")
        row("check: borg / strata time", ratio(get("borg", "check", "seconds"), sc), "x")
        n = self.cfg.small_files
        for t in ("strata", "restic", "borg"):
            rec = small.get(t)
            v = rec.get("files_per_s") if rec and rec.get("rc") == 0 else None
            if t == "strata":
                row(f"small files ({n}) ingest: {t}", v, "files/s", ">= 10000", v is not None and v >= 10000, "{:.0f}")
            elif t in small:
                row(f"small files ({n}) ingest: {t}", v, "files/s", fmt="{:.0f}")
        for t in ("strata", "restic", "borg"):
            v = results.get(t, {}).get("stored_bytes")
            row(f"stored bytes (du -sb): {t}", v, "bytes", fmt="{:d}")
        sb = results.get("strata", {}).get("stored_bytes")
        row("stored bytes: strata / restic", ratio(sb, results.get("restic", {}).get("stored_bytes")), "x", fmt="{:.3f}")
        row("stored bytes: strata / borg", ratio(sb, results.get("borg", {}).get("stored_bytes")), "x", fmt="{:.3f}")
        sj = speed.get("stdout_json") if speed and speed.get("rc") == 0 else None
        dbg = sj.get("mib_per_s") if isinstance(sj, dict) else None
        row("strata debug speed (in-memory)", dbg, "MiB/s", fmt="{:.1f}")
        frac = ratio(s1, dbg)
        row("strata ingest / debug speed", frac, "fraction", ">= 0.70", frac is not None and frac >= 0.70)

        def peak(t):
            recs = [results.get(t, {}).get(p) for p in ("ingest1", "ingest2", "restore")] + [small.get(t)]
            vals = [x["peak_rss_bytes"] for x in recs if isinstance(x, dict) and x.get("peak_rss_bytes")]
            return max(vals) if vals else None

        for t in ("strata", "restic", "borg"):
            v = peak(t)
            row(f"peak RSS (ingest/restore/small): {t}", v / MiB if v else None, "MiB", fmt="{:.1f}")
        ps, pr = peak("strata"), peak("restic")
        row("peak RSS: strata / restic", ratio(ps, pr), "x", "<= 1.0", ps is not None and pr is not None and ps <= pr,
            "{:.2f}")
        row("peak RSS: strata", ps / MiB if ps else None, "MiB", "< 512", ps is not None and ps < 512 * MiB, "{:.1f}")
        for t in ("strata", "restic", "borg"):
            if t in results:
                v = results[t].get("verify")
                ok = bool(v and v.get("ok"))
                rows.append({"metric": f"restore byte-exact: {t}", "value": ok, "shown": "yes" if ok else "NO",
                             "unit": "", "target": "yes", "status": "PASS" if ok else "FAIL"})
        return rows

    def print_tables(self, results, small, metrics):
        say("\n== phases (wall clock incl. process start; peak RSS from /usr/bin/time -v; "
            "cpu s = the tool's user+sys time; other = CPU used by other processes during the phase, "
            "as a share of the machine)")
        say(f"  {'tool':7s} {'phase':18s} {'seconds':>9s} {'MiB/s':>9s} {'files/s':>10s} {'peak RSS MiB':>13s} "
            f"{'cold cache':>10s} {'cpu s':>7s} {'other':>6s} rc")

        def num(v, spec, suffix=""):
            return "-" if v is None else format(v, spec) + suffix

        for p in self.phases:
            rss = p.get("peak_rss_bytes")
            other = p.get("other_cpu_share")
            say(f"  {p['tool']:7s} {p['phase']:18s} {p['seconds']:9.2f} {num(p.get('mib_per_s'), '.1f'):>9s} "
                f"{num(p.get('files_per_s'), '.0f'):>10s} {num(rss / MiB if rss else None, '.1f'):>13s} "
                f"{'yes' if p.get('cache_dropped') else 'no':>10s} {num(p.get('cpu_seconds'), '.1f'):>7s} "
                f"{num(100 * other if other is not None else None, '.0f', '%'):>6s} {p['rc']}")
        if self.busy_phases:
            loud("other processes used more than 10% of the CPUs during: " + ", ".join(self.busy_phases) +
                 " -- those timings are not reliable")
        say("\n== results")
        w = max(len(m["metric"]) for m in metrics)
        say(f"  {'metric':{w}s} {'value':>16s} {'unit':9s} {'target':9s} result")
        say("  " + "-" * (w + 46))
        for m in metrics:
            say(f"  {m['metric']:{w}s} {m['shown']:>16s} {m['unit']:9s} {m['target']:9s} {m['status']}")

    def write_json(self, results, small, speed, metrics, total):
        cfg = self.cfg
        os.makedirs(os.path.dirname(cfg.results), exist_ok=True)
        doc = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": {"node": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "config": cfg.as_dict(),
            "versions": self.versions,
            "peers": {
                "restic": "repository v2, --compression auto, GOMAXPROCS=%d" % cfg.threads,
                "borg": f"borg init -e {cfg.borg_encryption}; borg create --compression {cfg.borg_compression}",
                "strata": "strata init; ingest --threads %d -q --json; restore -q" % cfg.threads,
            },
            "page_cache_dropped": bool(self.cache_dropped),
            "loadavg_at_start": [round(x, 2) for x in self.start_load],
            "busy_phases": self.busy_phases,
            "corpus": {"path": self.corpus, "files": self.corpus_files, "bytes": self.corpus_bytes,
                       "by_top_dir": self.corpus_kinds, "generate_seconds": round(self.gen_seconds, 1),
                       "manifest_sha256": manifest_digest(self.manifest)},
            "small_files": {"path": self.small, "files": cfg.small_files, "bytes": self.small_bytes},
            "phases": self.phases,
            "tools": results,
            "speed": speed,
            "metrics": [{k: v for k, v in m.items() if k != "shown"} for m in metrics],
            "failures": self.failures,
            "total_seconds": round(total, 1),
        }
        tmp = cfg.results + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        os.replace(tmp, cfg.results)


def main():
    cfg = Config()
    if not os.path.isdir(os.path.join(cfg.testdata, "dicom")):
        say(f"test data not found: {cfg.testdata}/dicom (set STRATA_TESTDATA)")
        return 2
    return Bench(cfg).run()


if __name__ == "__main__":
    sys.exit(main())
