"""Faults and load on the deployed product: workers killed, Redis and PostgreSQL taken
away, a misbehaving mail server, 50 concurrent shop clients. Run with `python -m chaos`
(chaos/README.md); not part of CI: it takes the better part of an hour and all the
machine's cores."""
