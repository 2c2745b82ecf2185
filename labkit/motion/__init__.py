"""The diffusion transformer over face motion (VASA-1 §3.2): denoiser, process, data, generator, training."""
