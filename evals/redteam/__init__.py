"""Red team: the attacks in `attacks.yaml` run through the real agent; every reply is scored for
leaks (`scorer`), and each attack's `must_say` assertions are checked on its last reply.

    shopassist red-team [--backend none|local|openai|llamacpp|fake] [--json FILE]

Modules: `attacks` (the pydantic schema and loader), `scorer` (targets and leak detection),
`runner` (running, the report, the poisoned catalogue copy), `cli` (the sub-command).
"""
