"""Decode bitstream files in a separate process, so that a crash or hang is caught, not fatal.

Run as a script, it reads ``<codec>\\t<path>`` lines from stdin and answers each with one
JSON line ``{"outcome": "ok" | "BitstreamError" | "other", "message": ...}``, decoding
every video the way ``tools/compress_dataset.py`` does. :class:`DecodeWorker` drives it
with a timeout per file and restarts it after a crash (a signal such as SIGABRT from a C
extension) or a hang.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import traceback
from pathlib import Path

TESTS = Path(__file__).resolve().parent


class DecodeWorker:
    """One long-lived decoding process; ``decode`` returns (outcome, message).

    Outcomes besides the worker's own: ``"crash"`` (the process died, message names the
    exit status) and ``"hang"`` (no answer within the timeout; the process is killed).
    """

    def __init__(self):
        self.process = None
        self.answers: queue.Queue = queue.Queue()

    def _start(self) -> None:
        import toolkit  # the worker decodes with the toolkit this process imported

        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(Path(toolkit.__file__).resolve().parents[1]), str(TESTS)]))
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=env, cwd=str(TESTS.parent))
        self.answers = queue.Queue()
        threading.Thread(target=self._read, args=(self.process, self.answers), daemon=True).start()

    @staticmethod
    def _read(process, answers) -> None:
        for line in process.stdout:
            answers.put(line)
        answers.put(None)  # end of output: the process exited

    def decode(self, codec: str, path, timeout: float) -> tuple[str, str]:
        if self.process is None or self.process.poll() is not None:
            self._start()
        self.process.stdin.write(f"{codec}\t{path}\n")
        self.process.stdin.flush()
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            self.close()
            return "hang", f"no answer within {timeout:g} s"
        if line is None:
            status = self.process.wait()
            self.process = None
            return "crash", f"decoding process died with exit status {status}"
        answer = json.loads(line)
        return answer["outcome"], answer["message"]

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> "DecodeWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Address space of the worker: a decoder that tries to allocate more fails inside it
#: (MemoryError or an abort, both reported) instead of swapping the machine.
MEMORY_LIMIT_BYTES = 6 * 2**30


def _serve() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    import torch

    torch.set_num_threads(1)
    from bitstream_samples import decode
    from toolkit.codecs.bitstream import BitstreamError

    for line in sys.stdin:
        codec, path = line.rstrip("\n").split("\t")
        try:
            decode(codec, path)
            answer = {"outcome": "ok", "message": ""}
        except BitstreamError as error:
            answer = {"outcome": "BitstreamError", "message": str(error)}
        except BaseException as error:  # noqa: BLE001  (reported to the test, which fails on it)
            answer = {"outcome": "other", "message": f"{type(error).__name__}: {error}\n"
                                                     f"{traceback.format_exc()}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
