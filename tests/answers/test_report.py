"""fit.report(): one self-contained HTML or Markdown file with every section, valid HTML, embedded plots,
and numbers that agree with the fit's own tables."""
import base64
import re
from html.parser import HTMLParser

import pytest

import bayesmm as bmm
from bayesmm.answers.report import SECTIONS

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "embed", "source", "track", "wbr"}


class _Checker(HTMLParser):
    """Collects tag-balance errors, section ids, images and text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.ids, self.images, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.ids.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def sleep_fit():
    return bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), chains=2, draws=300,
                   warmup=300, seed=3)


@pytest.fixture(scope="module")
def html_report(sleep_fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert sleep_fit.report(path) == str(path)
    return path.read_text(encoding="utf-8")


def test_html_is_balanced_and_has_every_section(html_report):
    checker = _Checker()
    checker.feed(html_report)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert html_report.startswith("<!DOCTYPE html>")
    assert checker.ids == list(SECTIONS)
    text = " ".join(checker.text)
    for title in SECTIONS.values():
        assert title in text


def test_html_is_self_contained_with_png_plots(html_report, sleep_fit):
    checker = _Checker()
    checker.feed(html_report)
    assert len(checker.images) == 2  # trace and posterior predictive
    for src in checker.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(https?:)?//', html_report)  # nothing fetched from the network


def test_html_numbers_match_the_fit(html_report, sleep_fit):
    tidy = sleep_fit.tidy().set_index("term")
    assert f"{tidy.loc['Days', 'estimate']:.4g}" in html_report
    assert f"{tidy.loc['sd__Observation', 'estimate']:.4g}" in html_report
    pd_days = sleep_fit.pvalues().loc["Days", "pd"]
    assert f"<td>{pd_days:.4g}</td>" in html_report
    assert "Reaction ~ Days + (Days | Subject)" in html_report
    assert "<td>180</td>" in html_report  # observations
    assert "<th>seed</th><td>3</td>" in html_report
    import numpyro

    assert f"<td>{numpyro.__version__}</td>" in html_report
    # the call that reproduces it: the call's draws, whether or not the safeguard ran the chains longer
    assert "seed=3" in html_report and "draws=300" in html_report


def test_markdown_report(sleep_fit, tmp_path):
    path = tmp_path / "report.md"
    text = open(sleep_fit.report(str(path)), encoding="utf-8").read()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == list(SECTIONS.values())
    assert text.count("](data:image/png;base64,") == 2
    assert "| Days |" in text
    assert f"{sleep_fit.tidy().set_index('term').loc['Days', 'estimate']:.4g}" in text


def test_report_rejects_unknown_suffix_and_missing_folder(sleep_fit, tmp_path):
    with pytest.raises(bmm.BayesMMError, match=r"\.html or \.md"):
        sleep_fit.report(tmp_path / "report.pdf")
    with pytest.raises(bmm.BayesMMError, match="does not exist"):
        sleep_fit.report(tmp_path / "missing" / "report.html")


def test_a_poor_fit_report_starts_with_its_status_line(tmp_path):
    """30 warmup iterations and 30 draws: the report opens with the same status line as print(fit), above the
    title, in both formats; the diagnostics section carries the advice as code."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        poor = bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), chains=2, draws=30,
                       warmup=30, seed=1)
    status = poor.status()
    assert status.startswith("WARNING: not converged: Rhat ") and str(poor).startswith(status)
    markdown = open(poor.report(tmp_path / "poor.md"), encoding="utf-8").read()
    assert markdown.startswith(f"**{status}**\n\n# bayesmm report: ")
    assert "    advice: fit = bmm.update(fit, chains=2, warmup=1000, draws=1000, seed=1)" in markdown
    page = open(poor.report(tmp_path / "poor.html"), encoding="utf-8").read()
    body = page[page.index("<body>"):]
    import html

    assert body.startswith(f'<body>\n<p class="status"><strong>{html.escape(status)}</strong></p>\n<h1>')
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []


def test_a_clean_fit_report_has_no_status_line(sleep_fit, tmp_path):
    text = open(sleep_fit.report(tmp_path / "report.md"), encoding="utf-8").read()
    if sleep_fit.status():
        assert text.startswith(f"**{sleep_fit.status()}**")
    else:
        assert text.startswith("# bayesmm report: ")


def test_means_and_r2_sections(sleep_fit, tmp_path):
    """A factor's marginal means and pairwise comparisons (cbpp: four periods, odds ratios) and R² are in the
    report with the fit's numbers; a model without factors says so."""
    from answers_fits import cbpp_fit

    fit = cbpp_fit()
    text = open(fit.report(tmp_path / "cbpp.md"), encoding="utf-8").read()
    means_part = text[text.index("## Marginal means and comparisons"):text.index("## Variance explained")]
    for value in fit.means("period")["estimate"]:
        assert f"{value:.4g}" in means_part
    assert "period1 / period4" in means_part  # odds ratios on the response scale
    r2_part = text[text.index("## Variance explained"):text.index("## Diagnostics")]
    for measure, value in fit.r2()["estimate"].items():
        assert measure in r2_part and f"{value:.4g}" in r2_part
    plain = open(sleep_fit.report(tmp_path / "sleep.md"), encoding="utf-8").read()
    assert "The fixed part has no factor." in plain
