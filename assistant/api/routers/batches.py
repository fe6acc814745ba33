"""Batches: submit up to max_batch_items items (JSON or a CSV upload), follow progress, download results."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from ...engines import registry as engine_registry
from ...errors import InputError, UnsupportedMediaType
from ...review import batches, csv_input
from ...review.batches import BatchItemIn, BatchRequest
from ...review.requests import NO_NUL
from ...store.records import BatchResults, BatchView
from ..deps import Broker, DeskDep, IdempotencyKey, Reader, WorkerDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/batches", tags=["batches"])
BatchId = Annotated[str, Path(max_length=64)]

_CSV_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "CSV with a description column"},
        "engine": {"type": "string", "enum": list(engine_registry.names())},
        "top": {"type": "integer", "minimum": 1, "maximum": 20},
    },
}
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}},
        "multipart/form-data": {"schema": _CSV_UPLOAD},
        "text/csv": {"schema": {"type": "string", "description": "CSV with a header row and a description column"}},
    },
}
SCHEMAS = (BatchRequest, BatchItemIn)  # added to the OpenAPI components by the app


def _validated(data: dict) -> BatchRequest:
    try:
        return BatchRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


class BatchCreated(BatchView):
    """The new batch; for a CSV upload, the rows left out of it and how the file was read."""

    rejected_rows: list[csv_input.RowError] = Field(default_factory=list, description="CSV rows not classified, why")
    csv_encoding: str | None = None
    csv_delimiter: str | None = None


async def _read_request(
    request: Request, max_items: int, columns: dict[str, str | None]
) -> tuple[BatchRequest, csv_input.CsvBatch | None]:
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if mime == "application/json" or mime.endswith("+json"):
        try:
            return BatchRequest.model_validate_json(await request.body()), None
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
    if mime == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except MultiPartException as exc:
            raise InputError(f"malformed multipart upload: {exc.message}") from None
        try:  # the upload's spooled temporary file is closed however the reading ends
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InputError("the multipart upload needs a 'file' field holding the CSV")
            data = await upload.read()
        finally:
            await form.close()
        read = csv_input.read_csv(data, max_items=max_items, columns=columns)
        extra = {k: form.get(k) for k in ("engine", "top") if isinstance(form.get(k), str) and form.get(k)}
        return _validated({"items": [i.model_dump() for i in read.items], **extra}), read
    if mime in ("text/csv", "application/csv", "text/plain", "text/tab-separated-values"):
        read = csv_input.read_csv(await request.body(), max_items=max_items, columns=columns)
        return _validated({"items": [i.model_dump() for i in read.items]}), read
    raise UnsupportedMediaType("send application/json, multipart/form-data (a CSV 'file') or text/csv")


Column = Annotated[str | None, Query(max_length=100, pattern=NO_NUL, description="CSV header holding this field (default: its name)")]


@router.post(
    "",
    status_code=202,
    response_model=BatchCreated,
    responses=error_responses(400, 403, 409, 413, 415, 422),
    openapi_extra={"requestBody": REQUEST_BODY},
    summary="Submit a batch (JSON items or a CSV upload); classified in the background",
)
async def create_batch(
    request: Request, response: Response, desk: DeskDep, principal: Broker, worker: WorkerDep,
    idempotency_key: IdempotencyKey = None, description_column: Column = None, reference_column: Column = None,
    declared_code_column: Column = None,
) -> BatchCreated:
    """Each item becomes a case in pending_review. Poll GET /v1/batches/{id} (the Location), then the results.

    A CSV may be comma-, semicolon- or tab-separated, in UTF-8 (with or without BOM), UTF-16 or Windows-1252/
    Latin-1; blank rows are skipped and a bad row is reported in `rejected_rows` instead of failing the batch."""
    columns = {"description": description_column, "reference": reference_column,
               "declared_code": declared_code_column}
    body, read = await _read_request(request, desk.settings.max_batch_items, columns)
    # Quotas count work, not requests: every item takes a token from the key's batch-item bucket.
    request.app.state.item_limiter.check(principal.key_id, cost=len(body.items))
    created = await run_in_threadpool(
        batches.create_batch, desk, principal, body, idempotency_key=idempotency_key, worker=worker
    )
    response.headers["Location"] = f"/v1/batches/{created.id}"
    if read is None:
        return BatchCreated(**created.model_dump())
    return BatchCreated(**created.model_dump(), rejected_rows=read.rejected, csv_encoding=read.encoding,
                        csv_delimiter=read.delimiter)


@router.delete("/{batch_id}", response_model=BatchView, responses=error_responses(403, 404, 409, 422),
               summary="Cancel the items of a batch that have not run (they are marked cancelled)")
def cancel_batch(batch_id: BatchId, desk: DeskDep, principal: Broker) -> BatchView:
    return batches.cancel_batch(desk, principal, batch_id)


@router.get("/{batch_id}", response_model=BatchView, responses=error_responses(403, 404, 422),
            summary="A batch's progress")
def get_batch(batch_id: BatchId, desk: DeskDep, principal: Reader) -> BatchView:
    return batches.get_batch(desk, principal, batch_id)


@router.get(
    "/{batch_id}/results",
    response_model=BatchResults,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **error_responses(403, 404, 422)},
    summary="Results so far, as JSON or CSV (items not yet processed show status pending)",
)
def batch_results(
    batch_id: BatchId, desk: DeskDep, principal: Reader, format: Literal["json", "csv"] = Query("json")
) -> BatchResults | Response:
    results = batches.batch_results(desk, principal, batch_id)
    if format == "csv":
        return Response(
            batches.results_csv(results),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="batch-{results.batch.id}.csv"'},
        )
    return results
