#!/usr/bin/env python3
"""Helper of bench/compare.sh (Python 3.11, standard library only).

  compare.py sample --root PID --out FILE [--interval S]
      Samples the process tree under PID (PID itself unless it is a `timeout` wrapper, and every
      descendant) until PID is gone or SIGTERM: one line per sample,
      "wall_time cpu_ticks rss_kib nprocs" where cpu_ticks is the sum of utime + stime (+ cutime +
      cstime, so a child that exits and is reaped keeps counting) and rss_kib the sum of VmRSS.
      Every PID ever seen in the tree goes to FILE.pids.
  compare.py wait-port --port P [--port P2] --timeout S [--pid PID]
      Waits until 127.0.0.1:P accepts connections; fails if PID exits first.
  compare.py quiet [--max-busy PCT] [--wait S]
      Waits until no core runs other tasks more than PCT % (a quiet machine before a row).
  compare.py ports-free PORT...
      Exit status 0 if nothing listens on any of the ports.
  compare.py probe-ok FILE
      Exit status 0 if the `liu bench play` JSON report FILE has connections.ok >= 1
      (or >= the number given with --want).
  compare.py alive [FILE.pids]... [--match STRING]...
      Prints the PIDs of FILE.pids, and of processes whose command line contains STRING, that are
      still running (zombies excluded).
  compare.py row --dir DIR --t0 T --t1 T --viewers N --rate R --duration D [--round K]
                 [--status S] [--note S]...
      Summarizes one row (DIR/samples, DIR/timeline, DIR/play.json, ...) into DIR/row.json.
  compare.py table --rows DIR --meta FILE --doc FILE
      Writes the results table (and the run's machine, versions, command) into FILE between
      <!-- compare:begin --> and <!-- compare:end -->, keeping the rest of the file.
"""

import argparse
import json
import os
import signal
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
def markers(section):
    """The markers around a generated section of the document."""
    return f"<!-- {section}:begin -->", f"<!-- {section}:end -->"


# ---------------------------------------------------------------- /proc sampling

def read_stat(pid):
    """(comm, state, ppid, ticks) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    # comm may contain spaces and parentheses: it ends at the last ')'
    lp, rp = data.index("("), data.rindex(")")
    comm = data[lp + 1:rp]
    rest = data[rp + 2:].split()
    # rest[0] = state (field 3), rest[1] = ppid (4), utime = field 14 -> rest[11]
    state, ppid = rest[0], int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return comm, state, ppid, utime + stime + cutime + cstime


def read_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return 0  # kernel threads / zombies have no VmRSS


def tree(root):
    """{pid: (comm, state, ticks)} of root and all its descendants."""
    procs = {}
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = read_stat(int(name))
        if st is None:
            continue
        procs[int(name)] = st
        children.setdefault(st[2], []).append(int(name))
    out = {}
    todo = [root] if root in procs else []
    while todo:
        pid = todo.pop()
        comm, state, _ppid, ticks = procs[pid]
        out[pid] = (comm, state, ticks)
        todo.extend(children.get(pid, []))
    return out


CORE_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")


def core_ticks():
    """[user, nice, system, irq, softirq, steal] ticks of cpu0 and cpu1 from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(("cpu0 ", "cpu1 ")):
                v = [int(x) for x in line.split()[1:9]]
                out[line[:4]] = [v[0], v[1], v[2], v[5], v[6], v[7]]
    return out.get("cpu0", [0] * 6) + out.get("cpu1", [0] * 6)


def cmd_sample(a):
    stop = False

    def on_term(_sig, _frm):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    seen = {}
    with open(a.out, "w") as out:
        out.write("# wall_time cpu_ticks rss_kib nprocs then cpu0 and cpu1 %s (CLK_TCK=%d)\n"
                  % (" ".join(CORE_FIELDS), CLK_TCK))
        while not stop:
            t = time.time()
            procs = tree(a.root)
            if not procs:
                break
            ticks = rss = n = 0
            for pid, (comm, state, tk) in procs.items():
                if pid == a.root and comm == "timeout":
                    continue  # the wrapper is not the server
                r = read_rss_kib(pid)
                if r is None:
                    continue
                seen[pid] = comm
                ticks += tk
                rss += r
                n += 1
            cores = " ".join(str(x) for x in core_ticks())
            out.write(f"{t:.3f} {ticks} {rss} {n} {cores}\n")
            out.flush()
            # sleep to the next multiple of the interval, stay responsive to SIGTERM
            deadline = t + a.interval
            while not stop and time.time() < deadline:
                time.sleep(min(0.05, max(0.0, deadline - time.time())))
    with open(a.out + ".pids", "w") as f:
        for pid, comm in sorted(seen.items()):
            f.write(f"{pid} {comm}\n")


