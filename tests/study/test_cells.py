"""A stopped study starts no further cell and kills the running ones (the pool's contract,
checked with plain `sleep` processes: no training needed)."""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gannorm.study.cells import CellProcesses

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses sleep(1)")


def test_stop_kills_running_cells_and_starts_no_queued_one():
    started = []
    with CellProcesses() as procs, ThreadPoolExecutor(max_workers=2) as pool:
        def cell(i):
            return procs.run(["sleep", "30"], before=lambda: started.append(i))

        futs = [pool.submit(cell, i) for i in range(6)]
        t0 = time.monotonic()
        while len(started) < 2 and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        threading.Timer(0.2, procs.stop, args=(15,)).start()
        codes = [f.result(timeout=10) for f in futs]
    assert time.monotonic() - t0 < 5
    assert sorted(started) == [0, 1] and codes[:2] == [-9, -9] and codes[2:] == [None] * 4
    assert procs.stopped_by == 15
