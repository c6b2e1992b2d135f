"""The user documentation: README.md and the guides in docs/.

Every relative Markdown link resolves (to a file of the repository, and a ``#fragment`` to a heading of the
target, by GitHub's anchor rule), every guide is linked from README.md and from the index docs/README.md, and no
guide carries history (``issue N``, ``session N``): that lives in git log.
"""
from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
GUIDES = [p for p in sorted(DOCS.glob("*.md")) if p.name != "README.md"]

LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")
HISTORY = re.compile(r"\b(issue|session)\s+#?\d+", re.IGNORECASE)


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans (links there are code, not links)."""
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            inside = not inside
            continue
        if not inside:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, inline-code ticks and punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    """The anchors of every heading of a Markdown file (repeated headings get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    result = set()
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.lstrip()):
            inside = not inside
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if inside or not match:
            continue
        slug = _slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def relative_links(path: pathlib.Path) -> list[str]:
    targets = LINK.findall(_prose(path.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]


def broken_links(path: pathlib.Path) -> list[str]:
    """The relative links of ``path`` whose file does not exist or whose ``#fragment`` names no heading."""
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved.relative_to(ROOT) if ROOT in resolved.parents else resolved})")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target} (no heading with anchor #{fragment} in {resolved.name})")
    return broken


def test_there_are_guides():
    assert len(GUIDES) >= 10 and (DOCS / "README.md").exists()


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_every_guide_is_linked_from_the_readme_and_the_index():
    readme = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    index = {(DOCS / t.partition("#")[0]).resolve() for t in relative_links(DOCS / "README.md")}
    assert (DOCS / "README.md").resolve() in readme
    assert [g.name for g in GUIDES if g.resolve() not in readme] == []
    assert [g.name for g in GUIDES if g.resolve() not in index] == []


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_history_in_the_docs(path):
    found = HISTORY.findall(path.read_text(encoding="utf-8"))
    assert found == [], f"{path.name} mentions {found}: history belongs in git log"


def test_the_checks_catch_a_broken_link_and_a_missing_anchor(tmp_path):
    """The checks themselves: a link to a missing file and one to a missing heading are reported, code is not."""
    (tmp_path / "other.md").write_text("# Title\n\n## Updating a fit: `fit.update(...)`\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#updating-a-fit-fitupdate) [b](missing.md) [c](other.md#nowhere) "
                    "[d](https://example.org/x) `[e](in-code.md)`\n\n```\n[f](in-fence.md)\n```\n",
                    encoding="utf-8")
    assert relative_links(page) == ["other.md#updating-a-fit-fitupdate", "missing.md", "other.md#nowhere"]
    assert [b.split(" ")[0] for b in broken_links(page)] == ["missing.md", "other.md#nowhere"]
