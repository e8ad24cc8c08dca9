"""The generative recommender: SID vocabulary, T5 model, SFT task data and trainer, decoding."""
