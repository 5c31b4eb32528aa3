"""HF-SDF torch room: net.py (the decoder), losses.py, data.py (training maps), train.py,
single_map.py (torch backend of MODE single-map), card.py, export.py. Importing this package
does not import torch; its modules do."""
