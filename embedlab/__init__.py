"""Logic of the Qwen3-Embedding playground: embedding backends, caching, maths and figures.

This package never imports streamlit; the app's pages and components call into it.
"""
