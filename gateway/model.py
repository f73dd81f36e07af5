"""The canonical record: one GenAI span, the union of every wire format's fields.

Every receiver translates its wire format into :class:`Record` and every exporter translates
out of it (N + M mappings, never N x M). The record holds the union of every format's fields,
so that a same-format round trip loses nothing; fields that exactly one format has and no other
format can use live in :attr:`Record.extra` under a key prefixed with the format's name
(``<format>.<field>``), which keeps the record small while still round-tripping them.
``docs/mapping.md`` is the field-by-field table: which wire field fills which record field. This
module names no format; the comments below say what a field means, not where it comes from.

Conventions:

* Times are integer nanoseconds since the Unix epoch (``None`` when the source had none).
* Token counts are ``None`` when unknown: some formats give 0 the meaning "free".
* Ids are strings exactly as the source sent them; byte ids are lower-case hex.
* Content (prompts, outputs, tool arguments) lives in :class:`Message` / :class:`Part` and in
  the ``*_json`` byte fields; processors that strip content touch only those.

Batches (:class:`Batch`) carry the request context (:class:`Context`): which receiver, the
tenant, the credentials the client presented, and headers the config asked to keep. They also
carry evaluation :class:`Score` and conversation :class:`Rating` items, which are not spans.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol


class Kind(enum.StrEnum):
    """What the span is. Each format maps its own span type onto these."""

    LLM = "llm"  # a model call: chat, completion, generateText, streamText
    EMBEDDING = "embedding"
    TOOL = "tool"  # a tool execution
    AGENT = "agent"  # an agent invocation
    WORKFLOW_STEP = "workflow_step"  # one step of a workflow (framework node, graph step)
    OTHER = "other"


class Status(enum.StrEnum):
    """Outcome of the span; the union of the formats' statuses."""

    OK = "ok"
    ERROR = "error"
    ABORTED = "aborted"  # cancelled or aborted by the caller
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    UNSPECIFIED = ""


class PartKind(enum.StrEnum):
    TEXT = "text"
    THINKING = "thinking"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    MEDIA = "media"


@dataclass(slots=True)
class Part:
    """One content part of a message. Which fields apply depends on :attr:`kind`."""

    kind: PartKind
    text: str = ""  # TEXT and THINKING content
    provider_type: str = ""  # the provider's own name for the part type
    tool_call_id: str = ""  # TOOL_CALL id, or TOOL_RESULT tool_call_id
    tool_name: str = ""  # TOOL_CALL / TOOL_RESULT name
    tool_input_json: bytes = b""  # TOOL_CALL arguments, JSON bytes
    tool_result_content: str = ""  # TOOL_RESULT plain content
    tool_result_json: bytes = b""  # TOOL_RESULT structured content, JSON bytes
    is_error: bool = False  # TOOL_RESULT
    media_kind: str = ""  # MEDIA: image, audio, ...
    media_url: str = ""
    media_mime_type: str = ""
    media_name: str = ""


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)
    name: str = ""


@dataclass(slots=True)
class ToolDefinition:
    name: str
    description: str = ""
    type: str = ""  # "function", ...
    input_schema_json: bytes = b""  # JSON Schema of the parameters
    deferred: bool = False


