"""Evaluate: measure Recall@k, MRR@10 and nDCG@10 per instruction, input length, dimension and chunking."""

from components import page
from components.views import evaluate

evaluate.render(page.setup("Evaluate", "📏"))
