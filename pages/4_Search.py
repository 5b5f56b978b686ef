"""Per-domain vector collections (Chroma or Milvus): ingest documents, ask questions, compare instructions, rerank."""

from components import page
from components.views import search

search.render(page.setup("Search", "🔎"))
