#!/usr/bin/env python3
"""Timing driver of the pod-start benchmark (bench/pod-start/run.sh starts the servers and calls this).

  driver.py skiff  --kubeconfig K --server-pid PID --skiff-exe EXE --count N --out skiff.json
  driver.py podman --podman "podman --root …" --manifests DIR --count N --out podman.json
  driver.py floor  --count N --out floor.json
  driver.py report DIR --md FILE     (reads DIR/{skiff,podman,floor}.json, prints the table, writes FILE)

Times are taken with time.monotonic() on this side of the API: a skiff pod's start is the moment before its create
request is sent, its end the arrival of the watch event that shows phase Running (and Ready). Every pod is busybox
`sleep 3600`, image present.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time

import yaml

LABEL = "bench=pod-start"
IMAGE = "docker.io/library/busybox:1.36"


def pod_manifest(name):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "pod-start"}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "sleep", "image": IMAGE, "command": ["sleep", "3600"]}],
        },
    }


def percentile(xs, p):
    """Nearest-rank percentile (p99 of 50 samples is the largest one)."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))
    return xs[int(k)]


def stats(xs):
    return {"p50": percentile(xs, 50), "p99": percentile(xs, 99), "min": min(xs), "max": max(xs), "n": len(xs)}


# ---------------------------------------------------------------- memory

