"""Learned instruments and their trainers: LabSync (S_C, S_D), CAPP, the clip encoder, SyncNet."""
