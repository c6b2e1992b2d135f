"""fit.report(): an HTML or Markdown file with every section, valid HTML, plots embedded (HTML) or beside it
(Markdown), a status banner, left-aligned text columns, one name per parameter (naming.py's) in every table and
plot, and numbers that agree with the fit's own tables. How the page looks in a browser is checked by
validation/report_render.py (headless Chromium), not here."""
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
        self.alts = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.ids.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
            self.alts.append(attrs.get("alt", ""))
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
    assert len(checker.images) == 4  # intervals, trace and rank, caterpillar, posterior predictive
    for src in checker.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(https?:)?//', html_report)  # nothing fetched from the network


def test_html_numbers_match_the_fit(html_report, sleep_fit):
    tidy = sleep_fit.tidy().set_index("term")
    assert f"{tidy.loc['Days', 'estimate']:.4g}" in html_report
    assert f"{tidy.loc['sd__Observation', 'estimate']:.4g}" in html_report
    pd_days = sleep_fit.pvalues().loc["Days", "pd"]
    assert f"<td class=\"num\">{pd_days:.4g}</td>" in html_report
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
    assert "data:image/png" not in text  # the plots are files beside the report
    links = re.findall(r"!\[[^\n]*?\]\(([^)]+)\)", text)
    assert links == [f"report_files/0{i}-{stem}.png" for i, stem in enumerate(["intervals", "trace", "ranef", "ppc"], 1)]
    for link in links:
        assert (tmp_path / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| Days | fixed |" in text
    assert f"{sleep_fit.tidy().set_index('term').loc['Days', 'estimate']:.4g}" in text


def test_report_rejects_unknown_suffix_and_missing_folder(sleep_fit, tmp_path):
    with pytest.raises(bmm.BayesMMError, match=r"\.html or \.md"):
        sleep_fit.report(tmp_path / "report.pdf")
    with pytest.raises(bmm.BayesMMError, match="does not exist"):
        sleep_fit.report(tmp_path / "missing" / "report.html")


@pytest.fixture(scope="module")
def tiny_fit():
    """2 chains x 10 draws: fewer draws than any plot's default number of replicates, and not converged."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), chains=2, draws=10,
                       warmup=20, seed=1)


def test_a_tiny_fit_reports_in_both_formats_opening_with_its_status(tiny_fit, tmp_path):
    """The report of a 20-draw fit is written whole, with every plot; it opens with the status line of
    print(fit) and why, in words, above the title; the diagnostics section carries the advice as code."""
    import html

    status = tiny_fit.status()
    assert status.startswith("WARNING: not converged: Rhat ") and str(tiny_fit).startswith(status)
    page = open(tiny_fit.report(tmp_path / "tiny.html"), encoding="utf-8").read()
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == [] and checker.ids == list(SECTIONS)
    assert len(checker.images) == 4
    body = page[page.index("<body>"):]
    assert body.startswith(f'<body>\n<div class="status warning" id="status">\n<p><strong>{html.escape(status)}'
                           "</strong></p>\n<p>The chains disagree on ")
    assert body.index("Too few effective draws: as few as ") < body.index("<h1>")
    markdown = open(tiny_fit.report(tmp_path / "tiny.md"), encoding="utf-8").read()
    assert markdown.startswith(f"**{status}**\n\nThe chains disagree on ")
    assert markdown.index("Follow the advice under Diagnostics") < markdown.index("# bayesmm report: ")
    assert "    advice: fit = bmm.update(fit, chains=2, " in markdown and "draws=1000" in markdown
    assert len(list((tmp_path / "tiny_files").glob("*.png"))) == 4


def test_a_clean_fit_says_so_in_its_banner(sleep_fit, tmp_path):
    text = open(sleep_fit.report(tmp_path / "report.md"), encoding="utf-8").read()
    page = open(sleep_fit.report(tmp_path / "report.html"), encoding="utf-8").read()
    if sleep_fit.status():
        assert text.startswith(f"**{sleep_fit.status()}**")
    else:
        assert text.startswith("**Converged: every parameter has Rhat below 1.01 and bulk and tail ESS of at least "
                               "400; no transition diverged or hit the maximum tree depth.**\n\n")
        assert '<div class="status ok" id="status">\n<p><strong>Converged: ' in page
    others = [k for k in dict.fromkeys(sleep_fit.diagnose()["kind"]) if k not in ("rhat", "ess_bulk", "ess_tail")]
    banner = text[:text.index("# bayesmm report: ")]
    assert (f"Other findings under Diagnostics: {', '.join(others)}." in banner) == bool(others)


def test_text_columns_left_numbers_right_and_text_blocks_wrap(html_report):
    """Text cells (parameter names, effect, group, term) have no class (left-aligned by the style sheet), number
    cells class num (right-aligned); preformatted blocks wrap instead of scrolling sideways."""
    row = re.search(r"<tr><td>Days</td><td>fixed</td><td></td><td>Days</td>(<td[^>]*>[^<]*</td>){7}</tr>",
                    html_report)
    assert row is not None
    assert len(re.findall(r'<td class="num">', row.group(0))) == 7
    style = html_report[html_report.index("<style>"):html_report.index("</style>")]
    assert "th,td{" in style and "text-align:left" in style and "td.num{text-align:right" in style
    assert re.search(r"pre\{[^}]*white-space:pre-wrap", style)


def test_every_name_in_tables_and_plots_is_naming_s(sleep_fit, html_report):
    """The summary's and VarCorr's parameter columns, the p-value table, the interval and trace plots' labels and
    the caterpillar panels all write a parameter as naming.canonical does, the name fit.intervals() takes."""
    from bayesmm import naming
    from bayesmm.posterior import parameter_names

    names = [naming.canonical(n) for n in parameter_names(sleep_fit.idata, sleep_fit.design, sleep_fit.family)]
    assert names == ["Intercept", "Days", "sd_Subject__Intercept", "sd_Subject__Days", "cor_Subject__Intercept__Days",
                     "sigma"]
    summary = html_report[html_report.index('<section id="summary">'):html_report.index('<section id="pvalues">')]
    assert re.findall(r"<tr><td>([^<]+)</td><td>(?:fixed|ran_pars)</td>", summary) == names
    varcorr = html_report[html_report.index('<section id="varcorr">'):html_report.index('<section id="means">')]
    assert re.findall(r"<tr><td>([^<]+)</td><td>(?:Subject|Residual)</td>", varcorr) == names[2:]
    pvalues = html_report[html_report.index('<section id="pvalues">'):html_report.index('<section id="varcorr">')]
    assert re.findall(r"<tr><th>([^<]+)</th><td", pvalues) == names[:2]
    checker = _Checker()
    checker.feed(html_report)
    intervals, trace, ranef, ppc = [alt.split(" Panels: ")[1].rstrip(".").split(", ") for alt in checker.alts]
    assert sorted(intervals) == sorted(names) and trace == names  # intervals: grouped by scale
    assert ranef == ["r_Subject[·,Intercept]", "r_Subject[·,Days]"]
    assert ppc == ["Reaction"]
    for name in names:  # each name is one fit.intervals() takes
        assert list(sleep_fit.intervals(name).index) == [name]


def test_embed_chooses_between_data_uris_and_files(sleep_fit, tmp_path):
    page = open(sleep_fit.report(tmp_path / "linked.html", embed=False), encoding="utf-8").read()
    assert "data:image/png" not in page and page.count('src="linked_files/0') == 4
    assert sorted(p.name for p in (tmp_path / "linked_files").iterdir()) == [
        "01-intervals.png", "02-trace.png", "03-ranef.png", "04-ppc.png"]
    text = open(sleep_fit.report(tmp_path / "inline.md", embed=True), encoding="utf-8").read()
    assert text.count("](data:image/png;base64,") == 4 and not (tmp_path / "inline_files").exists()


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


def test_command_line_report_with_and_without_embedded_images(sleep_fit, tmp_path, capsys):
    """bayesmm summary fit.nc --report r.md writes the plots beside it; --embed-images puts them inside."""
    from bayesmm.cli import main

    saved = sleep_fit.save(tmp_path / "fit.nc")
    assert main(["summary", str(saved), "--report", str(tmp_path / "linked.md")]) == 0
    assert len(list((tmp_path / "linked_files").glob("*.png"))) == 4
    assert main(["summary", str(saved), "--report", str(tmp_path / "inline.md"), "--embed-images"]) == 0
    assert (tmp_path / "inline.md").read_text(encoding="utf-8").count("](data:image/png;base64,") == 4
    assert not (tmp_path / "inline_files").exists()
    assert f"Wrote the report to {tmp_path / 'inline.md'}" in capsys.readouterr().out
