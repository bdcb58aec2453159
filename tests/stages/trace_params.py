"""Run stage scripts with their params recorded:
`python trace_params.py OUT.json srgan.stages.NAME [ARGS] [-- OUT.json srgan.stages.NAME [ARGS]]...`.

Every params key a stage reads (attribute or item of the typed sections, a whole section when it is
dumped or iterated) is written to its OUT.json, so a test can check it against the stage's `params:` in dvc.yaml.
Several stages run one after another in this one process (each as `python -m` runs it, the libraries imported
once); the first that fails ends the run with its exit status.
"""

import json
import runpy
import sys

from pydantic import BaseModel

import srgan.stages._stage as stage
from srgan.config import load_params

seen: set[str] = set()


class TracedDict(dict):
    def __init__(self, value: dict, key: str):
        super().__init__(value)
        self._key = key

    def __getitem__(self, name):
        seen.add(f"{self._key}.{name}")
        return super().__getitem__(name)

    def get(self, name, default=None):
        seen.add(f"{self._key}.{name}")
        return super().get(name, default)

    def __iter__(self):
        seen.add(self._key)
        return super().__iter__()

    def items(self):
        seen.add(self._key)
        return super().items()

    def values(self):
        seen.add(self._key)
        return super().values()


class Traced:
    def __init__(self, value: BaseModel, key: str):
        self._value, self._key = value, key

    def __getattr__(self, name):
        value = getattr(self._value, name)
        if name.startswith("model_"):
            seen.add(self._key)
            return value
        key = f"{self._key}.{name}"
        if isinstance(value, BaseModel):
            return Traced(value, key)
        if isinstance(value, dict):
            return TracedDict(value, key)
        seen.add(key)
        return value


class TracedSections(dict):
    def __getitem__(self, name):
        value = super().__getitem__(name)
        if isinstance(value, BaseModel):
            return Traced(value, name)
        seen.add(name)
        return value


def traced_params(*sections: str) -> dict:
    return TracedSections(load_params(stage.PARAMS, *sections))


def trace(out: str, module: str, args: list[str]) -> None:
    """Run `module` as `python -m module args` does; write the params keys it read to `out` however it ends."""
    seen.clear()
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        with open(out, "w") as file:
            file.write(json.dumps(sorted(seen)))


def main() -> None:
    stage.read_params = traced_params
    runs, run = [], []
    for word in sys.argv[1:]:
        if word == "--":
            runs.append(run)
            run = []
        else:
            run.append(word)
    runs.append(run)
    for out, module, *args in runs:
        try:
            trace(out, module, args)
        except SystemExit as end:
            if end.code not in (None, 0):
                print(f"trace_params: {module} {' '.join(args)} exited with {end.code}", file=sys.stderr)
                raise


if __name__ == "__main__":
    main()
