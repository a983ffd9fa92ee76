"""Response bodies of the exchange routes (files are sent as they are, not as JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ImportKind = Literal["needs", "offers", "routes", "receipts", "rules"]


class ImportRead(BaseModel):
    """What an import created: every row of the file, in the file's order."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "needs", "created": 3, "ids": [41, 42, 43]}]}
    )

    kind: ImportKind
    created: int = Field(description="rows created: every data row of the file")
    ids: list[int] = Field(description="ids of the created needs, offers or routes, in file order")
