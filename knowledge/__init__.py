"""The store-policy knowledge base (markdown, one file per topic), shipped as package data.

Indexed by `assistant.support.knowledge`, which finds the files with `importlib.resources`; this
package holds no code.
"""
