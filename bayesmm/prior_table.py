"""The table of priors in effect (``model.priors``, ``fit.priors``), printed whole.

pandas prints a wide table cut to the display width (80 characters in a script) and elides long cells, which
hides the prior itself, the column a user looks for; a prior table prints every column and cell in full.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["PriorTable"]


class PriorTable(pd.DataFrame):
    """A DataFrame of priors (class, group, coef, prior, source) whose printout shows every column and cell whole."""

    @property
    def _constructor(self):
        return PriorTable

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None, "display.width", None,
                               "display.expand_frame_repr", False, "display.max_rows", 500):
            return super().__repr__()

    def __str__(self) -> str:
        return self.__repr__()
