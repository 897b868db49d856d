"""Chat completions through the official `openai` package (OPENAI_BASE_URL and OPENAI_API_KEY come
from the environment: in a run they point at the service's model proxy)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import openai


class BudgetExhausted(Exception):
    """The service refused the call: the run's model budget is used up."""


@dataclass
class Answer:
    plan: str
    code: str
    text: str


_CODE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def split_answer(text: str) -> Answer:
    """The plan (prose before the first code block) and the code (the longest python block)."""
    blocks = _CODE.findall(text)
    code = max(blocks, key=len).strip() if blocks else ""
    first = text.find("```")
    plan = (text[:first] if first >= 0 else text).strip()
    return Answer(plan=plan, code=code, text=text)


class Model:
    def __init__(self, model: str, temperature: float, timeout: float) -> None:
        # Retries are the proxy's job (it retries upstream 5xx); a 429 from a budget must not be retried.
        self.client = openai.OpenAI(max_retries=0, timeout=timeout)
        self.model = model
        self.temperature = temperature

    def ask(self, system: str, user: str) -> Answer:
        try:
            completion = self.client.chat.completions.create(
                model=self.model,
                temperature=self.temperature,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            )
        except openai.RateLimitError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error", body) if isinstance(body, dict) else {}
            if isinstance(error, dict) and error.get("type") == "budget_exhausted":
                raise BudgetExhausted(str(error.get("message", "model budget exhausted"))) from None
            raise
        return split_answer(completion.choices[0].message.content or "")
