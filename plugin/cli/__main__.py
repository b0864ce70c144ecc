"""``python -m plugin.cli``: the ``customer-groups`` command."""

from plugin.cli import main

raise SystemExit(main())
