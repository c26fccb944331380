#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_monitor.py — the monitor's three formats, checked with real parsers.

Usage: check_monitor.py TEST_MONITOR_BINARY OUTDIR

Runs `TEST_MONITOR_BINARY --emit OUTDIR`, which builds a known scene (pools,
domains, a weak table, a cache, a subject, suppressed reports; names with
quotes, backslashes, newlines, tabs, a control byte and a UTF-8 character
cut in two) and writes snapshot.{json,prom,txt} and expected.txt (the
snapshot's numbers, read from the C structs).  Then:

  - JSON: json.loads (RFC 8259, strict) accepts it; every entry's name
    decodes to the exact bytes the scene used (U+FFFD for the cut
    character); every number of expected.txt is there under its key; no
    entry has a key expected.txt lacks.
  - Prometheus: `promtool check metrics` accepts it with no complaint;
    prometheus_client's parser reads it; every number of expected.txt is
    the sample of its documented family (FAMILIES below, the contract
    written out independently of the library's tables) for that entry's
    labels; histograms are cumulative with _count = the +Inf bucket = the
    sum of expected.txt's buckets, and _sum matches; ebra_build_info
    carries the version; no sample belongs to an unknown family.
  - text: every entry's header and each "key value" pair of expected.txt.
Exit 0 when everything holds; otherwise each failure is printed, exit 1.
"""
import json
import os
import re
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

NAMES = {
    "conn": "conn",
    "weird": 'we"ird\\pool\nname',
    "domain": "dom\tain\x01",
    "weak_table": 'weak"table',
    "subject": "sub\\ject",
    "cache": 'ca"che\n',
    # "truncated": EBRA_POOL_NAME_MAX - 2 'a's and U+FFFD, set from expected.txt
}

# Each stats field's Prometheus family, per kind (ebra/monitor.h).
FAMILIES = {
    "global": {
        "resident_bytes": "ebra_process_resident_bytes", "bytes_reserved": "ebra_reserved_bytes",
        "bytes_live": "ebra_live_bytes", "pending_bytes": "ebra_pending_bytes",
        "npools": "ebra_pools", "ndomains": "ebra_domains", "ncaches": "ebra_caches",
        "nweak_tables": "ebra_weak_tables", "nsubjects": "ebra_subjects",
    },
    "pool": {
        "allocs": "ebra_pool_allocations_total", "frees": "ebra_pool_frees_total",
        "magazine_hits": "ebra_pool_magazine_hits_total",
        "magazine_misses": "ebra_pool_magazine_misses_total",
        "depot_exchanges": "ebra_pool_depot_exchanges_total",
        "depot_contention": "ebra_pool_depot_contention_total", "slabs": "ebra_pool_slabs",
        "bytes_reserved": "ebra_pool_reserved_bytes", "bytes_live": "ebra_pool_live_bytes",
        "objects_live": "ebra_pool_live_objects",
        "objects_carved": "ebra_pool_carved_objects_total",
        "depot_full": "ebra_pool_depot_full_magazines",
        "depot_empty": "ebra_pool_depot_empty_magazines", "errors": "ebra_pool_errors_total",
        "threads": "ebra_pool_threads", "magazine_capacity": "ebra_pool_magazine_capacity",
        "object_size": "ebra_pool_object_size_bytes", "stride": "ebra_pool_stride_bytes",
        "objects_in_slabs": "ebra_pool_slab_free_objects",
        "bytes_purged": "ebra_pool_purged_bytes", "slabs_purged": "ebra_pool_slab_purges_total",
        "magazines_trimmed": "ebra_pool_magazines_trimmed_total",
        "depot_parked": "ebra_pool_depot_parked_magazines",
        "depot_objects": "ebra_pool_depot_objects_total", "max_objects": "ebra_pool_max_objects",
        "bytes_magazines": "ebra_pool_magazine_bytes",
    },
    "domain": {
        "retired": "ebra_domain_retired_total", "reclaimed": "ebra_domain_reclaimed_total",
        "pending": "ebra_domain_pending_objects", "pending_bytes": "ebra_domain_pending_bytes",
        "grace_periods": "ebra_domain_grace_periods_total", "batches": "ebra_domain_batches_total",
        "gp_ns_p50": "ebra_domain_grace_period_p50_seconds",
        "gp_ns_p90": "ebra_domain_grace_period_p90_seconds",
        "gp_ns_p99": "ebra_domain_grace_period_p99_seconds",
        "gp_ns_max": "ebra_domain_grace_period_max_seconds",
        "reuse_ns_p50": "ebra_domain_reuse_p50_seconds",
        "reuse_ns_p99": "ebra_domain_reuse_p99_seconds",
        "reuse_ns_max": "ebra_domain_reuse_max_seconds",
        "cleanup_ns_p50": "ebra_domain_cleanup_p50_seconds",
        "cleanup_ns_p99": "ebra_domain_cleanup_p99_seconds",
        "cleanup_ns_max": "ebra_domain_cleanup_max_seconds",
        "max_pending": "ebra_domain_max_pending",
        "helped_rounds": "ebra_domain_helped_rounds_total",
        "stalls": "ebra_domain_stalls_total",
        "stalled_ns": "ebra_domain_stalled_seconds",
        "threads": "ebra_domain_threads", "batch_size": "ebra_domain_batch_size",
        "max_batch_age_ns": "ebra_domain_max_batch_age_seconds",
        "gp_ns_sum": "ebra_domain_grace_period_seconds_sum",
        "reuse_ns_sum": "ebra_domain_reuse_seconds_sum",
    },
    "weak_table": {
        "live": "ebra_weak_table_live_objects", "slots": "ebra_weak_table_slots",
        "retired_slots": "ebra_weak_table_retired_slots",
        "created": "ebra_weak_table_created_total", "killed": "ebra_weak_table_killed_total",
        "cleanups_run": "ebra_weak_table_cleanups_run_total",
    },
    "cache": {
        "hits": "ebra_cache_hits_total", "misses": "ebra_cache_misses_total",
        "stores": "ebra_cache_stores_total", "evictions": "ebra_cache_evictions_total",
        "expirations": "ebra_cache_expirations_total", "deaths": "ebra_cache_deaths_total",
        "erasures": "ebra_cache_erasures_total", "replacements": "ebra_cache_replacements_total",
        "size": "ebra_cache_entries", "max_entries": "ebra_cache_max_entries",
    },
    "subject": {
        "observers": "ebra_subject_observers", "subscribed": "ebra_subject_subscriptions_total",
        "unlinked": "ebra_subject_unlinked_total", "notifies": "ebra_subject_notifies_total",
        "calls": "ebra_subject_observer_calls_total",
    },
    "engine": {
        "steps": "ebra_engine_steps_total", "switches": "ebra_engine_strategy_switches_total",
        "knob_changes": "ebra_engine_knob_changes_total",
        "magazines_trimmed": "ebra_engine_magazines_trimmed_total",
        "caches_drained": "ebra_engine_caches_drained_total",
        "bytes_purged": "ebra_engine_purged_bytes_total",
        "forced_grace_periods": "ebra_engine_forced_grace_periods_total",
        "soft_limit_steps": "ebra_engine_soft_limit_steps_total",
        "hard_limit_refusals": "ebra_engine_hard_limit_refusals_total",
        "committed_bytes": "ebra_engine_committed_bytes",
        "soft_limit": "ebra_engine_soft_limit_bytes", "hard_limit": "ebra_engine_hard_limit_bytes",
        "alloc_rate": "ebra_engine_alloc_rate", "free_rate": "ebra_engine_free_rate",
        "exchange_rate": "ebra_engine_exchange_rate",
        "contention_rate": "ebra_engine_contention_rate", "retire_rate": "ebra_engine_retire_rate",
    },
}
ARRAYS = {"pool": "pools", "domain": "domains", "weak_table": "weak_tables",
          "cache": "caches", "subject": "subjects"}
HISTS = {"gp_ns": "ebra_domain_grace_period_seconds", "reuse_ns": "ebra_domain_reuse_seconds"}
OTHER_FAMILIES = {"ebra_build_info", "ebra_engine_active_strategy",
                  "ebra_engine_configured_strategy", "ebra_reports_total",
                  "ebra_reports_suppressed_total"} | set(HISTS.values())

failures = []


def fail(msg):
    failures.append(msg)


def read_expected(path):
    exp = {"fields": {}, "names": {}, "labels": {}, "hist": {}, "bounds": [], "reports": {}}
    for line in open(path, encoding="ascii"):
        w = line.split()
        if w[0] == "field":
            exp["fields"][(w[1], w[2], w[3])] = int(w[4])
        elif w[0] == "name":
            exp["names"][(w[1], w[2])] = w[3]
        elif w[0] == "label":
            exp["labels"].setdefault((w[1], w[2]), {})[w[3]] = w[4]
        elif w[0] == "hist":
            exp["hist"].setdefault((w[2], w[3]), [0] * 14)[int(w[4])] = int(w[5])
        elif w[0] == "bound":
            exp["bounds"].append(int(w[2]))
        elif w[0] == "report":
            exp["reports"][w[1]] = (int(w[2]), int(w[3]))
        elif w[0] in ("version", "features"):
            exp[w[0]] = w[1]
        elif w[0] == "strategy":
            exp["strategy"] = (w[1], w[2])
        elif w[0] == "name_max":
            NAMES["truncated"] = "a" * (int(w[1]) - 2) + "\ufffd"
    return exp


def entries(exp, kind):
    return sorted({k[1] for k in exp["fields"] if k[0] == kind}, key=int)


def check_json(text, exp):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"json: not valid JSON: {e}")
        return
    if doc.get("version") != exp["version"]:
        fail(f"json: version {doc.get('version')!r}, want {exp['version']!r}")
    if doc.get("latency_bounds_ns") != exp["bounds"]:
        fail("json: latency_bounds_ns differ from EBRA_LATENCY_BOUNDS_NS")
    for key in FAMILIES["global"]:
        want = exp["fields"][("global", "-", key)]
        if key != "resident_bytes" and doc.get(key) != want:
            fail(f"json: global {key} = {doc.get(key)}, want {want}")
    eng = doc.get("engine", {})
    if (eng.get("configured"), eng.get("active")) != exp["strategy"]:
        fail(f"json: engine strategies {eng.get('configured')}, {eng.get('active')}")
    for key in FAMILIES["engine"]:
        if eng.get(key) != exp["fields"][("engine", "-", key)]:
            fail(f"json: engine {key} = {eng.get(key)}")
    for kind, array in ARRAYS.items():
        got = {str(e["id"]): e for e in doc.get(array, [])}
        ids = entries(exp, kind)
        if sorted(got, key=int) != ids:
            fail(f"json: {array} ids {sorted(got)}, want {ids}")
            continue
        for id_ in ids:
            e = got[id_]
            tag = exp["names"].get((kind, id_))
            if tag and e["name"] != NAMES[tag]:
                fail(f"json: {kind} {id_} name {e['name']!r}, want {NAMES[tag]!r}")
            for label, value in exp["labels"].get((kind, id_), {}).items():
                if e.get(label) != value:
                    fail(f"json: {kind} {id_} {label} {e.get(label)!r}, want {value!r}")
            known = {"id", "name"} | set(FAMILIES[kind]) | set(exp["labels"].get((kind, id_), {}))
            for h in HISTS if kind == "domain" else ():
                known.add(h + "_hist")
                if e.get(h + "_hist") != exp["hist"][(id_, h)]:
                    fail(f"json: domain {id_} {h}_hist {e.get(h + '_hist')}")
            extra = set(e) - known
            if extra:
                fail(f"json: {kind} {id_} has keys expected.txt lacks: {sorted(extra)}")
            for key in FAMILIES[kind]:
                want = exp["fields"][(kind, id_, key)]
                if e.get(key) != want:
                    fail(f"json: {kind} {id_} {key} = {e.get(key)}, want {want}")
    reports = doc.get("reports", {})
    for name, (delivered, suppressed) in exp["reports"].items():
        if reports.get(name) != {"delivered": delivered, "suppressed": suppressed}:
            fail(f"json: reports {name} = {reports.get(name)}")


def check_promtool(path):
    try:
        with open(path, "rb") as f:
            r = subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True,
                               text=True, timeout=60)
    except FileNotFoundError:
        fail("promtool is not installed (scripts/deps.sh installs the prometheus package)")
        return
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        fail(f"promtool check metrics: exit {r.returncode}: {r.stdout}{r.stderr}")


def ns(seconds):
    return round(seconds * 1e9)


def check_prometheus(text, exp):
    try:
        fams = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # the parser raises ValueError and others
        fail(f"prometheus: the parser refused the exposition: {e}")
        return
    # The parser strips _total from counter family names; index samples by
    # their own names instead.
    samples = {}
    for f in fams.values():
        for s in f.samples:
            samples.setdefault(s.name, []).append(s)
    known = set(OTHER_FAMILIES)
    for table in FAMILIES.values():
        known |= set(table.values())
    for name in samples:
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        if name not in known and base not in known:
            fail(f"prometheus: sample of an unknown family: {name}")

    def find(metric, kind, id_):
        got = [s for s in samples.get(metric, [])
               if (kind in ("global", "engine") and not s.labels)
               or s.labels.get("id") == id_ and kind in s.labels]
        if len(got) != 1:
            fail(f"prometheus: {len(got)} samples of {metric} for {kind} {id_}, want 1")
            return None
        return got[0]

    for (kind, id_, key), want in exp["fields"].items():
        metric = FAMILIES[kind][key]
        if key == "resident_bytes":
            continue  # changes between the snapshot and nothing; checked in JSON order only
        s = find(metric, kind, id_)
        if s is None:
            continue
        got = ns(s.value) if metric.endswith("_seconds") or metric.endswith("_seconds_sum") \
            else s.value
        if got != want:
            fail(f"prometheus: {metric}{s.labels} = {s.value}, want {want}")
        tag = exp["names"].get((kind, id_))
        if tag and s.labels.get(kind) != NAMES[tag]:
            fail(f"prometheus: {metric} label {kind}={s.labels.get(kind)!r}, want {NAMES[tag]!r}")
        for label, value in exp["labels"].get((kind, id_), {}).items():
            if s.labels.get(label) != value:
                fail(f"prometheus: {metric} label {label}={s.labels.get(label)!r}")
    for (id_, h), counts in exp["hist"].items():
        metric = HISTS[h]
        buckets = [s for s in samples.get(metric + "_bucket", []) if s.labels.get("id") == id_]
        les = [s.labels["le"] for s in buckets]
        want_les = [repr(b / 1e9) for b in exp["bounds"]] + ["+Inf"]
        if [float(x) for x in les] != [float(x) for x in want_les]:
            fail(f"prometheus: {metric} domain {id_} buckets le={les}")
            continue
        cum = 0
        for s, c in zip(buckets, counts):
            cum += c
            if s.value != cum:
                fail(f"prometheus: {metric}_bucket{s.labels} = {s.value}, want {cum}")
        count = find(metric + "_count", "domain", id_)
        if count is not None and count.value != cum:
            fail(f"prometheus: {metric}_count = {count.value}, want {cum}")
    info = samples.get("ebra_build_info", [])
    if len(info) != 1 or info[0].labels.get("version") != exp["version"] or info[0].value != 1:
        fail(f"prometheus: ebra_build_info {info}")
    for fam, idx in (("ebra_reports_total", 0), ("ebra_reports_suppressed_total", 1)):
        got = {s.labels["kind"]: s.value for s in samples.get(fam, [])}
        want = {k: v[idx] for k, v in exp["reports"].items()}
        if got != want:
            fail(f"prometheus: {fam} = {got}, want {want}")


def text_quote(name):
    out = []
    for ch in name:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def text_blocks(text):
    """Header line -> {key: value} of the pairs below it."""
    blocks, cur = {}, None
    for line in text.split("\n"):
        if line.startswith("  ") and cur is not None:
            for pair in line.strip().split(", "):
                m = re.fullmatch(r"([a-z0-9_]+) (\d+)", pair)
                if m:
                    blocks[cur][m.group(1)] = int(m.group(2))
        elif line:
            cur = line
            blocks[cur] = {}
    return blocks


def check_text(text, exp):
    blocks = text_blocks(text)
    glob = next((b for h, b in blocks.items() if h == "ebra:"), None)
    if glob is None:
        fail("text: no 'ebra:' block")
    for kind in ARRAYS:
        for id_ in entries(exp, kind):
            head = [h for h in blocks if h.startswith(kind + " ") and f"(id {id_}" in h]
            if len(head) != 1:
                fail(f"text: {len(head)} headers for {kind} {id_}")
                continue
            tag = exp["names"].get((kind, id_))
            if tag and tag != "truncated" and not head[0].startswith(
                    f"{kind} {text_quote(NAMES[tag])} "):
                fail(f"text: header {head[0]!r} does not quote {NAMES[tag]!r}")
            for key in FAMILIES[kind]:
                want = exp["fields"][(kind, id_, key)]
                if key.endswith("_sum") and kind == "domain":
                    continue  # on the histogram line below
                if blocks[head[0]].get(key) != want:
                    fail(f"text: {kind} {id_} {key} = {blocks[head[0]].get(key)}, want {want}")
    if f"build: version {exp['version']}, features {exp['features']}" not in text:
        fail("text: no build line")
    for name, (delivered, suppressed) in exp["reports"].items():
        if delivered or suppressed:
            if f"{name} delivered {delivered} suppressed {suppressed}" not in text:
                fail(f"text: reports line lacks {name}")


def main():
    binary, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    r = subprocess.run([binary, "--emit", outdir], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        print(f"{binary} --emit failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return 1
    exp = read_expected(os.path.join(outdir, "expected.txt"))
    read = lambda f: open(os.path.join(outdir, f), encoding="utf-8").read()
    check_json(read("snapshot.json"), exp)
    check_promtool(os.path.join(outdir, "snapshot.prom"))
    check_prometheus(read("snapshot.prom"), exp)
    check_text(open(os.path.join(outdir, "snapshot.txt"), encoding="utf-8",
                    errors="replace").read(), exp)
    for f in failures:
        print("FAIL", f)
    n = len(exp["fields"])
    print(f"check_monitor: {n} numbers in three formats, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
