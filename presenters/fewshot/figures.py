"""Plotly figures of the few-shot page: a query's class probabilities, and adaptation step by step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.fewshot.evaluation import Adaptation

PREDICTED = "#d62728"
OTHER = "#9ecae1"


def probability_figure(
    probs: np.ndarray, names: Sequence[str], title: str = "", height: int = 260, font_size: int = 12
) -> go.Figure:
    """Bars of one query's probability per class, the predicted class highlighted and labelled."""
    probs = np.asarray(probs, dtype=float)
    best = int(probs.argmax())
    colors = [PREDICTED if i == best else OTHER for i in range(len(probs))]
    fig = go.Figure(
        go.Bar(
            x=list(names),
            y=probs,
            marker_color=colors,
            text=[f"{p:.0%}" for p in probs],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title or f"prediction: {names[best]} ({probs[best]:.0%})",
        yaxis={"range": [0, 1.12], "tickformat": ".0%", "title": "probability"},
        height=height,
        margin={"l": 50, "r": 10, "t": 40, "b": 30},
        showlegend=False,
        font={"size": font_size},
    )
    return fig


def adaptation_figure(
    adaptation: Adaptation, names: Sequence[str], query: int = 0, height: int = 260, font_size: int = 12
) -> go.Figure:
    """Per inner step (0 = before adapting): support loss and accuracy, and the query's probability
    of each class."""
    steps = list(range(len(adaptation.support_loss)))
    fig = go.Figure()
    probs = adaptation.query_probs[:, query].numpy()
    for c, name in enumerate(names):
        fig.add_trace(go.Scatter(x=steps, y=probs[:, c], mode="lines+markers", name=f"P({name})", yaxis="y"))
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=adaptation.support_acc,
            mode="lines+markers",
            name="support accuracy",
            line={"dash": "dot", "color": "black"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=adaptation.support_loss,
            mode="lines+markers",
            name="support loss",
            line={"dash": "dash", "color": "grey"},
            yaxis="y2",
        )
    )
    fig.update_layout(
        xaxis={"title": "inner step", "dtick": 1},
        yaxis={"title": "probability / accuracy", "range": [0, 1.05]},
        yaxis2={"title": "support loss", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        height=height + 90,
        margin={"l": 50, "r": 50, "t": 30, "b": 130},
        legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0},
        title={"text": "adapting, step by step"},
        font={"size": font_size},
    )
    return fig
