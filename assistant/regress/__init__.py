"""Prompt regression suite: golden cases, assertions, a runner, reports and `shopassist regress`."""
