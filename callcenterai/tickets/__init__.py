"""The ticket store: every classified ticket (scrubbed text only), its answer and its correction.

:mod:`schema` declares the tables, :mod:`migrations` creates and changes them (Alembic),
:mod:`store` reads and writes them, and :mod:`writer` takes the agent's writes off the response
path. :mod:`export` turns the corrections into the dataset that training merges.
"""
