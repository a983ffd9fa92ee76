"""Data exchange: spreadsheets in, plans out, and the open standards (OCDS, HXL).

Pure functions on plain data (bytes, contract-v1 problem and plan documents,
row dicts): no database, no FastAPI, so routes, web pages and the CLI share them.

- ``spreadsheets``: needs, offers and routes from CSV or XLSX uploads, and templates.
- ``plan_export``: a plan as an XLSX workbook or CSV files.
- ``ocds``: an approved plan as an OCDS 1.1 release package.
- ``hxl``: needs and plans as HXL-tagged CSV, and needs back from one.

``table`` (reading an upload into cells, the errors an import reports) and
``values`` (one cell to a typed value) are what the importers share; ``cells``
makes text safe to hand to a spreadsheet.
"""
