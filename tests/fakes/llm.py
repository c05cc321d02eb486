"""A local OpenAI-compatible chat server (the real protocol on 127.0.0.1) that counts what it is asked.

It plans (a JSON list of sub-questions made from the question), writes research notes (sentences
quoted from the numbered passages with their numbers, plus one invented sentence citing a number it
was not given, which the analyst must drop), summarises notes, and answers follow-ups. Calls are
counted per question and purpose, so a test can prove no model call was paid twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.fakes.serving import OpenAiRoute, serve_app

API_KEY = "sk-quarry-fake"


class FakeLlm(OpenAiRoute):
    def __init__(self, latency_s: tuple[float, float] = (0.05, 0.3)) -> None:
        super().__init__("/v1/chat/completions", API_KEY)
        self.latency_s = latency_s
        self.calls: Counter[str] = Counter()  # planning (and answering) calls per question
        self.synthesis_calls: Counter[str] = Counter()  # "question | sub-question" or "question | summary"

    async def answer(self, request: Request) -> JSONResponse:
        body = await request.json()
        text = "\n".join(m["content"] for m in body["messages"])
        system = body["messages"][0]["content"]
        question = _question(text)
        with self._lock:
            if "You write research notes" in system:
                self.synthesis_calls[f"{question} | {_field('Sub-question', text)}"] += 1
            elif "You summarise research notes" in system:
                self.synthesis_calls[f"{question} | summary"] += 1
            else:
                self.calls[question] += 1
        await asyncio.sleep(random.uniform(*self.latency_s))  # a model takes a while: widens the kill window
        subject = question.rstrip("?")
        plan = [question, f"What is {subject}?", f"Why does {subject} matter?"]
        content = json.dumps({"sub_questions": plan})
        if "follow-up question" in system:
            # An answer from numbered passages: one sentence citing the first, one citing nothing.
            content = f"The first passage answers {subject} [1]. Nothing else is known."
        elif "You write research notes" in system:
            content = _notes(_field("Sub-question", text), text) + " Also, the moon is made of cheese [99]."
        elif "You summarise research notes" in system:
            content = " ".join([line for line in text.splitlines() if re.search(r"\[\d+\]\.?$", line)][:3])
        prompt_tokens = len(text.split())
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": 30,
                    "total_tokens": prompt_tokens + 30,
                },
            }
        )


def _field(name: str, prompt: str) -> str:
    found = re.search(rf"{name}:\s*(?:<untrusted[^>]*>\s*)?(.+)", prompt)
    return found.group(1).strip() if found else ""


def _notes(sub_question: str, prompt: str) -> str:
    """Two prose sentences quoted from the numbered passages that share most words with the
    sub-question, each cited to its passage: what a careful model writes."""
    wanted = set(re.findall(r"[a-z]{3,}", sub_question.lower()))
    scored: list[tuple[int, int, str]] = []
    for number, body in re.findall(r"^\[(\d+)\] [^\n]*\n(.+?)(?=\n\n\[\d+\] |\Z)", prompt, re.S | re.M):
        for line in body.splitlines():
            for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
                words = set(re.findall(r"[a-z]{3,}", sentence.lower()))
                prose = not re.search(r"[|{}()=<>*`]|^[-#]", sentence) and sentence[:1].isupper()
                if prose and 6 <= len(sentence.split()) <= 40 and sentence.endswith("."):
                    scored.append((len(words & wanted), -int(number), f"{sentence[:-1]} [{number}]."))
    best = sorted(scored, reverse=True)[:2]
    return " ".join(text for _, _, text in best)


def _question(prompt: str) -> str:
    found = re.search(r"Question:\s*(?:<untrusted[^>]*>\s*)?(.+)", prompt)
    return (found.group(1) if found else prompt.splitlines()[-1]).strip()


@contextmanager
def serve(llm: FakeLlm) -> Iterator[str]:
    """Run the fake on a free loopback port; yields its base URL (…/v1)."""
    with serve_app(llm.app, "fake-llm") as url:
        yield url + "/v1"
