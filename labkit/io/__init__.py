"""Media and files in and out: audio, video, checkpoints, atomic writes, the shipped-weights registry."""
