"""The one door through which the UI reads lake files: `outputs/<key>`, streamed through the app.

From a folder lake or MinIO alike, confined to the lake's runs/ folder (llf.services.lake.runs: no `..`, no
absolute paths, no symlink leaving it). The browser never talks to the lake: it needs no lake credentials and
no route to MinIO, and every output gets the sandboxing headers below, which a presigned MinIO link would not.
"""

import mimetypes

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response, StreamingResponse

from llf.services.lake import LakePathError
from llf.services.lake.runs import confined_key, stored_output_key
from llf.ui.sources import Reader, SourcesDep

# Notebook HTML is user content: served as a sandboxed document (no scripts, opaque origin), so it can never
# act with the viewer's Airflow session.
OUTPUT_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
# Outputs go to the browser in pieces of this size: one piece in memory at a time, however large the notebook.
OUTPUT_PIECE_BYTES = 64 * 1024

router = APIRouter()


@router.get("/outputs/{key:path}")
def output(sources: SourcesDep, access: Reader, key: str) -> Response:
    """An output file of a run, streamed from the lake (folder or MinIO) with the sandboxing headers.

    Readable when the user may read the run's process DAG or its stream DAG; otherwise 404, the answer for
    a missing file, checked before the lake is touched so existence cannot be probed.
    """
    lake = sources.lake()
    try:
        if not access.output(confined_key(key)):
            raise FileNotFoundError(key)
        stored = stored_output_key(lake, key)
        if not access.output(stored):  # a folder-lake symlink into a folder the user may not read
            raise FileNotFoundError(key)
        pieces = lake.stream(stored, OUTPUT_PIECE_BYTES)
    except LakePathError as error:
        raise HTTPException(400, str(error)) from error
    except FileNotFoundError as error:
        raise HTTPException(404, f"No output {key!r} that you may read.") from error
    media_type = mimetypes.guess_type(stored)[0] or "application/octet-stream"
    return StreamingResponse(pieces, media_type=media_type, headers=OUTPUT_HEADERS)
