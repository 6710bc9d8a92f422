"""Hypothesis settings and strategies shared by the webhook fuzz tests."""

from urllib.parse import quote

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Any text the HTTP client can encode: no lone surrogates.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def encode(pairs):
    """Return ``pairs`` percent-encoded as a form body or query string."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
