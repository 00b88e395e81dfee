"""attnseg.files: choices made by measurement are measured once and remembered, even without a cache."""
import logging

from attnseg.files import measured_once


def test_a_choice_is_measured_once_and_remembered(tmp_path, monkeypatch):
    said = []  # read directly: the CLI tests leave the attnseg loggers without propagation to caplog's handler
    monkeypatch.setattr(logging.getLogger("attnseg.files"), "warning", lambda msg, *args: said.append(msg % args))
    calls = []

    def measure():
        calls.append(1)
        return {"slow": 0.3, "fast": 0.1}

    path = tmp_path / "cache" / "choices.json"
    assert measured_once(path, {"machine": "x"}, measure, "test") == ("fast", {"slow": 0.3, "fast": 0.1})
    assert measured_once(path, {"machine": "x"}, measure, "test") == ("fast", None) and len(calls) == 1
    assert measured_once(path, {"machine": "y"}, lambda: {"a": 2.0, "b": 1.0}, "test")[0] == "b"
    (tmp_path / "file").write_text("not a folder")
    blocked = tmp_path / "file" / "choices.json"  # its folder is a file: the cache cannot be written
    assert measured_once(blocked, {"machine": "x"}, measure, "test") == ("fast", {"slow": 0.3, "fast": 0.1})
    assert len(said) == 1 and said[0].startswith("test: cannot remember the choice")
