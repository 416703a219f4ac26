"""``postcouple bench``: a one-minute side-by-side of the compiled core and its peers.

See :mod:`postcouple.bench.cli`; the reproducible figures are the
pytest-benchmark suites in the repository's ``benches/`` (``make bench``).
"""
