"""Per-domain vector collections in Chroma: ingest documents, ask questions, compare instructions, rerank."""

from components import page
from components.views import search

search.render(page.setup("Search", "🔎"))
