"""Figures shared by the notebooks: image grids with row and column labels."""
from __future__ import annotations

import io

import numpy as np
import torch

# matplotlib and IPython are imported where a figure is made: the library itself needs no display stack.


def to_numpy_images(x) -> np.ndarray:
    """Images (N, 3, H, W) tensor in [0, 1] or (N, H, W, 3) uint8 array → (N, H, W, 3) float in [0, 1]."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy()
    x = np.asarray(x)
    return x.astype(np.float32) / 255 if x.dtype == np.uint8 else x


def image_grid(rows, *, row_labels=None, col_labels=None, size: float = 1.4, title: str | None = None):
    """A matplotlib figure of a grid: rows is a list of image batches (each (N, 3, H, W) or (N, H, W, 3))."""
    import matplotlib.pyplot as plt

    rows = [to_numpy_images(r) for r in rows]
    n_cols = max(len(r) for r in rows)
    h, w = rows[0].shape[1:3]                              # a band of a face gets a band of the figure
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(size * n_cols, size * len(rows) * min(h / w, 1.0)),
                             squeeze=False)
    for i, r in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(r):
                ax.imshow(r[j])
            if col_labels is not None and i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=8)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show(fig, *, dpi: int = 100, quality: int = 85) -> None:
    """Display a matplotlib figure inline and close it: PNG for plots (sharp lines and text), JPEG for
    figures that show images (far smaller); both cropped to what is drawn, axis labels included."""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    photo = any(ax.get_images() for ax in fig.get_axes())
    fmt = "jpeg" if photo else "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.05,
                **({"pil_kwargs": {"quality": quality}} if photo else {}))
    plt.close(fig)
    display(Image(buf.getvalue(), format=fmt))
