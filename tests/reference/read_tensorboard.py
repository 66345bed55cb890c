#!/usr/bin/env python3
"""Interop, ember -> TensorBoard: reads the event file that ember's EventWriter wrote (the
hidden test "writes the event file read_tensorboard.py checks" in test_tensorboard.cpp) with
the `tensorboard` package and checks its file version, tags, steps and values exactly.

Usage: python3 read_tensorboard.py LOG_DIR
Exits 77 (a skip, for ctest) when tensorboard is not installed. ctest runs this with the
interpreter named by the environment variable EMBER_TB_PYTHON, or python3 on PATH, e.g.
    python3 -m venv /work/venv-tb && /work/venv-tb/bin/pip install tensorboard
    EMBER_TB_PYTHON=/work/venv-tb/bin/python ctest -R tensorboard_reads_ember_events
"""
import os
import re
import socket
import struct
import sys
import time

try:
    import tensorboard
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    print("tensorboard is not installed for %s: skipping (pip install tensorboard, then set "
          "EMBER_TB_PYTHON to that interpreter)" % sys.executable)
    sys.exit(77)


def float32(x):
    """x rounded to float32, as TensorBoard's simple_value stores it."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# What the C++ test writes: per step, loss/train = 1/(step+1) and accuracy = step/4 - 3;
# then lr = 1e-3 at step 2^40 (a step beyond 32 bits).
EXPECTED = {
    "loss/train": [(step, float32(1.0 / (step + 1))) for step in range(4)],
    "accuracy": [(step, float32(0.25 * step - 3.0)) for step in range(4)],
    "lr": [(2**40, float32(1e-3))],
}


def main():
    log_dir = sys.argv[1]
    names = os.listdir(log_dir)
    assert len(names) == 1, names
    match = re.fullmatch(r"events\.out\.tfevents\.(\d+)\.(.+)\.(\d+)\.(\d+)", names[0])
    assert match, names[0]
    assert match.group(2) == socket.gethostname(), (match.group(2), socket.gethostname())
    assert time.time() - 600 < int(match.group(1)) <= time.time(), match.group(1)

    # The raw events: TensorBoard's reader checks every record's CRCs and stops at the first
    # bad one, so a framing error shows up as missing events.
    events = list(event_file_loader.LegacyEventFileLoader(os.path.join(log_dir, names[0])).Load())
    assert len(events) == 1 + sum(len(points) for points in EXPECTED.values()), len(events)
    assert events[0].file_version == "brain.Event:2", events[0]
    for event in events:
        assert time.time() - 600 < event.wall_time <= time.time(), event.wall_time
    for event in events[1:]:
        assert len(event.summary.value) == 1, event

    accumulator = EventAccumulator(log_dir)
    accumulator.Reload()
    scalar_tags = accumulator.Tags()["scalars"]
    assert sorted(scalar_tags) == sorted(EXPECTED), scalar_tags
    for tag, expected in EXPECTED.items():
        got = [(scalar.step, scalar.value) for scalar in accumulator.Scalars(tag)]
        assert got == expected, (tag, got, expected)
    print("tensorboard %s read %d events: tags %s, steps and values as written"
          % (tensorboard.__version__, len(events), sorted(EXPECTED)))


if __name__ == "__main__":
    main()
