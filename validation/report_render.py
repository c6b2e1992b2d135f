"""The HTML report as a browser shows it: headless Chromium renders the reports of two fits (sleepstudy, gaussian
with a correlated random slope; cbpp, binomial with a random intercept) and this script checks what a reader
would see:

* every image loads in the browser (``complete`` and a natural width) and decodes as a PNG by itself (PIL);
* nothing is clipped or scrolls sideways at the window's width: the page is no wider than the window, no element
  reaches past its right edge, no block (a ``<pre>``, a table's box) scrolls its content sideways;
* the page's height is that of a report (between 2,000 and 30,000 pixels at 1280 wide), and the full-page
  screenshot has that size and is not blank.

The checks run inside the page: a small script, added to a copy of the report, measures the laid-out page after
the ``load`` event and writes its findings into the page, which ``chromium --dump-dom`` prints. The screenshots
are kept as the report's preview (``docs/images/report-sleepstudy.png``, ``report-cbpp.png``; docs/reports.md
shows them). Needs Debian's ``chromium`` (``apt-get install chromium``); the test suite does not: it checks the
HTML's structure.

    python validation/report_render.py                      # fit both models, render, check, keep the PNGs
    python validation/report_render.py --width 900          # the same checks in a narrower window
    python validation/report_render.py --fit sleep.nc       # render saved fits instead (fit.save(...))
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from PIL import Image  # noqa: E402

import bayesmm as bmm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FITS = {
    "sleepstudy": dict(formula="Reaction ~ Days + (Days | Subject)", data="sleepstudy"),
    "cbpp": dict(formula="cbind(incidence, size - incidence) ~ period + (1 | herd)", data="cbpp", family="binomial"),
}
#: the page's measurements, written into a <pre> that --dump-dom prints
CHECK = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement, width = root.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className ? "." + String(el.className).replace(/ /g, ".") : "") + ": " +
    (el.textContent || el.alt || "").trim().slice(0, 60);
  const out = {width: width, scroll_width: root.scrollWidth, height: root.scrollHeight, images: [],
               past_edge: [], scrolls: []};
  for (const img of document.images) {
    out.images.push({alt: img.alt.slice(0, 80), loaded: img.complete && img.naturalWidth > 0,
                     natural: [img.naturalWidth, img.naturalHeight], shown: Math.round(img.getBoundingClientRect().width)});
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (el.getBoundingClientRect().right > width + 1) out.past_edge.push(name(el));
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible") out.scrolls.push(name(el));
  }
  const pre = document.createElement("pre");
  pre.id = "render-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("Chromium not found: apt-get install chromium (Debian) first.")


def _browser(*arguments: str, window: tuple[int, int]) -> str:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--window-size={window[0]},{window[1]}",
               "--virtual-time-budget=10000", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def measure(page: Path, width: int) -> dict:
    """The in-page measurements of ``page`` laid out ``width`` pixels wide."""
    probe = page.with_name(page.stem + "-probe.html")
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", CHECK + "\n</body>"), encoding="utf-8")
    dom = _browser("--dump-dom", probe.as_uri(), window=(width, 900))
    probe.unlink()
    found = re.search(r'<pre id="render-check">(.*?)</pre>', dom, flags=re.S)
    if not found:
        sys.exit(f"{page}: the page's check did not run (no render-check in the DOM).")
    return json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def decoded_images(page: Path) -> list[tuple[int, int]]:
    """The size of every embedded PNG, decoded by PIL (independently of the browser)."""
    import base64

    sources = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', page.read_text(encoding="utf-8"))
    return [Image.open(io.BytesIO(base64.b64decode(s))).size for s in sources]


def problems(name: str, found: dict, decoded: list) -> list[str]:
    out = []
    if found["scroll_width"] > found["width"]:
        out.append(f"the page is {found['scroll_width']} px wide in a {found['width']} px window")
    out += [f"past the right edge: {e}" for e in found["past_edge"]]
    out += [f"scrolls sideways: {e}" for e in found["scrolls"]]
    out += [f"image not loaded: {i['alt']}" for i in found["images"] if not i["loaded"]]
    if len(found["images"]) != len(decoded) or not decoded:
        out.append(f"{len(found['images'])} images in the browser, {len(decoded)} PNGs decoded")
    if not 2000 <= found["height"] <= 30000:
        out.append(f"page height {found['height']} px")
    return [f"{name}: {p}" for p in out]


def screenshot(page: Path, width: int, height: int, target: Path) -> tuple[int, int]:
    _browser(f"--screenshot={target}", page.as_uri(), window=(width, height))
    image = Image.open(target)
    if image.size != (width, height):
        sys.exit(f"{target}: {image.size} where {(width, height)} was asked")
    extrema = image.convert("L").getextrema()
    if extrema[0] == extrema[1]:
        sys.exit(f"{target}: the screenshot is blank")
    image.convert("RGB").quantize(colors=128).save(target, optimize=True)  # a third of the size, text stays sharp
    return image.size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1280, help="window width in pixels (default 1280)")
    parser.add_argument("--fit", action="append", default=[], help="a saved fit to render (repeatable); default: "
                                                                    "fit sleepstudy and cbpp")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"), help="where the screenshots go")
    parser.add_argument("--draws", type=int, default=500, help="draws (and warmup) per chain of each fit")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fits = {Path(p).stem: (lambda p=p: bmm.load(p)) for p in args.fit} or {
        name: (lambda s=spec: bmm.fit(s["formula"], bmm.datasets.load(s["data"]), family=s.get("family", "gaussian"),
                                       chains=4, draws=args.draws, warmup=args.draws, seed=1))
        for name, spec in FITS.items()}
    failures = []
    with tempfile.TemporaryDirectory() as folder:
        for name, make in fits.items():
            page = Path(make().report(Path(folder) / f"report-{name}.html"))
            found = measure(page, args.width)
            decoded = decoded_images(page)
            failures += problems(name, found, decoded)
            size = screenshot(page, args.width, found["height"], out / f"report-{name}.png")
            print(f"{name}: page {found['width']} x {found['height']} px, {len(found['images'])} images loaded "
                  f"({', '.join(f'{w}x{h}' for w, h in decoded)}), {len(found['past_edge'])} elements past the edge, "
                  f"{len(found['scrolls'])} scrolling sideways; screenshot {size[0]} x {size[1]} -> "
                  f"{out / f'report-{name}.png'}")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
