import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerationMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GENERATION_MODE_UNSPECIFIED: _ClassVar[GenerationMode]
    GENERATION_MODE_SYNC: _ClassVar[GenerationMode]
    GENERATION_MODE_STREAM: _ClassVar[GenerationMode]

class MessageRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_ROLE_UNSPECIFIED: _ClassVar[MessageRole]
    MESSAGE_ROLE_USER: _ClassVar[MessageRole]
    MESSAGE_ROLE_ASSISTANT: _ClassVar[MessageRole]
    MESSAGE_ROLE_TOOL: _ClassVar[MessageRole]

class TokenInputSemantics(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_INPUT_SEMANTICS_UNSPECIFIED: _ClassVar[TokenInputSemantics]
    TOKEN_INPUT_SEMANTICS_INCLUSIVE: _ClassVar[TokenInputSemantics]

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_KIND_UNSPECIFIED: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_REQUEST: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_RESPONSE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_TOOLS: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_PROVIDER_EVENT: _ClassVar[ArtifactKind]
GENERATION_MODE_UNSPECIFIED: GenerationMode
GENERATION_MODE_SYNC: GenerationMode
GENERATION_MODE_STREAM: GenerationMode
MESSAGE_ROLE_UNSPECIFIED: MessageRole
MESSAGE_ROLE_USER: MessageRole
MESSAGE_ROLE_ASSISTANT: MessageRole
MESSAGE_ROLE_TOOL: MessageRole
TOKEN_INPUT_SEMANTICS_UNSPECIFIED: TokenInputSemantics
TOKEN_INPUT_SEMANTICS_INCLUSIVE: TokenInputSemantics
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_KIND_REQUEST: ArtifactKind
ARTIFACT_KIND_RESPONSE: ArtifactKind
ARTIFACT_KIND_TOOLS: ArtifactKind
ARTIFACT_KIND_PROVIDER_EVENT: ArtifactKind

class ExportGenerationsRequest(_message.Message):
    __slots__ = ("generations",)
    GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    generations: _containers.RepeatedCompositeFieldContainer[Generation]
    def __init__(self, generations: _Optional[_Iterable[_Union[Generation, _Mapping]]] = ...) -> None: ...

class ExportGenerationsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExportGenerationResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ExportGenerationResult, _Mapping]]] = ...) -> None: ...

