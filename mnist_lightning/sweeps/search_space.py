"""A search's space: `hydra.sweeper.params` and the command line's sweep overrides as Optuna distributions.

Both speak Hydra's sweep syntax as Hydra's own Optuna sweeper reads it: choice(a,b) or a,b -> categorical;
range(start, stop, step=s) -> int or float in steps, stop included (Optuna's high); interval(lo, hi) ->
float; tag(log, interval(lo, hi)) -> log-uniform; int(interval(lo, hi)) or tag(int, interval(lo, hi))
-> int. The file also takes our short forms log:LO:HI, float:LO:HI, int:LO:HI and choice:A,B,C.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, IntervalSweep, Override, RangeSweep, Transformer
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from mnist_lightning.errors import ConfigError

SHORT_FORM = re.compile(r"(log|float|int|choice):(.*)", re.DOTALL)
SYNTAX = (
    "choice(A,B), range(START,STOP,step=S), interval(LO,HI), tag(log, interval(LO,HI)), int(interval(..))"
)
INTERVAL_TAGS = {"log", "int"}


def short_form(kind: str, rest: str) -> BaseDistribution:
    """log:LO:HI, float:LO:HI, int:LO:HI or choice:A,B,C as a distribution."""
    if kind == "choice":
        return CategoricalDistribution([yaml.safe_load(v) for v in rest.split(",")])
    low, high = (yaml.safe_load(v) for v in rest.split(":"))
    if kind == "int":
        return IntDistribution(int(low), int(high))
    return FloatDistribution(float(low), float(high), log=kind == "log")


def _interval(sweep: IntervalSweep) -> BaseDistribution:
    if unknown := sweep.tags - INTERVAL_TAGS:
        raise ValueError(f"unknown tag {', '.join(sorted(unknown))} (an interval takes log and int)")
    log = "log" in sweep.tags
    if "int" in sweep.tags or (isinstance(sweep.start, int) and isinstance(sweep.end, int)):
        if not (float(sweep.start).is_integer() and float(sweep.end).is_integer()):
            raise ValueError("an int interval needs whole-number bounds")
        return IntDistribution(int(sweep.start), int(sweep.end), log=log)
    return FloatDistribution(float(sweep.start), float(sweep.end), log=log)


def _range(sweep: RangeSweep, override: Override) -> BaseDistribution:
    if sweep.tags:
        raise ValueError(
            f"a range takes no tag ({', '.join(sorted(sweep.tags))}); for log use tag(log, interval(LO,HI))"
        )
    if sweep.shuffle:  # as Hydra's sweeper: a shuffled range is a choice among its values
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if any(isinstance(v, float) for v in (sweep.start, sweep.stop, sweep.step)):
        return FloatDistribution(float(sweep.start), float(sweep.stop), step=float(sweep.step))
    return IntDistribution(int(sweep.start), int(sweep.stop), step=int(sweep.step))


def distribution(override: Override) -> BaseDistribution:
    """A parsed sweep override as a distribution; ValueError when it cannot be one."""
    value = override.value()
    if isinstance(value, Glob):  # its options come from the config's groups, which the sweeper cannot see
        raise ValueError("glob() cannot be sampled; list the options with choice(A,B)")
    if override.is_choice_sweep():
        if value.tags:
            raise ValueError(f"a choice takes no tag ({', '.join(sorted(value.tags))})")
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not choices:
            raise ValueError("a choice needs at least one value")
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        return _range(value, override)
    if override.is_interval_sweep():
        return _interval(value)
    raise ValueError(f"{override.value_type} is not a sweep Optuna can sample")


def _key(override: Override) -> str:
    """The setting an override changes, without its +, ++ or ~: `+x=1` and `x=choice(1,2)` set one key."""
    return (
        override.key_or_group if override.package is None else f"{override.key_or_group}@{override.package}"
    )


def search_space(
    params: Mapping[str, Any], arguments: Sequence[str]
) -> tuple[dict[str, BaseDistribution], list[str]]:
    """The distributions to sample and the fixed overrides every trial gets.

    The file's `params` first, then the command line: a sweep override adds or replaces an entry, and
    a plain `key=value` fixes that key (it leaves the space). Anything else is a one-line ConfigError.
    """
    parser = OverridesParser.create()
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}  # key -> the override as typed, so its quoting survives
    named = [(f"hydra.sweeper.params.{k}={v}", f"{k}={v}", str(v)) for k, v in params.items()]
    named += [(arg, arg, None) for arg in arguments]
    for shown, text, spec in named:
        try:
            if spec is not None and (short := SHORT_FORM.fullmatch(spec)):
                key, dist = text.split("=", 1)[0], short_form(short[1], short[2])
                override = None
            else:
                override = parser.parse_override(text)
                key = override.get_key_element()
                dist = distribution(override) if override.is_sweep_override() else None
        except (HydraException, ValueError, TypeError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"{shown}: {reason}; write a search range as {SYNTAX}") from None
        name = _key(override) if override is not None else key
        for table in (space, fixed):  # one entry per setting: the later one wins
            for other in [k for k in table if k.lstrip("+~") == name]:
                del table[other]
        if dist is None:
            fixed[key] = text
        else:
            space[key] = dist
    return space, list(fixed.values())
