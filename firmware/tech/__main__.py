"""`python -m firmware.tech` = alpr-unit-tech."""

import sys

from firmware.tech.cli import main

sys.exit(main())
