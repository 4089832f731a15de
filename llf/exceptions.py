"""Errors llf raises on purpose: each says what is wrong and which setting or row to fix."""


class LlfError(Exception):
    """Base class of every error llf raises deliberately."""


class ConfigurationError(LlfError):
    """A setting is missing or wrong; the message names the setting."""


class StateDirError(ConfigurationError):
    """LLF_STATE_DIR cannot hold llf's files (no folder, unwritable, full); the message names the path.

    Its own class so that `llf refresh` tells it apart from a control DB it cannot read."""


class ControlDatabaseError(LlfError):
    """The control database cannot be reached or is not upgraded."""


class RegistrationError(LlfError):
    """Registrations in the control tables are invalid; the message names the rows."""


class ProcessFailed(LlfError):
    """A process attempt ended FAILED or BLOCKED; the message is the one in the run log.

    Here, not in the runner, because reading a process's registration (llf.control) raises it too.
    """


class FinalFailure(ProcessFailed):
    """A process attempt ended BLOCKED, or FAILED for good in its stream run: a retry would record the same.

    The runner cannot import Airflow; the generated tasks (llf.dagbuild.callables) turn it into Airflow's
    fail-without-retry, so a task with `retries` does not wait `retry_delay` to say it again.
    """


class RunIdentityRefused(FinalFailure):
    """A process DAG run's conf names a stream run its trigger did not vouch for (no run token, or one minted
    for another run): refused before any row is written, and not retried, since a retry presents the same conf."""
