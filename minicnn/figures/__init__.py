"""Figures, drawn with matplotlib (imported only inside the functions).

- ``panels``: the panel grid every figure is drawn on (`grid`, `Panel`), `save`,
  `add_colorbar`, and the colour conventions (`SIGNED_CMAP`, `POSITIVE_CMAP`);
- ``lecture``: the three rules side by side (`compare_rules`, `compare_neurons`);
- ``beyond``: the methods beyond the lecture (`plot_top_patches`, `plot_occlusion`,
  `plot_randomization`);
- ``optimize``: optimising the input (`plot_class_images`, `plot_fooling`,
  `plot_inversion`);
- ``demo``: `run_demo` (``python -m minicnn demo``) and `explain_image`
  (``python -m minicnn explain``);
- ``photos``: the same for photographs and ImageNet networks (`photos.explain_photo`,
  `photos.photo_demo`; import them from ``minicnn.figures.photos``);
- ``explorer``: `write_explorer` (``python -m minicnn explore``), one self-contained
  HTML page to click through neurons and the three rules' maps.

Imports point one way: panels <- lecture, beyond, optimize <- demo, photos.
"""

from .beyond import beyond_figures, plot_occlusion, plot_randomization, plot_top_patches
from .demo import explain_image, run_demo
from .explorer import build_explorer, write_explorer
from .lecture import MODES, compare_neurons, compare_rules, lecture_figures, support_box
from .optimize import optimize_figures, plot_class_images, plot_fooling, plot_inversion
from .panels import POSITIVE_CMAP, SIGNED_CMAP, Panel, add_colorbar, grid, save

__all__ = [
    "Panel", "grid", "save", "add_colorbar", "SIGNED_CMAP", "POSITIVE_CMAP",
    "MODES", "compare_rules", "compare_neurons", "support_box",
    "lecture_figures", "plot_top_patches", "plot_occlusion", "plot_randomization",
    "beyond_figures", "run_demo", "explain_image", "plot_class_images", "plot_fooling",
    "plot_inversion", "optimize_figures", "build_explorer", "write_explorer",
]
