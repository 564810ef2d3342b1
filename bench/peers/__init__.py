"""Benchmark peers: every transport shmlink is measured against, with the
workers that drive them. Imported by bench/run.py and by the worker
processes it spawns (multiprocessing "spawn")."""
