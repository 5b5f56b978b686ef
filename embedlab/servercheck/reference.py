"""What Qwen3-Embedding-0.6B as published gives: its sizes, its context and the model card's example
scores, the facts the server check compares a server with."""

from __future__ import annotations

from embedlab.instructions import DEFAULT_TASK

MODEL_CONTEXT = 32_768  # tokens Qwen3-Embedding accepts, the end-of-text token included
FULL_DIM = 1024  # Qwen3-Embedding-0.6B
OTHER_SIZES = {2560: "Qwen3-Embedding-4B", 4096: "Qwen3-Embedding-8B"}

# The model card's example (Qwen/Qwen3-Embedding-0.6B): instructed queries, plain documents.
REFERENCE_TASK = DEFAULT_TASK
REFERENCE_QUERIES = ("What is the capital of China?", "Explain gravity")
REFERENCE_DOCUMENTS = (
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other. It gives weight to physical "
    "objects and is responsible for the movement of planets around the sun.",
)
REFERENCE_SCORES = ((0.7646, 0.1414), (0.1355, 0.6000))  # published: queries x documents
VLLM_SCORES = ((0.7620, 0.1408), (0.1358, 0.6014))  # a correct vLLM, for scale
HELLO_TEXT = "hello world"
HELLO_HEAD = (-0.02225659, 0.01872586, -0.01449341, -0.08536665, 0.01223033)  # normalised, 1024-d