@dataclass(slots=True)
class Usage:
    """Token and unit counts; ``None`` means unknown (never 0 for unknown).

    ``input_tokens`` follows the source's semantics; ``input_includes_cache`` records whether the
    cache counts are a subset of it (True) or not (None: unknown, read as exclusive).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    image_count: int | None = None
    web_search_count: int | None = None
    request_count: int | None = None
    input_includes_cache: bool | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in _USAGE_COUNTS)


# The token counts, in the order exporters write them; then the other counts.
TOKEN_COUNTS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_write_input_tokens",
    "reasoning_tokens",
)
_USAGE_COUNTS = (*TOKEN_COUNTS, "image_count", "web_search_count", "request_count")


@dataclass(slots=True)
class Artifact:
    """A raw provider artifact: a request, response or tool list as the provider saw it."""

    # 1 request, 2 response, 3 tools, 4 provider event; an open enum: unknown numbers are kept
    # (docs/architecture.md lists this as an exception: only one format has artifacts).
    kind: int
    name: str = ""
    content_type: str = ""
    payload: bytes = b""
    record_id: str = ""
    uri: str = ""


@dataclass(slots=True)
class Customer:
    """The end customer a trace was made for."""

    id: str
    name: str | None = None
    image_url: str | None = None


@dataclass(slots=True)
class Record:
    """One GenAI span (see the module docstring for conventions)."""

    kind: Kind = Kind.LLM
    # Identity. `id` is the format's item id (generation, step or event id).
    id: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    name: str = ""  # span name
    operation: str = ""  # operation name as the source spelled it (generateText, chat, embed, ...)
    # Grouping.
    conversation_id: str = ""
    conversation_title: str = ""
    session_id: str = ""
    user_id: str = ""
    trace_name: str = ""  # trace label
    agent_name: str = ""
    agent_version: str = ""
    workflow_name: str = ""
    workflow_run_id: str = ""
    customer: Customer | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)  # trace-level metadata
    # The model call.
    provider: str = ""
    model: str = ""
    response_id: str = ""
    response_model: str = ""
    stream: bool | None = None  # streamed or not; None when the source did not say
    start_ns: int | None = None
    end_ns: int | None = None
    ttft_ms: float | None = None
    status: Status = Status.OK
    error_message: str = ""  # what went wrong, in the source's words
    error_type: str = ""  # error code or class (rate_limit, timeout, ...)
    stop_reason: str = ""  # why the model stopped (the first finish reason)
    # Request parameters.
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: str | None = None
    thinking_enabled: bool | None = None
    # Content.
    system_prompt: str = ""
    input: list[Message] = field(default_factory=list)
    output: list[Message] = field(default_factory=list)
    tools: list[ToolDefinition] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None  # as the source sent it, or computed by an exporter
    # Labels.
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # JSON values
    environment: str = ""
    sdk_version: str = ""
    prompt_hash: str = ""
    tools_used: list[str] = field(default_factory=list)
    eval_scores: dict[str, float] = field(default_factory=dict)
    # Links between generations.
    parent_generation_ids: list[str] = field(default_factory=list)
    effective_version: str | None = None
    # Tool execution spans.
    tool_name: str = ""
    tool_call_id: str = ""
    tool_type: str = ""
    tool_description: str = ""
    tool_arguments_json: bytes = b""
    tool_result_json: bytes = b""
    # Workflow steps.
    framework: str = ""
    input_state: dict[str, Any] | None = None
    output_state: dict[str, Any] | None = None
    linked_generation_ids: list[str] = field(default_factory=list)
    parent_step_ids: list[str] = field(default_factory=list)
    # Format-specific fields with no shared meaning, keyed `<format>.<field>`; kept for
    # same-format round trips (`<format>.<field>`; each format documents its keys).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """Where a batch came from. Receivers fill it; processors (auth) may set the tenant."""

    receiver: str = ""  # component id as configured: "<type>" or "<type>/<name>"
    transport: str = ""  # "http" or "grpc"
    tenant: str = ""
    # The receiver filled in its placeholder tenant because none was sent: an exporter that
    # forwards tenants keeps its configured one instead.
    tenant_is_default: bool = False
    # Presented credentials, as sent: never logged, so kept out of repr (a Batch's repr shows it).
    bearer_token: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)
    basic_user: str = ""
    basic_password: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names kept by config
    auth: dict[str, str] = field(default_factory=dict)  # authenticator id → tenant, checked at the receiver


class Native(Protocol):
    """Items still in the wire form they arrived in, for a same-format pass-through.

    A receiver hands these on instead of records only when every consumer downstream declared
    it takes this ``kind`` as is (see ``gateway.pipeline``); anything else that asks the batch
    for records gets them through :meth:`materialize`. Natives are shared, never modified.
    """

    @property
    def kind(self) -> str: ...

    def __len__(self) -> int: ...

    def materialize(self) -> list[Record]: ...

    def join(self, others: list[Native]) -> Native:
        """These items followed by those of ``others`` (natives of the same kind)."""
        ...

    def chunks(self, size: int) -> list[Native]:
        """The items in order, in natives of at most ``size`` items."""
        ...

    def to_bytes(self) -> bytes:
        """The items serialized (a persistent queue stores them so); see the kind's decoder."""
        ...


