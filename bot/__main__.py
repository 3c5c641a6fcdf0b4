"""`python -m bot ...` is the same as the `quotebot` command."""

from bot.cli import main

raise SystemExit(main())
