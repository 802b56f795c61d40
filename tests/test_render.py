"""``creditrules render``: the agreement as a document, checked in a real browser where one
is installed (Debian's ``chromium``); elsewhere the browser test is skipped."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import creditrules
from creditrules.authoring.render import render_html, render_markdown
from creditrules.cli import main

RULESETS = Path(__file__).resolve().parent.parent / "rulesets"
CARDIOZEN = creditrules.load(RULESETS / "cardiozen.yaml", engine="reference")
AMENDED = creditrules.load(RULESETS / "cloudbridge-amendment-1.yaml", engine="reference")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_has_every_part_in_clause_order() -> None:
    html = render_html(CARDIOZEN)
    headings = re.findall(r"<h3>Clause ([^<]+)</h3>", html)
    assert headings == ["4.1", "4.2(a)", "4.2(b)", "4.2(c)", "4.3", "4.5"]
    for part in (
        "<h1>Co-Promotion Agreement, Acme Pharma and Beta Bio, Cardiozen</h1>",
        "<td>Acme Pharma, Inc.</td><td>acme</td>",
        "<td>term</td><td>2026-01-01 to 2028-12-31</td>",
        "Applies when: the account is a named account and the account&#x27;s owner "
        "is Acme Pharma, Inc.</p>",
        "<td>Beta Bio Ltd. (beta)</td><td>30%</td>",
        "Clause 4.2(b) (beta-sourced) prevails over clause 4.2(a) (named-accounts).",
        '<svg xmlns="http://www.w3.org/2000/svg" role="img"',
        'class="timeline"',
        "@media print",
        "<td>cap per attendee: meal.hcp</td><td>100.00</td><td>75.00</td><td>75.00 (beta)</td>",
        "<td>equal-treatment</td><td>4.2(c)</td><td>hospital-tenders</td>"
        "<td>Beta Bio Ltd. (beta)</td><td>20%, when account.segment == &quot;hospital&quot;</td>",
        CARDIOZEN.content_hash,
    ):
        assert part in html, part


def test_html_is_self_contained() -> None:
    """No scripts and nothing fetched: the only URL is the SVG namespace, and url() only
    names an arrowhead defined in the page."""
    html = render_html(AMENDED)
    assert "<script" not in html
    assert not re.search(r"(src|href)\s*=|url\((?!#arrow-)|@import", html)
    assert set(re.findall(r'marker id="([^"]+)"', html)) == {"arrow-revenue", "arrow-overlay"}
    assert set(re.findall(r"https?://[^\s\"']+", html)) == {"http://www.w3.org/2000/svg"}


def test_amended_agreement_shows_both_texts_of_a_replaced_clause() -> None:
    """4.3 is replaced from 2027: both versions, each with its dates; 4.3A is new."""
    md = render_markdown(AMENDED)
    assert md.count("### Clause 4.3\n") == 2
    assert (
        "Credit type: revenue (fixed shares); in force 2027-01-01 to 2028-12-31; rule id "
        "partner-registered, version 2027.1." in md
    )
    assert "### Clause 4.3A" in md
    assert (
        "Clause 4.7(a) (marketplace-overlay, version 2026.1): in force 2026-01-01 to "
        "2026-12-31." in md
    )
    assert "| Nimbus Cloud, Inc. (nimbus) | 55% |" in md


def test_cli_writes_html_and_markdown(tmp_path: Path) -> None:
    html, md = tmp_path / "cb.html", tmp_path / "cb.md"
    assert (
        main(
            [
                "render",
                str(RULESETS / "cloudbridge.yaml"),
                str(RULESETS / "cloudbridge-amendment-1.yaml"),
                "-o",
                str(html),
            ]
        )
        == 0
    )
    assert (
        "<title>CloudBridge Co-Sell Agreement as amended by Amendment No. 1</title>"
        in html.read_text()
    )
    assert main(["render", str(RULESETS / "cardiozen.yaml"), "-o", str(md)]) == 0
    assert md.read_text().startswith("# Co-Promotion Agreement, Acme Pharma and Beta Bio")


def test_cli_refuses_an_amendment_of_another_agreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "render",
                str(RULESETS / "cardiozen.yaml"),
                str(RULESETS / "cloudbridge-amendment-1.yaml"),
                "-o",
                str(tmp_path / "x.html"),
            ]
        )
        == 2
    )
    assert "does not amend" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.skipif(BROWSER is None, reason="no headless browser (apt-get install chromium)")
@pytest.mark.parametrize("ruleset", [CARDIOZEN, AMENDED], ids=["cardiozen", "cloudbridge"])
def test_renders_in_a_real_browser(ruleset: creditrules.Ruleset, tmp_path: Path) -> None:
    """Headless Chromium loads the page offline, logs nothing to its console (no errors, no
    blocked loads) and takes a screenshot of a page with content."""
    page = tmp_path / "agreement.html"
    page.write_text(render_html(ruleset), encoding="utf-8")
    shot = tmp_path / "agreement.png"
    assert BROWSER is not None
    done = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1100,3000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert _png_size(shot) == (1100, 3000)
    assert shot.stat().st_size > 50_000  # text, tables and pictures, not a blank page
