from pathlib import Path

from roost.settings import SETTINGS, resolve

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented():
    text = DOC.read_text()
    for s in SETTINGS.values():
        row = next((line for line in text.splitlines() if line.startswith(f"| {s.name} |")), None)
        assert row is not None, f"{s.name} missing from docs/configuration.md"
        assert f"`{s.env}`" in row and str(s.default) in row


def test_resolution_order():
    assert resolve("port", 9000, environ={"ROOST_PORT": "8001"}) == 9000
    assert resolve("port", None, environ={"ROOST_PORT": "8001"}) == 8001
    assert resolve("port", None, environ={}) == 8000
