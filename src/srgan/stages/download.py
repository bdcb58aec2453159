"""Stage download: fetch and verify the chosen image sources, and resolve the pretrained backbones."""

from pathlib import Path

from srgan import backbones
from srgan.atomic import write_json
from srgan.data import sources
from srgan.stages._stage import RAW, WEIGHTS_RECORD, log, params, run

# Archives live outside DVC's outputs so they survive reruns and are never fetched twice.
DOWNLOADS = Path("data/downloads")


def wanted_splits(data) -> dict[str, list[str]]:
    """{source: splits it must provide}, checking every source against its params key."""
    sources.check_source(data.train, "data.train", "train")
    wanted = {data.train: ["train"]}
    for index, source in enumerate(data.eval):
        sources.check_source(source, f"data.eval[{index}]", "eval")
        wanted.setdefault(source, [])
        if "eval" not in wanted[source]:
            wanted[source].append("eval")
    return wanted


def main() -> None:
    data = params("data")["data"]
    for source, splits in wanted_splits(data).items():
        counts = sources.materialise(source, splits, RAW, DOWNLOADS, data.archives, data.max_images)
        log.info("%s: %s", source, ", ".join(f"{count} {split} images" for split, count in counts.items()))
    record = backbones.resolve_all(fetch=data.fetch_weights)
    for entry in record.values():
        (log.info if entry["status"] == "available" else log.warning)(backbones.describe(entry))
    write_json(WEIGHTS_RECORD, record)


if __name__ == "__main__":
    run(main)
