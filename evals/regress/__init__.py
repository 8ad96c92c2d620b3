"""Prompt regression suite: golden cases (`cases/*.yaml`), a runner, reports, the checked-in
`baseline.json` and `shopassist regress`."""
