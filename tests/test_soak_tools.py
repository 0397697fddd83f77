"""The measuring pieces of benchmarks/soak.py and benchmarks/batch_invariance.py: the server's memory counts its
children, and the batch compositions cover every clip once per partition."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.batch_invariance import partitions
from benchmarks.soak import tree_rss


def test_the_resident_memory_of_a_process_tree_counts_its_children():
    alone = tree_rss(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(200 << 20); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        for _ in range(300):  # until the child has touched its 200 MiB
            if tree_rss(os.getpid()) > alone + (150 << 20):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert tree_rss(os.getpid()) > alone + (150 << 20)
        assert tree_rss(child.pid) > 150 << 20
    finally:
        child.kill()
        child.wait()


def test_each_partition_holds_every_clip_once_in_batches_of_its_size():
    names = [f"clip{i}" for i in range(21)]
    for seed in (0, 1):
        groups = partitions(names, 8, seed)
        assert sorted(name for group in groups for name in group) == sorted(names)
        assert [len(group) for group in groups] == [8, 8, 5]
    assert partitions(names, 8, 0) != partitions(names, 8, 1)
