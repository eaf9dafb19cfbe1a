"""Hostile-input cases run in a fresh interpreter, so a case that crashes the
kernel fails its test instead of killing pytest; all cases of a table share
one interpreter (torch's import dominates the time).

A table maps a case id to a Case; the test module names the op its cases
call (OP). The child imports the test module, calls the op on each case's
arguments, eagerly and again on fake copies under FakeTensorMode (what
torch.compile traces with), and prints every message as JSON."""
import dataclasses
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Case:
    args: Callable[[], dict]  # the op's keyword arguments
    message: str  # a regex the eager error must match
    fake: bool = True  # the fake kernel raises the same words (False: needs values)


def _message(fn) -> str | None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the message is the result
        return f"{type(exc).__name__}: {exc}"
    return None


def _run_table(module: str, table: str) -> dict:
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils._pytree import tree_map_only

    mod = importlib.import_module(module)
    results = {}
    for name, case in getattr(mod, table).items():
        print(f"case {name}", file=sys.stderr, flush=True)  # the last one names a crash
        eager = _message(lambda: mod.OP(**case.args()))
        fake = None
        if case.fake:
            with FakeTensorMode() as mode:
                args = tree_map_only(torch.Tensor, mode.from_tensor, case.args())
                fake = _message(lambda: mod.OP(**args))
        results[name] = {"eager": eager, "fake": fake}
    return results


def run_table(module: str, table: str) -> dict:
    """Every case's eager and fake messages (None: no error), from a child
    interpreter; asserts that it exited normally (no signal)."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TORCH_SHOW_CPP_STACKTRACES": "0"}
    code = (f"import json, tests.hostile as h; "
            f"print(json.dumps(h._run_table({module!r}, {table!r})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, (f"the child exited with {proc.returncode} (negative: killed "
                                  f"by that signal) after:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_result(case: Case, got: dict, prefix: str) -> None:
    """Asserts what a table case promises: no error when ``case.message`` is
    None, else an eager RuntimeError starting with ``prefix`` (the op's name)
    and matching the message, and the same words from the fake kernel."""
    if case.message is None:
        assert got == {"eager": None, "fake": None}
        return
    assert got["eager"] is not None and got["eager"].startswith(f"RuntimeError: {prefix}")
    assert re.search(case.message, got["eager"]), got["eager"]
    if case.fake:
        assert got["fake"] == got["eager"]  # the fake kernel's words are the C++ check's
