"""The errors attnseg raises on purpose: one base, one class per cause, each message one line in the
library's own words (the CLI maps each to `attnseg: error: ...` and exit code 2).

    AttnsegError
    ├── SettingError       a setting or argument out of range, of the wrong shape, or unknown
    │   └── NothingToWrite    a run that names no output
    ├── InputError         a video, folder, frame or message that cannot be read
    ├── CheckpointError    weights whose format, keys or shapes do not match
    ├── WeightsUnavailableError   official weights neither cached nor downloadable
    ├── MissingDependency  an optional package not installed (the message has the install line)
    ├── DeviceError        a device, toolkit or build target that is not there
    ├── ExportError        an artifact that cannot be built, read or trusted
    ├── OutputError        an output that cannot be written (it exists, or is closed)
    │   ├── EarlierRunError   a folder holding an earlier run's results
    │   ├── OutputExistsError an output file that exists already (overwrite replaces it)
    │   └── RunInUseError     a run's outputs that another process is writing now
    ├── StreamError        a stage of the streaming runtime failed
    ├── SourceDisconnected a live source lost its device or connection mid-stream
    └── EvalError          annotations or results that cannot be scored
        └── NoResultsError    no results for a sequence to score, or none named as a sequence

Each also derives from the builtin the library raised before (ValueError, RuntimeError, ImportError,
ConnectionError),
so `except ValueError` in existing callers keeps working.
"""
from __future__ import annotations


class AttnsegError(Exception):
    """Anything attnseg raises on purpose."""


class SettingError(AttnsegError, ValueError):
    """A setting or argument out of range, of the wrong shape, or unknown (the message names the valid ones)."""


class InputError(AttnsegError, ValueError):
    """A video, folder, frame or message that cannot be read."""


class CheckpointError(AttnsegError, ValueError):
    """Weights whose format, keys or shapes do not match what the model needs."""


class WeightsUnavailableError(AttnsegError, RuntimeError):
    """Official weights are neither cached nor downloadable (the message names the URL and the path)."""


class MissingDependency(AttnsegError, ImportError, ValueError):
    """An optional package that is not installed; the message ends with its install line."""


class DeviceError(AttnsegError, ValueError):
    """A device, toolkit or build target that is not there (no CUDA device, an engine built elsewhere)."""


class ExportError(AttnsegError, ValueError):
    """An exported artifact that cannot be built, read, or trusted (it disagrees with the reference)."""


class OutputError(AttnsegError, ValueError):
    """An output that cannot be written: it exists already, or was closed."""


class NothingToWrite(SettingError):
    """A run that names no output: its work would be lost."""


class EarlierRunError(OutputError):
    """An output folder that holds an earlier run's results: overwrite them, resume that run, or write elsewhere."""


class OutputExistsError(OutputError):
    """An output file that exists already: overwrite replaces it, or write elsewhere."""


class RunInUseError(OutputError):
    """A run's outputs that another process is writing now (the message names it): wait for it, or stop it."""


class StreamError(AttnsegError, RuntimeError):
    """A stage of the streaming runtime failed; the message names the stage and the cause."""


class SourceDisconnected(AttnsegError, ConnectionError):
    """A live source lost its device or connection mid-stream (the runtime ends the stream or reconnects)."""


class EvalError(AttnsegError, ValueError):
    """Annotations or results that cannot be scored."""


class NoResultsError(EvalError):
    """Results missing for a sequence to evaluate, or results that name no sequence (choose the sequences)."""


def short_list(items, first: int = 5) -> str:
    """A list as a message shows it: the first few, then how many more ("a, b, c and 12 more")."""
    items = [str(i) for i in items]
    if len(items) <= first:
        return ", ".join(items) or "none"
    return f"{', '.join(items[:first])} and {len(items) - first} more"
