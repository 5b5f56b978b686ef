"""An LLM as one more rater: pre-rates pooled chunks through any OpenAI-compatible chat server.

Configured by `JUDGE_BASE_URL` and `JUDGE_MODEL` (and `JUDGE_API_KEY` when the server wants one),
from the environment or `.streamlit/secrets.toml`; without both, there is no LLM judge. Its grades
are kept as judgments of the rater "LLM judge · <model>" (kind "llm"), never mixed with people's:
results use people's grades unless the LLM judge is chosen as the source. Every prompt and raw
answer is stored with the grade read from it.

Request: POST {base}/v1/chat/completions with the system and user messages below, temperature 0,
and `chat_template_kwargs: {"enable_thinking": false}` (Qwen3 on vLLM / sglang answers without its
thinking block; a server refusing the field with HTTP 400 is asked again without it). A
`<think>…</think>` block in the answer is ignored. The grade is read from a JSON object
{"grade": 0|1|2, ...}, else from "grade: N", else from an answer that is one digit.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from embedlab.config import api_root, public_url, read_secrets
from embedlab.judgments import LLM_PREFIX, LLMCall, PoolItem
from embedlab.messages import N_, LocalizedError

ENV_KEYS = ("JUDGE_BASE_URL", "JUDGE_MODEL", "JUDGE_API_KEY")
MAX_PASSAGE_CHARS = 6000  # longer chunks are cut in the prompt (the cut is said in the prompt)
WORKERS = 4

SYSTEM_PROMPT = (
    "You rate search results for a relevance study of a company knowledge base. Given a search query and "
    "one passage returned for it, grade how well the passage serves the person who searched:\n"
    "2 = relevant: it answers the query or is exactly the passage they need;\n"
    "1 = partly relevant: on the topic and useful, but answers only part of it or needs other passages;\n"
    "0 = not relevant: another topic, or only shares words with the query.\n"
    'Reply with one JSON object and nothing else: {"grade": 0, 1 or 2, "reason": "<one short sentence>"}.'
)


class JudgeUnavailable(LocalizedError):
    """The chat server cannot be used at all (unreachable, refuses the key or model)."""


@dataclass(frozen=True)
class LLMJudgeSettings:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # sent to base_url only, never shown

    @property
    def rater(self) -> str:
        """The rater name its grades are kept under."""
        return f"{LLM_PREFIX} · {self.model}"

    @property
    def public_url(self) -> str:
        return public_url(self.base_url)


def judge_settings(env: Mapping[str, str] | None = None,
                   secrets: Mapping[str, Any] | None = None) -> LLMJudgeSettings | None:
    """The LLM judge's settings from the environment (then secrets.toml); None when JUDGE_BASE_URL
    or JUDGE_MODEL is missing."""
    if env is None:  # key by key: os.environ.get is atomic, a copy of the whole mapping is not
        env = {key: os.environ.get(key, "") for key in ENV_KEYS}
    if secrets is None:
        try:
            secrets = read_secrets()
        except ValueError:  # a broken secrets file is reported by the app's own settings
            secrets = {}
    values = {}
    for key in ENV_KEYS:
        raw = env.get(key) or secrets.get(key)
        values[key] = str(raw).strip() if raw not in (None, "") else None
    if not values["JUDGE_BASE_URL"] or not values["JUDGE_MODEL"]:
        return None
    return LLMJudgeSettings(values["JUDGE_BASE_URL"], values["JUDGE_MODEL"], values["JUDGE_API_KEY"])


def messages(query: str, passage: str, source: str = "") -> list[dict[str, str]]:
    """The chat messages sent for one (query, passage) pair."""
    cut = passage if len(passage) <= MAX_PASSAGE_CHARS else passage[:MAX_PASSAGE_CHARS]
    note = "" if cut is passage else f"\n[passage cut to its first {MAX_PASSAGE_CHARS} characters]"
    origin = f" (from {source})" if source else ""
    user = f"Query: {query}\n\nPassage{origin}:\n<<<\n{cut}\n>>>{note}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_GRADE_WORD = re.compile(r"grade\W{0,4}([012])\b", re.IGNORECASE)


def parse_grade(answer: str) -> int | None:
    """The grade in a chat answer, or None when it holds none that can be read."""
    text = _THINK.sub("", answer or "").strip()
    for candidate in _OBJECT.findall(text):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        grade = value.get("grade") if isinstance(value, dict) else None
        if isinstance(grade, int) and not isinstance(grade, bool) and grade in (0, 1, 2):
            return grade
        if isinstance(grade, str) and grade.strip() in ("0", "1", "2"):
            return int(grade.strip())
    found = _GRADE_WORD.search(text)
    if found:
        return int(found.group(1))
    return int(text) if text in ("0", "1", "2") else None


class LLMJudge:
    """Rates (query, passage) pairs through /v1/chat/completions with bounded timeouts."""

    def __init__(self, settings: LLMJudgeSettings, timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._thinking_switch = True  # send chat_template_kwargs until the server refuses it

    @property
    def url(self) -> str:
        return api_root(self.settings.base_url) + "/chat/completions"

    def _post(self, body: dict[str, Any]) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
        timeout = httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s))
        try:
            return httpx.post(self.url, json=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            raise JudgeUnavailable(N_("The LLM judge at {url} did not answer within {seconds} s."),
                                   url=self.settings.public_url, seconds=f"{self.timeout_s:.0f}") from None
        except httpx.HTTPError as exc:
            raise JudgeUnavailable(N_("Cannot reach the LLM judge at {url} ({error}). Is JUDGE_BASE_URL right?"),
                                   url=self.settings.public_url, error=type(exc).__name__) from None

    def rate(self, item: PoolItem) -> LLMCall:
        """The LLM's grade of one pooled chunk, with the prompt and raw answer.

        A bad answer (no readable grade, HTTP 4xx/5xx for this request) gives a call with grade
        None and the error; JudgeUnavailable when the server cannot be reached or refuses the key.
        """
        msgs = messages(item.query, item.text, item.source)
        body: dict[str, Any] = {"model": self.settings.model, "messages": msgs, "temperature": 0, "max_tokens": 200}
        switched = self._thinking_switch  # read once: other threads may turn it off meanwhile
        if switched:
            body["chat_template_kwargs"] = {"enable_thinking": False}
        resp = self._post(body)
        if resp.status_code == 400 and switched:
            self._thinking_switch = False  # an OpenAI-style server refusing the unknown field
            body.pop("chat_template_kwargs")
            resp = self._post(body)
        prompt = json.dumps(msgs, ensure_ascii=False)
        call = dict(query=item.query, chunk=item.chunk, rater=self.settings.rater, model=self.settings.model,
                    prompt=prompt)
        if resp.status_code in (401, 403):
            raise JudgeUnavailable(N_("The LLM judge refused the request (HTTP {status}): check JUDGE_API_KEY."),
                                   status=resp.status_code)
        if resp.status_code == 404:
            raise JudgeUnavailable(N_("{url} answered 404: no chat endpoint or no model {model}. "
                                      "Check JUDGE_BASE_URL and JUDGE_MODEL."),
                                   url=self.url, model=repr(self.settings.model))
        if resp.status_code >= 400:
            return LLMCall(**call, answer=resp.text[:2000], grade=None, error=f"HTTP {resp.status_code}")
        try:
            answer = resp.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            return LLMCall(**call, answer=resp.text[:2000], grade=None, error="not a chat completion answer")
        grade = parse_grade(answer)
        return LLMCall(**call, answer=answer, grade=grade, error="" if grade is not None else "no grade in the answer")


def rate_items(judge: LLMJudge, items: Sequence[PoolItem], record: Callable[[LLMCall], None],
               progress: Callable[[int, int], None] | None = None, workers: int = WORKERS) -> list[LLMCall]:
    """Rate `items` (a few requests in flight), calling `record(call)` for each as it arrives (to
    store it) and `progress(done, total)`. Stops at the first JudgeUnavailable, which is raised
    after the calls already made are recorded."""
    done: list[LLMCall] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(judge.rate, item) for item in items]
        failure: JudgeUnavailable | None = None
        for future in futures:
            try:
                call = future.result()
            except JudgeUnavailable as exc:
                failure = failure or exc
                for other in futures:
                    other.cancel()
                continue
            record(call)
            done.append(call)
            if progress:
                progress(len(done), len(items))
    if failure is not None:
        raise failure
    return done
