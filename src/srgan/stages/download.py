"""Stage download: materialise the chosen image sources and resolve the pretrained backbones."""

from srgan import backbones
from srgan.atomic import write_json
from srgan.data import sources
from srgan.stages._stage import RAW, WEIGHTS_RECORD, log, params, run


def main() -> None:
    data = params("data")["data"]
    sources.check_source(data.train, "data.train")
    for index, source in enumerate(data.eval):
        sources.check_source(source, f"data.eval[{index}]")
    for source in dict.fromkeys([data.train, *data.eval]):
        log.info("source %s -> %s", source, sources.materialise(source, RAW))
    record = backbones.resolve_all(fetch=data.fetch_weights)
    for entry in record.values():
        (log.info if entry["status"] == "available" else log.warning)(backbones.describe(entry))
    write_json(WEIGHTS_RECORD, record)


if __name__ == "__main__":
    run(main)
