"""Reading and writing the project's file formats: audio, video, manifests.

Sits just above `avss_bench.core`; every stage reads and writes files through here.
"""
