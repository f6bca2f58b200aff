"""Python reference for the baseline-diff benchmark: what Townlet's ad-hoc CI
script does (json + numpy.isclose), with the same checks as the Rust
comparator: runtime_variant, schema key paths, queue fields tick by tick.

usage: python3 reference.py BASELINE.jsonl CANDIDATE.jsonl
"""
import json
import sys

import numpy as np

FIELDS = ["queue_metrics.*", "conflict.queues.*", "employment.pending_count",
          "employment.exits_today", "embedding_metrics.*"]
ENVELOPE = {"tick", "schema_version", "payload_type", "changes", "removed"}


def paths(prefix, value, out):
    out.add(prefix)
    if isinstance(value, dict):
        for k, v in value.items():
            paths(prefix + "." + k, v, out)
    elif isinstance(value, list):
        out.add(prefix + "[]")
        for v in value:
            paths(prefix + "[]", v, out)


def resolve(state, pattern):
    found = []

    def walk(path, value, rest):
        if not rest:
            found.append((path, value))
            return
        seg, rest = rest[0], rest[1:]
        if isinstance(value, dict):
            if seg == "*":
                for k, v in value.items():
                    walk(path + "." + k, v, rest)
            elif seg in value:
                walk(path + "." + seg, value[seg], rest)

    first, rest = pattern[0], pattern[1:]
    if first in state:
        walk(first, state[first], rest)
    return found


def read(path):
    state, key_paths, variant = {}, set(), []
    rows = {}
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            p = json.loads(line)
            tick = p["tick"]
            if p.get("payload_type") == "diff":
                changes = p.get("changes", {})
                state.update(changes)
                for k in p.get("removed", []):
                    state.pop(k, None)
                carried = changes
            else:
                state = {k: v for k, v in p.items() if k not in ENVELOPE}
                carried = state
            for k, v in carried.items():
                paths(k, v, key_paths)
            if "runtime_variant" in carried and carried["runtime_variant"] != "facade":
                variant.append(tick)
            rows[tick] = [resolve(state, f.split(".")) for f in FIELDS]
    return key_paths, variant, rows


def main():
    b_paths, _, b_rows = read(sys.argv[1])
    c_paths, c_variant, c_rows = read(sys.argv[2])
    differ = 0
    for tick in sorted(set(b_rows) & set(c_rows)):
        for fb, fc in zip(b_rows[tick], c_rows[tick]):
            cv = dict(fc)
            for path, bv in fb:
                if path not in cv:
                    differ += 1
                elif isinstance(bv, (int, float)) and isinstance(cv[path], (int, float)):
                    if not np.isclose(cv[path], bv, rtol=1e-7, atol=1e-6):
                        differ += 1
                elif bv != cv[path]:
                    differ += 1
    print(json.dumps({"removed_paths": len(b_paths - c_paths), "added_paths": len(c_paths - b_paths),
                      "variant_failures": len(c_variant), "values_differ": differ}))


if __name__ == "__main__":
    main()
