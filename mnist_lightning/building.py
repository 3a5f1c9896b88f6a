"""Objects built from `_target_` nodes: a value their class refuses becomes one line that names the key.

torch and Lightning check their arguments (a dropout of 1.5, a OneCycle pct_start of 2, devices=0)
and raise ValueError, TypeError or their own exceptions, which Hydra wraps again. The user then
sees two tracebacks for one mistake in one key; `build` turns them into a ConfigError.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException

from mnist_lightning.errors import ConfigError, UserError, user_error_in

REFUSED = (InstantiationException, MisconfigurationException, ValueError, TypeError, ImportError)
# Packages that some options need but the base install leaves out -> the pip extra that brings each.
EXTRAS = {"mlflow": "mlflow", "wandb": "wandb", "rich": "rich"}


def reason(err: BaseException) -> str:
    """The first line of what the class itself said, under Hydra's wrapper; for a class that cannot be
    imported, the import error itself (Hydra's own first line ends in a colon and says nothing)."""
    cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ else err
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):  # "Error loading 'pkg.Class':" / "No module named 'pkg'"
        return f"{lines[0]} {lines[1]}; is its package installed, or its folder on PYTHONPATH?"
    return lines[0] if lines else type(cause).__name__


def missing_extra(key: str, node: Any) -> str | None:
    """The one-line error for a node whose class needs a package that is not installed; else None."""
    target = str(node.get("_target_", "")).lower() if hasattr(node, "get") else ""
    for package, extra in EXTRAS.items():
        if package in target and importlib.util.find_spec(package) is None:
            return (
                f"{key}: needs the {package} package, which is not installed; "
                f"pip install 'mnist-lightning[{extra}]' (or choose another option)"
            )
    return None


def build(key: str, node: Any, *call_args: Any, **kwargs: Any) -> Any:
    """`instantiate(node, **kwargs)`, called with `call_args` when given (a `_partial_` node)."""
    if (missing := missing_extra(key, node)) is not None:  # before: some classes import it only when used
        raise ConfigError(missing)
    try:
        built = instantiate(node, **kwargs)
        return built(*call_args) if call_args else built
    except UserError:
        raise
    except REFUSED as err:
        if user_error_in(err) is not None:  # our own class's one-line error, wrapped by Hydra
            raise
        raise ConfigError(f"{key}: {reason(err)}; fix the value in {key}.*") from None
