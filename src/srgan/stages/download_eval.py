"""Stage download_eval@<set>: the images of one evaluation set (data.eval.<set>) -> data/raw/eval/<set>/."""

import sys

from srgan.data import sources
from srgan.errors import SrganError
from srgan.stages._stage import log, params, run
from srgan.stages.paths import downloads, raw_eval


def main() -> None:
    name = sys.argv[1]
    data = params("data")["data"]
    if name not in data.eval:
        raise SrganError(f"params.yaml: data.eval has no set named {name!r}; run `dvc repro` to follow params.yaml")
    source = data.eval[name].source
    sources.check_source(source, f"data.eval.{name}", "eval")
    count = sources.materialise(source, "eval", raw_eval(name), downloads(), data.archives, data.max_images)
    log.info("evaluation set %s (%s): %d images", name, source, count)


if __name__ == "__main__":
    run(main)
