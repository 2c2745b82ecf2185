"""The `labkit eval …` runners: latent, motion, table, real photos, watermark."""
