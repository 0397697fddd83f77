"""Specification of ``serving.engine.step_graphs``' row buckets (the CUDA capture itself needs a GPU and is covered
by the end-to-end tests where one is present): every row count maps to the smallest bucket that holds it."""

from __future__ import annotations

import pytest

from serving.engine.step_graphs import StepGraphs, bucket_sizes


@pytest.mark.parametrize(
    "capacity, expected",
    [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (8, [1, 2, 4, 8]), (12, [1, 2, 4, 8, 12]), (16, [1, 2, 4, 8, 16])],
)
def test_buckets_are_the_powers_of_two_below_the_capacity_and_the_capacity(capacity, expected):
    assert bucket_sizes(capacity) == expected


@pytest.mark.parametrize("capacity", [1, 5, 12, 16, 33])
def test_every_row_count_gets_the_smallest_bucket_that_holds_it(capacity):
    graphs = StepGraphs(step=lambda rows, flags: None, buckets=bucket_sizes(capacity))
    for rows in range(1, capacity + 1):
        bucket = graphs.bucket(rows)
        assert bucket >= rows and bucket in graphs.buckets
        assert all(size < rows for size in graphs.buckets if size < bucket)
    assert not graphs.has(1, (False, False, False))  # nothing is captured until asked