def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def proc_mem(pid):
    """(RSS kB, PSS kB) of a process, or None when it is gone."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        return None
    if rss is None or pss is None:
        return None
    return rss, pss


def cpu_times():
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def busy_since(start):
    b, t = cpu_times()
    return (b - start[0]) / max(1, t - start[1])


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def group_mem(pids):
    rss = pss = n = 0
    for pid in pids:
        m = proc_mem(pid)
        if m:
            rss, pss, n = rss + m[0], pss + m[1], n + 1
    return {"count": n, "rss_kb": rss, "pss_kb": pss}


def children_of(parents):
    parents = set(parents)
    return [p for p in all_pids() if proc_ppid(p) in parents]


# ---------------------------------------------------------------- skiff

class Watcher:
    """Follows the bench pods and their events with raw watches; records when each state was first seen."""

    def __init__(self, api, ns):
        self.api, self.ns = api, ns
        self.lock = threading.Condition()
        self.pods = {}  # name -> {"scheduled": t, "running": t, "ready": t, "deleted": t, "status": t}
        self.events = {}  # (pod name, reason) -> t
        self.stop = False
        for target in (self._watch_pods, self._watch_events):
            threading.Thread(target=target, daemon=True).start()

    def _stream(self, list_fn, handle, **kw):
        from kubernetes.watch.watch import iter_resp_lines

        rv = list_fn(self.ns, **kw).metadata.resource_version
        while not self.stop:
            resp = list_fn(self.ns, watch=True, resource_version=rv, timeout_seconds=3600,
                           allow_watch_bookmarks=False, _preload_content=False, **kw)
            for line in iter_resp_lines(resp):
                t = time.monotonic()
                ev = json.loads(line)
                obj = ev.get("object", {})
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if ev.get("type") == "ERROR":
                    rv = list_fn(self.ns, **kw).metadata.resource_version
                    break
                with self.lock:
                    handle(t, ev["type"], obj)
                    self.lock.notify_all()

    def _watch_pods(self):
        self._stream(self.api.list_namespaced_pod, self._on_pod, label_selector=LABEL)

    def _watch_events(self):
        self._stream(self.api.list_namespaced_event, self._on_event)

    def _on_pod(self, t, kind, pod):
        name = pod["metadata"]["name"]
        rec = self.pods.setdefault(name, {})
        rec.setdefault("added", t)
        if kind == "DELETED":
            rec["deleted"] = t
            return
        status = pod.get("status") or {}
        if pod.get("spec", {}).get("nodeName"):
            rec.setdefault("scheduled", t)
        if status.get("containerStatuses") and "status" not in rec:
            rec["status"] = t  # the agent's first status write
        if status.get("phase") == "Running":
            rec.setdefault("running", t)
        for c in status.get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") == "True":
                rec.setdefault("ready", t)

    def _on_event(self, t, kind, ev):
        io = ev.get("involvedObject") or {}
        if io.get("kind") == "Pod" and kind == "ADDED":
            self.events.setdefault((io.get("name"), ev.get("reason")), t)

    def wait(self, names, key, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not all(key in self.pods.get(n, {}) for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if key not in self.pods.get(n, {})]
                    raise TimeoutError(f"{len(missing)} pods never reached {key}: {missing[:5]}")
                self.lock.wait(left)


def skiff_memory(server_pid, skiff_exe):
    exe = os.path.realpath(skiff_exe)
    shims = []
    for pid in all_pids():
        argv = proc_cmdline(pid)
        if argv and "shim" in argv[1:3]:
            try:
                if os.path.realpath(f"/proc/{pid}/exe") == exe:
                    shims.append(pid)
            except OSError:
                pass
    containers = [p for p in children_of(shims) if os.path.realpath(f"/proc/{p}/exe") != exe]
    m = proc_mem(server_pid)
    return {
        "server": {"rss_kb": m[0], "pss_kb": m[1]},
        "shims": group_mem(shims),
        "containers": group_mem(containers),
    }


def run_skiff(args):
    from kubernetes import client, config

    config.load_kube_config(config_file=args.kubeconfig)
    conf = client.Configuration.get_default_copy()
    conf.connection_pool_maxsize = 32
    api = client.CoreV1Api(client.ApiClient(conf))
    ns = "default"
    w = Watcher(api, ns)
    time.sleep(0.5)  # let both watches start
    out = {"count": args.count}

    def create(name):
        t0 = time.monotonic()
        api.create_namespaced_pod(ns, pod_manifest(name), _preload_content=False).read()
        return t0

    def delete_all(names):
        t0 = time.monotonic()
        api.delete_collection_namespaced_pod(ns, label_selector=LABEL, _preload_content=False).read()
        w.wait(names, "deleted", 300)
        return time.monotonic() - t0

    # warm-up: pulls the image and starts the first sandbox, so that the runs below measure "image present"
    t0 = create("warmup")
    w.wait(["warmup"], "running", 300)
    out["warmup_s"] = w.pods["warmup"]["running"] - t0
    print(f"  skiff warm-up pod (image pull included): {out['warmup_s']*1e3:.0f} ms", file=sys.stderr)
    delete_all(["warmup"])
    time.sleep(2)
    out["memory_idle"] = skiff_memory(args.server_pid, args.skiff_exe)

    # one at a time
    names = [f"serial-{i}" for i in range(args.count)]
    starts = {}
    for n in names:
        starts[n] = create(n)
        w.wait([n], "running", 60)
        time.sleep(0.1)
    w.wait(names, "ready", 60)
    out["serial"] = per_pod(w, starts)
    print(f"  skiff one at a time: p50 {out['serial']['running']['p50']*1e3:.0f} ms", file=sys.stderr)
    time.sleep(3)
    out["memory_serial"] = skiff_memory(args.server_pid, args.skiff_exe)
    out["delete_serial_s"] = delete_all(names)
    time.sleep(2)

    # burst: all creates at once from a pool of clients
    names = [f"burst-{i}" for i in range(args.count)]
    cpu0 = cpu_times()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        starts = dict(zip(names, pool.map(create, names)))
    created_all = time.monotonic()
    w.wait(names, "running", 300)
    busy = busy_since(cpu0)
    w.wait(names, "ready", 60)
    out["burst"] = per_pod(w, starts)
    out["burst"]["cpu_busy"] = busy
    first = min(starts.values())
    out["burst"]["creates_s"] = created_all - first
    out["burst"]["total_s"] = max(w.pods[n]["running"] for n in names) - first
    print(f"  skiff burst: all {args.count} running after {out['burst']['total_s']*1e3:.0f} ms", file=sys.stderr)
    time.sleep(3)
    out["memory_burst"] = skiff_memory(args.server_pid, args.skiff_exe)
    out["delete_burst_s"] = delete_all(names)
    w.stop = True
    json.dump(out, open(args.out, "w"), indent=1)


def per_pod(w, starts):
    """create→Running and create→Ready per pod, and the median time of each step in between."""
    res = {"running": [], "ready": []}
    steps, raw = {}, {}
    first = min(starts.values())
    for name, t0 in starts.items():
        rec = w.pods[name]
        res["running"].append(rec["running"] - t0)
        res["ready"].append(rec["ready"] - t0)
        marks = [("created", t0), ("scheduled (nodeName seen)", rec.get("scheduled"))]
        for reason in ("Scheduled", "Pulled", "Created", "Started"):
            marks.append((f"event {reason}", w.events.get((name, reason))))
        marks.append(("Running seen", rec["running"]))
        marks = [(k, v) for k, v in marks if v is not None]
        raw[name] = {k: round(v - first, 4) for k, v in marks}
        for (a, ta), (b, tb) in zip(marks, marks[1:]):
            steps.setdefault(f"{a} → {b}", []).append(tb - ta)
    out = {"running": stats(res["running"]), "ready": stats(res["ready"]), "samples": res["running"]}
    out["steps"] = {k: {"p50": percentile(v, 50), "n": len(v)} for k, v in steps.items()}
    out["marks"] = raw  # seconds since the first create of the run
    return out


# ---------------------------------------------------------------- podman

def run_podman(args):
    podman = shlex.split(args.podman)
    out = {"count": args.count}

    def play(name):
        t0 = time.monotonic()
        r = subprocess.run(podman + ["kube", "play", os.path.join(args.manifests, f"{name}.yaml")],
                           capture_output=True, text=True)
        t1 = time.monotonic()
        if r.returncode != 0:
            raise RuntimeError(f"podman kube play {name}: {r.stderr.strip()}")
        return t0, t1

    def rm_all():
        t0 = time.monotonic()
        subprocess.run(podman + ["pod", "rm", "-a", "-f", "-t", "1"], check=True, capture_output=True)
        return time.monotonic() - t0

    def running_count():
        r = subprocess.run(podman + ["ps", "--filter", "status=running", "--format", "{{.Names}}"],
                           capture_output=True, text=True, check=True)
        return sum(1 for name in r.stdout.split() if name.endswith("-sleep"))

    t0, t1 = play("warmup")  # builds podman's pause image on the first run
    out["warmup_s"] = t1 - t0
    print(f"  podman warm-up pod: {out['warmup_s']*1e3:.0f} ms", file=sys.stderr)
    rm_all()
    time.sleep(1)
    idle = podman_memory(args.podman_root)

    names = [f"serial-{i}" for i in range(args.count)]
    times = []
    for n in names:
        t0, t1 = play(n)
        times.append(t1 - t0)
        time.sleep(0.1)
    out["serial"] = {"running": stats(times), "samples": times, "running_after": running_count()}
    print(f"  podman one at a time: p50 {out['serial']['running']['p50']*1e3:.0f} ms", file=sys.stderr)
    time.sleep(3)
    out["memory_idle"] = idle
    out["memory_serial"] = podman_memory(args.podman_root)
    out["delete_serial_s"] = rm_all()
    time.sleep(2)

    names = [f"burst-{i}" for i in range(args.count)]
    cpu0 = cpu_times()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.count) as pool:
        spans = list(pool.map(play, names))
    busy = busy_since(cpu0)
    first = min(s for s, _ in spans)
    times = [e - s for s, e in spans]
    out["burst"] = {"running": stats(times), "samples": times, "total_s": max(e for _, e in spans) - first,
                    "running_after": running_count(), "cpu_busy": busy}
    print(f"  podman burst: all {args.count} started after {out['burst']['total_s']*1e3:.0f} ms", file=sys.stderr)
    time.sleep(3)
    out["memory_burst"] = podman_memory(args.podman_root)
    out["delete_burst_s"] = rm_all()
    json.dump(out, open(args.out, "w"), indent=1)


def podman_memory(root):
    """conmon processes of our podman root, the pods' infra processes (catatonit) and the containers (sleep)."""
    conmons = [p for p in all_pids()
               if (argv := proc_cmdline(p)) and os.path.basename(argv[0]) == "conmon" and any(root in a for a in argv)]
    kids = children_of(conmons)
    infra = [p for p in kids if "catatonit" in " ".join(proc_cmdline(p))]
    containers = [p for p in kids if p not in infra]
    return {"conmon": group_mem(conmons), "infra": group_mem(infra), "containers": group_mem(containers)}


