"""`camid train`, `camid evaluate` and `camid predict`: the training stage's commands."""

from __future__ import annotations

import click

from flows.context import not_yet


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("manifest_dir", type=click.Path(file_okay=False))
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def train(manifest_dir: str, options: tuple[str, ...]) -> None:
    """Train a classifier on a dataset manifest."""
    raise not_yet("train", 5)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def evaluate(run_dir: str, options: tuple[str, ...]) -> None:
    """Evaluate a run with the 2018 challenge protocol and robustness curves."""
    raise not_yet("evaluate", 5)


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--model", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
def predict(images: tuple[str, ...], run_dir: str, as_json: bool) -> None:
    """Which camera took each IMAGE, from pixels alone."""
    raise not_yet("predict", 5)
