"""OpenAI (and any OpenAI-compatible server) through AsyncOpenAI chat.completions streaming."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from ai_router.config import TimeoutConfig
from ai_router.providers.base import (
    CONTINUE_INSTRUCTION,
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
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
}


class OpenAIProvider:
    """Terminal event: a choice with `finish_reason` (the SDK swallows `[DONE]` itself)."""

    name = "openai"

    def __init__(
        self, *, api_key: str | None, base_url: str | None, timeouts: TimeoutConfig
    ) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url,
            max_retries=0,  # the router retries; never stack retries
            timeout=sdk_timeout(timeouts),
        )

    @staticmethod
    def messages(call: ProviderCall) -> list[ChatCompletionMessageParam]:
        msgs: list[dict[str, Any]] = []
        if call.system_prompt:
            msgs.append({"role": "system", "content": call.system_prompt})
        msgs.extend({"role": t.role, "content": t.content} for t in call.history)
        msgs.append({"role": "user", "content": call.message})
        if call.partial:
            msgs.append({"role": "assistant", "content": call.partial})
            msgs.append({"role": "user", "content": CONTINUE_INSTRUCTION})
        return cast(list[ChatCompletionMessageParam], msgs)

    async def stream(self, call: ProviderCall) -> AsyncGenerator[ProviderEvent, None]:
        try:
            stream = await self._client.chat.completions.create(
                model=call.model,
                messages=self.messages(call),
                max_completion_tokens=call.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
                temperature=call.temperature if call.temperature is not None else openai.omit,
                safety_identifier=call.user_id or openai.omit,
            )
        except Exception as exc:
            raise normalise_exception(self.name, exc) from None
        finish: FinishReason | None = None
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    yield ProviderUsage(
                        input_tokens=chunk.usage.prompt_tokens or 0,
                        output_tokens=chunk.usage.completion_tokens or 0,
                    )
                for choice in chunk.choices:
                    text = choice.delta.content if choice.delta is not None else None
                    if text:
                        yield text
                    if choice.finish_reason:
                        finish = _FINISH.get(choice.finish_reason, "other")
        except Exception as exc:
            raise normalise_exception(self.name, exc) from None
        finally:
            await stream.close()
        if finish is None:
            raise incomplete(self.name)
        yield ProviderFinish(finish)

    async def aclose(self) -> None:
        await self._client.close()
