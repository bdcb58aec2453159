"""Stage download: the training images (data.train) and the validation images (data.validation) -> data/raw/."""

from srgan.data import sources
from srgan.stages._stage import log, log_skipped, read_params, run
from srgan.stages.paths import RAW_TRAIN, RAW_VALIDATION, downloads


def main() -> None:
    data = read_params("data")["data"]
    sources.check_archives(data.archives)
    sources.check_source(data.train, "data.train", "train")
    sources.check_source(data.validation.source, "data.validation.source", "eval")
    left_out = {}
    count = sources.materialise(data.train, "train", RAW_TRAIN, downloads(), data.archives, data.max_images, left_out)
    log.info("training images (%s): %d", data.train, count)
    count = sources.materialise(data.validation.source, "eval", RAW_VALIDATION, downloads(), data.archives,
                                data.validation.images, left_out)
    log.info("validation images (%s): %d", data.validation.source, count)
    log_skipped(left_out)
    if count < data.validation.images:
        log.warning("data.validation.images asks for %d, and %s holds %d: training validates on those",
                    data.validation.images, data.validation.source, count)


if __name__ == "__main__":
    run(main)
