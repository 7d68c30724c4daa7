"""The one exception bad input raises."""


class TrialInputError(ValueError):
    """A config file or raw export is not what the pipeline expects.

    The message always names the file, the key / row / column, and what was expected, so a
    researcher can fix the input without reading code.
    """
