"""Design matrices built from validated column names (no formula strings).

Terms are treatment coded as R does by default: a factor contributes one indicator column per
non-reference level, named `column[level]`; an interaction of two factors contributes the
products of their indicators, named `a[x]:b[y]`; a numeric column enters as is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialeval.labels import level_order


@dataclass(frozen=True)
class Factor:
    """A categorical column; `levels[0]` is the reference level."""

    column: str
    levels: tuple[str, ...]

    def names(self) -> list[str]:
        return [f"{self.column}[{level}]" for level in self.levels[1:]]

    def indicators(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[self.column].astype(str).to_numpy()
        return np.column_stack([values == level for level in self.levels[1:]]).astype(float)


@dataclass(frozen=True)
class Numeric:
    column: str

    def names(self) -> list[str]:
        return [self.column]

    def indicators(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[[self.column]].to_numpy(dtype=float)


@dataclass(frozen=True)
class Interaction:
    """Product of two factors' indicator columns."""

    first: Factor
    second: Factor

    def names(self) -> list[str]:
        return [f"{a}:{b}" for a in self.first.names() for b in self.second.names()]

    def indicators(self, frame: pd.DataFrame) -> np.ndarray:
        a, b = self.first.indicators(frame), self.second.indicators(frame)
        return (a[:, :, None] * b[:, None, :]).reshape(len(frame), -1)


Term = Factor | Numeric | Interaction


def factor_from_data(
    frame: pd.DataFrame, column: str, reference: str | None = None, spec: dict | None = None
) -> Factor:
    """A factor with the levels present in the data, in the trial's one level order
    (`labels.level_order`: the trial file's, else sorted); `reference` (if given) first, else
    the first level is the reference."""
    levels = level_order(spec, column, frame[column].dropna().astype(str).unique())
    if reference is not None:
        if reference not in levels:
            raise ValueError(f"reference level {reference!r} of {column!r} is not in the data")
        levels.remove(reference)
        levels.insert(0, reference)
    return Factor(column, tuple(levels))


def design_matrix(
    frame: pd.DataFrame, terms: list[Term], intercept: bool = True
) -> tuple[np.ndarray, list[str]]:
    """The (n, p) design matrix and its column names, in term order."""
    blocks = [np.ones((len(frame), 1))] if intercept else []
    names = ["Intercept"] if intercept else []
    for term in terms:
        term_names = term.names()
        if term_names:
            blocks.append(term.indicators(frame))
            names.extend(term_names)
    return np.hstack(blocks), names


def covariate_terms(
    frame: pd.DataFrame,
    covariates: list[dict],
    factor_columns: tuple[str, ...] = (),
    spec: dict | None = None,
) -> list[Term]:
    """Terms for configured covariates ({name, type}) plus extra factor columns (e.g. site),
    factor levels in `spec`'s order (Table 1's; `labels.level_order`).

    A categorical covariate with a single level in the data contributes nothing.
    """
    terms: list[Term] = []
    for cov in covariates:
        if cov["type"] == "numeric":
            terms.append(Numeric(cov["name"]))
        else:
            terms.append(factor_from_data(frame, cov["name"], spec=spec))
    terms.extend(factor_from_data(frame, column, spec=spec) for column in factor_columns)
    return terms


def average_row(frame: pd.DataFrame, terms: list[Term]) -> dict[str, float]:
    """Covariate settings for adjusted means, as emmeans sets them by default: numeric
    covariates at their mean over the model's rows, each factor's levels weighted equally."""
    row: dict[str, float] = {}
    for term in terms:
        if isinstance(term, Numeric):
            row[term.column] = float(frame[term.column].mean())
        elif isinstance(term, Factor):
            for name in term.names():
                row[name] = 1.0 / len(term.levels)
    return row


def adjustment_terms(frame: pd.DataFrame, spec: dict, names: list[str]) -> list[Term]:
    """Design terms for confounders named by covariate name (spec["covariates"]) or "site".

    Numeric covariates enter linearly, categorical ones (and site) treatment coded with the
    first level of the trial's order (`labels.level_order`) as reference.
    """
    known = {cov["name"]: cov for cov in spec["covariates"]}
    covariates, factors = [], []
    for name in names:
        if name == "site":
            if "site" not in frame.columns:
                raise ValueError(f"trial {spec['id']!r} has no site column to adjust for")
            factors.append("site")
        elif name in known:
            covariates.append(known[name])
        else:
            raise ValueError(
                f"unknown confounder {name!r} for trial {spec['id']!r}; expected one of "
                f"{sorted(known) + ['site']}"
            )
    return covariate_terms(frame, covariates, tuple(factors), spec)


def describe_terms(terms: list[Term]) -> str:
    """Adjustment terms in words, e.g. 'age, gender (reference man), site (reference inst_1)'."""
    words = []
    for term in terms:
        if isinstance(term, Factor):
            if len(term.levels) < 2:
                words.append(f"{term.column} (a single level in the data: no term)")
            else:
                words.append(f"{term.column} (reference {term.levels[0]})")
        elif isinstance(term, Numeric):
            words.append(f"{term.column} (linear)")
        else:
            words.append(" x ".join(term.names()))
    return ", ".join(words)
