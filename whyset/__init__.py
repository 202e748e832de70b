"""whyset: build explanation corpora whose every example carries a human-checked reason for its label."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("whyset")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
