"""Reference-size training of every shipped network in one command, for a lent GPU.

    PYTHONPATH=.pkg python -m airmap.models.reference --device cuda --out /tmp/reference

Trains ABPN (DeepCAMS S-SR, 10 up-projection blocks), XVFI (nf 64), PointConv-UNet++ (filters
32..512, both variants) and HF-SDF (8x512, 256-d latent) through their own trainers' command
lines, concurrently on one GPU, each under its own wall-clock budget; exports them, stores the
weights compactly enough that every file is <= 16 MiB, scores each against the shipped model
on the bench's held-out simulated sets and writes ``summary.md``. See models/README.md.

``jobs``: the configurations and budget shares; ``simdata``: simulator fields generated on all
CPU cores before training; ``run``: the command; ``ship``: export, size check, cards;
``compare``: held-out scores and the summary.
"""
