#!/usr/bin/env python3
"""bench/report.py: the post-processing of bench/run.sh. Reads the JSON lines that
bench/train_bench.c (convnet) and bench/torch_bench.py (PyTorch, one line per
threading setting tried) printed, and for every workload and thread count:
  - picks PyTorch's fastest setting (highest images/s, i.e. lowest median time);
  - ratio: throughput rows convnet images/s / PyTorch images/s (above 1: convnet
    faster); latency rows (batch 1) convnet ms / PyTorch ms (below 1: convnet
    faster); memory: convnet max RSS / PyTorch max RSS;
  - convnet's achieved GFLOP/s (flops_per_item from train_bench.c times items/s)
    and its fraction of the sgemm peak: convnet's cn_gemm GFLOP/s (the sgemm
    workload, its fastest repeat) at the same thread count in the same run;
  - the issue's targets for the rows that have one.
Prints a Markdown table (and, with --settings, a second one with every PyTorch
setting tried) and, with --json FILE, writes everything as one JSON object.
Exit status 3 when a row lacks convnet's or PyTorch's figures (a process failed).
Standard library only (no numpy).
Usage: report.py RESULTS.jsonl [--json FILE] [--settings] [--meta KEY=VALUE ...]
"""
import argparse
import json
import sys

# workload: (description, metric, unit)
WORKLOADS = {
    "cnn_train": ("small CNN train, batch 64", "throughput", "img/s"),
    "resnet20_train": ("ResNet-20 train, batch 128", "throughput", "img/s"),
    "mlp_train": ("MLP 784-512-10 train, batch 128", "throughput", "img/s"),
    "cnn_infer_b1": ("small CNN inference, batch 1", "latency", "ms"),
    "cnn_infer_b128": ("small CNN inference, batch 128", "throughput", "img/s"),
    "resnet20_infer_b1": ("ResNet-20 inference, batch 1", "latency", "ms"),
    "resnet20_infer_b128": ("ResNet-20 inference, batch 128", "throughput", "img/s"),
    "resnet20_conv_fwd": ("ResNet-20 convolutions alone, forward, batch 128", "throughput",
                          "img/s"),
    "knn": ("kNN L2 distances, Fashion-MNIST test x 60000 train", "throughput", "queries/s"),
    "sgemm": ("sgemm peak (cn_gemm / torch.mm, n^3)", "throughput", "GFLOP/s"),
}

# the must-show targets: workload -> [(quantity, op, bound)]
TARGETS = {
    "cnn_train": [("ratio", ">=", 1.5), ("rss_ratio", "<=", 0.5)],
    "resnet20_train": [("ratio", ">=", 1.4), ("rss_ratio", "<=", 0.5)],
    "mlp_train": [("ratio", ">=", 1.2), ("rss_ratio", "<=", 0.5)],
    "cnn_infer_b1": [("ratio", "<=", 0.5)],
    "resnet20_infer_b1": [("ratio", "<=", 0.7)],
    "resnet20_conv_fwd": [("peak_fraction", ">=", 0.75)],
}
SHORT = {"ratio": "speed", "rss_ratio": "mem", "peak_fraction": "peak"}


def short_setting(rec):
    """'t2 ob1': torch.set_num_threads(2) with OPENBLAS_NUM_THREADS=1 ('ob-': unset)."""
    ob = rec.get("openblas_num_threads")
    return f"t{rec.get('torch_threads', rec['threads'])} ob{ob if ob else '-'}"


def figures(rec, wl, flops_per_item):
    """The figures of one process's record, in the workload's unit (sgemm: GFLOP/s
    from flops_per_item, train_bench.c's count for the row)."""
    if rec is None or rec.get("error"):
        return None
    metric, unit = WORKLOADS[wl][1], WORKLOADS[wl][2]
    med = rec["median_s"]
    out = {
        "setting": rec["setting"],
        "median_s": med,
        "items_per_s": rec["items_per_s"],
        "ms_per_iter": med * 1e3,
        "times_s": rec["times_s"],
        "iters": rec["iters"],
        "max_rss_mib": rec["max_rss_kb"] / 1024.0 if rec.get("max_rss_kb", -1) >= 0 else None,
        "loss": rec.get("loss"),
        "build": rec.get("build"),
        "load1": rec.get("load1"),
    }
    if wl == "sgemm":
        out["value"] = rec["items_per_s"] * flops_per_item / 1e9 if flops_per_item else None
    else:
        out["value"] = med * 1e3 if metric == "latency" else rec["items_per_s"]
    out["unit"] = unit
    return out


def check(op, value, bound):
    return value >= bound if op == ">=" else value <= bound


