"""Every text people read goes through gettext: extracting the catalog finds the pages' texts,
and a compiled catalog for another language changes what the pages say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from appliance.web.templating import make_environment

ROOT = Path(__file__).resolve().parents[1]


def test_catalog_extracts_and_translates(tmp_path: Path) -> None:
    pot = tmp_path / "appliance.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-o", str(pot), str(ROOT)], check=True, cwd=ROOT,
                   capture_output=True)
    with pot.open("rb") as fh:
        catalog = read_po(fh)
    ids = {m.id for m in catalog if m.id}
    assert {"Dashboard", "Log in", "Top up", "Chargers", "Sessions"} <= ids
    assert len(ids) > 150
    for message in catalog:
        if message.id and isinstance(message.id, str):
            message.string = f"[{message.id}]"
    mo = tmp_path / "xx" / "LC_MESSAGES" / "appliance.mo"
    mo.parent.mkdir(parents=True)
    with mo.open("wb") as fh:
        write_mo(fh, catalog)
    env = make_environment("xx", tmp_path)
    html = env.get_template("login.html").render(
        staff=None, csrf_token="t", next="/", error=None, site_name="Site", path="/login")
    assert "[Log in]" in html and "[User name]" in html and "[Password]" in html
