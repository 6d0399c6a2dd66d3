"""The one error type for problems a user can fix.

Missing or malformed data, a rejected schedule expression, a corrupt run folder: each raises
`UserError` with a message that says what was expected and where. Pages show it with st.error and
the CLI prints it without a traceback; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix; the message says what was expected and where."""
