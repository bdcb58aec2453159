"""Image sources. `materialise` fills one folder with the images of one split of a source.

Archives are downloaded (verified, resumable) into a persistent downloads folder outside DVC's
outputs, extracted once, and their split's images are hard-linked (or copied) into the target.
A source is named in params: one of SOURCES, `folder:PATH` for any local folder of images, or
`pairs:LR_DIR,HR_DIR` for real LR-HR pairs (copied to lr/ and hr/; see srgan.data.pairs). A user's files
are always copied: the pipeline never writes to, or links to, them.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from srgan.data import pairs
from srgan.data.download import extract_verified, fetch, forget_archive
from srgan.data.embedded import skimage_photos
from srgan.errors import SrganError
from srgan.imageio import list_images, no_images, write_png
from srgan.names import path_labels

EDSR_BENCHMARK = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"
DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
CELEBA_DRIVE = "https://drive.google.com/uc?export=download&id="
FOLDER_PREFIX = "folder:"


@dataclass(frozen=True)
class Archive:
    file: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    @property
    def extractable(self) -> bool:
        return self.file.endswith((".zip", ".tar", ".tar.gz", ".tgz"))


@dataclass(frozen=True)
class Source:
    """A downloadable dataset: its archives and, per split, the folder (inside the extracted archives) of its images."""
    name: str
    archives: tuple[Archive, ...]
    splits: dict[str, str] = field(default_factory=dict)
    faces: bool = False  # aligned faces: prepare crops the centred square and resizes it to 128x128
    note: str = ""


_BENCHMARK = Archive("benchmark.tar", EDSR_BENCHMARK, md5="4ace41d33c2384b97e6b320cd0afd6ba")
_CELEBA_IMAGES = Archive("img_align_celeba.zip", CELEBA_DRIVE + "0B7EVK8r0v71pZjFTYXZWM3FlRnM",
                         sha256="46fb89443c578308acf364d7d379fe1b9efb793042c0af734b6112e4fd3a8c74",
                         md5="00d2c5bc6d35e252742224ab0c1e8fcb", size=1443490838)
_CELEBA_SPLIT = Archive("list_eval_partition.txt", CELEBA_DRIVE + "0B7EVK8r0v71pY0NSMzRuSXJEVkk",
                        md5="d32c9cbf5e040fd4025c592c306e6668")

SOURCES: dict[str, Source] = {
    "div2k": Source("div2k", (
        Archive("DIV2K_train_HR.zip", DIV2K + "DIV2K_train_HR.zip", size=3530603713,
                sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335"),
        Archive("DIV2K_valid_HR.zip", DIV2K + "DIV2K_valid_HR.zip", size=448993893,
                sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"),
    ), {"train": "DIV2K_train_HR/DIV2K_train_HR", "eval": "DIV2K_valid_HR/DIV2K_valid_HR"}),
    "set5": Source("set5", (_BENCHMARK,), {"eval": "benchmark/benchmark/Set5/HR"}),
    "set14": Source("set14", (_BENCHMARK,), {"eval": "benchmark/benchmark/Set14/HR"}),
    "bsd100": Source("bsd100", (_BENCHMARK,), {"eval": "benchmark/benchmark/B100/HR"}),
    "urban100": Source("urban100", (_BENCHMARK,), {"eval": "benchmark/benchmark/Urban100/HR"}),
    "bsds300": Source("bsds300", (
        Archive("BSDS300-images.tgz",
                "http://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/BSDS300-images.tgz"),
    ), {"train": "BSDS300-images/BSDS300/images/train", "eval": "BSDS300-images/BSDS300/images/test"},
        note="no published checksum: the sha256 of the first download is recorded and checked afterwards"),
    "celeba": Source("celeba", (_CELEBA_IMAGES, _CELEBA_SPLIT),
                     {"train": "img_align_celeba/img_align_celeba", "eval": "img_align_celeba/img_align_celeba"},
                     faces=True, note="official partition: train = 0, eval = 2 (test)"),
}
CELEBA_PARTITION = {"train": "0", "eval": "2"}


def check_archives(archives: dict[str, str]) -> None:
    """data.archives names only archives some source downloads: a misspelt one would be ignored, and the download
    it was meant to replace would fail with advice to set it."""
    known = sorted({archive.file for source in SOURCES.values() for archive in source.archives})
    for name in archives:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise SrganError(f"params.yaml: data.archives: no source downloads an archive named '{name}'; {hint}"
                             f"the archives are {', '.join(known)}")


def check_source(name: str, key: str, split: str) -> None:
    """Raise a params error naming `key` when `name` is not a source that has `split`."""
    if name.startswith(pairs.PREFIX):
        pairs.parse(name, key)
        return
    if name == "skimage" or name.startswith(FOLDER_PREFIX):
        if name.startswith(FOLDER_PREFIX) and not name[len(FOLDER_PREFIX):].strip():
            raise SrganError(f"params.yaml: {key}: give the folder, e.g. folder:/path/to/images")
        return
    if name not in SOURCES:
        known = ", ".join(["skimage", *SOURCES, "folder:PATH", "pairs:LR_DIR,HR_DIR"])
        raise SrganError(f"params.yaml: {key}: unknown source '{name}'; use one of {known}")
    if split not in SOURCES[name].splits:
        raise SrganError(f"params.yaml: {key}: {name} has no {split} split (it is an evaluation set only)")


def is_pairs(source: str) -> bool:
    return source.startswith(pairs.PREFIX)


def is_faces(source: str) -> bool:
    return source in SOURCES and SOURCES[source].faces


def materialise(source: str, split: str, target: Path, downloads: Path, archives: dict[str, str],
                max_images: int = 0, left_out: dict[str, str] | None = None) -> int:
    """Fill the folder `target` (emptied first) with the images of one split of a source; return their count.
    The files of a user's folder that are not taken (other types, hidden ones) are added to `left_out`, with why."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if source == "skimage":
        return _write_skimage(target, split, max_images)
    if is_pairs(source):
        return _copy_pairs(*pairs.parse(source, "source"), target, max_images, left_out)
    if source.startswith(FOLDER_PREFIX):
        folder = Path(source[len(FOLDER_PREFIX):].strip()).expanduser()
        left_out = {} if left_out is None else left_out
        images = _limit(list_images(folder, left_out), max_images)
        if not images:
            raise no_images(folder, left_out)
        return _place_all(images, folder, target, link=False)
    spec = SOURCES[source]
    roots = {archive.file: _fetch(archive, downloads, archives) for archive in spec.archives}
    first = spec.archives[0]
    root = downloads / first.file.split(".")[0] if first.extractable else roots[first.file]
    return _place_all(_limit(_split_images(spec, split, roots, downloads), max_images), root, target, link=True)


