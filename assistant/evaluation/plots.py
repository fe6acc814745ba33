"""PNG plots of an evaluation (matplotlib, Agg backend): accuracy by digit level, reliability, coverage-accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from .metrics import LEVEL_NAMES

ACCURACY = "accuracy_by_level.png"
RELIABILITY = "reliability.png"
COVERAGE = "coverage_accuracy.png"
_COLOURS = ["#1f5fa8", "#e08a1e", "#3b9b4a", "#b03a48", "#7a5aa6"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # an optional extra: the API server does not need it
        raise InputError("the evaluation plots need matplotlib: pip install 'tariff-assistant[eval]'") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _systems(m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{m['engine']} (engine)", m), *m.get("baselines", {}).items()]


def _panels(m: dict[str, Any]) -> list[tuple[str, str]]:
    """Correctness at the answer level, and at 6 digits when that is a different level (metric-key suffix, label)."""
    level = m.get("answer_level", 10)
    return [("", f"{level} digits")] + ([("_hs6", "6 digits")] if level != 6 else []) + [("_hs4", "4 digits")]


def plot_accuracy(m: dict[str, Any], path: Path) -> Path:
    """Grouped bars: top-1 accuracy at 2/4/6/8/10 digits, one bar per system, with the denominators."""
    plt = _pyplot()
    systems = _systems(m)
    levels = list(LEVEL_NAMES)
    n_by = m.get("n_by_level", {})
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    for i, (name, s) in enumerate(systems):
        values = [s.get(f"{LEVEL_NAMES[lv]}_top1") for lv in levels]
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(levels))]
        bars = ax.bar(xs, [100 * (v or 0) for v in values], width * 0.92, label=name, color=_COLOURS[i % 5])
        for bar, v in zip(bars, values):
            text = "n/a" if v is None else f"{100 * v:.0f}"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=8, xytext=(0, 2), textcoords="offset points")
    beyond = [j for j, lv in enumerate(levels) if lv > m.get("answer_level", 10)]
    if beyond:  # an HS-only corpus answers at 6 digits: say so rather than show unexplained zeros
        ax.axvspan(beyond[0] - 0.5, beyond[-1] + 0.5, color="grey", alpha=0.12, lw=0)
        ax.text((beyond[0] + beyond[-1]) / 2, 50, f"beyond the answer level\n({m.get('edition', '')}: "
                f"{m.get('answer_level')} digits)", ha="center", va="center", fontsize=9, color="dimgrey")
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([f"{lv} digits\n(n={n_by.get(str(lv), '–')})" for lv in levels])
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"Top-1 accuracy by digit level — {Path(m['dataset']).name}, {m['n']} items")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_reliability(m: dict[str, Any], path: Path) -> Path:
    """Reliability diagram of the engine's top-1 confidence, at its answer level and at 6 digits, with counts."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    panels = _panels(m)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels) + 0.5, 5), dpi=110, sharey=True,
                             squeeze=False)
    axes = axes[0]
    for ax, (key, label) in zip(axes, panels):
        bins = m.get(f"reliability{key}", [])
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
        for b in bins:
            if not b["n"]:
                continue
            mid, width = (b["lo"] + b["hi"]) / 2, b["hi"] - b["lo"]
            ax.bar(mid, b["accuracy"], width * 0.9, color=_COLOURS[0], alpha=0.8, edgecolor="white")
            gap = b["confidence"] - b["accuracy"]  # over- (>0) or under-confidence, shaded like Guo et al. (2017)
            ax.bar(mid, abs(gap), width * 0.9, bottom=min(b["accuracy"], b["confidence"]), color=_COLOURS[3],
                   alpha=0.18, edgecolor=_COLOURS[3], hatch="//", lw=0.6)
            ax.plot(mid, b["confidence"], "o", color=_COLOURS[3], ms=5)
            ax.annotate(f"n={b['n']}", (mid, max(b["accuracy"], b["confidence"])), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
        ax.plot([], [], "o", color=_COLOURS[3], label="mean confidence in bin")
        ece = m.get(f"ece{key}")
        ax.set_title(f"correct at {label} — ECE {'–' if ece is None else f'{ece:.3f}'} (n={m.get(f'ece{key}_n')})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("top-1 confidence")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    handles, _ = axes[0].get_legend_handles_labels()
    handles += [Patch(color=_COLOURS[0], alpha=0.8, label="accuracy in bin"),
                Patch(facecolor=_COLOURS[3], alpha=0.25, hatch="//", edgecolor=_COLOURS[3],
                      label="gap to mean confidence")]
    axes[0].legend(handles=handles, loc="upper left", fontsize=8)
    fig.suptitle(f"Reliability of the {m['engine']} engine")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_coverage(m: dict[str, Any], path: Path) -> Path:
    """Accuracy of the most confident X % of answers, engine and baselines, at the answer level and at 6 digits."""
    plt = _pyplot()
    panels = _panels(m)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels) + 0.5, 5), dpi=110, sharey=True,
                             squeeze=False)
    axes = axes[0]
    for ax, (key, label) in zip(axes, panels):
        for i, (name, s) in enumerate(_systems(m)):
            curve = [(c, a) for c, a in s.get(f"coverage_curve{key}", []) if a is not None]
            if not curve:
                continue
            style = "-" if i == 0 else ["--", "-.", ":"][(i - 1) % 3]
            tag = name if i == 0 else f"{name} (1/rank confidence)"
            ax.plot([100 * c for c, _ in curve], [100 * a for _, a in curve], style, marker="o", ms=3,
                    color=_COLOURS[i % 5], label=tag, lw=2 if i == 0 else 1.3)
        ax.set_title(f"correct at {label}")
        ax.set_xlabel("coverage: share of answers kept, most confident first (%)")
        ax.set_xlim(0, 102)
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy of the kept answers (%)")
    axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("Coverage–accuracy: does confidence separate right from wrong?")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(m: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """All three PNGs in `out_dir`; returns {title: file name} for the report."""
    plot_accuracy(m, out_dir / ACCURACY)
    plot_reliability(m, out_dir / RELIABILITY)
    plot_coverage(m, out_dir / COVERAGE)
    return {"Accuracy by digit level": ACCURACY, "Reliability": RELIABILITY, "Coverage–accuracy": COVERAGE}
