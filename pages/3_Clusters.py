"""UMAP maps of a corpus with and without an instruction: do the topics separate, and does the instruction help?"""

from components import page
from components.views import clusters

clusters.render(page.setup("Clusters", "🗺️"))
