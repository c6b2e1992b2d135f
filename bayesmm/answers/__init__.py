"""bayesmm.answers"""
