"""The lifelong page's tables, as markdown (presenters.markdown): one run's scores, and Compare's
scores of several runs side by side."""

from __future__ import annotations

from collections.abc import Sequence

from core.lifelong.metrics import Scores
from presenters.lifelong.figures import RunView, task_label
from presenters.markdown import markdown_table

SCORES = {
    "average_accuracy": ("average accuracy", "mean over the tasks learned, after the last of them"),
    "forgetting": ("forgetting", "mean over the earlier tasks: best accuracy before the last task − after it"),
    "bwt": ("BWT", "backward transfer: mean change of an earlier task since it was learned"),
    "fwt": ("FWT", "forward transfer: mean accuracy on a task just before it is learned, minus the untrained's"),
}
COMPARE_COLUMNS = ("#", "run", "tasks learned", "average accuracy", "forgetting", "BWT", "FWT")


def scores_markdown(scores: Scores) -> str:
    """One row per score: its value and what it measures (accuracies on the test splits)."""
    values = scores.to_dict()
    rows = [{"score": name, "value": values[key], "what it measures": what} for key, (name, what) in SCORES.items()]
    return markdown_table(rows, ["score", "value", "what it measures"])


def learned_text(view: RunView) -> str:
    """ "5 of 5", or "2 of 5 (up to task 2 (20°))" for a run that stopped early."""
    if view.learned == view.tasks or view.learned == 0:
        return f"{view.learned} of {view.tasks}"
    return f"{view.learned} of {view.tasks} (up to {task_label(view.learned - 1, view.names)})"


def compare_markdown(views: Sequence[RunView]) -> str:
    """The runs' scores side by side, numbered as Compare's panels are."""
    rows = []
    for i, view in enumerate(views, start=1):
        scores = view.matrix.scores()
        values = scores.to_dict() if scores is not None else {}
        rows.append(
            {
                "#": i,
                "run": view.title,
                "tasks learned": learned_text(view),
                **{SCORES[key][0]: values.get(key) for key in SCORES},
            }
        )
    return markdown_table(rows, COMPARE_COLUMNS)
