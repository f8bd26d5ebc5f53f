"""``python -m dynamodb_replicator.cli``: the same as ``dynamodb-replicator``."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()
