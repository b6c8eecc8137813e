"""map_in_processes: the serial map's results, in order, from single-threaded workers."""

import numpy as np
import pytest
import torch

from wsss.demo.clip import make_view_pool
from wsss.demo.scenes import WorldSettings
from wsss.parallel import map_in_processes


def _square(value: int) -> int:
    return value * value


def _torch_threads(_: int) -> int:
    return torch.get_num_threads()


def _fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("item 3 is bad")
    return value


def test_results_in_order_as_the_serial_map():
    items = list(range(23))
    assert map_in_processes(_square, items, workers=2, chunksize=4) == [i * i for i in items]
    assert map_in_processes(_square, items, workers=1) == [i * i for i in items]


def test_workers_compute_on_one_thread():
    # Two workers of two torch threads each on two cores made the demo's view rendering 6x slower.
    torch.set_num_threads(2)
    assert map_in_processes(_torch_threads, range(4), workers=2, chunksize=1) == [1, 1, 1, 1]


def test_a_worker_exception_reaches_the_caller():
    with pytest.raises(ValueError, match="item 3 is bad"):
        map_in_processes(_fail_on_three, range(6), workers=2, chunksize=1)


def test_view_pool_same_in_workers_as_in_one_process():
    settings = WorldSettings(image_size=64)
    one = make_view_pool(0, "clip_train", 6, settings, resolution=32, workers=1)
    two = make_view_pool(0, "clip_train", 6, settings, resolution=32, workers=2)
    assert np.array_equal(one.images, two.images) and np.array_equal(one.masks, two.masks)
    assert one.captions == two.captions and one.kinds == two.kinds
    assert np.array_equal(one.concepts, two.concepts)