# ---------------------------------------------------------------- floor

def run_floor(args):
    """By hand, the least a pod start needs: a netns, a veth pair into it, `true` in new pid/mount/uts/ipc namespaces
    joined to that netns."""
    tag = f"{os.getpid() % 100000}"
    times = []

    def sh(*cmd):
        subprocess.run(cmd, check=True)

    try:
        for i in range(args.count):
            ns, host = f"skbfloor-{tag}-{i}", f"vskbf{tag}x{i}"
            t0 = time.monotonic()
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "netns", "exec", ns, "unshare", "--pid", "--mount", "--uts", "--ipc", "--fork", "true")
            times.append(time.monotonic() - t0)
            sh("ip", "link", "del", host)
            sh("ip", "netns", "del", ns)
            time.sleep(0.05)
    finally:
        for i in range(args.count):
            subprocess.run(["ip", "netns", "del", f"skbfloor-{tag}-{i}"], capture_output=True)
    json.dump({"count": args.count, "serial": {"running": stats(times), "samples": times}}, open(args.out, "w"),
              indent=1)
    print(f"  raw floor: p50 {percentile(times, 50)*1e3:.1f} ms", file=sys.stderr)


# ---------------------------------------------------------------- report

def ms(s):
    return f"{s*1e3:.0f} ms" if s >= 0.1 else f"{s*1e3:.1f} ms"


