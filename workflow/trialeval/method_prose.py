"""Model descriptions (effects.csv's `method`, ids already replaced by labels) as a methods
sentence for a journal's table notes: no formulas, R calls or software names.

effects.csv keeps the exact description (formula, R equivalents) for the analyst; the shared
tables and the report print this one. Text no rule matches passes through unchanged."""

from __future__ import annotations

import re

# Model-family prefixes as the fitting code writes them (trialeval.models, models_mmrm).
PREFIXES = [
    ("MMRM, REML", "mixed model for repeated measures (restricted maximum likelihood)"),
    ("LMM, REML", "linear mixed model (restricted maximum likelihood)"),
    ("ANCOVA: OLS", "analysis of covariance (ordinary least squares)"),
    ("OLS", "linear regression (ordinary least squares)"),
]
# Terms of a model formula in words; a term not listed is a covariate (its label).
FIXED_TERMS = {
    "arm * visit": "arm, visit and their interaction",
    "baseline * visit": "baseline score by visit",
    "arm:post-visit": "arm at each follow-up visit",
    "baseline": "baseline score",
    "arm": "arm",
    "visit": "visit",
    "site": "site",
}
RANDOM_TERMS = {
    "(1 | participant)": "participants",
    "(1 | site)": "sites",
    "(0 + grouped_post | group)": "delivery group (after baseline)",
    "(0 + grouped | group)": "delivery group",
}
# Phrases: analyst detail a reader of a journal does not need, or says differently.
PHRASES = [
    (r" \(R: median\(outer\(x, y, \"-\"\)\)\)", ""),
    (
        r" with the asymptotic CI of R's wilcox\.test\([^)]*\)",
        " with its CI from inverting the test",
    ),
    (
        r"Hodges-Lehmann shift = median of all pairwise differences",
        "Hodges–Lehmann shift (the median of all between-group pairwise differences)",
    ),
    (r"; se is the SE of log\([^)]*\)", ""),
    (r"; odds ratio = exp\(coefficient\),?", ";"),
    (r"; no SE\b", ""),
    (r" \(method 10: ", " ("),
    (r"Newcombe hybrid score CI", "Newcombe's hybrid score CI"),
    (r"t-based CI and p on the residual df", "CI and P from the t distribution"),
    (r"t-based CI", "CI from the t distribution"),
    (r"\bSatterthwaite df\b", "Satterthwaite degrees of freedom"),
    (r"\bKenward-Roger df \(SAS ddfm=kr\)", "Kenward–Roger degrees of freedom"),
    (r"\bKenward-Roger df\b", "Kenward–Roger degrees of freedom"),
    (r" \(0/1\)", ""),
    (r"\(one post visit\)", "(one follow-up visit)"),
    (r"change in outcome \(baseline to follow-up\)", "change from baseline to follow-up"),
    (r"\b(of|in) outcome\b", r"\1 the outcome"),
    (r"baseline outcome (score|status)", r"baseline \1"),
    (r"Hodges-Lehmann", "Hodges–Lehmann"),
    (r"\s+;", ";"),
    (r"\s{2,}", " "),
]
FORMULA = re.compile(r"(?:score|y) ~ ([^;]+)")


def formula_words(formula: str, covariates: dict[str, str]) -> str:
    """'arm * visit + age + (1 | participant) + (1 | site)' as 'fixed effects for arm, visit
    and their interaction and age, and random intercepts for participant and site'."""
    terms = [t.strip() for t in re.split(r" \+ (?![^(]*\))", formula.strip())]
    fixed = [t for t in terms if not t.startswith("(")]
    random = [RANDOM_TERMS.get(t, t.strip("()")) for t in terms if t.startswith("(")]
    words = [FIXED_TERMS.get(t, covariates.get(t, t)) for t in fixed]
    text = f"fixed effects for {_join(words)}" if words else ""
    if random:
        text += (", and " if text else "") + f"random intercepts for {_join(random)}"
    return text


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def journal_method(text: str, covariates: dict[str, str] | None = None) -> str:
    """`text` (one model description) as a methods sentence; `covariates`: name -> label
    (lower case), for the covariates a formula names."""
    covariates = covariates or {}
    for prefix, words in PREFIXES:
        text = re.sub(rf"\b{re.escape(prefix)}\b", words, text)
    text = re.sub(r"\): (score|y) ~", r") with \1 ~", text)
    text = re.sub(r"^([^:~]*): (score|y) ~", r"\1 with \2 ~", text)
    text = FORMULA.sub(lambda m: formula_words(m.group(1), covariates), text)
    text = text.replace(" with fixed effects", ", with fixed effects")
    text = text.replace(" with random intercepts", ", with random intercepts")
    for pattern, replacement in PHRASES:
        text = re.sub(pattern, replacement, text)
    return text.strip()
