"""Stage backbones: resolve the pretrained VGG19 and AlexNet weights -> data/weights.json, data/backbones/."""

import shutil

from srgan import backbones
from srgan.atomic import write_json
from srgan.stages._stage import log, read_params, run
from srgan.stages.paths import BACKBONES, WEIGHTS_RECORD


def main() -> None:
    data = read_params("data")["data"]
    record = backbones.resolve_all(fetch=data.fetch_weights, tracked=BACKBONES)  # before the folder is emptied
    shutil.rmtree(BACKBONES, ignore_errors=True)
    BACKBONES.mkdir(parents=True)
    # Never an empty folder (DVC warns about those): say what belongs here.
    (BACKBONES / "README.md").write_text("Verified copies of the pretrained backbones that data/weights.json lists as "
                                         "available, tracked by DVC so that a team shares them through its remote.\n")
    for entry in record.values():
        (log.info if entry["status"] == "available" else log.warning)(backbones.describe(entry))
        backbones.export(entry, BACKBONES)
    write_json(WEIGHTS_RECORD, record)


if __name__ == "__main__":
    run(main)
