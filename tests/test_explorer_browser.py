"""The explorer page in a real browser: headless Chromium (Debian's ``chromium``) driven
by Playwright, which starts the system's browser and downloads none.

The test builds a page for two sample images, clicks through image, layer and neuron,
and reads the pixels the page drew: each must be the map the library computes for
that neuron with a one-neuron `explain.gradient` call, coloured with matplotlib's
``RdBu_r`` (white = 0) in the signed view. The browser console must show
no error. A screenshot is saved for the CI log: into $MINICNN_ARTIFACTS if set, else
pytest's temporary folder; the path is printed.

Without a browser (or without Playwright) the test skips, saying why; with
MINICNN_REQUIRE_BROWSER=1 or CI=true (as in .ci/run) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import explain
from minicnn.data import FASHION_MNIST_CLASSES, sample_images
from minicnn.figures.explorer import write_explorer

IMAGES = (0, 9)   # T-shirt/top, ankle boot
# Flags for a closed network: no sandbox (CI runs as root), no GPU, nothing that phones home.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_or_skip() -> str:
    """The Chromium executable; skip (or fail, when a browser is required) without it."""
    required = os.environ.get("MINICNN_REQUIRE_BROWSER") == "1" or os.environ.get("CI") == "true"
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the Python package playwright is not installed (pip install -r requirements.txt)"
    names = [os.environ.get("MINICNN_BROWSER"), "chromium", "chromium-browser"]
    found = next((shutil.which(n) for n in names if n and shutil.which(n)), None)
    if problem is None and found is None:
        problem = ("no Chromium browser found (Debian: apt-get install chromium; or set "
                   "MINICNN_BROWSER to its path)")
    if problem is not None:
        if required:
            pytest.fail(f"the browser test must run here (MINICNN_REQUIRE_BROWSER=1 or CI=true), "
                        f"but {problem}")
        pytest.skip(problem)
    return found


def signed_values(model, x, neuron, mode) -> np.ndarray:
    """The lecture's recipe for one neuron, as the gray values of `explain.signed_map`
    (uint8 (H, W), 128 = zero)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* does not fire")   # silent on purpose
        g = explain.gradient(model, x, neuron, mode)[0]
    return np.round(explain.signed_map(g) * 255).astype(np.uint8)


def red_blue(values: np.ndarray) -> np.ndarray:
    """Gray values 0..255 in matplotlib's RdBu_r (docs/explain.md, "Colours"): uint8 RGB."""
    from matplotlib import colormaps
    rgba = np.asarray(colormaps["RdBu_r"](np.asarray(values) / 255))
    return np.round(rgba[..., :3] * 255).astype(np.uint8)


def expected_tile(model, x, neuron, mode) -> np.ndarray:
    """What the page must draw for ``neuron`` in the signed view: `signed_values` in
    RdBu_r, white = zero (uint8 (H, W, 3))."""
    return red_blue(signed_values(model, x, neuron, mode))


# The page may round a gray value one step differently from numpy: one step of RdBu_r
# (at most a few units in one channel) is allowed, no more.
STEP = int(np.abs(np.diff(red_blue(np.arange(256)).astype(int), axis=0)).max())

READ_CANVAS = """canvas => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    return [canvas.width, canvas.height, Array.from(data.filter((_, i) => i % 4 !== 3))];
}"""


class Page:
    """A few helpers around a Playwright page showing the explorer."""

    def __init__(self, page):
        self.page = page

    def maps(self, image: int, neuron: tuple, count: int) -> None:
        """Wait until ``count`` rule maps of ``neuron`` on ``image`` are drawn."""
        selector = (f'canvas.map[data-image="{image}"][data-neuron="{",".join(map(str, neuron))}"]'
                    f'[data-drawn="1"]')
        self.page.wait_for_function(f"document.querySelectorAll('{selector}').length === {count}",
                                    timeout=10_000)

    def pixels(self, rule: str) -> np.ndarray:
        width, height, rgb = self.page.locator(f'canvas.map[data-rule="{rule}"]').evaluate(
            READ_CANVAS)
        return np.array(rgb, dtype=np.uint8).reshape(height, width, 3)

    def neuron(self) -> tuple:
        values = self.page.locator("canvas.map").first.get_attribute("data-neuron")
        return tuple(int(v) for v in values.split(","))


def check_maps(page: Page, model, x, neuron, rules=("standard", "deconvnet", "guided"), box=None):
    for rule in rules:
        want = expected_tile(model, x, neuron, rule)
        if box is not None:
            top, left, bottom, right = box
            want = want[top:bottom, left:right]
        got = page.pixels(rule)
        assert got.shape == want.shape, (rule, neuron)
        assert np.abs(got.astype(int) - want).max() <= STEP, (rule, neuron)


def strongest(out: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.unravel_index(out.argmax(), out.shape))


