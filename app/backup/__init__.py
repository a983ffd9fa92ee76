"""Whole-database export and import (``poolbuy export-all`` / ``poolbuy import-all``).

See ``app.backup.service`` for the file format and the rules an import follows.
"""

from app.backup.service import BackupError, ExportSummary, ImportSummary, export_all, import_all

__all__ = ["BackupError", "ExportSummary", "ImportSummary", "export_all", "import_all"]
