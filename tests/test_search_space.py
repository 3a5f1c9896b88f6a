"""The Optuna search space on the command line, in Hydra's sweep syntax, beside the file's `params`."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.search_space import search_space

FILE = {
    "optimizer": "choice:sgd,adam,adamw",
    "optimizer.weight_decay": "log:1e-6:1e-2",
    "scheduler": "choice:none,step",
}


def test_command_line_sweeps_add_to_or_replace_the_files_entries_and_plain_values_fix_a_key() -> None:
    space, fixed = search_space(
        {**FILE, "trainer.max_epochs": "int(interval(1, 3))"},  # the file takes Hydra's syntax too
        [
            "optimizer=choice(sgd,adam)",  # replaces the file's choice
            "optimizer.lr=tag(log, interval(1e-4, 1e-1))",
            "data.batch_size=range(32, 256, step=32)",
            "model.net.dropout=interval(0, 0.5)",
            "seed=tag(int, interval(0, 9))",
            "data.val_size=range(0.1, 0.3, step=0.1)",
            "+data.augment.degrees=1,5",  # Hydra's simple choice; a + override keeps its +
            "scheduler=none",  # a plain value: fixed for every trial, no longer sampled
            "data.root='/a b'",
        ],
    )
    assert space == {
        "optimizer": CategoricalDistribution(["sgd", "adam"]),
        "optimizer.weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
        "trainer.max_epochs": IntDistribution(1, 3),
        "optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "data.batch_size": IntDistribution(32, 256, step=32),  # as Hydra's Optuna sweeper: 256 included
        "model.net.dropout": FloatDistribution(0.0, 0.5),
        "seed": IntDistribution(0, 9),
        "data.val_size": FloatDistribution(0.1, 0.3, step=0.1),
        "+data.augment.degrees": CategoricalDistribution([1, 5]),
    }
    assert fixed == ["scheduler=none", "data.root='/a b'"]  # as typed: its quotes survive


@pytest.mark.parametrize(
    ("params", "argument", "message"),
    [
        ({}, "optimizer.lr=tag(log, interval(0, 0.1))", "optimizer.lr=tag(log, interval(0, 0.1)): `low > 0`"),
        ({}, "optimizer.lr=tag(exp, interval(1e-4, 0.1))", "unknown tag exp"),
        ({}, "data.batch_size=tag(log, range(32, 256))", "a range takes no tag (log)"),
        (
            {},
            "seed=tag(int, interval(0.5, 2))",
            "seed=tag(int, interval(0.5, 2)): an int interval needs whole",
        ),
        ({}, "optimizer=glob(*)", "glob() cannot be sampled"),
        ({}, "optimizer.lr=interval(0.1, 0.01)", "optimizer.lr=interval(0.1, 0.01): "),
        ({"optimizer.lr": "log:1e-4"}, "seed=1", "hydra.sweeper.params.optimizer.lr=log:1e-4: "),
        ({"optimizer.lr": "interval(1e-4"}, "seed=1", "hydra.sweeper.params.optimizer.lr=interval(1e-4: "),
    ],
)
def test_what_cannot_be_a_distribution_is_one_line_naming_it(
    params: dict, argument: str, message: str
) -> None:
    with pytest.raises(ConfigError, match="write a search range as") as err:
        search_space(params, [argument])
    assert message in str(err.value) and "\n" not in str(err.value)
