"""`python -m hil`: the same as the `alpr-hil` console script."""

from hil.cli import main

raise SystemExit(main())