class ExportGenerationResult(_message.Message):
    __slots__ = ("generation_id", "accepted", "error")
    GENERATION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    generation_id: str
    accepted: bool
    error: str
    def __init__(self, generation_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("provider", "name")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    provider: str
    name: str
    def __init__(self, provider: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class PartMetadata(_message.Message):
    __slots__ = ("provider_type",)
    PROVIDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    provider_type: str
    def __init__(self, provider_type: _Optional[str] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "input_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    input_json: bytes
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., input_json: _Optional[bytes] = ...) -> None: ...

class ToolResult(_message.Message):
    __slots__ = ("tool_call_id", "name", "content", "content_json", "is_error")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_JSON_FIELD_NUMBER: _ClassVar[int]
    IS_ERROR_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    name: str
    content: str
    content_json: bytes
    is_error: bool
    def __init__(self, tool_call_id: _Optional[str] = ..., name: _Optional[str] = ..., content: _Optional[str] = ..., content_json: _Optional[bytes] = ..., is_error: _Optional[bool] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("kind", "url", "mime_type", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    url: str
    mime_type: str
    name: str
    def __init__(self, kind: _Optional[str] = ..., url: _Optional[str] = ..., mime_type: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Part(_message.Message):
    __slots__ = ("metadata", "text", "thinking", "tool_call", "tool_result", "media")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    THINKING_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    metadata: PartMetadata
    text: str
    thinking: str
    tool_call: ToolCall
    tool_result: ToolResult
    media: Media
    def __init__(self, metadata: _Optional[_Union[PartMetadata, _Mapping]] = ..., text: _Optional[str] = ..., thinking: _Optional[str] = ..., tool_call: _Optional[_Union[ToolCall, _Mapping]] = ..., tool_result: _Optional[_Union[ToolResult, _Mapping]] = ..., media: _Optional[_Union[Media, _Mapping]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("role", "name", "parts")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    role: MessageRole
    name: str
    parts: _containers.RepeatedCompositeFieldContainer[Part]
    def __init__(self, role: _Optional[_Union[MessageRole, str]] = ..., name: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[Part, _Mapping]]] = ...) -> None: ...

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

class TokenUsage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens", "cache_write_input_tokens", "reasoning_tokens", "cache_creation_input_tokens", "input_semantics")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SEMANTICS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    reasoning_tokens: int
    cache_creation_input_tokens: int
    input_semantics: TokenInputSemantics
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ..., cache_write_input_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_creation_input_tokens: _Optional[int] = ..., input_semantics: _Optional[_Union[TokenInputSemantics, str]] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("kind", "name", "content_type", "payload", "record_id", "uri")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    kind: ArtifactKind
    name: str
    content_type: str
    payload: bytes
    record_id: str
    uri: str
    def __init__(self, kind: _Optional[_Union[ArtifactKind, str]] = ..., name: _Optional[str] = ..., content_type: _Optional[str] = ..., payload: _Optional[bytes] = ..., record_id: _Optional[str] = ..., uri: _Optional[str] = ...) -> None: ...

class Generation(_message.Message):
    __slots__ = ("id", "conversation_id", "operation_name", "mode", "trace_id", "span_id", "model", "response_id", "response_model", "system_prompt", "input", "output", "tools", "usage", "stop_reason", "started_at", "completed_at", "tags", "metadata", "raw_artifacts", "call_error", "agent_name", "agent_version", "max_tokens", "temperature", "top_p", "tool_choice", "thinking_enabled", "parent_generation_ids", "effective_version")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    RAW_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    CALL_ERROR_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    THINKING_ENABLED_FIELD_NUMBER: _ClassVar[int]
    PARENT_GENERATION_IDS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    conversation_id: str
    operation_name: str
    mode: GenerationMode
    trace_id: str
    span_id: str
    model: ModelRef
    response_id: str
    response_model: str
    system_prompt: str
    input: _containers.RepeatedCompositeFieldContainer[Message]
    output: _containers.RepeatedCompositeFieldContainer[Message]
    tools: _containers.RepeatedCompositeFieldContainer[ToolDefinition]
    usage: TokenUsage
    stop_reason: str
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    tags: _containers.ScalarMap[str, str]
    metadata: _struct_pb2.Struct
    raw_artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    call_error: str
    agent_name: str
    agent_version: str
    max_tokens: int
    temperature: float
    top_p: float
    tool_choice: str
    thinking_enabled: bool
    parent_generation_ids: _containers.RepeatedScalarFieldContainer[str]
    effective_version: str
    def __init__(self, id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., operation_name: _Optional[str] = ..., mode: _Optional[_Union[GenerationMode, str]] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., model: _Optional[_Union[ModelRef, _Mapping]] = ..., response_id: _Optional[str] = ..., response_model: _Optional[str] = ..., system_prompt: _Optional[str] = ..., input: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., output: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., tools: _Optional[_Iterable[_Union[ToolDefinition, _Mapping]]] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., stop_reason: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tags: _Optional[_Mapping[str, str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., raw_artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., call_error: _Optional[str] = ..., agent_name: _Optional[str] = ..., agent_version: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., tool_choice: _Optional[str] = ..., thinking_enabled: _Optional[bool] = ..., parent_generation_ids: _Optional[_Iterable[str]] = ..., effective_version: _Optional[str] = ...) -> None: ...

class ExportWorkflowStepsRequest(_message.Message):
    __slots__ = ("workflow_steps",)
    WORKFLOW_STEPS_FIELD_NUMBER: _ClassVar[int]
    workflow_steps: _containers.RepeatedCompositeFieldContainer[WorkflowStep]
    def __init__(self, workflow_steps: _Optional[_Iterable[_Union[WorkflowStep, _Mapping]]] = ...) -> None: ...

class ExportWorkflowStepsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExportWorkflowStepResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ExportWorkflowStepResult, _Mapping]]] = ...) -> None: ...

class ExportWorkflowStepResult(_message.Message):
    __slots__ = ("step_id", "accepted", "error")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    step_id: str
    accepted: bool
    error: str
    def __init__(self, step_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class WorkflowStep(_message.Message):
    __slots__ = ("id", "conversation_id", "step_name", "framework", "started_at", "completed_at", "input_state", "output_state", "error", "tags", "linked_generation_ids", "parent_step_ids", "agent_name", "agent_version", "trace_id", "span_id", "metadata")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    INPUT_STATE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    LINKED_GENERATION_IDS_FIELD_NUMBER: _ClassVar[int]
    PARENT_STEP_IDS_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    conversation_id: str
    step_name: str
    framework: str
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    input_state: _struct_pb2.Struct
    output_state: _struct_pb2.Struct
    error: str
    tags: _containers.ScalarMap[str, str]
    linked_generation_ids: _containers.RepeatedScalarFieldContainer[str]
    parent_step_ids: _containers.RepeatedScalarFieldContainer[str]
    agent_name: str
    agent_version: str
    trace_id: str
    span_id: str
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., step_name: _Optional[str] = ..., framework: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., input_state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., output_state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., error: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., linked_generation_ids: _Optional[_Iterable[str]] = ..., parent_step_ids: _Optional[_Iterable[str]] = ..., agent_name: _Optional[str] = ..., agent_version: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
