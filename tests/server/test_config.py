"""Settings: production refuses to start without its secrets; dev secrets are generated once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from server.config import Settings


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_requires_mongodb_url_and_a_strong_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="MONGODB_URL is required"):
        _settings(environment="production", jwt_secret="s" * 40)
    with pytest.raises(ValidationError, match="JWT_SECRET is required"):
        _settings(environment="production", mongodb_url="mongodb://db:27017")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        _settings(environment="production", mongodb_url="mongodb://db:27017", jwt_secret="short")
    ok = _settings(environment="production", mongodb_url="mongodb://db", jwt_secret="s" * 32)
    assert ok.is_production


def test_lists_from_the_environment_and_no_wildcard_origin() -> None:
    settings = _settings(
        cors_origins="https://app.example, https://m.example", ai_providers="OpenAI, offline"
    )
    assert settings.cors_origins == ["https://app.example", "https://m.example"]
    assert settings.ai_providers == ["openai", "offline"]
    with pytest.raises(ValidationError):
        _settings(cors_origins="*")
    with pytest.raises(ValidationError):
        _settings(ai_providers="openai,skynet")


def test_dev_jwt_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = _settings(data_dir=tmp_path / "data")
    first = settings.resolved_jwt_secret()
    assert len(first.encode()) >= 32
    path = tmp_path / "data" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _settings(data_dir=tmp_path / "data").resolved_jwt_secret() == first


def test_server_refuses_to_start_in_production_without_mongodb(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"MONGODB_URL", "JWT_SECRET"}}
    env.update({"ENVIRONMENT": "production", "JWT_SECRET": "do-not-print-" + "z" * 40})
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "MONGODB_URL is required" in result.stderr
    assert "do-not-print" not in result.stderr + result.stdout


def test_chat_limits_are_validated_and_the_budget_can_be_switched_off() -> None:
    for off in ("none", "", "off"):
        settings = Settings(_env_file=None, ai_daily_budget_usd=off)  # type: ignore[call-arg]
        assert settings.ai_daily_budget_usd is None
    assert Settings(_env_file=None).ai_daily_budget_usd == 1.0  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="rate limit"):
        Settings(_env_file=None, chat_rate_limit="lots")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, ai_daily_budget_usd="-1")  # type: ignore[call-arg]
