"""The report's sections written as HTML or Markdown (:mod:`bayesmm.answers.report` builds them).

A section is a list of blocks ``(kind, content)``: ``text``, ``pre`` (preformatted, wrapped rather than scrolled
sideways), ``table`` (a DataFrame: text columns left-aligned, number columns right-aligned) or ``image``
(:class:`Figure`). Images are embedded as base64 PNGs (one self-contained file, the HTML default) or written as
PNG files into a folder beside the report (``report_files/`` for ``report.md``, the Markdown default: a Markdown
viewer shows them, a diff of the ``.md`` stays readable, and the file stays small). The page opens with the
fit's status banner: converged or not, and why.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Figure", "Banner", "render_html", "render_markdown", "image_folder", "write_images", "fmt"]


@dataclass(frozen=True)
class Figure:
    """One plot: its PNG bytes, a caption, a file stem (``trace``) and the names on its panels (titles and
    parameter labels), which the alt text lists."""

    png: bytes
    caption: str
    stem: str
    names: tuple[str, ...] = ()

    @property
    def alt(self) -> str:
        return self.caption + (f" Panels: {', '.join(self.names)}." if self.names else "")


@dataclass(frozen=True)
class Banner:
    """The status at the top: ``level`` (``ok``, ``note`` or ``warning``), the status line and why, in words."""

    level: str
    line: str
    why: str = ""


def fmt(value) -> str:
    """A cell: 4 significant digits for floats, blank for missing values."""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _numeric_columns(table: pd.DataFrame) -> list[bool]:
    """Per column: does every filled cell hold a number (right-aligned) rather than text (left-aligned)?"""
    return [all(_is_number(v) for v in table.iloc[:, j] if fmt(v) != "") and table.iloc[:, j].map(fmt).ne("").any()
            for j in range(table.shape[1])]


def _has_index(table: pd.DataFrame) -> bool:
    return table.index.name is not None or not isinstance(table.index, pd.RangeIndex)


def image_folder(target: Path) -> Path:
    """The folder for a report's images: ``report_files`` beside ``report.md``."""
    return target.with_name(f"{target.stem}_files")


def write_images(sections, target: Path) -> dict:
    """Write every figure as a PNG into :func:`image_folder` (numbered in order, named by its stem); returns
    ``{id(figure): path relative to the report}``."""
    figures = [content for section in sections for kind, content in section.blocks if kind == "image"]
    if not figures:
        return {}
    folder = image_folder(target)
    folder.mkdir(exist_ok=True)
    paths = {}
    for number, figure in enumerate(figures, start=1):
        name = f"{number:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', figure.stem)}.png"
        (folder / name).write_bytes(figure.png)
        paths[id(figure)] = f"{folder.name}/{name}"
    return paths


def _source(figure: Figure, paths: dict | None) -> str:
    if paths is None:
        return "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
    return paths[id(figure)]


# ------------------------------------------------------------------------------------------------ HTML
_CSS = """body{font-family:system-ui,sans-serif;max-width:72em;margin:1.5em auto;padding:0 1em;color:#222;
line-height:1.4}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:2px 8px;
text-align:left;vertical-align:top;overflow-wrap:anywhere}thead th{overflow-wrap:normal}thead th{background:#f2f2f2}tbody th{background:#fafafa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.wide{overflow-x:auto;max-width:100%}@media (max-width:1000px){table{font-size:0.8em}th,td{padding:1px 4px}}
pre{background:#f7f7f7;padding:0.6em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:0.85em}
figure{margin:1em 0}img{max-width:100%;height:auto}figcaption{color:#555;font-size:0.9em}
nav a{margin-right:1em;white-space:nowrap}
.status{padding:0.6em 0.9em;border-left:5px solid;margin:0 0 1em 0}.status p{margin:0.2em 0}
.status.ok{background:#e9f6ec;border-color:#2e7d32}.status.note{background:#fff8e1;border-color:#f9a825}
.status.warning{background:#fdecea;border-color:#c0392b}"""


def _html_table(table: pd.DataFrame) -> str:
    index = _has_index(table)
    head = ([str(table.index.name or "")] if index else []) + [str(c) for c in table]
    head = [html.escape(h).replace("_", "_<wbr>") for h in head]  # a narrow window breaks std_error at the _
    numeric = _numeric_columns(table)
    lines = ['<div class="wide"><table>',
             "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    for label, row in table.iterrows():
        cells = [f"<th>{html.escape(fmt(label))}</th>"] if index else []
        cells += [f'<td class="num">{html.escape(fmt(v))}</td>' if right else f"<td>{html.escape(fmt(v))}</td>"
                  for v, right in zip(row, numeric)]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(lines + ["</tbody>", "</table></div>"])


def _html_banner(banner: Banner) -> str:
    why = f"\n<p>{html.escape(banner.why)}</p>" if banner.why else ""
    return (f'<div class="status {banner.level}" id="status">\n<p><strong>{html.escape(banner.line)}</strong></p>'
            f"{why}\n</div>")


def render_html(sections, title: str, banner: Banner, paths: dict | None = None) -> str:
    """The page; ``paths`` (from :func:`write_images`) links the images instead of embedding them."""
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           _html_banner(banner), f"<h1>{html.escape(title)}</h1>", f"<nav>{nav}</nav>"]
    for section in sections:
        out += [f'<section id="{section.id}">', f"<h2>{html.escape(section.title)}</h2>"]
        for kind, content in section.blocks:
            if kind == "text":
                out.append(f"<p>{html.escape(content)}</p>")
            elif kind == "pre":
                out.append(f"<pre>{html.escape(content)}</pre>")
            elif kind == "table":
                out.append(_html_table(content))
            else:
                out.append(f'<figure><img alt="{html.escape(content.alt)}" src="{_source(content, paths)}">'
                           f"<figcaption>{html.escape(content.caption)}</figcaption></figure>")
        out.append("</section>")
    return "\n".join(out + ["</body>", "</html>", ""])


# -------------------------------------------------------------------------------------------- Markdown
def _md_cell(value) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def _md_table(table: pd.DataFrame) -> str:
    index = _has_index(table)
    head = ([str(table.index.name or "")] if index else []) + [str(c) for c in table]
    align = ([":---"] if index else []) + ["---:" if right else ":---" for right in _numeric_columns(table)]
    lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |", "| " + " | ".join(align) + " |"]
    for label, row in table.iterrows():
        cells = ([_md_cell(label)] if index else []) + [_md_cell(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _md_alt(text: str) -> str:
    """Alt text with its brackets escaped: ``r_Subject[·,Days]`` must not close the image's ``[...]``."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def render_markdown(sections, title: str, banner: Banner, paths: dict | None = None) -> str:
    """The Markdown text; ``paths`` (from :func:`write_images`) links the images, else they are data URIs."""
    out = [f"**{banner.line}**", ""] + ([banner.why, ""] if banner.why else []) + [f"# {title}", ""]
    for section in sections:
        out += [f'<a id="{section.id}"></a>', "", f"## {section.title}", ""]
        for kind, content in section.blocks:
            if kind == "text":
                out += [content, ""]
            elif kind == "pre":
                out += ["```", content, "```", ""]
            elif kind == "table":
                out += [_md_table(content), ""]
            else:
                out += [f"![{_md_alt(content.alt)}]({_source(content, paths)})", "", f"*{content.caption}*", ""]
    return "\n".join(out)
