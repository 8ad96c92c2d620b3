"""Red team: the attacks in `attacks.yaml` (the Superstore demo store) run through the real agent;
every reply is scored for leaks (`scorer`), and each attack's `must_say` assertions are checked
on its last reply. On the retail store, which acts on orders through chat, `actions.yaml` tries
to abuse the actions, and is scored on outcomes: the store's state and the action log after every
turn (`outcome`).

    shopassist red-team [--backend none|local|openai|llamacpp|fake] [--attacks FILE] [--json FILE]

Modules: `attacks` (the pydantic schema and loader), `scorer` (targets and leak detection),
`runner` (running, the report, private and poisoned catalogue copies), `retail_targets` (the
retail store's real targets and its poisoned data), `outcome` (scoring on the store's state and
the action log), `action_runner` (running action abuse), `cli` (the sub-command, which picks the
suite by `SHOPASSIST_CATALOGUE`).
"""
