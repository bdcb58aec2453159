"""One algorithm makes distinct flat file names (srgan.names), for the data sources and the upscale command."""

from srgan.names import clashing, distinct_labels


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
