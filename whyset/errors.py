"""What a user can cause, as a small hierarchy with one exit status per class, so that scripts can tell a
failed gate from a dead server from bad input, and all of them from a bug.

Every message names the file, record or field at fault and fits on one line; the CLI prints it as
``error: <message>`` and exits with the class's ``exit_code``. Anything else that escapes is a bug in whyset:
the CLI prints its traceback and exits with :data:`INTERNAL_ERROR`.
"""

INTERNAL_ERROR = 70  # EX_SOFTWARE of sysexits.h: a traceback, i.e. a bug to report


class WhysetError(Exception):
    """A problem with the user's input or environment (bad input unless a subclass says otherwise)."""

    exit_code = 1


class BadInput(WhysetError):
    """Malformed or inconsistent input: a file, record, recipe, option or licence that cannot be used."""

    exit_code = 1


class GateFailed(WhysetError):
    """Validation ran, and one or more release gates did not hold."""

    exit_code = 3


class ServerUnreachable(WhysetError):
    """A server whyset talks to (Label Studio, an LLM endpoint) did not answer or refused the credentials."""

    exit_code = 4


class StoreBusy(WhysetError):
    """Another process holds the corpus store's write lock."""

    exit_code = 5

