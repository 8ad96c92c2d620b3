"""Evaluations, outside the installed package: the prompt regression suite (`evals.regress`) and
the red team (`evals.redteam`), each data (YAML) plus a runner, sharing one assertion library
(`evals.assertions`). `shopassist regress` and `shopassist red-team` import them lazily, so they
work from a source checkout only."""
