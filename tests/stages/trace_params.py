"""Run one stage script with its params recorded: `python trace_params.py OUT.json srgan.stages.NAME [ARGS]`.

Every params key the stage reads (attribute or item of the typed sections, a whole section when it is
dumped or iterated) is written to OUT.json, so a test can check it against the stage's `params:` in dvc.yaml.
"""

import atexit
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


def main() -> None:
    out, module, *args = sys.argv[1:]
    stage.read_params = traced_params
    atexit.register(lambda: open(out, "w").write(json.dumps(sorted(seen))))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
