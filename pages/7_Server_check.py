"""Check that the server really serves Qwen3-Embedding: identity, batching, truncation, dimensions, tokens."""

from components import page
from components.views import server_check

server_check.render(page.setup("Server check", "🩺"))