def test_explorer_in_chromium(tmp_path):
    executable = browser_or_skip()
    from playwright.sync_api import sync_playwright

    model = minicnn.pretrained()
    X, y = sample_images()
    X = X[list(IMAGES)]
    path = tmp_path / "explorer.html"
    write_explorer(path, model, X, [FASHION_MNIST_CLASSES[y[i]] for i in IMAGES],
                   list(FASHION_MNIST_CLASSES), progress=False)
    out3 = [model.forward(X[i:i + 1], until="relu3")[0] for i in range(2)]
    artifacts = Path(os.environ.get("MINICNN_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)

    problems = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True, args=FLAGS,
            viewport={"width": 1920, "height": 1080})
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(path.as_uri())
            ui = Page(page)

            # 1. At start: image 0, the last conv layer (relu3), its strongest neuron.
            first = strongest(out3[0])
            ui.maps(0, first, 3)
            check_maps(ui, model, X[:1], explain.Neuron("relu3", *first))
            field = explain.receptive_field(model, "relu3", *first[1:], image_shape=(28, 28))
            assert page.get_attribute("#input-rf", "data-box") == ",".join(map(str, field))
            placed = page.eval_on_selector("#input-rf", "e => [e.style.top, e.style.left]")
            shown = [float(v.rstrip("%")) * 28 / 100 for v in placed]     # % of the image
            assert shown == pytest.approx(field[:2], abs=1e-3)

            # 2. The right arrow: the next image, its own strongest neuron.
            page.keyboard.press("ArrowRight")
            second = strongest(out3[1])
            ui.maps(1, second, 3)
            check_maps(ui, model, X[1:], explain.Neuron("relu3", *second), rules=("guided",))

            # 3. Another layer: relu2's strongest neuron.
            page.click('#layers button[data-layer="relu2"]')
            out2 = model.forward(X[1:], until="relu2")[0]
            ui.maps(1, strongest(out2), 3)
            check_maps(ui, model, X[1:], explain.Neuron("relu2", *strongest(out2)),
                       rules=("deconvnet",))

            # 4. Click a neuron on relu3's feature maps: a firing one, not the strongest.
            page.click('#layers button[data-layer="relu3"]')
            firing = np.argwhere(out3[1] > 0)
            acts = out3[1][tuple(firing.T)]
            c, yy, xx = (int(v) for v in firing[np.argsort(acts)[len(acts) // 2]])
            cell = page.locator(f'#fmaps canvas[data-channel="{c}"]')
            box = cell.bounding_box()
            cell.click(position={"x": (xx + 0.5) * box["width"] / 7,
                                 "y": (yy + 0.5) * box["height"] / 7})
            ui.maps(1, (c, yy, xx), 3)
            check_maps(ui, model, X[1:], explain.Neuron("relu3", c, yy, xx))

            # 5. A neuron that does not fire: zero under standard and guided, a pattern
            #    under deconvnet, and the page says why.
            c, yy, xx = (int(v) for v in np.argwhere(out3[1] <= 0)[0])
            cell = page.locator(f'#fmaps canvas[data-channel="{c}"]')
            box = cell.bounding_box()
            cell.click(position={"x": (xx + 0.5) * box["width"] / 7,
                                 "y": (yy + 0.5) * box["height"] / 7})
            ui.maps(1, (c, yy, xx), 3)
            assert "does not fire" in page.inner_text("#neuron-note")
            white = red_blue(np.array(128))                        # zero: RdBu_r's white
            assert white.min() > 240
            assert (ui.pixels("standard") == white).all() and (ui.pixels("guided") == white).all()
            check_maps(ui, model, X[1:], explain.Neuron("relu3", c, yy, xx), rules=("deconvnet",))

            # 6. Pick from the list: the third strongest firing neuron.
            third = tuple(int(v) for v in firing[np.argsort(-acts, kind="stable")[2]])
            page.select_option("#neuron-list", "2")
            ui.maps(1, third, 3)

            # 7. One rule large (key 1: standard backprop), zoomed to the receptive field.
            page.click('#views button[data-view="one"]')
            page.keyboard.press("1")
            page.keyboard.press("z")
            ui.maps(1, third, 1)
            assert page.locator("canvas.map").get_attribute("data-rule") == "standard"
            field = explain.receptive_field(model, "relu3", *third[1:], image_shape=(28, 28))
            check_maps(ui, model, X[1:], explain.Neuron("relu3", *third), rules=("standard",),
                       box=field)
            page.screenshot(path=str(artifacts / "explorer-one-rule.png"))

            # 8. The positive part (key P): black for zero and negative values.
            page.keyboard.press("p")
            page.wait_for_selector('canvas.map[data-display="positive"][data-drawn="1"]')
            top, left, bottom, right = field
            signed = signed_values(model, X[1:], explain.Neuron("relu3", *third), "standard")
            want = np.minimum(255, 2 * np.maximum(0, signed.astype(int) - 128))[..., None]
            got = ui.pixels("standard")
            assert np.abs(got.astype(int) - want[top:bottom, left:right]).max() <= 2
            page.keyboard.press("p")

            # 9. Grad-CAM follows the class chosen among the top classes.
            ranking = np.argsort(-model.forward(X[1:])[0])
            page.click(f'#classes button[data-class="{ranking[1]}"]')
            assert page.get_attribute("#gradcam", "data-class") == str(ranking[1])

            # 10. Back to three rules and to the first image with the left arrow.
            page.keyboard.press("v")
            page.keyboard.press("z")
            page.keyboard.press("ArrowLeft")
            ui.maps(0, first, 3)
            page.screenshot(path=str(artifacts / "explorer.png"))
        finally:
            context.close()
    print(f"screenshots: {artifacts / 'explorer.png'}, {artifacts / 'explorer-one-rule.png'}")
    assert problems == []