def cmd_wait_port(a):
    deadline = time.time() + a.timeout
    pending = list(a.port)
    while time.time() < deadline:
        if a.pid:
            st = read_stat(a.pid)
            if st is None or st[1] == "Z":
                print(f"process {a.pid} exited before listening", file=sys.stderr)
                return 1
        still = []
        for port in pending:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pass
            except OSError:
                still.append(port)
        pending = still
        if not pending:
            return 0
        time.sleep(0.1)
    print(f"127.0.0.1:{pending} not listening after {a.timeout} s", file=sys.stderr)
    return 1


def cmd_quiet(a):
    """Waits (up to --wait s) until both cores run tasks less than --max-busy % over 1 s.
    Prints a note when it had to wait or gave up."""
    start = time.time()
    while True:
        t0, c0 = time.time(), core_ticks()
        time.sleep(1.0)
        t1, c1 = time.time(), core_ticks()
        busy = []
        for c in range(2):
            o = c * len(CORE_FIELDS)
            d = sum(c1[o + i] - c0[o + i] for i in range(5))  # all but steal
            busy.append(100.0 * d / CLK_TCK / (t1 - t0))
        if max(busy) < a.max_busy:
            waited = t1 - start - 1.0
            if waited >= 1:
                print(f"waited {waited:.0f} s for other load on the machine to end")
            return 0
        if t1 - start >= a.wait:
            print(f"the machine was busy before the row (core 0 {busy[0]:.0f} %, core 1 "
                  f"{busy[1]:.0f} % for other processes, still after {a.wait:.0f} s of waiting)")
            return 0


def cmd_ports_free(a):
    """Exit status 0 if every port can be bound on 0.0.0.0 (nothing listens on it)."""
    for port in a.port:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return 1
        finally:
            s.close()
    return 0


def cmd_probe_ok(a):
    try:
        with open(a.file) as f:
            rep = json.load(f)
        return 0 if rep["connections"]["ok"] >= a.want else 1
    except (OSError, ValueError, KeyError, TypeError):
        return 1


def cmd_alive(a):
    """Still running: the PIDs listed in the files, and processes whose command line contains
    one of the --match strings (this script's own processes are left out)."""
    found = {}
    for path in a.pids:
        try:
            lines = open(path).read().split("\n")
        except OSError:
            continue
        for line in lines:
            if line.strip():
                found[int(line.split()[0])] = None
    if a.match:
        me = os.getpid()
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in (me, os.getppid()):
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if any(m in cmd for m in a.match):
                found[int(name)] = None
    for pid in sorted(found):
        st = read_stat(pid)
        if st is not None and st[1] != "Z":
            print(pid, st[0])
    return 0


# ---------------------------------------------------------------- one row

