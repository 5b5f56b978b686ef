"""Maps of embedding vectors: `umap` (fit and place queries), `neighbours` (exact cosine kNN),
`clustering` (clusters and separation measures) and `mapdata` (what the Clusters page maps)."""
