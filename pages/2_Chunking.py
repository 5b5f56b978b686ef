"""Chunking: see how long texts are tokenized, cut into chunks and matched against a query."""

from components import page
from components.views import chunking

chunking.render(page.setup("Chunking", "✂️"))
