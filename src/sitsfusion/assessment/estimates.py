"""Accuracy and area estimates from a stratified random sample (Olofsson et al. 2014).

The strata are the map classes. With ``n [K, K]`` the sample counts (rows: map class ``i``,
columns: reference class ``j``), ``n_i.`` the points of stratum ``i`` and ``W_i`` the share
of the mapped area in map class ``i``, Olofsson et al. (2014, Sec. 4.3, "Eqs. 4-11") give:

* the area-weighted error matrix ``p_ij = W_i n_ij / n_i.`` (Eq. 4);
* overall accuracy ``O = sum_j p_jj``, user's accuracy ``U_i = p_ii / p_i.``, producer's
  accuracy ``P_j = p_jj / p_.j`` and their variances (Eqs. 5-7);
* the class area proportions ``p_.j = sum_i W_i n_ij / n_i.``, areas ``A_j = A_tot p_.j``
  and their standard errors (Eqs. 8-11);
* 95 % confidence intervals ``estimate ± 1.96 SE``.

The stratified variances divide by ``n_i. - 1``: every stratum needs two points or more,
unless it is a census (every pixel of the class sampled: no sampling variance).
Numbers only (numpy); reading the map and the sample is elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Z95", "Assessment", "estimate"]

Z95 = 1.96
"""The normal quantile of a two-sided 95 % confidence interval (Olofsson et al. 2014 use
1.96 throughout)."""


@dataclass(frozen=True)
class Assessment:
    """The estimates of :func:`estimate` (K classes; strata = map classes).

    Attributes:
        class_names: the K classes.
        counts: ``[K, K]`` sample counts ``n_ij`` (rows: map, columns: reference).
        mapped_area: ``[K]`` mapped area ``A_m,i`` of each class (any unit: pixels, ha).
        proportions: ``[K, K]`` the area-weighted error matrix ``p_ij`` (sums to 1).
        overall, overall_se: overall accuracy and its standard error.
        users, users_se: ``[K]`` user's accuracies ``U_i`` and their standard errors.
        producers, producers_se: ``[K]`` producer's accuracies ``P_j`` and standard errors
            (NaN for a class no reference point falls in).
        area_proportion, area_proportion_se: ``[K]`` estimated ``p_.j`` and its SE.
    """

    class_names: tuple[str, ...]
    counts: np.ndarray
    mapped_area: np.ndarray
    proportions: np.ndarray
    overall: float
    overall_se: float
    users: np.ndarray
    users_se: np.ndarray
    producers: np.ndarray
    producers_se: np.ndarray
    area_proportion: np.ndarray
    area_proportion_se: np.ndarray

    @property
    def total_area(self) -> float:
        """``A_tot``: the mapped area of all classes."""
        return float(self.mapped_area.sum())

    @property
    def area(self) -> np.ndarray:
        """``[K]`` the estimated (error-adjusted) area ``A_tot p_.j`` of each class."""
        return self.total_area * self.area_proportion

    @property
    def area_se(self) -> np.ndarray:
        """``[K]`` the standard error of :attr:`area`."""
        return self.total_area * self.area_proportion_se


def _check(
    counts: np.ndarray, mapped_area: np.ndarray, names: Sequence[str], census: np.ndarray
) -> None:
    k = len(names)
    if counts.shape != (k, k):
        raise ValueError(f"counts must be [{k}, {k}] for {k} classes, got {counts.shape}")
    if mapped_area.shape != (k,):
        raise ValueError(f"mapped_area must be [{k}], got {mapped_area.shape}")
    if (counts < 0).any() or (mapped_area < 0).any():
        raise ValueError("counts and mapped areas must not be negative")
    if mapped_area.sum() <= 0:
        raise ValueError("the map has no area: every mapped area is 0")
    per_stratum = counts.sum(axis=1)
    thin = [
        names[i]
        for i in range(k)
        if mapped_area[i] > 0 and per_stratum[i] < 2 and not (census[i] and per_stratum[i])
    ]
    if thin:
        raise ValueError(
            f"stratum {', '.join(map(repr, thin))}: fewer than 2 sample points; every mapped "
            "class needs 2 or more (the variance divides by n_i - 1)"
        )


def estimate(
    counts: np.ndarray | Sequence[Sequence[float]],
    mapped_area: np.ndarray | Sequence[float],
    class_names: Sequence[str],
    census: Sequence[bool] | np.ndarray | None = None,
) -> Assessment:
    """Olofsson et al. (2014) estimates from the sample counts of a stratified random sample.

    Args:
        counts: ``[K, K]`` points of map class ``i`` (row) with reference class ``j``
            (column); the strata are the map classes.
        mapped_area: ``[K]`` the mapped area of each class (pixels, m², ha: the estimated
            areas come in the same unit). A class absent from the map (area 0) needs no
            points; it can still be found by the reference labels of other strata.
        class_names: the K class names, in the order of ``counts``.
        census: ``[K]`` True for a stratum whose every pixel is in the sample (a class of a
            pixel or two): it has no sampling variance, and one point is enough.

    Returns:
        the :class:`Assessment`.

    Raises:
        ValueError: wrong shapes, negative values, an empty map, a mapped class with fewer
            than 2 sample points (1 for a census stratum).
    """
    names = tuple(str(c) for c in class_names)
    n = np.asarray(counts, dtype=np.float64)
    area = np.asarray(mapped_area, dtype=np.float64)
    whole = np.zeros(len(names), bool) if census is None else np.asarray(census, bool)
    _check(n, area, names, whole)
    w = area / area.sum()  # W_i
    n_i = n.sum(axis=1)  # n_i.
    mapped = n_i > 0
    share = np.zeros_like(n)  # n_ij / n_i.
    share[mapped] = n[mapped] / n_i[mapped, None]
    p = w[:, None] * share  # Eq. 4
    p_row, p_col = p.sum(axis=1), p.sum(axis=0)
    diag = np.diag(p)
    users = np.divide(diag, p_row, out=np.full_like(diag, np.nan), where=p_row > 0)
    producers = np.divide(diag, p_col, out=np.full_like(diag, np.nan), where=p_col > 0)
    # 1 / (n_i. - 1), and 0 for a census stratum (no sampling variance)
    inv_dof = np.where(mapped & ~whole, 1.0 / np.maximum(n_i - 1, 1.0), 0.0)
    u0 = np.nan_to_num(users)
    var_users = np.where(mapped, u0 * (1 - u0) * inv_dof, np.nan)  # Eq. 6
    var_overall = float(np.sum(w**2 * u0 * (1 - u0) * inv_dof))  # Eq. 5
    # Eq. 7: N_.j, the estimated reference total of class j in the units of the map
    col_total = (area[:, None] * share).sum(axis=0)
    cell_var = share * (1 - share) * inv_dof[:, None]
    var_producers = np.full(len(names), np.nan)
    for j in np.flatnonzero(col_total > 0):
        pj = producers[j]
        own = area[j] ** 2 * (1 - pj) ** 2 * u0[j] * (1 - u0[j]) * inv_dof[j]
        others = sum(area[i] ** 2 * cell_var[i, j] for i in range(len(names)) if i != j)
        var_producers[j] = (own + pj**2 * others) / col_total[j] ** 2
    se_prop = np.sqrt((w[:, None] ** 2 * cell_var).sum(axis=0))  # Eq. 10
    return Assessment(
        class_names=names,
        counts=n,
        mapped_area=area,
        proportions=p,
        overall=float(diag.sum()),
        overall_se=float(np.sqrt(var_overall)),
        users=users,
        users_se=np.sqrt(var_users),
        producers=producers,
        producers_se=np.sqrt(var_producers),
        area_proportion=p_col,
        area_proportion_se=se_prop,
    )
