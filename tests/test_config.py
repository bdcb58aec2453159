"""Params are typed and validated at load; every mistake names its key."""

from pathlib import Path

import pytest
import yaml

from srgan.config import load_params, parse_section
from srgan.errors import SrganError

PROJECT = Path(__file__).resolve().parents[1]
ALL = ("seed", "execution", "data", "model", "pretrain", "gan", "unsupervised", "evaluate", "report")


def write_params(tmp_path: Path, edit) -> Path:
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    edit(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def error_for(tmp_path: Path, edit, *sections: str) -> str:
    path = write_params(tmp_path, edit)
    with pytest.raises(SrganError) as err:
        load_params(path, *(sections or ALL))
    return str(err.value)


def test_params_read_as_dvc_reads_them_so_the_documented_off_is_off(tmp_path):
    """DVC reads params.yaml as YAML 1.2 (ruamel) and records `lpips: off` as 'off' and `1e-4` as a number; the
    stages read it the same way, not as YAML 1.1 (PyYAML), where `off` is false and `1e-4` a string."""
    text = (PROJECT / "params.yaml").read_text()
    assert "  lpips: auto " in text and "    skimage: skimage" in text
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("  lpips: auto ", "  lpips: off ").replace("    skimage: skimage", "    off: skimage"))
    params = load_params(path, "evaluate", "data")
    assert params["evaluate"].lpips == "off" and list(params["data"].eval) == ["off"]
    path.write_text(text.replace("  niqe: true", "  niqe: off"))
    with pytest.raises(SrganError, match="evaluate.niqe: .*write true or false .*YAML 1.2"):
        load_params(path, "evaluate")


