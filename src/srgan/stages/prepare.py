"""Stage prepare: seeded LR/HR training crops -> data/prepared/train/, validation images -> validation.npz.

Validation LR is degraded like the training LR (data.degradation), so validation PSNR tracks the task trained for.
With realistic degradation, the HR crops are also kept with data.realistic.margin pixels around them
(train_hr_margin.npy), which pretraining and GAN training degrade afresh at every step; train_lr.npy holds one draw.
Real pairs (pairs:LR_DIR,HR_DIR) bring their own LR.
"""

from srgan.atomic import write_json
from srgan.data import pairs, sources
from srgan.data.crops import face_crop, write_eval_images, write_training_crops
from srgan.data.degradations import make_lr
from srgan.stages._stage import log, log_skipped, read_params, run
from srgan.stages.paths import RAW_TRAIN, RAW_VALIDATION, TRAIN, VALIDATION


def main() -> None:
    p = read_params("seed", "data")
    data = p["data"]
    lr_maker = make_lr(data.degradation, data.realistic)
    train, train_lr, train_unmatched = pairs.raw_images(RAW_TRAIN, sources.is_pairs(data.train))
    validation, validation_lr, validation_unmatched = pairs.raw_images(
        RAW_VALIDATION, sources.is_pairs(data.validation.source))
    parts = {
        "train": write_training_crops(
            train, TRAIN, hr_size=data.hr_size, scale=data.scale,
            crops_per_image=data.crops_per_image, seed=p["seed"], augment=data.augment,
            transform=face_crop if sources.is_faces(data.train) else None, max_pixels=data.max_pixels,
            make_lr=lr_maker, lr_paths=train_lr,
            margin=data.realistic.margin if data.degradation == "realistic" else 0),
        "validation": write_eval_images(
            validation, VALIDATION, scale=data.scale, max_pixels=data.max_pixels,
            transform=face_crop if sources.is_faces(data.validation.source) else None,
            make_lr=lr_maker, seed=p["seed"], lr_paths=validation_lr, label="data.validation"),
    }
    parts["train"].skipped.update(train_unmatched)
    parts["validation"].skipped.update(validation_unmatched)
    for name, part in parts.items():
        log_skipped(part.skipped, name)
        log.info("%s: %d images, %d crops, %d skipped", name, part.images, part.crops, len(part.skipped))
    write_json(TRAIN / "manifest.json", {name: vars(part) for name, part in parts.items()})


if __name__ == "__main__":
    run(main)
