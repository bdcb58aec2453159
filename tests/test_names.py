"""One algorithm makes distinct flat file names (srgan.names), for the data sources and the upscale command."""

from pathlib import Path

from srgan.names import MAX_LABEL_BYTES, clashing, distinct_labels, path_labels


def leaf(item: str) -> str:
    return item.rsplit("/", 1)[-1]


def with_parent(item: str) -> str:
    return "_".join(item.split("/")[-2:])


def test_each_rung_serves_only_the_labels_still_clashing_then_numbers_the_rest():
    items = ["x/a/photo", "y/a/photo", "solo", "c/Photo", "d/photo"]
    assert distinct_labels(items, (leaf, with_parent)) == {
        "x/a/photo": "a_photo", "y/a/photo": "a_photo_2", "solo": "solo", "c/Photo": "c_Photo", "d/photo": "d_photo"}


def test_labels_differ_ignoring_case_and_numbers_skip_labels_in_use():
    labels = distinct_labels(["A", "a", "a_2"], (str,))
    assert labels == {"A": "A", "a": "a_3", "a_2": "a_2"}
    assert not clashing(labels)
    assert clashing({1: "Photo", 2: "photo", 3: "other"}) == [1, 2]


def test_no_items_no_labels():
    assert distinct_labels([], (str,)) == {}


def test_folders_joined_past_a_file_name_s_length_end_in_the_file_s_own_name_behind_a_hash(tmp_path):
    """Two IMG_0001.jpg under long, non-ASCII folder names: each label fits a file name (255 bytes, room left for
    a suffix), keeps the file's own name at its end, and the two stay apart; a short label is left alone."""
    folder = "Urlaub in Südfrankreich mit der ganzen Familie und den Großeltern, Sommer zweitausendzwanzig"
    items = [f"{folder}/Kamera von Anna (die alte Spiegelreflex)/IMG_0001",
             f"{folder}/Kamera von Jürgen (das neue Telefon mit drei Linsen)/IMG_0001", "short"]
    paths = [tmp_path / f"{item}.jpg" for item in items]
    labels = path_labels(paths, tmp_path)
    assert labels[paths[2]] == "short" and len(set(labels.values())) == 3
    for path in paths[:2]:
        assert len(labels[path].encode()) <= MAX_LABEL_BYTES and labels[path].endswith("__IMG_0001")
        (tmp_path / f"{labels[path]}.jpg").write_bytes(b"")  # the file system takes it


def test_a_name_no_encoding_reads_is_bounded_without_an_error():
    """A Latin-1 name from an old zip or a network share arrives as surrogates: its bytes are counted, not refused."""
    path = Path("/photos") / ("caf\udce9" * 60) / "x.png"
    assert path_labels([path, Path("/photos/x.png")], Path("/photos"))[path].endswith("__x")


def test_a_joined_name_that_fits_a_file_name_is_kept_whole_and_a_longer_one_is_cut_between_folders():
    fits = Path("/p") / ("a" * 110) / ("b" * 110) / "x.png"
    longer = Path("/p") / ("a" * 110) / ("b" * 130) / "x.png"
    labels = path_labels([fits, longer, Path("/p/x.png")], Path("/p"))
    assert labels[fits] == f"{'a' * 110}__{'b' * 110}__x"
    assert labels[longer].endswith(f"__{'b' * 130}__x") and "a" not in labels[longer].split("__", 1)[1]
