"""Model cards: the fields OpenModelDB asks for, beside the model file, with its true sha256."""

import hashlib
import json

import torch

from srgan.models.card import UNKNOWN_LICENCE, card_paths, model_card, with_evaluation, write_card
from srgan.models.generator import Generator
from srgan.models.io import save_generator


def test_a_card_describes_the_file_beside_it(tmp_path):
    torch.manual_seed(0)
    generator = Generator(4, blocks=2, channels=8, bicubic_skip=True)
    model = tmp_path / "models" / "srgan.pt"
    meta = {"label": "SRGAN-VGG54", "steps": 200, "trained_with": "0.006 x VGG54 + 1e-3 x adversarial"}
    save_generator(model, generator, meta)
    card = model_card(model, generator, meta, {"data": "div2k", "degradation": "realistic"},
                      {"validation (skimage, 2 images)": {"psnr_y": 27.5}})
    write_card(model, card)
    json_path, markdown_path = card_paths(model)
    assert (json_path.name, markdown_path.name) == ("srgan.card.json", "srgan.card.md")
    saved = json.loads(json_path.read_text())
    assert saved["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert saved["parameters"] == sum(p.numel() for p in generator.parameters()) > 0
    assert saved["scale"] == 4 and saved["architecture"]["blocks"] == 2 and saved["name"] == "SRGAN-VGG54"
    assert saved["training"] == {"data": "div2k", "degradation": "realistic", "steps": 200,
                                 "content_terms": meta["trained_with"],
                                 "data_licence": "DIV2K: for academic research only (ETH Zurich terms)"}
    assert saved["metrics"]["validation (skimage, 2 images)"] == {"psnr_y": 27.5}
    text = markdown_path.read_text()
    for expected in ("# SRGAN-VGG54 (x4)", saved["sha256"], "academic research only", "psnr_y 27.5",
                     f"{saved['parameters']:,}", "degradation realistic"):
        assert expected in text


def test_the_licence_of_the_users_own_images_is_unknown(tmp_path):
    generator = Generator(2, blocks=1, channels=4)
    save_generator(tmp_path / "g.pt", generator)
    card = model_card(tmp_path / "g.pt", generator, {}, {"data": "folder:/photos", "degradation": "bicubic"}, {})
    assert card["training"]["data_licence"] == UNKNOWN_LICENCE and card["name"] == "g"


def test_an_evaluated_card_adds_each_sets_metrics_and_is_written_where_asked(tmp_path):
    generator = Generator(4, blocks=1, channels=4)
    model = tmp_path / "models" / "srresnet.pt"
    save_generator(model, generator, {"label": "SRResNet"})
    card = model_card(model, generator, {"label": "SRResNet"}, {"data": "skimage", "degradation": "bicubic"},
                      {"validation (skimage, 2 images)": {"psnr_y": 28.6}})
    evaluated = with_evaluation(card, {"set5 (Set5, bicubic, 5 images)": {"psnr_y": 30.1, "niqe": 6.2}})
    assert list(evaluated["metrics"]) == ["validation (skimage, 2 images)", "set5 (Set5, bicubic, 5 images)"]
    assert card["metrics"] == {"validation (skimage, 2 images)": {"psnr_y": 28.6}}, "the training card is unchanged"
    write_card(model, evaluated, tmp_path / "reports" / "cards")
    written = tmp_path / "reports" / "cards" / "srresnet.card.md"
    assert "- **set5 (Set5, bicubic, 5 images)**: psnr_y 30.1, niqe 6.2" in written.read_text()
    assert json.loads(written.with_suffix("").with_suffix(".card.json").read_text()) == evaluated
    assert not card_paths(model)[0].exists(), "nothing written beside the model"