def test_a_yaml_mistake_says_where_it_began_and_names_a_tab(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text('seed: "0\n')
    with pytest.raises(SrganError, match=r"not valid YAML: .*\(line 2, column 1\); while scanning a quoted scalar "
                                         r"\(line 1, column 7\)"):
        load_params(path, "seed")
    path.write_text("seed:\n\t0\n")
    with pytest.raises(SrganError, match="that line holds a tab: indent with spaces"):
        load_params(path, "seed")


@pytest.mark.parametrize("line,named", [("on: push", "'on'"), ("1: 2", "'1'"), ("null: 1", "'None'")])
def test_a_top_level_key_that_is_no_word_is_named_not_a_traceback(tmp_path, line, named):
    path = tmp_path / "params.yaml"
    path.write_text((PROJECT / "params.yaml").read_text() + f"\n{line}\n")
    with pytest.raises(SrganError, match=f"unknown key {named}"):
        load_params(path, "seed")


def test_a_set_name_yaml_reads_as_a_number_says_so(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"].update(eval={5: "set5"}), "data")
    assert "set name 5 is a number to YAML (and to DVC), not a name; quote it ('5':)" in message


def test_a_misspelled_key_of_an_evaluation_set_gets_a_suggestion(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"].update(eval={"x": {"source": "skimage", "seeds": 1}}), "data")
    assert "unknown key 'data.eval.x.seeds'" in message and "did you mean 'seed'" in message
    assert "known: source, degradation, seed, draws" in message
    message = error_for(tmp_path, lambda p: p["data"].update(eval={"x": {"sourc": "skimage"}}), "data")
    assert "unknown key 'data.eval.x.sourc'; did you mean 'source'" in message


@pytest.mark.parametrize("value", ["many", -1, True, 257])
def test_degradation_workers_names_its_key_and_auto(tmp_path, value):
    message = error_for(tmp_path, lambda p: p["execution"].update(degradation_workers=value), "execution")
    assert "execution.degradation_workers: expected auto or a number of worker processes from 0 to 256" in message


def test_a_partly_given_second_order_takes_the_second_order_s_values_for_the_rest(tmp_path):
    def edit(p):
        p["data"]["realistic"]["second"] = {"jpeg_range": [60, 95], "resize_probs": {"up": 0.5, "down": 0.2,
                                                                                     "keep": 0.3}}
    second = load_params(write_params(tmp_path, edit), "data")["data"].realistic.second
    assert second.jpeg_range == (60, 95) and second.resize_probs.up == 0.5
    assert second.blur_prob == 0.8 and second.blur_sigma == (0.2, 1.5) and second.noise_range == (1.0, 25.0)


def test_report_images_with_no_kept_samples_stop_at_load(tmp_path):
    def edit(p):
        p["report"]["images"] = ["astronaut"]
        p["evaluate"]["samples"] = 0
    message = error_for(tmp_path, edit)
    assert "report.images" in message and "evaluate.samples is 0" in message


def test_gan_schedules_past_the_end_of_the_run_are_reported():
    gan = parse_section("gan", {"steps": 200, "lr_decay": {"at": []}, "adv_ramp": {"schedule": "linear", "steps": 200}})
    assert gan.past_the_end() == [
        "adv_ramp.steps 200: the adversarial weight ramps past this run's 200 steps, so it never reaches adv_weight "
        "0.001"]
    warm = {"steps": 200, "lr_decay": {"at": []}, "d_warmup_steps": 500}  # the warm-up comes before the GAN steps
    assert parse_section("gan", warm).past_the_end() == []


def test_the_project_params_load_and_are_consistent():
    params = load_params(PROJECT / "params.yaml", *ALL)
    assert params["data"].hr_size % params["data"].scale == 0
    assert params["model"].generator.blocks > 0
    assert params["gan"].content.vgg54 > 0


def test_unknown_top_level_key(tmp_path):
    message = error_for(tmp_path, lambda p: p.update(pretrian=p["pretrain"]))
    assert "unknown key 'pretrian'" in message and "did you mean 'pretrain'" in message


def test_misspelled_key_is_named_with_suggestion(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"].update(hr_szie=p["data"].pop("hr_size")), "data")
    assert "unknown key 'data.hr_szie'" in message
    assert "did you mean 'hr_size'" in message


def test_a_nested_unknown_key_is_named_with_a_suggestion(tmp_path):
    message = error_for(tmp_path, lambda p: p["model"]["generator"].update(blcks=3), "model")
    assert "unknown key 'model.generator.blcks'" in message
    assert "did you mean 'blocks'" in message


@pytest.mark.parametrize("section,key,value", [
    ("pretrain", "steps", "many"),
    ("pretrain", "lr", "fast"),
    ("gan", "real_label", 0.2),
    ("gan", "adversarial", "wasserstein"),
    ("data", "crops_per_image", 2.5),
    ("model.generator", "norm", "layer"),
    ("evaluate", "lpips", "always"),
])
def test_wrong_type_or_value_names_the_key(tmp_path, section, key, value):
    def edit(p):
        target = p
        for part in section.split("."):
            target = target[part]
        target[key] = value
    message = error_for(tmp_path, edit)
    assert f"{section}.{key}:" in message
    assert repr(value) in message


def test_hr_size_not_divisible_by_scale(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"].update(scale=8, hr_size=100), "data")
    assert "data.hr_size" in message and "not divisible by scale 8" in message


def test_hr_size_must_suit_the_discriminator(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"].update(scale=4, hr_size=40), "data")
    assert "data.hr_size" in message and "multiple of 16" in message


@pytest.mark.parametrize("scale", [3, 16, 1])
def test_an_unsupported_scale_is_refused(tmp_path, scale):
    message = error_for(tmp_path, lambda p: p["data"].update(scale=scale), "data")
    assert "data.scale" in message and "not supported" in message


def test_a_gan_loss_with_every_weight_zero_is_refused(tmp_path):
    def edit(p):
        p["gan"]["adv_weight"] = 0
        p["gan"]["content"] = {"mse": 0, "vgg22": 0, "vgg54": 0}
    assert "learn nothing" in error_for(tmp_path, edit, "gan")


def test_a_fade_longer_than_a_phase_it_fades_into_is_refused(tmp_path):
    def edit(p):
        p["data"]["scale"] = 8
        p["pretrain"].update(steps=700, progressive={"phase_steps": [300, 300], "fade_steps": 101})
    message = error_for(tmp_path, edit, "data", "pretrain")
    assert "pretrain" in message and "fade_steps 101 is longer than a phase it fades into (100 steps)" in message


def test_a_decay_step_listed_twice_is_refused_and_one_past_the_end_is_reported(tmp_path):
    message = error_for(tmp_path, lambda p: p["gan"].update(lr_decay={"at": [50, 50], "factor": 0.5}), "gan")
    assert "gan" in message and "lr_decay.at [50, 50]: list each step once" in message
    assert "(got {" not in message, "a check of the whole section buried in the section's dump"
    params = parse_section("pretrain", {"steps": 100, "lr_decay": {"at": [50, 100, 200]}})
    assert params.past_the_end() == ["lr_decay.at [50, 100, 200]: step 100 and later are past this run's 100 steps, "
                                     "so no decay happens there"]


def test_a_kernel_size_range_without_an_odd_side_is_refused(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"]["realistic"]["first"].update(kernel_size=[8, 8]), "data")
    assert "data.realistic.first.kernel_size" in message and "[8, 8] holds none" in message
    data = parse_section("data", {"realistic": {"first": {"kernel_size": [8, 9]}}})
    assert data.realistic.first.kernel_size == (8, 9)


def test_an_unsupervised_loss_with_both_weights_zero_is_refused(tmp_path):
    message = error_for(tmp_path, lambda p: p["unsupervised"].update(adv_weight=0, consistency_weight=0),
                        "unsupervised")
    assert "unsupervised" in message and "learn nothing" in message


def test_seed_and_device_are_checked(tmp_path):
    assert "seed" in error_for(tmp_path, lambda p: p.update(seed=-1), "seed")
    assert "seed" in error_for(tmp_path, lambda p: p.update(seed=2**32), "seed")
    assert "execution.device" in error_for(tmp_path, lambda p: p["execution"].update(device="tpu"), "execution")


@pytest.mark.parametrize("section,key,value,message", [
    ("data", "hr_size", 0, "greater than 0"),
    ("data", "hr_size", -16, "greater than 0"),
    ("pretrain", "betas", [0.9, 1.5], "less than 1"),
    ("gan", "betas_d", [-0.1, 0.9], "greater than or equal to 0"),
    ("pretrain", "batch_size", 10**7, "less than or equal to 4096"),
    ("pretrain", "steps", True, "valid integer"),
    ("pretrain", "steps", "10", "valid integer"),
    ("gan", "lr_g", True, "not true/false"),
    ("data", "fetch_weights", "yes", "valid boolean"),
    ("evaluate", "samples", -1, "greater than or equal to 0"),
    ("gan", "adv_weight", float("inf"), "finite number"),
    ("gan", "r1_weight", "inf", "finite number"),
    ("unsupervised", "consistency_weight", float("nan"), "finite number"),
])
def test_values_out_of_bounds_or_of_the_wrong_type_name_the_key(tmp_path, section, key, value, message):
    text = error_for(tmp_path, lambda p: p[section].update({key: value}))
    assert f"{section}.{key}" in text and message in text


def test_a_typo_in_one_section_stops_a_stage_that_reads_another(tmp_path):
    """Every section is validated whenever any stage starts: a typo in gan is reported before pretrain runs."""
    message = error_for(tmp_path, lambda p: p["gan"].update(adv_wieght=1e-3), "seed", "data", "pretrain")
    assert "unknown key 'gan.adv_wieght'" in message and "did you mean 'adv_weight'" in message


@pytest.mark.parametrize("edit,message", [
    (lambda p: p["pretrain"]["progressive"].update(phase_steps=[5]) or p["data"].update(scale=8),
     "pretrain.progressive.phase_steps: x8 grows in 3 phases"),
    (lambda p: p["gan"]["progressive"].update(phase_steps=[5]),
     "gan.progressive.phase_steps: the pretrained generator cannot grow"),
    (lambda p: p["unsupervised"].update(mode="measurement") or p["data"].update(hr_size=32)
     or p["pretrain"].update(crop_size=0),
     "unsupervised.mode: measurement compares LR crops of 8px"),
    (lambda p: p["execution"].update(nproc_per_node=3), "pretrain.batch_size: 16 images cannot be split evenly"),
    (lambda p: p["execution"].update(nnodes=2), "needs rdzv_endpoint"),
    (lambda p: p["pretrain"].update(crop_size=66), "pretrain.crop_size: 66 must be a multiple of data.scale (4)"),
    (lambda p: p["pretrain"].update(crop_size=128), "no larger than the prepared crops' data.hr_size (96)"),
])
def test_impossible_combinations_name_their_keys(tmp_path, edit, message):
    assert message in error_for(tmp_path, edit)


def test_evaluation_sets_are_named(tmp_path):
    assert "data.eval" in error_for(tmp_path, lambda p: p["data"].update(eval={}), "data")
    message = error_for(tmp_path, lambda p: p["data"].update(eval={"my set/1": "skimage"}), "data")
    assert "data.eval" in message and "letters, digits" in message


def test_progressive_sections_are_in_params_yaml():
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for section in ("pretrain", "gan"):
        assert set(raw[section]["progressive"]) == {"phase_steps", "fade_steps"}


def test_a_missing_params_section_is_named(tmp_path):
    assert "missing section 'gan'" in error_for(tmp_path, lambda p: p.pop("gan"), "gan")


def test_yaml_scientific_notation_without_dot_is_a_float():
    # PyYAML reads 1e-4 as a string; lax parsing turns it into the number the user meant.
    assert parse_section("pretrain", {"steps": 1, "lr": "1e-4"}).lr == pytest.approx(1e-4)


def test_only_requested_sections_are_returned_but_all_are_validated(tmp_path):
    assert set(load_params(PROJECT / "params.yaml", "data")) == {"data"}
    path = write_params(tmp_path, lambda p: p["report"].update(dpi="high"))
    with pytest.raises(SrganError, match="report.dpi"):
        load_params(path, "data")


def test_params_that_are_not_a_mapping_are_refused(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SrganError, match="expected a mapping"):
        load_params(path, "data")


def test_degradation_defaults_to_bicubic_and_realistic_ranges_are_real_esrgans():
    data = load_params(PROJECT / "params.yaml", "data")["data"]
    assert data.degradation == "bicubic"
    assert data.realistic.first.blur_sigma == (0.2, 3.0) and data.realistic.second.blur_sigma == (0.2, 1.5)
    assert data.realistic.first.resize_range == (0.15, 1.5) and data.realistic.second.jpeg_range == (30, 95)
    assert data.realistic.final_sinc_prob == 0.8


def test_an_evaluation_set_can_name_its_degradation(tmp_path):
    path = write_params(tmp_path, lambda p: p["data"].update(
        eval={"plain": "skimage", "real": {"source": "skimage", "degradation": "realistic", "seed": 3}}))
    data = load_params(path, "data")["data"]
    assert (data.eval["plain"].source, data.eval["plain"].degradation) == ("skimage", "bicubic")
    real = data.eval["real"]
    assert (real.source, real.degradation, real.seed) == ("skimage", "realistic", 3)


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["data"].update(degradation="jpeg"), "data.degradation"),
    (lambda p: p["data"].update(eval={"real": {"source": "skimage", "degradation": "blurry"}}), "data.eval.real"),
    (lambda p: p["data"].update(eval={"real": {"degradation": "realistic"}}), "data.eval.real"),
    (lambda p: p["data"]["realistic"]["first"].update(blur_sigma=[3.0, 0.2]), "data.realistic.first.blur_sigma"),
    (lambda p: p["data"]["realistic"]["second"].update(gaussian_noise_prob=1.5),
     "data.realistic.second.gaussian_noise_prob"),
    (lambda p: p["data"]["realistic"]["first"].update(resize_probs={"up": 0, "down": 0, "keep": 0}),
     "data.realistic.first.resize_probs"),
    (lambda p: p["data"]["realistic"]["first"].update(jpeg_range=[30, 101]), "data.realistic.first.jpeg_range"),
    (lambda p: p["data"]["realistic"].update(thrid={}), "data.realistic.thrid"),
])
def test_degradation_mistakes_name_their_key(tmp_path, edit, message):
    assert message in error_for(tmp_path, edit, "data")


@pytest.mark.parametrize("alphas, message", [([0.5, 1.0], "less than 1"), ([0.0], "greater than 0"),
                                             ([0.5, 0.5], "list each alpha once")])
def test_interpolation_alphas_lie_strictly_between_the_end_models(tmp_path, alphas, message):
    error = error_for(tmp_path, lambda p: p["evaluate"].update(interpolation=alphas), "evaluate")
    assert "evaluate.interpolation" in error and message in error


def test_real_pairs_bring_their_own_lr_so_a_degradation_is_refused(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"].update(train="pairs:/a,/b", degradation="realistic"))
    assert "data.degradation" in message and "pairs" in message
    message = error_for(tmp_path, lambda p: p["data"].update(
        eval={"plates": {"source": "pairs:/a,/b", "degradation": "realistic"}}))
    assert "data.eval.plates.degradation" in message


def test_a_realistic_margin_must_be_whole_lr_pixels(tmp_path):
    def edit(p, margin, degradation="realistic"):
        p["data"].update(degradation=degradation, scale=8, hr_size=128)
        p["data"]["realistic"]["margin"] = margin
    message = error_for(tmp_path, lambda p: edit(p, 12))
    assert "data.realistic.margin" in message and "multiple of 8" in message
    assert "data.realistic.margin" in error_for(tmp_path, lambda p: edit(p, -8), "data")
    for margin, degradation in ((0, "realistic"), (16, "realistic"), (12, "bicubic")):  # bicubic uses no margin
        path = write_params(tmp_path, lambda p: edit(p, margin, degradation))
        assert load_params(path, "data")["data"].realistic.margin == margin


def test_a_key_given_twice_is_refused_as_dvc_refuses_it(tmp_path):
    """DVC rejects duplicate keys in params.yaml; plain YAML would silently keep the last one."""
    text = (PROJECT / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    end_of_section_line = text.index("\n", text.index("\npretrain:") + 1)
    path.write_text(text[:end_of_section_line] + "\n  steps: 7" + text[end_of_section_line:])  # steps comes later
    with pytest.raises(SrganError, match=r'not valid YAML: found duplicate key "steps" .*\(line \d+, column 3\)'):
        load_params(path, "pretrain")
    path.write_text(text)
    assert load_params(path, "pretrain")["pretrain"].steps > 0


def test_a_set_name_too_long_for_a_file_name_is_refused(tmp_path):
    long_name = "s" * 300
    message = error_for(tmp_path, lambda p: p["data"].update(eval={long_name: "skimage"}), "data")
    assert "at most 64" in message
    assert load_params(write_params(tmp_path, lambda p: p["data"].update(eval={"s" * 64: "skimage"})), "data")


def test_further_draws_of_an_evaluation_set_need_a_realistic_degradation(tmp_path):
    message = error_for(tmp_path, lambda p: p["data"].update(eval={"photos": {"source": "skimage", "draws": 4}}),
                        "data")
    assert "data.eval.photos" in message and "draws needs degradation: realistic" in message
    path = write_params(tmp_path, lambda p: p["data"].update(
        eval={"photos": {"source": "skimage", "degradation": "realistic", "draws": 4}}))
    assert load_params(path, "data")["data"].eval["photos"].draws == 4


@pytest.mark.parametrize("execution,message", [
    ({"device": "cuda:1", "nproc_per_node": 2}, "would put all 2 processes (nproc_per_node) on one GPU"),
    ({"nnodes": 2, "rdzv_endpoint": "node1"}, "rdzv_endpoint as host:port"),
    ({"nnodes": 2, "rdzv_endpoint": "node1:99999"}, "rdzv_endpoint as host:port"),
    ({"nnodes": 2, "rdzv_endpoint": "http://node1:29500"}, "rdzv_endpoint as host:port"),
    ({"degradation_workers": -1}, "execution.degradation_workers"),
    ({"degradation_workers": "many"}, "execution.degradation_workers"),
])
def test_impossible_execution_settings_are_refused(tmp_path, execution, message):
    assert message in error_for(tmp_path, lambda p: p["execution"].update(execution), "execution")


def test_a_good_endpoint_and_one_gpu_per_process_load(tmp_path):
    path = write_params(tmp_path, lambda p: p["execution"].update(nnodes=2, rdzv_endpoint="node-1.lan:29500",
                                                                  nproc_per_node=2, device="cuda"))
    assert load_params(path, "execution")["execution"].world_size == 4


@pytest.mark.parametrize("workers", ["auto", 0, 6])
def test_degradation_workers_are_auto_or_a_count(tmp_path, workers):
    path = write_params(tmp_path, lambda p: p["execution"].update(degradation_workers=workers))
    assert load_params(path, "execution")["execution"].degradation_workers == workers
