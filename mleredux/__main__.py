"""`python -m mleredux` is the `mleredux` command."""

from mleredux.cli import main

raise SystemExit(main())
