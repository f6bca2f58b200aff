"""Runs a step of `cargo xtask`'s rollout capture under the target's own Python.

Written to target/rollout/ by the rollout tooling; not part of Townlet, and it
changes none of Townlet's files.

  bootstrap.py sim-config SRC OUT SET_JSON
      Writes the YAML config SRC to OUT with the dotted keys of SET_JSON (a
      JSON object) set, using PyYAML as Townlet itself loads its configs.

  bootstrap.py run LEVEL LOG_FILE -- SCRIPT [ARGS...]
  bootstrap.py run LEVEL LOG_FILE -- -m MODULE [ARGS...]
  bootstrap.py run LEVEL LOG_FILE -- -c CODE [ARGS...]
      Runs SCRIPT (or MODULE, or CODE) as `__main__`, as `python SCRIPT ARGS` would,
      with Python logging at LEVEL appended to LOG_FILE in Townlet's format
      (`2026-01-05 10:00:01,123 INFO townlet.core.sim_loop tick_health ...`).
      Townlet's scripts configure no logging, so without this its
      `tick_health` lines are never written.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def fail(message: str) -> "None":
    print(f"rollout capture: {message}", file=sys.stderr)
    raise SystemExit(2)


def sim_config(src: str, out: str, set_json: str) -> None:
    try:
        import yaml
    except ImportError:
        fail("PyYAML is not installed in this environment, so the capture's sim config cannot be written")
    try:
        with open(src, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
    except OSError as err:
        fail(f"cannot read the sim config {src}: {err}")
    except yaml.YAMLError as err:
        fail(f"the sim config {src} is not valid YAML: {err}")
    if not isinstance(doc, dict):
        fail(f"the sim config {src} is not a mapping")
    for dotted, value in json.loads(set_json).items():
        node = doc
        parts = dotted.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                fail(f"cannot set {dotted} in {src}: {where} is not a mapping")
            node = child
        node[parts[-1]] = value
    tmp = f"{out}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)
    os.replace(tmp, out)


def run(level_name: str, log_file: str, argv: list[str]) -> None:
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        fail(f"unknown log level {level_name}")
    handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)

    # A script that calls logging.basicConfig(force=True) removes every
    # handler of the root logger: put ours back, at our level.
    original = logging.basicConfig

    def basic_config(**kwargs: object) -> None:
        original(**kwargs)
        if handler not in root.handlers:
            root.addHandler(handler)
        if root.level > level:
            root.setLevel(level)

    logging.basicConfig = basic_config  # type: ignore[assignment]

    if not argv:
        fail("nothing to run after --")
    if argv[0] == "-m":
        if len(argv) < 2:
            fail("-m without a module")
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        if len(argv) < 2:
            fail("-c without code")
        sys.argv = ["-c", *argv[2:]]
        sys.path[0] = ""
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    elif argv[0].startswith("-"):
        fail(f"the capture runs SCRIPT, -m MODULE or -c CODE under the interpreter, not {argv[0]}")
    else:
        script = argv[0]
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


def main() -> None:
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "sim-config":
        sim_config(args[1], args[2], args[3])
    elif len(args) >= 4 and args[0] == "run" and args[3] == "--":
        run(args[1], args[2], args[4:])
    else:
        fail("usage: bootstrap.py sim-config SRC OUT SET_JSON | run LEVEL LOG_FILE -- SCRIPT [ARGS...]")


if __name__ == "__main__":
    main()
