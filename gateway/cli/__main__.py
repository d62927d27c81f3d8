"""``python -m faxgw.gateway.cli``: the ``faxgw`` command (how ``faxgw serve --workers`` starts its nodes)."""

import sys

from faxgw.gateway.cli import main

sys.exit(main())