def _copy_pairs(lr_dir: Path, hr_dir: Path, target: Path, max_images: int, left_out: dict[str, str] | None) -> int:
    """Copy the images of both folders, keeping their paths, into target/lr and target/hr; return the number of
    pairs. With max_images, the pairs past the first max_images are left out; files without a partner stay, to be
    named when the pairs are matched."""
    found, left_out = {}, {} if left_out is None else left_out
    for side, folder in ((pairs.LR, lr_dir), (pairs.HR, hr_dir)):
        images = list_images(folder, left_out)
        if not images:
            raise no_images(folder, left_out)
        found[side] = {path: path.relative_to(folder) for path in images}
    if max_images:
        names = {side: Counter(relative.with_suffix("") for relative in files.values())
                 for side, files in found.items()}
        paired = sorted(name for name, count in names[pairs.HR].items() if count == 1 and names[pairs.LR][name] == 1)
        dropped = set(paired[max_images:])
        found = {side: {path: rel for path, rel in files.items() if rel.with_suffix("") not in dropped}
                 for side, files in found.items()}
    for side, files in found.items():
        for path, relative in files.items():
            (target / side / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / side / relative)
    return len(pairs.match(target)[0])


def _write_skimage(folder: Path, split: str, max_images: int) -> int:
    photos = skimage_photos(split)
    names = _limit(list(photos), max_images)
    for name in names:
        write_png(folder / f"{name}.png", photos[name])
    return len(names)


def _fetch(archive: Archive, downloads: Path, overrides: dict[str, str]) -> Path:
    """Download (or take the user's copy of) an archive, verify it, extract it once; return its folder or file."""
    override = overrides.get(archive.file)
    is_url = bool(override) and "://" in override
    path = fetch(archive.url, downloads / archive.file, sha256=archive.sha256, md5=archive.md5, size=archive.size,
                 mirror=override if is_url else None,
                 local_file=Path(override).expanduser() if override and not is_url else None)
    if not archive.extractable:
        return path
    # Without a published hash (BSDS300) the first download's hash is pinned, but only once it extracts cleanly.
    return extract_verified(path, downloads / archive.file.split(".")[0],
                            pin_hash=archive.sha256 is None and archive.md5 is None,
                            url=override if is_url else archive.url)


def _split_images(spec: Source, split: str, roots: dict[str, Path], downloads: Path) -> list[Path]:
    first = spec.archives[0]
    folder = downloads / spec.splits[split] if first.extractable else roots[first.file]
    if not folder.is_dir():
        wrong = (f"{folder}: expected the {split} images of {spec.name} here after extraction; the archive "
                 f"{first.file} does not have the expected layout")
        if first.sha256 is None and first.md5 is None:  # only its pinned hash vouched for it: both go
            forget_archive(downloads / first.file)
            raise SrganError(f"{wrong}, so it was deleted: check that data.archives.{first.file} (if you set it) "
                             f"names the archive {spec.name} publishes, then run again")
        raise SrganError(f"{wrong} (delete it to download again)")
    images = list_images(folder)
    if spec.name == "celeba":
        wanted = _celeba_partition(roots[_CELEBA_SPLIT.file], CELEBA_PARTITION[split])
        images = [path for path in images if path.name in wanted]
    return images


def _celeba_partition(listing: Path, partition: str) -> set[str]:
    names = set()
    for line in listing.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == partition:
            names.add(parts[0])
    if not names:
        raise SrganError(f"{listing}: no image of partition {partition}; is this list_eval_partition.txt?")
    return names


def _limit(items: list, max_images: int) -> list:
    return items[:max_images] if max_images else items


def _place_all(images: list[Path], root: Path, folder: Path, link: bool) -> int:
    """Put each image into the empty `folder` under a unique name (see unique_names); hard-link only the
    pipeline's own extracted files (`link`), copy everything else."""
    for path, name in unique_names(images, root).items():
        target = folder / name
        if link:
            try:
                os.link(path, target)
                continue
            except OSError:
                pass
        shutil.copyfile(path, target)
    return len(images)


def unique_names(images: list[Path], root: Path) -> dict[Path, str]:
    """A flat file name for each image under `root`, unique in stem (the stem names the image in evaluation) even
    ignoring case: its own name where that is unique, else its path below root joined with '__', then with the
    suffix kept in the stem where two files differ only by it (photo_png.png, photo_jpg.jpg), then numbered
    (srgan.names.path_labels)."""
    return {path: stem + path.suffix for path, stem in path_labels(images, root).items()}
