"""Explanations: which pixels of an image matter for a class, a neuron or a feature map.

The core is `gradient(model, x, target, mode)`: one forward pass, a seed planted on
the target's layer, one backward pass under a ReLU rule (see ``minicnn/layers/relu.py``).
`saliency`, `deconvnet` and `guided_backprop` are that function with the mode fixed;
`grad_cam` and `guided_grad_cam` build on it. ``display`` turns maps into images;
``activations`` picks layers and neurons to explain. Beyond the lecture:
``attribution`` (SmoothGrad, integrated gradients, occlusion), ``neurons`` (top
patches), ``sanity`` (randomisation test, localisation) and ``contrast`` (how grey or
sharp a map is, in numbers); ``optimize`` changes the image itself (class
visualisation, fooling images, layer inversion). See docs/explain.md.
"""

from .activations import busiest_channels, cam_layer, conv_activations, top_neurons
from .attribution import integrated_gradients, occlusion, smooth_grad
from .contrast import Contrast, contrast
from .core import (
    Channel,
    Neuron,
    Seed,
    backprop,
    class_saliency,
    deconvnet,
    gradient,
    guided_backprop,
    neuron_gradient,
    preserved_state,
    saliency,
    seed_for,
    target_gradient,
    target_layer,
    target_score,
)
from .display import (
    abs_max,
    clip_percentile,
    negative_saliency,
    positive_saliency,
    shared_scale,
    signed_map,
    to_image,
)
from .gradcam import bilinear_resize, grad_cam, guided_grad_cam
from .neurons import TopPatches, receptive_field, top_patches
from .optimize import Fooled, Inverted, Maximized, fool, invert, maximize
from .sanity import localization, randomization_test, spearman

__all__ = [
    # the lecture: targets, the three rules, Grad-CAM
    "Neuron", "Channel", "Seed", "gradient", "saliency", "deconvnet", "guided_backprop",
    "grad_cam", "guided_grad_cam", "bilinear_resize", "class_saliency", "backprop",
    "neuron_gradient",
    "target_gradient", "target_layer", "seed_for", "target_score", "preserved_state",
    # maps as pictures; which layers and neurons to explain
    "signed_map", "positive_saliency", "negative_saliency", "abs_max", "clip_percentile",
    "to_image", "shared_scale", "top_neurons", "conv_activations", "cam_layer", "busiest_channels",
    # beyond the lecture
    "smooth_grad", "integrated_gradients", "occlusion", "top_patches", "TopPatches",
    "receptive_field", "randomization_test", "localization", "spearman",
    "contrast", "Contrast",
    # optimising the input
    "maximize", "fool", "invert", "Maximized", "Fooled", "Inverted",
]
