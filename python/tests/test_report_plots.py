"""Tests for the report plots: valid SVG (parsed, title text present) and PNG (signature, IHDR size)."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest

from polyquant.api import run_direct
from polyquant.errors import ParameterError
from polyquant.report.plots import FigureStyle, render

SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_texts(path: str) -> tuple[str, list[str]]:
    root = ET.parse(path).getroot()
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    return root.tag, texts


def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(33)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    length, chunk = struct.unpack(">I4s", head[8:16])
    assert chunk == b"IHDR" and length == 13
    return struct.unpack(">II", head[16:24])


BARS = {
    "kind": "bars",
    "name": "colab_001-degradation",
    "title": "colab_001: degradation per language",
    "xlabel": "language",
    "ylabel": "degradation d = PPL_q/PPL_b − 1 (%)",
    "categories": ["en", "he", "ar", "zh"],
    "series": [{"label": "rtn int4", "values": [12.6, 19.0, 17.8, 19.5], "lo": [8, 13, 12, 14], "hi": [17, 25, 24, 26]}],
}


def test_bars_svg_and_png(tmp_path):
    out = render(BARS, str(tmp_path))
    tag, texts = svg_texts(out["svg"])
    assert tag == f"{SVG_NS}svg"
    assert BARS["title"] in texts
    assert BARS["xlabel"] in texts and BARS["ylabel"] in texts
    assert {"en", "he", "ar", "zh"} <= set(texts)
    w, h = png_size(out["png"])
    style = FigureStyle()
    # the figure is 7 × 4.2 inches at 100 dpi
    assert (w, h) == (round(style.width_in * style.dpi), round(style.height_in * style.dpi))


def test_bar_whiskers_span_the_ci(tmp_path):
    """The error bars drawn are exactly the CI bounds, read back from the figure's line data."""
    import matplotlib.pyplot as plt

    from polyquant.report import plots

    captured = {}
    real = plots.plt.close

    def keep(fig):
        captured["fig"] = fig

    plots.plt.close = keep
    try:
        render(BARS, str(tmp_path))
    finally:
        plots.plt.close = real
    ax = captured["fig"].axes[0]
    # errorbar containers hold the whisker segments: (x, lo) → (x, hi)
    segs = [c for c in ax.containers if hasattr(c, "lines")][0].lines[2][0].get_segments()
    lows = sorted(round(float(s[0][1]), 6) for s in segs)
    highs = sorted(round(float(s[1][1]), 6) for s in segs)
    assert lows == sorted(BARS["series"][0]["lo"])
    assert highs == sorted(BARS["series"][0]["hi"])
    plt.close(captured["fig"])


def test_heatmap_and_correlation(tmp_path):
    heat = {
        "kind": "heatmap",
        "name": "sweep",
        "title": "kaggle_001: protect-one sweep",
        "xlabel": "language",
        "ylabel": "protected layer",
        "colorbar_label": "degradation (%)",
        "rows": ["0", "1", "2", "3"],
        "cols": ["en", "he"],
        "values": [[1.0, 2.0], [3.0, None], [0.5, 0.7], [2.0, 2.5]],
    }
    corr = {
        "kind": "correlation",
        "name": "criteria",
        "title": "Spearman correlation between criteria",
        "xlabel": "criterion",
        "ylabel": "criterion",
        "colorbar_label": "Spearman ρ",
        "rows": ["fisher", "hessian", "variance"],
        "cols": ["fisher", "hessian", "variance"],
        "values": [[1, 0.5, -0.2], [0.5, 1, 0.1], [-0.2, 0.1, 1]],
    }
    for spec in (heat, corr):
        out = render(spec, str(tmp_path))
        tag, texts = svg_texts(out["svg"])
        assert tag == f"{SVG_NS}svg" and spec["title"] in texts
        assert spec["colorbar_label"] in texts
        assert png_size(out["png"])[0] > 100
    _, texts = svg_texts(str(tmp_path / "criteria.svg"))
    assert "-0.20" in texts and "0.50" in texts  # annotated cells


def test_kernel_through_api(tmp_path):
    result = run_direct("report-plots", {"out_dir": str(tmp_path), "plots": [BARS]})
    assert [f["name"] for f in result["files"]] == ["colab_001-degradation"]
    assert (tmp_path / "colab_001-degradation.svg").exists()


@pytest.mark.parametrize(
    "spec, match",
    [
        ({**BARS, "kind": "pie"}, "plot kind 'pie'"),
        ({**BARS, "title": ""}, "needs 'title'"),
        ({**BARS, "name": "../evil"}, "plot name '../evil'"),
        ({**BARS, "series": [{"label": "x", "values": [1, 2]}]}, "has 2 values for 4 categories"),
        ({**BARS, "series": [{"label": "x", "values": [1, "a", 2, 3]}]}, "plot value 'a'"),
        (
            {"kind": "heatmap", "name": "h", "title": "t", "xlabel": "x", "ylabel": "y", "rows": ["a"], "cols": ["b", "c"], "values": [[1]]},
            "expected 1×2",
        ),
    ],
)
def test_bad_specs_name_the_bad_value(tmp_path, spec, match):
    with pytest.raises(ParameterError, match=match):
        render(spec, str(tmp_path))


