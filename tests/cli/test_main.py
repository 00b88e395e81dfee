"""The command line's own behaviour: its log lines."""
from __future__ import annotations

import io
import logging
import sys

from attnseg.cli import main


def test_log_lines_follow_stderr_after_the_command_that_set_them_up(tmp_path, synthetic_folder, capsys):
    """The library's log lines go to the sys.stderr of the moment: a host (or pytest) that replaced and closed
    the one the command ran with still gets them, with no logging error."""
    assert main(["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--out", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    swapped = sys.stderr
    try:
        sys.stderr = later = io.StringIO()
        logging.getLogger("attnseg.engine").warning("a later line")
    finally:
        sys.stderr = swapped
    assert later.getvalue() == "attnseg: a later line\n"
