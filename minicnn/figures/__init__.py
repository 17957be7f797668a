"""Figures, drawn with matplotlib (imported only inside the functions).

- ``panels``: the panel grid every figure is drawn on (`grid`, `Panel`) and `save`;
- ``lecture``: the three rules side by side (`compare_rules`, `compare_neurons`);
- ``beyond``: the methods beyond the lecture (`plot_top_patches`, `plot_occlusion`,
  `plot_randomization`);
- ``optimize``: optimising the input (`plot_class_images`, `plot_fooling`,
  `plot_inversion`);
- ``demo``: `run_demo` (``python -m minicnn demo``) and `explain_image`
  (``python -m minicnn explain``).

Imports point one way: panels <- lecture, beyond, optimize <- demo.
"""

from .beyond import beyond_figures, plot_occlusion, plot_randomization, plot_top_patches
from .demo import explain_image, run_demo
from .lecture import MODES, compare_neurons, compare_rules, lecture_figures, support_box
from .optimize import optimize_figures, plot_class_images, plot_fooling, plot_inversion
from .panels import Panel, grid, save

__all__ = [
    "Panel", "grid", "save", "MODES", "compare_rules", "compare_neurons", "support_box",
    "lecture_figures", "plot_top_patches", "plot_occlusion", "plot_randomization",
    "beyond_figures", "run_demo", "explain_image", "plot_class_images", "plot_fooling",
    "plot_inversion", "optimize_figures",
]
