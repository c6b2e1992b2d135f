"""bayesmm.sampler"""
