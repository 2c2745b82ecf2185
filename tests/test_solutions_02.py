"""The solutions of notebook 02's exercises (notebooks/solutions/ex02_face_latent_model.py) give the numbers that
the notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package."""
import numpy as np
import pytest
from conftest import load_solutions


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex02_face_latent_model")


def test_ex1_parameters_sit_in_the_code_encoders(ex):
    out = ex.ex1_parameters()
    for preset, r in out.items():
        assert r["lift"] == r["lift_predicted"], preset             # eq. (1): a 1 x 1 conv from c to C·D channels
        assert abs(sum(r["share"].values()) - 1) < 1e-9
    # the two global code encoders (E_id, E_mot) outweigh everything that touches the volume
    assert out["s128"]["share"]["id_encoder"] + out["s128"]["share"]["motion_encoder"] > 0.7
    assert out["s128"]["dominant"] == "id_encoder"
    assert out["s128e"]["dominant"] == "motion_encoder"              # its part branch reads eyes and mouth
    assert out["s128e"]["share"]["g3d"] < 0.01                       # G_3D is a few 3D convs on 16 channels
    assert out["tiny"]["total"] < 200_000 < 5_000_000 < out["s128"]["total"] < out["s128e"]["total"]


def test_ex2_quarter_turn_is_rot90(ex):
    out = ex.ex2_quarter_turns()
    # W_c→d reads the input at R^T q (eq. 6). Roll 90°: R^T (x, y) = (y, -x), so out[h, w] = V[n - 1 - w, h],
    # torch.rot90's k = 3 over (H, W); pitch likewise over (D, H); yaw's R_y turns the other way over (D, W).
    expected = {"roll": "k=3", "pitch": "k=3", "yaw": "k=1"}
    for name, k in expected.items():
        other = "k=1" if k == "k=3" else "k=3"
        assert out[name][k] < 1e-5, (name, out[name])             # exact: voxel centres land on voxel centres
        assert out[name][other] > 1.0, (name, out[name])           # the opposite turn is far off


def test_ex3_volume_depth_costs_what_eq1_and_eq11_predict(ex):
    out = ex.ex3_volume_depth(depths=(4, 8), steps=6)
    for D, r in out.items():
        assert r["params"] == r["params_predicted"], D
        assert r["l1_last"] < r["l1_first"], (D, r)                # both fit one batch
    # tiny: C = 4, ΔD = 4, c = w = 32 -> 16 · 65 = 1040 parameters more
    assert out[8]["params"] - out[4]["params"] == 4 * 4 * (32 + 1 + 32)


def test_ex4_pose_swap_moves_the_face_to_the_true_pose(ex):
    out = ex.ex4_pose_swap(n=4)
    moved = np.array(out["landmarks_moved_px"])
    swap, unswapped = np.array(out["psnr_swap"]), np.array(out["psnr_unswapped"])
    assert (moved > 1).all()                                        # each pair's pose differs visibly
    assert swap.mean() > 25 and swap.mean() > unswapped.mean() + 4  # closer to the truth than A itself
    assert (swap > unswapped).all()
    assert np.median(out["pose_error"]) < 0.35                      # E_mot reads back B's pose from the swap
