"""LLM hooks of the llm_question example: every question asked, and how it ended, in llf_results.llm_answers.

Enable with LLF_LLM_HOOKS=answer_hooks:AnswerTableHook (the notebook does it from its `llm_hooks` parameter);
the module is importable because a notebook's kernel runs in the notebook's folder. The table is created by
control_sql/examples/05_llm_question.sql; rows are written through nb.sql (the control DB, LLF_CONTROL_DB_URL).
"""

from __future__ import annotations

from llf import notebook as nb
from llf.context import RunContext
from llf.services.llm.hooks import LlmCall

TABLE = "llf_results.llm_answers"


class AnswerTableHook:
    """Before a chat call: a row ASKED with the question. After it: ANSWERED with the answer and its tokens.
    When it raises: FAILED with the error (the error then goes on and fails the notebook)."""

    def before(self, call: LlmCall) -> None:
        if call.operation != "chat":
            return
        run = call.run
        nb.sql(
            f"INSERT INTO {TABLE} (run_id, log_id, prcs_nm, business_date, request_key, model, question, status)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 'ASKED') ON CONFLICT (run_id, request_key) DO UPDATE"
            " SET status = 'ASKED', answer = NULL, error = NULL, asked_ts = now(), done_ts = NULL",
            (run.run_id, run.log_id, run.prcs_nm, run.business_date, call.key, call.model,
             call.request["messages"][-1]["content"]),
        )

    def after(self, call: LlmCall) -> None:
        if call.operation != "chat":
            return
        usage = call.usage
        nb.sql(
            f"UPDATE {TABLE} SET status = 'ANSWERED', answer = %s, prompt_tokens = %s, completion_tokens = %s,"
            " cache_hit = %s, done_ts = now() WHERE run_id = %s AND request_key = %s",
            (str(call.result), usage.prompt_tokens, usage.completion_tokens, usage.cache_hit,
             call.run.run_id, call.key),
        )

    def failed(self, call: LlmCall) -> None:
        if call.operation != "chat":
            return
        nb.sql(
            f"UPDATE {TABLE} SET status = 'FAILED', error = %s, done_ts = now() WHERE run_id = %s AND request_key = %s",
            (f"{type(call.error).__name__}: {call.error}", call.run.run_id, call.key),
        )


def answers(run: RunContext) -> list[tuple]:
    """The run's rows: (question, status, answer, error)."""
    return nb.sql(
        f"SELECT question, status, answer, error FROM {TABLE} WHERE run_id = %s ORDER BY answer_id", (run.run_id,)
    )
