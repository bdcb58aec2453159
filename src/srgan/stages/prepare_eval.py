"""Stage prepare_eval@<set>: whole held-out images of one evaluation set, LR degraded as the set says
-> data/prepared/eval/<set>/."""


from srgan.atomic import write_json
from srgan.data import pairs, sources
from srgan.data.crops import face_crop, write_eval_images
from srgan.data.degradations import make_lr
from srgan.stages._stage import eval_set_name, log, log_skipped, read_params, run
from srgan.stages.paths import prepared_eval, raw_eval


def main() -> None:
    data = read_params("data")["data"]
    name = eval_set_name(data)
    folder = prepared_eval(name)
    evaluation_set = data.eval[name]
    hr, lr, unmatched = pairs.raw_images(raw_eval(name), sources.is_pairs(evaluation_set.source))
    report = write_eval_images(hr, folder / "images.npz", scale=data.scale, max_pixels=data.max_pixels,
                               transform=face_crop if sources.is_faces(evaluation_set.source) else None,
                               make_lr=make_lr(evaluation_set.degradation, data.realistic), seed=evaluation_set.seed,
                               lr_paths=lr, draws=evaluation_set.draws, label=f"data.eval.{name}")
    report.skipped.update(unmatched)
    log_skipped(report.skipped, name)
    log.info("%s: %d images%s, %d skipped", name, report.images,
             f", {evaluation_set.draws} LR draws each" if evaluation_set.draws > 1 else "", len(report.skipped))
    write_json(folder / "manifest.json", vars(report))


if __name__ == "__main__":
    run(main)
