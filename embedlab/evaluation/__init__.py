"""Retrieval evaluation on labelled sets: `datasets` (parsing, bundled sets), `metrics` (MTEB's
Recall@k, MRR@10, nDCG@10), `grid` (configurations planned, embedded once and scored), `report`
(tables, JSON, A vs B per query), `calibration` (similarity thresholds), `form` (the Evaluate
page's choices) and `cli` (`python -m embedlab.evaluate`)."""
