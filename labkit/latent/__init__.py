"""The disentangled face latent space (VASA-1 §3.1): encoders, warps, generator, losses, data, training."""
