"""The exception tree of metricpipe.

Every error a user can meet is one of these. Each message says what is wrong, the
value that was seen and what to do about it; the CLI maps each class to an exit
code and prints one line, with the traceback only under ``--debug``.
"""


class MetricpipeError(Exception):
    """Base of every error metricpipe raises on purpose."""

    exit_code = 1


class InvalidValueError(MetricpipeError):
    """A named setting has a value that is not allowed: says which, and why."""

    exit_code = 2
    #: How the message names the setting: "config key", "parameter", ...
    subject = "value"

    def __init__(self, key: str, value: object, allowed: str, fix: str = "") -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        self.fix = fix
        text = f"{self.subject} {key!r} has value {value!r}: {allowed}"
        if fix:
            text += f"; {fix}"
        super().__init__(text)


class ConfigError(InvalidValueError):
    """A configuration key has a value that is not allowed."""

    subject = "config key"


class ConfigErrors(MetricpipeError):
    """Several configuration errors found in one pass, reported together."""

    exit_code = 2

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{len(errors)} configuration error(s):\n{lines}")


class ProvisionError(MetricpipeError):
    """A component could not be fetched, built or found."""

    exit_code = 3

    def __init__(self, component: str, coordinate: str, reason: str, fix: str) -> None:
        self.component = component
        self.coordinate = coordinate
        self.reason = reason
        self.fix = fix
        super().__init__(
            f"component {component!r} ({coordinate}) could not be provisioned: "
            f"{reason}. {fix}"
        )


class MissingToolError(ProvisionError):
    """A tool needed to provision a component is not on PATH."""


class ServiceError(MetricpipeError):
    """A supervised service failed to start, become ready or stay up."""

    exit_code = 4

    def __init__(self, service: str, reason: str, log_tail: str = "") -> None:
        self.service = service
        self.reason = reason
        self.log_tail = log_tail
        text = f"service {service!r} {reason}"
        if log_tail:
            text += f"\n--- last lines of its log ---\n{log_tail}"
        super().__init__(text)


class WorkspaceError(MetricpipeError):
    """The workspace is missing, locked by another supervisor, or unreadable."""

    exit_code = 5


class NotRunningError(MetricpipeError):
    """A command needs a running pipeline and there is none in this workspace."""

    exit_code = 6
