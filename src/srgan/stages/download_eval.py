"""Stage download_eval@<set>: the images of one evaluation set (data.eval.<set>) -> data/raw/eval/<set>/."""

from pathlib import Path

from srgan.data import sources
from srgan.stages._stage import eval_set_name, log, log_skipped, read_params, run
from srgan.stages.paths import downloads, evaluation, prepared_eval, raw_eval


def main() -> None:
    data = read_params("data")["data"]
    name = eval_set_name(data)
    source = data.eval[name].source
    sources.check_archives(data.archives)
    sources.check_source(source, f"data.eval.{name}", "eval")
    left_out = {}
    try:
        count = sources.materialise(source, "eval", raw_eval(name), downloads(), data.archives, data.max_images,
                                    left_out)
    except BaseException:
        # DVC makes the set's output folders before its stages run; a failed download leaves none of them empty.
        for folder in (raw_eval(name), prepared_eval(name), evaluation(name)):
            remove_empty_folders(folder)
        raise
    log.info("evaluation set %s (%s): %d images", name, source, count)
    log_skipped(left_out)


def remove_empty_folders(folder: Path) -> None:
    """Remove folder and the folders under it, if they hold no file."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


if __name__ == "__main__":
    run(main)
