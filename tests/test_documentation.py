"""The README and the pages of docs/ hold together: every relative link reaches a file and, with an anchor, one of
its headings, and every page of docs/ is linked from the README."""

import re
from pathlib import Path

from tests.conftest import PROJECT, documentation

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(page: Path) -> str:
    """The page without its fenced code blocks (a `#` there is a shell comment, not a heading)."""
    return re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", prose(page), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page)) if not re.match(r"[a-z]+:", target)]


def test_every_relative_link_reaches_a_file_and_a_heading():
    checked = 0
    for page in documentation():
        for target in relative_links(page):
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file(), f"{page.name}: link to {target}: no such file"
            if anchor:
                assert anchor in anchors(linked), f"{page.name}: link to {target}: {linked.name} has no such heading"
            checked += 1
    assert checked >= 10


def test_every_page_of_docs_is_linked_from_the_readme():
    readme = PROJECT / "README.md"
    linked = {(readme.parent / target.partition("#")[0]).resolve() for target in relative_links(readme)}
    for page in documentation()[1:]:
        assert page.resolve() in linked, f"README links nowhere to {page.relative_to(PROJECT)}"


def test_the_anchors_follow_githubs_rule(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# The GAN you can see: the offline default\n\n```bash\n# a comment\n```\n\n"
                    "## The previous default's `D`\n")
    assert anchors(page) == {"the-gan-you-can-see-the-offline-default", "the-previous-defaults-d"}
