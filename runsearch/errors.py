"""The errors runsearch raises on purpose, under one base class."""


class RunsearchError(Exception):
    """Base of every error runsearch raises on purpose."""


class DataError(RunsearchError, ValueError):
    """An event cannot be applied because of what it holds. The message says why without quoting the content
    (which can hold secrets), so it can go to logs and dead letters as it is."""
