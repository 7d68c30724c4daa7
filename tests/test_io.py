"""Tests for trialeval.io's writers: CSV cells a spreadsheet would run as formulas, and
temporaries that must not outlive a killed writer."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from trialeval.io import atomic_path, neutralise_cell, read_csv, restore_cell, write_csv


@pytest.mark.parametrize(
    "cell, written",
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),  # OWASP's DDE example
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("-cmd", "'-cmd"),
        ("\t=1+1", "'\t=1+1"),  # tab and carriage return are OWASP's other two
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),  # not a number: a spreadsheet would try it as a formula
        ("-inf", "'-inf"),  # Python's float() reads it; a spreadsheet does not
        ("'=x", "''=x"),  # one more quote, so reading back drops exactly one
        # numbers stay numbers: a spreadsheet reads each as the number it is
        ("-0.5", "-0.5"),
        ("+1", "+1"),
        ("-2", "-2"),
        ("-.5e+3", "-.5e+3"),
        ("1e-3", "1e-3"),
        # text not starting with a formula character is left alone
        ("coached - control", "coached - control"),
        ("'90s", "'90s"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_cell_and_its_inverse(cell, written):
    assert neutralise_cell(cell) == written
    assert restore_cell(written) == cell


def test_write_csv_quotes_formula_text_leaves_numbers_and_round_trips(tmp_path):
    frame = pd.DataFrame(
        {
            "level": ["=1+1", "-cmd", "-2", "plain", None],
            "estimate": [-0.4523781235, -2.0, 1.5, np.nan, 0.0],  # a float column
            "mixed": [-1.25, "@x", None, "y", "+1"],  # object column: floats and text
        }
    )
    original = frame.copy()
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    assert path.read_text() == (
        "level,estimate,mixed\n'=1+1,-0.4523781235,-1.25\n'-cmd,-2,'@x\n-2,1.5,\nplain,,y\n,0,+1\n"
    )
    pd.testing.assert_frame_equal(frame, original)  # the caller's frame is not modified
    back = read_csv(path)
    assert back["level"].tolist()[:4] == ["=1+1", "-cmd", "-2", "plain"]
    assert back["estimate"].tolist()[:3] == [-0.4523781235, -2.0, 1.5]
    assert back["mixed"].tolist()[1] == "@x"


def test_write_csv_quotes_a_formula_in_a_header(tmp_path):
    write_csv(pd.DataFrame({"=x": ["a"]}), tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text() == "'=x\na\n"
    assert list(read_csv(tmp_path / "h.csv").columns) == ["=x"]


def test_read_csv_of_an_empty_file_is_an_empty_frame(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    assert read_csv(tmp_path / "empty.csv").empty


# --------------------------------------------------------------------------------------
# Killed writers
# --------------------------------------------------------------------------------------

# A process that starts writing `target` through atomic_path and waits inside the block.
WRITER = """
import sys, time
from trialeval.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a figure")
    print("inside", flush=True)
    time.sleep(60)
"""


def temporaries(target):
    return sorted(target.parent.glob(f".{target.name}.*.tmp"))


def writer_inside_block(target) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "inside\n"
    assert len(temporaries(target)) == 1
    return proc


def stop(proc: subprocess.Popen, signum: int) -> int:
    proc.send_signal(signum)
    code = proc.wait(timeout=30)
    proc.stdout.close()
    return code


def test_kill_9_leftover_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "figures" / "forest.png"
    proc = writer_inside_block(target)
    assert stop(proc, signal.SIGKILL) == -signal.SIGKILL
    # kill -9 cannot be caught: the temporary stays, the target was never created
    assert len(temporaries(target)) == 1 and not target.exists()
    # the re-run writes the target again: the leftover goes, the file is whole
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"the figure")
    assert temporaries(target) == [] and target.read_bytes() == b"the figure"


def test_kill_9_leftover_of_a_csv_goes_with_write_csv(tmp_path):
    target = tmp_path / "tables" / "table1.csv"
    assert stop(writer_inside_block(target), signal.SIGKILL) == -signal.SIGKILL
    write_csv(pd.DataFrame({"a": [1]}), target)
    assert temporaries(target) == [] and target.read_text() == "a\n1\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_remove_the_temporary(tmp_path, signum):
    """Snakemake stops its jobs with SIGTERM (Ctrl-C also sends SIGINT to them)."""
    target = tmp_path / "figures" / "forest.svg"
    code = stop(writer_inside_block(target), signum)
    assert code != 0  # the writer still stops
    if signum == signal.SIGTERM:
        assert code == -signal.SIGTERM  # and dies of the signal, as without the handler
    assert temporaries(target) == [] and not target.exists()


def test_other_targets_temporaries_are_left_alone(tmp_path):
    """Only the target's own leftovers go: another job may be writing its own file."""
    others = [tmp_path / ".forest.png.x.abc123.tmp", tmp_path / ".forest.svg.abc123.tmp"]
    for other in others:
        other.write_bytes(b"")
    with atomic_path(tmp_path / "forest.png") as tmp:
        tmp.write_bytes(b"png")
    assert all(other.exists() for other in others)
