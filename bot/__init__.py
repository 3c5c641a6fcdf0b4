"""quotebot: cyber-insurance quotes and first-hours incident help for Japanese merchants."""

from pathlib import Path

# The repository (or site-packages) root: templates/ and rates/tables/ are found from here.
ROOT = Path(__file__).resolve().parent.parent
