"""What the browser tests (vendor page, admin console, /docs) share: Debian's Chromium driven
by Playwright (never a downloaded browser), where screenshots go, and the page checks a user
would notice (every control labelled and visible, reachable with Tab, no request off the
origin)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: Screenshots of each page (git-ignored; docs/images/vendor-page.png is the committed one).
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"

#: Every visible form control (hidden inputs aside) and whether it has a visible label:
#: a <label for=id> that is rendered, or for a button its own visible text.
UNLABELLED_CONTROLS_JS = """
() => {
  const visible = (el) => !!el && el.offsetParent !== null && el.getClientRects().length > 0;
  const bad = [];
  for (const el of document.querySelectorAll('input, select, textarea, button')) {
    if (el.type === 'hidden' || !visible(el)) continue;
    let label = null;
    if (el.tagName === 'BUTTON') {
      if (el.innerText.trim()) continue;
    } else if (el.id) {
      label = document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
      if (visible(label) && label.innerText.trim()) continue;
    }
    bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
}
"""

#: The visible, enabled controls and links in document order, as keyboard users meet them.
FOCUSABLE_JS = """
() => Array.from(document.querySelectorAll('a[href], input, select, textarea, button'))
  .filter((el) => el.type !== 'hidden' && !el.disabled && el.offsetParent !== null)
  .map((el) => el.id || el.getAttribute('aria-label') || el.textContent.trim())
"""

ACTIVE_JS = """
() => { const el = document.activeElement;
        return el ? (el.id || el.getAttribute('aria-label') || el.textContent.trim()) : null; }
"""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium (skipped where the machine has none)."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as ``<name>.png`` among the artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


@contextmanager
def same_origin_page(browser: Any, *origins: str, width: int = 1280,
                     height: int = 900) -> Iterator[Any]:
    """A page in a context of its own; the test fails if the page asked for anything but
    ``origins`` (and ``data:`` URLs): no CDN, no external font."""
    context = browser.new_context(viewport={"width": width, "height": height})
    tab = context.new_page()
    off_origin: list[str] = []
    tab.on("request", lambda r: None if r.url.startswith((*origins, "data:"))
           else off_origin.append(r.url))
    try:
        yield tab
    finally:
        context.close()
    assert off_origin == [], f"the page asked for something off its origin: {off_origin}"
