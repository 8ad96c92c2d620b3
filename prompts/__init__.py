"""Versioned prompt templates (`<name>.v<version>.yaml`), shipped as package data.

Loaded by `assistant.prompts.PromptLibrary` with `importlib.resources`; this package holds no code.
"""
