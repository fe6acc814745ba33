"""The exception family, mapped once to CLI messages (cli) and once to HTTP responses (api).

    AssistantError                 base; `status` is the HTTP status it maps to
    ├── InputError         (422)   bad input from a user: empty description, malformed code, bad file
    │   ├── SourceFormatError      a source file is not in the format its loader reads
    │   └── UnsupportedMediaType (415) an upload in a content type the endpoint does not read
    ├── NotFoundError      (404)   unknown code, case, batch, passage
    ├── ConflictError      (409)   a state transition that is not allowed now
    ├── PermissionDenied   (403)   authenticated but not allowed
    ├── AuthError          (401)   missing or unknown API key
    ├── RateLimited        (429)
    ├── TooLarge           (413)
    ├── FetchError         (503)   a URL could not be downloaded (offline, HTTP error)
    └── BackendUnavailable (503)   the vector store, database or model server is down
        └── UnusableOutput         the model's reply is not the JSON the prompt asked for (the LLM engine
                                   answers with the offline engine instead: it never reaches a surface)
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose."""

    status = 500
    code = "error"

    def __init__(self, message: str, *, detail: object | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class InputError(AssistantError):
    status = 422
    code = "invalid_input"


class SourceFormatError(InputError):
    code = "bad_source_format"


class UnsupportedMediaType(InputError):
    status = 415
    code = "unsupported_media_type"


class NotFoundError(AssistantError):
    status = 404
    code = "not_found"


class ConflictError(AssistantError):
    status = 409
    code = "conflict"


class PermissionDenied(AssistantError):
    status = 403
    code = "forbidden"


class AuthError(AssistantError):
    status = 401
    code = "unauthorized"


class RateLimited(AssistantError):
    status = 429
    code = "rate_limited"


class TooLarge(AssistantError):
    status = 413
    code = "too_large"


class FetchError(AssistantError):
    status = 503
    code = "fetch_failed"


class BackendUnavailable(AssistantError):
    status = 503
    code = "backend_unavailable"


class UnusableOutput(BackendUnavailable):
    """The model's reply is not the JSON object the prompt asked for."""

    code = "unusable_llm_output"
