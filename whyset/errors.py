"""One error type for everything a user can cause, so the CLI can print it as one line and exit non-zero."""


class WhysetError(Exception):
    """A problem with the user's input or environment, with a message that names the file/record/field.

    Anything else that escapes is a bug in whyset and keeps its traceback.
    """
