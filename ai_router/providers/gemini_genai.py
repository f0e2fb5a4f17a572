"""Gemini through google-genai `client.aio.models.generate_content_stream`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextvars import ContextVar
from typing import Any

import httpx2
from google import genai
from google.genai import types

from ai_router.config import TimeoutConfig
from ai_router.providers.base import (
    CONTINUE_INSTRUCTION,
    ProviderCall,
    ProviderEvent,
    ProviderFinish,
    ProviderUsage,
    incomplete,
    normalise_exception,
)
from ai_router.results import FinishReason

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "BLOCKLIST": "content_filter",
    "SPII": "content_filter",
    "RECITATION": "content_filter",
}


# Responses opened by the current task's call. google-genai's stream is a chain of async
# generators in a reference cycle, so closing the outer one leaves the HTTP response open
# until the GC runs; an httpx2 response hook lets us close it ourselves, promptly.
_open_responses: ContextVar[list[httpx2.Response] | None] = ContextVar(
    "ai_router_gemini_responses", default=None
)


async def _remember_response(response: httpx2.Response) -> None:
    slot = _open_responses.get()
    if slot is not None:
        slot.append(response)


class GeminiProvider:
    """Terminal event: a candidate with `finishReason`. SDK retries are off via
    `HttpRetryOptions(attempts=1)` (which also disables its implicit reconnect) and
    `automatic_continuation=False` (no SDK-side resume hops)."""

    name = "gemini"

    def __init__(
        self, *, api_key: str | None, base_url: str | None, timeouts: TimeoutConfig
    ) -> None:
        self._http = httpx2.AsyncClient(
            timeout=httpx2.Timeout(
                connect=timeouts.connect_s,
                read=max(timeouts.first_token_s, timeouts.idle_s) + 1.0,
                write=timeouts.connect_s + 5.0,
                pool=timeouts.connect_s,
            ),
            event_hooks={"response": [_remember_response]},
        )
        options = types.HttpOptions(
            base_url=base_url,
            httpx_async_client=self._http,
            # google-genai applies one float to every httpx phase; a backstop only.
            timeout=int((max(timeouts.first_token_s, timeouts.idle_s) + 1.0) * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=api_key or "not-needed", http_options=options)

    @staticmethod
    def contents(call: ProviderCall) -> list[types.Content]:
        out = [
            types.Content(
                role="model" if t.role == "assistant" else "user",
                parts=[types.Part(text=t.content)],
            )
            for t in call.history
        ]
        out.append(types.Content(role="user", parts=[types.Part(text=call.message)]))
        if call.partial:
            out.append(types.Content(role="model", parts=[types.Part(text=call.partial)]))
            out.append(types.Content(role="user", parts=[types.Part(text=CONTINUE_INSTRUCTION)]))
        return out

    async def stream(self, call: ProviderCall) -> AsyncGenerator[ProviderEvent, None]:
        cfg: dict[str, Any] = {
            "max_output_tokens": call.max_tokens,
            "automatic_continuation": False,
        }
        if call.system_prompt:
            cfg["system_instruction"] = call.system_prompt
        if call.temperature is not None:
            cfg["temperature"] = call.temperature
        responses: list[httpx2.Response] = []
        _open_responses.set(responses)
        try:
            stream = await self._client.aio.models.generate_content_stream(
                model=call.model,
                contents=self.contents(call),  # type: ignore[arg-type]
                config=types.GenerateContentConfig(**cfg),
            )
        except Exception as exc:
            raise normalise_exception(self.name, exc) from None
        finish: FinishReason | None = None
        usage: ProviderUsage | None = None
        try:
            async for chunk in stream:
                if chunk.usage_metadata is not None:
                    um = chunk.usage_metadata
                    usage = ProviderUsage(
                        input_tokens=um.prompt_token_count or 0,
                        output_tokens=(um.candidates_token_count or 0)
                        + (um.thoughts_token_count or 0),
                    )
                for cand in chunk.candidates or ():
                    if cand.content is not None:
                        for part in cand.content.parts or ():
                            if part.text and not part.thought:
                                yield part.text
                    if cand.finish_reason is not None:
                        name = getattr(cand.finish_reason, "value", str(cand.finish_reason))
                        finish = _FINISH.get(name, "other")
        except Exception as exc:
            raise normalise_exception(self.name, exc) from None
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            for response in responses:
                await response.aclose()
        if finish is None:
            raise incomplete(self.name)
        if usage is not None:
            yield usage
        yield ProviderFinish(finish)

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self._http.aclose()
