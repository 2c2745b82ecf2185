"""The solutions of notebook 08's exercises (notebooks/solutions/ex08_timing.py) give the numbers that the
notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package.

Timings move with the machine's load, so the timing tests assert orderings and bounds that hold however busy the
machine is (each time is the best of a few repeats); the counts are exact."""
import math

import pytest
from conftest import load_solutions


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex08_timing")


def test_ex1_render_time_grows_slower_than_pixels(ex):
    out = ex.ex1_render_vs_pixels()
    ms = out["ms"]
    assert ms[128] < ms[256] < ms[512]                       # more pixels never draw faster
    # eq. (9) with a fixed cost per frame: time grows more slowly than the pixels (alpha < 1), but it grows
    assert 0.3 < out["alpha"] < 1.1


def test_ex2_one_step_streams_at_25_fps(ex):
    out = ex.ex2_steps_in_budget()
    w = out["window_ms"]
    assert w[8] > w[1]                                       # eq. (5): the cost grows with the steps
    assert out["step_ms"] > 0
    assert out["hop"] == 45                                  # S = W - O = 50 - 5
    assert out["budget_ms"] == pytest.approx(1e3 * 45 / 25 - 45 * 2.2)   # eq. (4): 1800 - 99 ms
    assert out["n_max"] >= 1                                 # the shipped one-step default keeps up on one core
    assert out["step_gflop"] == pytest.approx(1.272771072 * 2 / 3)   # eqs. (6)-(7), B = 2 passes (audio guidance)
    assert 0 < out["efficiency"] < 3                         # eq. (8): no faster than the matmul rate (loosely)


def test_ex3_two_threads_at_most_twice_as_fast(ex):
    out = ex.ex3_threads()
    assert out["threads_after"] == out["threads_before"]      # the thread count is restored
    # Amdahl: with two threads s = 1 / ((1 - p) + p / 2) <= 2, so p <= 1 (noise allowed); it may fall below 1
    # (p < 0) on a busy machine
    assert 0 < out["speedup"] < 2.3
    assert out["parallel_fraction"] < 1.15


def test_ex4_small_convolutions_waste_the_machine(ex):
    out = ex.ex4_small_kernels()
    for n, r in out.items():
        assert r["flops_hand"] == r["flops_counter"] == 2 * 16 * n * n * 16 * 9   # eq. (6)
    # eq. (9): the fixed cost per call dominates at 8 x 8 pixels, so 256 times the FLOPs take far less than 256
    # times the time: the efficiency of eq. (8) rises with size
    assert out[8]["efficiency"] < out[32]["efficiency"] < out[128]["efficiency"]
    assert out[128]["efficiency"] > 3 * out[8]["efficiency"]


def test_ex5_first_window_waits_for_its_speech(ex):
    out = ex.ex5_first_frame_wait()
    for name, W in (("shipped", 50), ("tiny", 12)):
        r = out[name]
        assert r["window"] == W
        assert r["predicted"] == (W - 0.5) * 640 + 200                         # eq. (3)
        for chunk, taken in r["taken"].items():
            assert taken == math.ceil(r["predicted"] / chunk) * chunk          # rounded up to whole chunks
    assert out["shipped"]["predicted"] / 16000 == pytest.approx(1.9925)        # about 2 s before any frame
    assert out["window_for_170ms"] == 4                                        # (W - 1/2) 40 ms + 12.5 ms <= 170 ms
