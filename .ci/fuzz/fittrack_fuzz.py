"""Schemathesis hooks for FitTrack's GraphQL API (`.ci/fuzz/run`).

Strategies for our custom scalars produce valid values and malformed ones
(impossible dates, words, wrong shapes), and one check fails the run on any
answer a client should never see: an `INTERNAL_SERVER_ERROR` code or a 5xx.
"""

from hypothesis import strategies as st
import schemathesis
from schemathesis.graphql import nodes

_valid_datetimes = st.datetimes(
    min_value=__import__("datetime").datetime(1990, 1, 1),
    max_value=__import__("datetime").datetime(2035, 1, 1),
).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
_valid_dates = st.dates().map(lambda d: d.isoformat())
_malformed = st.sampled_from(
    [
        "2026-11-31T07:00:00Z",
        "2026-02-30",
        "not a date",
        "",
        "2026-13-01T00:00:00Z",
        "9999999-01-01",
        "2026-01-01T25:61:00+99:00",
        "１２３",
    ]
) | st.text(max_size=40)

schemathesis.graphql.scalar("DateTime", (_valid_datetimes | _malformed).map(nodes.String))
schemathesis.graphql.scalar("NaiveDate", (_valid_dates | _malformed).map(nodes.String))
schemathesis.graphql.scalar(
    "JSON",
    st.one_of(
        st.text(max_size=20).map(nodes.String),
        st.integers().map(nodes.Int),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    ),
)


@schemathesis.check
def no_internal_error(ctx, response, case):
    """No 5xx, and no GraphQL error coded INTERNAL_SERVER_ERROR (or uncoded)."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = response.json()
    except ValueError:
        return None
    for error in (body or {}).get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code in (None, "INTERNAL_SERVER_ERROR"):
            raise AssertionError(f"{code or 'uncoded'} error: {error}")
    return None
