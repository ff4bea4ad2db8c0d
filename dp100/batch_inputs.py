"""The inputs of a batch step: local equivalent of the two input contracts of Azure ML's
``ParallelRunStep`` (SDK v1): a Tabular dataset's rows cut into DataFrames by size, or a File
dataset's (a folder's, a list's) files cut into lists of paths by count."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dp100.batch_config import BatchConfigError
from dp100.datasets import DatasetConsumptionConfig, FileDataset, TabularDataset


@dataclass
class TabularInput:
    """The rows of a Tabular dataset, cut into mini-batches by the size of their delimited text."""

    files: list[Path]
    separator: str = ","
    name: str | None = None

    def read(self) -> tuple[pd.DataFrame, list[int]]:
        """All rows (one table, as ``to_pandas_dataframe()``) and each row's size in bytes."""
        frames, sizes = [], []
        for f in self.files:
            try:
                frame = pd.read_csv(f, sep=self.separator)
            except Exception as exc:
                raise BatchConfigError(f"tabular input {f.name}: not delimited text: {exc}") from None
            lines = [line for line in f.read_bytes().splitlines(keepends=True)[1:] if line.strip()]
            if len(lines) != len(frame):  # quoted line breaks: measure the rows as written back
                lines = frame.to_csv(sep=self.separator, header=False, index=False).encode().splitlines(keepends=True)
            frames.append(frame)
            sizes += [len(line) for line in lines]
        table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        return table, sizes

    def mini_batches(self, size_bytes: int) -> list[tuple[str, pd.DataFrame]]:
        """Consecutive rows, at most ``size_bytes`` of text each (at least one row per mini-batch)."""
        table, sizes = self.read()
        cuts, total = [0], 0
        for i, size in enumerate(sizes):
            if total and total + size > size_bytes:
                cuts.append(i)
                total = 0
            total += size
        cuts.append(len(sizes))
        return [
            (f"records {a}-{b - 1}", table.iloc[a:b].reset_index(drop=True))
            for a, b in zip(cuts, cuts[1:], strict=False)
            if b > a
        ]

    def __len__(self) -> int:
        return len(self.files)


def step_input(inputs: Any) -> list[Path] | TabularInput:
    """A step input as its contract: a :class:`TabularInput` for a Tabular dataset; the list of
    files for a File dataset, a folder, a file or a list of files."""
    if isinstance(inputs, DatasetConsumptionConfig):  # dataset.as_named_input(name): the dataset
        inputs = inputs.dataset
    if isinstance(inputs, TabularDataset):  # a FileDataset is one too
        files = inputs.local_paths()
    elif isinstance(inputs, TabularInput):
        files = list(inputs.files)
    elif isinstance(inputs, (str, os.PathLike)):
        p = Path(inputs)
        files = sorted(x for x in p.iterdir() if x.is_file()) if p.is_dir() else [p]
    elif isinstance(inputs, Iterable):
        files = [Path(x) for x in inputs]
    else:
        raise BatchConfigError(f"step input must be a dataset, a folder or files, got {type(inputs).__name__}")
    if not files:
        raise BatchConfigError(f"step input {inputs!r} holds no files")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BatchConfigError(f"input file(s) not found: {', '.join(missing)}")
    files = [f.resolve() for f in files]
    if isinstance(inputs, TabularInput):
        return TabularInput(files, inputs.separator, inputs.name)
    if isinstance(inputs, TabularDataset) and not isinstance(inputs, FileDataset):
        return TabularInput(files, inputs.separator, inputs.name)
    return files