class Batch:
    """Records (or their :class:`Native` form) with their context, scores and ratings.

    ``records`` is materialized from ``native`` on first access; from then on the records are
    the truth (a processor may change them) and ``native`` is ``None``. Code that only counts
    uses ``len(batch)``, which never materializes.
    """

    __slots__ = ("_records", "context", "native", "ratings", "scores")

    def __init__(
        self,
        records: list[Record] | None = None,
        context: Context | None = None,
        *,
        scores: list[Score] | None = None,
        ratings: list[Rating] | None = None,
        native: Native | None = None,
    ) -> None:
        self._records = records if records is not None or native is not None else []
        self.native = native if records is None else None
        self.context = context if context is not None else Context()
        # Scores and ratings travel beside the records (a batch may carry only them). Exporters
        # whose format has no place for them drop and count them.
        self.scores: list[Score] = scores if scores is not None else []
        self.ratings: list[Rating] = ratings if ratings is not None else []

    @property
    def records(self) -> list[Record]:
        if self._records is None:
            assert self.native is not None
            self._records = self.native.materialize()
            self.native = None
        return self._records

    @records.setter
    def records(self, value: list[Record]) -> None:
        self._records = value
        self.native = None

    def __len__(self) -> int:
        return len(self._records) if self._records is not None else len(self.native or ())

    def copy(self, *, scores: list[Score] | None = None, ratings: list[Rating] | None = None) -> Batch:
        """A batch with its own lists over the same items (records and natives are shared)."""
        records = None if self._records is None else list(self._records)
        return Batch(
            records,
            self.context,
            scores=list(self.scores) if scores is None else scores,
            ratings=list(self.ratings) if ratings is None else ratings,
            native=self.native,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return (self.records, self.context, self.scores, self.ratings) == (
            other.records,
            other.context,
            other.scores,
            other.ratings,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclasses here

    def __repr__(self) -> str:
        form = f"native={self.native.kind}" if self.native is not None else f"records={len(self)}"
        return f"Batch({form}, scores={len(self.scores)}, ratings={len(self.ratings)}, context={self.context!r})"


class RatingValue(enum.StrEnum):
    """A user's verdict on a conversation."""

    GOOD = "good"
    BAD = "bad"

    @classmethod
    def _missing_(cls, value: object) -> RatingValue | None:
        # Batches queued on disk by earlier versions spelled the values as an API's enum names.
        legacy = {"CONVERSATION_RATING_VALUE_GOOD": cls.GOOD, "CONVERSATION_RATING_VALUE_BAD": cls.BAD}
        return legacy.get(value) if isinstance(value, str) else None


@dataclass(slots=True)
class Score:
    """One evaluation result on a generation: received beside records, or computed by the
    ``evaluate`` processor.

    ``id`` is the idempotency key downstream (backends keep the first score with an id and ignore
    resends), so whoever derives a score derives its id deterministically (:func:`derived_score_id`).
    Two vintages of one scores API are kept as sent, the evaluation-run fields and the experiment
    fields (docs/mapping.md); an exporter sends only the fields that are set.
    """

    id: str = ""  # score_id
    generation_id: str = ""  # the scored generation (Record.id); "" only for trial scores
    evaluator_id: str = ""  # who scored: an evaluator id, or the source format's name
    evaluator_version: str = ""  # version of that evaluator
    key: str = ""  # score_key: what was measured (json_valid, faithfulness, ...)
    value: float | bool | str = 0.0  # a number, a bool or a label
    passed: bool | None = None  # the evaluator's verdict, when it has one
    explanation: str = ""  # why, in the evaluator's words
    metadata: dict[str, Any] = field(default_factory=dict)  # evaluator details (JSON values)
    created_ns: int | None = None  # when it was scored; None: the backend stamps it
    conversation_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    rule_id: str = ""  # the evaluation rule that selected the generation
    run_id: str = ""  # the evaluation run (older API vintage)
    experiment_id: str = ""  # the experiment run (newer vintage's name for run_id)
    trial_id: str = ""  # experiment trial; stands in for generation_id
    test_case_id: str = ""  # experiment test case
    grader_conversation_id: str = ""  # the grader's own LLM call, when it is one
    grader_generation_id: str = ""
    grader_trace_id: str = ""
    source_kind: str = ""  # provenance: online_rule, experiment, a format name, ...
    source_id: str = ""  # provenance id: the rule id, the experiment id, ...


@dataclass(slots=True)
class Rating:
    """A user's rating of a conversation.

    ``id`` is the idempotency key: the same id with the same payload is the same rating, the
    same id with another payload is a conflict.
    """

    id: str = ""  # rating_id
    conversation_id: str = ""
    value: RatingValue = RatingValue.GOOD
    comment: str = ""  # free text from the user (content: stripped in metadata_only mode)
    metadata: dict[str, Any] = field(default_factory=dict)  # JSON values
    generation_id: str = ""  # the rated turn, when the client named one
    rater_id: str = ""  # who rated
    source: str = ""  # where the rating came from (a UI, an SDK, ...)
    created_ns: int | None = None  # when the gateway first accepted it


def derived_score_id(*parts: str) -> str:
    """A deterministic score id: ``sc_`` + 24 hex digits of SHA-1 over the parts joined by ``|``,
    the shape evaluation backends give their own score ids; whoever derives a score derives its id
    this way, so a replay yields the same id and the backend ignores the resend."""
    return "sc_" + hashlib.sha1("|".join(parts).encode()).hexdigest()[:24]
