"""Training infrastructure shared by the trainers: run folders, distributed, prefetch, recipes."""
