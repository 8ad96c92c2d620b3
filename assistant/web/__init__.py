"""Web front ends: the HTTP API, the Gradio UI, the support widget and shopper tokens."""