def test_duplicate_names_rejected(tmp_path):
    with pytest.raises(ParameterError, match="repeated: colab_001-degradation"):
        run_direct("report-plots", {"out_dir": str(tmp_path), "plots": [BARS, BARS]})


SCATTER = {
    "kind": "scatter",
    "name": "task-scatter",
    "title": "accuracy drop against perplexity degradation",
    "xlabel": "perplexity degradation",
    "ylabel": "accuracy drop",
    "points": [
        {"label": "en", "x": 0.01, "y": 0.02, "y_lo": -0.01, "y_hi": 0.05},
        {"label": "he", "x": 0.04, "y": 0.08, "y_lo": 0.03, "y_hi": 0.12},
        {"label": "zh", "x": 0.02, "y": 0.03},
    ],
    "fit": {"intercept": 0.0, "slope": 2.0},
    "note": "Pearson r = 0.99",
}


def _drawn(spec: dict, out_dir: str):
    """Render `spec`, keeping the figure open: (its axes, the files written); close the figure after."""
    from polyquant.report import plots

    captured = {}
    real = plots.plt.close
    plots.plt.close = lambda fig: captured.setdefault("fig", fig)
    try:
        out = render(spec, out_dir)
    finally:
        plots.plt.close = real
    return captured["fig"], out


def _whiskers(ax) -> list[tuple[float, float]]:
    return sorted((round(float(s[0][1]), 6), round(float(s[1][1]), 6)) for c in ax.containers if hasattr(c, "lines") for coll in c.lines[2] for s in coll.get_segments())


def test_scatter_points_whiskers_and_labels(tmp_path):
    """The points, the CI whiskers (read back from the figure) and every label are drawn."""
    import matplotlib.pyplot as plt

    fig, out = _drawn(SCATTER, str(tmp_path))
    assert _whiskers(fig.axes[0]) == [(-0.01, 0.05), (0.03, 0.12)]
    plt.close(fig)
    tag, texts = svg_texts(out["svg"])
    assert tag == f"{SVG_NS}svg"
    for text in ("accuracy drop against perplexity degradation", "en", "he", "zh", "Pearson r = 0.99"):
        assert text in texts


LINES = {
    "kind": "lines",
    "name": "pareto",
    "title": "size against the worst language",
    "xlabel": "bits per weight",
    "ylabel": "worst-language d (%)",
    "series": [
        {"label": "uniform", "points": [{"x": 4.6, "y": 1.0, "y_lo": 0.5, "y_hi": 1.6}, {"x": 3.6, "y": 2.0}]},
        {"label": "worst-language optimal", "points": [{"x": 4.1, "y": 0.9, "y_lo": 0.2, "y_hi": 1.4}]},
    ],
    "reference_line": 0.92,
}


def test_lines_sorted_by_x_with_whiskers_legend_and_the_bound(tmp_path):
    """Each series through its points in x order, CI whiskers where given, the bound dashed, all labelled."""
    import matplotlib.pyplot as plt

    fig, out = _drawn(LINES, str(tmp_path))
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("uniform", "worst-language optimal")] or [c.lines[0] for c in ax.containers]
    xs = [list(map(float, ln.get_xdata())) for ln in lines]
    assert [3.6, 4.6] in xs and [4.1] in xs
    bound = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert bound and float(bound[0].get_ydata()[0]) == pytest.approx(0.92)
    whiskers = _whiskers(ax)
    assert (0.5, 1.6) in whiskers and (0.2, 1.4) in whiskers
    plt.close(fig)
    _, texts = svg_texts(out["svg"])
    for text in ("size against the worst language", "bits per weight", "uniform", "worst-language optimal", "bound"):
        assert text in texts


def test_heatmap_text_is_white_on_dark_cells_and_black_on_light_ones_at_both_ends_of_a_diverging_map(tmp_path):
    """Legible by shade, not by sign: the dark red and dark blue ends both carry white text."""
    import matplotlib.pyplot as plt

    spec = {"kind": "heatmap", "name": "div", "title": "t", "xlabel": "x", "ylabel": "y", "colorbar_label": "d (%)",
            "rows": ["a"], "cols": ["neg", "mid", "pos"], "values": [[-10.0, 0.0, 10.0]], "annotate": True}  # fmt: skip
    fig, _ = _drawn(spec, str(tmp_path))
    colours = {t.get_text(): t.get_color() for t in fig.axes[0].texts}
    plt.close(fig)
    assert colours == {"-10.0": "white", "0.0": "black", "10.0": "white"}
