"""Render the app's PNG icons from its one SVG source (pwa/icon.svg) with the Chromium already on the
machine (Debian's /usr/bin/chromium, driven by Playwright). Run it after changing the SVG, and commit the
PNGs it writes next to this file:

    .venv/bin/python pwa/icons/make_icons.py

- icon-192.png, icon-512.png: purpose "any", the SVG as drawn (transparent outside its rounded square).
- maskable-512.png: purpose "maskable", full bleed; the artwork kept inside the central 80% safe zone,
  because launchers cut the icon to a circle or a squircle.
- apple-touch-icon.png (180 px): full bleed and opaque, as iOS adds its own rounded corners.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "icon.svg"
BACKGROUND = "#8a4b14"  # the SVG's own background colour: what a maskable icon's bleed area shows
CHROMIUM = os.environ.get("AFTERGLOW_CHROMIUM", "/usr/bin/chromium")

# name -> (size in px, fraction of the canvas the artwork takes, full-bleed background?)
ICONS = {
    "icon-192.png": (192, 1.0, False),
    "icon-512.png": (512, 1.0, False),
    "maskable-512.png": (512, 0.8, True),
    "apple-touch-icon.png": (180, 0.86, True),
}


def page_html(svg_data_url: str, size: int, scale: float, bleed: bool) -> str:
    art = round(size * scale)
    background = BACKGROUND if bleed else "transparent"
    return (
        "<!doctype html><html><body style='margin:0'>"
        f"<div style='width:{size}px;height:{size}px;background:{background};display:grid;place-items:center'>"
        f"<img src='{svg_data_url}' width='{art}' height='{art}' alt=''></div></body></html>"
    )


def main() -> None:
    svg = SOURCE.read_bytes()
    data_url = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for name, (size, scale, bleed) in ICONS.items():
            page = browser.new_page(viewport={"width": size, "height": size}, device_scale_factor=1)
            page.set_content(page_html(data_url, size, scale, bleed))
            page.wait_for_function("document.images[0].complete")
            page.screenshot(path=str(HERE / name), omit_background=not bleed, clip={"x": 0, "y": 0, "width": size, "height": size})
            page.close()
            print(f"wrote {name} ({size}x{size})")
        browser.close()


if __name__ == "__main__":
    main()
