"""Deep interest mining (MLIM): prompts, LLM backends, parsing, the mining cache."""
