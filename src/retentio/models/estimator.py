"""The estimator shape every model follows, and the checks its ``fit`` runs on hyper-parameters.

Every model (the BTYD models, the churn classifier, the recommenders) subclasses scikit-learn's
:class:`~sklearn.base.BaseEstimator`:

* hyper-parameters are the constructor's arguments, stored as given under the same names, and nothing
  else happens in ``__init__`` (so ``get_params``/``set_params`` and ``sklearn.base.clone`` work);
* ``fit`` validates them (the functions below: the message names the parameter and what it accepts)
  and returns ``self``;
* what ``fit`` learns ends in ``_`` (``params_``, ``booster_``, ``item_factors_``) and does not exist
  before it;
* randomness comes from a ``random_state`` argument (an int seed, ``None`` for fresh entropy, or a
  :class:`numpy.random.Generator`), never from a seed written in the code.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from retentio.errors import UserError

#: Upper bound of the integer seeds drawn from a Generator (LightGBM takes a C ``int`` seed).
MAX_SEED = 2**31 - 1


class ModelInputError(UserError, ValueError):
    """Data given to a model break its assumptions; the message names the parameter and the fix."""


class InvalidParameterError(ModelInputError):
    """A hyper-parameter given to a model's constructor is not one it accepts (raised by ``fit``)."""


def _owner(model: object) -> str:
    return type(model).__name__


def check_int(model: object, name: str, value: Any, *, low: int | None = None) -> int:
    """``value`` as an int (a whole number, not a bool) that is at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(
            f"{_owner(model)}: {name} must be a whole number"
            + (f" >= {low}" if low is not None else "")
            + f", got {value!r}"
        )
    if low is not None and int(value) < low:
        raise InvalidParameterError(f"{_owner(model)}: {name} must be >= {low}, got {value!r}")
    return int(value)


def check_float(
    model: object,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in [low, high] (``low_open``/``high_open`` exclude the ends)."""
    if low is not None and high is not None:
        accepted = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        accepted = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        accepted = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        accepted = "a finite number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidParameterError(f"{_owner(model)}: {name} must be {accepted}, got {value!r}")
    number = float(value)
    if low is not None and (number < low or (low_open and number == low)):
        raise InvalidParameterError(f"{_owner(model)}: {name} must be {accepted}, got {value!r}")
    if high is not None and (number > high or (high_open and number == high)):
        raise InvalidParameterError(f"{_owner(model)}: {name} must be {accepted}, got {value!r}")
    return number


def check_random_state(model: object, value: Any, name: str = "random_state") -> np.random.Generator:
    """A :class:`numpy.random.Generator` for ``random_state``: None, an int seed >= 0 or a Generator.

    An int gives the same stream on every fit (reproducible models); None draws fresh entropy; a
    Generator is used as is (its state advances, so two fits with one Generator differ).
    """
    if value is None:
        return np.random.default_rng()
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise InvalidParameterError(
            f"{_owner(model)}: {name} must be None, a whole number >= 0 or a numpy.random.Generator, "
            f"got {value!r}"
        )
    return np.random.default_rng(int(value))


def seed_from(model: object, value: Any, name: str = "random_state") -> int:
    """An integer seed for libraries that take one (LightGBM): the int itself, or one drawn."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) > MAX_SEED:
        raise InvalidParameterError(f"{_owner(model)}: {name} must be <= {MAX_SEED}, got {value!r}")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0:
        return int(value)
    return int(check_random_state(model, value, name).integers(MAX_SEED))
