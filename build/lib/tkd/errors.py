"""The errors a user sees: bad input, and a training run that stopped. Kept in one light module,
so the command line can tell them apart without importing the trainer (and torch)."""
import signal


class SpecError(ValueError):
    """Input that cannot be used: the message names the config key, spec key or file at fault.

    The command line turns it into one line and exit code 2; the workflow's jobs do the same
    in their logs. It is raised before any work starts, so nothing is written.
    """


class TrainingInterrupted(RuntimeError):
    """A signal stopped training after the resume state was saved (exit code 128 + the signal)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; resume state saved, run again to continue")


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite: nothing is written (exit code 1)."""
