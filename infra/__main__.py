"""python -m infra: provision, inspect and remove the AWS stack."""

from __future__ import annotations

import sys

from infra.cli import main

if __name__ == "__main__":
    sys.exit(main())
