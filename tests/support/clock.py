"""A ``time.monotonic`` stand-in that tests move by hand."""


class Clock:
    """Return ``now`` when called; a test advances it instead of sleeping."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now
