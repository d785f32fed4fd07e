"""secret()/sharedSecret() on the step's worker (activities/step_secrets.py and
named_secrets.py): scoping of named secrets, and no value in what goes back to Temporal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.named_secrets import lookup_secret
from activities.step_secrets import LOG_FILTER, _Revealed, render_secret_fields
from contracts.steps import SecretFields, StepInput

TOKEN = "s3cr3t-Value-0123456789"


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    (tmp_path / "credentials.yaml").write_text(
        "credentials: []\n"
        "secrets:\n"
        f"- {{name: api, project: p, data: {{token: {TOKEN}, user: bot}}}}\n"
        "- {name: api, project: q, data: {token: other-project}}\n"
        f"- {{name: reg, shared: true, dataFiles: {{token: {tmp_path / 'token'}}}}}\n"
    )
    monkeypatch.setenv("GANTRY_CREDENTIALS_FILE", str(tmp_path / "credentials.yaml"))


def test_named_secrets_belong_to_their_project_or_are_shared():
    assert lookup_secret("p", "api", False) == {"token": TOKEN, "user": "bot"}
    assert lookup_secret("q", "api", False) == {"token": "other-project"}
    assert lookup_secret("r", "api", False) is None
    assert lookup_secret("p", "api", True) is None, "a project's secret is not a shared one"
    assert lookup_secret("p", "reg", True) == {"token": "from-a-file"}
    assert lookup_secret("p", "reg", False) is None, "secret() does not read the shared ones"


def step(config: dict, paths: list) -> StepInput:
    return StepInput(promotion="pr", project="p", stage="dev", alias="call", uses="http", config=config,
                     freight=[{"name": "f1"}], secrets=SecretFields(paths=paths, vars={"user": "me"}))


def test_the_worker_renders_only_the_listed_fields():
    input = step({"h": "Bearer ${{ secret('api').token }}", "u": "${{ vars.user }}-${{ sharedSecret('reg').token }}",
                  "keep": "${{ not rendered here }}"}, [["h"], ["u"]])
    revealed = _Revealed()
    out = render_secret_fields(input, revealed)
    assert out.config == {"h": f"Bearer {TOKEN}", "u": "me-from-a-file", "keep": "${{ not rendered here }}"}
    assert out.secrets is None
    assert input.config["h"].startswith("Bearer ${{"), "the workflow's input is not changed"
    assert revealed.scrub({"out": f"x{TOKEN}y", "list": ["bot"]}) == {"out": "x***y", "list": ["***"]}


def test_a_rendering_error_never_shows_the_value():
    input = step({"n": "${{ int(secret('api').token) }}"}, [["n"]])
    with pytest.raises(ApplicationError) as caught:
        render_secret_fields(input, _Revealed())
    assert TOKEN not in str(caught.value) and "***" in str(caught.value)
    assert caught.value.non_retryable and caught.value.type == "StepFailed"
    assert "config.n" in str(caught.value)


def test_log_lines_of_a_step_running_with_secrets_are_scrubbed(caplog: pytest.LogCaptureFixture):
    revealed = _Revealed()
    render_secret_fields(step({"u": "https://h/${{ secret('api').token }}"}, [["u"]]), revealed)
    logger = logging.getLogger("temporalio.activity")
    LOG_FILTER.running[id(revealed)] = revealed
    try:
        with caplog.at_level(logging.INFO, logger="temporalio.activity"):
            logger.info("http: GET %s -> %d", f"https://h/{TOKEN}", 200)
    finally:
        del LOG_FILTER.running[id(revealed)]
    with caplog.at_level(logging.INFO, logger="temporalio.activity"):
        logger.info("after: %s", "bot")
    assert [r.getMessage() for r in caplog.records] == ["http: GET https://h/*** -> 200", "after: bot"]
