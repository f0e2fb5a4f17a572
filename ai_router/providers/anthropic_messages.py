"""Anthropic through AsyncAnthropic messages streaming."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast

import anthropic
from anthropic.types import (
    MessageParam,
    RawContentBlockDeltaEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextDelta,
)

from ai_router.config import TimeoutConfig
from ai_router.providers.base import (
    ProviderCall,
    ProviderEvent,
    ProviderFinish,
    ProviderUsage,
    incomplete,
    normalise_exception,
    sdk_timeout,
)
from ai_router.results import FinishReason

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}


class AnthropicProvider:
    """Terminal event: `message_stop`. A continuation uses Claude's native assistant prefill
    (the partial text as the last assistant turn), which continues it without repeating."""

    name = "anthropic"

    def __init__(
        self, *, api_key: str | None, base_url: str | None, timeouts: TimeoutConfig
    ) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or "not-needed",
            base_url=base_url,
            max_retries=0,  # the router retries; never stack retries
            timeout=sdk_timeout(timeouts),
        )

    @staticmethod
    def messages(call: ProviderCall) -> list[MessageParam]:
        msgs: list[dict[str, Any]] = [{"role": t.role, "content": t.content} for t in call.history]
        msgs.append({"role": "user", "content": call.message})
        if call.partial and call.partial.rstrip():
            # The API rejects a final assistant turn ending in whitespace.
            msgs.append({"role": "assistant", "content": call.partial.rstrip()})
        return cast(list[MessageParam], msgs)

    async def stream(self, call: ProviderCall) -> AsyncGenerator[ProviderEvent, None]:
        try:
            stream = await self._client.messages.create(
                model=call.model,
                max_tokens=call.max_tokens,
                messages=self.messages(call),
                stream=True,
                system=call.system_prompt or anthropic.omit,
                metadata={"user_id": call.user_id} if call.user_id else anthropic.omit,
            )
        except Exception as exc:
            raise normalise_exception(self.name, exc) from None
        input_tokens = 0
        output_tokens: int | None = None
        finish: FinishReason = "other"
        stopped = False
        try:
            async for event in stream:
                if isinstance(event, RawContentBlockDeltaEvent):
                    if isinstance(event.delta, TextDelta) and event.delta.text:
                        yield event.delta.text
                elif isinstance(event, RawMessageStartEvent):
                    u = event.message.usage
                    input_tokens = (
                        (u.input_tokens or 0)
                        + (u.cache_creation_input_tokens or 0)
                        + (u.cache_read_input_tokens or 0)
                    )
                    output_tokens = u.output_tokens
                elif isinstance(event, RawMessageDeltaEvent):
                    output_tokens = event.usage.output_tokens
                    if event.usage.input_tokens:
                        input_tokens = max(input_tokens, event.usage.input_tokens)
                    if event.delta.stop_reason:
                        finish = _FINISH.get(event.delta.stop_reason, "other")
                elif isinstance(event, RawMessageStopEvent):
                    stopped = True
        except Exception as exc:
            raise normalise_exception(self.name, exc) from None
        finally:
            await stream.close()
        if not stopped:
            raise incomplete(self.name)
        if output_tokens is not None:
            yield ProviderUsage(input_tokens=input_tokens, output_tokens=output_tokens)
        yield ProviderFinish(finish)

    async def aclose(self) -> None:
        await self._client.close()
