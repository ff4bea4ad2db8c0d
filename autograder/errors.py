"""The grader's one error type, importable without nbgrader (for the light CI sub-commands)."""


class SetupError(RuntimeError):
    """The grader itself cannot run (bad arguments, no such assignment, nbgrader failed)."""
