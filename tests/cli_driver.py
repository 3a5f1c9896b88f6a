"""Run many command lines through the real entry points in one interpreter: `python cli_driver.py IN OUT`.

IN is a JSON list of argv lists (`["mnist_lightning.evaluate", "ckpt_path=..."]`); OUT receives, for
each, the exit status, its stderr, and stdout and stderr together as a terminal shows them. Each
command runs exactly as its console script would (`main()` with sys.argv set), but the ~5 s of
imports are paid once, not per command.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import sys
import traceback

from hydra.core.global_hydra import GlobalHydra

ENTRY = {"mnist_lightning": "mnist_lightning.__main__"}  # `python -m mnist_lightning` runs __main__


class Tee(io.StringIO):
    """A stream that also copies what it is given into a shared transcript."""

    def __init__(self, transcript: io.StringIO) -> None:
        super().__init__()
        self.transcript = transcript

    def write(self, text: str) -> int:
        self.transcript.write(text)
        return super().write(text)


def run(argv: list[str]) -> dict[str, object]:
    """One command: its exit status (0 when main() returns), its stderr, and the whole transcript."""
    module, args = argv[0], argv[1:]
    transcript = io.StringIO()
    err = Tee(transcript)
    status: object = 0
    sys.argv = [module, *args]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(Tee(transcript)):
        try:
            importlib.import_module(ENTRY.get(module, module)).main()
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
        except BaseException:  # what would reach the user as a traceback
            status = "uncaught"
            traceback.print_exc(file=err)
        finally:
            GlobalHydra.instance().clear()
            logging.shutdown()
    return {"status": status, "stderr": err.getvalue(), "output": transcript.getvalue()}


if __name__ == "__main__":
    commands_file, results_file = sys.argv[1:3]  # read first: every run sets sys.argv
    with open(commands_file) as f:
        commands = json.load(f)
    results = [run(argv) for argv in commands]
    with open(results_file, "w") as f:
        json.dump(results, f)
