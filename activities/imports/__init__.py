"""CSV and XLSX imports of reps, deals, activities, quotas and projections.

The one entry point is `run_import()`; the management commands and the upload
page both call it. See docs/imports.md for the columns of each kind.
"""

from .mapping import load_mapping
from .report import ImportFileError, ImportReport, RowError
from .service import KINDS, run_import

__all__ = ["KINDS", "ImportFileError", "ImportReport", "RowError", "load_mapping", "run_import"]
