"""Judge: rate pooled search results blind and see whether an instruction or shorter inputs help your own retrieval."""

from components import page
from components.views import judge

judge.render(page.setup("Judge", "⚖️"))
