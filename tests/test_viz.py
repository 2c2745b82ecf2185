"""Notebook figures: plots are shown as PNG, image grids as JPEG, both cropped to what is drawn so that axis
labels outside the axes are kept."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from labkit import viz  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    out = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda img: out.append(img))
    return out


def test_plots_are_png_with_their_labels_and_grids_are_jpeg(shown):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_ylabel("a long label that sits left of the axes " * 2)
    viz.show(fig)
    img = Image.open(io.BytesIO(shown[-1].data))
    assert img.format == "PNG"
    assert img.height > 2 * 100                      # grown to hold the label, not cut at the figure's edge
    viz.show(viz.image_grid([np.zeros((2, 8, 8, 3), np.uint8)], row_labels=["r"]))
    assert Image.open(io.BytesIO(shown[-1].data)).format == "JPEG"
    assert not plt.get_fignums()                     # both figures closed