def mb(kb):
    return f"{kb/1024:.1f} MB"


def ratio(a, b):
    return f"{a/b:.2f}×" if b else "n/a"


def report(args):
    d = args.dir
    load = lambda n: json.load(open(os.path.join(d, f"{n}.json"))) if os.path.exists(os.path.join(d, f"{n}.json")) else None
    sk, pm, fl = load("skiff"), load("podman"), load("floor")
    n = (sk or pm or fl)["count"]
    L = []
    meta = json.load(open(os.path.join(d, "meta.json"))) if os.path.exists(os.path.join(d, "meta.json")) else {}
    L.append(f"# Pod start: skiff vs podman vs the raw floor ({datetime.date.today().isoformat()})")
    L.append("")
    L.append(f"{meta.get('host', platform.node())}: {os.cpu_count()} cores, Linux {platform.release()}; "
             f"load average at the start {meta.get('load', '?')} (the machine is shared); "
             f"skiff {meta.get('skiff', '?')}; {meta.get('podman', 'podman ?')}, runc, CNI bridge network. "
             f"{n} pods of busybox `sleep 3600`, image present; times from the create request (skiff: the watch "
             f"event showing phase Running; podman: `podman kube play` returning; floor: `true` exited). "
             f"p99 of {n} samples = the slowest one. Produced by `bench/pod-start/run.sh`.")
    L.append("")
    L.append("| what | p50 | p99 | all running |")
    L.append("|---|---|---|---|")
    if sk:
        L.append(f"| skiff, one at a time (create → Running) | {ms(sk['serial']['running']['p50'])} | {ms(sk['serial']['running']['p99'])} | |")
        L.append(f"| skiff, burst of {n} (each create → Running) | {ms(sk['burst']['running']['p50'])} | {ms(sk['burst']['running']['p99'])} | {ms(sk['burst']['total_s'])} |")
    if pm:
        L.append(f"| podman kube play, one at a time | {ms(pm['serial']['running']['p50'])} | {ms(pm['serial']['running']['p99'])} | |")
        L.append(f"| podman kube play, burst of {n} in parallel | {ms(pm['burst']['running']['p50'])} | {ms(pm['burst']['running']['p99'])} | {ms(pm['burst']['total_s'])} |")
    if fl:
        L.append(f"| raw floor: netns + veth + `unshare … true` | {ms(fl['serial']['running']['p50'])} | {ms(fl['serial']['running']['p99'])} | |")
    L.append("")
    if sk and (pm or fl):
        L.append("| ratio | p50 | p99 | all running |")
        L.append("|---|---|---|---|")
        if pm:
            a, b = sk["serial"]["running"], pm["serial"]["running"]
            L.append(f"| skiff / podman, one at a time | {ratio(a['p50'], b['p50'])} | {ratio(a['p99'], b['p99'])} | |")
            a, b = sk["burst"], pm["burst"]
            L.append(f"| skiff / podman, burst | {ratio(a['running']['p50'], b['running']['p50'])} | "
                     f"{ratio(a['running']['p99'], b['running']['p99'])} | {ratio(a['total_s'], b['total_s'])} |")
        if fl:
            a, b = sk["serial"]["running"], fl["serial"]["running"]
            L.append(f"| skiff / floor, one at a time | {ratio(a['p50'], b['p50'])} | {ratio(a['p99'], b['p99'])} | |")
        L.append("")
    if sk:
        L.append("Where a skiff start goes (median of each step, as seen by the client's watches on pods and events):")
        L.append("")
        L.append("| step | one at a time | burst |")
        L.append("|---|---|---|")
        for k, v in sk["serial"]["steps"].items():
            b = sk["burst"]["steps"].get(k)
            L.append(f"| {k} | {ms(v['p50'])} | {ms(b['p50']) if b else ''} |")
        L.append("")
        sched = sorted(m["scheduled (nodeName seen)"] for m in sk["burst"]["marks"].values())
        L.append(f"In the burst the scheduler bound the {n} pods one after another from {ms(sched[0])} to "
                 f"{ms(sched[-1])} after the first create ({(n - 1) / (sched[-1] - sched[0]):.0f} pods/s); the median "
                 f"wait from create to binding is {sk['burst']['steps']['created → scheduled (nodeName seen)']['p50'] / sk['burst']['running']['p50']:.0%} "
                 f"of the median burst start.")
        L.append("")
        L.append(f"Ready condition: p50 {ms(sk['serial']['ready']['p50'])} one at a time, "
                 f"{ms(sk['burst']['ready']['p50'])} in the burst. Burst creates took {ms(sk['burst']['creates_s'])}; "
                 f"the machine's CPUs were busy during the burst: skiff {sk['burst']['cpu_busy']:.0%}"
                 + (f", podman {pm['burst']['cpu_busy']:.0%}" if pm else "") + "; "
                 f"deleting {n} pods until gone (grace period 1 s): {sk['delete_serial_s']:.1f} s / "
                 f"{sk['delete_burst_s']:.1f} s" + (f"; podman `pod rm -a -f -t 1` of {n} pods: "
                 f"{pm['delete_serial_s']:.0f} s / {pm['delete_burst_s']:.0f} s." if pm else "."))
        L.append("")
        L.append(f"## Memory with {n} pods running")
        L.append("")
        L.append("| | after one at a time | after the burst |")
        L.append("|---|---|---|")
        idle = sk["memory_idle"]["server"]["rss_kb"]
        ms_, mb_ = sk["memory_serial"], sk["memory_burst"]
        L.append(f"| skiff server RSS (idle, warm: {mb(idle)}) | {mb(ms_['server']['rss_kb'])} (+{mb(ms_['server']['rss_kb']-idle)}) | {mb(mb_['server']['rss_kb'])} (+{mb(mb_['server']['rss_kb']-idle)}) |")
        for k in ("shims", "containers"):
            L.append(f"| {ms_[k]['count']} × {'skiff shim' if k == 'shims' else 'container (sleep)'}: RSS / PSS | "
                     f"{mb(ms_[k]['rss_kb'])} / {mb(ms_[k]['pss_kb'])} | {mb(mb_[k]['rss_kb'])} / {mb(mb_[k]['pss_kb'])} |")

        def per(m, key):
            return ((m["server"]["rss_kb"] - idle) + m["shims"][key]) / n

        L.append(f"| **per-pod overhead** (server growth + shims' PSS) / {n} | **{mb(per(ms_, 'pss_kb'))}** | **{mb(per(mb_, 'pss_kb'))}** |")
        L.append(f"| per-pod overhead with shims' RSS instead | {mb(per(ms_, 'rss_kb'))} | {mb(per(mb_, 'rss_kb'))} |")
        if pm:
            p = pm["memory_serial"]
            over = p["conmon"]["pss_kb"] + p["infra"]["pss_kb"]
            over_rss = p["conmon"]["rss_kb"] + p["infra"]["rss_kb"]
            L.append(f"| podman (no daemon): {p['conmon']['count']} conmon (one per container, infra included) + "
                     f"{p['infra']['count']} infra (catatonit), PSS / RSS | "
                     f"{mb(over)} / {mb(over_rss)} | |")
            L.append(f"| podman per-pod overhead (conmon + infra PSS) / {n} | {mb(over / n)} (RSS {mb(over_rss / n)}) | |")
        L.append("")
    text = "\n".join(L)
    print(text)
    if args.md:
        os.makedirs(os.path.dirname(args.md), exist_ok=True)
        with open(args.md, "w") as f:
            f.write(text + "\n")
        print(f"\n(written to {args.md})", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("skiff")
    s.add_argument("--kubeconfig", required=True)
    s.add_argument("--server-pid", type=int, required=True)
    s.add_argument("--skiff-exe", required=True)
    s.add_argument("--count", type=int, default=50)
    s.add_argument("--out", required=True)
    p = sub.add_parser("podman")
    p.add_argument("--podman", required=True, help="the podman command line, e.g. 'podman --root DIR'")
    p.add_argument("--podman-root", required=True, help="podman's --root (to find its conmon processes)")
    p.add_argument("--manifests", required=True)
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--out", required=True)
    f = sub.add_parser("floor")
    f.add_argument("--count", type=int, default=50)
    f.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("dir")
    r.add_argument("--md")
    m = sub.add_parser("manifests", help="writes NAME.yaml for warmup, serial-I and burst-I into DIR")
    m.add_argument("dir")
    m.add_argument("--count", type=int, default=50)
    args = ap.parse_args()
    if args.cmd == "skiff":
        run_skiff(args)
    elif args.cmd == "podman":
        run_podman(args)
    elif args.cmd == "floor":
        run_floor(args)
    elif args.cmd == "manifests":
        os.makedirs(args.dir, exist_ok=True)
        names = ["warmup"] + [f"{k}-{i}" for k in ("serial", "burst") for i in range(args.count)]
        for name in names:
            with open(os.path.join(args.dir, f"{name}.yaml"), "w") as fh:
                yaml.safe_dump(pod_manifest(name), fh, sort_keys=False)
    else:
        report(args)


if __name__ == "__main__":
    main()
