"""rwtheory.report.figures.save: the three files hold the figure and exactly its numbers, and
the same figure gives the same bytes (no timestamps, no software versions in the metadata)."""

import csv
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from rwtheory.report.figures import FigureResult, save


def _result(name="probe"):
    fig, ax = plt.subplots(figsize=(2.0, 1.5))
    x = [0.0, 1.0, 2.0]
    ax.plot(x, [1.0, 0.5, 0.25], color="red")
    ax.set_axis_off()
    return FigureResult(
        name, fig, {"x": x, "y": [1.0, 0.5, 0.25], "series": ["a"] * 3}, "line one\nline two: r=0.4"
    )


def test_files_hold_the_drawing_and_the_numbers(tmp_path):
    paths = save(_result(), tmp_path)
    assert sorted(p.name for p in paths) == ["probe.csv", "probe.pdf", "probe.png"]
    image = mpimg.imread(tmp_path / "probe.png")
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    red = (image[..., 0] > 0.8) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)
    assert red.any() and red.mean() < 0.2  # the red line is drawn, on a mostly blank canvas
    text = (tmp_path / "probe.csv").read_text(encoding="utf-8")
    comments = [ln for ln in text.splitlines() if ln.startswith("# ")]
    assert comments == ["# line one", "# line two: r=0.4"]
    rows = list(
        csv.DictReader(
            io.StringIO("\n".join(ln for ln in text.splitlines() if not ln.startswith("# ")))
        )
    )
    assert [float(r["y"]) for r in rows] == [1.0, 0.5, 0.25]
    assert [r["series"] for r in rows] == ["a"] * 3
    pdf = (tmp_path / "probe.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/CreationDate" not in pdf


def test_same_figure_same_bytes(tmp_path):
    save(_result(), tmp_path / "a")
    save(_result(), tmp_path / "b")
    for ext in ("png", "pdf", "csv"):
        assert (tmp_path / "a" / f"probe.{ext}").read_bytes() == (
            tmp_path / "b" / f"probe.{ext}"
        ).read_bytes(), ext


def test_figure_is_closed_after_saving(tmp_path):
    result = _result()
    save(result, tmp_path)
    assert not plt.fignum_exists(result.figure.number)
