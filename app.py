"""Home page of the Qwen3-Embedding playground."""

from components import page, resources
from components.views import home

ctx = page.setup("Home", "🏠")
resources.start_umap_warmup()  # compile UMAP in the background before anyone opens Clusters
home.render(ctx)
