"""The installable app, on the server side: manifest, service worker, the offline shell and its version.

What the shell may hold is the point here: every page the worker keeps must be the same for everyone and
storable (not no-store), and must never carry a patient's name or words. Browser behaviour is in tests/e2e.
"""

from __future__ import annotations

import shutil
import struct
import uuid
from pathlib import Path

from server.pwa import shell
from tests.conftest import Client, People

PATIENT_PAGES = [
    "/home",
    "/sessions",
    "/history",
    "/questionnaires",
    "/safety-plan",
    "/settings",
    "/settings/reminders",
]


def png_size(content: bytes) -> tuple[int, int]:
    assert content[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", content[16:24])
    return width, height


def test_the_manifest_is_served_from_the_root_with_everything_installing_needs(client: Client) -> None:
    response = client.get("/manifest.webmanifest")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"] and manifest["short_name"] == "Afterglow"
    assert manifest["display"] == "standalone"
    assert manifest["scope"] == "/" and manifest["start_url"].startswith(manifest["scope"])
    assert manifest["theme_color"].startswith("#") and manifest["background_color"].startswith("#")
    sizes = {}
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200, icon["src"]
        width, height = png_size(image.content)
        assert icon["sizes"] == f"{width}x{height}"
        sizes.setdefault(icon["purpose"], set()).add(width)
    assert {192, 512} <= sizes["any"]
    assert 512 in sizes["maskable"]
    shortcuts = {s["name"]: s["url"] for s in manifest["shortcuts"]}
    assert shortcuts == {"Check in": "/app/checkin", "Reflect": "/app/reflect"}
    assert "ketamine" not in response.text.lower()  # it shows on the home screen, next to other apps


def test_pages_link_the_manifest_and_the_apple_touch_icon(client: Client) -> None:
    html = client.get("/login").text

    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert 'rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png"' in html
    assert 'name="apple-mobile-web-app-capable"' in html
    assert client.get("/static/icons/apple-touch-icon.png").status_code == 200


def test_the_service_worker_is_at_the_root_and_names_a_versioned_shell(client: Client) -> None:
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    first_line = response.text.splitlines()[0]
    assert first_line.startswith("const SHELL = ")
    for url in ("/offline", "/app/checkin", "/app/reflect", "/help", "/static/app.css", "/manifest.webmanifest"):
        assert f'"{url}"' in first_line
    assert '"version": "' in first_line


def test_every_shell_file_is_storable_and_free_of_patient_data(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    canary = "canary-shell-7f3e"
    response = client.put(f"/api/v1/checkins/{uuid.uuid4()}", json={"mood": 5, "note": canary})
    assert response.status_code == 201

    for url in shell.shell_urls():
        page = client.get(url)
        assert page.status_code == 200, url
        assert "no-store" not in page.headers["cache-control"], url
        assert people.patient_a.name not in page.text, url
        assert people.patient_a.email not in page.text, url
        assert canary not in page.text, url
    # A shell page is the same signed in or not: nothing in it depends on who asked.
    signed_in = {url: client.get(url).text for url in shell.SHELL_PAGES if url != "/app/checkin"}
    client.cookies.clear()
    for url, text in signed_in.items():
        if "/app/reflect" in url:
            continue  # holds a fresh entry id for the form without JavaScript, so it differs each time
        assert client.get(url).text == text, url


def test_the_shell_has_no_csrf_token_and_the_crisis_numbers_offline(client: Client) -> None:
    offline = client.get("/offline").text
    assert "_csrf_token" not in offline
    assert 'href="tel:988"' in offline
    assert 'href="tel:988"' in client.get("/help").text
    assert 'href="/app/checkin"' in offline


def test_the_empty_forms_go_through_the_outbox_and_fill_nothing_in(client: Client) -> None:
    checkin = client.get("/app/checkin").text
    assert 'data-outbox="checkin"' in checkin and "data-fresh-id" in checkin
    assert 'value="" selected>As in my settings' in checkin
    reflect = client.get("/app/reflect/integration").text
    assert 'data-outbox="reflection"' in reflect and "data-stepper" in reflect
    assert client.get("/app/reflect/nonsense").status_code == 404


def test_patient_pages_stay_no_store(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    for url in PATIENT_PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "no-store", url
        assert "data-signed-in" in response.text, url


def test_the_shell_version_changes_when_any_shell_file_changes(tmp_path: Path) -> None:
    copies = []
    for path in shell.shell_files():
        copy = tmp_path / f"{len(copies)}-{path.name}"
        shutil.copyfile(path, copy)
        copies.append(copy)
    before = shell.fingerprint(copies, "{}")

    assert shell.fingerprint(copies, "{}") == before
    for copy in (copies[0], copies[-1]):  # the worker itself, and a template
        original = copy.read_bytes()
        copy.write_bytes(original + b"\n")
        assert shell.fingerprint(copies, "{}") != before
        copy.write_bytes(original)
    assert shell.fingerprint(copies, '{"name": "x"}') != before
