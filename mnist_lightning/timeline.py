"""When each phase of a run ended, as the user sees it: `mark(name)`, then `<run_dir>/timeline.json`.

Light on purpose (no torch, no Lightning): the entry point marks its start before anything heavy is
imported. benchmarks/wall.py reads the file and splits a run's wall time into these phases.
"""

from __future__ import annotations

import time

FILE = "timeline.json"  # in the run directory of every finished training run (rank 0)
# The phases in the order a run passes them; a mark is the epoch time (time.time()) at which one ends.
PHASES = (
    "main",  # the entry point's main() starts: the interpreter and our module are imported
    "composed",  # Hydra composed and checked the config: the task function starts
    "imported",  # torch, Lightning and the training code are imported
    "data",  # the data is loaded and the model built
    "fit",  # trainer.fit returned
    "test",  # trainer.test returned
    "report",  # metrics, report and the closing log lines are written: all that is left is the exit
)
_marks: dict[str, float] = {}


def mark(name: str) -> None:
    """Record that phase `name` ends now; the marks of later phases (an earlier job's) are dropped."""
    later = PHASES[PHASES.index(name) + 1 :]  # ValueError for a name that is not a phase
    for phase in later:  # a multirun's second job, or a second command in one interpreter
        _marks.pop(phase, None)
    _marks[name] = time.time()


def marks() -> dict[str, float]:
    """The marks so far, in phase order."""
    return {phase: _marks[phase] for phase in PHASES if phase in _marks}
