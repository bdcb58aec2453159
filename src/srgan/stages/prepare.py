"""Stage prepare: seeded LR/HR training crops and whole held-out images, as a few large arrays."""

from srgan.atomic import write_json
from srgan.data import sources
from srgan.data.crops import face_crop, write_eval_images, write_training_crops
from srgan.stages._stage import PREPARED, RAW, log, params, run


def main() -> None:
    p = params("seed", "data")
    data = p["data"]
    parts = {"train": write_training_crops(
        sources.images_of(RAW, data.train, "train"), PREPARED, hr_size=data.hr_size, scale=data.scale,
        crops_per_image=data.crops_per_image, seed=p["seed"], augment=data.augment,
        transform=face_crop if sources.is_faces(data.train) else None)}
    for source in data.eval:
        parts[f"eval/{source}"] = write_eval_images(
            sources.images_of(RAW, source, "eval"), PREPARED / "eval" / f"{sources.raw_name(source)}.npz",
            scale=data.scale, transform=face_crop if sources.is_faces(source) else None)
    for name, part in parts.items():
        for path, why in part.skipped.items():
            log.warning("%s: skipped %s: %s", name, path, why)
        log.info("%s: %d images, %d crops, %d skipped", name, part.images, part.crops, len(part.skipped))
    write_json(PREPARED / "manifest.json", {name: vars(part) for name, part in parts.items()})


if __name__ == "__main__":
    run(main)