def load_samples(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                v = line.split()
                rows.append((float(v[0]),) + tuple(int(x) for x in v[1:]))
    except OSError:
        pass
    return rows


def ticks_at(samples, t, col=1):
    """Column col (CPU ticks) at wall time t, linearly interpolated between samples."""
    if not samples or t < samples[0][0] or t > samples[-1][0]:
        return None
    for sa, sb in zip(samples, samples[1:]):
        ta, tb, ka, kb = sa[0], sb[0], sa[col], sb[col]
        if ta <= t <= tb:
            return ka if tb == ta else ka + (kb - ka) * (t - ta) / (tb - ta)
    return samples[-1][col]


def rss_before(samples, t):
    """Last RSS sample taken at or before t."""
    best = None
    for s in samples:
        if s[0] <= t:
            best = s[2]
    return best


def steady_window(timeline):
    """((t, bytes, playing), (t, bytes, playing)): the first and the last line of a
    `liu bench play --timeline` file at which the most viewers were playing; None if none."""
    if not timeline:
        return None
    most = max(r[2] for r in timeline)
    at = [r for r in timeline if r[2] == most]
    if most == 0 or at[-1][0] - at[0][0] < 2.0:
        return None
    return (at[0][0], at[0][1], most), (at[-1][0], at[-1][1], most)


def cmd_row(a):
    d = a.dir
    row = {
        "server": a.server, "label": a.label, "proto": a.proto, "viewers": a.viewers,
        "status": a.status, "notes": list(a.note or []),
    }
    samples = load_samples(os.path.join(d, "samples"))
    rep = None
    try:
        with open(os.path.join(d, "play.json")) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        pass
    if rep is None:
        if row["status"] == "ok":
            row["status"] = "no report from liu bench play"
    else:
        c = rep["connections"]
        row["ok"] = c["ok"]
        row["failed"] = c["failed"]
        row["failures"] = c.get("failures", [])
        row["bytes_total"] = rep["throughput"]["bytes_total"]
        row["mbps_total"] = rep["throughput"]["mbps_total"]
        row["mbps_per_viewer_min"] = rep["throughput"].get("mbps_per_viewer_min")
        row["below_95pct"] = rep["media"]["viewers_below_95pct"]
        row["ttff_ms"] = rep["ttff_ms"]
        row["latency_ms"] = rep["latency_ms"]
        row["stalls"] = rep["stalls"]
        row["tool_cpu_pct"] = rep["tool_cpu"]["percent_of_core"]
        row["wall_s"] = rep["wall_s"]
    row["round"] = a.round
    timeline = load_samples(os.path.join(d, "timeline"))
    win = steady_window(timeline)
    if samples:
        if win:
            # steady part: from the first moment the most viewers play (every viewer, unless
            # some failed) to the last one, from `liu bench play --timeline`
            (s0, b0, most), (s1, b1, _) = win
            row["steady_viewers"] = most
            row["steady_bytes"] = b1 - b0
        else:  # no timeline: every viewer connected (ramp plus 2 s) until 0.5 s before the end
            ramp = a.viewers / a.rate
            s0, s1 = a.t0 + ramp + 2.0, a.t0 + a.duration - 0.5
            if s1 - s0 < 5.0:  # very long ramps: take what is left
                s0, s1 = a.t0 + ramp, a.t0 + a.duration
        k0, k1 = ticks_at(samples, s0), ticks_at(samples, s1)
        if k0 is not None and k1 is not None and s1 > s0:
            row["steady_s"] = round(s1 - s0, 2)
            row["cpu_pct"] = 100.0 * (k1 - k0) / CLK_TCK / (s1 - s0)
            if row.get("steady_bytes"):
                row["cpu_us_per_mb"] = (k1 - k0) / CLK_TCK * 1e6 / (row["steady_bytes"] / 1e6)
                row["mbps_steady"] = row["steady_bytes"] * 8 / (s1 - s0) / 1e6
            if len(samples[0]) >= 4 + 2 * len(CORE_FIELDS):
                for c in range(2):
                    pct = {}
                    for i, field in enumerate(CORE_FIELDS):
                        col = 4 + c * len(CORE_FIELDS) + i
                        b0, b1 = ticks_at(samples, s0, col), ticks_at(samples, s1, col)
                        pct[field] = round(100.0 * (b1 - b0) / CLK_TCK / (s1 - s0), 1)
                    row[f"core{c}_pct"] = pct
                    # time spent running tasks (user, nice, system); interrupts apart
                    row[f"core{c}_busy_pct"] = pct["user"] + pct["nice"] + pct["system"]
                    row[f"core{c}_irq_pct"] = pct["irq"] + pct["softirq"]
                # core 0 time not charged to the server: other processes on its core
                row["core0_other_pct"] = round(row["core0_busy_pct"] + row["core0_irq_pct"]
                                               - row["cpu_pct"], 1)
        p0, p1 = ticks_at(samples, a.t0), ticks_at(samples, a.t1)
        if p0 is not None and p1 is not None:
            row["cpu_s_play"] = (p1 - p0) / CLK_TCK
            if rep and rep["throughput"]["bytes_total"] > 0:
                mb = rep["throughput"]["bytes_total"] / 1e6
                # the whole run, ramp included: kept for reference, not in the table
                row["cpu_us_per_mb_whole_run"] = row["cpu_s_play"] * 1e6 / mb
                if not win:
                    row["cpu_us_per_mb"] = row["cpu_us_per_mb_whole_run"]
        rb, re_ = rss_before(samples, a.t0), rss_before(samples, s1)
        if rb is not None and re_ is not None:
            row["rss_before_kib"] = rb
            row["rss_end_kib"] = re_
            row["rss_per_viewer_kib"] = (re_ - rb) / a.viewers
        row["rss_max_kib"] = max(s[2] for s in samples)
        row["procs_max"] = max(s[3] for s in samples)
    try:  # the publisher's report: "late       at most 13.7 ms behind schedule"
        for line in open(os.path.join(d, "publish.log"), errors="replace"):
            v = line.split()
            if len(v) >= 5 and v[0] == "late" and v[1:3] == ["at", "most"]:
                row["publish_late_ms"] = float(v[3])
    except (OSError, ValueError):
        pass
    with open(os.path.join(d, "row.json"), "w") as f:
        json.dump(row, f, indent=1)
    return 0


# ---------------------------------------------------------------- table

ORDER = ["liu-mw0", "liu-mw40", "liu-mw350", "nginx-rtmp", "nms", "xiu"]


def order(server):
    """Liu rows first, by merge window, then the others in ORDER."""
    if server.startswith("liu-mw") and server[6:].isdigit():
        return (0, int(server[6:]))
    return (1, ORDER.index(server) if server in ORDER else 99)


def fmt(x, nd=0):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def pct_pair(p, nd=0):
    if not p or p.get("count", 0) == 0 or p.get("p50") is None:
        return "-"
    return f"{fmt(float(p['p50']), nd)} / {fmt(float(p['p95']), nd)}"


def ms_nd(p):
    """Fewer decimals for larger values."""
    if not p or p.get("p95") is None:
        return 0
    return 1 if p["p95"] < 10 else 0


PROTO_NAMES = {"rtmp": "RTMP", "http-flv": "HTTP-FLV", "hls": "HLS (TS)",
               "ll-hls": "LL-HLS (fMP4 parts)", "rtmps": "RTMPS", "rtmpe": "RTMPE",
               "https-flv": "HTTPS-FLV", "ws-flv": "WebSocket-FLV"}


def ratio_table(rows, meta, nginx_ref, rounds):
    """Lines of the per-round ratio table: each round's CPU per delivered MB against
    nginx-rtmp's in that round, and their spread (max / min - 1)."""
    groups = {}
    for r in rows:
        if r["server"] == "nginx-rtmp" or r["status"] != "ok" or not r.get("cpu_us_per_mb"):
            continue
        ref = nginx_ref.get((r["viewers"], r.get("round", 1)))
        if ref:
            groups.setdefault((r["viewers"], r["server"], r["proto"]), {})[r.get("round", 1)] = \
                r["cpu_us_per_mb"] / ref
    if not groups:
        return []
    L = ["", "CPU per delivered MB against nginx-rtmp (RTMP, same N), round by round:", "",
         "| server | proto | N | " + " | ".join(f"round {i}" for i in range(1, rounds + 1))
         + " | best / worst | spread |",
         "|---|---|---:|" + "---:|" * rounds + "---:|---:|"]
    for (n, server, proto), by_round in groups.items():
        vals = [by_round.get(i) for i in range(1, rounds + 1)]
        got = [v for v in vals if v is not None]
        name = meta["names"].get(server, server)
        proto = PROTO_NAMES.get(proto, proto)
        spread = f"{(max(got) / min(got) - 1) * 100:.0f} %" if len(got) > 1 else "-"
        L.append(f"| {name} | {proto} | {n} | "
                 + " | ".join(f"{v:.2f}x" if v is not None else "-" for v in vals)
                 + f" | {min(got):.2f}x / {max(got):.2f}x | {spread} |")
    return L


def cmd_table(a):
    meta = json.load(open(a.meta))
    rows = []
    for name in sorted(os.listdir(a.rows)):
        path = os.path.join(a.rows, name, "row.json")
        if os.path.isfile(path):
            rows.append(json.load(open(path)))
    proto_order = {"rtmp": 0, "rtmps": 1, "rtmpe": 2, "http-flv": 3, "https-flv": 4, "ws-flv": 5,
                   "hls": 6, "ll-hls": 7}
    rows.sort(key=lambda r: (r["viewers"], order(r["server"]), proto_order.get(r["proto"], 9),
                             r.get("round", 1)))
    rounds = meta.get("rounds", 1)
    BEGIN, END = markers(meta.get("section", "compare"))
    streams = meta.get("streams", 1)
    # nginx-rtmp over RTMP at the same N in the same round: the reference of each ratio
    nginx_ref = {(r["viewers"], r.get("round", 1)): r.get("cpu_us_per_mb") for r in rows
                 if r["server"] == "nginx-rtmp" and r["proto"] == "rtmp" and r["status"] == "ok"}

    L = [BEGIN, ""]
    L.append(f"## {meta.get('title') or 'Comparison with other servers'} ({meta['date']})")
    L.append("")
    L.append(f"Written by `bench/compare.sh` (do not edit between the markers; rerun it). Command:")
    L.append("")
    L.append("```sh")
    L.append(meta["command"])
    L.append("```")
    L.append("")
    L.append(f"- Machine: {meta['nproc']} cores, {meta['cpu_model']}, Linux {meta['kernel']}, "
             f"{meta['mem']}.")
    L.append("- Servers: " + "; ".join(meta["versions"]) + ".")
    L.append(f"- Load: {meta['clip']}, published by `liu bench publish --loop`; "
             f"`liu bench play -n N --rate {meta['rate']} --duration {meta['duration']}`, "
             + (f"N viewers of that one stream on loopback. " if streams == 1 else
                f"with `--streams {streams}` for both: {streams} streams published at once and N "
                f"viewers spread evenly over them, on loopback. ")
             + f"Server pinned to core 0 (`taskset -c 0`), "
             f"publisher, viewers and sampler to core 1; a fresh server with its generated "
             f"configuration per row (configurations and raw JSON: `{meta['raw_dir']}`).")
    if rounds > 1:
        L.append(f"- {rounds} rounds: at each N every server's rows ran once per round, the servers "
                 f"in the listed order in odd rounds and in reverse order in even ones, so a drift "
                 f"of the machine's speed shows as a spread between rounds instead of favouring "
                 f"one server.")
    L.append(f"- Run took {meta['runtime']}.")
    L.append("")
    L.append("| server | proto | N | round | failed | server CPU (% of a core) | CPU µs per delivered MB "
             "| vs nginx-rtmp | RSS per viewer (KiB) | TTFF p50 / p95 (ms) | latency p50 / p95 (ms) "
             "| stalls | below full rate | delivered (Mbit/s) | tool CPU (%) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for r in rows:
        name = meta["names"].get(r["server"], r["server"])
        proto = PROTO_NAMES.get(r["proto"], r["proto"])
        if r["status"] != "ok" and "failed" not in r:
            L.append(f"| {name} | {proto} | {r['viewers']} | {r.get('round', 1)} | **{r['status']}** "
                     "| - | - | - | - | - | - | - | - | - | - |")
            for n in r.get("notes", []):
                notes.append(f"{name} {proto} N={r['viewers']}: {n}")
            continue
        failed = fmt(r.get("failed"))
        if r.get("failures"):
            failed += " (" + ", ".join(f"{f['reason']} {f['count']}" for f in r["failures"]) + ")"
        if r["status"] != "ok":
            failed += f"; **{r['status']}**"
        ref = nginx_ref.get((r["viewers"], r.get("round", 1)))
        vs = "-"
        if ref and r.get("cpu_us_per_mb"):
            vs = f"{r['cpu_us_per_mb'] / ref:.2f}x"
        st = r.get("stalls") or {}
        stalls = fmt(st.get("count"))
        if st.get("count"):
            stalls += f" ({st.get('viewers')} viewers)"
        L.append("| " + " | ".join([
            name, proto, str(r["viewers"]), str(r.get("round", 1)), failed,
            fmt(r.get("cpu_pct"), 1), fmt(r.get("cpu_us_per_mb"), 0), vs,
            fmt(r.get("rss_per_viewer_kib"), 1),
            pct_pair(r.get("ttff_ms"), ms_nd(r.get("ttff_ms"))),
            pct_pair(r.get("latency_ms"), ms_nd(r.get("latency_ms"))),
            stalls, fmt(r.get("below_95pct")), fmt(r.get("mbps_steady", r.get("mbps_total")), 0),
            fmt(r.get("tool_cpu_pct"), 0),
        ]) + " |")
        for n in r.get("notes", []):
            notes.append(f"{name} {proto} N={r['viewers']}: {n}")
        if (r.get("tool_cpu_pct") or 0) >= 85:
            notes.append(f"{name} {proto} N={r['viewers']}: the load tool used "
                         f"{r['tool_cpu_pct']:.0f} % of its core: close to saturation, the row "
                         f"may measure the tool")
        if (r.get("publish_late_ms") or 0) > 100:
            notes.append(f"{name} {proto} N={r['viewers']}: the publisher fell up to "
                         f"{r['publish_late_ms']:.0f} ms behind its schedule")
        busy0, cpu = r.get("core0_busy_pct"), r.get("cpu_pct")
        if busy0 is not None:  # softirq run in a process's system call is charged to it too
            busy0 += r.get("core0_irq_pct") or 0
        if busy0 is not None and cpu is not None and busy0 - cpu > 8:
            notes.append(f"{name} {proto} N={r['viewers']}: core 0 was {busy0:.0f} % busy while the "
                         f"server used {cpu:.0f} %: other processes shared the server's core "
                         f"(nice {r['core0_pct']['nice']:.0f} %), the row is perturbed")
        busy1 = (r.get("core1_busy_pct") or 0) + (r.get("core1_irq_pct") or 0)
        if busy1 >= 95:
            notes.append(f"{name} {proto} N={r['viewers']}: core 1 (load tool, publisher, sampler) "
                         f"was {busy1:.0f} % busy: saturated, the row may measure the tool")
        if (r.get("cpu_pct") or 0) >= 90:
            notes.append(f"{name} {proto} N={r['viewers']}: the server saturated its core "
                         f"({r['cpu_pct']:.0f} %)")
    L.append("")
    L.append("Columns: *failed* = viewers that did not get a keyframe or did not play to the end "
             "(reasons from `liu bench play`); *server CPU* = the server's process tree "
             "(user + system, `/proc/PID/stat`) over the steady part: from the moment every "
             "viewer has its first frame to the moment the first one ends (`liu bench play "
             "--timeline`); *CPU µs per delivered MB* = the tree's CPU time over the steady part "
             "divided by the bytes the viewers read in it (10^6 bytes), so a server that delivers "
             "little while viewers wait for a keyframe is not flattered; *vs nginx-rtmp* = that "
             "ratio against nginx-rtmp over RTMP at the same N in the same round; "
             "*RSS per viewer* = (tree VmRSS at the end of "
             "the steady part − before the viewers connected) / N; *TTFF* from TCP connect to "
             "the first complete video keyframe (audio-only clip: the first audio frame); *latency* publisher stamp to viewer read; "
             "*stalls* = gaps of more than 1 s without media; *below full rate* = viewers whose "
             "media time advanced slower than 0.95x wall time; *delivered* = over the steady "
             "part; *tool CPU* = `liu bench play`'s "
             "own CPU in % of its core.")
    L.extend(ratio_table(rows, meta, nginx_ref, rounds))
    if notes:
        L.append("")
        L.append("Notes from this run:")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
    L.append("")
    L.append(END)
    section = "\n".join(L) + "\n"

    try:
        doc = open(a.doc).read()
    except FileNotFoundError:
        doc = "# Performance\n\n"
    if BEGIN in doc and END in doc and doc.index(BEGIN) < doc.index(END):
        pre = doc[:doc.index(BEGIN)]
        post = doc[doc.index(END) + len(END):]
        if post.startswith("\n"):
            post = post[1:]
        doc = pre + section + post
    else:
        if not doc.endswith("\n"):
            doc += "\n"
        if not doc.endswith("\n\n"):
            doc += "\n"
        doc += section
    tmp = a.doc + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc)
    os.replace(tmp, a.doc)
    # also print the table for the terminal
    first = next(i for i, l in enumerate(L) if l.startswith("| server |"))
    print("\n".join(L[first:]))
    return 0


def cmd_summary(a):
    r = json.load(open(a.file))

    def g(k, nd=0):
        return fmt(r.get(k), nd)
    print(f"  -> {r['status']}: failed {g('failed')}, server CPU {g('cpu_pct', 1)} %, "
          f"{g('cpu_us_per_mb')} us/MB, RSS/viewer {g('rss_per_viewer_kib', 1)} KiB, "
          f"latency p95 {fmt((r.get('latency_ms') or {}).get('p95'), 1)} ms, "
          f"tool CPU {g('tool_cpu_pct')} %; core 0 other load {g('core0_other_pct')} %, "
          f"core 1 busy {fmt((r.get('core1_busy_pct') or 0) + (r.get('core1_irq_pct') or 0))} %")
    for n in r.get("notes", []):
        print(f"     note: {n}")
    return 0


def cmd_meta(a):
    env = os.environ
    meta = {"date": env["META_DATE"], "command": env["META_CMD"], "nproc": env["META_NPROC"],
            "cpu_model": env["META_CPU"], "kernel": env["META_KERNEL"], "mem": env["META_MEM"],
            "clip": env["META_CLIP"], "runtime": env["META_RUNTIME"], "raw_dir": env["META_RAW"],
            "rate": a.rate, "duration": a.duration, "streams": a.streams, "rounds": a.rounds,
            "section": a.section, "title": a.title,
            "versions": [l for l in open(a.versions).read().splitlines() if l],
            "names": dict(l.split("=", 1) for l in open(a.names).read().splitlines() if l)}
    with open(a.out, "w") as f:
        json.dump(meta, f, indent=1)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--root", type=int, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--interval", type=float, default=0.5)
    s = sub.add_parser("wait-port")
    s.add_argument("--port", type=int, action="append", required=True)
    s.add_argument("--timeout", type=float, default=20)
    s.add_argument("--pid", type=int)
    s = sub.add_parser("quiet")
    s.add_argument("--max-busy", type=float, default=15)
    s.add_argument("--wait", type=float, default=60)
    s = sub.add_parser("ports-free")
    s.add_argument("port", type=int, nargs="+")
    s = sub.add_parser("probe-ok")
    s.add_argument("--want", type=int, default=1)
    s.add_argument("file")
    s = sub.add_parser("alive")
    s.add_argument("pids", nargs="*")
    s.add_argument("--match", action="append")
    s = sub.add_parser("row")
    s.add_argument("--dir", required=True)
    s.add_argument("--server", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--proto", required=True)
    s.add_argument("--viewers", type=int, required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--t0", type=float, default=0)
    s.add_argument("--t1", type=float, default=0)
    s.add_argument("--status", default="ok")
    s.add_argument("--note", action="append")
    s.add_argument("--round", type=int, default=1)
    s = sub.add_parser("table")
    s.add_argument("--rows", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("--doc", required=True)
    s = sub.add_parser("summary")
    s.add_argument("file")
    s = sub.add_parser("meta")
    s.add_argument("--versions", required=True)
    s.add_argument("--names", required=True)
    s.add_argument("--rate", type=int, required=True)
    s.add_argument("--duration", type=int, required=True)
    s.add_argument("--streams", type=int, default=1)
    s.add_argument("--rounds", type=int, default=1)
    s.add_argument("--section", default="compare")
    s.add_argument("--title", default="")
    s.add_argument("--out", required=True)
    a = p.parse_args()
    return {"sample": cmd_sample, "wait-port": cmd_wait_port, "quiet": cmd_quiet, "ports-free": cmd_ports_free, "probe-ok": cmd_probe_ok,
            "alive": cmd_alive, "row": cmd_row, "table": cmd_table, "summary": cmd_summary,
            "meta": cmd_meta}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