def build_rows(records):
    """One row per (workload, threads) in the order first seen."""
    keys, by_key = [], {}
    for rec in records:
        key = (rec["workload"], rec["threads_row"])
        if key not in by_key:
            keys.append(key)
            by_key[key] = {"convnet": None, "pytorch": []}
        if rec["side"] == "convnet":
            by_key[key]["convnet"] = rec
        else:
            by_key[key]["pytorch"].append(rec)
    peaks = {}
    for (wl, t), v in by_key.items():
        c = v["convnet"]
        if wl == "sgemm" and c and not c.get("error"):
            # the peak: the fastest repeat (the others lose time to interference)
            peaks[t] = c["items_per_iter"] / min(c["times_s"]) * c["flops_per_item"] / 1e9
    rows = []
    for wl, t in keys:
        v = by_key[(wl, t)]
        desc, metric, unit = WORKLOADS[wl]
        c = v["convnet"]
        fpi = c.get("flops_per_item") if c and not c.get("error") else None
        cf = figures(c, wl, fpi)
        tried = [(r, figures(r, wl, fpi)) for r in v["pytorch"]]
        ok = [(r, f) for r, f in tried if f]
        best = max(ok, key=lambda p: p[1]["items_per_s"]) if ok else (None, None)
        pf = best[1]
        if pf:
            pf["short"] = short_setting(best[0])
        row = {"workload": wl, "description": desc, "threads": t, "metric": metric,
               "unit": unit, "convnet": cf, "pytorch": pf,
               "pytorch_settings": [dict(f or {"error": r.get("error")}, short=short_setting(r),
                                         setting=r.get("setting")) for r, f in tried],
               "ratio": None, "rss_ratio": None, "gflops": None, "peak_fraction": None,
               "targets": []}
        if cf and c.get("flops_per_item"):
            row["gflops"] = c["items_per_s"] * c["flops_per_item"] / 1e9
            if peaks.get(t):
                row["peak_fraction"] = row["gflops"] / peaks[t]
        if cf and pf and cf["value"] and pf["value"]:
            row["ratio"] = cf["value"] / pf["value"]
            if cf["max_rss_mib"] and pf["max_rss_mib"]:
                row["rss_ratio"] = cf["max_rss_mib"] / pf["max_rss_mib"]
        row["ratio_definition"] = ("convnet ms / PyTorch ms (lower is better)"
                                   if metric == "latency" else
                                   f"convnet {unit} / PyTorch {unit} (higher is better)")
        for q, op, bound in TARGETS.get(wl, []):
            val = row[q]
            row["targets"].append({"quantity": q, "op": op, "bound": bound, "value": val,
                                   "met": None if val is None else check(op, val, bound)})
        rows.append(row)
    return rows, peaks


def fmt_value(f, unit):
    if not f:
        return "failed"
    v = f["value"]
    if v is None:
        return "n/a"
    if unit == "ms":
        return f"{v:.3f} ms"
    return f"{v:,.1f} {unit}" if v < 100 else f"{v:,.0f} {unit}"


def fmt_targets(row):
    parts = []
    for t in row["targets"]:
        met = "?" if t["met"] is None else ("yes" if t["met"] else "no")
        bound = f"{t['bound']:.0%}" if t["quantity"] == "peak_fraction" else f"{t['bound']}x"
        parts.append(f"{SHORT[t['quantity']]} {t['op']} {bound}: {met}")
    return "; ".join(parts)


def table(rows):
    out = ["| workload | threads | convnet | PyTorch (best setting) | ratio | convnet GFLOP/s "
           "| % of sgemm peak | max RSS MiB convnet / PyTorch (ratio) | targets |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cf, pf = r["convnet"], r["pytorch"]
        pt = f"{fmt_value(pf, r['unit'])} ({pf['short']})" if pf else "failed"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "n/a"
        gf = f"{r['gflops']:.1f}" if r["gflops"] is not None else "n/a"
        pk = f"{100 * r['peak_fraction']:.0f}%" if r["peak_fraction"] is not None else "n/a"
        rc = f"{cf['max_rss_mib']:.0f}" if cf and cf["max_rss_mib"] else "n/a"
        rp = f"{pf['max_rss_mib']:.0f}" if pf and pf["max_rss_mib"] else "n/a"
        rr = f" ({r['rss_ratio']:.2f}x)" if r["rss_ratio"] is not None else ""
        out.append(f"| {r['description']} | {r['threads']} | {fmt_value(cf, r['unit'])} | {pt} "
                   f"| {ratio} | {gf} | {pk} | {rc} / {rp}{rr} | {fmt_targets(r)} |")
    return "\n".join(out)


def settings_table(rows):
    names = []
    for r in rows:
        for s in r["pytorch_settings"]:
            if s["short"] not in names:
                names.append(s["short"])
    out = ["| workload | threads | " + " | ".join(f"PyTorch {n}" for n in names) + " |",
           "|---|---|" + "---|" * len(names)]
    for r in rows:
        cells = {s["short"]: (fmt_value(s, r["unit"]) if "value" in s else "failed")
                 for s in r["pytorch_settings"]}
        out.append(f"| {r['description']} | {r['threads']} | "
                   + " | ".join(cells.get(n, "-") for n in names) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--json", default="")
    ap.add_argument("--settings", action="store_true")
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE for the JSON")
    a = ap.parse_args()
    records = []
    with open(a.results, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{a.results}:{n}: not JSON: {e}")
    rows, peaks = build_rows(records)
    print(table(rows))
    if a.settings:
        print()
        print(settings_table(rows))
    if a.json:
        meta = dict(kv.split("=", 1) for kv in a.meta if "=" in kv)
        doc = {"meta": meta, "sgemm_peak_gflops": {str(k): v for k, v in peaks.items()},
               "results": rows}
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    failed = [r for r in rows if not r["convnet"] or not r["pytorch"]]
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
