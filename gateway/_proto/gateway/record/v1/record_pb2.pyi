from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Batch(_message.Message):
    __slots__ = ("records", "scores", "ratings")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    RATINGS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    scores: _containers.RepeatedCompositeFieldContainer[Score]
    ratings: _containers.RepeatedCompositeFieldContainer[Rating]
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., scores: _Optional[_Iterable[_Union[Score, _Mapping]]] = ..., ratings: _Optional[_Iterable[_Union[Rating, _Mapping]]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("null_value", "bool_value", "int_value", "double_value", "string_value", "list_value", "map_value", "big_int_value", "bytes_value")
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAP_VALUE_FIELD_NUMBER: _ClassVar[int]
    BIG_INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BYTES_VALUE_FIELD_NUMBER: _ClassVar[int]
    null_value: bool
    bool_value: bool
    int_value: int
    double_value: float
    string_value: str
    list_value: ListValue
    map_value: MapValue
    big_int_value: str
    bytes_value: bytes
    def __init__(self, null_value: _Optional[bool] = ..., bool_value: _Optional[bool] = ..., int_value: _Optional[int] = ..., double_value: _Optional[float] = ..., string_value: _Optional[str] = ..., list_value: _Optional[_Union[ListValue, _Mapping]] = ..., map_value: _Optional[_Union[MapValue, _Mapping]] = ..., big_int_value: _Optional[str] = ..., bytes_value: _Optional[bytes] = ...) -> None: ...

class ListValue(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class MapValue(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: Value
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class StringEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class DoubleEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: float
    def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("kind", "id", "trace_id", "span_id", "parent_span_id", "name", "operation", "conversation_id", "conversation_title", "session_id", "user_id", "trace_name", "agent_name", "agent_version", "workflow_name", "workflow_run_id", "customer", "trace_metadata", "provider", "model", "response_id", "response_model", "stream", "start_ns", "end_ns", "ttft_ms", "status", "error_message", "error_type", "stop_reason", "max_tokens", "temperature", "top_p", "tool_choice", "thinking_enabled", "system_prompt", "input", "output", "tools", "artifacts", "usage", "cost_usd", "tags", "metadata", "environment", "sdk_version", "prompt_hash", "tools_used", "eval_scores", "parent_generation_ids", "effective_version", "tool_name", "tool_call_id", "tool_type", "tool_description", "tool_arguments_json", "tool_result_json", "framework", "input_state", "output_state", "linked_generation_ids", "parent_step_ids", "extra", "int_overflow")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_TITLE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_NAME_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TRACE_METADATA_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    THINKING_ENABLED_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_HASH_FIELD_NUMBER: _ClassVar[int]
    TOOLS_USED_FIELD_NUMBER: _ClassVar[int]
    EVAL_SCORES_FIELD_NUMBER: _ClassVar[int]
    PARENT_GENERATION_IDS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOOL_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TOOL_ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    INPUT_STATE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_STATE_FIELD_NUMBER: _ClassVar[int]
    LINKED_GENERATION_IDS_FIELD_NUMBER: _ClassVar[int]
    PARENT_STEP_IDS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    INT_OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    operation: str
    conversation_id: str
    conversation_title: str
    session_id: str
    user_id: str
    trace_name: str
    agent_name: str
    agent_version: str
    workflow_name: str
    workflow_run_id: str
    customer: Customer
    trace_metadata: _containers.RepeatedCompositeFieldContainer[StringEntry]
    provider: str
    model: str
    response_id: str
    response_model: str
    stream: bool
    start_ns: int
    end_ns: int
    ttft_ms: float
    status: str
    error_message: str
    error_type: str
    stop_reason: str
    max_tokens: int
    temperature: float
    top_p: float
    tool_choice: str
    thinking_enabled: bool
    system_prompt: str
    input: _containers.RepeatedCompositeFieldContainer[Message]
    output: _containers.RepeatedCompositeFieldContainer[Message]
    tools: _containers.RepeatedCompositeFieldContainer[ToolDefinition]
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    usage: Usage
    cost_usd: float
    tags: _containers.RepeatedCompositeFieldContainer[StringEntry]
    metadata: MapValue
    environment: str
    sdk_version: str
    prompt_hash: str
    tools_used: _containers.RepeatedScalarFieldContainer[str]
    eval_scores: _containers.RepeatedCompositeFieldContainer[DoubleEntry]
    parent_generation_ids: _containers.RepeatedScalarFieldContainer[str]
    effective_version: str
    tool_name: str
    tool_call_id: str
    tool_type: str
    tool_description: str
    tool_arguments_json: bytes
    tool_result_json: bytes
    framework: str
    input_state: MapValue
    output_state: MapValue
    linked_generation_ids: _containers.RepeatedScalarFieldContainer[str]
    parent_step_ids: _containers.RepeatedScalarFieldContainer[str]
    extra: MapValue
    int_overflow: _containers.RepeatedCompositeFieldContainer[StringEntry]
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., name: _Optional[str] = ..., operation: _Optional[str] = ..., conversation_id: _Optional[str] = ..., conversation_title: _Optional[str] = ..., session_id: _Optional[str] = ..., user_id: _Optional[str] = ..., trace_name: _Optional[str] = ..., agent_name: _Optional[str] = ..., agent_version: _Optional[str] = ..., workflow_name: _Optional[str] = ..., workflow_run_id: _Optional[str] = ..., customer: _Optional[_Union[Customer, _Mapping]] = ..., trace_metadata: _Optional[_Iterable[_Union[StringEntry, _Mapping]]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., response_id: _Optional[str] = ..., response_model: _Optional[str] = ..., stream: _Optional[bool] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., ttft_ms: _Optional[float] = ..., status: _Optional[str] = ..., error_message: _Optional[str] = ..., error_type: _Optional[str] = ..., stop_reason: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., tool_choice: _Optional[str] = ..., thinking_enabled: _Optional[bool] = ..., system_prompt: _Optional[str] = ..., input: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., output: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., tools: _Optional[_Iterable[_Union[ToolDefinition, _Mapping]]] = ..., artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., tags: _Optional[_Iterable[_Union[StringEntry, _Mapping]]] = ..., metadata: _Optional[_Union[MapValue, _Mapping]] = ..., environment: _Optional[str] = ..., sdk_version: _Optional[str] = ..., prompt_hash: _Optional[str] = ..., tools_used: _Optional[_Iterable[str]] = ..., eval_scores: _Optional[_Iterable[_Union[DoubleEntry, _Mapping]]] = ..., parent_generation_ids: _Optional[_Iterable[str]] = ..., effective_version: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., tool_type: _Optional[str] = ..., tool_description: _Optional[str] = ..., tool_arguments_json: _Optional[bytes] = ..., tool_result_json: _Optional[bytes] = ..., framework: _Optional[str] = ..., input_state: _Optional[_Union[MapValue, _Mapping]] = ..., output_state: _Optional[_Union[MapValue, _Mapping]] = ..., linked_generation_ids: _Optional[_Iterable[str]] = ..., parent_step_ids: _Optional[_Iterable[str]] = ..., extra: _Optional[_Union[MapValue, _Mapping]] = ..., int_overflow: _Optional[_Iterable[_Union[StringEntry, _Mapping]]] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("id", "name", "image_url")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    image_url: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., image_url: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("role", "parts", "name")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    role: str
    parts: _containers.RepeatedCompositeFieldContainer[Part]
    name: str
    def __init__(self, role: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[Part, _Mapping]]] = ..., name: _Optional[str] = ...) -> None: ...

class Part(_message.Message):
    __slots__ = ("kind", "text", "provider_type", "tool_call_id", "tool_name", "tool_input_json", "tool_result_content", "tool_result_json", "is_error", "media_kind", "media_url", "media_mime_type", "media_name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_CONTENT_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    IS_ERROR_FIELD_NUMBER: _ClassVar[int]
    MEDIA_KIND_FIELD_NUMBER: _ClassVar[int]
    MEDIA_URL_FIELD_NUMBER: _ClassVar[int]
    MEDIA_MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    text: str
    provider_type: str
    tool_call_id: str
    tool_name: str
    tool_input_json: bytes
    tool_result_content: str
    tool_result_json: bytes
    is_error: bool
    media_kind: str
    media_url: str
    media_mime_type: str
    media_name: str
    def __init__(self, kind: _Optional[str] = ..., text: _Optional[str] = ..., provider_type: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_input_json: _Optional[bytes] = ..., tool_result_content: _Optional[str] = ..., tool_result_json: _Optional[bytes] = ..., is_error: _Optional[bool] = ..., media_kind: _Optional[str] = ..., media_url: _Optional[str] = ..., media_mime_type: _Optional[str] = ..., media_name: _Optional[str] = ...) -> None: ...

class ToolDefinition(_message.Message):
    __slots__ = ("name", "description", "type", "input_schema_json", "deferred")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    type: str
    input_schema_json: bytes
    deferred: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., type: _Optional[str] = ..., input_schema_json: _Optional[bytes] = ..., deferred: _Optional[bool] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens", "cache_write_input_tokens", "reasoning_tokens", "image_count", "web_search_count", "request_count", "input_includes_cache")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    WEB_SEARCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_INCLUDES_CACHE_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    reasoning_tokens: int
    image_count: int
    web_search_count: int
    request_count: int
    input_includes_cache: bool
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ..., cache_write_input_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., image_count: _Optional[int] = ..., web_search_count: _Optional[int] = ..., request_count: _Optional[int] = ..., input_includes_cache: _Optional[bool] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("kind", "name", "content_type", "payload", "record_id", "uri")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    kind: int
    name: str
    content_type: str
    payload: bytes
    record_id: str
    uri: str
    def __init__(self, kind: _Optional[int] = ..., name: _Optional[str] = ..., content_type: _Optional[str] = ..., payload: _Optional[bytes] = ..., record_id: _Optional[str] = ..., uri: _Optional[str] = ...) -> None: ...

class Score(_message.Message):
    __slots__ = ("id", "generation_id", "evaluator_id", "evaluator_version", "key", "value", "passed", "explanation", "metadata", "created_ns", "conversation_id", "trace_id", "span_id", "rule_id", "run_id", "experiment_id", "trial_id", "test_case_id", "grader_conversation_id", "grader_generation_id", "grader_trace_id", "source_kind", "source_id", "int_overflow")
    ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATOR_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_NS_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    TEST_CASE_ID_FIELD_NUMBER: _ClassVar[int]
    GRADER_CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    GRADER_GENERATION_ID_FIELD_NUMBER: _ClassVar[int]
    GRADER_TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    INT_OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    id: str
    generation_id: str
    evaluator_id: str
    evaluator_version: str
    key: str
    value: Value
    passed: bool
    explanation: str
    metadata: MapValue
    created_ns: int
    conversation_id: str
    trace_id: str
    span_id: str
    rule_id: str
    run_id: str
    experiment_id: str
    trial_id: str
    test_case_id: str
    grader_conversation_id: str
    grader_generation_id: str
    grader_trace_id: str
    source_kind: str
    source_id: str
    int_overflow: _containers.RepeatedCompositeFieldContainer[StringEntry]
    def __init__(self, id: _Optional[str] = ..., generation_id: _Optional[str] = ..., evaluator_id: _Optional[str] = ..., evaluator_version: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., passed: _Optional[bool] = ..., explanation: _Optional[str] = ..., metadata: _Optional[_Union[MapValue, _Mapping]] = ..., created_ns: _Optional[int] = ..., conversation_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., rule_id: _Optional[str] = ..., run_id: _Optional[str] = ..., experiment_id: _Optional[str] = ..., trial_id: _Optional[str] = ..., test_case_id: _Optional[str] = ..., grader_conversation_id: _Optional[str] = ..., grader_generation_id: _Optional[str] = ..., grader_trace_id: _Optional[str] = ..., source_kind: _Optional[str] = ..., source_id: _Optional[str] = ..., int_overflow: _Optional[_Iterable[_Union[StringEntry, _Mapping]]] = ...) -> None: ...

class Rating(_message.Message):
    __slots__ = ("id", "conversation_id", "value", "comment", "metadata", "generation_id", "rater_id", "source", "created_ns", "int_overflow")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    GENERATION_ID_FIELD_NUMBER: _ClassVar[int]
    RATER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_NS_FIELD_NUMBER: _ClassVar[int]
    INT_OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    id: str
    conversation_id: str
    value: str
    comment: str
    metadata: MapValue
    generation_id: str
    rater_id: str
    source: str
    created_ns: int
    int_overflow: _containers.RepeatedCompositeFieldContainer[StringEntry]
    def __init__(self, id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., value: _Optional[str] = ..., comment: _Optional[str] = ..., metadata: _Optional[_Union[MapValue, _Mapping]] = ..., generation_id: _Optional[str] = ..., rater_id: _Optional[str] = ..., source: _Optional[str] = ..., created_ns: _Optional[int] = ..., int_overflow: _Optional[_Iterable[_Union[StringEntry, _Mapping]]] = ...) -> None: ...
